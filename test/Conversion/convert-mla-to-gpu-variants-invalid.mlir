// What the GPU kernels refuse of the variants: fp8 rows whose scale group
// is not a multiple of the SIMT kernel's 32 lanes (f32) or of the tensor
// cores' 16-element k-step.
// RUN: mla-opt %s -split-input-file -verify-diagnostics --convert-mla-to-gpu

func.func @g16_f32(%q: tensor<?x1x4x48xf32>, %c: tensor<?x16x72xi8>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xf32> {
  // expected-error @+1 {{cannot generate a GPU decode kernel: scale_group = 16 (must divide kv_lora_rank = 32 and be a multiple of the 32 lanes of a warp)}}
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 16>} : tensor<?x1x4x48xf32>, tensor<?x16x72xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xf32>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xf32>
}

// -----

func.func @g8_bf16(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x80xi8>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  // expected-error @+1 {{cannot generate a GPU decode kernel: scale_group = 8 (must divide kv_lora_rank = 32 and be a multiple of the 16-element k-step of the tensor-core MMA)}}
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 8>} : tensor<?x1x4x48xbf16>, tensor<?x16x80xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}
