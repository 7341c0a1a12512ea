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

def MLAAbsorbWeightsPass : Pass<"mla-absorb-weights", "ModuleOp"> {
  let summary = "Rewrite MLA attention from the training to the inference form";
  let description = [{
    Matches `mla.attention` whose key and value are per-head up projections
    (`mla.head_proj`) of one latent tensor c and rewrites it into attention
    in latent space: q_lat = q_nope W_UK^T (`mla.head_linear`), MQA over c
    with the decoupled rope part unchanged, and o = o_lat W_UV after it.
    Where the math does not allow it (a rotated or otherwise transformed key,
    different latents for key and value) the IR is left alone and a remark
    says why.

    Cost model (multiply-adds per token per head, equal to the parameters
    read): W_UQ W_UK^T is merged when q_in * d_c < d_nope * (q_in + d_c) and
    W_UV W_O when d_c * D < d_v * (d_c + D); DeepSeek-V3 keeps both separate.
    `merge-query` / `merge-output` = auto (the model), always or never.
    Merged weights of constants are folded; otherwise the layer gains a
    trailing argument (marked `mla.absorbed`) and `<layer>_prepare_weights`
    computes it once from the original weights (marked `mla.weight` with the
    layer argument they come from).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::tensor::TensorDialect",
                           "::mlir::func::FuncDialect"];
  let options = [
    Option<"mergeQuery", "merge-query", "std::string", "\"auto\"",
           "Merge W_UQ with W_UK^T: auto, always or never">,
    Option<"mergeOutput", "merge-output", "std::string", "\"auto\"",
           "Merge W_UV with W_O: auto, always or never">
  ];
}

def MLAFuseDecodeAttentionPass
    : Pass<"mla-fuse-decode-attention", "ModuleOp"> {
  let summary = "Fuse latent-space attention over a paged cache into mla.decode_attention";
  let description = [{
    Replaces `mla.attention` over latents read by `mla.kv_cache_gather`
    (key = value = the latents, rope key from the same gather, kv_lens the
    sequence lengths) by one `mla.decode_attention` on the cache, with the
    query [q_lat ; q_rope] concatenated: the kernel contract of DESIGN.md.
    Attention whose keys and values are gathered from paged head caches
    (GQA/MQA/MHA, the same block table) becomes `mla.decode_attention` on
    both caches. Attention restricted by `indices(...)` to the positions
    that `mla.topk` selects from `mla.index_score` (masked with the same
    lengths and causality) becomes the sparse `mla.decode_attention`
    (`keys = indices`) on the cache rows of those positions, computed from
    the block table. Other attention (prefill, training form) is left alone.
  }];
  let dependentDialects = ["::mlir::tensor::TensorDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::arith::ArithDialect"];
}

def MLADecomposePass : Pass<"mla-decompose", "ModuleOp"> {
  let summary = "Decompose mla ops into linalg, tensor and scf on tensors";
  let description = [{
    Replaces every mla op that implements linalg's AggregatedOpInterface
    (projections, RMS norm, RoPE, cache append) by its decomposition, the
    op's semantics in upstream ops: contractions as linalg.generic with f32
    accumulation, RoPE angles in f64, the cache append as scf.for over
    tensor.insert_slice. mla.attention and mla.decode_attention are kept.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::linalg::LinalgDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::tensor::TensorDialect"];
}

#endif // MLA_DIALECT_MLA_TRANSFORMS_PASSES_TD
