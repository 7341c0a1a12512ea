//===- Passes.td - mla dialect passes ----------------------*- tablegen -*-===//

#ifndef MLA_DIALECT_MLA_TRANSFORMS_PASSES_TD
#define MLA_DIALECT_MLA_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def MLAKVCacheReportPass : Pass<"mla-kv-cache-report", "ModuleOp"> {
  let summary = "Print the KV-cache footprint of every attention layer";
  let description = [{
    For every op carrying an `mla.layer` config (one attention layer), prints
    to stdout the values and bytes cached per token per layer (MHA 2*H*d_h,
    MQA 2*d_h, GQA 2*G*d_h, MLA d_c + d_r), those of MHA with the same heads
    (d_h = head_dim, or hidden_size / H for MLA as in the DeepSeek-V2 paper),
    their ratio, and the totals for `batch` sequences of `context` tokens over
    `layers` layers. The element size comes from `dtype`, or from the layer's
    attention op when `dtype` is empty. Leaves the IR unchanged.
  }];
  let options = [
    Option<"batch", "batch", "int64_t", "1", "Sequences in the batch">,
    Option<"context", "context", "int64_t", "1", "Tokens per sequence">,
    Option<"layers", "layers", "int64_t", "1", "Layers in the model">,
    Option<"dtype", "dtype", "std::string", "\"\"",
           "Cache element type: f32, f16, bf16 or fp8 (default: the layer's)">
  ];
}

#endif // MLA_DIALECT_MLA_TRANSFORMS_PASSES_TD
