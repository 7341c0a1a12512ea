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
    is H for MHA, 1 for MQA and G for GQA.

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
    EnumParameter<MLA_RopeStyle>:$rope_style
  );
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True for a multi-head latent attention layer (kv_lora_rank is set).
    bool isLatent() const { return getKvLoraRank().has_value(); }
    /// Head dimension of queries and keys: qk_nope + qk_rope, or head_dim.
    int64_t getQueryKeyHeadDim() const;
    /// Head dimension of values: v_head_dim, or head_dim.
    int64_t getValueHeadDim() const;
    /// Values cached per token per layer: d_c + d_r for MLA, 2 * G * d_h
    /// otherwise.
    int64_t getCacheValuesPerToken() const;
    /// Values per token per layer of MHA with the same heads and the usual
    /// head dim hidden_size / num_attention_heads: 2 * hidden_size.
    int64_t getMHACacheValuesPerToken() const;
    /// The softmax scale 1 / sqrt(qk head dim).
    double getDefaultSoftmaxScale() const;
  }];
}

#endif // MLA_DIALECT_MLA_IR_MLAATTRS_TD
