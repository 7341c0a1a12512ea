//===- TestFlashDecode.cpp - the skeleton's pieces on their own -*- C++ -*-===//
//
// test-mla-flash-decode appends to the module one function per piece of the
// flash-decoding skeleton, built by the same calls the kernels make, so that
// lit can check each piece's IR on its own (and run it):
//   @softmax_step_e / @softmax_step_2: one online-softmax step of a row,
//     (m_old, l_old, raw score, visible, scale) -> (m_new, l_new, alpha, p);
//   @combine_row: the combine of one row's splits from memrefs of the
//     splits' (max, sum) -> (the outputs' scale, lse);
//   @visible_end_causal / @visible_end: the visibility of a row;
//   @split_range: (len, num_splits, split) -> (t0, t1) with 16-token tiles;
//   @visible_start_window / @split_range_window: the same under a sliding
//     window of 20 positions.
// The configuration: 2 heads, q_len 3, block size 16, causal or not. A
// declaration of one of these names in the input is replaced by the
// definition, so that a test can call them.
//
//===----------------------------------------------------------------------===//

#include "mla/Conversion/FlashDecode/FlashDecode.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"

using namespace mlir;
using namespace mlir::mla;

namespace {

struct TestFlashDecodePass
    : public PassWrapper<TestFlashDecodePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(TestFlashDecodePass)

  StringRef getArgument() const final { return "test-mla-flash-decode"; }
  StringRef getDescription() const final {
    return "Emit each piece of the flash-decoding skeleton as a function";
  }
  void getDependentDialects(DialectRegistry &registry) const override {
    registry.insert<arith::ArithDialect, func::FuncDialect, math::MathDialect,
                    memref::MemRefDialect, scf::SCFDialect,
                    vector::VectorDialect>();
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    flash::KernelBuilder kb(b);
    flash::UpstreamTileMath math(b);
    Type f32 = b.getF32Type(), idx = b.getIndexType();
    DecodeParams p;
    p.heads = 2;
    p.qLen = 3;
    p.blockSize = 16;
    p.dc = 64;

    // A declaration of the same name (a test's way of calling the piece)
    // gives way to the definition.
    auto makeFunc = [&](StringRef name, TypeRange args, TypeRange results) {
      if (auto decl = module.lookupSymbol<func::FuncOp>(name))
        decl.erase();
      auto fn = func::FuncOp::create(b, name,
                                     b.getFunctionType(args, results));
      b.setInsertionPointToStart(fn.addEntryBlock());
      return fn.getArguments();
    };
    auto done = [&](ValueRange results) {
      func::ReturnOp::create(b, results);
      b.setInsertionPointToEnd(module.getBody());
    };

    for (auto base : {flash::OnlineSoftmax::Base::E,
                      flash::OnlineSoftmax::Base::Two}) {
      bool e = base == flash::OnlineSoftmax::Base::E;
      auto args = makeFunc(e ? "softmax_step_e" : "softmax_step_2",
                           {f32, f32, f32, b.getI1Type(), f32},
                           {f32, f32, f32, f32});
      flash::OnlineSoftmax softmax(kb, math, base);
      Value s = softmax.maskedScore(args[3], args[2],
                                    softmax.scoreScale(args[4]));
      flash::OnlineSoftmax::Step step = softmax.rescale(args[0], s);
      Value prob = softmax.probability(s, step.mSafe);
      done({softmax.naturalMax(step.mNew),
            softmax.sum(args[1], step.alpha, prob), step.alpha, prob});
    }

    {
      auto mem = MemRefType::get({ShapedType::kDynamic}, f32);
      auto args = makeFunc("combine_row", {mem, mem, idx}, {f32, f32});
      flash::SplitCombine combine(kb, math);
      Value mSafe = combine.safeMax(args[2], [&](Value s) -> Value {
        return memref::LoadOp::create(b, args[0], ValueRange{s});
      });
      Value total =
          kb.forLoop(kb.idx(0), args[2], kb.idx(1), {kb.f32c(0.0f)},
                     [&](Value s, ValueRange acc) {
                       Value ms = memref::LoadOp::create(b, args[0], s);
                       Value ls = memref::LoadOp::create(b, args[1], s);
                       return SmallVector<Value>{math.mulAdd(
                           combine.weight(ms, mSafe), ls, acc[0])};
                     })
              .getResult(0);
      flash::SplitCombine::Result r = combine.finish(mSafe, total);
      done({r.scale, r.lse});
    }

    for (bool causal : {true, false}) {
      p.causal = causal;
      auto args = makeFunc(causal ? "visible_end_causal" : "visible_end",
                           {idx, idx}, {idx});
      done({flash::visibleEnd(kb, p, args[0], args[1])});
    }

    p.causal = true;
    {
      auto args = makeFunc("split_range", {idx, idx, idx}, {idx, idx});
      flash::SplitRange r = flash::splitRange(kb, p, args[0], args[1],
                                              args[2], /*tileTokens=*/16);
      done({r.t0, r.t1});
    }

    // A sliding window of 20 positions.
    p.window = 20;
    {
      auto args = makeFunc("visible_start_window", {idx, idx}, {idx});
      done({flash::visibleStart(kb, p, args[0], args[1])});
    }
    {
      auto args = makeFunc("split_range_window", {idx, idx, idx}, {idx, idx});
      flash::SplitRange r = flash::splitRange(kb, p, args[0], args[1],
                                              args[2], /*tileTokens=*/16);
      done({r.t0, r.t1});
    }
  }
};

} // namespace

namespace mlir::mla {
void registerTestPasses() { PassRegistration<TestFlashDecodePass>(); }
} // namespace mlir::mla
