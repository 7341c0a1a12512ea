// The variants of mla.decode_attention that no target's kernels implement
// yet are refused by both lowerings, naming the variant; the dense variant,
// spelled out, is lowered as when the attribute is absent (and a window,
// sinks and key = value: mla-lower-to-cpu-window.mlir,
// convert-mla-to-gpu-window.mlir, mla-lower-to-cpu-sinks.mlir,
// mla-lower-to-cpu-row.mlir). Token indices and fp8 rows:
// mla-lower-to-cpu-sparse.mlir, mla-lower-to-cpu-fp8.mlir,
// convert-mla-to-gpu-variants.mlir.
// RUN: mla-opt %s -split-input-file -verify-diagnostics --convert-mla-to-cpu
// RUN: mla-opt %s -split-input-file -verify-diagnostics --convert-mla-to-gpu

func.func @dense(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xbf16>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = pages, scales = none, value = latent>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

func.func @fp8(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xf8E4M3FN>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>, %s: tensor<f32>) -> tensor<?x1x4x32xbf16> {
  // expected-error @+1 {{decode kernel: scales = per_tensor (not implemented by the kernels yet)}}
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] cache_scale(%s : tensor<f32>) {scale = 0.25 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}
