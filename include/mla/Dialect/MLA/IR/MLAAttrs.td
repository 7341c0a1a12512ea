//===- MLAAttrs.td - mla dialect attributes ----------------*- tablegen -*-===//

#ifndef MLA_DIALECT_MLA_IR_MLAATTRS_TD
#define MLA_DIALECT_MLA_IR_MLAATTRS_TD

include "mla/Dialect/MLA/IR/MLADialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def MLA_RopeStyleInterleaved : I32EnumAttrCase<"interleaved", 0>;
def MLA_RopeStyleRotateHalf : I32EnumAttrCase<"rotate_half", 1>;

// Real checkpoints use both: pairs (x[2i], x[2i+1]) (DeepSeek's reference
// code) or (x[i], x[i + d/2]) (Hugging Face's rotate_half).
def MLA_RopeStyle : I32EnumAttr<"RopeStyle", "rotary embedding pairing",
    [MLA_RopeStyleInterleaved, MLA_RopeStyleRotateHalf]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mla";
}

def MLA_RopeStyleAttr : EnumAttr<MLA_Dialect, MLA_RopeStyle, "rope_style"> {
  let assemblyFormat = "`<` $value `>`";
}

// A double written as a float literal, e.g. `rope_theta = 10000.0`.
class MLA_F64Parameter<string desc> : APFloatParameter<desc> {
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::APFloat> {
    double v;
    if (::mlir::failed($_parser.parseFloat(v)))
      return ::mlir::failure();
    return ::llvm::APFloat(v);
  }() }];
  let printer = [{ $_printer.printFloat($_self) }];
}

def MLA_LayerConfigAttr : AttrDef<MLA_Dialect, "LayerConfig"> {
  let mnemonic = "layer_config";
  let summary = "dimensions of one attention layer, under Hugging Face names";
  let description = [{
    An MLA layer sets `kv_lora_rank`, `qk_nope_head_dim`, `qk_rope_head_dim`
    and `v_head_dim` (and `q_lora_rank` when queries are compressed too); a
    standard MHA/MQA/GQA layer sets `head_dim` instead. `num_key_value_heads`
    is H for MHA, 1 for MQA and G for GQA. A DeepSeek-V3.2 layer (DeepSeek
    Sparse Attention) also sets its indexer's `index_n_heads`,
    `index_head_dim` and `index_topk`; its keys are cached beside the latents
    and its RoPE pairs dims half-split (`rotate_half`) whatever `rope_style`.

    ```mlir
    #mla.layer_config<hidden_size = 2048, num_attention_heads = 16,
        num_key_value_heads = 16, kv_lora_rank = 512, qk_nope_head_dim = 128,
        qk_rope_head_dim = 64, v_head_dim = 128, rope_theta = 10000.0,
        rope_style = interleaved>
    ```
  }];
  let parameters = (ins
    "int64_t":$hidden_size,
    "int64_t":$num_attention_heads,
    "int64_t":$num_key_value_heads,
    OptionalParameter<"std::optional<int64_t>">:$q_lora_rank,
    OptionalParameter<"std::optional<int64_t>">:$kv_lora_rank,
    OptionalParameter<"std::optional<int64_t>">:$qk_nope_head_dim,
    OptionalParameter<"std::optional<int64_t>">:$qk_rope_head_dim,
    OptionalParameter<"std::optional<int64_t>">:$v_head_dim,
    OptionalParameter<"std::optional<int64_t>">:$head_dim,
    MLA_F64Parameter<"base of the rotary frequencies">:$rope_theta,
    EnumParameter<MLA_RopeStyle>:$rope_style,
    OptionalParameter<"std::optional<int64_t>">:$index_n_heads,
    OptionalParameter<"std::optional<int64_t>">:$index_head_dim,
    OptionalParameter<"std::optional<int64_t>">:$index_topk
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True for a multi-head latent attention layer (kv_lora_rank is set).
    bool isLatent() const { return getKvLoraRank().has_value(); }
    /// True for a layer with DeepSeek-V3.2's indexer (index_topk is set).
    bool hasIndexer() const { return getIndexTopk().has_value(); }
    /// Head dimension of queries and keys: qk_nope + qk_rope, or head_dim.
    int64_t getQueryKeyHeadDim() const;
    /// Head dimension of values: v_head_dim, or head_dim.
    int64_t getValueHeadDim() const;
    /// Values cached per token per layer: d_c + d_r for MLA (plus
    /// index_head_dim with an indexer), 2 * G * d_h otherwise.
    int64_t getCacheValuesPerToken() const;
    /// Values per token per layer of MHA with the same heads and the usual
    /// head dim hidden_size / num_attention_heads: 2 * hidden_size.
    int64_t getMHACacheValuesPerToken() const;
    /// The softmax scale 1 / sqrt(qk head dim).
    double getDefaultSoftmaxScale() const;
  }];
}


//===----------------------------------------------------------------------===//
// The variant of mla.decode_attention
//===----------------------------------------------------------------------===//

// An enum parameter of an attribute with a default, omitted when printed.
class MLA_DefaultedEnum<EnumAttrInfo info, string value>
    : EnumParameter<info> {
  let defaultValue = value;
}

def MLA_KeySourcePages : I32EnumAttrCase<"pages", 0>;
def MLA_KeySourceIndices : I32EnumAttrCase<"indices", 1>;
def MLA_KeySource : I32EnumAttr<"KeySource",
    "where a query's keys come from",
    [MLA_KeySourcePages, MLA_KeySourceIndices]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mla";
}

def MLA_CacheScalesNone : I32EnumAttrCase<"none", 0>;
def MLA_CacheScalesPerTensor : I32EnumAttrCase<"per_tensor", 1>;
def MLA_CacheScalesRowGroups : I32EnumAttrCase<"row_groups", 2>;
def MLA_CacheScales : I32EnumAttr<"CacheScales",
    "how the values of a quantized cache are scaled",
    [MLA_CacheScalesNone, MLA_CacheScalesPerTensor,
     MLA_CacheScalesRowGroups]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mla";
}

def MLA_ValueWidthLatent : I32EnumAttrCase<"latent", 0>;
def MLA_ValueWidthRow : I32EnumAttrCase<"row", 1>;
def MLA_ValueWidth : I32EnumAttr<"ValueWidth",
    "which columns of a cache row are the value",
    [MLA_ValueWidthLatent, MLA_ValueWidthRow]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mla";
}

def MLA_DecodeVariantAttr : AttrDef<MLA_Dialect, "DecodeVariant"> {
  let mnemonic = "decode_variant";
  let summary = "what distinguishes one decode attention from another";
  let description = [{
    The variant of an `mla.decode_attention`, beside its shapes, `causal`
    and its optional `sinks` operand. Every field has a default (FlashMLA's
    dense decode), omitted when printed:
    - `keys`: `pages` (default): the op's third operand is the block table
      `[B, max_blocks]`; `indices`: it holds per-query token indices
      `[B, S, topk]` (i32), each `page * block_size + offset`, -1 for a slot
      that holds no token (FlashMLA's sparse decode, DeepSeek-V3.2).
    - `scales`: `none` (default): the cache holds the query's element type;
      `per_tensor`: f8E4M3FN values times the op's `cache_scale` operand;
      `row_groups`: each cache row is bytes (i8): d_c f8E4M3FN values, then
      d_c / `scale_group` f32 scales (one a group of `scale_group` values),
      then d_r rope values in bf16, unquantized (FlashMLA's 656-byte row for
      512/64 with groups of 128).
    - `scale_group`: values per scale in `row_groups` (default 128).
    - `value`: `latent` (default): the value is the first d_c columns of a
      row (MLA); `row`: the whole row (key = value), the result as wide as
      the query.
    - `window`: a sliding window of W tokens: query i, at position
      p = seq_len - S + i, sees no position before p - W + 1 (with `causal`,
      p - W + 1 .. p).

    ```mlir
    #mla.decode_variant<keys = indices, scales = row_groups, window = 128>
    ```
  }];
  let parameters = (ins
    MLA_DefaultedEnum<MLA_KeySource, "::mlir::mla::KeySource::pages">:$keys,
    MLA_DefaultedEnum<MLA_CacheScales,
                      "::mlir::mla::CacheScales::none">:$scales,
    DefaultValuedParameter<"int64_t", "128">:$scale_group,
    MLA_DefaultedEnum<MLA_ValueWidth,
                      "::mlir::mla::ValueWidth::latent">:$value,
    OptionalParameter<"std::optional<int64_t>">:$window
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
}

//===----------------------------------------------------------------------===//
// RoPE scaling (context extension) of mla.rope
//===----------------------------------------------------------------------===//

def MLA_RopeScalingLinear : I32EnumAttrCase<"linear", 0>;
def MLA_RopeScalingYarn : I32EnumAttrCase<"yarn", 1>;
def MLA_RopeScalingLongrope : I32EnumAttrCase<"longrope", 2>;
def MLA_RopeScalingLlama3 : I32EnumAttrCase<"llama3", 3>;

// Hugging Face's `rope_type` values whose frequencies depend on the
// configuration only (dynamic NTK depends on the sequence and is refused).
def MLA_RopeScalingType : I32EnumAttr<"RopeScalingType",
    "how the rotary frequencies are rescaled for a longer context",
    [MLA_RopeScalingLinear, MLA_RopeScalingYarn, MLA_RopeScalingLongrope,
     MLA_RopeScalingLlama3]> {
  let genSpecializedAttr = 0;
  let cppNamespace = "::mlir::mla";
}

// A double with a default, omitted when printed at its default.
class MLA_F64DefaultParameter<string desc, string default>
    : MLA_F64Parameter<desc> {
  let defaultValue = "::llvm::APFloat(" # default # ")";
}

// `[1.0, 1.25, ...]`, every value printed so that it parses back exactly
// (DenseF64ArrayAttr's own syntax rounds to 7 digits).
class MLA_F64ArrayParameter<string desc>
    : OptionalParameter<"::mlir::DenseF64ArrayAttr", desc> {
  let parser = [{ ::mlir::mla::parseF64Array($_parser) }];
  let printer = [{ ::mlir::mla::printF64Array($_printer, $_self) }];
}

def MLA_RopeScalingAttr : AttrDef<MLA_Dialect, "RopeScaling"> {
  let mnemonic = "rope_scaling";
  let summary = "context-extension scaling of rotary frequencies";
  let description = [{
    The `rope_scaling` (transformers 5: `rope_parameters`) of a Hugging Face
    config, under its names. With base frequencies f_i = theta^(-2i/d) and
    L = `original_max_position_embeddings`:
    - `linear`: f_i / factor.
    - `yarn` (DeepSeek-V2/V3, Kimi K2): f_i / factor below the correction
      range of `beta_fast`/`beta_slow` rotations in L positions, f_i above
      it, a linear ramp between (the range truncated to whole pairs); cos and
      sin times the attention factor: `attention_factor` when set, else
      m(factor, mscale) / m(factor, mscale_all_dim) when both are set, else
      m(factor, 1), with m(s, a) = 1 + 0.1 a ln s for s > 1 and 1 otherwise.
    - `longrope` (MiniCPM3, Phi-3): f_i / `short_factor`[i] at positions
      below L, f_i / `long_factor`[i] from L on; cos and sin times
      `attention_factor`, else sqrt(1 + ln(factor) / ln L) for factor > 1.
    - `llama3`: f_i / factor for wavelengths above L / `low_freq_factor`, f_i
      below L / `high_freq_factor`, smoothly interpolated between.
    The softmax-scale change of YaRN (mscale(factor, mscale_all_dim)^2) is
    the attention's `scale`, not part of this attribute.

    ```mlir
    #mla.rope_scaling<rope_type = yarn, factor = 40.0,
        original_max_position_embeddings = 4096, mscale = 1.0,
        mscale_all_dim = 1.0>
    ```
  }];
  let parameters = (ins
    EnumParameter<MLA_RopeScalingType>:$rope_type,
    MLA_F64DefaultParameter<"frequency divisor or context ratio", "1.0">:$factor,
    DefaultValuedParameter<"int64_t", "0">:$original_max_position_embeddings,
    MLA_F64DefaultParameter<"cos/sin multiplier; 0: derived", "0.0">:$attention_factor,
    MLA_F64DefaultParameter<"yarn: rotations at the fast end", "32.0">:$beta_fast,
    MLA_F64DefaultParameter<"yarn: rotations at the slow end", "1.0">:$beta_slow,
    MLA_F64DefaultParameter<"yarn: numerator mscale; 0: unset", "0.0">:$mscale,
    MLA_F64DefaultParameter<"yarn: denominator mscale; 0: unset", "0.0">:$mscale_all_dim,
    MLA_F64ArrayParameter<"longrope: per-pair divisors below L">:$short_factor,
    MLA_F64ArrayParameter<"longrope: per-pair divisors from L on">:$long_factor,
    MLA_F64DefaultParameter<"llama3: low-frequency boundary", "1.0">:$low_freq_factor,
    MLA_F64DefaultParameter<"llama3: high-frequency boundary", "4.0">:$high_freq_factor
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    double factor() const { return getFactor().convertToDouble(); }
    /// The multiplier of cos and sin (the attention factor), derived when
    /// not given.
    double getCosSinFactor() const;
    /// The inverse frequencies of the d/2 pairs of a d-wide rotation with
    /// base `theta`; `longFactors` picks longrope's set for positions from L.
    ::llvm::SmallVector<double> getInverseFrequencies(double theta, int64_t d,
                                                      bool longFactors) const;
  }];
}

#endif // MLA_DIALECT_MLA_IR_MLAATTRS_TD
