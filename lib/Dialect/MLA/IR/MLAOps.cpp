//===- MLAOps.cpp - mla dialect operations ----------------------*- C++ -*-===//
//
// Verifiers name the dimension and both values of every mismatch. Dynamic
// sizes (batch, tokens) match anything; heads and feature sizes must be
// static so that kernels can be generated for them.
//
//===----------------------------------------------------------------------===//

#include "mla/Dialect/MLA/IR/MLAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/TypeUtilities.h"
#include "llvm/ADT/TypeSwitch.h"
#include <cmath>
#include <limits>

using namespace mlir;
using namespace mlir::mla;

namespace {
/// Checks that a ranked operand or result has an exact rank.
LogicalResult checkRank(Operation *op, StringRef name, ShapedType type,
                        int64_t rank) {
  if (type.getRank() == rank)
    return success();
  return op->emitOpError() << "'" << name << "' must have rank " << rank
                           << ", got rank " << type.getRank();
}

/// Checks that two sizes agree where both are static.
LogicalResult checkDim(Operation *op, const Twine &whatA, int64_t a,
                       const Twine &whatB, int64_t b) {
  if (ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b)
    return success();
  return op->emitOpError() << whatA << " (" << a << ") does not match "
                           << whatB << " (" << b << ")";
}

/// Checks that a feature size (heads, head dims, weights) is static and
/// nonzero.
LogicalResult checkFeatureDim(Operation *op, StringRef name, ShapedType type,
                              int64_t dim, StringRef what) {
  int64_t v = type.getDimSize(dim);
  if (ShapedType::isDynamic(v))
    return op->emitOpError() << what << " (dimension " << dim << " of '"
                             << name << "') must be static";
  if (v == 0)
    return op->emitOpError() << what << " (dimension " << dim << " of '"
                             << name << "') must be nonzero";
  return success();
}

LogicalResult checkAllFeatureDims(Operation *op, StringRef name,
                                  ShapedType type) {
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (failed(checkFeatureDim(op, name, type, d, "weight size")))
      return failure();
  return success();
}

LogicalResult checkPositiveFinite(Operation *op, StringRef name, double v) {
  if (std::isfinite(v) && v > 0)
    return success();
  return op->emitOpError() << "'" << name
                           << "' must be positive and finite, got " << v;
}
} // namespace

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), w = getWeight().getType(),
       res = getResult().getType();
  if (in.getRank() < 1)
    return emitOpError() << "'input' must have rank at least 1";
  if (failed(checkRank(op, "weight", w, 2)) ||
      failed(checkRank(op, "result", res, in.getRank())) ||
      failed(checkAllFeatureDims(op, "weight", w)))
    return failure();
  int64_t last = in.getRank() - 1;
  for (int64_t d = 0; d < last; ++d)
    if (failed(checkDim(op, "result dimension " + Twine(d),
                        res.getDimSize(d), "input dimension " + Twine(d),
                        in.getDimSize(d))))
      return failure();
  if (failed(checkDim(op, "input features", in.getDimSize(last),
                      "weight rows", w.getDimSize(0))) ||
      failed(checkDim(op, "result features", res.getDimSize(last),
                      "weight columns", w.getDimSize(1))))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// HeadProjOp
//===----------------------------------------------------------------------===//

LogicalResult HeadProjOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), w = getWeight().getType(),
       res = getResult().getType();
  if (failed(checkRank(op, "input", in, 3)) ||
      failed(checkRank(op, "weight", w, 3)) ||
      failed(checkRank(op, "result", res, 4)) ||
      failed(checkAllFeatureDims(op, "weight", w)))
    return failure();
  if (failed(checkDim(op, "result batch", res.getDimSize(0), "input batch",
                      in.getDimSize(0))) ||
      failed(checkDim(op, "result tokens", res.getDimSize(1), "input tokens",
                      in.getDimSize(1))) ||
      failed(checkDim(op, "input features", in.getDimSize(2),
                      "weight input features", w.getDimSize(1))) ||
      failed(checkDim(op, "result heads", res.getDimSize(2), "weight heads",
                      w.getDimSize(0))) ||
      failed(checkDim(op, "result head dim", res.getDimSize(3),
                      "weight head dim", w.getDimSize(2))))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// OutProjOp
//===----------------------------------------------------------------------===//

LogicalResult OutProjOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), w = getWeight().getType(),
       res = getResult().getType();
  if (failed(checkRank(op, "input", in, 4)) ||
      failed(checkRank(op, "weight", w, 2)) ||
      failed(checkRank(op, "result", res, 3)) ||
      failed(checkAllFeatureDims(op, "weight", w)) ||
      failed(checkFeatureDim(op, "input", in, 2, "heads")) ||
      failed(checkFeatureDim(op, "input", in, 3, "head dim")))
    return failure();
  if (failed(checkDim(op, "result batch", res.getDimSize(0), "input batch",
                      in.getDimSize(0))) ||
      failed(checkDim(op, "result tokens", res.getDimSize(1), "input tokens",
                      in.getDimSize(1))) ||
      failed(checkDim(op, "heads * head dim",
                      in.getDimSize(2) * in.getDimSize(3), "weight rows",
                      w.getDimSize(0))) ||
      failed(checkDim(op, "result features", res.getDimSize(2),
                      "weight columns", w.getDimSize(1))))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// RMSNormOp
//===----------------------------------------------------------------------===//

LogicalResult RMSNormOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), g = getGamma().getType();
  if (in.getRank() < 1)
    return emitOpError() << "'input' must have rank at least 1";
  if (failed(checkRank(op, "gamma", g, 1)) ||
      failed(checkFeatureDim(op, "input", in, in.getRank() - 1,
                             "normalized dimension")) ||
      failed(checkDim(op, "gamma size", g.getDimSize(0),
                      "normalized dimension", in.getDimSize(in.getRank() - 1))))
    return failure();
  return checkPositiveFinite(op, "epsilon", getEpsilon().convertToDouble());
}

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), g = getGamma().getType(),
       beta = getBeta().getType();
  if (in.getRank() < 1)
    return emitOpError() << "'input' must have rank at least 1";
  int64_t n = in.getDimSize(in.getRank() - 1);
  if (failed(checkRank(op, "gamma", g, 1)) ||
      failed(checkRank(op, "beta", beta, 1)) ||
      failed(checkFeatureDim(op, "input", in, in.getRank() - 1,
                             "normalized dimension")) ||
      failed(checkDim(op, "gamma size", g.getDimSize(0), "normalized dimension",
                      n)) ||
      failed(checkDim(op, "beta size", beta.getDimSize(0),
                      "normalized dimension", n)))
    return failure();
  return checkPositiveFinite(op, "epsilon", getEpsilon().convertToDouble());
}

//===----------------------------------------------------------------------===//
// PositionScaleOp
//===----------------------------------------------------------------------===//

LogicalResult PositionScaleOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), pos = getPositions().getType();
  if (in.getRank() < 2)
    return emitOpError() << "'input' must have rank at least 2 [B, S, ...], "
                            "got rank "
                         << in.getRank();
  if (failed(checkRank(op, "positions", pos, 2)) ||
      failed(checkDim(op, "positions batch", pos.getDimSize(0), "input batch",
                      in.getDimSize(0))) ||
      failed(checkDim(op, "positions tokens", pos.getDimSize(1),
                      "input tokens", in.getDimSize(1))))
    return failure();
  double beta = getBeta().convertToDouble();
  if (!std::isfinite(beta))
    return emitOpError() << "'beta' must be finite, got " << beta;
  if (getOriginalMaxPositionEmbeddings() <= 0)
    return emitOpError() << "'original_max_position_embeddings' must be "
                            "positive, got "
                         << getOriginalMaxPositionEmbeddings();
  return success();
}

//===----------------------------------------------------------------------===//
// RopeOp
//===----------------------------------------------------------------------===//

LogicalResult RopeOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), pos = getPositions().getType();
  if (in.getRank() != 3 && in.getRank() != 4)
    return emitOpError() << "'input' must have rank 3 [B, S, d] or 4 "
                            "[B, S, H, d], got rank "
                         << in.getRank();
  int64_t last = in.getRank() - 1;
  if (failed(checkRank(op, "positions", pos, 2)) ||
      failed(checkFeatureDim(op, "input", in, last, "rotated dimension")) ||
      failed(checkDim(op, "positions batch", pos.getDimSize(0), "input batch",
                      in.getDimSize(0))) ||
      failed(checkDim(op, "positions tokens", pos.getDimSize(1),
                      "input tokens", in.getDimSize(1))))
    return failure();
  int64_t d = in.getDimSize(last);
  if (d % 2 != 0)
    return emitOpError() << "rotated dimension (" << d << ") must be even";
  if (failed(checkPositiveFinite(op, "theta", getTheta().convertToDouble())))
    return failure();
  if (RopeScalingAttr scaling = getScalingAttr();
      scaling && scaling.getRopeType() == RopeScalingType::longrope &&
      scaling.getShortFactor().size() != d / 2)
    return emitOpError() << "longrope scaling has "
                         << scaling.getShortFactor().size()
                         << " factors per set, expected one per rotated pair ("
                         << d / 2 << ")";
  LayerConfigAttr cfg = getEnclosingLayerConfig(op);
  if (!cfg)
    return success();
  int64_t cfgDim = cfg.isLatent() ? *cfg.getQkRopeHeadDim() : *cfg.getHeadDim();
  if (failed(checkDim(op, "rotated dimension", d,
                      cfg.isLatent() ? "the layer's qk_rope_head_dim"
                                     : "the layer's head_dim",
                      cfgDim)))
    return failure();
  if (getTheta().convertToDouble() != cfg.getRopeTheta().convertToDouble())
    return emitOpError() << "theta (" << getTheta().convertToDouble()
                         << ") does not match the layer's rope_theta ("
                         << cfg.getRopeTheta().convertToDouble() << ")";
  if (getStyle() == cfg.getRopeStyle())
    return success();
  InFlightDiagnostic diag = emitOpError()
                            << "style (" << stringifyRopeStyle(getStyle())
                            << ") does not match the layer's rope_style ("
                            << stringifyRopeStyle(cfg.getRopeStyle()) << ")";
  // DeepSeek-V3.2's indexer rotates with half-split pairs: its query ropes
  // feed mla.index_score, its key ropes the index cache (rows of
  // index_head_dim); the attention's own ropes keep the layer's style.
  if (cfg.hasIndexer() && getStyle() == RopeStyle::rotate_half) {
    auto isIndexerUse = [&](OpOperand &use) {
      if (auto score = dyn_cast<IndexScoreOp>(use.getOwner()))
        return use.get() == score.getQueryRope() ||
               use.get() == score.getKeyRope();
      if (auto append = dyn_cast<KVCacheAppendOp>(use.getOwner()))
        return use.get() == append.getKeyRope() &&
               append.getCache().getType().getDimSize(2) ==
                   *cfg.getIndexHeadDim();
      return false;
    };
    if (!getResult().use_empty() &&
        llvm::all_of(getResult().getUses(), isIndexerUse)) {
      diag.abandon();
      return success();
    }
    diag.attachNote() << "only the indexer's ropes (feeding mla.index_score "
                         "or the index cache) may rotate half-split pairs";
  }
  return diag;
}

//===----------------------------------------------------------------------===//
// KV cache
//===----------------------------------------------------------------------===//

/// Checks a cache [NB, BS, d_c + d_r] (fp8 rows: d_c + 4 d_c / G + 2 d_r
/// bytes) against latent and rope parts of rank 3.
static LogicalResult verifyCacheRow(Operation *op, ShapedType cache,
                                    ShapedType latent, ShapedType rope,
                                    std::optional<int64_t> scaleGroup) {
  if (failed(checkRank(op, "cache", cache, 3)) ||
      failed(checkRank(op, "latent", latent, 3)) ||
      failed(checkRank(op, "key_rope", rope, 3)) ||
      failed(checkFeatureDim(op, "cache", cache, 1, "block size")) ||
      failed(checkFeatureDim(op, "cache", cache, 2, "cache row width")) ||
      failed(checkFeatureDim(op, "latent", latent, 2, "kv_lora_rank")))
    return failure();
  int64_t dr = rope.getDimSize(2);
  if (ShapedType::isDynamic(dr))
    return op->emitOpError() << "rope dimension (dimension 2 of 'key_rope') "
                                "must be static";
  int64_t dc = latent.getDimSize(2);
  if (scaleGroup) {
    if (*scaleGroup < 1 || dc % *scaleGroup != 0)
      return op->emitOpError() << "scale_group (" << *scaleGroup
                               << ") must divide kv_lora_rank (" << dc << ")";
    if (failed(checkDim(op, "cache row bytes", cache.getDimSize(2),
                        "kv_lora_rank + 4 kv_lora_rank / scale_group + "
                        "2 rope dim",
                        dc + 4 * (dc / *scaleGroup) + 2 * dr)))
      return failure();
  } else if (failed(checkDim(op, "cache row width", cache.getDimSize(2),
                             "kv_lora_rank + rope dim", dc + dr))) {
    return failure();
  }
  if (failed(checkDim(op, "key_rope batch", rope.getDimSize(0), "latent batch",
                      latent.getDimSize(0))) ||
      failed(checkDim(op, "key_rope tokens", rope.getDimSize(1),
                      "latent tokens", latent.getDimSize(1))))
    return failure();
  LayerConfigAttr cfg = getEnclosingLayerConfig(op);
  if (!cfg || !cfg.isLatent())
    return success();
  // The indexer's key cache: rows [k_pass ; k_rope] of index_head_dim.
  if (cfg.hasIndexer() && dr == *cfg.getQkRopeHeadDim() &&
      latent.getDimSize(2) + dr == *cfg.getIndexHeadDim())
    return success();
  return success(
      succeeded(checkDim(op, "kv_lora_rank", latent.getDimSize(2),
                         "the layer's kv_lora_rank", *cfg.getKvLoraRank())) &&
      succeeded(checkDim(op, "rope dimension", dr,
                         "the layer's qk_rope_head_dim",
                         *cfg.getQkRopeHeadDim())));
}

/// Checks a head cache [NB, BS, G, D] against rows [B, T, G, D].
static LogicalResult verifyHeadCacheRows(Operation *op, ShapedType cache,
                                         ShapedType rows) {
  if (failed(checkRank(op, "latent", rows, 4)) ||
      failed(checkFeatureDim(op, "cache", cache, 1, "block size")) ||
      failed(checkFeatureDim(op, "cache", cache, 2, "KV heads")) ||
      failed(checkFeatureDim(op, "cache", cache, 3, "head dim")) ||
      failed(checkDim(op, "latent heads", rows.getDimSize(2), "cache heads",
                      cache.getDimSize(2))) ||
      failed(checkDim(op, "latent head dim", rows.getDimSize(3),
                      "cache head dim", cache.getDimSize(3))))
    return failure();
  return success();
}

/// The rows of a paged cache: a head cache [NB, BS, G, D] has rows
/// [B, T, G, D] and no rope part; a latent cache [NB, BS, d_c + d_r] has a
/// latent part and a `keyRope` part of the same element type. `noRope` and
/// `needRope` say what is wrong when the rope part is there or missing.
/// `cacheScale` (one scale per tensor) makes the latent cache f8E4M3FN.
static LogicalResult verifyPagedRows(Operation *op, ShapedType cache,
                                     ShapedType latent, Value keyRope,
                                     StringRef noRope, StringRef needRope,
                                     std::optional<int64_t> scaleGroup,
                                     Value cacheScale) {
  Type cacheElem = cache.getElementType();
  if (scaleGroup && cacheScale)
    return op->emitOpError() << "cache_scale (one fp8 scale per tensor) and "
                                "scale_group (fp8 rows) are exclusive";
  if (scaleGroup && !cacheElem.isInteger(8))
    return op->emitOpError() << "scale_group (fp8 rows) needs an i8 cache, "
                                "got "
                             << cacheElem;
  if (cacheScale && !isa<Float8E4M3FNType>(cacheElem))
    return op->emitOpError()
           << "cache_scale needs an f8E4M3FN cache, got " << cacheElem;
  // The e4m3 codes mean nothing without their scale.
  if (!cacheScale && isa<Float8E4M3FNType>(cacheElem))
    return op->emitOpError() << "an f8E4M3FN cache needs cache_scale (its "
                                "values are e4m3 times the scale)";
  if (!scaleGroup && !cacheScale && cacheElem != latent.getElementType())
    return op->emitOpError()
           << "cache element type " << cacheElem << " must match the latent's ("
           << latent.getElementType()
           << "; an i8 cache of fp8 rows needs scale_group)";
  if (cache.getRank() == 4) {
    if (keyRope)
      return op->emitOpError() << noRope;
    if (scaleGroup)
      return op->emitOpError() << "fp8 rows are rows of a latent cache, not "
                                  "of a head cache";
    if (cacheScale)
      return op->emitOpError() << "cache_scale applies to a latent cache, "
                                  "not to a head cache";
    return verifyHeadCacheRows(op, cache, latent);
  }
  if (!keyRope)
    return op->emitOpError() << needRope;
  auto ropeTy = cast<ShapedType>(keyRope.getType());
  if (failed(verifyCacheRow(op, cache, latent, ropeTy, scaleGroup)))
    return failure();
  if (ropeTy.getElementType() != latent.getElementType())
    return op->emitOpError() << "key_rope element type "
                             << ropeTy.getElementType()
                             << " must match the latent's";
  return success();
}

LogicalResult KVCacheAppendOp::verify() {
  Operation *op = getOperation();
  auto latent = getLatent().getType(), bt = getBlockTable().getType(),
       lens = getSeqLens().getType();
  if (failed(verifyPagedRows(
          op, getCache().getType(), latent, getKeyRope(),
          "a head cache [NB, BS, G, D] takes no key_rope",
          "a latent cache needs key_rope (of width 0 without RoPE)",
          getScaleGroup(), getCacheScale())) ||
      failed(checkRank(op, "block_table", bt, 2)) ||
      failed(checkRank(op, "seq_lens", lens, 1)) ||
      failed(checkDim(op, "block_table batch", bt.getDimSize(0), "latent batch",
                      latent.getDimSize(0))) ||
      failed(checkDim(op, "seq_lens batch", lens.getDimSize(0), "latent batch",
                      latent.getDimSize(0))))
    return failure();
  return success();
}

LogicalResult KVCacheGatherOp::verify() {
  Operation *op = getOperation();
  auto cache = getCache().getType(), bt = getBlockTable().getType(),
       latent = getLatent().getType();
  if (failed(verifyPagedRows(
          op, cache, latent, getKeyRope(),
          "a head cache [NB, BS, G, D] has no key_rope",
          "a latent cache gives key_rope (of width 0 without RoPE)",
          getScaleGroup(), getCacheScale())) ||
      failed(checkRank(op, "block_table", bt, 2)) ||
      failed(checkDim(op, "latent batch", latent.getDimSize(0),
                      "block_table batch", bt.getDimSize(0))))
    return failure();
  int64_t pages = bt.getDimSize(1), bs = cache.getDimSize(1);
  if (!ShapedType::isDynamic(pages) &&
      failed(checkDim(op, "latent positions", latent.getDimSize(1),
                      "pages per sequence * block size", pages * bs)))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

/// The optional `rope(query_rope [B, S, H, d_r], key_rope [B, T, d_r])` and
/// `kv_lens(l [B])` of attention and of the indexer's scores, against the
/// query's sizes; `heads` names H.
static LogicalResult verifyRopeAndLens(Operation *op, Value queryRope,
                                       Value keyRope, Value kvLens,
                                       ShapedType q, int64_t b, int64_t s,
                                       int64_t h, int64_t t, StringRef heads) {
  if (bool(queryRope) != bool(keyRope))
    return op->emitOpError() << "'query_rope' and 'key_rope' must be given "
                                "together";
  if (queryRope) {
    auto qrT = cast<ShapedType>(queryRope.getType()),
         krT = cast<ShapedType>(keyRope.getType());
    if (failed(checkRank(op, "query_rope", qrT, 4)) ||
        failed(checkRank(op, "key_rope", krT, 3)) ||
        failed(checkFeatureDim(op, "query_rope", qrT, 3, "rope dim")) ||
        failed(checkDim(op, "query_rope batch", qrT.getDimSize(0),
                        "query batch", b)) ||
        failed(checkDim(op, "query_rope tokens", qrT.getDimSize(1),
                        "query tokens", s)) ||
        failed(checkDim(op, "query_rope heads", qrT.getDimSize(2), heads,
                        h)) ||
        failed(checkDim(op, "key_rope batch", krT.getDimSize(0),
                        "query batch", b)) ||
        failed(checkDim(op, "key_rope positions", krT.getDimSize(1),
                        "key positions", t)) ||
        failed(checkDim(op, "key_rope dim", krT.getDimSize(2),
                        "query_rope dim", qrT.getDimSize(3))))
      return failure();
    if (qrT.getElementType() != q.getElementType() ||
        krT.getElementType() != q.getElementType())
      return op->emitOpError() << "'query_rope' and 'key_rope' must have the "
                                  "element type of 'query' ("
                               << q.getElementType() << ")";
  }
  if (kvLens) {
    auto lensT = cast<ShapedType>(kvLens.getType());
    if (failed(checkRank(op, "kv_lens", lensT, 1)) ||
        failed(checkDim(op, "kv_lens batch", lensT.getDimSize(0),
                        "query batch", b)))
      return failure();
  }
  return success();
}


LogicalResult AttentionOp::verify() {
  Operation *op = getOperation();
  auto q = getQuery().getType(), k = getKey().getType(),
       v = getValue().getType(), res = getResult().getType();
  if (failed(checkRank(op, "query", q, 4)) ||
      failed(checkRank(op, "key", k, 4)) ||
      failed(checkRank(op, "value", v, 4)) ||
      failed(checkRank(op, "result", res, 4)) ||
      failed(checkFeatureDim(op, "query", q, 2, "query heads")) ||
      failed(checkFeatureDim(op, "query", q, 3, "query head dim")) ||
      failed(checkFeatureDim(op, "key", k, 2, "key/value heads")) ||
      failed(checkFeatureDim(op, "value", v, 3, "value head dim")))
    return failure();
  int64_t b = q.getDimSize(0), s = q.getDimSize(1), h = q.getDimSize(2),
          t = k.getDimSize(1), g = k.getDimSize(2);
  if (failed(checkDim(op, "key batch", k.getDimSize(0), "query batch", b)) ||
      failed(checkDim(op, "value batch", v.getDimSize(0), "query batch", b)) ||
      failed(checkDim(op, "result batch", res.getDimSize(0), "query batch",
                      b)) ||
      failed(checkDim(op, "result tokens", res.getDimSize(1), "query tokens",
                      s)) ||
      failed(checkDim(op, "result heads", res.getDimSize(2), "query heads",
                      h)) ||
      failed(checkDim(op, "value positions", v.getDimSize(1),
                      "key positions", t)) ||
      failed(checkDim(op, "value heads", v.getDimSize(2), "key heads", g)) ||
      failed(checkDim(op, "key head dim", k.getDimSize(3), "query head dim",
                      q.getDimSize(3))) ||
      failed(checkDim(op, "result head dim", res.getDimSize(3),
                      "value head dim", v.getDimSize(3))))
    return failure();
  if (h % g != 0)
    return emitOpError() << "query heads (" << h
                         << ") must be a multiple of key/value heads (" << g
                         << ")";
  if (failed(verifyRopeAndLens(op, getQueryRope(), getKeyRope(), getKvLens(),
                               q, b, s, h, t, "query heads")))
    return failure();
  if (auto idx = getIndices()) {
    auto idxT = cast<ShapedType>(idx.getType());
    if (failed(checkRank(op, "indices", idxT, 3)) ||
        failed(checkDim(op, "indices batch", idxT.getDimSize(0), "query batch",
                        b)) ||
        failed(checkDim(op, "indices tokens", idxT.getDimSize(1),
                        "query tokens", s)))
      return failure();
  }
  if (failed(checkPositiveFinite(op, "scale", getScale().convertToDouble())))
    return failure();
  LayerConfigAttr cfg = getEnclosingLayerConfig(op);
  if (cfg && failed(checkDim(op, "query heads", h,
                             "the layer's num_attention_heads",
                             cfg.getNumAttentionHeads())))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// IndexScoreOp
//===----------------------------------------------------------------------===//

LogicalResult IndexScoreOp::verify() {
  Operation *op = getOperation();
  auto q = getQuery().getType(), k = getKey().getType(),
       w = getWeights().getType(), res = getResult().getType();
  if (failed(checkRank(op, "query", q, 4)) ||
      failed(checkRank(op, "key", k, 3)) ||
      failed(checkRank(op, "weights", w, 3)) ||
      failed(checkRank(op, "result", res, 3)) ||
      failed(checkFeatureDim(op, "query", q, 2, "index heads")) ||
      failed(checkFeatureDim(op, "query", q, 3, "index head dim")))
    return failure();
  int64_t b = q.getDimSize(0), s = q.getDimSize(1), h = q.getDimSize(2),
          t = k.getDimSize(1);
  if (failed(checkDim(op, "key batch", k.getDimSize(0), "query batch", b)) ||
      failed(checkDim(op, "key dim", k.getDimSize(2), "query head dim",
                      q.getDimSize(3))) ||
      failed(
          checkDim(op, "weights batch", w.getDimSize(0), "query batch", b)) ||
      failed(
          checkDim(op, "weights tokens", w.getDimSize(1), "query tokens", s)) ||
      failed(
          checkDim(op, "weights heads", w.getDimSize(2), "index heads", h)) ||
      failed(
          checkDim(op, "result batch", res.getDimSize(0), "query batch", b)) ||
      failed(checkDim(op, "result tokens", res.getDimSize(1), "query tokens",
                      s)) ||
      failed(checkDim(op, "result positions", res.getDimSize(2),
                      "key positions", t)))
    return failure();
  if (failed(verifyRopeAndLens(op, getQueryRope(), getKeyRope(), getKvLens(),
                               q, b, s, h, t, "index heads")))
    return failure();
  return checkPositiveFinite(op, "scale", getScale().convertToDouble());
}

//===----------------------------------------------------------------------===//
// TopKOp
//===----------------------------------------------------------------------===//

LogicalResult TopKOp::verify() {
  Operation *op = getOperation();
  auto scores = getScores().getType(), res = getResult().getType();
  int64_t k = getK();
  // Positions are i32.
  if (k < 1 || k > std::numeric_limits<int32_t>::max())
    return emitOpError() << "'k' must be in 1.."
                         << std::numeric_limits<int32_t>::max() << ", got "
                         << k;
  if (failed(checkRank(op, "scores", scores, 3)) ||
      failed(checkRank(op, "result", res, 3)) ||
      failed(checkDim(op, "result batch", res.getDimSize(0), "scores batch",
                      scores.getDimSize(0))) ||
      failed(checkDim(op, "result tokens", res.getDimSize(1), "scores tokens",
                      scores.getDimSize(1))))
    return failure();
  if (res.getDimSize(2) != k)
    return emitOpError() << "result slots (dimension 2 of 'result', "
                         << (res.isDynamicDim(2)
                                 ? std::string("?")
                                 : std::to_string(res.getDimSize(2)))
                         << ") must be k (" << k << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// HeadLinearOp
//===----------------------------------------------------------------------===//

LogicalResult HeadLinearOp::verify() {
  Operation *op = getOperation();
  auto in = getInput().getType(), w = getWeight().getType(),
       res = getResult().getType();
  if (failed(checkRank(op, "input", in, 4)) ||
      failed(checkRank(op, "weight", w, 3)) ||
      failed(checkRank(op, "result", res, 4)) ||
      failed(checkAllFeatureDims(op, "weight", w)))
    return failure();
  int64_t kDim = getTransposeWeight() ? 2 : 1, nDim = 3 - kDim;
  if (failed(checkDim(op, "result batch", res.getDimSize(0), "input batch",
                      in.getDimSize(0))) ||
      failed(checkDim(op, "result tokens", res.getDimSize(1), "input tokens",
                      in.getDimSize(1))) ||
      failed(checkDim(op, "input heads", in.getDimSize(2), "weight heads",
                      w.getDimSize(0))) ||
      failed(checkDim(op, "result heads", res.getDimSize(2), "weight heads",
                      w.getDimSize(0))) ||
      failed(checkDim(op, "input features", in.getDimSize(3),
                      "weight input features", w.getDimSize(kDim))) ||
      failed(checkDim(op, "result features", res.getDimSize(3),
                      "weight output features", w.getDimSize(nDim))))
    return failure();
  return success();
}

//===----------------------------------------------------------------------===//
// DecodeAttentionOp
//===----------------------------------------------------------------------===//

DecodeVariantAttr DecodeAttentionOp::getVariantOrDefault() {
  if (DecodeVariantAttr v = getVariantAttr())
    return v;
  return DecodeVariantAttr::get(getContext(), KeySource::pages,
                                CacheScales::none, 128, ValueWidth::latent,
                                std::nullopt);
}

/// The cache's element type and row width for the variant's encoding:
/// the query's type (no scales), f8E4M3FN (one scale), or bytes holding
/// d_c fp8 values, a f32 scale per group and d_r bf16 values.
static LogicalResult verifyCacheEncoding(DecodeAttentionOp op,
                                         DecodeVariantAttr variant,
                                         int64_t width, int64_t dc) {
  auto q = op.getQuery().getType(), cache = op.getCache().getType();
  Type qElem = q.getElementType(), cElem = cache.getElementType();
  int64_t rowWidth = cache.getDimSize(2);
  switch (variant.getScales()) {
  case CacheScales::none:
    if (cElem != qElem)
      return op.emitOpError() << "cache element type " << cElem
                              << " must match the query's (" << qElem
                              << ") when the cache has no scales";
    return checkDim(op, "cache row width", rowWidth, "query row width",
                    width);
  case CacheScales::per_tensor:
    if (!isa<Float8E4M3FNType>(cElem))
      return op.emitOpError() << "cache element type " << cElem
                              << " must be f8E4M3FN with per_tensor scales";
    if (!op.getCacheScale())
      return op.emitOpError()
             << "per_tensor scales need the cache_scale operand";
    return checkDim(op, "cache row width", rowWidth, "query row width",
                    width);
  case CacheScales::row_groups: {
    int64_t group = variant.getScaleGroup();
    if (!cElem.isInteger(8))
      return op.emitOpError() << "cache element type " << cElem
                              << " must be i8 (bytes) with row_groups scales";
    if (variant.getValue() != ValueWidth::latent)
      return op.emitOpError()
             << "row_groups scales need value = latent (the rope part is "
                "stored apart from the quantized values)";
    if (dc % group != 0)
      return op.emitOpError() << "kv_lora_rank (" << dc
                              << ") must be a multiple of scale_group ("
                              << group << ") with row_groups scales";
    int64_t dr = width - dc;
    return checkDim(op, "cache row bytes", rowWidth,
                    "d_c + 4 d_c / scale_group + 2 d_r",
                    dc + 4 * (dc / group) + 2 * dr);
  }
  }
  llvm_unreachable("unknown cache scales");
}

/// The rest of the verifier of an op on head caches (GQA/MQA/MHA): key and
/// value caches of G heads each, G dividing the query heads, the dense
/// variant's encoding.
static LogicalResult verifyHeadCaches(DecodeAttentionOp op,
                                      DecodeVariantAttr variant) {
  Operation *o = op.getOperation();
  auto q = op.getQuery().getType(), k = op.getCache().getType(),
       res = op.getResult().getType();
  auto v = cast<RankedTensorType>(op.getValueCache().getType());
  if (failed(checkRank(o, "value_cache", v, 4)) ||
      failed(checkFeatureDim(o, "cache", k, 2, "KV heads")) ||
      failed(checkFeatureDim(o, "value_cache", v, 3, "value head dim")))
    return failure();
  int64_t h = q.getDimSize(2), g = k.getDimSize(2);
  if (h % g != 0)
    return op.emitOpError() << "query heads (" << h
                            << ") must be a multiple of the KV heads (" << g
                            << ")";
  if (variant.getKeys() != KeySource::pages ||
      variant.getScales() != CacheScales::none ||
      variant.getValue() != ValueWidth::latent)
    return op.emitOpError()
           << "a value_cache needs keys = pages, scales = none and value = "
              "latent";
  if (op.getCacheScale())
    return op.emitOpError() << "cache_scale is only read with per_tensor "
                               "scales";
  Type qElem = q.getElementType();
  if (k.getElementType() != qElem || v.getElementType() != qElem)
    return op.emitOpError() << "cache and value_cache element types must "
                               "match the query's ("
                            << qElem << ")";
  if (failed(checkDim(o, "value_cache pages", v.getDimSize(0), "cache pages",
                      k.getDimSize(0))) ||
      failed(checkDim(o, "value_cache block size", v.getDimSize(1),
                      "cache block size", k.getDimSize(1))) ||
      failed(checkDim(o, "value_cache heads", v.getDimSize(2), "cache heads",
                      g)) ||
      failed(checkDim(o, "cache head dim", k.getDimSize(3), "query head dim",
                      q.getDimSize(3))) ||
      failed(checkDim(o, "value_cache head dim", v.getDimSize(3),
                      "result head dim", res.getDimSize(3))))
    return failure();
  return success();
}

static LogicalResult verifyLatentCache(DecodeAttentionOp op,
                                       DecodeVariantAttr variant,
                                       int64_t width, int64_t dc);

LogicalResult DecodeAttentionOp::verify() {
  Operation *op = getOperation();
  DecodeVariantAttr variant = getVariantOrDefault();
  bool indices = variant.getKeys() == KeySource::indices;
  auto q = getQuery().getType(), cache = getCache().getType(),
       res = getResult().getType(), lse = getLse().getType(),
       bt = getBlockTable().getType(), lens = getSeqLens().getType();
  bool heads = bool(getValueCache());
  if (failed(checkRank(op, "query", q, 4)) ||
      failed(checkRank(op, "cache", cache, heads ? 4 : 3)) ||
      failed(checkRank(op, "block_table", bt, indices ? 3 : 2)) ||
      failed(checkRank(op, "seq_lens", lens, 1)) ||
      failed(checkRank(op, "result", res, 4)) ||
      failed(checkRank(op, "lse", lse, 3)) ||
      failed(checkFeatureDim(op, "query", q, 1, "query length")) ||
      failed(checkFeatureDim(op, "query", q, 2, "query heads")) ||
      failed(checkFeatureDim(op, "query", q, 3, "query row width")) ||
      failed(checkFeatureDim(op, "cache", cache, 1, "block size")) ||
      failed(checkFeatureDim(op, "cache", cache, cache.getRank() - 1,
                             "cache row width")) ||
      failed(checkFeatureDim(op, "result", res, 3, "kv_lora_rank")))
    return failure();
  if (indices && failed(checkFeatureDim(op, "block_table", bt, 2, "topk")))
    return failure();
  // Token indices carry no positions: what a query sees is its index row.
  if (indices && (getCausal() || variant.getWindow()))
    return emitOpError() << "keys = indices take no causal or window (each "
                            "query sees the tokens of its index row)";
  int64_t b = q.getDimSize(0), s = q.getDimSize(1), h = q.getDimSize(2),
          width = q.getDimSize(3), dc = res.getDimSize(3);
  if (failed(checkDim(op, "block_table batch", bt.getDimSize(0),
                      "query batch", b)) ||
      (indices && failed(checkDim(op, "indices tokens", bt.getDimSize(1),
                                  "query length", s))) ||
      failed(checkDim(op, "seq_lens batch", lens.getDimSize(0), "query batch",
                      b)) ||
      failed(checkDim(op, "result batch", res.getDimSize(0), "query batch",
                      b)) ||
      failed(checkDim(op, "result tokens", res.getDimSize(1), "query length",
                      s)) ||
      failed(checkDim(op, "result heads", res.getDimSize(2), "query heads",
                      h)) ||
      failed(checkDim(op, "lse batch", lse.getDimSize(0), "query batch", b)) ||
      failed(checkDim(op, "lse heads", lse.getDimSize(1), "query heads", h)) ||
      failed(checkDim(op, "lse tokens", lse.getDimSize(2), "query length", s)))
    return failure();
  if (heads) {
    if (failed(verifyHeadCaches(*this, variant)))
      return failure();
  } else if (failed(verifyLatentCache(*this, variant, width, dc))) {
    return failure();
  }
  if (Value sinks = getSinks()) {
    auto t = cast<RankedTensorType>(sinks.getType());
    if (failed(checkRank(op, "sinks", t, 1)) ||
        failed(checkDim(op, "sinks", t.getDimSize(0), "query heads", h)))
      return failure();
  }
  return checkPositiveFinite(op, "scale", getScale().convertToDouble());
}

/// The rest of the verifier of an op on a latent cache: the value is the
/// row's first d_c values (or the whole row), in the variant's encoding.
static LogicalResult verifyLatentCache(DecodeAttentionOp op,
                                       DecodeVariantAttr variant,
                                       int64_t width, int64_t dc) {
  auto emitOpError = [&]() { return op.emitOpError(); };
  Operation *o = op.getOperation();
  if (dc > width)
    return emitOpError() << "kv_lora_rank (" << dc
                         << ") exceeds the query row width (" << width << ")";
  if (variant.getValue() == ValueWidth::row &&
      failed(checkDim(o, "result width", dc,
                      "query row width (value = row)", width)))
    return failure();
  if (failed(verifyCacheEncoding(op, variant, width, dc)))
    return failure();
  if (op.getCacheScale() && variant.getScales() != CacheScales::per_tensor)
    return emitOpError() << "cache_scale is only read with per_tensor scales";
  return success();
}

#define GET_OP_CLASSES
#include "mla/Dialect/MLA/IR/MLAOps.cpp.inc"
