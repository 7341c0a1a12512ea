//===- KernelEmitter.h - shared helpers of the GPU kernel builders -*- C++ -*-===//
//
// The builder state and small helpers every GPU decode kernel uses: index
// arithmetic, loops, warp reductions, and exp/log through NVVM intrinsics.
// Each kernel kind is emitted by its own file.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_LIB_CONVERSION_MLATOGPU_KERNELEMITTER_H
#define MLA_LIB_CONVERSION_MLATOGPU_KERNELEMITTER_H

#include "mla/Conversion/MLAToGPU/DecodeKernelGPU.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::mla::detail {

class GPUKernelEmitter {
public:
  GPUKernelEmitter(ImplicitLocOpBuilder &b, const GPUDecodeConfig &c)
      : b(b), c(c), f32(b.getF32Type()), i32(b.getI32Type()),
        idxTy(b.getIndexType()) {}

  /// The partial kernel of each kind and the shared combine kernel.
  void emitPartialSIMT();
  void emitPartialMMA();
  void emitPartialWGMMA();
  void emitCombine();

protected:
  using BodyFn =
      function_ref<SmallVector<Value>(Value, ValueRange)>;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value f32c(float v) { return arith::ConstantOp::create(b, b.getF32FloatAttr(v)); }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value addc(Value x, int64_t v) { return v ? add(x, idx(v)) : x; }
  Value mulc(Value x, int64_t v) { return v == 1 ? x : mul(x, idx(v)); }
  Value minIdx(Value x, Value y) { return arith::MinSIOp::create(b, x, y); }
  Value loadIndex(Value mem, Value i) {
    return arith::IndexCastOp::create(
        b, idxTy, memref::LoadOp::create(b, mem, ValueRange{i}));
  }
  Value loadF32(Value mem, Value i) {
    Value v = memref::LoadOp::create(b, mem, ValueRange{i});
    return v.getType() == f32 ? v : arith::ExtFOp::create(b, f32, v);
  }
  // LLVM and NVVM intrinsics rather than math ops: they become fma.rn,
  // max and ex2/lg2.approx, where convert-gpu-to-nvvm would call libdevice
  // (which Debian's MLIR does not link).
  Value fma(Value x, Value y, Value z) { return LLVM::FMAOp::create(b, x, y, z); }
  Value maxf(Value x, Value y) { return LLVM::MaxNumOp::create(b, x, y); }
  Value nvvm(StringRef intrinsic, Value x) {
    return LLVM::CallIntrinsicOp::create(b, f32, b.getStringAttr(intrinsic),
                                         ValueRange{x})
        .getResult(0);
  }
  Value exp(Value x) {
    return nvvm("llvm.nvvm.ex2.approx.f32",
                arith::MulFOp::create(b, x, f32c(1.4426950408889634f)));
  }
  Value log(Value x) {
    return arith::MulFOp::create(b, nvvm("llvm.nvvm.lg2.approx.f", x),
                                 f32c(0.6931471805599453f));
  }

  /// Sum over the 32 lanes of a warp, in every lane.
  Value warpSum(Value v) {
    for (int32_t offset = 16; offset >= 1; offset /= 2) {
      Value other = gpu::ShuffleOp::create(b, v, offset, 32,
                                           gpu::ShuffleMode::XOR)
                        .getShuffleResult();
      v = arith::AddFOp::create(b, v, other);
    }
    return v;
  }
  /// The tokens [t0, t1) of a split, in whole tiles of `tileTokens`, and its
  /// last token; `len` is the sequence's length clamped to the block
  /// table's capacity (the host cannot read device-side lengths).
  struct SplitRange {
    Value len, t0, t1, lastTok;
  };
  SplitRange splitRange(Value lens, Value seq, Value maxBlocks,
                        Value numSplits, Value split, int64_t tileTokens) {
    SplitRange r;
    r.len = minIdx(loadIndex(lens, seq), mulc(maxBlocks, c.blockSize));
    Value perSplit = arith::CeilDivSIOp::create(b, r.len, numSplits);
    Value chunk = mulc(arith::CeilDivSIOp::create(b, perSplit, idx(tileTokens)),
                       tileTokens);
    r.t0 = minIdx(mul(split, chunk), r.len);
    r.t1 = minIdx(add(r.t0, chunk), r.len);
    r.lastTok = arith::SubIOp::create(b, r.t1, idx(1));
    return r;
  }
  scf::ForOp forLoop(Value lb, Value ub, Value step, ValueRange inits,
                     BodyFn fn) {
    return scf::ForOp::create(
        b, lb, ub, step, inits,
        [&](OpBuilder &ob, Location loc, Value iv, ValueRange args) {
          OpBuilder::InsertionGuard guard(b);
          b.setInsertionPoint(ob.getInsertionBlock(), ob.getInsertionPoint());
          SmallVector<Value> yields = fn(iv, args);
          scf::YieldOp::create(b, yields);
        });
  }
  gpu::GPUFuncOp makeKernel(StringRef name, TypeRange args,
                            TypeRange workgroup = {}) {
    auto fn = gpu::GPUFuncOp::create(b, name, b.getFunctionType(args, {}),
                                     workgroup);
    fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    return fn;
  }

  ImplicitLocOpBuilder &b;
  const GPUDecodeConfig &c;
  Type f32, i32, idxTy;
};

} // namespace mlir::mla::detail

#endif // MLA_LIB_CONVERSION_MLATOGPU_KERNELEMITTER_H
