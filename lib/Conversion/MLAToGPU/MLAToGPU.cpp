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

#include "mlir/Dialect/NVGPU/IR/NVGPUDialect.h"
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
    if (launch != "launches" && launch != "none") {
      emitError(getOperation().getLoc())
          << getArgument() << ": launch = '" << launch
          << "' (expected launches or none)";
      return signalPassFailure();
    }
    // The gpu.module of each op, then its launches.
    ModuleOp module = getOperation();
    auto lowerOne = [&](DecodeAttentionOp op, StringRef name) {
      // The wgmma kernel only with tma: its launch creates tensor maps
      // through MLIR's CUDA runtime wrappers (mgpu*), which mla-codegen's
      // libraries replace by their own host runtime.
      FailureOr<GPUDecodeConfig> config = GPUDecodeConfig::get(
          DecodeParams::of(op), arch, [&]() { return op.emitOpError(); },
          /*allowTMA=*/tma);
      if (failed(config))
        return failure();
      // A host runtime passes the maps by value; MLIR's launches pass
      // nvgpu.tma.create.descriptor's device pointers.
      config->tensorMapsByValue = launch == "none";
      buildGPUDecodeKernels(module, *config, name);
      if (launch == "launches")
        lower(op, *config, (name + "_kernels").str());
      return success();
    };
    if (failed(flash::forEachDecodeOp(module, getArgument(), kernelName,
                                      numSplits, lowerOne)))
      signalPassFailure();
  }

  /// The partial kernel's operands; the wgmma kernel's end with the tensor
  /// maps of the queries ([batch * rows, d_c + d_r], 64 x 64 boxes) and of
  /// the cache ([blocks * block_size, d_c + d_r], tmaBoxRows x 64 boxes),
  /// 128-byte swizzle, as DecodeKernelGPU.h describes them.
  SmallVector<Value> partialOperands(ImplicitLocOpBuilder &b,
                                     DecodeAttentionOp op,
                                     const GPUDecodeConfig &c,
                                     const flash::LaunchBuffers &l) {
    SmallVector<Value> operands = {l.q,       l.kv,     l.blockTable,
                                   l.seqLens, l.partOut, l.partML,
                                   l.splits,  l.maxBlocks, l.scale};
    if (l.values)
      operands.insert(operands.begin() + 2, l.values);
    if (c.kind != GPUKernelKind::WGMMA)
      return operands;
    auto tensorMap = [&](Value tensor, ArrayRef<ReassociationIndices> rows,
                         int64_t boxRows) -> Value {
      auto shaped = cast<ShapedType>(tensor.getType());
      Value mem = bufferization::ToBufferOp::create(
          b, MemRefType::get(shaped.getShape(), shaped.getElementType()),
          tensor, /*read_only=*/true);
      mem = memref::CollapseShapeOp::create(b, mem, rows);
      Value unranked = memref::CastOp::create(
          b, UnrankedMemRefType::get(shaped.getElementType(), 0), mem);
      auto box = MemRefType::get({boxRows, 64}, shaped.getElementType(),
                                 AffineMap(), b.getI64IntegerAttr(3));
      auto mapTy = nvgpu::TensorMapDescriptorType::get(
          b.getContext(), box, nvgpu::TensorMapSwizzleKind::SWIZZLE_128B,
          nvgpu::TensorMapL2PromoKind::L2PROMO_128B,
          nvgpu::TensorMapOOBKind::OOB_ZERO,
          nvgpu::TensorMapInterleaveKind::INTERLEAVE_NONE);
      Value map = nvgpu::TmaCreateDescriptorOp::create(
          b, mapTy, unranked,
          ValueRange{arith::ConstantIndexOp::create(b, boxRows),
                     arith::ConstantIndexOp::create(b, 64)});
      // The kernel takes a generic pointer to the map in device memory,
      // which is what the descriptor lowers to.
      return UnrealizedConversionCastOp::create(
                 b, LLVM::LLVMPointerType::get(b.getContext()), map)
          .getResult(0);
    };
    operands.push_back(tensorMap(op.getQuery(), {{0, 1, 2}, {3}}, 64));
    operands.push_back(tensorMap(op.getCache(), {{0, 1}, {2}}, c.tmaBoxRows));
    return operands;
  }

  void lower(DecodeAttentionOp op, const GPUDecodeConfig &c,
             StringRef moduleName) {
    ImplicitLocOpBuilder b(op.getLoc(), op);
    auto cst = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
    flash::LaunchBuffers l = flash::makeLaunchBuffers(
        b, op, flash::PartialLayout::of(c, c.rowsPerGroup), numSplits);
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
        partialOperands(b, op, c, l));
    Value outFlat = flatBuffer(b, l.out);
    Value lseFlat = flatBuffer(b, l.lse);
    SmallVector<Value> combineArgs = {l.partOut, l.partML, outFlat, lseFlat,
                                      l.splits};
    if (l.kvScale)
      combineArgs.push_back(l.kvScale);
    if (l.sinks)
      combineArgs.push_back(l.sinks);
    gpu::LaunchFuncOp::create(
        b, kernel("combine"), gpu::KernelDim3{cst(c.rows()), l.batch, one},
        gpu::KernelDim3{cst(c.kWarpSize), one, one}, Value(), combineArgs);
    l.replace(b, op);
  }
};
} // namespace
