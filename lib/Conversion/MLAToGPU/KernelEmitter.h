//===- KernelEmitter.h - shared helpers of the GPU kernel builders -*- C++ -*-===//
//
// The builder state and small helpers every GPU decode kernel uses: index
// arithmetic and loops (the skeleton's KernelBuilder), warp reductions, and
// the GPU's TileMath (exp/log through NVVM intrinsics).
// Each kernel kind is emitted by its own file.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_LIB_CONVERSION_MLATOGPU_KERNELEMITTER_H
#define MLA_LIB_CONVERSION_MLATOGPU_KERNELEMITTER_H

#include "mla/Conversion/FlashDecode/FlashDecode.h"
#include "mla/Conversion/MLAToGPU/DecodeKernelGPU.h"
#include "mla/Dialect/MLA/IR/MLADecompositions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::mla::detail {

/// The GPU's elementwise math: LLVM and NVVM intrinsics rather than math
/// ops, which become fma.rn, max and ex2/lg2.approx where
/// convert-gpu-to-nvvm would call libdevice (which Debian's MLIR does not
/// link).
class GPUTileMath : public flash::TileMath {
public:
  explicit GPUTileMath(ImplicitLocOpBuilder &b) : b(b) {}
  Value exp(Value x) override {
    return exp2(arith::MulFOp::create(
        b, x,
        arith::ConstantOp::create(b, b.getF32FloatAttr(1.4426950408889634f))));
  }
  /// With `flushToZero`, ex2.approx.ftz: a result below 2^-126 (a
  /// probability that small next to the row's max of 1) is 0 rather than a
  /// denormal, which spares the range check and the two scalings ptxas
  /// wraps around MUFU.EX2 otherwise. (The mma.sync kernels keep the plain
  /// form: with it, ptxas allocates some of their 128-register forms
  /// differently and spills.)
  Value exp2(Value x) override {
    return nvvm(flushToZero ? "llvm.nvvm.ex2.approx.ftz.f"
                            : "llvm.nvvm.ex2.approx.f32",
                x);
  }
  bool flushToZero = false;
  Value log(Value x) override {
    return arith::MulFOp::create(
        b, nvvm("llvm.nvvm.lg2.approx.f", x),
        arith::ConstantOp::create(b, b.getF32FloatAttr(0.6931471805599453f)));
  }
  Value max(Value x, Value y) override {
    return LLVM::MaxNumOp::create(b, x, y);
  }
  Value mulAdd(Value x, Value y, Value z) override {
    return LLVM::FMAOp::create(b, x, y, z);
  }

private:
  Value nvvm(StringRef intrinsic, Value x) {
    return LLVM::CallIntrinsicOp::create(b, x.getType(),
                                         b.getStringAttr(intrinsic),
                                         ValueRange{x})
        .getResult(0);
  }
  ImplicitLocOpBuilder &b;
};

/// The arguments every partial kernel form starts with, in order: the
/// contract's buffers, the split partials, the split count,
/// max_blocks_per_seq and the scale. An emitter inherits them as members.
/// With head caches, the value cache follows kv (the keys); `values` is
/// null otherwise.
struct PartialKernelArgs {
  Value q, kv, values, bt, lens, partOut, partML, numSplits, maxBlocks, scale;

  void readArgs(gpu::GPUFuncOp fn, bool headCaches) {
    unsigned a = 0;
    q = fn.getArgument(a++);
    kv = fn.getArgument(a++);
    if (headCaches)
      values = fn.getArgument(a++);
    bt = fn.getArgument(a++);
    lens = fn.getArgument(a++);
    partOut = fn.getArgument(a++);
    partML = fn.getArgument(a++);
    numSplits = fn.getArgument(a++);
    maxBlocks = fn.getArgument(a++);
    scale = fn.getArgument(a++);
  }
};

class GPUKernelEmitter : public flash::KernelBuilder {
public:
  GPUKernelEmitter(ImplicitLocOpBuilder &b, const GPUDecodeConfig &c)
      : KernelBuilder(b), c(c), math(b), f32(b.getF32Type()),
        i32(b.getI32Type()), idxTy(b.getIndexType()),
        layout(flash::PartialLayout::of(c, c.rowsPerGroup)) {}

  /// The partial kernel of each kind and the shared combine kernel.
  void emitPartialSIMT();
  void emitPartialMMA();
  void emitPartialWGMMA();
  void emitCombine();

protected:
  using SplitRange = flash::SplitRange;

  Value loadF32(Value mem, Value i) {
    Value v = memref::LoadOp::create(b, mem, ValueRange{i});
    return v.getType() == f32 ? v : arith::ExtFOp::create(b, f32, v);
  }
  Value fma(Value x, Value y, Value z) { return math.mulAdd(x, y, z); }
  Value maxf(Value x, Value y) { return math.max(x, y); }

  /// Token indices: the cache row that slot `slot` of the index row at
  /// `rowStart` names, or -1 where the slot is at or past `len` (the valid
  /// slots) or holds a negative index. The read stays in the row.
  Value slotRow(Value indices, Value rowStart, Value slot, Value len) {
    Value id = loadIndex(indices, add(rowStart, minIdx(slot, idx(c.topk - 1))));
    Value inRange =
        arith::CmpIOp::create(b, arith::CmpIPredicate::slt, slot, len);
    Value valid = arith::AndIOp::create(
        b, inRange,
        arith::CmpIOp::create(b, arith::CmpIPredicate::sge, id, idx(0)));
    return arith::SelectOp::create(b, valid, id, idx(-1));
  }
  Value isRow(Value row) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::sge, row, idx(0));
  }
  /// fp8 rows: the f32 value of e4m3 code `byte` (i8) of group `group`
  /// of the row whose bytes start at `rowBytes` in the i8 cache `kv`,
  /// times the group's scale; and the f32 value of the rope column `col`
  /// (0 .. d_r), stored as bf16 after the scales.
  Value fp8Latent(Value kv, Value rowBytes, Value byte, Value group) {
    Value scale = arith::BitcastOp::create(
        b, f32, loadLE(kv, add(addc(rowBytes, c.dc), mulc(group, 4)), 4));
    return arith::MulFOp::create(b, buildE4M3ToF32(b, b.getLoc(), byte), scale);
  }
  Value fp8Rope(Value kv, Value rowBytes, Value col) {
    Value at =
        add(addc(rowBytes, c.dc + 4 * (c.dc / c.scaleGroup)), mulc(col, 2));
    // bf16 to f32 is a shift of the bits.
    return arith::BitcastOp::create(
        b, f32,
        arith::ShLIOp::create(
            b, loadLE(kv, at, 2),
            arith::ConstantOp::create(b, b.getI32IntegerAttr(16))));
  }
  /// `n` (<= 4) bytes of the i8 buffer `mem` from `at`, little-endian, as
  /// an i32.
  Value loadLE(Value mem, Value at, int64_t n) {
    Value word = arith::ConstantOp::create(b, b.getI32IntegerAttr(0));
    for (int64_t k = 0; k < n; ++k) {
      Value byte = arith::ExtUIOp::create(
          b, i32, memref::LoadOp::create(b, mem, ValueRange{addc(at, k)}));
      if (k)
        byte = arith::ShLIOp::create(
            b, byte, arith::ConstantOp::create(b, b.getI32IntegerAttr(8 * k)));
      word = arith::OrIOp::create(b, word, byte);
    }
    return word;
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
  /// The split of sequence `seq` that this CTA computes, in whole tiles of
  /// `tileTokens` (the skeleton's split range; lengths are clamped to the
  /// block table's capacity because the host cannot read device-side
  /// lengths).
  flash::SplitRange splitRange(Value lens, Value seq, Value maxBlocks,
                               Value numSplits, Value split,
                               int64_t tileTokens) {
    return flash::splitRange(
        *this, c, flash::sequenceLength(*this, c, lens, seq, maxBlocks),
        numSplits, split, tileTokens);
  }
  gpu::GPUFuncOp makeKernel(StringRef name, TypeRange args,
                            TypeRange workgroup = {}) {
    auto fn = gpu::GPUFuncOp::create(b, name, b.getFunctionType(args, {}),
                                     workgroup);
    fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    return fn;
  }
  /// The tensor-core partial kernels' launch bounds: the CTA size
  /// (nvvm.reqntid) and the CTAs an SM is designed to hold (nvvm.minctasm),
  /// so that ptxas keeps the registers within that occupancy. (Not the SIMT
  /// kernel: with reqntid alone ptxas gave one sm_90a configuration an
  /// 8-byte spill.)
  void setLaunchBounds(gpu::GPUFuncOp fn) {
    fn.setKnownBlockSizeAttr(
        b.getDenseI32ArrayAttr({int32_t(c.threads()), 1, 1}));
    if (c.ctasPerSM > 1)
      fn->setAttr("nvvm.minctasm", b.getI32IntegerAttr(c.ctasPerSM));
  }

  const GPUDecodeConfig &c;
  GPUTileMath math;
  Type f32, i32, idxTy;
  flash::PartialLayout layout;
};

} // namespace mlir::mla::detail

#endif // MLA_LIB_CONVERSION_MLATOGPU_KERNELEMITTER_H
