//===- MLAOps.td - mla dialect operations ------------------*- tablegen -*-===//
//
// Ops of one attention layer on tensors. Shapes use B (batch), S (new
// tokens), T (key positions), H (query heads), G (key/value heads), D (hidden
// size), d_c (kv_lora_rank), d_r (qk_rope_head_dim). B, S and T may be
// dynamic; verifiers compare every pair of static sizes.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_DIALECT_MLA_IR_MLAOPS_TD
#define MLA_DIALECT_MLA_IR_MLAOPS_TD

include "mla/Dialect/MLA/IR/MLAAttrs.td"
include "mlir/Dialect/Linalg/IR/LinalgInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/OpBase.td"

def MLA_FloatTensor : RankedTensorOf<[AnyFloat]>;
def MLA_IndexTensor : RankedTensorOf<[I32, I64]>;

def MLA_LinearOp : MLA_Op<"linear", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllElementTypesMatch<["input", "weight", "result"]>]> {
  let summary = "dense projection y = x W";
  let description = [{
    `result[..., n] = sum_k input[..., k] * weight[k, n]`, accumulated in f32.
    Serves the down projections W_DKV and W_DQ and the rope key projection
    W_KR (weights stored [in, out]).
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_FloatTensor:$weight);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def MLA_HeadProjOp : MLA_Op<"head_proj", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllElementTypesMatch<["input", "weight", "result"]>]> {
  let summary = "per-head up projection";
  let description = [{
    `result[b, s, h, n] = sum_k input[b, s, k] * weight[h, k, n]`: input
    [B, S, K], weight [H, K, N], result [B, S, H, N]. Serves W_UQ, W_QR (K =
    q_lora_rank or D) and W_UK, W_UV (K = d_c, applied to cached latents).
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_FloatTensor:$weight);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def MLA_OutProjOp : MLA_Op<"out_proj", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllElementTypesMatch<["input", "weight", "result"]>]> {
  let summary = "output projection of the concatenated heads";
  let description = [{
    `result[b, s, n] = sum_{h, k} input[b, s, h, k] * weight[h * K + k, n]`:
    input [B, S, H, K] (per-head attention outputs), weight [H * K, D]
    (W_O), result [B, S, D].
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_FloatTensor:$weight);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def MLA_RMSNormOp : MLA_Op<"rms_norm", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllTypesMatch<["input", "result"]>,
    AllElementTypesMatch<["input", "gamma"]>]> {
  let summary = "RMS normalization over the last dimension";
  let description = [{
    `result[..., i] = input[..., i] * gamma[i] / sqrt(mean_j(input[..., j]^2)
    + epsilon)`, computed in f32. Applied to the latents c_kv and c_q.
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_FloatTensor:$gamma,
                   DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma attr-dict `:` type($input) `,` type($gamma)
  }];
  let hasVerifier = 1;
}

def MLA_LayerNormOp : MLA_Op<"layer_norm", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllTypesMatch<["input", "result"]>,
    AllElementTypesMatch<["input", "gamma", "beta"]>]> {
  let summary = "layer normalization over the last dimension";
  let description = [{
    `result[..., i] = (input[..., i] - mu) / sqrt(var + epsilon) * gamma[i]
    + beta[i]` with mu and var the mean and (biased) variance of the last
    dimension, computed in f32 (torch.nn.LayerNorm). DeepSeek-V3.2's
    indexer normalizes its keys with it.
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_FloatTensor:$gamma,
                   MLA_FloatTensor:$beta,
                   DefaultValuedAttr<F32Attr, "1.0e-6">:$epsilon);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta attr-dict `:` type($input) `,` type($gamma)
    `,` type($beta)
  }];
  let hasVerifier = 1;
}

def MLA_RopeOp : MLA_Op<"rope", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>, AllTypesMatch<["input", "result"]>]> {
  let summary = "rotary position embedding of the last dimension";
  let description = [{
    Input [B, S, d] or [B, S, H, d] with d even; positions [B, S]. For pair
    i in [0, d/2) with angle a = pos * theta^(-2i/d), the pair (x0, x1) becomes
    (x0 cos a - x1 sin a, x0 sin a + x1 cos a), where the pair is
    (x[2i], x[2i+1]) for `interleaved` and (x[i], x[i + d/2]) for
    `rotate_half`. Positions are broadcast over heads.

    An optional `scaling` (#mla.rope_scaling) replaces the frequencies
    theta^(-2i/d) by those of a context-extension method (YaRN, longrope,
    Llama 3, linear) and multiplies cos and sin by its attention factor.

    `conjugate` rotates by -a instead: (x0 cos a + x1 sin a,
    -x0 sin a + x1 cos a). Layers whose cached row is both key and value
    (`#mla.decode_variant<value = row>`) carry the keys' rotation into the
    attention output; the conjugate rotation at the query's position turns
    its rope part back into relative terms.
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_IndexTensor:$positions,
                   F64Attr:$theta, MLA_RopeStyleAttr:$style,
                   OptionalAttr<MLA_RopeScalingAttr>:$scaling,
                   UnitAttr:$conjugate);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def MLA_PositionScaleOp : MLA_Op<"position_scale", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllTypesMatch<["input", "result"]>]> {
  let summary = "scale each token's features by a function of its position";
  let description = [{
    Input [B, S, ...], positions [B, S]:
    `result[b, s, ...] = input[b, s, ...] * (1 + beta * ln(1 + floor(pos /
    original_max_position_embeddings)))`, the query scale of Llama 4's
    attention temperature tuning that Mistral Small 4 applies to its queries
    (`llama_4_scaling_beta`). Applied to the query latent c_q, it scales
    q_nope and q_rope alike and commutes with the weight absorption.
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_IndexTensor:$positions,
                   F64Attr:$beta, I64Attr:$original_max_position_embeddings);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $positions attr-dict `:` type($input) `,` type($positions)
  }];
  let hasVerifier = 1;
}

def MLA_KVCacheAppendOp : MLA_Op<"kv_cache_append", [NoMemoryEffect,
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllTypesMatch<["cache", "result"]>,
    AllElementTypesMatch<["block_table", "seq_lens"]>]> {
  let summary = "write new tokens' rows into a paged cache";
  let description = [{
    A latent cache [NB, BS, d_c + d_r] holds one row [c_kv ; k_rope] per
    token, in pages of BS tokens: new tokens' latent [B, S, d_c] and
    key_rope [B, S, d_r] (already rotated; d_r may be 0). A head cache
    [NB, BS, G, D] (the keys or the values of G KV heads) holds one [G, D]
    row per token: latent [B, S, G, D], no key_rope. seq_lens [B] counts the
    tokens of each sequence with the S new ones included, so token s of
    sequence b has position p = seq_lens[b] - S + s and goes to row p mod BS
    of page block_table[b, p / BS]. The result is the updated cache.

    With `scale_group = G` the latent cache holds fp8 rows (i8 bytes, the
    `row_groups` encoding of mla.decode_attention): d_c e4m3fn values, each
    group of G scaled by its amax / 448 (nearest even, saturating), the
    d_c / G f32 scales, then the d_r rope values in bf16; the cache is
    [NB, BS, d_c + 4 d_c / G + 2 d_r] i8.

    With `cache_scale(%s : tensor<f32>)` the latent cache holds one fp8
    value per column (the `per_tensor` encoding of mla.decode_attention):
    the cache is [NB, BS, d_c + d_r] f8E4M3FN and each new value x, latent
    and key_rope alike, is written as e4m3fn(x / s) (nearest even,
    saturating at +-448, NaN kept), so that it reads back as e4m3 * s.
    cache_scale and scale_group are exclusive; a head cache takes neither.
  }];
  let arguments = (ins MLA_FloatTensor:$latent,
                   Optional<MLA_FloatTensor>:$key_rope,
                   RankedTensorOf<[AnyFloat, F8E4M3FN, I8]>:$cache,
                   MLA_IndexTensor:$block_table,
                   MLA_IndexTensor:$seq_lens,
                   Optional<0DTensorOf<[F32]>>:$cache_scale,
                   OptionalAttr<I64Attr>:$scale_group);
  let results = (outs RankedTensorOf<[AnyFloat, F8E4M3FN, I8]>:$result);
  let assemblyFormat = [{
    $latent (`,` $key_rope^)? `into` $cache `[` $block_table `,` $seq_lens `]`
    (`cache_scale` `(` $cache_scale^ `:` type($cache_scale) `)`)?
    attr-dict `:` type($latent) (`,` type($key_rope)^)? `into` type($cache)
    `[` type($block_table) `,` type($seq_lens) `]`
  }];
  let hasVerifier = 1;
}

def MLA_KVCacheGatherOp : MLA_Op<"kv_cache_gather", [NoMemoryEffect,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>]> {
  let summary = "read the pages of each sequence from a paged cache";
  let description = [{
    latent[b, t, :] and key_rope[b, t, :] are the first d_c and last d_r
    values of row t mod BS of page block_table[b, t / BS] of a latent cache,
    for t in [0, MB * BS) with block_table [B, MB]; from a head cache
    [NB, BS, G, D], latent [B, MB * BS, G, D] holds its rows and there is no
    key_rope. Rows past a sequence's length are whatever its pages hold;
    attention masks them with its kv_lens. A page id outside the cache (-1
    for a page not allocated) reads as zeros. With `scale_group` the cache
    holds fp8 rows (see mla.kv_cache_append), read as their values in the
    results' element type. With `cache_scale(%s : tensor<f32>)` the latent
    cache is f8E4M3FN [NB, BS, d_c + d_r] with one scale (see
    mla.kv_cache_append): each value reads as e4m3 * s, rounded to the
    results' element type.
  }];
  let arguments = (ins RankedTensorOf<[AnyFloat, F8E4M3FN, I8]>:$cache,
                   MLA_IndexTensor:$block_table,
                   Optional<0DTensorOf<[F32]>>:$cache_scale,
                   OptionalAttr<I64Attr>:$scale_group);
  let results = (outs MLA_FloatTensor:$latent,
                 Optional<MLA_FloatTensor>:$key_rope);
  let assemblyFormat = [{
    $cache `[` $block_table `]`
    (`cache_scale` `(` $cache_scale^ `:` type($cache_scale) `)`)?
    attr-dict `:` type($cache) `[` type($block_table) `]` `->` type($latent)
    (`,` type($key_rope)^)?
  }];
  let hasVerifier = 1;
}

def MLA_AttentionOp : MLA_Op<"attention", [Pure, AttrSizedOperandSegments,
    AllElementTypesMatch<["query", "key", "value", "result"]>]> {
  let summary = "scaled-dot-product attention with an optional decoupled RoPE part";
  let description = [{
    query [B, S, H, d_qk], key [B, T, G, d_qk], value [B, T, G, d_v], H a
    multiple of G (MHA G = H, MQA G = 1, GQA otherwise); optional
    `rope(query_rope [B, S, H, d_r], key_rope [B, T, d_r])`, one rope key
    shared by all heads as in MLA; optional `kv_lens(l [B])`, the valid key
    positions of each sequence (T when absent). Head h uses key/value head
    g = h / (H / G). Scores

      score[b, s, h, t] = scale * (query[b,s,h] . key[b,t,g]
                                   + query_rope[b,s,h] . key_rope[b,t])

    with t visible when t < l[b] and, if `causal`, t <= l[b] - S + s (the S
    queries are the last S positions). result[b, s, h] = sum_t p_t value[b,t,g]
    with p = softmax over the visible t, accumulated in f32; a query with no
    visible key gets zeros. With `indices(idx [B, S, K])` (DeepSeek Sparse
    Attention, the positions mla.topk selects), t must also be one of
    idx[b, s, :] (a set: -1 and repeats add nothing).
  }];
  let arguments = (ins MLA_FloatTensor:$query, MLA_FloatTensor:$key,
                   MLA_FloatTensor:$value,
                   Optional<MLA_FloatTensor>:$query_rope,
                   Optional<MLA_FloatTensor>:$key_rope,
                   Optional<MLA_IndexTensor>:$kv_lens,
                   Optional<MLA_IndexTensor>:$indices,
                   F32Attr:$scale, UnitAttr:$causal);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value
    (`rope` `(` $query_rope^ `,` $key_rope `)`)?
    (`kv_lens` `(` $kv_lens^ `)`)?
    (`indices` `(` $indices^ `)`)?
    attr-dict `:` type($query) `,` type($key) `,` type($value)
    (`rope` `(` type($query_rope)^ `,` type($key_rope) `)`)?
    (`kv_lens` `(` type($kv_lens)^ `)`)?
    (`indices` `(` type($indices)^ `)`)? `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    int64_t getNumHeads() { return getQuery().getType().getDimSize(2); }
    int64_t getNumKVHeads() { return getKey().getType().getDimSize(2); }
  }];
}

def MLA_IndexScoreOp : MLA_Op<"index_score", [Pure,
    AttrSizedOperandSegments,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllElementTypesMatch<["query", "key"]>]> {
  let summary = "the lightning indexer's token scores (DeepSeek Sparse Attention)";
  let description = [{
    query [B, S, H, d] (H index heads), key [B, T, d] (one key per position,
    shared by the heads), weights [B, S, H]; optional `rope(query_rope
    [B, S, H, d_r], key_rope [B, T, d_r])`, the rotated part kept apart as in
    mla.attention; optional `kv_lens(l [B])`, the valid positions of each
    sequence (T when absent). The f32 result [B, S, T] is

      score[b, s, t] = scale * sum_h weights[b, s, h]
                       * relu(query[b,s,h] . key[b,t] + query_rope[b,s,h] . key_rope[b,t])

    for t visible (t < l[b] and, if `causal`, t <= l[b] - S + s), -inf
    otherwise. transformers' DeepseekV32Indexer applies head_dim^-0.5 inside
    the ReLU and n_heads^-0.5 to the weights: both are positive, so `scale`
    is their product. Dot products and the sum accumulate in f32.
  }];
  let arguments = (ins MLA_FloatTensor:$query, MLA_FloatTensor:$key,
                   MLA_FloatTensor:$weights,
                   Optional<MLA_FloatTensor>:$query_rope,
                   Optional<MLA_FloatTensor>:$key_rope,
                   Optional<MLA_IndexTensor>:$kv_lens,
                   F32Attr:$scale, UnitAttr:$causal);
  let results = (outs RankedTensorOf<[F32]>:$result);
  let assemblyFormat = [{
    $query `,` $key `weights` `(` $weights `)`
    (`rope` `(` $query_rope^ `,` $key_rope `)`)?
    (`kv_lens` `(` $kv_lens^ `)`)?
    attr-dict `:` type($query) `,` type($key) `weights` `(` type($weights) `)`
    (`rope` `(` type($query_rope)^ `,` type($key_rope) `)`)?
    (`kv_lens` `(` type($kv_lens)^ `)`)? `->` type($result)
  }];
  let hasVerifier = 1;
}

def MLA_TopKOp : MLA_Op<"topk", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>]> {
  let summary = "positions of the k largest scores of each row";
  let description = [{
    scores [B, S, T] f32, result [B, S, k] i32: result[b, s, j] is the
    position of the j-th largest score of row (b, s), largest first, the
    lower position first among equal scores (-0 equal to +0); rows with
    fewer than k scores above -inf (-inf marks a position the row may not
    see; NaN is never chosen) fill their last slots with -1. DeepSeek Sparse Attention selects each
    query's tokens with it (k = index_topk).
  }];
  let arguments = (ins RankedTensorOf<[F32]>:$scores,
                   I64Attr:$k);
  let results = (outs RankedTensorOf<[I32]>:$result);
  let assemblyFormat = [{
    $scores attr-dict `:` type($scores) `->` type($result)
  }];
  let hasVerifier = 1;
}

def MLA_HeadLinearOp : MLA_Op<"head_linear", [Pure,
    DeclareOpInterfaceMethods<AggregatedOpInterface, ["decomposeOperation"]>,
    AllElementTypesMatch<["input", "weight", "result"]>]> {
  let summary = "per-head projection of per-head activations";
  let description = [{
    `result[b, s, h, n] = sum_k input[b, s, h, k] * weight[h, k, n]`, or with
    `transpose_weight` `sum_k input[b, s, h, k] * weight[h, n, k]`: input
    [B, S, H, K], weight [H, K, N] (or [H, N, K]), result [B, S, H, N]. The
    absorbed form uses it for q_lat_h = q_nope_h W_UK,h^T (transposed W_UK)
    and o_h = o_lat_h W_UV,h.
  }];
  let arguments = (ins MLA_FloatTensor:$input, MLA_FloatTensor:$weight,
                   UnitAttr:$transpose_weight);
  let results = (outs MLA_FloatTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->`
    type($result)
  }];
  let hasVerifier = 1;
}

def MLA_DecodeAttentionOp : MLA_Op<"decode_attention", [Pure,
    AttrSizedOperandSegments,
    AllElementTypesMatch<["query", "result"]>,
    AllElementTypesMatch<["block_table", "seq_lens"]>]> {
  let summary = "fused flash-decoding attention over a paged latent cache";
  let description = [{
    The kernel contract of DESIGN.md (FlashMLA semantics). query
    [B, S, H, d_c + d_r] holds q_lat followed by the rotated q_rope; cache
    [NB, BS, d_c + d_r] rows [c_kv ; k_rope]; block_table [B, MB] and
    seq_lens [B] (tokens in the cache, the S new ones included), both i32.
    Query i of sequence b sees positions 0 .. seq_lens[b] - S + i when
    `causal`, all seq_lens[b] positions otherwise; scores are
    scale * (query . row) over all d_c + d_r values. result [B, S, H, d_c] is
    sum_t p_t row_t[0:d_c]; lse [B, H, S] (f32) the natural log of
    sum_t exp(score_t). A query with no visible position gets zeros and -inf.
    Accumulation is in f32. d_c is the result's last dimension.

    The `variant` attribute (#mla.decode_variant, see there; absent: the
    defaults above) changes what a query sees (a sliding `window`), where
    its keys come from (per-query token `indices` in place of the block
    table), how the cache is encoded (fp8 with a `cache_scale` operand or
    per-row group scales) and which columns are the value (the whole
    `row`). `sinks` [H] (f32), when present, is a per-head logit that joins
    each row's softmax denominator (and its lse) without a value.

    With `value_cache`, the caches hold attention heads (GQA; MQA with one
    KV head, MHA with H): cache [NB, BS, G, d_qk] the keys and value_cache
    [NB, BS, G, d_v] the values of G KV heads, H a multiple of G, query
    [B, S, H, d_qk] and result [B, S, H, d_v]; query head h attends to KV
    head h / (H / G), scores over all d_qk values, and the pages, lengths,
    visibility and variant are as above.
  }];
  let arguments = (ins MLA_FloatTensor:$query,
                   RankedTensorOf<[F32, BF16, F16, F8E4M3FN, I8]>:$cache,
                   Optional<MLA_FloatTensor>:$value_cache,
                   RankedTensorOf<[I32]>:$block_table,
                   RankedTensorOf<[I32]>:$seq_lens,
                   Optional<RankedTensorOf<[F32]>>:$sinks,
                   Optional<0DTensorOf<[F32]>>:$cache_scale,
                   F32Attr:$scale, UnitAttr:$causal,
                   OptionalAttr<MLA_DecodeVariantAttr>:$variant);
  let results = (outs MLA_FloatTensor:$result, RankedTensorOf<[F32]>:$lse);
  let assemblyFormat = [{
    $query `,` $cache (`,` $value_cache^)? `[` $block_table `,` $seq_lens `]`
    (`sinks` `(` $sinks^ `:` type($sinks) `)`)?
    (`cache_scale` `(` $cache_scale^ `:` type($cache_scale) `)`)?
    attr-dict `:`
    type($query) `,` type($cache) (`,` type($value_cache)^)? `[`
    type($block_table) `,` type($seq_lens) `]` `->` type($result) `,`
    type($lse)
  }];
  let hasVerifier = 1;
  let builders = [
    // The dense variant, without sinks: FlashMLA's decode.
    OpBuilder<(ins "Type":$result, "Type":$lse, "Value":$query,
                   "Value":$cache, "Value":$block_table, "Value":$seq_lens,
                   "FloatAttr":$scale, "UnitAttr":$causal), [{
      build($_builder, $_state, result, lse, query, cache,
            /*value_cache=*/Value(), block_table, seq_lens, /*sinks=*/Value(), /*cache_scale=*/Value(), scale,
            causal, DecodeVariantAttr());
    }]>
  ];
  let extraClassDeclaration = [{
    int64_t getNumHeads() { return getQuery().getType().getDimSize(2); }
    int64_t getQueryLen() { return getQuery().getType().getDimSize(1); }
    /// The value width: d_c (the latent part), or the whole row.
    int64_t getLatentDim() { return getResult().getType().getDimSize(3); }
    /// d_r: the query's columns past the value (0 when the value is the
    /// whole row).
    int64_t getRopeDim() {
      return getQuery().getType().getDimSize(3) - getLatentDim();
    }
    int64_t getBlockSize() { return getCache().getType().getDimSize(1); }
    /// G, the KV heads: 1 for a latent cache (every head reads its rows).
    int64_t getNumKVHeads() {
      return getValueCache() ? getCache().getType().getDimSize(2) : 1;
    }
    /// The variant, with the defaults where the attribute is absent.
    DecodeVariantAttr getVariantOrDefault();
  }];
}

#endif // MLA_DIALECT_MLA_IR_MLAOPS_TD
