//===- ExpandBF16.cpp - mla-expand-bf16 pass --------------------*- C++ -*-===//

#include "mla/Conversion/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/IR/TypeUtilities.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mla {
#define GEN_PASS_DEF_MLAEXPANDBF16PASS
#include "mla/Conversion/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;

namespace {
/// truncf f32 -> bf16 (scalars or vectors) as integer ops without a select,
/// rounding to nearest even and keeping NaNs quiet:
///   nan = (|b| + 0x007fffff) >> 31        (1 iff b is a NaN)
///   m   = 0 - nan                          (all ones for a NaN)
///   r   = ((b | (0x00400000 & m)) + ((0x7fff + ((b >> 16) & 1)) & ~m)) >> 16
/// A select (arith-expand's form) would be folded by LLVM into a select of
/// bf16 values, which x86 without AVX512-BF16 widens to f32 and narrows back
/// through __truncsfbf2.
struct TruncFToBF16AsBits : public OpRewritePattern<arith::TruncFOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(arith::TruncFOp op,
                                PatternRewriter &rewriter) const override {
    Type type = op.getType();
    if (!getElementTypeOrSelf(type).isBF16() ||
        !getElementTypeOrSelf(op.getIn().getType()).isF32())
      return failure();
    auto like = [&](Type elem) -> Type {
      if (auto vec = dyn_cast<VectorType>(type))
        return vec.clone(elem);
      return elem;
    };
    Type i32 = like(rewriter.getI32Type()), i16 = like(rewriter.getI16Type());
    Location loc = op.getLoc();
    auto cst = [&](int64_t v) -> Value {
      TypedAttr attr = rewriter.getI32IntegerAttr(int32_t(v));
      if (auto vec = dyn_cast<VectorType>(i32))
        attr = SplatElementsAttr::get(vec, attr);
      return arith::ConstantOp::create(rewriter, loc, attr);
    };
    Value b = arith::BitcastOp::create(rewriter, loc, i32, op.getIn());
    Value abs = arith::AndIOp::create(rewriter, loc, b, cst(0x7fffffff));
    Value nan = arith::ShRUIOp::create(
        rewriter, loc, arith::AddIOp::create(rewriter, loc, abs, cst(0x7fffff)),
        cst(31));
    Value m = arith::SubIOp::create(rewriter, loc, cst(0), nan);
    Value notM = arith::XOrIOp::create(rewriter, loc, m, cst(-1));
    Value lsb = arith::AndIOp::create(
        rewriter, loc, arith::ShRUIOp::create(rewriter, loc, b, cst(16)),
        cst(1));
    Value inc = arith::AndIOp::create(
        rewriter, loc, arith::AddIOp::create(rewriter, loc, lsb, cst(0x7fff)),
        notM);
    Value quiet = arith::OrIOp::create(
        rewriter, loc, b,
        arith::AndIOp::create(rewriter, loc, m, cst(0x00400000)));
    Value r = arith::ShRUIOp::create(
        rewriter, loc, arith::AddIOp::create(rewriter, loc, quiet, inc),
        cst(16));
    Value bits = arith::TruncIOp::create(rewriter, loc, i16, r);
    rewriter.replaceOpWithNewOp<arith::BitcastOp>(op, type, bits);
    return success();
  }
};

struct MLAExpandBF16Pass
    : public mla::impl::MLAExpandBF16PassBase<MLAExpandBF16Pass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<TruncFToBF16AsBits>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};
} // namespace
