//===- AbsorbWeights.cpp - mla-absorb-weights pass --------------*- C++ -*-===//
//
// Rewrites an MLA layer from the training form (per-head K = c W_UK and
// V = c W_UV materialized from the latents c) into the inference form:
//   q_lat_h = q_nope_h W_UK,h^T                    (mla.head_linear)
//   o_lat   = attention(q_lat, c, c; rope parts)   (MQA in latent space)
//   o_h     = o_lat_h W_UV,h                       (mla.head_linear)
// which is exact: q_nope_h . (c_j W_UK,h) = (q_nope_h W_UK,h^T) . c_j and
// sum_j p_j (c_j W_UV,h) = (sum_j p_j c_j) W_UV,h.
//
// Merging W_UQ with W_UK^T (when q_nope = c_q W_UQ) and W_UV with W_O (when
// the only user of the attention is the output projection) is decided per
// token per head, counting multiply-adds, which for these weights equal the
// parameters read:
//   query:  merged q_in * d_c  vs  separate d_nope * (q_in + d_c)
//   output: merged d_c * D     vs  separate d_v * (d_c + D)
// and merging is done only where it is strictly cheaper (or forced by the
// options). Merged weights are folded when both factors are constants;
// otherwise the layer takes the merged weight as a new trailing argument and
// `<layer>_prepare_weights` computes it from the originals once, at load time.
//
//===----------------------------------------------------------------------===//

#include "mla/Dialect/MLA/IR/MLADecompositions.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"
#include "mla/Dialect/MLA/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/SymbolTable.h"

namespace mlir::mla {
#define GEN_PASS_DEF_MLAABSORBWEIGHTSPASS
#include "mla/Dialect/MLA/Transforms/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;
using namespace mlir::mla;

namespace {

enum class Merge { Auto, Always, Never };

FailureOr<Merge> parseMerge(StringRef s) {
  if (s == "auto")
    return Merge::Auto;
  if (s == "always")
    return Merge::Always;
  if (s == "never")
    return Merge::Never;
  return failure();
}

bool decide(Merge m, int64_t merged, int64_t separate) {
  return m == Merge::Always || (m == Merge::Auto && merged < separate);
}

/// Values of a constant float tensor as doubles, or nothing.
std::optional<SmallVector<double>> constantValues(Value v) {
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)) ||
      !isa<FloatType>(attr.getElementType()))
    return std::nullopt;
  SmallVector<double> out;
  for (APFloat f : attr.getValues<APFloat>()) {
    bool lost;
    f.convert(APFloat::IEEEdouble(), APFloat::rmNearestTiesToEven, &lost);
    out.push_back(f.convertToDouble());
  }
  return out;
}

DenseElementsAttr toAttr(RankedTensorType type, ArrayRef<double> values) {
  auto ft = cast<FloatType>(type.getElementType());
  SmallVector<APFloat> out;
  for (double d : values) {
    APFloat f(d);
    bool lost;
    f.convert(ft.getFloatSemantics(), APFloat::rmNearestTiesToEven, &lost);
    out.push_back(f);
  }
  return DenseElementsAttr::get(type, out);
}

/// A batched contraction out[h, i, j] = sum_k a(h, i, k) * b(h, j, k) with
/// the operands' index maps given, accumulated in f32.
Value contractHeads(OpBuilder &b, Location loc, Value lhs, AffineMap lhsMap,
                    Value rhs, AffineMap rhsMap, ArrayRef<int64_t> shape,
                    Type elemType) {
  MLIRContext *ctx = b.getContext();
  auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
  using utils::IteratorType;
  return buildF32Contraction(
      b, loc, lhs, rhs,
      {lhsMap, rhsMap, AffineMap::get(4, 0, {d(0), d(1), d(2)}, ctx)},
      {IteratorType::parallel, IteratorType::parallel, IteratorType::parallel,
       IteratorType::reduction},
      RankedTensorType::get(shape, elemType));
}

struct MLAAbsorbWeightsPass
    : public mla::impl::MLAAbsorbWeightsPassBase<MLAAbsorbWeightsPass> {
  using Base::Base;

  void runOnOperation() override {
    FailureOr<Merge> mq = parseMerge(mergeQuery), mo = parseMerge(mergeOutput);
    if (failed(mq) || failed(mo)) {
      emitError(getOperation().getLoc())
          << "mla-absorb-weights: merge-query and merge-output take auto, "
             "always or never";
      return signalPassFailure();
    }
    SmallVector<AttentionOp> ops;
    getOperation().walk([&](AttentionOp op) { ops.push_back(op); });
    for (AttentionOp op : ops)
      absorb(op, *mq, *mo);
  }

  /// Erases the training-form projections the rewrite left without users.
  static void eraseIfDead(ArrayRef<Operation *> ops) {
    for (Operation *op : ops)
      if (op && op->use_empty())
        op->erase();
  }

  /// The per-head up projection producing `v`, or a remark saying why not.
  HeadProjOp upProjection(AttentionOp op, Value v, StringRef role) {
    Operation *def = v.getDefiningOp();
    if (auto proj = dyn_cast_or_null<HeadProjOp>(def))
      return proj;
    auto diag = op.emitRemark() << "mla-absorb-weights: not absorbed: the "
                                << role << " ";
    if (isa_and_nonnull<RopeOp>(def))
      diag << "is rotated after its up projection; RoPE does not commute "
              "with W_UK, so W_UK cannot move to the query side";
    else if (def)
      diag << "comes from '" << def->getName()
           << "', not directly from a per-head up projection (mla.head_proj) "
              "of the latents; absorption would change the result";
    else
      diag << "is a block argument, not an up projection of the latents";
    return nullptr;
  }

  void absorb(AttentionOp op, Merge mq, Merge mo) {
    HeadProjOp kProj = upProjection(op, op.getKey(), "key");
    if (!kProj)
      return;
    HeadProjOp vProj = upProjection(op, op.getValue(), "value");
    if (!vProj)
      return;
    Value latent = kProj.getInput();
    if (vProj.getInput() != latent) {
      op.emitRemark() << "mla-absorb-weights: not absorbed: key and value are "
                         "up projections of different tensors, not of one "
                         "shared latent";
      return;
    }
    auto latentTy = cast<RankedTensorType>(latent.getType());
    auto qTy = op.getQuery().getType();
    int64_t heads = qTy.getDimSize(2), dNope = qTy.getDimSize(3),
            dc = latentTy.getDimSize(2),
            dv = vProj.getResult().getType().getDimSize(3);
    Type elemType = qTy.getElementType();
    OpBuilder b(op);
    Location loc = op.getLoc();
    auto func = op->getParentOfType<func::FuncOp>();

    // Query side: q_lat = q_nope W_UK^T, or c_q (W_UQ W_UK^T) when cheaper.
    Value qLat;
    auto qProj = op.getQuery().getDefiningOp<HeadProjOp>();
    int64_t qIn = qProj ? qProj.getInput().getType().getDimSize(2) : 0;
    if (qProj && decide(mq, qIn * dc, dNope * (qIn + dc))) {
      auto wTy = RankedTensorType::get({heads, qIn, dc}, elemType);
      Value w = mergedWeight(
          b, func, wTy, "w_uq_uk", {qProj.getWeight(), kProj.getWeight()},
          [&](OpBuilder &pb, Location pl, ValueRange ws) {
            // W[h, i, c] = sum_k W_UQ[h, i, k] W_UK[h, c, k]
            MLIRContext *ctx = pb.getContext();
            auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
            return contractHeads(
                pb, pl, ws[0], AffineMap::get(4, 0, {d(0), d(1), d(3)}, ctx),
                ws[1], AffineMap::get(4, 0, {d(0), d(2), d(3)}, ctx),
                {heads, qIn, dc}, elemType);
          },
          [&](ArrayRef<double> wuq, ArrayRef<double> wuk) {
            SmallVector<double> out(heads * qIn * dc, 0.0);
            for (int64_t h = 0; h < heads; ++h)
              for (int64_t i = 0; i < qIn; ++i)
                for (int64_t c = 0; c < dc; ++c) {
                  double s = 0;
                  for (int64_t k = 0; k < dNope; ++k)
                    s += wuq[(h * qIn + i) * dNope + k] *
                         wuk[(h * dc + c) * dNope + k];
                  out[(h * qIn + i) * dc + c] = s;
                }
            return out;
          });
      if (!w)
        return;
      auto qLatTy = RankedTensorType::get(
          {qTy.getDimSize(0), qTy.getDimSize(1), heads, dc}, elemType);
      qLat = HeadProjOp::create(b, loc, qLatTy, qProj.getInput(), w);
    } else {
      auto qLatTy = RankedTensorType::get(
          {qTy.getDimSize(0), qTy.getDimSize(1), heads, dc}, elemType);
      qLat = HeadLinearOp::create(b, loc, qLatTy, op.getQuery(),
                                  kProj.getWeight(), b.getUnitAttr());
    }

    // Attention in latent space: one key/value head, the latents themselves.
    auto kvTy = RankedTensorType::get(
        {latentTy.getDimSize(0), latentTy.getDimSize(1), 1, dc}, elemType);
    Value kv = tensor::ExpandShapeOp::create(
        b, loc, kvTy, latent, ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}});
    auto oLatTy = RankedTensorType::get(
        {qTy.getDimSize(0), qTy.getDimSize(1), heads, dc}, elemType);
    auto latentAttn = AttentionOp::create(
        b, loc, oLatTy, qLat, kv, kv, op.getQueryRope(), op.getKeyRope(),
        op.getKvLens(), op.getIndices(), op.getScaleAttr(), op.getCausalAttr());

    // Output side: o = o_lat W_UV, or out = o_lat (W_UV W_O) when cheaper.
    OutProjOp outProj;
    if (op->hasOneUse())
      outProj = dyn_cast<OutProjOp>(*op->user_begin());
    if (outProj) {
      int64_t hidden = outProj.getResult().getType().getDimSize(2);
      if (decide(mo, dc * hidden, dv * (dc + hidden))) {
        auto wTy = RankedTensorType::get({heads * dc, hidden}, elemType);
        Value w = mergedWeight(
            b, func, wTy, "w_uv_o", {vProj.getWeight(), outProj.getWeight()},
            [&](OpBuilder &pb, Location pl, ValueRange ws) {
              // W[h*dc + c, n] = sum_k W_UV[h, c, k] W_O[h*dv + k, n]
              MLIRContext *ctx = pb.getContext();
              auto d = [&](unsigned i) { return getAffineDimExpr(i, ctx); };
              Value wo = tensor::ExpandShapeOp::create(
                  pb, pl, RankedTensorType::get({heads, dv, hidden}, elemType),
                  ws[1], ArrayRef<ReassociationIndices>{{0, 1}, {2}});
              Value m = contractHeads(
                  pb, pl, ws[0], AffineMap::get(4, 0, {d(0), d(1), d(3)}, ctx),
                  wo, AffineMap::get(4, 0, {d(0), d(3), d(2)}, ctx),
                  {heads, dc, hidden}, elemType);
              return tensor::CollapseShapeOp::create(
                         pb, pl, wTy, m,
                         ArrayRef<ReassociationIndices>{{0, 1}, {2}})
                  .getResult();
            },
            [&](ArrayRef<double> wuv, ArrayRef<double> wo) {
              SmallVector<double> out(heads * dc * hidden, 0.0);
              for (int64_t h = 0; h < heads; ++h)
                for (int64_t c = 0; c < dc; ++c)
                  for (int64_t k = 0; k < dv; ++k) {
                    double a = wuv[(h * dc + c) * dv + k];
                    for (int64_t n = 0; n < hidden; ++n)
                      out[(h * dc + c) * hidden + n] +=
                          a * wo[(h * dv + k) * hidden + n];
                  }
              return out;
            });
        if (!w)
          return;
        b.setInsertionPoint(outProj);
        Value merged = OutProjOp::create(b, outProj.getLoc(),
                                         outProj.getResult().getType(),
                                         latentAttn.getResult(), w);
        outProj.getResult().replaceAllUsesWith(merged);
        outProj.erase();
        op.erase();
        eraseIfDead({kProj, vProj, qProj});
        return;
      }
    }
    Value o = HeadLinearOp::create(b, loc, op.getResult().getType(),
                                   latentAttn.getResult(), vProj.getWeight(),
                                   UnitAttr());
    op.getResult().replaceAllUsesWith(o);
    op.erase();
    eraseIfDead({kProj, vProj, qProj});
  }

  /// A merged weight: folded to a constant when every factor is one; else a
  /// new trailing argument of `func`, computed by `<func>_prepare_weights`
  /// from the factors (which must then be arguments of `func`).
  Value mergedWeight(
      OpBuilder &b, func::FuncOp func, RankedTensorType type, StringRef name,
      ArrayRef<Value> factors,
      function_ref<Value(OpBuilder &, Location, ValueRange)> compute,
      function_ref<SmallVector<double>(ArrayRef<double>, ArrayRef<double>)>
          fold) {
    Location loc = func.getLoc();
    auto a = constantValues(factors[0]), c = constantValues(factors[1]);
    if (a && c)
      return arith::ConstantOp::create(b, loc, type,
                                       toAttr(type, fold(*a, *c)));
    SmallVector<unsigned> argIdx;
    for (Value f : factors) {
      auto arg = dyn_cast<BlockArgument>(f);
      if (!arg || arg.getOwner() != &func.getBody().front()) {
        emitError(f.getLoc())
            << "mla-absorb-weights: cannot merge into '" << name
            << "': its factors must be constants or arguments of @"
            << func.getSymName();
        signalPassFailure();
        return nullptr;
      }
      argIdx.push_back(arg.getArgNumber());
    }
    // The prepare function: factors in, merged weight out.
    ModuleOp module = func->getParentOfType<ModuleOp>();
    std::string prepName = (func.getSymName() + "_prepare_weights").str();
    auto prep = module.lookupSymbol<func::FuncOp>(prepName);
    OpBuilder mb(module.getContext());
    if (!prep) {
      mb.setInsertionPointAfter(func);
      prep = func::FuncOp::create(mb, loc, prepName,
                                  mb.getFunctionType({}, {}));
      mb.setInsertionPointToStart(prep.addEntryBlock());
      func::ReturnOp::create(mb, loc);
    }
    Block &pb = prep.getBody().front();
    SmallVector<Value> inputs;
    for (unsigned i : argIdx) {
      Type t = func.getArgument(i).getType();
      (void)prep.insertArgument(prep.getNumArguments(), t,
                                mb.getDictionaryAttr(mb.getNamedAttr(
                                    "mla.weight", mb.getI64IntegerAttr(i))),
                                loc);
      inputs.push_back(pb.getArgument(pb.getNumArguments() - 1));
    }
    auto ret = cast<func::ReturnOp>(pb.getTerminator());
    mb.setInsertionPoint(ret);
    Value merged = compute(mb, loc, inputs);
    SmallVector<Value> results(ret.getOperands());
    results.push_back(merged);
    func::ReturnOp::create(mb, loc, results);
    ret.erase();
    prep.setFunctionType(mb.getFunctionType(
        prep.getArgumentTypes(), ValueRange(results).getTypes()));

    // The layer takes the merged weight as its last argument.
    unsigned pos = func.getNumArguments();
    (void)func.insertArgument(
        pos, type,
        mb.getDictionaryAttr(mb.getNamedAttr("mla.absorbed",
                                             mb.getStringAttr(name))),
        loc);
    return func.getArgument(pos);
  }
};
} // namespace
