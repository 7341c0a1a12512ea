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
// same op on both caches.
//
//===----------------------------------------------------------------------===//

#include "mla/Dialect/MLA/IR/MLAOps.h"
#include "mla/Dialect/MLA/Transforms/Passes.h"

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

    Location loc = op.getLoc();
    Value query = op.getQuery();
    if (Value qRope = op.getQueryRope())
      query = tensor::ConcatOp::create(rewriter, loc, /*dim=*/3,
                                       ValueRange{query, qRope});
    auto fused = DecodeAttentionOp::create(
        rewriter, loc, op.getResult().getType(), lseTy, query,
        gather.getCache(), gather.getBlockTable(), op.getKvLens(),
        op.getScaleAttr(), op.getCausalAttr());
    rewriter.replaceOp(op, fused.getResult());
    return success();
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
