// RUN: mla-opt %s -split-input-file -verify-diagnostics

// Every verifier message of the mla dialect, each on a minimal case.

//===----------------------------------------------------------------------===//
// mla.linear
//===----------------------------------------------------------------------===//

func.func @linear_rank0(%x: tensor<f32>, %w: tensor<4x4xf32>) {
  // expected-error @+1 {{'input' must have rank at least 1}}
  %0 = mla.linear %x, %w : tensor<f32>, tensor<4x4xf32> -> tensor<4xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<2x4xf32>, %w: tensor<4x4x4xf32>) {
  // expected-error @+1 {{'weight' must have rank 2, got rank 3}}
  %0 = mla.linear %x, %w : tensor<2x4xf32>, tensor<4x4x4xf32> -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_result_rank(%x: tensor<2x4xf32>, %w: tensor<4x4xf32>) {
  // expected-error @+1 {{'result' must have rank 2, got rank 3}}
  %0 = mla.linear %x, %w : tensor<2x4xf32>, tensor<4x4xf32> -> tensor<2x1x4xf32>
  return
}

// -----

func.func @linear_weight_zero(%x: tensor<2x4xf32>, %w: tensor<4x0xf32>) {
  // expected-error @+1 {{weight size (dimension 1 of 'weight') must be nonzero}}
  %0 = mla.linear %x, %w : tensor<2x4xf32>, tensor<4x0xf32> -> tensor<2x0xf32>
  return
}

// -----

func.func @linear_weight_dynamic(%x: tensor<2x4xf32>, %w: tensor<?x4xf32>) {
  // expected-error @+1 {{weight size (dimension 0 of 'weight') must be static}}
  %0 = mla.linear %x, %w : tensor<2x4xf32>, tensor<?x4xf32> -> tensor<2x4xf32>
  return
}

// -----

func.func @linear_leading(%x: tensor<2x4xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{result dimension 0 (3) does not match input dimension 0 (2)}}
  %0 = mla.linear %x, %w : tensor<2x4xf32>, tensor<4x8xf32> -> tensor<3x8xf32>
  return
}

// -----

func.func @linear_in_features(%x: tensor<2x64xf32>, %w: tensor<32x8xf32>) {
  // expected-error @+1 {{input features (64) does not match weight rows (32)}}
  %0 = mla.linear %x, %w : tensor<2x64xf32>, tensor<32x8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @linear_out_features(%x: tensor<2x4xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{result features (16) does not match weight columns (8)}}
  %0 = mla.linear %x, %w : tensor<2x4xf32>, tensor<4x8xf32> -> tensor<2x16xf32>
  return
}

// -----

func.func @linear_elem(%x: tensor<2x4xbf16>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{all of {input, weight, result} have same element type}}
  %0 = mla.linear %x, %w : tensor<2x4xbf16>, tensor<4x8xf32> -> tensor<2x8xf32>
  return
}

// -----

func.func @linear_int(%x: tensor<2x4xi32>, %w: tensor<4x8xi32>) {
  // expected-error @+1 {{operand #0 must be ranked tensor of floating-point values}}
  %0 = mla.linear %x, %w : tensor<2x4xi32>, tensor<4x8xi32> -> tensor<2x8xi32>
  return
}

//===----------------------------------------------------------------------===//
// mla.head_proj
//===----------------------------------------------------------------------===//

// -----

func.func @head_proj_input_rank(%x: tensor<2x32xf32>, %w: tensor<4x32x16xf32>) {
  // expected-error @+1 {{'input' must have rank 3, got rank 2}}
  %0 = mla.head_proj %x, %w : tensor<2x32xf32>, tensor<4x32x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @head_proj_weight_rank(%x: tensor<2x1x32xf32>, %w: tensor<32x16xf32>) {
  // expected-error @+1 {{'weight' must have rank 3, got rank 2}}
  %0 = mla.head_proj %x, %w : tensor<2x1x32xf32>, tensor<32x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @head_proj_result_rank(%x: tensor<2x1x32xf32>, %w: tensor<4x32x16xf32>) {
  // expected-error @+1 {{'result' must have rank 4, got rank 3}}
  %0 = mla.head_proj %x, %w : tensor<2x1x32xf32>, tensor<4x32x16xf32> -> tensor<2x1x64xf32>
  return
}

// -----

func.func @head_proj_batch(%x: tensor<2x1x32xf32>, %w: tensor<4x32x16xf32>) {
  // expected-error @+1 {{result batch (3) does not match input batch (2)}}
  %0 = mla.head_proj %x, %w : tensor<2x1x32xf32>, tensor<4x32x16xf32> -> tensor<3x1x4x16xf32>
  return
}

// -----

func.func @head_proj_tokens(%x: tensor<2x1x32xf32>, %w: tensor<4x32x16xf32>) {
  // expected-error @+1 {{result tokens (2) does not match input tokens (1)}}
  %0 = mla.head_proj %x, %w : tensor<2x1x32xf32>, tensor<4x32x16xf32> -> tensor<2x2x4x16xf32>
  return
}

// -----

func.func @head_proj_features(%x: tensor<2x1x32xf32>, %w: tensor<4x64x16xf32>) {
  // expected-error @+1 {{input features (32) does not match weight input features (64)}}
  %0 = mla.head_proj %x, %w : tensor<2x1x32xf32>, tensor<4x64x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @head_proj_heads(%x: tensor<2x1x32xf32>, %w: tensor<4x32x16xf32>) {
  // expected-error @+1 {{result heads (8) does not match weight heads (4)}}
  %0 = mla.head_proj %x, %w : tensor<2x1x32xf32>, tensor<4x32x16xf32> -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @head_proj_head_dim(%x: tensor<2x1x32xf32>, %w: tensor<4x32x16xf32>) {
  // expected-error @+1 {{result head dim (8) does not match weight head dim (16)}}
  %0 = mla.head_proj %x, %w : tensor<2x1x32xf32>, tensor<4x32x16xf32> -> tensor<2x1x4x8xf32>
  return
}

//===----------------------------------------------------------------------===//
// mla.out_proj
//===----------------------------------------------------------------------===//

// -----

func.func @out_proj_input_rank(%x: tensor<2x1x64xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{'input' must have rank 4, got rank 3}}
  %0 = mla.out_proj %x, %w : tensor<2x1x64xf32>, tensor<64x32xf32> -> tensor<2x1x32xf32>
  return
}

// -----

func.func @out_proj_weight_rank(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{'weight' must have rank 2, got rank 3}}
  %0 = mla.out_proj %x, %w : tensor<2x1x4x16xf32>, tensor<4x16x32xf32> -> tensor<2x1x32xf32>
  return
}

// -----

func.func @out_proj_result_rank(%x: tensor<2x1x4x16xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{'result' must have rank 3, got rank 2}}
  %0 = mla.out_proj %x, %w : tensor<2x1x4x16xf32>, tensor<64x32xf32> -> tensor<2x32xf32>
  return
}

// -----

func.func @out_proj_dynamic_heads(%x: tensor<2x1x?x16xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{heads (dimension 2 of 'input') must be static}}
  %0 = mla.out_proj %x, %w : tensor<2x1x?x16xf32>, tensor<64x32xf32> -> tensor<2x1x32xf32>
  return
}

// -----

func.func @out_proj_zero_head_dim(%x: tensor<2x1x4x0xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{head dim (dimension 3 of 'input') must be nonzero}}
  %0 = mla.out_proj %x, %w : tensor<2x1x4x0xf32>, tensor<64x32xf32> -> tensor<2x1x32xf32>
  return
}

// -----

func.func @out_proj_rows(%x: tensor<2x1x4x16xf32>, %w: tensor<32x32xf32>) {
  // expected-error @+1 {{heads * head dim (64) does not match weight rows (32)}}
  %0 = mla.out_proj %x, %w : tensor<2x1x4x16xf32>, tensor<32x32xf32> -> tensor<2x1x32xf32>
  return
}

// -----

func.func @out_proj_batch(%x: tensor<2x1x4x16xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{result batch (1) does not match input batch (2)}}
  %0 = mla.out_proj %x, %w : tensor<2x1x4x16xf32>, tensor<64x32xf32> -> tensor<1x1x32xf32>
  return
}

// -----

func.func @out_proj_tokens(%x: tensor<2x1x4x16xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{result tokens (4) does not match input tokens (1)}}
  %0 = mla.out_proj %x, %w : tensor<2x1x4x16xf32>, tensor<64x32xf32> -> tensor<2x4x32xf32>
  return
}

// -----

func.func @out_proj_features(%x: tensor<2x1x4x16xf32>, %w: tensor<64x32xf32>) {
  // expected-error @+1 {{result features (64) does not match weight columns (32)}}
  %0 = mla.out_proj %x, %w : tensor<2x1x4x16xf32>, tensor<64x32xf32> -> tensor<2x1x64xf32>
  return
}

//===----------------------------------------------------------------------===//
// mla.rms_norm
//===----------------------------------------------------------------------===//

// -----

func.func @rms_norm_rank0(%x: tensor<f32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{'input' must have rank at least 1}}
  %0 = mla.rms_norm %x, %g : tensor<f32>, tensor<4xf32>
  return
}

// -----

func.func @rms_norm_gamma_rank(%x: tensor<2x4xf32>, %g: tensor<1x4xf32>) {
  // expected-error @+1 {{'gamma' must have rank 1, got rank 2}}
  %0 = mla.rms_norm %x, %g : tensor<2x4xf32>, tensor<1x4xf32>
  return
}

// -----

func.func @rms_norm_dynamic(%x: tensor<2x?xf32>, %g: tensor<4xf32>) {
  // expected-error @+1 {{normalized dimension (dimension 1 of 'input') must be static}}
  %0 = mla.rms_norm %x, %g : tensor<2x?xf32>, tensor<4xf32>
  return
}

// -----

func.func @rms_norm_gamma(%x: tensor<2x32xf32>, %g: tensor<16xf32>) {
  // expected-error @+1 {{gamma size (16) does not match normalized dimension (32)}}
  %0 = mla.rms_norm %x, %g : tensor<2x32xf32>, tensor<16xf32>
  return
}

// -----

func.func @rms_norm_eps(%x: tensor<2x32xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{'epsilon' must be positive and finite, got 0}}
  %0 = mla.rms_norm %x, %g {epsilon = 0.0 : f32} : tensor<2x32xf32>, tensor<32xf32>
  return
}

// -----

func.func @rms_norm_result(%x: tensor<2x32xf32>, %g: tensor<32xf32>) {
  // expected-error @+1 {{all of {input, result} have same type}}
  %0 = "mla.rms_norm"(%x, %g) : (tensor<2x32xf32>, tensor<32xf32>) -> tensor<2x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// mla.rope
//===----------------------------------------------------------------------===//

// -----

func.func @rope_rank(%x: tensor<2x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{'input' must have rank 3 [B, S, d] or 4 [B, S, H, d], got rank 2}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_positions_rank(%x: tensor<2x1x8xf32>, %p: tensor<2xi32>) {
  // expected-error @+1 {{'positions' must have rank 2, got rank 1}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x8xf32>, tensor<2xi32>
  return
}

// -----

func.func @rope_dynamic(%x: tensor<2x1x?xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rotated dimension (dimension 2 of 'input') must be static}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x?xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_pos_batch(%x: tensor<2x1x8xf32>, %p: tensor<3x1xi32>) {
  // expected-error @+1 {{positions batch (3) does not match input batch (2)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x8xf32>, tensor<3x1xi32>
  return
}

// -----

func.func @rope_pos_tokens(%x: tensor<2x1x8xf32>, %p: tensor<2x4xi32>) {
  // expected-error @+1 {{positions tokens (4) does not match input tokens (1)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x8xf32>, tensor<2x4xi32>
  return
}

// -----

func.func @rope_odd(%x: tensor<2x1x4x7xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rotated dimension (7) must be even}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x4x7xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_theta(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{'theta' must be positive and finite, got -1}}
  %0 = mla.rope %x, %p {theta = -1.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_float_positions(%x: tensor<2x1x8xf32>, %p: tensor<2x1xf32>) {
  // expected-error @+1 {{operand #1 must be ranked tensor of 32-bit signless integer or 64-bit signless integer values}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x8xf32>, tensor<2x1xf32>
  return
}

// -----

func.func @rope_bad_style(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+2 {{expected ::mlir::mla::RopeStyle to be one of: interleaved, rotate_half}}
  // expected-error @+1 {{failed to parse MLA_RopeStyleAttr parameter 'value'}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<neox>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_factor(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: factor must be positive and finite, got -1}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = linear, factor = -1.0>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_foreign(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: beta_fast is not a parameter of linear scaling}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = linear, factor = 2.0, beta_fast = 16.0>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_llama3_attention(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: attention_factor is not a parameter of llama3 scaling}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = llama3, factor = 8.0, original_max_position_embeddings = 8192, attention_factor = 2.0>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_context(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: yarn needs original_max_position_embeddings > 0, got 0}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = yarn, factor = 40.0>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_attention_factor(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: attention_factor must be finite and non-negative (0: derived), got -1}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = yarn, factor = 40.0, original_max_position_embeddings = 4096, attention_factor = -1.0>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_beta(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: beta_slow must be positive and finite, got 0}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = yarn, factor = 40.0, original_max_position_embeddings = 4096, beta_slow = 0.0>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_mscale(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: mscale and mscale_all_dim must be finite and non-negative (0: unset)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = yarn, factor = 40.0, original_max_position_embeddings = 4096, mscale = -0.5>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_longrope_lengths(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: longrope needs short_factor and long_factor of one length (a value per pair), got 4 and 3}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = longrope, factor = 4.0, original_max_position_embeddings = 32, short_factor = [1.0, 1.0, 1.0, 1.0], long_factor = [2.0, 2.0, 2.0]>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_longrope_value(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: every short_factor and long_factor value must be positive and finite, got 0}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = longrope, factor = 4.0, original_max_position_embeddings = 32, short_factor = [1.0, 1.0, 1.0, 1.0], long_factor = [2.0, 0.0, 2.0, 2.0]>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_llama3_order(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{rope_scaling: low_freq_factor (4.000000e+00) must be below high_freq_factor (1.000000e+00)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = llama3, factor = 8.0, original_max_position_embeddings = 8192, low_freq_factor = 4.0, high_freq_factor = 1.0>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_scaling_longrope_pairs(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{longrope scaling has 2 factors per set, expected one per rotated pair (4)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = longrope, factor = 4.0, original_max_position_embeddings = 32, short_factor = [1.0, 1.0], long_factor = [2.0, 2.0]>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @position_scale_rank(%x: tensor<8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{'mla.position_scale' op 'input' must have rank at least 2 [B, S, ...], got rank 1}}
  %0 = mla.position_scale %x, %p {beta = 0.1 : f64, original_max_position_embeddings = 8192 : i64} : tensor<8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @position_scale_tokens(%x: tensor<2x1x8xf32>, %p: tensor<2x2xi32>) {
  // expected-error @+1 {{positions tokens (2) does not match input tokens (1)}}
  %0 = mla.position_scale %x, %p {beta = 0.1 : f64, original_max_position_embeddings = 8192 : i64} : tensor<2x1x8xf32>, tensor<2x2xi32>
  return
}

// -----

func.func @position_scale_beta(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{'beta' must be finite, got INF}}
  %0 = mla.position_scale %x, %p {beta = 0x7FF0000000000000 : f64, original_max_position_embeddings = 8192 : i64} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @position_scale_context(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) {
  // expected-error @+1 {{'original_max_position_embeddings' must be positive, got 0}}
  %0 = mla.position_scale %x, %p {beta = 0.1 : f64, original_max_position_embeddings = 0 : i64} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_layer_dim(%x: tensor<2x1x32xf32>, %p: tensor<2x1xi32>) attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>} {
  // expected-error @+1 {{rotated dimension (32) does not match the layer's qk_rope_head_dim (8)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x32xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_layer_head_dim(%x: tensor<2x1x4x32xf32>, %p: tensor<2x1xi32>) attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 2, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>} {
  // expected-error @+1 {{rotated dimension (32) does not match the layer's head_dim (16)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<2x1x4x32xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_layer_theta(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>} {
  // expected-error @+1 {{theta (5.000000e+05) does not match the layer's rope_theta (1.000000e+04)}}
  %0 = mla.rope %x, %p {theta = 500000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

func.func @rope_layer_style(%x: tensor<2x1x8xf32>, %p: tensor<2x1xi32>) attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>} {
  // expected-error @+1 {{style (rotate_half) does not match the layer's rope_style (interleaved)}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<2x1x8xf32>, tensor<2x1xi32>
  return
}

// -----

// In a layer with an indexer, only the indexer's ropes (into mla.index_score
// or the index cache) may rotate half-split pairs; the attention's keep the
// layer's style.
func.func @rope_layer_style_indexer(%x: tensor<2x1x16xf32>, %p: tensor<2x1xi32>) -> tensor<2x1x16xf32> attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 48, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 4, index_head_dim = 32, index_topk = 8>} {
  // expected-error @+2 {{style (rotate_half) does not match the layer's rope_style (interleaved)}}
  // expected-note @+1 {{only the indexer's ropes (feeding mla.index_score or the index cache) may rotate half-split pairs}}
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<2x1x16xf32>, tensor<2x1xi32>
  return %0 : tensor<2x1x16xf32>
}

// -----

// The latent cache's rope is the attention's, even in a layer with an
// indexer.
func.func @rope_layer_style_latent_cache(%c: tensor<4x8x48xf32>, %l: tensor<2x1x32xf32>, %x: tensor<2x1x16xf32>, %p: tensor<2x1xi32>, %bt: tensor<2x2xi32>, %sl: tensor<2xi32>) -> tensor<4x8x48xf32> attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 48, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 4, index_head_dim = 32, index_topk = 8>} {
  // expected-error @+2 {{style (rotate_half) does not match the layer's rope_style (interleaved)}}
  // expected-note @+1 {{only the indexer's ropes}}
  %r = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<2x1x16xf32>, tensor<2x1xi32>
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %sl] : tensor<2x1x32xf32>, tensor<2x1x16xf32> into tensor<4x8x48xf32>[tensor<2x2xi32>, tensor<2xi32>]
  return %0 : tensor<4x8x48xf32>
}

//===----------------------------------------------------------------------===//
// mla.kv_cache_append and mla.kv_cache_gather
//===----------------------------------------------------------------------===//

// -----

func.func @append_cache_rank(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<1024x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'cache' must have rank 3, got rank 2}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<1024x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_latent_rank(%c: tensor<2x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'latent' must have rank 3, got rank 2}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_rope_rank(%c: tensor<2x1x32xf32>, %r: tensor<2x1x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'key_rope' must have rank 3, got rank 4}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_block_size(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x0x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{block size (dimension 1 of 'cache') must be nonzero}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x0x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_row_dynamic(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x?xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache row width (dimension 2 of 'cache') must be static}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x?xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_latent_dynamic(%c: tensor<2x1x?xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{kv_lora_rank (dimension 2 of 'latent') must be static}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x?xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_rope_dynamic(%c: tensor<2x1x32xf32>, %r: tensor<2x1x?xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{rope dimension (dimension 2 of 'key_rope') must be static}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x?xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_row_width(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x32xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache row width (32) does not match kv_lora_rank + rope dim (40)}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x32xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_rope_batch(%c: tensor<2x1x32xf32>, %r: tensor<3x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{key_rope batch (3) does not match latent batch (2)}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<3x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_rope_tokens(%c: tensor<2x1x32xf32>, %r: tensor<2x2x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{key_rope tokens (2) does not match latent tokens (1)}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x2x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_block_table_rank(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<8xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'block_table' must have rank 2, got rank 1}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<8xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_seq_lens_rank(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2x1xi32>) {
  // expected-error @+1 {{'seq_lens' must have rank 1, got rank 2}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2x1xi32>]
  return
}

// -----

func.func @append_block_table_batch(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<3x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{block_table batch (3) does not match latent batch (2)}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<3x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_seq_lens_batch(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<4xi32>) {
  // expected-error @+1 {{seq_lens batch (4) does not match latent batch (2)}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<4xi32>]
  return
}

// -----

func.func @append_index_types(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi64>) {
  // expected-error @+1 {{all of {block_table, seq_lens} have same element type}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi64>]
  return
}

// -----

func.func @append_layer_rank(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 64, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>} {
  // expected-error @+1 {{kv_lora_rank (32) does not match the layer's kv_lora_rank (64)}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_layer_rope(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>} {
  // expected-error @+1 {{rope dimension (8) does not match the layer's qk_rope_head_dim (16)}}
  %0 = mla.kv_cache_append %c, %r into %cache[%bt, %l] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_result(%c: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{all of {cache, result} have same type}}
  %0 = "mla.kv_cache_append"(%c, %r, %cache, %bt, %l) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 0>}> : (tensor<2x1x32xf32>, tensor<2x1x8xf32>, tensor<8x16x40xf32>, tensor<2x4xi32>, tensor<2xi32>) -> tensor<4x16x40xf32>
  return
}

// -----

func.func @gather_block_table_rank(%cache: tensor<8x16x40xf32>, %bt: tensor<8xi32>) {
  // expected-error @+1 {{'block_table' must have rank 2, got rank 1}}
  %0, %1 = mla.kv_cache_gather %cache[%bt] : tensor<8x16x40xf32>[tensor<8xi32>] -> tensor<2x64x32xf32>, tensor<2x64x8xf32>
  return
}

// -----

func.func @gather_batch(%cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>) {
  // expected-error @+1 {{latent batch (3) does not match block_table batch (2)}}
  %0, %1 = mla.kv_cache_gather %cache[%bt] : tensor<8x16x40xf32>[tensor<2x4xi32>] -> tensor<3x64x32xf32>, tensor<3x64x8xf32>
  return
}

// -----

func.func @gather_positions(%cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>) {
  // expected-error @+1 {{latent positions (32) does not match pages per sequence * block size (64)}}
  %0, %1 = mla.kv_cache_gather %cache[%bt] : tensor<8x16x40xf32>[tensor<2x4xi32>] -> tensor<2x32x32xf32>, tensor<2x32x8xf32>
  return
}

// -----

func.func @gather_row_width(%cache: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>) {
  // expected-error @+1 {{cache row width (40) does not match kv_lora_rank + rope dim (48)}}
  %0, %1 = mla.kv_cache_gather %cache[%bt] : tensor<8x16x40xf32>[tensor<2x4xi32>] -> tensor<2x64x32xf32>, tensor<2x64x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// mla.attention
//===----------------------------------------------------------------------===//

// -----

func.func @attn_query_rank(%q: tensor<2x1x64xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{'query' must have rank 4, got rank 3}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x64xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_key_rank(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x64xf32>, %v: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{'key' must have rank 4, got rank 3}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x64xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_value_rank(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %v: tensor<2x8x64xf32>) {
  // expected-error @+1 {{'value' must have rank 4, got rank 3}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x64xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_result_rank(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{'result' must have rank 4, got rank 3}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x64xf32>
  return
}

// -----

func.func @attn_dynamic_heads(%q: tensor<2x1x?x16xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{query heads (dimension 2 of 'query') must be static}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x?x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_zero_head_dim(%q: tensor<2x1x4x0xf32>, %k: tensor<2x8x4x0xf32>) {
  // expected-error @+1 {{query head dim (dimension 3 of 'query') must be nonzero}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x0xf32>, tensor<2x8x4x0xf32>, tensor<2x8x4x0xf32> -> tensor<2x1x4x0xf32>
  return
}

// -----

func.func @attn_dynamic_kv_heads(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x?x16xf32>) {
  // expected-error @+1 {{key/value heads (dimension 2 of 'key') must be static}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x?x16xf32>, tensor<2x8x?x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_dynamic_v_dim(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %v: tensor<2x8x4x?xf32>) {
  // expected-error @+1 {{value head dim (dimension 3 of 'value') must be static}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x?xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_key_batch(%q: tensor<2x1x4x16xf32>, %k: tensor<3x8x4x16xf32>, %v: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{key batch (3) does not match query batch (2)}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<3x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_value_batch(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %v: tensor<3x8x4x16xf32>) {
  // expected-error @+1 {{value batch (3) does not match query batch (2)}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<3x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_result_batch(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{result batch (1) does not match query batch (2)}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<1x1x4x16xf32>
  return
}

// -----

func.func @attn_result_tokens(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{result tokens (2) does not match query tokens (1)}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x2x4x16xf32>
  return
}

// -----

func.func @attn_result_heads(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{result heads (8) does not match query heads (4)}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x8x16xf32>
  return
}

// -----

func.func @attn_value_positions(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %v: tensor<2x9x4x16xf32>) {
  // expected-error @+1 {{value positions (9) does not match key positions (8)}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x9x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_value_heads(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %v: tensor<2x8x2x16xf32>) {
  // expected-error @+1 {{value heads (2) does not match key heads (4)}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x2x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_key_dim(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x32xf32>, %v: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{key head dim (32) does not match query head dim (16)}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x32xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_result_dim(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %v: tensor<2x8x4x32xf32>) {
  // expected-error @+1 {{result head dim (16) does not match value head dim (32)}}
  %0 = mla.attention %q, %k, %v {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x32xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_gqa_groups(%q: tensor<2x1x6x16xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{query heads (6) must be a multiple of key/value heads (4)}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x6x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x6x16xf32>
  return
}

// -----

func.func @attn_rope_pair(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x4x8xf32>) {
  // expected-error @+1 {{'query_rope' and 'key_rope' must be given together}}
  %0 = "mla.attention"(%q, %k, %k, %qr) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0, 0>, scale = 0.25 : f32}> : (tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32>, tensor<2x1x4x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_qrope_rank(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x32xf32>, %kr: tensor<2x8x8xf32>) {
  // expected-error @+1 {{'query_rope' must have rank 4, got rank 3}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x32xf32>, tensor<2x8x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_krope_rank(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x4x8xf32>, %kr: tensor<2x8x1x8xf32>) {
  // expected-error @+1 {{'key_rope' must have rank 3, got rank 4}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x4x8xf32>, tensor<2x8x1x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_rope_dim_dynamic(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x4x?xf32>, %kr: tensor<2x8x8xf32>) {
  // expected-error @+1 {{rope dim (dimension 3 of 'query_rope') must be static}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x4x?xf32>, tensor<2x8x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_qrope_batch(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<3x1x4x8xf32>, %kr: tensor<2x8x8xf32>) {
  // expected-error @+1 {{query_rope batch (3) does not match query batch (2)}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<3x1x4x8xf32>, tensor<2x8x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_qrope_tokens(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x2x4x8xf32>, %kr: tensor<2x8x8xf32>) {
  // expected-error @+1 {{query_rope tokens (2) does not match query tokens (1)}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x2x4x8xf32>, tensor<2x8x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_qrope_heads(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x1x8xf32>, %kr: tensor<2x8x8xf32>) {
  // expected-error @+1 {{query_rope heads (1) does not match query heads (4)}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x1x8xf32>, tensor<2x8x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_krope_batch(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x4x8xf32>, %kr: tensor<1x8x8xf32>) {
  // expected-error @+1 {{key_rope batch (1) does not match query batch (2)}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x4x8xf32>, tensor<1x8x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_krope_positions(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x4x8xf32>, %kr: tensor<2x4x8xf32>) {
  // expected-error @+1 {{key_rope positions (4) does not match key positions (8)}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x4x8xf32>, tensor<2x4x8xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_krope_dim(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x4x8xf32>, %kr: tensor<2x8x4xf32>) {
  // expected-error @+1 {{key_rope dim (4) does not match query_rope dim (8)}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x4x8xf32>, tensor<2x8x4xf32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_rope_elem(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x1x16xf32>, %qr: tensor<2x1x4x8xbf16>, %kr: tensor<2x8x8xbf16>) {
  // expected-error @+1 {{'query_rope' and 'key_rope' must have the element type of 'query' ('f32')}}
  %0 = mla.attention %q, %k, %k rope(%qr, %kr) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x1x16xf32>, tensor<2x8x1x16xf32> rope(tensor<2x1x4x8xbf16>, tensor<2x8x8xbf16>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_kv_lens_rank(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %l: tensor<2x1xi32>) {
  // expected-error @+1 {{'kv_lens' must have rank 1, got rank 2}}
  %0 = mla.attention %q, %k, %k kv_lens(%l) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> kv_lens(tensor<2x1xi32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_indices_rank(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %i: tensor<2x8xi32>) {
  // expected-error @+1 {{'indices' must have rank 3, got rank 2}}
  %0 = mla.attention %q, %k, %k indices(%i) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> indices(tensor<2x8xi32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_indices_batch(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %i: tensor<3x1x8xi32>) {
  // expected-error @+1 {{indices batch (3) does not match query batch (2)}}
  %0 = mla.attention %q, %k, %k indices(%i) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> indices(tensor<3x1x8xi32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_indices_tokens(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %i: tensor<2x2x8xi32>) {
  // expected-error @+1 {{indices tokens (2) does not match query tokens (1)}}
  %0 = mla.attention %q, %k, %k indices(%i) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> indices(tensor<2x2x8xi32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_kv_lens_batch(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>, %l: tensor<3xi32>) {
  // expected-error @+1 {{kv_lens batch (3) does not match query batch (2)}}
  %0 = mla.attention %q, %k, %k kv_lens(%l) {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> kv_lens(tensor<3xi32>) -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_scale(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{'scale' must be positive and finite, got 0}}
  %0 = mla.attention %q, %k, %k {scale = 0.0 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_elem(%q: tensor<2x1x4x16xbf16>, %k: tensor<2x8x4x16xf32>) {
  // expected-error @+1 {{all of {query, key, value, result} have same element type}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x16xbf16>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @attn_layer_heads(%q: tensor<2x1x4x16xf32>, %k: tensor<2x8x4x16xf32>) attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 8, num_key_value_heads = 8, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>} {
  // expected-error @+1 {{query heads (4) does not match the layer's num_attention_heads (8)}}
  %0 = mla.attention %q, %k, %k {scale = 0.25 : f32} : tensor<2x1x4x16xf32>, tensor<2x8x4x16xf32>, tensor<2x8x4x16xf32> -> tensor<2x1x4x16xf32>
  return
}

//===----------------------------------------------------------------------===//
// mla.head_linear and mla.decode_attention
//===----------------------------------------------------------------------===//

// -----

func.func @hl_input_rank(%x: tensor<2x1x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{'input' must have rank 4, got rank 3}}
  %0 = mla.head_linear %x, %w : tensor<2x1x16xf32>, tensor<4x16x32xf32> -> tensor<2x1x4x32xf32>
  return
}

// -----

func.func @hl_weight_rank(%x: tensor<2x1x4x16xf32>, %w: tensor<16x32xf32>) {
  // expected-error @+1 {{'weight' must have rank 3, got rank 2}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<16x32xf32> -> tensor<2x1x4x32xf32>
  return
}

// -----

func.func @hl_result_rank(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{'result' must have rank 4, got rank 3}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<4x16x32xf32> -> tensor<2x1x128xf32>
  return
}

// -----

func.func @hl_batch(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{result batch (3) does not match input batch (2)}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<4x16x32xf32> -> tensor<3x1x4x32xf32>
  return
}

// -----

func.func @hl_tokens(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{result tokens (2) does not match input tokens (1)}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<4x16x32xf32> -> tensor<2x2x4x32xf32>
  return
}

// -----

func.func @hl_in_heads(%x: tensor<2x1x4x16xf32>, %w: tensor<8x16x32xf32>) {
  // expected-error @+1 {{input heads (4) does not match weight heads (8)}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<8x16x32xf32> -> tensor<2x1x8x32xf32>
  return
}

// -----

func.func @hl_res_heads(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{result heads (2) does not match weight heads (4)}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<4x16x32xf32> -> tensor<2x1x2x32xf32>
  return
}

// -----

func.func @hl_features(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{input features (16) does not match weight input features (32)}}
  %0 = mla.head_linear %x, %w {transpose_weight} : tensor<2x1x4x16xf32>, tensor<4x16x32xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @hl_out_features(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x32xf32>) {
  // expected-error @+1 {{result features (16) does not match weight output features (32)}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<4x16x32xf32> -> tensor<2x1x4x16xf32>
  return
}

// -----

func.func @hl_zero(%x: tensor<2x1x4x16xf32>, %w: tensor<4x16x0xf32>) {
  // expected-error @+1 {{weight size (dimension 2 of 'weight') must be nonzero}}
  %0 = mla.head_linear %x, %w : tensor<2x1x4x16xf32>, tensor<4x16x0xf32> -> tensor<2x1x4x0xf32>
  return
}

// -----

func.func @da_query_rank(%q: tensor<2x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'query' must have rank 4, got rank 3}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_cache_rank(%q: tensor<2x1x4x40xf32>, %c: tensor<128x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'cache' must have rank 3, got rank 2}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<128x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_bt_rank(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<8xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'block_table' must have rank 2, got rank 1}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<8xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_lens_rank(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2x1xi32>) {
  // expected-error @+1 {{'seq_lens' must have rank 1, got rank 2}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2x1xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_result_rank(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'result' must have rank 4, got rank 3}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_lse_rank(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'lse' must have rank 3, got rank 2}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4xf32>
  return
}

// -----

func.func @da_qlen(%q: tensor<2x?x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{query length (dimension 1 of 'query') must be static}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x?x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x?x4x32xf32>, tensor<2x4x?xf32>
  return
}

// -----

func.func @da_heads(%q: tensor<2x1x?x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{query heads (dimension 2 of 'query') must be static}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x?x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x?x32xf32>, tensor<2x?x1xf32>
  return
}

// -----

func.func @da_width(%q: tensor<2x1x4x?xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{query row width (dimension 3 of 'query') must be static}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x?xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_block(%q: tensor<2x1x4x40xf32>, %c: tensor<8x?x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{block size (dimension 1 of 'cache') must be static}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x?x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_dc(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{kv_lora_rank (dimension 3 of 'result') must be nonzero}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x0xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_row(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x48xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache row width (48) does not match query row width (40)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x48xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_bt_batch(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<3x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{block_table batch (3) does not match query batch (2)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<3x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_lens_batch(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<3xi32>) {
  // expected-error @+1 {{seq_lens batch (3) does not match query batch (2)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<3xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_res_batch(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{result batch (1) does not match query batch (2)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<1x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_res_tokens(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{result tokens (2) does not match query length (1)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x2x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_res_heads(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{result heads (8) does not match query heads (4)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_lse_batch(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{lse batch (1) does not match query batch (2)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<1x4x1xf32>
  return
}

// -----

func.func @da_lse_heads(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{lse heads (1) does not match query heads (4)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x1x1xf32>
  return
}

// -----

func.func @da_lse_tokens(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{lse tokens (4) does not match query length (1)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x4xf32>
  return
}

// -----

func.func @da_dc_width(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{kv_lora_rank (64) exceeds the query row width (40)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x64xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_scale(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'scale' must be positive and finite, got -1}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = -1.0 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_i64(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi64>, %l: tensor<2xi64>) {
  // expected-error @+1 {{operand #2 must be ranked tensor of 32-bit signless integer values}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi64>, tensor<2xi64>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_elem(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xbf16>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache element type 'bf16' must match the query's ('f32') when the cache has no scales}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xbf16>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_result_elem(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{all of {query, result} have same element type}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xbf16>, tensor<2x4x1xf32>
  return
}

//===----------------------------------------------------------------------===//
// mla.decode_attention variants (#mla.decode_variant, sinks, cache_scale)
//===----------------------------------------------------------------------===//

// -----

func.func @da_cache_width_dyn(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x?xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache row width (dimension 2 of 'cache') must be static}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x?xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_indices_rank(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'block_table' must have rank 3, got rank 2}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_indices_tokens(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x3x64xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{indices tokens (3) does not match query length (1)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x3x64xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_indices_topk(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x1x?xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{topk (dimension 2 of 'block_table') must be static}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x1x?xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_indices_causal(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x1x64xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{keys = indices take no causal or window (each query sees the tokens of its index row)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, causal, variant = #mla.decode_variant<keys = indices>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x1x64xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_indices_window(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x1x64xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{keys = indices take no causal or window (each query sees the tokens of its index row)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices, window = 128>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x1x64xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_value_row(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{result width (32) does not match query row width (value = row) (40)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<value = row>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_fp8_no_scales(%q: tensor<2x1x4x40xbf16>, %c: tensor<8x16x40xf8E4M3FN>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache element type 'f8E4M3FN' must match the query's ('bf16') when the cache has no scales}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x4x40xbf16>, tensor<8x16x40xf8E4M3FN>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xbf16>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_per_tensor_elem(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache element type 'f32' must be f8E4M3FN with per_tensor scales}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] cache_scale(%s : tensor<f32>) {scale = 0.25 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_per_tensor_scale(%q: tensor<2x1x4x40xbf16>, %c: tensor<8x16x40xf8E4M3FN>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{per_tensor scales need the cache_scale operand}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<2x1x4x40xbf16>, tensor<8x16x40xf8E4M3FN>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xbf16>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_scale_unused(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache_scale is only read with per_tensor scales}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] cache_scale(%s : tensor<f32>) {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_scale_rank(%q: tensor<2x1x4x40xbf16>, %c: tensor<8x16x40xf8E4M3FN>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>, %s: tensor<1xf32>) {
  // expected-error @+1 {{operand #4 must be 0D tensor of 32-bit float values}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] cache_scale(%s : tensor<1xf32>) {scale = 0.25 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<2x1x4x40xbf16>, tensor<8x16x40xf8E4M3FN>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xbf16>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_row_groups_elem(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache element type 'f32' must be i8 (bytes) with row_groups scales}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_row_groups_value(%q: tensor<2x1x4x576xbf16>, %c: tensor<8x64x656xi8>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{row_groups scales need value = latent (the rope part is stored apart from the quantized values)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, value = row>} : tensor<2x1x4x576xbf16>, tensor<8x64x656xi8>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x576xbf16>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_row_groups_multiple(%q: tensor<2x1x4x576xbf16>, %c: tensor<8x64x656xi8>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{kv_lora_rank (512) must be a multiple of scale_group (96) with row_groups scales}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 96>} : tensor<2x1x4x576xbf16>, tensor<8x64x656xi8>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x512xbf16>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_row_groups_bytes(%q: tensor<2x1x4x576xbf16>, %c: tensor<8x64x640xi8>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache row bytes (640) does not match d_c + 4 d_c / scale_group + 2 d_r (656)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups>} : tensor<2x1x4x576xbf16>, tensor<8x64x640xi8>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x512xbf16>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_sinks_heads(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{sinks (3) does not match query heads (4)}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] sinks(%s : tensor<3xf32>) {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @da_sinks_rank(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>, %s: tensor<1x4xf32>) {
  // expected-error @+1 {{'sinks' must have rank 1, got rank 2}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] sinks(%s : tensor<1x4xf32>) {scale = 0.25 : f32} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @dv_window(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{window must be positive, got 0}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<window = 0>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @dv_group(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{scale_group must be positive, got -4}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = -4>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

// -----

func.func @dv_group_unused(%q: tensor<2x1x4x40xf32>, %c: tensor<8x16x40xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{scale_group (64) applies to scales = row_groups only}}
  %0, %1 = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scale_group = 64>} : tensor<2x1x4x40xf32>, tensor<8x16x40xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x4x32xf32>, tensor<2x4x1xf32>
  return
}

//===----------------------------------------------------------------------===//
// #mla.layer_config and the mla.layer function attribute
//===----------------------------------------------------------------------===//

// -----

// expected-error @+1 {{layer_config: hidden_size must be positive, got 0}}
func.func private @cfg_hidden() attributes {mla.layer = #mla.layer_config<hidden_size = 0, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: num_attention_heads must be positive, got -4}}
func.func private @cfg_heads() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = -4, num_key_value_heads = 4, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: num_key_value_heads must be positive, got 0}}
func.func private @cfg_kv_heads() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 0, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: q_lora_rank must be positive, got 0}}
func.func private @cfg_q_lora() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 0, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>}

// -----

// expected-error @+1 {{layer_config: kv_lora_rank must be positive, got 0}}
func.func private @cfg_kv_lora() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 0, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>}

// -----

// expected-error @+1 {{layer_config: qk_nope_head_dim must be positive, got 0}}
func.func private @cfg_nope() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 0, qk_rope_head_dim = 8, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>}

// -----

// expected-error @+1 {{layer_config: v_head_dim must be positive, got -1}}
func.func private @cfg_v() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = -1, rope_theta = 10000.0, rope_style = interleaved>}

// -----

// expected-error @+1 {{layer_config: head_dim must be positive, got 0}}
func.func private @cfg_head_dim() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 0, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: num_attention_heads (6) must be a multiple of num_key_value_heads (4)}}
func.func private @cfg_groups() attributes {mla.layer = #mla.layer_config<hidden_size = 96, num_attention_heads = 6, num_key_value_heads = 4, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: rope_theta must be positive and finite, got 0}}
func.func private @cfg_theta() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 16, rope_theta = 0.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: an MLA layer (kv_lora_rank set) needs qk_nope_head_dim, qk_rope_head_dim and v_head_dim}}
func.func private @cfg_mla_partial() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>}

// -----

// expected-error @+1 {{layer_config: head_dim is for standard attention; an MLA layer uses qk_nope_head_dim, qk_rope_head_dim and v_head_dim}}
func.func private @cfg_mla_head_dim() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16, head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>}

// -----

// expected-error @+1 {{layer_config: qk_rope_head_dim must be even and non-negative, got 7}}
func.func private @cfg_rope_odd() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 7, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved>}

// -----

// expected-error @+1 {{layer_config: set kv_lora_rank (MLA) or head_dim (standard attention)}}
func.func private @cfg_neither() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: an indexer needs index_n_heads, index_head_dim and index_topk}}
func.func private @cfg_index_partial() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 48, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 4, index_topk = 8>}

// -----

// expected-error @+1 {{layer_config: index_topk must be positive, got 0}}
func.func private @cfg_index_zero() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 48, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 4, index_head_dim = 32, index_topk = 0>}

// -----

// expected-error @+1 {{layer_config: index_n_heads must be positive, got 0}}
func.func private @cfg_index_heads_zero() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 48, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 0, index_head_dim = 32, index_topk = 8>}

// -----

// expected-error @+1 {{layer_config: index_head_dim must be positive, got -1}}
func.func private @cfg_index_dim_zero() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 48, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 4, index_head_dim = -1, index_topk = 8>}

// -----

// expected-error @+1 {{layer_config: an indexer needs an MLA layer with q_lora_rank (its queries come from the query latent)}}
func.func private @cfg_index_no_q_lora() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 4, index_head_dim = 32, index_topk = 8>}

// -----

// expected-error @+1 {{layer_config: index_head_dim (16) must exceed qk_rope_head_dim (16), which it rotates}}
func.func private @cfg_index_dim_small() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 48, kv_lora_rank = 32, qk_nope_head_dim = 16, qk_rope_head_dim = 16, v_head_dim = 16, rope_theta = 10000.0, rope_style = interleaved, index_n_heads = 4, index_head_dim = 16, index_topk = 8>}

// -----

// expected-error @+1 {{layer_config: q_lora_rank, qk_nope_head_dim, qk_rope_head_dim and v_head_dim need kv_lora_rank}}
func.func private @cfg_q_lora_standard() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, q_lora_rank = 32, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{layer_config: head_dim must be even for rotary embedding, got 15}}
func.func private @cfg_head_dim_odd() attributes {mla.layer = #mla.layer_config<hidden_size = 60, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 15, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{struct is missing required parameter: rope_style}}
func.func private @cfg_missing() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 16, rope_theta = 10000.0>}

// -----

// expected-error @+1 {{duplicate or unknown struct parameter name: num_layers}}
func.func private @cfg_unknown_param() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_layers = 4, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>}

// -----

// expected-error @+1 {{'mla.layer' must be a #mla.layer_config attribute, got 42 : i64}}
func.func private @layer_not_config() attributes {mla.layer = 42}

// -----

// expected-error @+1 {{unknown mla dialect attribute 'mla.layers'}}
func.func private @unknown_dialect_attr() attributes {mla.layers = 1}

// -----

// expected-error @+1 {{unknown attribute `layer_cfg` in dialect `mla`}}
func.func private @unknown_attr() attributes {mla.layer = #mla.layer_cfg<>}

// -----

// Decode attention over head caches (GQA).
func.func @da_heads_cache_rank(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x64xf32>, %v: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'cache' must have rank 4, got rank 3}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x64xf32>, tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_value_rank(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x16x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'value_cache' must have rank 4, got rank 3}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x16x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_dynamic(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x?x64xf32>, %v: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{KV heads (dimension 2 of 'cache') must be static}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x?x64xf32>, tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_value_dim(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x16x2x?xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{value head dim (dimension 3 of 'value_cache') must be static}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x16x2x?xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_divide(%q: tensor<2x1x6x64xf32>, %k: tensor<4x16x4x64xf32>, %v: tensor<4x16x4x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{query heads (6) must be a multiple of the KV heads (4)}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x6x64xf32>, tensor<4x16x4x64xf32>, tensor<4x16x4x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x6x64xf32>, tensor<2x6x1xf32>
  return
}

// -----

func.func @da_heads_variant(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{a value_cache needs keys = pages, scales = none and value = latent}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<value = row>} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_cache_scale(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>, %cs: tensor<f32>) {
  // expected-error @+1 {{cache_scale is only read with per_tensor scales}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] cache_scale(%cs : tensor<f32>) {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_elem(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x16x2x64xbf16>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache and value_cache element types must match the query's ('f32')}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x16x2x64xbf16>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_pages(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<5x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{value_cache pages (5) does not match cache pages (4)}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<5x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_block(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x32x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{value_cache block size (32) does not match cache block size (16)}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x32x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_heads(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x16x4x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{value_cache heads (4) does not match cache heads (2)}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x16x4x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_key_dim(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x128xf32>, %v: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{cache head dim (128) does not match query head dim (64)}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x128xf32>, tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
  return
}

// -----

func.func @da_heads_value_width(%q: tensor<2x1x8x64xf32>, %k: tensor<4x16x2x64xf32>, %v: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{value_cache head dim (64) does not match result head dim (32)}}
  %0, %1 = mla.decode_attention %q, %k, %v[%bt, %l] {scale = 0.25 : f32} : tensor<2x1x8x64xf32>, tensor<4x16x2x64xf32>, tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>] -> tensor<2x1x8x32xf32>, tensor<2x8x1xf32>
  return
}

// -----

// Paged head caches.
func.func @append_head_rope(%k: tensor<2x1x2x64xf32>, %r: tensor<2x1x0xf32>, %kc: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{a head cache [NB, BS, G, D] takes no key_rope}}
  %0 = mla.kv_cache_append %k, %r into %kc[%bt, %l] : tensor<2x1x2x64xf32>, tensor<2x1x0xf32> into tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_latent_no_rope(%c: tensor<2x1x64xf32>, %kc: tensor<4x16x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{a latent cache needs key_rope (of width 0 without RoPE)}}
  %0 = mla.kv_cache_append %c into %kc[%bt, %l] : tensor<2x1x64xf32> into tensor<4x16x64xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_rope_type(%c: tensor<2x1x64xf32>, %r: tensor<2x1x8xbf16>, %kc: tensor<4x16x72xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{key_rope element type 'bf16' must match the latent's}}
  %0 = mla.kv_cache_append %c, %r into %kc[%bt, %l] : tensor<2x1x64xf32>, tensor<2x1x8xbf16> into tensor<4x16x72xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_head_rank(%k: tensor<2x1x128xf32>, %kc: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{'latent' must have rank 4, got rank 3}}
  %0 = mla.kv_cache_append %k into %kc[%bt, %l] : tensor<2x1x128xf32> into tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_head_dynamic(%k: tensor<2x1x?x64xf32>, %kc: tensor<4x16x?x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{KV heads (dimension 2 of 'cache') must be static}}
  %0 = mla.kv_cache_append %k into %kc[%bt, %l] : tensor<2x1x?x64xf32> into tensor<4x16x?x64xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_head_block(%k: tensor<2x1x2x64xf32>, %kc: tensor<4x?x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{block size (dimension 1 of 'cache') must be static}}
  %0 = mla.kv_cache_append %k into %kc[%bt, %l] : tensor<2x1x2x64xf32> into tensor<4x?x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_head_dim(%k: tensor<2x1x2x64xf32>, %kc: tensor<4x16x2x?xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{head dim (dimension 3 of 'cache') must be static}}
  %0 = mla.kv_cache_append %k into %kc[%bt, %l] : tensor<2x1x2x64xf32> into tensor<4x16x2x?xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_head_heads(%k: tensor<2x1x4x64xf32>, %kc: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{latent heads (4) does not match cache heads (2)}}
  %0 = mla.kv_cache_append %k into %kc[%bt, %l] : tensor<2x1x4x64xf32> into tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_head_width(%k: tensor<2x1x2x32xf32>, %kc: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>, %l: tensor<2xi32>) {
  // expected-error @+1 {{latent head dim (32) does not match cache head dim (64)}}
  %0 = mla.kv_cache_append %k into %kc[%bt, %l] : tensor<2x1x2x32xf32> into tensor<4x16x2x64xf32>[tensor<2x4xi32>, tensor<2xi32>]
  return
}

// -----

func.func @gather_head_rope(%kc: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>) {
  // expected-error @+1 {{a head cache [NB, BS, G, D] has no key_rope}}
  %0, %1 = mla.kv_cache_gather %kc[%bt] : tensor<4x16x2x64xf32>[tensor<2x4xi32>] -> tensor<2x64x2x64xf32>, tensor<2x64x0xf32>
  return
}

// -----

func.func @gather_latent_no_rope(%c: tensor<4x16x64xf32>, %bt: tensor<2x4xi32>) {
  // expected-error @+1 {{a latent cache gives key_rope (of width 0 without RoPE)}}
  %0 = mla.kv_cache_gather %c[%bt] : tensor<4x16x64xf32>[tensor<2x4xi32>] -> tensor<2x64x64xf32>
  return
}

// -----

func.func @gather_rope_type(%c: tensor<4x16x72xf32>, %bt: tensor<2x4xi32>) {
  // expected-error @+1 {{key_rope element type 'bf16' must match the latent's}}
  %0, %1 = mla.kv_cache_gather %c[%bt] : tensor<4x16x72xf32>[tensor<2x4xi32>] -> tensor<2x64x64xf32>, tensor<2x64x8xbf16>
  return
}

// -----

func.func @gather_head_positions(%kc: tensor<4x16x2x64xf32>, %bt: tensor<2x4xi32>) {
  // expected-error @+1 {{latent positions (32) does not match pages per sequence * block size (64)}}
  %0 = mla.kv_cache_gather %kc[%bt] : tensor<4x16x2x64xf32>[tensor<2x4xi32>] -> tensor<2x32x2x64xf32>
  return
}

// -----

// expected-error @+1 {{'mla.tensor_map_params' must be on a function}}
module attributes {mla.tensor_map_params = 1 : i64} {
}

// -----

// expected-error @+1 {{'mla.tensor_map_params' must be an integer between 0 and the function's 1 arguments, got 2 : i64}}
llvm.func @too_many(%map: !llvm.ptr) attributes {mla.tensor_map_params = 2 : i64} {
  llvm.return
}

// -----

// expected-error @+1 {{'mla.tensor_map_params' must be an integer between 0 and the function's 1 arguments, got "two"}}
llvm.func @not_integer(%map: !llvm.ptr) attributes {mla.tensor_map_params = "two"} {
  llvm.return
}

// -----

//===----------------------------------------------------------------------===//
// mla.layer_norm
//===----------------------------------------------------------------------===//

func.func @layer_norm_rank0(%x: tensor<f32>, %g: tensor<8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'input' must have rank at least 1}}
  %0 = mla.layer_norm %x, %g, %b : tensor<f32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @layer_norm_gamma_rank(%x: tensor<2x8xf32>, %g: tensor<1x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'gamma' must have rank 1, got rank 2}}
  %0 = mla.layer_norm %x, %g, %b : tensor<2x8xf32>, tensor<1x8xf32>, tensor<8xf32>
  return
}

// -----

func.func @layer_norm_beta_rank(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<f32>) {
  // expected-error @+1 {{'beta' must have rank 1, got rank 0}}
  %0 = mla.layer_norm %x, %g, %b : tensor<2x8xf32>, tensor<8xf32>, tensor<f32>
  return
}

// -----

func.func @layer_norm_dynamic(%x: tensor<2x?xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{normalized dimension (dimension 1 of 'input') must be static}}
  %0 = mla.layer_norm %x, %g, %b : tensor<2x?xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

func.func @layer_norm_gamma_size(%x: tensor<2x8xf32>, %g: tensor<4xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{gamma size (4) does not match normalized dimension (8)}}
  %0 = mla.layer_norm %x, %g, %b : tensor<2x8xf32>, tensor<4xf32>, tensor<8xf32>
  return
}

// -----

func.func @layer_norm_beta_size(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<16xf32>) {
  // expected-error @+1 {{beta size (16) does not match normalized dimension (8)}}
  %0 = mla.layer_norm %x, %g, %b : tensor<2x8xf32>, tensor<8xf32>, tensor<16xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'epsilon' must be positive and finite, got 0}}
  %0 = mla.layer_norm %x, %g, %b {epsilon = 0.0 : f32} : tensor<2x8xf32>, tensor<8xf32>, tensor<8xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// mla.index_score
//===----------------------------------------------------------------------===//

func.func @index_score_query_rank(%q: tensor<?x2x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{'query' must have rank 4, got rank 3}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_key_rank(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x1x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{'key' must have rank 3, got rank 4}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x1x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_weights_rank(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x4xf32>) {
  // expected-error @+1 {{'weights' must have rank 3, got rank 2}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_result_rank(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{'result' must have rank 3, got rank 4}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x4x?xf32>
  return
}

// -----

func.func @index_score_heads_dynamic(%q: tensor<?x2x?x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{index heads (dimension 2 of 'query') must be static}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x?x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_dim_zero(%q: tensor<?x2x4x0xf32>, %k: tensor<?x?x0xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{index head dim (dimension 3 of 'query') must be nonzero}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x0xf32>, tensor<?x?x0xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_key_batch(%q: tensor<2x2x4x16xf32>, %k: tensor<3x?x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{key batch (3) does not match query batch (2)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<2x2x4x16xf32>, tensor<3x?x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_key_dim(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x8xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{key dim (8) does not match query head dim (16)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x8xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_weights_batch(%q: tensor<2x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<5x2x4xf32>) {
  // expected-error @+1 {{weights batch (5) does not match query batch (2)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<2x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<5x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_weights_tokens(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x1x4xf32>) {
  // expected-error @+1 {{weights tokens (1) does not match query tokens (2)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x1x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_weights_heads(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x8xf32>) {
  // expected-error @+1 {{weights heads (8) does not match index heads (4)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_result_batch(%q: tensor<2x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{result batch (1) does not match query batch (2)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<2x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) -> tensor<1x2x?xf32>
  return
}

// -----

func.func @index_score_result_tokens(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{result tokens (3) does not match query tokens (2)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x3x?xf32>
  return
}

// -----

func.func @index_score_result_positions(%q: tensor<?x2x4x16xf32>, %k: tensor<?x8x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{result positions (9) does not match key positions (8)}}
  %0 = mla.index_score %q, %k weights(%w) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x8x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x9xf32>
  return
}

// -----

func.func @index_score_qr_rank(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x8xf32>, %kr: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'query_rope' must have rank 4, got rank 3}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x8xf32>, tensor<?x?x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_kr_rank(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x4x8xf32>, %kr: tensor<?x8xf32>) {
  // expected-error @+1 {{'key_rope' must have rank 3, got rank 2}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x4x8xf32>, tensor<?x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_rope_dynamic(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x4x?xf32>, %kr: tensor<?x?x8xf32>) {
  // expected-error @+1 {{rope dim (dimension 3 of 'query_rope') must be static}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x4x?xf32>, tensor<?x?x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_qr_batch(%q: tensor<2x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<3x2x4x8xf32>, %kr: tensor<?x?x8xf32>) {
  // expected-error @+1 {{query_rope batch (3) does not match query batch (2)}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<2x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<3x2x4x8xf32>, tensor<?x?x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_qr_tokens(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x1x4x8xf32>, %kr: tensor<?x?x8xf32>) {
  // expected-error @+1 {{query_rope tokens (1) does not match query tokens (2)}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x1x4x8xf32>, tensor<?x?x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_qr_heads(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x2x8xf32>, %kr: tensor<?x?x8xf32>) {
  // expected-error @+1 {{query_rope heads (2) does not match index heads (4)}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x2x8xf32>, tensor<?x?x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_kr_batch(%q: tensor<2x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x4x8xf32>, %kr: tensor<3x?x8xf32>) {
  // expected-error @+1 {{key_rope batch (3) does not match query batch (2)}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<2x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x4x8xf32>, tensor<3x?x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_kr_positions(%q: tensor<?x2x4x16xf32>, %k: tensor<?x8x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x4x8xf32>, %kr: tensor<?x7x8xf32>) {
  // expected-error @+1 {{key_rope positions (7) does not match key positions (8)}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x8x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x4x8xf32>, tensor<?x7x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_kr_dim(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x4x8xf32>, %kr: tensor<?x?x4xf32>) {
  // expected-error @+1 {{key_rope dim (4) does not match query_rope dim (8)}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x4x8xf32>, tensor<?x?x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_rope_type(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x4x8xbf16>, %kr: tensor<?x?x8xbf16>) {
  // expected-error @+1 {{'query_rope' and 'key_rope' must have the element type of 'query' ('f32')}}
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) rope(tensor<?x2x4x8xbf16>, tensor<?x?x8xbf16>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_lens_rank(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %l: tensor<?x1xi32>) {
  // expected-error @+1 {{'kv_lens' must have rank 1, got rank 2}}
  %0 = mla.index_score %q, %k weights(%w) kv_lens(%l) {scale = 0.5 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) kv_lens(tensor<?x1xi32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_lens_batch(%q: tensor<2x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %l: tensor<3xi32>) {
  // expected-error @+1 {{kv_lens batch (3) does not match query batch (2)}}
  %0 = mla.index_score %q, %k weights(%w) kv_lens(%l) {scale = 0.5 : f32} : tensor<2x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) kv_lens(tensor<3xi32>) -> tensor<?x2x?xf32>
  return
}

// -----

func.func @index_score_scale(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>) {
  // expected-error @+1 {{'scale' must be positive and finite, got -1}}
  %0 = mla.index_score %q, %k weights(%w) {scale = -1.0 : f32} : tensor<?x2x4x16xf32>, tensor<?x?x16xf32> weights(tensor<?x2x4xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// mla.topk
//===----------------------------------------------------------------------===//

func.func @topk_k_zero(%s: tensor<?x2x?xf32>) {
  // expected-error @+1 {{'k' must be in 1..2147483647, got 0}}
  %0 = mla.topk %s {k = 0} : tensor<?x2x?xf32> -> tensor<?x2x0xi32>
  return
}

// -----

func.func @topk_k_large(%s: tensor<?x2x?xf32>) {
  // expected-error @+1 {{'k' must be in 1..2147483647, got 4294967296}}
  %0 = mla.topk %s {k = 4294967296} : tensor<?x2x?xf32> -> tensor<?x2x?xi32>
  return
}

// -----

func.func @topk_scores_rank(%s: tensor<?x?xf32>) {
  // expected-error @+1 {{'scores' must have rank 3, got rank 2}}
  %0 = mla.topk %s {k = 4} : tensor<?x?xf32> -> tensor<?x2x4xi32>
  return
}

// -----

func.func @topk_result_rank(%s: tensor<?x2x?xf32>) {
  // expected-error @+1 {{'result' must have rank 3, got rank 2}}
  %0 = mla.topk %s {k = 4} : tensor<?x2x?xf32> -> tensor<?x4xi32>
  return
}

// -----

func.func @topk_result_batch(%s: tensor<1x2x?xf32>) {
  // expected-error @+1 {{result batch (2) does not match scores batch (1)}}
  %0 = mla.topk %s {k = 4} : tensor<1x2x?xf32> -> tensor<2x2x4xi32>
  return
}

// -----

func.func @topk_result_tokens(%s: tensor<?x2x?xf32>) {
  // expected-error @+1 {{result tokens (3) does not match scores tokens (2)}}
  %0 = mla.topk %s {k = 4} : tensor<?x2x?xf32> -> tensor<?x3x4xi32>
  return
}

// -----

func.func @topk_result_slots(%s: tensor<?x2x?xf32>) {
  // expected-error @+1 {{result slots (dimension 2 of 'result', 8) must be k (4)}}
  %0 = mla.topk %s {k = 4} : tensor<?x2x?xf32> -> tensor<?x2x8xi32>
  return
}

// -----

func.func @topk_result_slots_dynamic(%s: tensor<?x2x?xf32>) {
  // expected-error @+1 {{result slots (dimension 2 of 'result', ?) must be k (4)}}
  %0 = mla.topk %s {k = 4} : tensor<?x2x?xf32> -> tensor<?x2x?xi32>
  return
}

// -----

func.func @index_score_rope_alone(%q: tensor<?x2x4x16xf32>, %k: tensor<?x?x16xf32>, %w: tensor<?x2x4xf32>, %qr: tensor<?x2x4x8xf32>) {
  // expected-error @+1 {{'query_rope' and 'key_rope' must be given together}}
  %0 = "mla.index_score"(%q, %k, %w, %qr) <{operandSegmentSizes = array<i32: 1, 1, 1, 1, 0, 0>, scale = 0.5 : f32}> : (tensor<?x2x4x16xf32>, tensor<?x?x16xf32>, tensor<?x2x4xf32>, tensor<?x2x4x8xf32>) -> tensor<?x2x?xf32>
  return
}

// -----

//===----------------------------------------------------------------------===//
// fp8 rows of mla.kv_cache_append / mla.kv_cache_gather
//===----------------------------------------------------------------------===//

func.func @append_fp8_not_i8(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x40xf32>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{scale_group (fp8 rows) needs an i8 cache, got 'f32'}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] {scale_group = 16 : i64} : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x40xf32>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_i8_no_group(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x56xi8>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{cache element type 'i8' must match the latent's ('f32'; an i8 cache of fp8 rows needs scale_group)}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x56xi8>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_fp8_group(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x56xi8>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{scale_group (24) must divide kv_lora_rank (32)}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] {scale_group = 24 : i64} : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x56xi8>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_fp8_bytes(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x40xi8>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{cache row bytes (40) does not match kv_lora_rank + 4 kv_lora_rank / scale_group + 2 rope dim (56)}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] {scale_group = 16 : i64} : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x40xi8>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_fp8_heads(%l: tensor<2x1x2x16xf32>, %c: tensor<4x4x2x16xi8>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{fp8 rows are rows of a latent cache, not of a head cache}}
  %0 = mla.kv_cache_append %l into %c[%bt, %n] {scale_group = 16 : i64} : tensor<2x1x2x16xf32> into tensor<4x4x2x16xi8>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @gather_fp8_not_i8(%c: tensor<4x4x40xbf16>, %bt: tensor<2x2xi32>) {
  // expected-error @+1 {{scale_group (fp8 rows) needs an i8 cache, got 'bf16'}}
  %0, %1 = mla.kv_cache_gather %c[%bt] {scale_group = 16 : i64} : tensor<4x4x40xbf16>[tensor<2x2xi32>] -> tensor<2x8x32xbf16>, tensor<2x8x8xbf16>
  return
}

// -----

//===----------------------------------------------------------------------===//
// fp8 with one scale (cache_scale) of mla.kv_cache_append / mla.kv_cache_gather
//===----------------------------------------------------------------------===//

func.func @append_scale_and_group(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x56xi8>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache_scale (one fp8 scale per tensor) and scale_group (fp8 rows) are exclusive}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] cache_scale(%s : tensor<f32>) {scale_group = 16 : i64} : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x56xi8>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_fp8_no_scale(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x40xf8E4M3FN>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>) {
  // expected-error @+1 {{an f8E4M3FN cache needs cache_scale (its values are e4m3 times the scale)}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x40xf8E4M3FN>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_scale_not_fp8(%l: tensor<2x1x32xbf16>, %r: tensor<2x1x8xbf16>, %c: tensor<4x4x40xbf16>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache_scale needs an f8E4M3FN cache, got 'bf16'}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] cache_scale(%s : tensor<f32>) : tensor<2x1x32xbf16>, tensor<2x1x8xbf16> into tensor<4x4x40xbf16>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_scale_heads(%k: tensor<2x1x2x16xf32>, %c: tensor<4x4x2x16xf8E4M3FN>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache_scale applies to a latent cache, not to a head cache}}
  %0 = mla.kv_cache_append %k into %c[%bt, %n] cache_scale(%s : tensor<f32>) : tensor<2x1x2x16xf32> into tensor<4x4x2x16xf8E4M3FN>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_scale_row_width(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x56xf8E4M3FN>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache row width (56) does not match kv_lora_rank + rope dim (40)}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] cache_scale(%s : tensor<f32>) : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x56xf8E4M3FN>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @append_scale_not_0d(%l: tensor<2x1x32xf32>, %r: tensor<2x1x8xf32>, %c: tensor<4x4x40xf8E4M3FN>, %bt: tensor<2x2xi32>, %n: tensor<2xi32>, %s: tensor<1xf32>) {
  // expected-error @+1 {{operand #5 must be 0D tensor of 32-bit float values}}
  %0 = mla.kv_cache_append %l, %r into %c[%bt, %n] cache_scale(%s : tensor<1xf32>) : tensor<2x1x32xf32>, tensor<2x1x8xf32> into tensor<4x4x40xf8E4M3FN>[tensor<2x2xi32>, tensor<2xi32>]
  return
}

// -----

func.func @gather_scale_and_group(%c: tensor<4x4x56xi8>, %bt: tensor<2x2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache_scale (one fp8 scale per tensor) and scale_group (fp8 rows) are exclusive}}
  %0, %1 = mla.kv_cache_gather %c[%bt] cache_scale(%s : tensor<f32>) {scale_group = 16 : i64} : tensor<4x4x56xi8>[tensor<2x2xi32>] -> tensor<2x8x32xbf16>, tensor<2x8x8xbf16>
  return
}

// -----

func.func @gather_fp8_no_scale(%c: tensor<4x4x40xf8E4M3FN>, %bt: tensor<2x2xi32>) {
  // expected-error @+1 {{an f8E4M3FN cache needs cache_scale (its values are e4m3 times the scale)}}
  %0, %1 = mla.kv_cache_gather %c[%bt] : tensor<4x4x40xf8E4M3FN>[tensor<2x2xi32>] -> tensor<2x8x32xbf16>, tensor<2x8x8xbf16>
  return
}

// -----

func.func @gather_scale_not_fp8(%c: tensor<4x4x40xbf16>, %bt: tensor<2x2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache_scale needs an f8E4M3FN cache, got 'bf16'}}
  %0, %1 = mla.kv_cache_gather %c[%bt] cache_scale(%s : tensor<f32>) : tensor<4x4x40xbf16>[tensor<2x2xi32>] -> tensor<2x8x32xbf16>, tensor<2x8x8xbf16>
  return
}

// -----

func.func @gather_scale_heads(%c: tensor<4x4x2x16xf8E4M3FN>, %bt: tensor<2x2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache_scale applies to a latent cache, not to a head cache}}
  %0 = mla.kv_cache_gather %c[%bt] cache_scale(%s : tensor<f32>) : tensor<4x4x2x16xf8E4M3FN>[tensor<2x2xi32>] -> tensor<2x8x2x16xf32>
  return
}

// -----

func.func @gather_scale_row_width(%c: tensor<4x4x56xf8E4M3FN>, %bt: tensor<2x2xi32>, %s: tensor<f32>) {
  // expected-error @+1 {{cache row width (56) does not match kv_lora_rank + rope dim (40)}}
  %0, %1 = mla.kv_cache_gather %c[%bt] cache_scale(%s : tensor<f32>) : tensor<4x4x56xf8E4M3FN>[tensor<2x2xi32>] -> tensor<2x8x32xbf16>, tensor<2x8x8xbf16>
  return
}
