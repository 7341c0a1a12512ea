//===- MLAToGPU.cpp - convert-mla-to-gpu pass -------------------*- C++ -*-===//
//
// Replaces mla.decode_attention by launches of the generated GPU kernels on
// its operands' buffers: the partial kernel over (split, group, sequence),
// then the combine kernel over (row, sequence).
//
//===----------------------------------------------------------------------===//

#include "mla/Conversion/BufferUtils.h"
#include "mla/Conversion/FlashDecode/FlashDecode.h"
#include "mla/Conversion/MLAToGPU/DecodeKernelGPU.h"
#include "mla/Conversion/Passes.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::mla {
#define GEN_PASS_DEF_CONVERTMLATOGPUPASS
#include "mla/Conversion/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;
using namespace mlir::mla;

namespace {

struct ConvertMLAToGPUPass
    : public mla::impl::ConvertMLAToGPUPassBase<ConvertMLAToGPUPass> {
  using Base::Base;

  void runOnOperation() override {
    // The gpu.module of each op, then its launches.
    ModuleOp module = getOperation();
    auto lowerOne = [&](DecodeAttentionOp op, StringRef name) {
      // The wgmma kernel reads TMA descriptors that only a host library
      // (mla-codegen's) encodes; these launches use mma.sync on sm_90a too.
      FailureOr<GPUDecodeConfig> config = GPUDecodeConfig::get(
          DecodeParams::of(op), arch, [&]() { return op.emitOpError(); },
          /*allowTMA=*/false);
      if (failed(config))
        return failure();
      buildGPUDecodeKernels(module, *config, name);
      lower(op, *config, (name + "_kernels").str());
      return success();
    };
    if (failed(flash::forEachDecodeOp(module, getArgument(), kernelName,
                                      numSplits, lowerOne)))
      signalPassFailure();
  }

  void lower(DecodeAttentionOp op, const GPUDecodeConfig &c,
             StringRef moduleName) {
    ImplicitLocOpBuilder b(op.getLoc(), op);
    auto cst = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
    Value q = flatBuffer(b, op.getQuery());
    Value kv = flatBuffer(b, op.getCache());
    Value bt = flatBuffer(b, op.getBlockTable());
    Value lens = flatBuffer(b, op.getSeqLens());
    Value batch = tensor::DimOp::create(b, op.getQuery(), 0);
    Value maxBlocks = tensor::DimOp::create(b, op.getBlockTable(), 1);
    auto outTy = op.getResult().getType(), lseTy = op.getLse().getType();
    Value out = memref::AllocOp::create(
        b, MemRefType::get(outTy.getShape(), outTy.getElementType()),
        ValueRange{batch});
    Value lse = memref::AllocOp::create(
        b, MemRefType::get(lseTy.getShape(), b.getF32Type()),
        ValueRange{batch});
    Value splits = cst(numSplits), groups = cst(c.numGroups());
    Value items = arith::MulIOp::create(
        b, batch, cst(c.numGroups() * numSplits));
    auto scratch = [&](int64_t perItem) {
      return memref::AllocOp::create(
          b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
          ValueRange{arith::MulIOp::create(b, items, cst(perItem))});
    };
    Value partOut = scratch(c.rowsPerGroup * c.dc);
    Value partML = scratch(c.rowsPerGroup * 2);
    Value scale = arith::ConstantOp::create(b, op.getScaleAttr());
    Value one = cst(1);
    auto kernel = [&](StringRef fn) {
      return SymbolRefAttr::get(
          b.getStringAttr(moduleName),
          {SymbolRefAttr::get(b.getContext(), fn)});
    };
    gpu::LaunchFuncOp::create(
        b, kernel("partial"), gpu::KernelDim3{splits, groups, batch},
        gpu::KernelDim3{cst(c.threads()), one, one},
        c.dynamicSharedBytes
            ? arith::ConstantIntOp::create(b, c.dynamicSharedBytes, 32)
                  .getResult()
            : Value(),
        ValueRange{q, kv, bt, lens, partOut, partML, splits, maxBlocks,
                   scale});
    gpu::LaunchFuncOp::create(
        b, kernel("combine"), gpu::KernelDim3{cst(c.rows()), batch, one},
        gpu::KernelDim3{cst(c.kWarpSize), one, one}, Value(),
        ValueRange{partOut, partML, flatBuffer(b, out),
                   flatBuffer(b, lse), splits});
    Value outT = bufferization::ToTensorOp::create(b, outTy, out, true, true);
    Value lseT = bufferization::ToTensorOp::create(b, lseTy, lse, true, true);
    op.replaceAllUsesWith(ValueRange{outT, lseT});
    op.erase();
  }
};
} // namespace
