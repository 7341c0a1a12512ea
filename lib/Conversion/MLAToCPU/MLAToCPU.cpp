//===- MLAToCPU.cpp - convert-mla-to-cpu pass -------------------*- C++ -*-===//
//
// Replaces mla.decode_attention by calls of the generated CPU kernels on its
// operands' buffers: the partial kernel over (sequence, row group, split),
// then the combine kernel per sequence.
//
//===----------------------------------------------------------------------===//

#include "mla/Conversion/BufferUtils.h"
#include "mla/Conversion/FlashDecode/FlashDecode.h"
#include "mla/Conversion/MLAToCPU/DecodeKernel.h"
#include "mla/Conversion/Passes.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"

#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::mla {
#define GEN_PASS_DEF_CONVERTMLATOCPUPASS
#include "mla/Conversion/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;
using namespace mlir::mla;

namespace {

struct ConvertMLAToCPUPass
    : public mla::impl::ConvertMLAToCPUPassBase<ConvertMLAToCPUPass> {
  using Base::Base;

  void runOnOperation() override {
    // The kernels of each op, then its launches.
    ModuleOp module = getOperation();
    auto lowerOne = [&](DecodeAttentionOp op, StringRef name) {
      FailureOr<CPUDecodeConfig> config =
          CPUDecodeConfig::get(DecodeParams::of(op), vectorWidth, bf16Dot,
                               [&]() { return op.emitOpError(); });
      if (failed(config))
        return failure();
      // The launches below call one partial kernel: the prefetching one
      // when asked for and the configuration has one.
      if (!prefetch)
        config->prefetch = CPUDecodeConfig::Prefetch::Never;
      buildCPUDecodeKernels(module, *config, name);
      lower(op, *config, name);
      return success();
    };
    if (failed(flash::forEachDecodeOp(module, getArgument(), kernelName,
                                      numSplits, lowerOne)))
      signalPassFailure();
  }

  void lower(DecodeAttentionOp op, const CPUDecodeConfig &c, StringRef name) {
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
    Value splits = cst(numSplits);
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
    Value zero = cst(0), one = cst(1);
    Value outFlat = flatBuffer(b, out), lseFlat = flatBuffer(b, lse);
    std::string partial =
                    (name + (c.prefetch != CPUDecodeConfig::Prefetch::Never
                                 ? "_partial_prefetch"
                                 : "_partial"))
                        .str(),
                combine = (name + "_combine").str();
    scf::ForOp::create(
        b, zero, items, one, ValueRange{},
        [&](OpBuilder &ob, Location loc, Value item, ValueRange) {
          ImplicitLocOpBuilder ib(loc, ob);
          Value split = arith::RemUIOp::create(ib, item, splits);
          Value rest = arith::DivUIOp::create(ib, item, splits);
          Value group = arith::RemUIOp::create(
              ib, rest, arith::ConstantIndexOp::create(ib, c.numGroups()));
          Value seq = arith::DivUIOp::create(
              ib, rest, arith::ConstantIndexOp::create(ib, c.numGroups()));
          func::CallOp::create(ib, partial, TypeRange{},
                               ValueRange{q, kv, bt, lens, partOut, partML,
                                          seq, group, split, splits,
                                          maxBlocks, scale});
          scf::YieldOp::create(ib);
        });
    scf::ForOp::create(
        b, zero, batch, one, ValueRange{},
        [&](OpBuilder &ob, Location loc, Value seq, ValueRange) {
          ImplicitLocOpBuilder ib(loc, ob);
          func::CallOp::create(ib, combine, TypeRange{},
                               ValueRange{partOut, partML, outFlat, lseFlat,
                                          seq, splits});
          scf::YieldOp::create(ib);
        });
    // No deallocs here: the buffer-deallocation pipeline that follows
    // bufferization frees these with the rest.
    Value outT = bufferization::ToTensorOp::create(
        b, outTy, out, /*restrict=*/true, /*writable=*/true);
    Value lseT = bufferization::ToTensorOp::create(
        b, lseTy, lse, /*restrict=*/true, /*writable=*/true);
    op.replaceAllUsesWith(ValueRange{outT, lseT});
    op.erase();
  }
};
} // namespace
