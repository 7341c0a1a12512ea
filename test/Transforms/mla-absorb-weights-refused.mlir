// RUN: mla-opt %s -split-input-file --mla-absorb-weights -verify-diagnostics | FileCheck %s

// Where the math does not allow absorption the IR stays as it is and a
// remark says why.

// RoPE applied to the up-projected key does not commute with W_UK.
// CHECK-LABEL: func.func @rotated_key
// CHECK: mla.attention %arg0, %[[K:.+]], %{{.*}} {scale
// CHECK-NOT: mla.head_linear
func.func @rotated_key(%q: tensor<1x1x2x8xf32>, %c: tensor<1x4x16xf32>, %pos: tensor<1x4xi32>,
                       %w_uk: tensor<2x16x8xf32>, %w_uv: tensor<2x16x8xf32>) -> tensor<1x1x2x8xf32> {
  %k0 = mla.head_proj %c, %w_uk : tensor<1x4x16xf32>, tensor<2x16x8xf32> -> tensor<1x4x2x8xf32>
  %k = mla.rope %k0, %pos {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<1x4x2x8xf32>, tensor<1x4xi32>
  %v = mla.head_proj %c, %w_uv : tensor<1x4x16xf32>, tensor<2x16x8xf32> -> tensor<1x4x2x8xf32>
  // expected-remark @+1 {{mla-absorb-weights: not absorbed: the key is rotated after its up projection; RoPE does not commute with W_UK, so W_UK cannot move to the query side}}
  %o = mla.attention %q, %k, %v {scale = 0.35 : f32} : tensor<1x1x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x1x2x8xf32>
  return %o : tensor<1x1x2x8xf32>
}

// -----

// A nonlinearity between the up projection and attention.
// CHECK-LABEL: func.func @nonlinear_value
// CHECK: math.tanh
// CHECK: mla.attention %arg0, %{{.*}}, %{{.*}} {scale
func.func @nonlinear_value(%q: tensor<1x1x2x8xf32>, %c: tensor<1x4x16xf32>,
                           %w_uk: tensor<2x16x8xf32>, %w_uv: tensor<2x16x8xf32>) -> tensor<1x1x2x8xf32> {
  %k = mla.head_proj %c, %w_uk : tensor<1x4x16xf32>, tensor<2x16x8xf32> -> tensor<1x4x2x8xf32>
  %v0 = mla.head_proj %c, %w_uv : tensor<1x4x16xf32>, tensor<2x16x8xf32> -> tensor<1x4x2x8xf32>
  %v = math.tanh %v0 : tensor<1x4x2x8xf32>
  // expected-remark @+1 {{mla-absorb-weights: not absorbed: the value comes from 'math.tanh', not directly from a per-head up projection (mla.head_proj) of the latents; absorption would change the result}}
  %o = mla.attention %q, %k, %v {scale = 0.35 : f32} : tensor<1x1x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x1x2x8xf32>
  return %o : tensor<1x1x2x8xf32>
}

// -----

// Standard attention: keys are inputs, nothing to absorb.
// CHECK-LABEL: func.func @plain_keys
// CHECK: mla.attention %arg0, %arg1, %arg1
func.func @plain_keys(%q: tensor<1x1x2x8xf32>, %k: tensor<1x4x2x8xf32>) -> tensor<1x1x2x8xf32> {
  // expected-remark @+1 {{mla-absorb-weights: not absorbed: the key is a block argument, not an up projection of the latents}}
  %o = mla.attention %q, %k, %k {scale = 0.35 : f32} : tensor<1x1x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x1x2x8xf32>
  return %o : tensor<1x1x2x8xf32>
}

// -----

// Key and value from different latents.
// CHECK-LABEL: func.func @two_latents
// CHECK: mla.attention %arg0, %{{.*}}, %{{.*}} {scale
func.func @two_latents(%q: tensor<1x1x2x8xf32>, %c: tensor<1x4x16xf32>, %c2: tensor<1x4x16xf32>,
                       %w_uk: tensor<2x16x8xf32>, %w_uv: tensor<2x16x8xf32>) -> tensor<1x1x2x8xf32> {
  %k = mla.head_proj %c, %w_uk : tensor<1x4x16xf32>, tensor<2x16x8xf32> -> tensor<1x4x2x8xf32>
  %v = mla.head_proj %c2, %w_uv : tensor<1x4x16xf32>, tensor<2x16x8xf32> -> tensor<1x4x2x8xf32>
  // expected-remark @+1 {{mla-absorb-weights: not absorbed: key and value are up projections of different tensors, not of one shared latent}}
  %o = mla.attention %q, %k, %v {scale = 0.35 : f32} : tensor<1x1x2x8xf32>, tensor<1x4x2x8xf32>, tensor<1x4x2x8xf32> -> tensor<1x1x2x8xf32>
  return %o : tensor<1x1x2x8xf32>
}

// -----

// A merged weight needs its factors as constants or layer arguments.
func.func @computed_factor(%c_q: tensor<?x1x4xf32>, %c: tensor<?x?x2xf32>,
                           %w_uq0: tensor<1x4x8xf32>, %w_uk: tensor<1x2x8xf32>,
                           %w_uv: tensor<1x2x8xf32>) -> tensor<?x1x1x8xf32> {
  // expected-error @+1 {{mla-absorb-weights: cannot merge into 'w_uq_uk': its factors must be constants or arguments of @computed_factor}}
  %w_uq = math.absf %w_uq0 : tensor<1x4x8xf32>
  %q = mla.head_proj %c_q, %w_uq : tensor<?x1x4xf32>, tensor<1x4x8xf32> -> tensor<?x1x1x8xf32>
  %k = mla.head_proj %c, %w_uk : tensor<?x?x2xf32>, tensor<1x2x8xf32> -> tensor<?x?x1x8xf32>
  %v = mla.head_proj %c, %w_uv : tensor<?x?x2xf32>, tensor<1x2x8xf32> -> tensor<?x?x1x8xf32>
  %o = mla.attention %q, %k, %v {scale = 0.35 : f32} : tensor<?x1x1x8xf32>, tensor<?x?x1x8xf32>, tensor<?x?x1x8xf32> -> tensor<?x1x1x8xf32>
  return %o : tensor<?x1x1x8xf32>
}
