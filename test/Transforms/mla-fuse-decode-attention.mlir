// RUN: mla-opt %s -split-input-file --mla-fuse-decode-attention --canonicalize | FileCheck %s

// Attention in latent space over the pages of the cache,
//   c, k_rope = gather(cache, block_table); o = attn(q_lat, c, c; q_rope, k_rope; seq_lens)
// is one flash-decoding op on the cache with query [q_lat ; q_rope]; the
// gathered latents are no longer materialized.
// CHECK-LABEL: func.func @fuse
// CHECK-SAME: (%[[QL:[^:]+]]: tensor<?x2x4x32xbf16>, %[[QR:[^:]+]]: tensor<?x2x4x8xbf16>, %[[CACHE:[^:]+]]: tensor<?x16x40xbf16>, %[[BT:[^:]+]]: tensor<?x?xi32>, %[[L:[^:]+]]: tensor<?xi32>)
// CHECK-NOT: mla.kv_cache_gather
// CHECK: %[[Q:.+]] = tensor.concat dim(3) %[[QL]], %[[QR]] : (tensor<?x2x4x32xbf16>, tensor<?x2x4x8xbf16>) -> tensor<?x2x4x40xbf16>
// CHECK: %[[O:.+]], %{{.+}} = mla.decode_attention %[[Q]], %[[CACHE]][%[[BT]], %[[L]]] {causal, scale = 1.250000e-01 : f32} : tensor<?x2x4x40xbf16>, tensor<?x16x40xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x32xbf16>, tensor<?x4x2xf32>
// CHECK-NOT: mla.attention
// CHECK: return %[[O]]
func.func @fuse(%q_lat: tensor<?x2x4x32xbf16>, %q_rope: tensor<?x2x4x8xbf16>,
                %cache: tensor<?x16x40xbf16>, %bt: tensor<?x?xi32>,
                %lens: tensor<?xi32>) -> tensor<?x2x4x32xbf16> {
  %c, %kr = mla.kv_cache_gather %cache[%bt] : tensor<?x16x40xbf16>[tensor<?x?xi32>] -> tensor<?x?x32xbf16>, tensor<?x?x8xbf16>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [1, 64, 1, 32] : tensor<?x?x32xbf16> into tensor<?x?x1x32xbf16>
  %o = mla.attention %q_lat, %kv, %kv rope(%q_rope, %kr) kv_lens(%lens) {scale = 0.125 : f32, causal} : tensor<?x2x4x32xbf16>, tensor<?x?x1x32xbf16>, tensor<?x?x1x32xbf16> rope(tensor<?x2x4x8xbf16>, tensor<?x?x8xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x2x4x32xbf16>
  return %o : tensor<?x2x4x32xbf16>
}

// -----

// Without a rope part (d_r = 0) the query is q_lat itself; not causal stays
// not causal.
// CHECK-LABEL: func.func @no_rope
// CHECK-NOT: tensor.concat
// CHECK: mla.decode_attention %arg0, %arg1[%arg2, %arg3] {scale = 1.250000e-01 : f32} : tensor<2x1x8x64xf32>, tensor<9x4x64xf32>[tensor<2x3xi32>, tensor<2xi32>] -> tensor<2x1x8x64xf32>, tensor<2x8x1xf32>
func.func @no_rope(%q: tensor<2x1x8x64xf32>, %cache: tensor<9x4x64xf32>,
                   %bt: tensor<2x3xi32>, %lens: tensor<2xi32>) -> tensor<2x1x8x64xf32> {
  %c, %kr = mla.kv_cache_gather %cache[%bt] : tensor<9x4x64xf32>[tensor<2x3xi32>] -> tensor<2x12x64xf32>, tensor<2x12x0xf32>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [2, 12, 1, 64] : tensor<2x12x64xf32> into tensor<2x12x1x64xf32>
  %o = mla.attention %q, %kv, %kv kv_lens(%lens) {scale = 0.125 : f32} : tensor<2x1x8x64xf32>, tensor<2x12x1x64xf32>, tensor<2x12x1x64xf32> kv_lens(tensor<2xi32>) -> tensor<2x1x8x64xf32>
  return %o : tensor<2x1x8x64xf32>
}

// -----

// Not fused: attention over keys that are not cached latents (prefill), and
// latent attention without sequence lengths.
// CHECK-LABEL: func.func @prefill
// CHECK: mla.attention
// CHECK-NOT: mla.decode_attention
func.func @prefill(%q: tensor<1x?x4x32xf32>, %c: tensor<1x?x32xf32>) -> tensor<1x?x4x32xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %t = tensor.dim %c, %c1 : tensor<1x?x32xf32>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [1, %t, 1, 32] : tensor<1x?x32xf32> into tensor<1x?x1x32xf32>
  %o = mla.attention %q, %kv, %kv {scale = 0.125 : f32, causal} : tensor<1x?x4x32xf32>, tensor<1x?x1x32xf32>, tensor<1x?x1x32xf32> -> tensor<1x?x4x32xf32>
  return %o : tensor<1x?x4x32xf32>
}
// CHECK-LABEL: func.func @no_lengths
// CHECK: mla.kv_cache_gather
// CHECK: mla.attention
// CHECK-NOT: mla.decode_attention
func.func @no_lengths(%q: tensor<2x1x8x64xf32>, %cache: tensor<9x4x64xf32>, %bt: tensor<2x3xi32>) -> tensor<2x1x8x64xf32> {
  %c, %kr = mla.kv_cache_gather %cache[%bt] : tensor<9x4x64xf32>[tensor<2x3xi32>] -> tensor<2x12x64xf32>, tensor<2x12x0xf32>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [2, 12, 1, 64] : tensor<2x12x64xf32> into tensor<2x12x1x64xf32>
  %o = mla.attention %q, %kv, %kv {scale = 0.125 : f32} : tensor<2x1x8x64xf32>, tensor<2x12x1x64xf32>, tensor<2x12x1x64xf32> -> tensor<2x1x8x64xf32>
  return %o : tensor<2x1x8x64xf32>
}

// -----

// The whole DeepSeek-V3 example: absorbed, then fused into one kernel call.
// RUN: mla-opt %examples/deepseek-v3.mlir --mla-absorb-weights --mla-fuse-decode-attention --canonicalize | FileCheck %s --check-prefix=V3
// V3-LABEL: func.func @deepseek_v3_decode
// V3: %[[QN:.+]] = mla.head_proj %{{.*}} -> tensor<?x1x128x128xbf16>
// V3: %[[CACHE:.+]] = mla.kv_cache_append
// V3: %[[QL:.+]] = mla.head_linear %[[QN]], %{{.*}} {transpose_weight} : tensor<?x1x128x128xbf16>, tensor<128x512x128xbf16> -> tensor<?x1x128x512xbf16>
// V3: %[[Q:.+]] = tensor.concat dim(3) %[[QL]]
// V3: %[[O:.+]], %{{.+}} = mla.decode_attention %[[Q]], %[[CACHE]][%arg3, %arg4] {causal, scale = 0.135233775 : f32} : tensor<?x1x128x576xbf16>, tensor<?x64x576xbf16>
// V3: %[[OH:.+]] = mla.head_linear %[[O]], %{{.*}} : tensor<?x1x128x512xbf16>, tensor<128x512x128xbf16> -> tensor<?x1x128x128xbf16>
// V3: mla.out_proj %[[OH]]
// V3-NOT: mla.attention
// V3-NOT: mla.kv_cache_gather

// -----

// GQA over paged head caches (8 query heads on 2 KV heads): keys and values
// gathered with one block table become one decode op on both caches.
// CHECK-LABEL: func.func @fuse_heads
// CHECK-SAME: (%[[Q:[^:]+]]: tensor<?x1x8x64xbf16>, %[[K:[^:]+]]: tensor<?x16x2x64xbf16>, %[[V:[^:]+]]: tensor<?x16x2x64xbf16>, %[[BT:[^:]+]]: tensor<?x?xi32>, %[[L:[^:]+]]: tensor<?xi32>)
// CHECK-NOT: mla.kv_cache_gather
// CHECK: %[[O:.+]], %{{.+}} = mla.decode_attention %[[Q]], %[[K]], %[[V]][%[[BT]], %[[L]]] {causal, scale = 1.250000e-01 : f32} : tensor<?x1x8x64xbf16>, tensor<?x16x2x64xbf16>, tensor<?x16x2x64xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x8x64xbf16>, tensor<?x8x1xf32>
// CHECK-NOT: mla.attention
// CHECK: return %[[O]]
func.func @fuse_heads(%q: tensor<?x1x8x64xbf16>, %kc: tensor<?x16x2x64xbf16>,
                      %vc: tensor<?x16x2x64xbf16>, %bt: tensor<?x?xi32>,
                      %lens: tensor<?xi32>) -> tensor<?x1x8x64xbf16> {
  %k = mla.kv_cache_gather %kc[%bt] : tensor<?x16x2x64xbf16>[tensor<?x?xi32>] -> tensor<?x?x2x64xbf16>
  %v = mla.kv_cache_gather %vc[%bt] : tensor<?x16x2x64xbf16>[tensor<?x?xi32>] -> tensor<?x?x2x64xbf16>
  %o = mla.attention %q, %k, %v kv_lens(%lens) {scale = 0.125 : f32, causal} : tensor<?x1x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16> kv_lens(tensor<?xi32>) -> tensor<?x1x8x64xbf16>
  return %o : tensor<?x1x8x64xbf16>
}

// -----

// Keys and values paged by different block tables are not one cache's
// pages: left alone.
// CHECK-LABEL: func.func @heads_two_tables
// CHECK: mla.attention
// CHECK-NOT: mla.decode_attention
func.func @heads_two_tables(%q: tensor<?x1x8x64xbf16>, %kc: tensor<?x16x2x64xbf16>,
                            %vc: tensor<?x16x2x64xbf16>, %bt: tensor<?x?xi32>,
                            %bt2: tensor<?x?xi32>,
                            %lens: tensor<?xi32>) -> tensor<?x1x8x64xbf16> {
  %k = mla.kv_cache_gather %kc[%bt] : tensor<?x16x2x64xbf16>[tensor<?x?xi32>] -> tensor<?x?x2x64xbf16>
  %v = mla.kv_cache_gather %vc[%bt2] : tensor<?x16x2x64xbf16>[tensor<?x?xi32>] -> tensor<?x?x2x64xbf16>
  %o = mla.attention %q, %k, %v kv_lens(%lens) {scale = 0.125 : f32, causal} : tensor<?x1x8x64xbf16>, tensor<?x?x2x64xbf16>, tensor<?x?x2x64xbf16> kv_lens(tensor<?xi32>) -> tensor<?x1x8x64xbf16>
  return %o : tensor<?x1x8x64xbf16>
}

// -----

// DeepSeek Sparse Attention: attention over the positions that mla.topk
// selects from the index scores (masked with the same lengths, causal) is
// the sparse decode op on their cache rows, block_table[b, p / 16] * 16 +
// p % 16 (-1 stays -1), with every slot valid (seq_lens = k) and no mask.
// CHECK-LABEL: func.func @fuse_sparse
// CHECK-SAME: (%[[QL:[^:]+]]: tensor<?x1x4x32xbf16>, %[[QR:[^:]+]]: tensor<?x1x4x8xbf16>, %[[CACHE:[^:]+]]: tensor<?x16x40xbf16>, %[[BT:[^:]+]]: tensor<?x4xi32>, %[[L:[^:]+]]: tensor<?xi32>
// CHECK: %[[IDX:.+]] = mla.topk
// CHECK: %[[Q:.+]] = tensor.concat dim(3) %[[QL]], %[[QR]]
// CHECK: %[[ROWS:.+]] = linalg.generic {{.*}} ins(%[[IDX]] : tensor<?x1x8xi32>)
// CHECK: arith.cmpi slt
// CHECK: arith.divui %{{.*}}, %c16_i32
// CHECK: arith.remui %{{.*}}, %c16_i32
// CHECK: tensor.extract %[[BT]]
// CHECK: arith.muli %{{.*}}, %c16_i32
// CHECK: %[[SLOTS:.+]] = linalg.fill ins(%c8_i32 : i32)
// CHECK: %[[O:.+]], %{{.+}} = mla.decode_attention %[[Q]], %[[CACHE]][%[[ROWS]], %[[SLOTS]]] {scale = 1.250000e-01 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<?x1x4x40xbf16>, tensor<?x16x40xbf16>[tensor<?x1x8xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
// CHECK-NOT: mla.attention
// CHECK: return %[[O]]
func.func @fuse_sparse(%q_lat: tensor<?x1x4x32xbf16>, %q_rope: tensor<?x1x4x8xbf16>,
                       %cache: tensor<?x16x40xbf16>, %bt: tensor<?x4xi32>, %lens: tensor<?xi32>,
                       %iq: tensor<?x1x2x16xbf16>, %ik: tensor<?x64x16xbf16>,
                       %iw: tensor<?x1x2xbf16>) -> tensor<?x1x4x32xbf16> {
  %c, %kr = mla.kv_cache_gather %cache[%bt] : tensor<?x16x40xbf16>[tensor<?x4xi32>] -> tensor<?x64x32xbf16>, tensor<?x64x8xbf16>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [1, 64, 1, 32] : tensor<?x64x32xbf16> into tensor<?x64x1x32xbf16>
  %s = mla.index_score %iq, %ik weights(%iw) kv_lens(%lens) {scale = 0.1 : f32, causal} : tensor<?x1x2x16xbf16>, tensor<?x64x16xbf16> weights(tensor<?x1x2xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x1x64xf32>
  %i = mla.topk %s {k = 8} : tensor<?x1x64xf32> -> tensor<?x1x8xi32>
  %o = mla.attention %q_lat, %kv, %kv rope(%q_rope, %kr) kv_lens(%lens) indices(%i) {scale = 0.125 : f32, causal} : tensor<?x1x4x32xbf16>, tensor<?x64x1x32xbf16>, tensor<?x64x1x32xbf16> rope(tensor<?x1x4x8xbf16>, tensor<?x64x8xbf16>) kv_lens(tensor<?xi32>) indices(tensor<?x1x8xi32>) -> tensor<?x1x4x32xbf16>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

// Not fused: positions that are not a top-k of index scores, or scores
// masked unlike the attention (the fused op would have no mask), or head
// caches (sparse decode reads a latent cache).
// CHECK-LABEL: func.func @sparse_not_fused
// CHECK-COUNT-2: mla.attention
// CHECK-NOT: mla.decode_attention
func.func @sparse_not_fused(%q: tensor<2x1x4x32xf32>, %cache: tensor<9x16x32xf32>,
                            %bt: tensor<2x4xi32>, %lens: tensor<2xi32>, %idx: tensor<2x1x8xi32>,
                            %iq: tensor<2x1x2x16xf32>, %ik: tensor<2x64x16xf32>,
                            %iw: tensor<2x1x2xf32>) -> (tensor<2x1x4x32xf32>, tensor<2x1x4x32xf32>) {
  %c, %kr = mla.kv_cache_gather %cache[%bt] : tensor<9x16x32xf32>[tensor<2x4xi32>] -> tensor<2x64x32xf32>, tensor<2x64x0xf32>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [2, 64, 1, 32] : tensor<2x64x32xf32> into tensor<2x64x1x32xf32>
  %o1 = mla.attention %q, %kv, %kv kv_lens(%lens) indices(%idx) {scale = 0.125 : f32, causal} : tensor<2x1x4x32xf32>, tensor<2x64x1x32xf32>, tensor<2x64x1x32xf32> kv_lens(tensor<2xi32>) indices(tensor<2x1x8xi32>) -> tensor<2x1x4x32xf32>
  %s = mla.index_score %iq, %ik weights(%iw) kv_lens(%lens) {scale = 0.1 : f32} : tensor<2x1x2x16xf32>, tensor<2x64x16xf32> weights(tensor<2x1x2xf32>) kv_lens(tensor<2xi32>) -> tensor<2x1x64xf32>
  %i = mla.topk %s {k = 8} : tensor<2x1x64xf32> -> tensor<2x1x8xi32>
  %o2 = mla.attention %q, %kv, %kv kv_lens(%lens) indices(%i) {scale = 0.125 : f32, causal} : tensor<2x1x4x32xf32>, tensor<2x64x1x32xf32>, tensor<2x64x1x32xf32> kv_lens(tensor<2xi32>) indices(tensor<2x1x8xi32>) -> tensor<2x1x4x32xf32>
  return %o1, %o2 : tensor<2x1x4x32xf32>, tensor<2x1x4x32xf32>
}

// -----

// CHECK-LABEL: func.func @sparse_heads_not_fused
// CHECK: mla.attention
// CHECK-NOT: mla.decode_attention
func.func @sparse_heads_not_fused(%q: tensor<2x1x4x16xf32>, %kc: tensor<9x16x2x16xf32>, %vc: tensor<9x16x2x16xf32>,
                                  %bt: tensor<2x4xi32>, %lens: tensor<2xi32>,
                                  %iq: tensor<2x1x2x16xf32>, %ik: tensor<2x64x16xf32>,
                                  %iw: tensor<2x1x2xf32>) -> tensor<2x1x4x16xf32> {
  %k = mla.kv_cache_gather %kc[%bt] : tensor<9x16x2x16xf32>[tensor<2x4xi32>] -> tensor<2x64x2x16xf32>
  %v = mla.kv_cache_gather %vc[%bt] : tensor<9x16x2x16xf32>[tensor<2x4xi32>] -> tensor<2x64x2x16xf32>
  %s = mla.index_score %iq, %ik weights(%iw) kv_lens(%lens) {scale = 0.1 : f32} : tensor<2x1x2x16xf32>, tensor<2x64x16xf32> weights(tensor<2x1x2xf32>) kv_lens(tensor<2xi32>) -> tensor<2x1x64xf32>
  %i = mla.topk %s {k = 8} : tensor<2x1x64xf32> -> tensor<2x1x8xi32>
  %o = mla.attention %q, %k, %v kv_lens(%lens) indices(%i) {scale = 0.125 : f32} : tensor<2x1x4x16xf32>, tensor<2x64x2x16xf32>, tensor<2x64x2x16xf32> kv_lens(tensor<2xi32>) indices(tensor<2x1x8xi32>) -> tensor<2x1x4x16xf32>
  return %o : tensor<2x1x4x16xf32>
}

// -----

// A cache of fp8 rows (scale_group) is read by the fused op as such: the
// variant's scales = row_groups with the gather's group, the query in the
// layer's type; with the indexer's selection too (DeepSeek-V3.2 serving).
// CHECK-LABEL: func.func @fuse_fp8
// CHECK: mla.decode_attention %{{.*}}, %arg2[%arg3, %arg4] {causal, scale = 1.250000e-01 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 16>} : tensor<?x1x4x40xbf16>, tensor<?x16x56xi8>[tensor<?x4xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
// CHECK: mla.decode_attention {{.*}} {scale = 1.250000e-01 : f32, variant = #mla.decode_variant<keys = indices, scales = row_groups, scale_group = 16>} : tensor<?x1x4x40xbf16>, tensor<?x16x56xi8>[tensor<?x1x8xi32>, tensor<?xi32>]
// CHECK-NOT: mla.attention
func.func @fuse_fp8(%q_lat: tensor<?x1x4x32xbf16>, %q_rope: tensor<?x1x4x8xbf16>,
                    %cache: tensor<?x16x56xi8>, %bt: tensor<?x4xi32>, %lens: tensor<?xi32>,
                    %iq: tensor<?x1x2x16xbf16>, %ik: tensor<?x64x16xbf16>,
                    %iw: tensor<?x1x2xbf16>) -> (tensor<?x1x4x32xbf16>, tensor<?x1x4x32xbf16>) {
  %c, %kr = mla.kv_cache_gather %cache[%bt] {scale_group = 16 : i64} : tensor<?x16x56xi8>[tensor<?x4xi32>] -> tensor<?x64x32xbf16>, tensor<?x64x8xbf16>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [1, 64, 1, 32] : tensor<?x64x32xbf16> into tensor<?x64x1x32xbf16>
  %o = mla.attention %q_lat, %kv, %kv rope(%q_rope, %kr) kv_lens(%lens) {scale = 0.125 : f32, causal} : tensor<?x1x4x32xbf16>, tensor<?x64x1x32xbf16>, tensor<?x64x1x32xbf16> rope(tensor<?x1x4x8xbf16>, tensor<?x64x8xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x1x4x32xbf16>
  %s = mla.index_score %iq, %ik weights(%iw) kv_lens(%lens) {scale = 0.1 : f32, causal} : tensor<?x1x2x16xbf16>, tensor<?x64x16xbf16> weights(tensor<?x1x2xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x1x64xf32>
  %i = mla.topk %s {k = 8} : tensor<?x1x64xf32> -> tensor<?x1x8xi32>
  %o2 = mla.attention %q_lat, %kv, %kv rope(%q_rope, %kr) kv_lens(%lens) indices(%i) {scale = 0.125 : f32, causal} : tensor<?x1x4x32xbf16>, tensor<?x64x1x32xbf16>, tensor<?x64x1x32xbf16> rope(tensor<?x1x4x8xbf16>, tensor<?x64x8xbf16>) kv_lens(tensor<?xi32>) indices(tensor<?x1x8xi32>) -> tensor<?x1x4x32xbf16>
  return %o, %o2 : tensor<?x1x4x32xbf16>, tensor<?x1x4x32xbf16>
}

// -----

// An fp8 cache with one scale (cache_scale) likewise: scales = per_tensor,
// the gather's scale as the fused op's cache_scale, dense and sparse.
// CHECK-LABEL: func.func @fuse_fp8_per_tensor
// CHECK-SAME: %[[CACHE:[^:]+]]: tensor<?x16x40xf8E4M3FN>, %[[BT:[^:]+]]: tensor<?x4xi32>, %[[L:[^:]+]]: tensor<?xi32>, %[[S:[^:]+]]: tensor<f32>
// CHECK-NOT: mla.kv_cache_gather
// CHECK: mla.decode_attention %{{.*}}, %[[CACHE]][%[[BT]], %[[L]]] cache_scale(%[[S]] : tensor<f32>) {causal, scale = 1.250000e-01 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<?x1x4x40xbf16>, tensor<?x16x40xf8E4M3FN>[tensor<?x4xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
// CHECK: mla.decode_attention %{{.*}}, %[[CACHE]][%{{.*}}, %{{.*}}] cache_scale(%[[S]] : tensor<f32>) {scale = 1.250000e-01 : f32, variant = #mla.decode_variant<keys = indices, scales = per_tensor>} : tensor<?x1x4x40xbf16>, tensor<?x16x40xf8E4M3FN>[tensor<?x1x8xi32>, tensor<?xi32>]
// CHECK-NOT: mla.attention
func.func @fuse_fp8_per_tensor(%q_lat: tensor<?x1x4x32xbf16>, %q_rope: tensor<?x1x4x8xbf16>,
                               %cache: tensor<?x16x40xf8E4M3FN>, %bt: tensor<?x4xi32>, %lens: tensor<?xi32>,
                               %cs: tensor<f32>, %iq: tensor<?x1x2x16xbf16>, %ik: tensor<?x64x16xbf16>,
                               %iw: tensor<?x1x2xbf16>) -> (tensor<?x1x4x32xbf16>, tensor<?x1x4x32xbf16>) {
  %c, %kr = mla.kv_cache_gather %cache[%bt] cache_scale(%cs : tensor<f32>) : tensor<?x16x40xf8E4M3FN>[tensor<?x4xi32>] -> tensor<?x64x32xbf16>, tensor<?x64x8xbf16>
  %kv = tensor.expand_shape %c [[0], [1], [2, 3]] output_shape [1, 64, 1, 32] : tensor<?x64x32xbf16> into tensor<?x64x1x32xbf16>
  %o = mla.attention %q_lat, %kv, %kv rope(%q_rope, %kr) kv_lens(%lens) {scale = 0.125 : f32, causal} : tensor<?x1x4x32xbf16>, tensor<?x64x1x32xbf16>, tensor<?x64x1x32xbf16> rope(tensor<?x1x4x8xbf16>, tensor<?x64x8xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x1x4x32xbf16>
  %s = mla.index_score %iq, %ik weights(%iw) kv_lens(%lens) {scale = 0.1 : f32, causal} : tensor<?x1x2x16xbf16>, tensor<?x64x16xbf16> weights(tensor<?x1x2xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x1x64xf32>
  %i = mla.topk %s {k = 8} : tensor<?x1x64xf32> -> tensor<?x1x8xi32>
  %o2 = mla.attention %q_lat, %kv, %kv rope(%q_rope, %kr) kv_lens(%lens) indices(%i) {scale = 0.125 : f32, causal} : tensor<?x1x4x32xbf16>, tensor<?x64x1x32xbf16>, tensor<?x64x1x32xbf16> rope(tensor<?x1x4x8xbf16>, tensor<?x64x8xbf16>) kv_lens(tensor<?xi32>) indices(tensor<?x1x8xi32>) -> tensor<?x1x4x32xbf16>
  return %o, %o2 : tensor<?x1x4x32xbf16>, tensor<?x1x4x32xbf16>
}
