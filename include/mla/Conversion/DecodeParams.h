//===- DecodeParams.h - what every decode kernel is generated for -*- C++ -*-===//

#ifndef MLA_CONVERSION_DECODEPARAMS_H
#define MLA_CONVERSION_DECODEPARAMS_H

#include "mla/Dialect/MLA/IR/MLAAttrs.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Types.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::mla {

/// The fixed parameters of the kernel contract (DESIGN.md).
struct DecodeParams {
  int64_t heads = 0, qLen = 0, dc = 0, dr = 0, blockSize = 0;
  Type elemType; // f32, bf16 or f16 storage of q, cache and out
  bool causal = true;
  // The variant (#mla.decode_variant, sinks); the defaults are FlashMLA's
  // dense decode. The kernels implement the dense decode, a `window`,
  // sinks and `value = row` (then dc is the whole row and dr 0: the
  // kernels' value, the first dc columns, is the row); the CPU kernels
  // also token `indices` (sparse decode), fp8 rows with group scales
  // (`scales = row_groups`) and fp8 caches with one scale
  // (`scales = per_tensor`).
  KeySource keys = KeySource::pages;
  // keys = indices: the slots of each query's index row.
  int64_t topk = 0;
  CacheScales scales = CacheScales::none;
  int64_t scaleGroup = 128;
  ValueWidth value = ValueWidth::latent;
  std::optional<int64_t> window;
  bool sinks = false;
  // Head caches (GQA/MQA/MHA): keys and values in separate paged caches of
  // kvHeads heads each ([NB, BS, kvHeads, dc]; then dr is 0), query head h
  // reading KV head h / (heads / kvHeads). A latent cache is one KV head
  // whose rows hold both.
  bool headCaches = false;
  int64_t kvHeads = 1;
  // The op's softmax scale, when the kernel comes from a layer (the kernels
  // take the scale as an argument; NAME.json tells callers the layer's).
  std::optional<double> layerScale;

  /// The parameters of an mla.decode_attention op.
  static DecodeParams of(DecodeAttentionOp op) {
    DecodeParams p;
    p.heads = op.getNumHeads();
    p.qLen = op.getQueryLen();
    p.dc = op.getLatentDim();
    p.dr = op.getRopeDim();
    p.blockSize = op.getBlockSize();
    p.elemType = op.getQuery().getType().getElementType();
    p.causal = op.getCausal();
    DecodeVariantAttr v = op.getVariantOrDefault();
    p.keys = v.getKeys();
    if (p.keys == KeySource::indices)
      p.topk = op.getBlockTable().getType().getDimSize(2);
    p.scales = v.getScales();
    p.scaleGroup = v.getScaleGroup();
    p.value = v.getValue();
    p.window = v.getWindow();
    p.sinks = bool(op.getSinks());
    p.headCaches = bool(op.getValueCache());
    p.kvHeads = op.getNumKVHeads();
    p.layerScale = op.getScale().convertToDouble();
    return p;
  }

  int64_t rows() const { return heads * qLen; }
  /// Query heads per KV head.
  int64_t headsPerKvHead() const { return heads / kvHeads; }
  bool sparse() const { return keys == KeySource::indices; }
  /// The sets of keys that groups of rows read, each with its own tiles:
  /// the KV heads of head caches, the query tokens' index rows (each query
  /// token's H rows read the tokens its row lists), else one.
  int64_t keySets() const {
    return headCaches ? kvHeads : sparse() ? qLen : 1;
  }
  /// fp8 rows with group scales: d_c e4m3 values, d_c / scaleGroup f32
  /// scales, d_r bf16 values, in bytes.
  bool fp8Rows() const { return scales == CacheScales::row_groups; }
  int64_t fp8RowBytes() const { return dc + 4 * (dc / scaleGroup) + 2 * dr; }
  /// One scale for the whole cache: every value of a row (rope included) is
  /// an e4m3 code. The kernels read the codes unscaled, exact in every
  /// kernel type, and take the scale in the scores' scale and the outputs'.
  bool fp8Tensor() const { return scales == CacheScales::per_tensor; }
  /// The cache holds bytes (either fp8 encoding), dequantized on the way in.
  bool fp8Cache() const { return scales != CacheScales::none; }
  /// The kernels' cache element type: the storage type, bytes (i8) for fp8
  /// rows, f8E4M3FN codes with one scale (read as bytes).
  Type cacheElemType() const {
    MLIRContext *ctx = elemType.getContext();
    if (fp8Tensor())
      return Float8E4M3FNType::get(ctx);
    return fp8Rows() ? IntegerType::get(ctx, 8) : elemType;
  }
  /// A cache row's stride in the cache's units (elements, or bytes when
  /// fp8).
  int64_t cacheRowStride() const {
    return fp8Rows() ? fp8RowBytes() : rowWidth();
  }
  /// The query rows that read one set of keys.
  int64_t kvHeadRows() const { return rows() / keySets(); }
  int64_t rowWidth() const { return dc + dr; }

  // Bounds on what a kernel is generated for: far above every model (128
  // heads, q_len <= 8 with speculative decoding, d_c 512, d_r 64, pages of
  // 64), low enough that no size computed from them overflows.
  static constexpr int64_t kMaxHeads = 1024, kMaxQueryLen = 256,
                           kMaxTopK = 1 << 20,
                           kMaxLatentDim = 8192, kMaxRopeDim = 1024,
                           kMaxBlockSize = 65536,
                           kMaxWindow = (int64_t(1) << 31) - 1;

  /// Positive heads, q_len and block size and d_c, non-negative d_r, a
  /// positive window if any, each within its bound; `refuse(what, value,
  /// why)` reports one.
  template <typename Refuse>
  LogicalResult verifyBounds(Refuse refuse) const {
    auto check = [&](StringRef what, int64_t v, int64_t lo, int64_t hi) {
      if (v >= lo && v <= hi)
        return success();
      return refuse(what, Twine(v),
                    "must be in " + Twine(lo) + ".." + Twine(hi));
    };
    if (failed(check("num_heads", heads, 1, kMaxHeads)) ||
        failed(check("q_len", qLen, 1, kMaxQueryLen)) ||
        failed(check("block_size", blockSize, 1, kMaxBlockSize)) ||
        failed(check(headCaches ? "head_dim" : "kv_lora_rank", dc, 1,
                     kMaxLatentDim)) ||
        (headCaches && failed(check("num_kv_heads", kvHeads, 1, kMaxHeads))) ||
        failed(check("qk_rope_head_dim", dr, 0, kMaxRopeDim)))
      return failure();
    // seq_lens are int32: a longer window is no window.
    if (window && failed(check("window", *window, 1, kMaxWindow)))
      return failure();
    if (sparse() && failed(check("topk", topk, 1, kMaxTopK)))
      return failure();
    return success();
  }

  /// Checks what every target needs: positive heads, q_len and block size,
  /// f32/bf16/f16 storage, d_c, d_r multiples of the target's `granule`
  /// (described as `granuleName`), and a variant that the kernels implement
  /// (dense, with or without a window, sinks and key = value; token
  /// indices where `indices` says the target has them, fp8 caches where
  /// `fp8` does). A refused value is named, with why.
  LogicalResult verify(StringRef target, int64_t granule, StringRef granuleName,
                       function_ref<InFlightDiagnostic()> emitError,
                       bool indices = false, bool fp8 = false) const {
    auto refuse = [&](StringRef what, const Twine &v, const Twine &why) {
      emitError() << "cannot generate a " << target
                  << " decode kernel: " << what << " = " << v << " (" << why
                  << ")";
      return failure();
    };
    StringRef notYet = "not implemented by the kernels yet";
    if (keys != KeySource::pages && !(indices && sparse()))
      return refuse("keys", stringifyKeySource(keys), notYet);
    if (sparse() && (headCaches || causal || window))
      return refuse("keys", stringifyKeySource(keys),
                    "takes a latent cache, no causal and no window");
    if (scales != CacheScales::none && !fp8)
      return refuse("scales", stringifyCacheScales(scales), notYet);
    if (fp8Tensor() && headCaches)
      return refuse("scales", stringifyCacheScales(scales),
                    "takes a latent cache");
    // The rope part is stored apart from the quantized values.
    if (this->fp8Rows() && (headCaches || value != ValueWidth::latent))
      return refuse("scales", stringifyCacheScales(scales),
                    "takes a latent cache whose value is the first d_c "
                    "columns");
    if (this->fp8Rows() &&
        (scaleGroup <= 0 || dc % scaleGroup != 0 || scaleGroup % granule != 0))
      return refuse("scale_group", Twine(scaleGroup),
                    "must divide kv_lora_rank = " + Twine(dc) +
                        " and be a multiple of the " + granuleName);
    if (failed(verifyBounds(refuse)))
      return failure();
    if (headCaches && (kvHeads < 1 || heads % kvHeads != 0))
      return refuse("num_kv_heads", Twine(kvHeads),
                    "must divide num_heads = " + Twine(heads));
    if (headCaches && dr != 0)
      return refuse("key head dim", Twine(dc + dr),
                    "must equal the value head dim " + Twine(dc));
    if (dc <= 0 || dc % granule != 0)
      return refuse(headCaches ? "head_dim" : "kv_lora_rank", Twine(dc),
                    "must be a positive multiple of the " + granuleName);
    if (dr < 0 || dr % granule != 0)
      return refuse("qk_rope_head_dim", Twine(dr),
                    "must be 0 or a multiple of the " + granuleName);
    if (!elemType ||
        !(elemType.isF32() || elemType.isBF16() || elemType.isF16())) {
      emitError() << "cannot generate a " << target
                  << " decode kernel: element type " << elemType
                  << " (expected f32, bf16 or f16)";
      return failure();
    }
    return success();
  }
};

} // namespace mlir::mla

#endif // MLA_CONVERSION_DECODEPARAMS_H
