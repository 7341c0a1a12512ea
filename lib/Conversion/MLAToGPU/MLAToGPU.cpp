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
    flash::LaunchBuffers l = flash::makeLaunchBuffers(
        b, op, {c.numGroups(), c.rowsPerGroup, c.dc}, numSplits);
    Value one = cst(1);
    auto kernel = [&](StringRef fn) {
      return SymbolRefAttr::get(
          b.getStringAttr(moduleName),
          {SymbolRefAttr::get(b.getContext(), fn)});
    };
    // Partials over a (split, group, sequence) grid, then the combine over
    // (row, sequence).
    gpu::LaunchFuncOp::create(
        b, kernel("partial"),
        gpu::KernelDim3{l.splits, cst(c.numGroups()), l.batch},
        gpu::KernelDim3{cst(c.threads()), one, one},
        c.dynamicSharedBytes
            ? arith::ConstantIntOp::create(b, c.dynamicSharedBytes, 32)
                  .getResult()
            : Value(),
        ValueRange{l.q, l.kv, l.blockTable, l.seqLens, l.partOut, l.partML,
                   l.splits, l.maxBlocks, l.scale});
    gpu::LaunchFuncOp::create(
        b, kernel("combine"), gpu::KernelDim3{cst(c.rows()), l.batch, one},
        gpu::KernelDim3{cst(c.kWarpSize), one, one}, Value(),
        ValueRange{l.partOut, l.partML, flatBuffer(b, l.out),
                   flatBuffer(b, l.lse), l.splits});
    l.replace(b, op);
  }
};
} // namespace
