//===- MLADialect.td - Multi-head latent attention dialect -*- tablegen -*-===//
//
// The `mla` dialect describes one attention layer (MLA, MHA, MQA, GQA) on
// tensors, in the training form of DeepSeek-V2 section 3.1, so that weight
// absorption and attention fusion have named, verified ops to match.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_DIALECT_MLA_IR_MLADIALECT_TD
#define MLA_DIALECT_MLA_IR_MLADIALECT_TD

include "mlir/IR/OpBase.td"

def MLA_Dialect : Dialect {
  let name = "mla";
  let cppNamespace = "::mlir::mla";
  let summary = "Multi-head latent attention layers and their kernels";
  let description = [{
    Ops for one attention layer: latent down projections, per-head up
    projections, RMS norm, rotary embedding, a paged latent KV cache and
    scaled-dot-product attention with a decoupled RoPE part. A function that
    holds one layer carries its dimensions in the discardable attribute
    `mla.layer = #mla.layer_config<...>`; ops inside it are checked against it.
    A GPU kernel whose last N parameters are TMA descriptors passed by value
    carries `mla.tensor_map_params = N`.
  }];
  let useDefaultAttributePrinterParser = 1;
  let hasOperationAttrVerify = 1;
  let extraClassDeclaration = [{
    /// Adds the attributes; defined beside their storage classes.
    void registerAttributes();

    /// Name of the function attribute holding a LayerConfigAttr.
    static constexpr ::llvm::StringLiteral getLayerAttrName() {
      return ::llvm::StringLiteral("mla.layer");
    }

    /// Name of the GPU kernel attribute counting its trailing parameters
    /// that are CUtensorMaps passed by value (mla-nvvm-tensor-map-params).
    static constexpr ::llvm::StringLiteral getTensorMapParamsAttrName() {
      return ::llvm::StringLiteral("mla.tensor_map_params");
    }
  }];
}

class MLA_Op<string mnemonic, list<Trait> traits = []>
    : Op<MLA_Dialect, mnemonic, traits>;

#endif // MLA_DIALECT_MLA_IR_MLADIALECT_TD
