// Token indices (sparse decode) and fp8 rows with group scales are
// implemented by the CPU kernels (mla-lower-to-cpu-sparse.mlir,
// mla-lower-to-cpu-fp8.mlir), not yet by the GPU ones: the GPU lowering
// refuses them, naming the variant.
// RUN: mla-opt %s -split-input-file -verify-diagnostics --convert-mla-to-gpu

func.func @indices(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xbf16>, %idx: tensor<?x1x64xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  // expected-error @+1 {{decode kernel: keys = indices (not implemented by the kernels yet)}}
  %o, %lse = mla.decode_attention %q, %c[%idx, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xbf16>[tensor<?x1x64xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

func.func @fp8_rows(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x72xi8>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  // expected-error @+1 {{decode kernel: scales = row_groups (not implemented by the kernels yet)}}
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 16>} : tensor<?x1x4x48xbf16>, tensor<?x16x72xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}
