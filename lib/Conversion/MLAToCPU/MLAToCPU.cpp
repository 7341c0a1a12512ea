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
    if (launch != "loops" && launch != "none") {
      emitError(getOperation().getLoc())
          << getArgument() << ": launch = '" << launch
          << "' (expected loops or none)";
      return signalPassFailure();
    }
    // The kernels of each op, then its launches.
    ModuleOp module = getOperation();
    auto lowerOne = [&](DecodeAttentionOp op, StringRef name) {
      auto emitError = [&]() { return op.emitOpError(); };
      FailureOr<CPUDecodeConfig> config = CPUDecodeConfig::get(
          DecodeParams::of(op), vectorWidth, bf16Dot, emitError, amx);
      if (failed(config) ||
          failed(config->overrideTiling(tileTokens, tileBlocks, emitError)))
        return failure();
      // The launches below call one partial kernel: the prefetching one
      // when asked for and the configuration has one.
      if (!prefetch)
        config->prefetch = CPUDecodeConfig::Prefetch::Never;
      buildCPUDecodeKernels(module, *config, name);
      if (launch == "loops")
        lower(op, *config, name);
      return success();
    };
    if (failed(flash::forEachDecodeOp(module, getArgument(), kernelName,
                                      numSplits, lowerOne)))
      signalPassFailure();
  }

  void lower(DecodeAttentionOp op, const CPUDecodeConfig &c, StringRef name) {
    ImplicitLocOpBuilder b(op.getLoc(), op);
    flash::LaunchBuffers l = flash::makeLaunchBuffers(
        b, op, flash::PartialLayout::of(c, c.rowsPerGroup), numSplits);
    Value zero = arith::ConstantIndexOp::create(b, 0),
          one = arith::ConstantIndexOp::create(b, 1),
          groups = arith::ConstantIndexOp::create(b, c.numGroups());
    Value outFlat = flatBuffer(b, l.out), lseFlat = flatBuffer(b, l.lse);
    std::string partial =
                    (name + (c.prefetch != CPUDecodeConfig::Prefetch::Never
                                 ? "_partial_prefetch"
                                 : "_partial"))
                        .str(),
                combine = (name + "_combine").str();
    // Work items (sequence, group, split) in the order the runtime's
    // threads take them, then one combine per sequence.
    scf::ForOp::create(
        b, zero, l.items, one, ValueRange{},
        [&](OpBuilder &ob, Location loc, Value item, ValueRange) {
          ImplicitLocOpBuilder ib(loc, ob);
          Value split = arith::RemUIOp::create(ib, item, l.splits);
          Value rest = arith::DivUIOp::create(ib, item, l.splits);
          Value group = arith::RemUIOp::create(ib, rest, groups);
          Value seq = arith::DivUIOp::create(ib, rest, groups);
          SmallVector<Value> args = {l.q,      l.kv,      l.blockTable,
                                     l.seqLens, l.partOut, l.partML,
                                     seq,      group,     split,
                                     l.splits, l.maxBlocks, l.scale};
          if (l.values)
            args.insert(args.begin() + 2, l.values);
          func::CallOp::create(ib, partial, TypeRange{}, args);
          scf::YieldOp::create(ib);
        });
    scf::ForOp::create(
        b, zero, l.batch, one, ValueRange{},
        [&](OpBuilder &ob, Location loc, Value seq, ValueRange) {
          ImplicitLocOpBuilder ib(loc, ob);
          SmallVector<Value> args = {l.partOut, l.partML, outFlat,
                                     lseFlat, seq, l.splits};
          if (l.kvScale)
            args.push_back(l.kvScale);
          if (l.sinks)
            args.push_back(l.sinks);
          func::CallOp::create(ib, combine, TypeRange{}, args);
          scf::YieldOp::create(ib);
        });
    l.replace(b, op);
  }
};
} // namespace
