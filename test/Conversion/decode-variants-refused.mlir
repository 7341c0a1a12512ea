// The variants of mla.decode_attention that no target's kernels implement
// yet are refused by both lowerings, naming the variant; the dense variant,
// spelled out, is lowered as when the attribute is absent (and a window and
// sinks: mla-lower-to-cpu-window.mlir, convert-mla-to-gpu-window.mlir,
// mla-lower-to-cpu-sinks.mlir).
// RUN: mla-opt %s -split-input-file -verify-diagnostics --convert-mla-to-cpu
// RUN: mla-opt %s -split-input-file -verify-diagnostics --convert-mla-to-gpu

func.func @dense(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xbf16>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = pages, scales = none, value = latent>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

func.func @indices(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xbf16>, %idx: tensor<?x1x64xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  // expected-error @+1 {{decode kernel: keys = indices (not implemented by the kernels yet)}}
  %o, %lse = mla.decode_attention %q, %c[%idx, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xbf16>[tensor<?x1x64xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

func.func @fp8(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xf8E4M3FN>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>, %s: tensor<f32>) -> tensor<?x1x4x32xbf16> {
  // expected-error @+1 {{decode kernel: scales = per_tensor (not implemented by the kernels yet)}}
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] cache_scale(%s : tensor<f32>) {scale = 0.25 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

func.func @row(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xbf16>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x48xbf16> {
  // expected-error @+1 {{decode kernel: value = row (not implemented by the kernels yet)}}
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<value = row>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x48xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x48xbf16>
}

// -----

// Sizes beyond the generators' bounds are refused before any is computed
// from them: 2048 heads.
func.func @too_many_heads(%q: tensor<?x1x2048x48xbf16>, %c: tensor<?x16x48xbf16>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x2048x32xbf16> {
  // expected-error @+1 {{decode kernel: num_heads = 2048 (must be in 1..1024)}}
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<?x1x2048x48xbf16>, tensor<?x16x48xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x2048x32xbf16>, tensor<?x2048x1xf32>
  return %o : tensor<?x1x2048x32xbf16>
}
