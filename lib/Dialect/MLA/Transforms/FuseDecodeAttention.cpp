//===- FuseDecodeAttention.cpp - mla-fuse-decode-attention ------*- C++ -*-===//
//
// Replaces attention in latent space over the pages of a latent cache,
//   c, k_rope = mla.kv_cache_gather cache[block_table]
//   o = mla.attention q_lat, expand(c), expand(c) rope(q_rope, k_rope)
//                     kv_lens(seq_lens)
// by one mla.decode_attention on the cache itself, whose query is
// [q_lat ; q_rope]: QK^T, scale, mask, softmax and PV become one flash-
// decoding op that never materializes the gathered latents. Attention over
// keys and values gathered from paged head caches (GQA/MQA/MHA) becomes the
// same op on both caches. Attention over the positions that DeepSeek-V3.2's
// indexer selects (mla.topk of mla.index_score) becomes the sparse decode
// op (keys = indices) on the cache rows of those positions. A gather that
// decodes an fp8 cache (row scales or one scale) keeps its encoding.
//
//===----------------------------------------------------------------------===//

#include "mla/Dialect/MLA/IR/MLAOps.h"
#include "mla/Dialect/MLA/Transforms/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::mla {
#define GEN_PASS_DEF_MLAFUSEDECODEATTENTIONPASS
#include "mla/Dialect/MLA/Transforms/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;
using namespace mlir::mla;

namespace {

/// The gathered latents behind a [B, T, 1, d_c] key/value, or null.
KVCacheGatherOp gatheredLatents(Value kv) {
  auto expand = kv.getDefiningOp<tensor::ExpandShapeOp>();
  if (!expand)
    return nullptr;
  auto gather = expand.getSrc().getDefiningOp<KVCacheGatherOp>();
  if (!gather || gather.getLatent() != expand.getSrc())
    return nullptr;
  return gather;
}

/// What the decode op needs of any attention it replaces: the sequence
/// lengths, a static query length, i32 lengths and pages (`blockTable`).
/// Returns the lse type of the fused op, or null after reporting why not.
RankedTensorType decodeLseType(AttentionOp op, Value blockTable,
                               PatternRewriter &rewriter) {
  if (!op.getKvLens()) {
    (void)rewriter.notifyMatchFailure(op, "no sequence lengths");
    return nullptr;
  }
  auto qTy = op.getQuery().getType();
  if (qTy.isDynamicDim(1)) {
    (void)rewriter.notifyMatchFailure(op, "dynamic query length");
    return nullptr;
  }
  auto lensTy = cast<RankedTensorType>(op.getKvLens().getType());
  auto btTy = cast<RankedTensorType>(blockTable.getType());
  if (!lensTy.getElementType().isInteger(32) ||
      !btTy.getElementType().isInteger(32)) {
    (void)rewriter.notifyMatchFailure(op, "lengths or pages are not i32");
    return nullptr;
  }
  return RankedTensorType::get(
      {qTy.getDimSize(0), qTy.getDimSize(2), qTy.getDimSize(1)},
      rewriter.getF32Type());
}

struct FuseLatentAttention : public OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    if (op.getKey() != op.getValue() || op.getNumKVHeads() != 1)
      return rewriter.notifyMatchFailure(op, "not attention in latent space");
    KVCacheGatherOp gather = gatheredLatents(op.getKey());
    if (!gather)
      return rewriter.notifyMatchFailure(op, "keys are not cached latents");
    if (op.getKeyRope() && op.getKeyRope() != gather.getKeyRope())
      return rewriter.notifyMatchFailure(op, "rope keys are not cached");
    if (!op.getKeyRope() && gather.getKeyRope().getType().getDimSize(2) != 0)
      return rewriter.notifyMatchFailure(op, "cached rope part is unused");
    RankedTensorType lseTy =
        decodeLseType(op, gather.getBlockTable(), rewriter);
    if (!lseTy)
      return failure();

    if (op.getIndices() && !selectsVisibleOnly(op, rewriter))
      return failure();

    Location loc = op.getLoc();
    Value query = op.getQuery();
    if (Value qRope = op.getQueryRope())
      query = tensor::ConcatOp::create(rewriter, loc, /*dim=*/3,
                                       ValueRange{query, qRope});
    // A cache of fp8 rows is read as such (scales = row_groups), an fp8
    // cache with one scale with that scale (scales = per_tensor); sparse
    // decode reads the cache rows of the selected positions, every slot
    // valid to it (-1 marks none), the selection already masked.
    std::optional<int64_t> group = gather.getScaleGroup();
    Value cacheScale = gather.getCacheScale();
    bool sparse = bool(op.getIndices());
    Value keys = gather.getBlockTable(), lens = op.getKvLens();
    if (sparse)
      std::tie(keys, lens) =
          cacheRows(rewriter, loc, op.getIndices(), gather.getBlockTable(),
                    gather.getCache().getType().getDimSize(1));
    CacheScales scales = group        ? CacheScales::row_groups
                         : cacheScale ? CacheScales::per_tensor
                                      : CacheScales::none;
    DecodeVariantAttr variant;
    if (sparse || scales != CacheScales::none)
      variant = DecodeVariantAttr::get(
          rewriter.getContext(), sparse ? KeySource::indices : KeySource::pages,
          scales, group.value_or(128), ValueWidth::latent, std::nullopt);
    auto fused = DecodeAttentionOp::create(
        rewriter, loc, op.getResult().getType(), lseTy, query,
        gather.getCache(), /*value_cache=*/Value(), keys, lens,
        /*sinks=*/Value(), cacheScale, op.getScaleAttr(),
        sparse ? UnitAttr() : op.getCausalAttr(), variant);
    rewriter.replaceOp(op, fused.getResult());
    return success();
  }

  /// Attention over selected positions drops its masks when fused (sparse
  /// decode has none): only a selection by mla.topk of index scores masked
  /// like the attention (same lengths; causal if it is) is known to hold
  /// visible positions only, each once.
  static bool selectsVisibleOnly(AttentionOp op, PatternRewriter &rewriter) {
    auto topk = op.getIndices().getDefiningOp<TopKOp>();
    auto scores =
        topk ? topk.getScores().getDefiningOp<IndexScoreOp>() : IndexScoreOp();
    if (!scores) {
      (void)rewriter.notifyMatchFailure(
          op, "indices are not mla.topk of mla.index_score");
      return false;
    }
    if (scores.getKvLens() != op.getKvLens() ||
        scores.getCausal() != op.getCausal()) {
      (void)rewriter.notifyMatchFailure(
          op, "the index scores are masked unlike the attention");
      return false;
    }
    return true;
  }

  /// rows[b, s, j] = block_table[b, p / BS] * BS + p % BS for the position
  /// p = indices[b, s, j], -1 where p is -1; and slots [B] = K.
  static std::pair<Value, Value> cacheRows(PatternRewriter &rewriter,
                                           Location loc, Value indices,
                                           Value blockTable, int64_t bs) {
    auto idxTy = cast<RankedTensorType>(indices.getType());
    Type i32 = rewriter.getI32Type();
    auto rowsTy = idxTy.clone(i32);
    SmallVector<Value> dyn;
    for (int64_t d = 0; d < 3; ++d)
      if (idxTy.isDynamicDim(d))
        dyn.push_back(tensor::DimOp::create(rewriter, loc, indices, d));
    Value init = tensor::EmptyOp::create(rewriter, loc, rowsTy, dyn);
    AffineMap id = rewriter.getMultiDimIdentityMap(3);
    Value rows =
        linalg::GenericOp::create(
            rewriter, loc, TypeRange{rowsTy}, ValueRange{indices},
            ValueRange{init}, ArrayRef<AffineMap>{id, id},
            SmallVector<utils::IteratorType>(3, utils::IteratorType::parallel),
            "", "",
            [&](OpBuilder &b, Location l, ValueRange a) {
              Value p = a[0];
              if (!p.getType().isInteger(32))
                p = arith::TruncIOp::create(b, l, i32, p);
              auto c = [&](int64_t v) -> Value {
                return arith::ConstantOp::create(b, l, b.getI32IntegerAttr(v));
              };
              Value none = arith::CmpIOp::create(
                  b, l, arith::CmpIPredicate::slt, p, c(0));
              Value safe = arith::SelectOp::create(b, l, none, c(0), p);
              Value page = arith::DivUIOp::create(b, l, safe, c(bs));
              Value off = arith::RemUIOp::create(b, l, safe, c(bs));
              Value bIdx = linalg::IndexOp::create(b, l, 0);
              Value pageIdx =
                  arith::IndexCastOp::create(b, l, b.getIndexType(), page);
              Value block = tensor::ExtractOp::create(
                  b, l, blockTable, ValueRange{bIdx, pageIdx});
              Value row = arith::AddIOp::create(
                  b, l, arith::MulIOp::create(b, l, block, c(bs)), off);
              linalg::YieldOp::create(
                  b, l,
                  ValueRange{arith::SelectOp::create(b, l, none, c(-1), row)});
            })
            .getResult(0);
    SmallVector<Value> batch;
    if (idxTy.isDynamicDim(0))
      batch.push_back(tensor::DimOp::create(rewriter, loc, indices, 0));
    auto slotsTy = RankedTensorType::get({idxTy.getDimSize(0)}, i32);
    Value slots = tensor::EmptyOp::create(rewriter, loc, slotsTy, batch);
    slots = linalg::FillOp::create(
                rewriter, loc,
                ValueRange{arith::ConstantOp::create(
                    rewriter, loc,
                    rewriter.getI32IntegerAttr(idxTy.getDimSize(2)))},
                ValueRange{slots})
                .getResult(0);
    return {rows, slots};
  }
};

/// GQA/MQA/MHA decode over paged head caches,
///   k = mla.kv_cache_gather k_cache[block_table]
///   v = mla.kv_cache_gather v_cache[block_table]
///   o = mla.attention q, k, v kv_lens(seq_lens)
/// becomes mla.decode_attention q, k_cache, v_cache[block_table, seq_lens]
/// (its lse unused).
struct FuseHeadAttention : public OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AttentionOp op,
                                PatternRewriter &rewriter) const override {
    auto keys = op.getKey().getDefiningOp<KVCacheGatherOp>();
    auto values = op.getValue().getDefiningOp<KVCacheGatherOp>();
    if (!keys || !values || keys.getKeyRope() || values.getKeyRope())
      return rewriter.notifyMatchFailure(op, "keys and values are not "
                                             "gathered from head caches");
    if (keys.getBlockTable() != values.getBlockTable())
      return rewriter.notifyMatchFailure(op, "keys and values use different "
                                             "block tables");
    if (op.getQueryRope())
      return rewriter.notifyMatchFailure(op, "a rope part with head caches");
    if (op.getIndices())
      return rewriter.notifyMatchFailure(op, "selected positions of head "
                                             "caches (sparse decode reads a "
                                             "latent cache)");
    RankedTensorType lseTy = decodeLseType(op, keys.getBlockTable(), rewriter);
    if (!lseTy)
      return failure();
    auto fused = DecodeAttentionOp::create(
        rewriter, op.getLoc(), op.getResult().getType(), lseTy, op.getQuery(),
        keys.getCache(), values.getCache(), keys.getBlockTable(),
        op.getKvLens(), /*sinks=*/Value(), /*cache_scale=*/Value(),
        op.getScaleAttr(), op.getCausalAttr(), DecodeVariantAttr());
    rewriter.replaceOp(op, fused.getResult());
    return success();
  }
};

struct MLAFuseDecodeAttentionPass
    : public mla::impl::MLAFuseDecodeAttentionPassBase<
          MLAFuseDecodeAttentionPass> {
  using Base::Base;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseLatentAttention, FuseHeadAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};
} // namespace
