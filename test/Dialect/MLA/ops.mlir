// RUN: mla-opt %s | mla-opt | FileCheck %s
// RUN: mla-opt %s --mlir-print-op-generic | mla-opt | FileCheck %s

// Round trip of every op, with static and dynamic batch/token sizes, both
// RoPE conventions, and MHA, MQA, GQA and the MLA decoupled-rope attention.

// CHECK-LABEL: func.func @projections
// CHECK: mla.linear %{{.*}}, %{{.*}} : tensor<?x3x64xf32>, tensor<64x32xf32> -> tensor<?x3x32xf32>
// CHECK: mla.linear %{{.*}}, %{{.*}} : tensor<64xbf16>, tensor<64x8xbf16> -> tensor<8xbf16>
// CHECK: mla.head_proj %{{.*}}, %{{.*}} : tensor<?x3x32xf32>, tensor<4x32x16xf32> -> tensor<?x3x4x16xf32>
// CHECK: mla.out_proj %{{.*}}, %{{.*}} : tensor<?x3x4x16xf32>, tensor<64x64xf32> -> tensor<?x3x64xf32>
func.func @projections(%h: tensor<?x3x64xf32>, %w: tensor<64x32xf32>,
                       %v: tensor<64xbf16>, %wv: tensor<64x8xbf16>,
                       %wu: tensor<4x32x16xf32>, %wo: tensor<64x64xf32>)
    -> (tensor<?x3x64xf32>, tensor<8xbf16>) {
  %c = mla.linear %h, %w : tensor<?x3x64xf32>, tensor<64x32xf32> -> tensor<?x3x32xf32>
  %c1 = mla.linear %v, %wv : tensor<64xbf16>, tensor<64x8xbf16> -> tensor<8xbf16>
  %q = mla.head_proj %c, %wu : tensor<?x3x32xf32>, tensor<4x32x16xf32> -> tensor<?x3x4x16xf32>
  %o = mla.out_proj %q, %wo : tensor<?x3x4x16xf32>, tensor<64x64xf32> -> tensor<?x3x64xf32>
  return %o, %c1 : tensor<?x3x64xf32>, tensor<8xbf16>
}

// CHECK-LABEL: func.func @norm_and_rope
// CHECK: mla.rms_norm %{{.*}}, %{{.*}} : tensor<2x?x32xf16>, tensor<32xf16>
// CHECK: mla.rms_norm %{{.*}}, %{{.*}} {epsilon = 9.99999974E-6 : f32} : tensor<2x?x32xf16>, tensor<32xf16>
// CHECK: mla.rope %{{.*}}, %{{.*}} {style = #mla.rope_style<interleaved>, theta = 1.000000e+04 : f64} : tensor<2x?x32xf16>, tensor<2x?xi64>
// CHECK: mla.rope %{{.*}}, %{{.*}} {style = #mla.rope_style<rotate_half>, theta = 5.000000e+05 : f64} : tensor<2x?x4x8xf16>, tensor<2x?xi32>
// CHECK: mla.rope %{{.*}}, %{{.*}} {conjugate, style = #mla.rope_style<rotate_half>, theta = 5.000000e+05 : f64} : tensor<2x?x4x8xf16>, tensor<2x?xi32>
func.func @norm_and_rope(%x: tensor<2x?x32xf16>, %g: tensor<32xf16>,
                         %p: tensor<2x?xi64>, %q: tensor<2x?x4x8xf16>,
                         %p32: tensor<2x?xi32>)
    -> (tensor<2x?x32xf16>, tensor<2x?x32xf16>, tensor<2x?x4x8xf16>) {
  %n = mla.rms_norm %x, %g : tensor<2x?x32xf16>, tensor<32xf16>
  %n2 = mla.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<2x?x32xf16>, tensor<32xf16>
  %r = mla.rope %n, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<2x?x32xf16>, tensor<2x?xi64>
  %r2 = mla.rope %q, %p32 {theta = 500000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<2x?x4x8xf16>, tensor<2x?xi32>
  %r3 = mla.rope %r2, %p32 {theta = 500000.0 : f64, style = #mla.rope_style<rotate_half>, conjugate} : tensor<2x?x4x8xf16>, tensor<2x?xi32>
  return %r, %n2, %r3 : tensor<2x?x32xf16>, tensor<2x?x32xf16>, tensor<2x?x4x8xf16>
}

// RoPE scaling: every type, defaults omitted when printed.
// CHECK-LABEL: func.func @rope_scaling
// CHECK: scaling = #mla.rope_scaling<rope_type = yarn, factor = 4.000000e+01, original_max_position_embeddings = 4096, mscale = 1.000000e+00, mscale_all_dim = 1.000000e+00>
// CHECK: scaling = #mla.rope_scaling<rope_type = longrope, factor = 4.000000e+00, original_max_position_embeddings = 32, short_factor = [1.000000e+00, 1.500000e+00], long_factor = [2.000000e+00, 3.000000e+00]>
// CHECK: scaling = #mla.rope_scaling<rope_type = llama3, factor = 8.000000e+00, original_max_position_embeddings = 8192, high_freq_factor = 2.000000e+00>
// CHECK: scaling = #mla.rope_scaling<rope_type = linear, factor = 2.000000e+00>
func.func @rope_scaling(%x: tensor<2x?x4xf32>, %p: tensor<2x?xi32>) -> (tensor<2x?x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>) {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = yarn, factor = 40.0, original_max_position_embeddings = 4096, beta_fast = 32.0, mscale = 1.0, mscale_all_dim = 1.0>} : tensor<2x?x4xf32>, tensor<2x?xi32>
  %1 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>, scaling = #mla.rope_scaling<rope_type = longrope, factor = 4.0, original_max_position_embeddings = 32, short_factor = [1.0, 1.5], long_factor = [2.0, 3.0]>} : tensor<2x?x4xf32>, tensor<2x?xi32>
  %2 = mla.rope %x, %p {theta = 500000.0 : f64, style = #mla.rope_style<rotate_half>, scaling = #mla.rope_scaling<rope_type = llama3, factor = 8.0, original_max_position_embeddings = 8192, low_freq_factor = 1.0, high_freq_factor = 2.0>} : tensor<2x?x4xf32>, tensor<2x?xi32>
  %3 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>, scaling = #mla.rope_scaling<rope_type = linear, factor = 2.0>} : tensor<2x?x4xf32>, tensor<2x?xi32>
  return %0, %1, %2, %3 : tensor<2x?x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>, tensor<2x?x4xf32>
}

// CHECK-LABEL: func.func @position_scale
// CHECK: mla.position_scale %{{.*}}, %{{.*}} {beta = 1.000000e-01 : f64, original_max_position_embeddings = 8192 : i64} : tensor<2x?x24xbf16>, tensor<2x?xi64>
func.func @position_scale(%x: tensor<2x?x24xbf16>, %p: tensor<2x?xi64>) -> tensor<2x?x24xbf16> {
  %0 = mla.position_scale %x, %p {beta = 0.1 : f64, original_max_position_embeddings = 8192 : i64} : tensor<2x?x24xbf16>, tensor<2x?xi64>
  return %0 : tensor<2x?x24xbf16>
}

// CHECK-LABEL: func.func @cache
// CHECK: mla.kv_cache_append %{{.*}}, %{{.*}} into %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x2x32xbf16>, tensor<?x2x8xbf16> into tensor<?x16x40xbf16>[tensor<?x?xi32>, tensor<?xi32>]
// CHECK: mla.kv_cache_gather %{{.*}}[%{{.*}}] : tensor<?x16x40xbf16>[tensor<?x?xi32>] -> tensor<?x?x32xbf16>, tensor<?x?x8xbf16>
// CHECK: mla.kv_cache_gather %{{.*}}[%{{.*}}] : tensor<?x16x40xbf16>[tensor<3x4xi32>] -> tensor<3x64x32xbf16>, tensor<3x64x8xbf16>
func.func @cache(%c: tensor<?x2x32xbf16>, %kr: tensor<?x2x8xbf16>,
                 %cache: tensor<?x16x40xbf16>, %bt: tensor<?x?xi32>,
                 %lens: tensor<?xi32>, %bt2: tensor<3x4xi32>)
    -> (tensor<?x?x32xbf16>, tensor<?x?x8xbf16>, tensor<3x64x32xbf16>) {
  %new = mla.kv_cache_append %c, %kr into %cache[%bt, %lens] : tensor<?x2x32xbf16>, tensor<?x2x8xbf16> into tensor<?x16x40xbf16>[tensor<?x?xi32>, tensor<?xi32>]
  %l, %r = mla.kv_cache_gather %new[%bt] : tensor<?x16x40xbf16>[tensor<?x?xi32>] -> tensor<?x?x32xbf16>, tensor<?x?x8xbf16>
  %l2, %r2 = mla.kv_cache_gather %new[%bt2] : tensor<?x16x40xbf16>[tensor<3x4xi32>] -> tensor<3x64x32xbf16>, tensor<3x64x8xbf16>
  return %l, %r, %l2 : tensor<?x?x32xbf16>, tensor<?x?x8xbf16>, tensor<3x64x32xbf16>
}

// An fp8 latent cache with one scale: append encodes, gather decodes (into
// any float type).
// CHECK-LABEL: func.func @cache_per_tensor
// CHECK: mla.kv_cache_append %{{.*}}, %{{.*}} into %{{.*}}[%{{.*}}, %{{.*}}] cache_scale(%{{.*}} : tensor<f32>) : tensor<?x2x32xbf16>, tensor<?x2x8xbf16> into tensor<?x16x40xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>]
// CHECK: mla.kv_cache_gather %{{.*}}[%{{.*}}] cache_scale(%{{.*}} : tensor<f32>) : tensor<?x16x40xf8E4M3FN>[tensor<?x?xi32>] -> tensor<?x?x32xbf16>, tensor<?x?x8xbf16>
// CHECK: mla.kv_cache_gather %{{.*}}[%{{.*}}] cache_scale(%{{.*}} : tensor<f32>) : tensor<?x16x40xf8E4M3FN>[tensor<3x4xi32>] -> tensor<3x64x32xf32>, tensor<3x64x8xf32>
func.func @cache_per_tensor(%c: tensor<?x2x32xbf16>, %kr: tensor<?x2x8xbf16>,
                            %cache: tensor<?x16x40xf8E4M3FN>, %bt: tensor<?x?xi32>,
                            %lens: tensor<?xi32>, %s: tensor<f32>, %bt2: tensor<3x4xi32>)
    -> (tensor<?x?x32xbf16>, tensor<?x?x8xbf16>, tensor<3x64x32xf32>) {
  %new = mla.kv_cache_append %c, %kr into %cache[%bt, %lens] cache_scale(%s : tensor<f32>) : tensor<?x2x32xbf16>, tensor<?x2x8xbf16> into tensor<?x16x40xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>]
  %l, %r = mla.kv_cache_gather %new[%bt] cache_scale(%s : tensor<f32>) : tensor<?x16x40xf8E4M3FN>[tensor<?x?xi32>] -> tensor<?x?x32xbf16>, tensor<?x?x8xbf16>
  %l2, %r2 = mla.kv_cache_gather %new[%bt2] cache_scale(%s : tensor<f32>) : tensor<?x16x40xf8E4M3FN>[tensor<3x4xi32>] -> tensor<3x64x32xf32>, tensor<3x64x8xf32>
  return %l, %r, %l2 : tensor<?x?x32xbf16>, tensor<?x?x8xbf16>, tensor<3x64x32xf32>
}

// CHECK-LABEL: func.func @attention
// MHA (G = H), prefill-style causal.
// CHECK: mla.attention %{{.*}}, %{{.*}}, %{{.*}} {causal, scale = 1.250000e-01 : f32} : tensor<?x?x8x64xf32>, tensor<?x?x8x64xf32>, tensor<?x?x8x64xf32> -> tensor<?x?x8x64xf32>
// GQA (G = 2), non-causal, with kv_lens.
// CHECK: mla.attention %{{.*}}, %{{.*}}, %{{.*}} kv_lens(%{{.*}}) {scale = 1.250000e-01 : f32} : tensor<?x?x8x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> kv_lens(tensor<?xi32>) -> tensor<?x?x8x64xf32>
// MQA in latent space with the decoupled rope part: the absorbed MLA form.
// CHECK: mla.attention %{{.*}}, %{{.*}}, %{{.*}} rope(%{{.*}}, %{{.*}}) kv_lens(%{{.*}}) {causal, scale = 0.0721687824 : f32} : tensor<?x2x8x32xf32>, tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32> rope(tensor<?x2x8x8xf32>, tensor<?x?x8xf32>) kv_lens(tensor<?xi32>) -> tensor<?x2x8x32xf32>
func.func @attention(%q: tensor<?x?x8x64xf32>, %k: tensor<?x?x8x64xf32>,
                     %kg: tensor<?x?x2x64xf32>, %lens: tensor<?xi32>,
                     %ql: tensor<?x2x8x32xf32>, %c: tensor<?x?x1x32xf32>,
                     %qr: tensor<?x2x8x8xf32>, %kr: tensor<?x?x8xf32>)
    -> (tensor<?x?x8x64xf32>, tensor<?x?x8x64xf32>, tensor<?x2x8x32xf32>) {
  %0 = mla.attention %q, %k, %k {scale = 0.125 : f32, causal} : tensor<?x?x8x64xf32>, tensor<?x?x8x64xf32>, tensor<?x?x8x64xf32> -> tensor<?x?x8x64xf32>
  %1 = mla.attention %q, %kg, %kg kv_lens(%lens) {scale = 0.125 : f32} : tensor<?x?x8x64xf32>, tensor<?x?x2x64xf32>, tensor<?x?x2x64xf32> kv_lens(tensor<?xi32>) -> tensor<?x?x8x64xf32>
  %2 = mla.attention %ql, %c, %c rope(%qr, %kr) kv_lens(%lens) {scale = 0.0721687824 : f32, causal} : tensor<?x2x8x32xf32>, tensor<?x?x1x32xf32>, tensor<?x?x1x32xf32> rope(tensor<?x2x8x8xf32>, tensor<?x?x8xf32>) kv_lens(tensor<?xi32>) -> tensor<?x2x8x32xf32>
  return %0, %1, %2 : tensor<?x?x8x64xf32>, tensor<?x?x8x64xf32>, tensor<?x2x8x32xf32>
}

// The layer config: MLA with and without q_lora_rank, and standard attention.
// CHECK-LABEL: func.func @mla_layer
// CHECK-SAME: mla.layer = #mla.layer_config<hidden_size = 7168, num_attention_heads = 128, num_key_value_heads = 128, q_lora_rank = 1536, kv_lora_rank = 512, qk_nope_head_dim = 128, qk_rope_head_dim = 64, v_head_dim = 128, rope_theta = 1.000000e+04, rope_style = interleaved>
func.func @mla_layer() attributes {mla.layer = #mla.layer_config<hidden_size = 7168, num_attention_heads = 128, num_key_value_heads = 128, q_lora_rank = 1536, kv_lora_rank = 512, qk_nope_head_dim = 128, qk_rope_head_dim = 64, v_head_dim = 128, rope_theta = 10000.0, rope_style = interleaved>} {
  return
}
// CHECK-LABEL: func.func @mla_layer_no_q_lora
// CHECK-SAME: #mla.layer_config<hidden_size = 2048, num_attention_heads = 16, num_key_value_heads = 16, kv_lora_rank = 512, qk_nope_head_dim = 128, qk_rope_head_dim = 0, v_head_dim = 128, rope_theta = 1.000000e+04, rope_style = rotate_half>
func.func @mla_layer_no_q_lora() attributes {mla.layer = #mla.layer_config<hidden_size = 2048, num_attention_heads = 16, num_key_value_heads = 16, kv_lora_rank = 512, qk_nope_head_dim = 128, qk_rope_head_dim = 0, v_head_dim = 128, rope_theta = 10000.0, rope_style = rotate_half>} {
  return
}
// CHECK-LABEL: func.func @gqa_layer
// CHECK-SAME: #mla.layer_config<hidden_size = 8192, num_attention_heads = 64, num_key_value_heads = 8, head_dim = 128, rope_theta = 5.000000e+05, rope_style = rotate_half>
func.func @gqa_layer() attributes {mla.layer = #mla.layer_config<hidden_size = 8192, num_attention_heads = 64, num_key_value_heads = 8, head_dim = 128, rope_theta = 500000.0, rope_style = rotate_half>} {
  return
}

// The absorbed and fused forms.
// CHECK-LABEL: func.func @absorbed
// CHECK: mla.head_linear %{{.*}}, %{{.*}} {transpose_weight} : tensor<?x1x4x16xf32>, tensor<4x32x16xf32> -> tensor<?x1x4x32xf32>
// CHECK: mla.head_linear %{{.*}}, %{{.*}} : tensor<?x1x4x32xf32>, tensor<4x32x16xf32> -> tensor<?x1x4x16xf32>
// CHECK: mla.decode_attention %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] {causal, scale = 2.500000e-01 : f32} : tensor<?x2x4x40xbf16>, tensor<?x16x40xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x32xbf16>, tensor<?x4x2xf32>
func.func @absorbed(%qn: tensor<?x1x4x16xf32>, %wuk: tensor<4x32x16xf32>,
                    %q: tensor<?x2x4x40xbf16>, %cache: tensor<?x16x40xbf16>,
                    %bt: tensor<?x?xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x1x4x16xf32>, tensor<?x2x4x32xbf16>, tensor<?x4x2xf32>) {
  %ql = mla.head_linear %qn, %wuk {transpose_weight} : tensor<?x1x4x16xf32>, tensor<4x32x16xf32> -> tensor<?x1x4x32xf32>
  %o = mla.head_linear %ql, %wuk : tensor<?x1x4x32xf32>, tensor<4x32x16xf32> -> tensor<?x1x4x16xf32>
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.25 : f32, causal} : tensor<?x2x4x40xbf16>, tensor<?x16x40xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x32xbf16>, tensor<?x4x2xf32>
  return %o, %out, %lse : tensor<?x1x4x16xf32>, tensor<?x2x4x32xbf16>, tensor<?x4x2xf32>
}

// The variants of decode attention: per-query token indices (sparse, with
// per-head sinks) over FlashMLA's 656-byte fp8 rows, and an fp8
// cache with one scale whose whole row is the value. Defaults are omitted.
// CHECK-LABEL: func.func @decode_variants
// CHECK: mla.decode_attention %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] sinks(%{{.*}} : tensor<4xf32>) {scale = 1.000000e-01 : f32, variant = #mla.decode_variant<keys = indices, scales = row_groups>} : tensor<?x2x4x576xbf16>, tensor<?x64x656xi8>[tensor<?x2x2048xi32>, tensor<?xi32>] -> tensor<?x2x4x512xbf16>, tensor<?x4x2xf32>
// CHECK: mla.decode_attention %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] cache_scale(%{{.*}} : tensor<f32>) {scale = 1.000000e-01 : f32, variant = #mla.decode_variant<scales = per_tensor, value = row>} : tensor<?x1x4x576xbf16>, tensor<?x64x576xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x576xbf16>, tensor<?x4x1xf32>
// CHECK: mla.decode_attention %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] {scale = 1.000000e-01 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 64>} : tensor<?x1x4x288xbf16>, tensor<?x16x336xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x256xbf16>, tensor<?x4x1xf32>
func.func @decode_variants(%q: tensor<?x2x4x576xbf16>, %c: tensor<?x64x656xi8>,
                           %idx: tensor<?x2x2048xi32>, %l: tensor<?xi32>,
                           %s: tensor<4xf32>, %q1: tensor<?x1x4x576xbf16>,
                           %c8: tensor<?x64x576xf8E4M3FN>, %bt: tensor<?x?xi32>,
                           %cs: tensor<f32>, %q2: tensor<?x1x4x288xbf16>,
                           %c2: tensor<?x16x336xi8>) {
  %o, %lse = mla.decode_attention %q, %c[%idx, %l] sinks(%s : tensor<4xf32>) {scale = 0.1 : f32, variant = #mla.decode_variant<keys = indices, scales = row_groups>} : tensor<?x2x4x576xbf16>, tensor<?x64x656xi8>[tensor<?x2x2048xi32>, tensor<?xi32>] -> tensor<?x2x4x512xbf16>, tensor<?x4x2xf32>
  %o1, %lse1 = mla.decode_attention %q1, %c8[%bt, %l] cache_scale(%cs : tensor<f32>) {scale = 0.1 : f32, variant = #mla.decode_variant<scales = per_tensor, value = row>} : tensor<?x1x4x576xbf16>, tensor<?x64x576xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x576xbf16>, tensor<?x4x1xf32>
  // 256 fp8 values, 4 f32 scales of 64 values each (16 bytes), 32 bf16 rope
  // values (64 bytes): 336 bytes a row.
  %o2, %lse2 = mla.decode_attention %q2, %c2[%bt, %l] {scale = 0.1 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 64>} : tensor<?x1x4x288xbf16>, tensor<?x16x336xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x256xbf16>, tensor<?x4x1xf32>
  return
}

// Decode attention over paged head caches (GQA: 8 query heads, 2 KV heads),
// with a window and sinks.
// CHECK-LABEL: func.func @decode_gqa
// CHECK: mla.decode_attention %{{.*}}, %{{.*}}, %{{.*}}[%{{.*}}, %{{.*}}] sinks(%{{.*}} : tensor<8xf32>) {causal, scale = 1.250000e-01 : f32, variant = #mla.decode_variant<window = 64>} : tensor<?x2x8x64xbf16>, tensor<?x16x2x64xbf16>, tensor<?x16x2x64xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x8x64xbf16>, tensor<?x8x2xf32>
func.func @decode_gqa(%q: tensor<?x2x8x64xbf16>, %k: tensor<?x16x2x64xbf16>,
                      %v: tensor<?x16x2x64xbf16>, %bt: tensor<?x?xi32>,
                      %l: tensor<?xi32>, %s: tensor<8xf32>) {
  %o, %lse = mla.decode_attention %q, %k, %v[%bt, %l] sinks(%s : tensor<8xf32>) {scale = 0.125 : f32, causal, variant = #mla.decode_variant<window = 64>} : tensor<?x2x8x64xbf16>, tensor<?x16x2x64xbf16>, tensor<?x16x2x64xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x8x64xbf16>, tensor<?x8x2xf32>
  return
}

// Paged head caches: the keys (or values) of G KV heads per token.
// CHECK-LABEL: func.func @head_cache_ops
// CHECK: mla.kv_cache_append %{{.*}} into %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x1x2x64xbf16> into tensor<?x16x2x64xbf16>[tensor<?x?xi32>, tensor<?xi32>]
// CHECK: mla.kv_cache_gather %{{.*}}[%{{.*}}] : tensor<?x16x2x64xbf16>[tensor<?x?xi32>] -> tensor<?x?x2x64xbf16>
func.func @head_cache_ops(%k: tensor<?x1x2x64xbf16>, %kc: tensor<?x16x2x64xbf16>,
                          %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x?x2x64xbf16> {
  %c = mla.kv_cache_append %k into %kc[%bt, %l] : tensor<?x1x2x64xbf16> into tensor<?x16x2x64xbf16>[tensor<?x?xi32>, tensor<?xi32>]
  %g = mla.kv_cache_gather %c[%bt] : tensor<?x16x2x64xbf16>[tensor<?x?xi32>] -> tensor<?x?x2x64xbf16>
  return %g : tensor<?x?x2x64xbf16>
}

// DeepSeek-V3.2's indexer: the key norm, the scores (with and without a
// rope part, lengths and the causal mask) and the top-k selection.
// CHECK-LABEL: func.func @indexer
// CHECK: mla.layer_norm %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x1x128xbf16>, tensor<128xbf16>, tensor<128xbf16>
// CHECK: mla.index_score %{{.*}}, %{{.*}} weights(%{{.*}}) rope(%{{.*}}, %{{.*}}) kv_lens(%{{.*}}) {causal, scale = 7.812500e-03 : f32} : tensor<?x1x64x64xbf16>, tensor<?x?x64xbf16> weights(tensor<?x1x64xbf16>) rope(tensor<?x1x64x64xbf16>, tensor<?x?x64xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x1x?xf32>
// CHECK: mla.index_score %{{.*}}, %{{.*}} weights(%{{.*}}) {scale = 5.000000e-01 : f32} : tensor<2x3x4x8xf32>, tensor<2x5x8xf32> weights(tensor<2x3x4xf32>) -> tensor<2x3x5xf32>
// CHECK: mla.topk %{{.*}} {k = 2048 : i64} : tensor<?x1x?xf32> -> tensor<?x1x2048xi32>
func.func @indexer(%x: tensor<?x1x128xbf16>, %g: tensor<128xbf16>, %b: tensor<128xbf16>,
                   %q: tensor<?x1x64x64xbf16>, %k: tensor<?x?x64xbf16>,
                   %w: tensor<?x1x64xbf16>, %qr: tensor<?x1x64x64xbf16>,
                   %kr: tensor<?x?x64xbf16>, %l: tensor<?xi32>,
                   %q2: tensor<2x3x4x8xf32>, %k2: tensor<2x5x8xf32>, %w2: tensor<2x3x4xf32>)
    -> (tensor<?x1x128xbf16>, tensor<?x1x2048xi32>, tensor<2x3x5xf32>) {
  %n = mla.layer_norm %x, %g, %b {epsilon = 1.0e-06 : f32} : tensor<?x1x128xbf16>, tensor<128xbf16>, tensor<128xbf16>
  %s = mla.index_score %q, %k weights(%w) rope(%qr, %kr) kv_lens(%l) {scale = 0.0078125 : f32, causal} : tensor<?x1x64x64xbf16>, tensor<?x?x64xbf16> weights(tensor<?x1x64xbf16>) rope(tensor<?x1x64x64xbf16>, tensor<?x?x64xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x1x?xf32>
  %s2 = mla.index_score %q2, %k2 weights(%w2) {scale = 0.5 : f32} : tensor<2x3x4x8xf32>, tensor<2x5x8xf32> weights(tensor<2x3x4xf32>) -> tensor<2x3x5xf32>
  %i = mla.topk %s {k = 2048} : tensor<?x1x?xf32> -> tensor<?x1x2048xi32>
  return %n, %i, %s2 : tensor<?x1x128xbf16>, tensor<?x1x2048xi32>, tensor<2x3x5xf32>
}
