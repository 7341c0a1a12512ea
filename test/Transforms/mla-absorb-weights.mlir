// RUN: mla-opt %s -split-input-file --mla-absorb-weights | FileCheck %s
// RUN: mla-opt %s -split-input-file --mla-absorb-weights="merge-query=always merge-output=always" | FileCheck %s --check-prefix=MERGE
// RUN: mla-opt %s -split-input-file --mla-absorb-weights="merge-query=never merge-output=never" | FileCheck %s --check-prefix=NEVER

// Training form: K_h = c W_UK,h and V_h = c W_UV,h from the cached latents c.
// Inference form: q_lat_h = q_nope_h W_UK,h^T, attention over c itself (one
// key/value head, rope part unchanged), o_h = o_lat_h W_UV,h. With DeepSeek-
// like ratios (d_c = 32 > d_nope = 8, D = 64) merging costs more on both
// sides: q_in*d_c = 512 > d_nope*(q_in+d_c) = 384 and d_c*D = 2048 >
// d_v*(d_c+D) = 768, so auto keeps every weight separate.

// CHECK-LABEL: func.func @decode
// CHECK-SAME: (%[[QN:[^:]+]]: tensor<?x1x4x8xf32>, %[[QR:[^:]+]]: tensor<?x1x4x8xf32>, %[[C:[^:]+]]: tensor<?x?x32xf32>, %[[KR:[^:]+]]: tensor<?x?x8xf32>, %[[L:[^:]+]]: tensor<?xi32>, %[[WUK:[^:]+]]: tensor<4x32x8xf32>, %[[WUV:[^:]+]]: tensor<4x32x8xf32>, %[[WO:[^:]+]]: tensor<32x64xf32>)
// CHECK-NOT: mla.head_proj
// CHECK: %[[QL:.+]] = mla.head_linear %[[QN]], %[[WUK]] {transpose_weight} : tensor<?x1x4x8xf32>, tensor<4x32x8xf32> -> tensor<?x1x4x32xf32>
// CHECK: %[[KV:.+]] = tensor.expand_shape %[[C]] {{\[\[}}0], [1], [2, 3]] {{.*}} : tensor<?x?x32xf32> into tensor<?x?x1x32xf32>
// CHECK: %[[OL:.+]] = mla.attention %[[QL]], %[[KV]], %[[KV]] rope(%[[QR]], %[[KR]]) kv_lens(%[[L]]) {causal, scale = 2.500000e-01 : f32} : tensor<?x1x4x32xf32>, tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32> rope(tensor<?x1x4x8xf32>, tensor<?x?x8xf32>) kv_lens(tensor<?xi32>) -> tensor<?x1x4x32xf32>
// CHECK: %[[O:.+]] = mla.head_linear %[[OL]], %[[WUV]] : tensor<?x1x4x32xf32>, tensor<4x32x8xf32> -> tensor<?x1x4x8xf32>
// CHECK: %[[OUT:.+]] = mla.out_proj %[[O]], %[[WO]]
// CHECK: return %[[OUT]]
// CHECK-NOT: prepare_weights

// Forcing the output merge: out = o_lat (W_UV W_O), computed at load time by
// the prepare function from the two layer arguments.
// MERGE-LABEL: func.func @decode
// MERGE-SAME: %{{.*}}: tensor<128x64xf32> {mla.absorbed = "w_uv_o"})
// MERGE: %[[OL:.+]] = mla.attention
// MERGE-NOT: mla.head_linear %[[OL]]
// MERGE: mla.out_proj %[[OL]], %{{.*}} : tensor<?x1x4x32xf32>, tensor<128x64xf32> -> tensor<?x1x64xf32>
// MERGE-LABEL: func.func @decode_prepare_weights
// MERGE-SAME: (%[[A:.+]]: tensor<4x32x8xf32> {mla.weight = 6 : i64}, %[[B:.+]]: tensor<32x64xf32> {mla.weight = 7 : i64}) -> tensor<128x64xf32>
// MERGE: %[[WO3:.+]] = tensor.expand_shape %[[B]] {{\[\[}}0, 1], [2]] output_shape [4, 8, 64]
// MERGE: linalg.generic {{.*}} ins(%[[A]], %[[WO3]] : tensor<4x32x8xf32>, tensor<4x8x64xf32>) outs(%{{.*}} : tensor<4x32x64xf32>)
// MERGE: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : tensor<4x32x64xf32> into tensor<128x64xf32>
// NEVER-LABEL: func.func @decode
// NEVER-NOT: prepare_weights
func.func @decode(%q_nope: tensor<?x1x4x8xf32>, %q_rope: tensor<?x1x4x8xf32>,
                  %c: tensor<?x?x32xf32>, %k_rope: tensor<?x?x8xf32>,
                  %lens: tensor<?xi32>, %w_uk: tensor<4x32x8xf32>,
                  %w_uv: tensor<4x32x8xf32>, %w_o: tensor<32x64xf32>)
    -> tensor<?x1x64xf32> {
  %k = mla.head_proj %c, %w_uk : tensor<?x?x32xf32>, tensor<4x32x8xf32> -> tensor<?x?x4x8xf32>
  %v = mla.head_proj %c, %w_uv : tensor<?x?x32xf32>, tensor<4x32x8xf32> -> tensor<?x?x4x8xf32>
  %o = mla.attention %q_nope, %k, %v rope(%q_rope, %k_rope) kv_lens(%lens) {scale = 0.25 : f32, causal} : tensor<?x1x4x8xf32>, tensor<?x?x4x8xf32>, tensor<?x?x4x8xf32> rope(tensor<?x1x4x8xf32>, tensor<?x?x8xf32>) kv_lens(tensor<?xi32>) -> tensor<?x1x4x8xf32>
  %out = mla.out_proj %o, %w_o : tensor<?x1x4x8xf32>, tensor<32x64xf32> -> tensor<?x1x64xf32>
  return %out : tensor<?x1x64xf32>
}

// -----

// A small latent (d_c = 2 < d_nope = 8): merging is cheaper on both sides,
// q_in*d_c = 8 < d_nope*(q_in+d_c) = 48 and d_c*D = 8 < d_v*(d_c+D) = 48,
// so auto merges W_UQ W_UK^T (q_lat = c_q W_UQK) and W_UV W_O.
// CHECK-LABEL: func.func @cheap_merge
// CHECK-SAME: %{{.*}}: tensor<1x4x2xf32> {mla.absorbed = "w_uq_uk"}, %{{.*}}: tensor<2x4xf32> {mla.absorbed = "w_uv_o"})
// CHECK: %[[QL:.+]] = mla.head_proj %arg0, %arg6 : tensor<?x1x4xf32>, tensor<1x4x2xf32> -> tensor<?x1x1x2xf32>
// CHECK: %[[OL:.+]] = mla.attention %[[QL]]
// CHECK: mla.out_proj %[[OL]], %arg7 : tensor<?x1x1x2xf32>, tensor<2x4xf32> -> tensor<?x1x4xf32>
// CHECK-LABEL: func.func @cheap_merge_prepare_weights
// CHECK-SAME: -> (tensor<1x4x2xf32>, tensor<2x4xf32>)
// NEVER-LABEL: func.func @cheap_merge
// NEVER: mla.head_linear %{{.*}} {transpose_weight}
// NEVER-NOT: prepare_weights
func.func @cheap_merge(%c_q: tensor<?x1x4xf32>, %c: tensor<?x?x2xf32>,
                       %w_uq: tensor<1x4x8xf32>, %w_uk: tensor<1x2x8xf32>,
                       %w_uv: tensor<1x2x8xf32>, %w_o: tensor<8x4xf32>)
    -> tensor<?x1x4xf32> {
  %q = mla.head_proj %c_q, %w_uq : tensor<?x1x4xf32>, tensor<1x4x8xf32> -> tensor<?x1x1x8xf32>
  %k = mla.head_proj %c, %w_uk : tensor<?x?x2xf32>, tensor<1x2x8xf32> -> tensor<?x?x1x8xf32>
  %v = mla.head_proj %c, %w_uv : tensor<?x?x2xf32>, tensor<1x2x8xf32> -> tensor<?x?x1x8xf32>
  %o = mla.attention %q, %k, %v {scale = 0.35 : f32, causal} : tensor<?x1x1x8xf32>, tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32> -> tensor<?x1x1x8xf32>
  %out = mla.out_proj %o, %w_o : tensor<?x1x1x8xf32>, tensor<8x4xf32> -> tensor<?x1x4xf32>
  return %out : tensor<?x1x4xf32>
}

// -----

// Constant weights are folded. One head, d_c = 1, d_nope = d_v = 2, D = 2:
// W_UQ = [[1, 2]] (q_in = 1), W_UK = [[3, 4]]: W_UQ W_UK^T = 1*3 + 2*4 = 11.
// W_UV = [[5, 6]], W_O = [[1, 0], [0, 2]]: W_UV W_O = [[5, 12]].
// CHECK-LABEL: func.func @folded
// CHECK: %[[WQ:.+]] = arith.constant dense<1.100000e+01> : tensor<1x1x1xf32>
// CHECK: %[[QL:.+]] = mla.head_proj %arg0, %[[WQ]]
// CHECK: %[[OL:.+]] = mla.attention %[[QL]]
// CHECK: %[[WO:.+]] = arith.constant dense<{{\[\[}}5.000000e+00, 1.200000e+01]]> : tensor<1x2xf32>
// CHECK: mla.out_proj %[[OL]], %[[WO]]
// CHECK-NOT: prepare_weights
func.func @folded(%c_q: tensor<?x1x1xf32>, %c: tensor<?x?x1xf32>) -> tensor<?x1x2xf32> {
  %w_uq = arith.constant dense<[[[1.0, 2.0]]]> : tensor<1x1x2xf32>
  %w_uk = arith.constant dense<[[[3.0, 4.0]]]> : tensor<1x1x2xf32>
  %w_uv = arith.constant dense<[[[5.0, 6.0]]]> : tensor<1x1x2xf32>
  %w_o = arith.constant dense<[[1.0, 0.0], [0.0, 2.0]]> : tensor<2x2xf32>
  %q = mla.head_proj %c_q, %w_uq : tensor<?x1x1xf32>, tensor<1x1x2xf32> -> tensor<?x1x1x2xf32>
  %k = mla.head_proj %c, %w_uk : tensor<?x?x1xf32>, tensor<1x1x2xf32> -> tensor<?x?x1x2xf32>
  %v = mla.head_proj %c, %w_uv : tensor<?x?x1xf32>, tensor<1x1x2xf32> -> tensor<?x?x1x2xf32>
  %o = mla.attention %q, %k, %v {scale = 0.7 : f32, causal} : tensor<?x1x1x2xf32>, tensor<?x?x1x2xf32>, tensor<?x?x1x2xf32> -> tensor<?x1x1x2xf32>
  %out = mla.out_proj %o, %w_o : tensor<?x1x1x2xf32>, tensor<2x2xf32> -> tensor<?x1x2xf32>
  return %out : tensor<?x1x2xf32>
}
