//===- ApproximateMath.cpp - mla-approximate-math pass ----------*- C++ -*-===//

#include "mla/Conversion/Passes.h"

#include "mlir/Dialect/Math/Transforms/Passes.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mla {
#define GEN_PASS_DEF_MLAAPPROXIMATEMATHPASS
#include "mla/Conversion/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;

namespace {
struct MLAApproximateMathPass
    : public mla::impl::MLAApproximateMathPassBase<MLAApproximateMathPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    MathPolynomialApproximationOptions opts;
    // The kernels' vectors are AVX-512 as often as AVX2; the AVX2-only
    // rsqrt approximation would not apply to them.
    opts.enableAvx2 = false;
    populateMathPolynomialApproximationPatterns(patterns, opts);
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
