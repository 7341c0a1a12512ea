// RUN: mla-opt %s -split-input-file --mla-decompose | FileCheck %s

// y[b,s,n] = sum_k x[b,s,k] W[k,n]: one contraction, accumulated in f32.
// CHECK-DAG: #[[X3:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[W2:.+]] = affine_map<(d0, d1, d2, d3) -> (d3, d2)>
// CHECK-DAG: #[[Y3:.+]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
// CHECK-LABEL: func.func @linear
// CHECK: %[[B:.+]] = tensor.dim %arg0, %c0
// CHECK: %[[E:.+]] = tensor.empty(%[[B]]) : tensor<?x2x4xf32>
// CHECK: %[[Z:.+]] = linalg.fill ins(%{{.*}} : f32) outs(%[[E]]
// CHECK: linalg.generic {indexing_maps = [#[[X3]], #[[W2]], #[[Y3]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<?x2x8xf32>, tensor<8x4xf32>) outs(%[[Z]] : tensor<?x2x4xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK-NOT: mla.linear
func.func @linear(%x: tensor<?x2x8xf32>, %w: tensor<8x4xf32>) -> tensor<?x2x4xf32> {
  %0 = mla.linear %x, %w : tensor<?x2x8xf32>, tensor<8x4xf32> -> tensor<?x2x4xf32>
  return %0 : tensor<?x2x4xf32>
}

// -----

// bf16 storage: f32 accumulation, then one rounding to bf16.
// CHECK-LABEL: func.func @head_proj_bf16
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<?x1x16xbf16>, tensor<2x16x4xbf16>) outs(%{{.*}} : tensor<?x1x2x4xf32>)
// CHECK: arith.extf %{{.*}} : bf16 to f32
// CHECK: linalg.generic
// CHECK: arith.truncf %{{.*}} : f32 to bf16
func.func @head_proj_bf16(%x: tensor<?x1x16xbf16>, %w: tensor<2x16x4xbf16>) -> tensor<?x1x2x4xbf16> {
  %0 = mla.head_proj %x, %w : tensor<?x1x16xbf16>, tensor<2x16x4xbf16> -> tensor<?x1x2x4xbf16>
  return %0 : tensor<?x1x2x4xbf16>
}

// -----

// q_lat[b,s,h,c] = sum_k q[b,s,h,k] W_UK[h,c,k] (transposed weight).
// CHECK-DAG: #[[WT:.+]] = affine_map<(d0, d1, d2, d3, d4) -> (d2, d3, d4)>
// CHECK-LABEL: func.func @head_linear_transposed
// CHECK: linalg.generic {indexing_maps = [#{{.+}}, #[[WT]], #{{.+}}]
func.func @head_linear_transposed(%q: tensor<?x1x2x4xf32>, %w: tensor<2x16x4xf32>) -> tensor<?x1x2x16xf32> {
  %0 = mla.head_linear %q, %w {transpose_weight} : tensor<?x1x2x4xf32>, tensor<2x16x4xf32> -> tensor<?x1x2x16xf32>
  return %0 : tensor<?x1x2x16xf32>
}

// -----

// out[b,s,n] = sum_{h,k} o[b,s,h,k] W_O[h*K + k, n]: W_O seen as [H, K, D].
// CHECK-LABEL: func.func @out_proj
// CHECK: %[[W3:.+]] = tensor.expand_shape %arg1 {{\[\[}}0, 1], [2]] output_shape [2, 4, 8] : tensor<8x8xf32> into tensor<2x4x8xf32>
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction"]} ins(%arg0, %[[W3]]
func.func @out_proj(%o: tensor<?x1x2x4xf32>, %w: tensor<8x8xf32>) -> tensor<?x1x8xf32> {
  %0 = mla.out_proj %o, %w : tensor<?x1x2x4xf32>, tensor<8x8xf32> -> tensor<?x1x8xf32>
  return %0 : tensor<?x1x8xf32>
}

// -----

// y = x * gamma / sqrt(mean(x^2) + eps): a sum of squares, then 1/n, eps,
// rsqrt and the gain.
// CHECK-LABEL: func.func @rms_norm
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[INV:.+]] = arith.constant 1.250000e-01 : f32
// CHECK: %[[EPS:.+]] = arith.constant 9.99999974E-6 : f32
// CHECK: linalg.generic
// CHECK: %[[M:.+]] = arith.mulf %{{.*}}, %[[INV]]
// CHECK: %[[A:.+]] = arith.addf %[[M]], %[[EPS]]
// CHECK: math.rsqrt %[[A]]
func.func @rms_norm(%x: tensor<?x2x8xf32>, %g: tensor<8xf32>) -> tensor<?x2x8xf32> {
  %0 = mla.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : tensor<?x2x8xf32>, tensor<8xf32>
  return %0 : tensor<?x2x8xf32>
}

// -----

// Interleaved RoPE, d = 8: pair i = j / 2, partner j +- 1, angle
// pos * theta^(-2i/d) = pos * exp(i * -2 ln(10000) / 8), in f64;
// first of a pair x0 c - x1 s, second x1 c + x0 s.
// CHECK-LABEL: func.func @rope_interleaved
// CHECK: linalg.generic {{.*}} ins(%arg1 : tensor<?x1xi32>) outs(%{{.*}} : tensor<?x1x2x8xf32>)
// CHECK: %[[J:.+]] = linalg.index 3 : index
// CHECK: %[[I:.+]] = arith.divui %[[J]], %c2
// CHECK: arith.remui %[[J]], %c2
// CHECK: arith.constant -2.3025850929940459 : f64
// CHECK: math.exp %{{.*}} : f64
// CHECK: math.cos
// CHECK: math.sin
// CHECK: tensor.extract %arg0
// CHECK: tensor.extract %arg0
// CHECK: arith.subf
// CHECK: arith.addf
// CHECK: arith.select
// CHECK: arith.truncf %{{.*}} : f64 to f32
func.func @rope_interleaved(%x: tensor<?x1x2x8xf32>, %p: tensor<?x1xi32>) -> tensor<?x1x2x8xf32> {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>} : tensor<?x1x2x8xf32>, tensor<?x1xi32>
  return %0 : tensor<?x1x2x8xf32>
}

// -----

// Conjugate: the same rotation with sin negated (by -a).
// CHECK-LABEL: func.func @rope_conjugate
// CHECK: %[[S:.+]] = math.sin
// CHECK-NEXT: %[[NS:.+]] = arith.negf %[[S]] : f64
// CHECK: arith.mulf %{{.+}}, %[[NS]] : f64
func.func @rope_conjugate(%x: tensor<?x1x2x8xf32>, %p: tensor<?x1xi32>) -> tensor<?x1x2x8xf32> {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, conjugate} : tensor<?x1x2x8xf32>, tensor<?x1xi32>
  return %0 : tensor<?x1x2x8xf32>
}

// -----

// Rotate-half: pair i = j mod d/2, partner j +- d/2.
// CHECK-LABEL: func.func @rope_rotate_half
// CHECK: %[[J:.+]] = linalg.index 2 : index
// CHECK: %[[SECOND:.+]] = arith.cmpi sge, %[[J]], %c4
// CHECK: arith.subi %[[J]], %c4
func.func @rope_rotate_half(%x: tensor<?x3x8xbf16>, %p: tensor<?x3xi64>) -> tensor<?x3x8xbf16> {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<?x3x8xbf16>, tensor<?x3xi64>
  return %0 : tensor<?x3x8xbf16>
}

// -----

// YaRN (d = 8, theta = 1e4, factor 40, L = 4096): base f_i = 1e4^(-i/4); the
// correction range [floor 1.31, ceil 2.81] = [1, 3] keeps pairs 0-1, divides
// pair 3 by 40 and ramps pair 2 halfway: f_2 = 0.01 (0.5/40 + 0.5). mscale =
// mscale_all_dim: the attention factor is 1, so cos/sin are not scaled.
// CHECK-LABEL: func.func @rope_yarn
// CHECK: %[[F:.+]] = arith.constant dense<[1.000000e+00, 1.000000e-01, 5.125000e-03, 2.500000e-05]> : tensor<4xf64>
// CHECK: linalg.generic
// CHECK: %[[FREQ:.+]] = tensor.extract %[[F]][%{{.+}}] : tensor<4xf64>
// CHECK: arith.mulf %{{.+}}, %[[FREQ]] : f64
// CHECK-NOT: arith.constant {{.*}} : f64
// CHECK: math.cos
// CHECK-NEXT: math.sin
// CHECK-NEXT: tensor.extract %arg0
func.func @rope_yarn(%x: tensor<?x1x2x8xf32>, %p: tensor<?x1xi32>) -> tensor<?x1x2x8xf32> {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = yarn, factor = 40.0, original_max_position_embeddings = 4096, mscale = 1.0, mscale_all_dim = 1.0>} : tensor<?x1x2x8xf32>, tensor<?x1xi32>
  return %0 : tensor<?x1x2x8xf32>
}

// -----

// YaRN without mscale: cos and sin times m(40) = 1 + 0.1 ln 40.
// CHECK-LABEL: func.func @rope_yarn_mscale
// CHECK: %[[C:.+]] = math.cos
// CHECK-NEXT: %[[S:.+]] = math.sin
// CHECK-NEXT: %[[M:.+]] = arith.constant 1.3688879454113936 : f64
// CHECK-NEXT: arith.mulf %[[C]], %[[M]] : f64
// CHECK-NEXT: arith.mulf %[[S]], %[[M]] : f64
func.func @rope_yarn_mscale(%x: tensor<?x1x8xf32>, %p: tensor<?x1xi32>) -> tensor<?x1x8xf32> {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<interleaved>, scaling = #mla.rope_scaling<rope_type = yarn, factor = 40.0, original_max_position_embeddings = 4096>} : tensor<?x1x8xf32>, tensor<?x1xi32>
  return %0 : tensor<?x1x8xf32>
}

// -----

// Longrope (d = 4, L = 32): f_i / short_factor[i] below position 32,
// f_i / long_factor[i] from 32 on; cos and sin times sqrt(1 + ln 4 / ln 32).
// CHECK-LABEL: func.func @rope_longrope
// CHECK-DAG: %[[SHORT:.+]] = arith.constant dense<[1.000000e+00, 0.0066666666666666671]> : tensor<2xf64>
// CHECK-DAG: %[[LONG:.+]] = arith.constant dense<[5.000000e-01, 0.0033333333333333335]> : tensor<2xf64>
// CHECK: linalg.generic
// CHECK: ^bb0(%[[POS:.+]]: i32,
// CHECK: %[[FS:.+]] = tensor.extract %[[SHORT]]
// CHECK: %[[IS_LONG:.+]] = arith.cmpi sge, %[[POS]], %c32_i32 : i32
// CHECK: %[[FL:.+]] = tensor.extract %[[LONG]]
// CHECK: arith.select %[[IS_LONG]], %[[FL]], %[[FS]] : f64
// CHECK: arith.constant 1.1832159566199232 : f64
func.func @rope_longrope(%x: tensor<?x3x4xf32>, %p: tensor<?x3xi32>) -> tensor<?x3x4xf32> {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>, scaling = #mla.rope_scaling<rope_type = longrope, factor = 4.0, original_max_position_embeddings = 32, short_factor = [1.0, 1.5], long_factor = [2.0, 3.0]>} : tensor<?x3x4xf32>, tensor<?x3xi32>
  return %0 : tensor<?x3x4xf32>
}

// -----

// Llama 3 (d = 8, theta = 1e4, factor 8, L = 64, low/high 1/4): wavelengths
// 2 pi / f_i = 6.28, 62.8, 628, 6283; above L / 1 = 64 divided by 8, below
// L / 4 = 16 kept, f_1 = 0.1 smoothed: s = (64 / 62.8 - 1) / 3 = 0.0062,
// f_1 = 0.1 ((1 - s) / 8 + s).
// CHECK-LABEL: func.func @rope_llama3
// CHECK: arith.constant dense<[1.000000e+00, 0.013042256043820465, 1.250000e-03, 1.250000e-04]> : tensor<4xf64>
func.func @rope_llama3(%x: tensor<?x1x8xf32>, %p: tensor<?x1xi32>) -> tensor<?x1x8xf32> {
  %0 = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>, scaling = #mla.rope_scaling<rope_type = llama3, factor = 8.0, original_max_position_embeddings = 64>} : tensor<?x1x8xf32>, tensor<?x1xi32>
  return %0 : tensor<?x1x8xf32>
}

// -----

// Llama 4's query scale: x * (1 + beta ln(1 + floor(pos / L))), the factor in
// f32, applied in the element type.
// CHECK-LABEL: func.func @position_scale
// CHECK: linalg.generic
// CHECK: ^bb0(%[[X:.+]]: bf16, %[[POS:.+]]: i32, %{{.+}}: bf16):
// CHECK: %[[W:.+]] = arith.floordivsi %[[POS]], %c8192_i32 : i32
// CHECK: %[[WF:.+]] = arith.sitofp %[[W]] : i32 to f32
// CHECK: %[[LOG:.+]] = math.log1p %[[WF]] : f32
// CHECK: %[[BL:.+]] = arith.mulf %[[LOG]], %cst{{.*}} : f32
// CHECK: %[[F:.+]] = arith.addf %[[BL]], %cst{{.*}} : f32
// CHECK: %[[FB:.+]] = arith.truncf %[[F]] : f32 to bf16
// CHECK: arith.mulf %[[X]], %[[FB]] : bf16
func.func @position_scale(%x: tensor<?x2x4x8xbf16>, %p: tensor<?x2xi32>) -> tensor<?x2x4x8xbf16> {
  %0 = mla.position_scale %x, %p {beta = 0.1 : f64, original_max_position_embeddings = 8192 : i64} : tensor<?x2x4x8xbf16>, tensor<?x2xi32>
  return %0 : tensor<?x2x4x8xbf16>
}

// -----

// Token s of sequence b goes to position p = lens[b] - S + s, row p mod BS of
// page bt[b, p / BS], as [latent ; key_rope].
// CHECK-LABEL: func.func @append
// CHECK: %[[B:.+]] = tensor.dim %arg0, %c0
// CHECK: scf.for %[[BI:.+]] = %c0 to %[[B]] step %c1 iter_args(%[[C0:.+]] = %arg2)
// CHECK: %[[LEN:.+]] = tensor.extract %arg4[%[[BI]]]
// CHECK: scf.for %[[SI:.+]] = %c0 to %{{.+}} step %c1 iter_args(%[[C1:.+]] = %[[C0]])
// CHECK: %[[P:.+]] = arith.addi %{{.*}}, %[[SI]]
// CHECK: %[[PG:.+]] = arith.divui %[[P]], %c16
// CHECK: tensor.extract %arg3[%[[BI]], %[[PG]]]
// CHECK: %[[ROW:.+]] = arith.remui %[[P]], %c16
// CHECK: %[[L:.+]] = tensor.extract_slice %arg0[%[[BI]], %[[SI]], 0] [1, 1, 32] [1, 1, 1]
// CHECK: %[[C2:.+]] = tensor.insert_slice %[[L]] into %[[C1]][%{{.*}}, %[[ROW]], 0] [1, 1, 32] [1, 1, 1]
// CHECK: %[[R:.+]] = tensor.extract_slice %arg1[%[[BI]], %[[SI]], 0] [1, 1, 8] [1, 1, 1]
// CHECK: tensor.insert_slice %[[R]] into %[[C2]][%{{.*}}, %[[ROW]], 32] [1, 1, 8] [1, 1, 1]
func.func @append(%c: tensor<?x2x32xf32>, %kr: tensor<?x2x8xf32>, %cache: tensor<?x16x40xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x16x40xf32> {
  %0 = mla.kv_cache_append %c, %kr into %cache[%bt, %lens] : tensor<?x2x32xf32>, tensor<?x2x8xf32> into tensor<?x16x40xf32>[tensor<?x?xi32>, tensor<?xi32>]
  return %0 : tensor<?x16x40xf32>
}

// -----

// A head cache takes each new token's [G, D] keys (or values) whole, at the
// same row of the same page.
// CHECK-LABEL: func.func @append_heads
// CHECK: scf.for %[[BI:.+]] = %c0 to %{{.+}} step %c1 iter_args(%[[C0:.+]] = %arg1)
// CHECK: scf.for %[[SI:.+]] = %c0 to %{{.+}} step %c1 iter_args(%[[C1:.+]] = %[[C0]])
// CHECK: %[[PG:.+]] = arith.divui %[[P:.+]], %c16
// CHECK: %[[ROW:.+]] = arith.remui %[[P]], %c16
// CHECK: %[[K:.+]] = tensor.extract_slice %arg0[%[[BI]], %[[SI]], 0, 0] [1, 1, 2, 64] [1, 1, 1, 1] : tensor<?x1x2x64xbf16> to tensor<1x1x2x64xbf16>
// CHECK: tensor.insert_slice %[[K]] into %[[C1]][%{{.*}}, %[[ROW]], 0, 0] [1, 1, 2, 64] [1, 1, 1, 1] : tensor<1x1x2x64xbf16> into tensor<?x16x2x64xbf16>
// CHECK-NOT: tensor.insert_slice
func.func @append_heads(%k: tensor<?x1x2x64xbf16>, %cache: tensor<?x16x2x64xbf16>,
                        %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x16x2x64xbf16> {
  %0 = mla.kv_cache_append %k into %cache[%bt, %lens] : tensor<?x1x2x64xbf16> into tensor<?x16x2x64xbf16>[tensor<?x?xi32>, tensor<?xi32>]
  return %0 : tensor<?x16x2x64xbf16>
}

// -----

// One fp8 scale: each new value x (latent and rope) becomes the e4m3 code
// of x / scale (nearest even, saturating at 448, NaN kept), then the codes
// are written like plain values.
// CHECK-LABEL: func.func @append_per_tensor
// CHECK: %[[S:.+]] = tensor.extract %arg5[] : tensor<f32>
// CHECK: %[[LC:.+]] = linalg.generic {{.*}} ins(%arg0 : tensor<?x2x32xbf16>) outs(%{{.*}} : tensor<?x2x32xf8E4M3FN>)
// CHECK: %[[X:.+]] = arith.extf %{{.*}} : bf16 to f32
// CHECK: %[[Y:.+]] = arith.divf %[[X]], %[[S]] : f32
// CHECK: arith.cmpf uno, %[[Y]], %[[Y]] : f32
// CHECK: %[[SAT:.+]] = arith.constant 4.480000e+02 : f32
// CHECK: arith.minimumf %{{.*}}, %[[SAT]] : f32
// CHECK: math.roundeven
// CHECK: %[[CODE:.+]] = arith.trunci %{{.*}} : i32 to i8
// CHECK: %[[F8:.+]] = arith.bitcast %[[CODE]] : i8 to f8E4M3FN
// CHECK: linalg.yield %[[F8]] : f8E4M3FN
// CHECK: %[[RC:.+]] = linalg.generic {{.*}} ins(%arg1 : tensor<?x2x8xbf16>) outs(%{{.*}} : tensor<?x2x8xf8E4M3FN>)
// CHECK: arith.divf %{{.*}}, %[[S]] : f32
// CHECK: scf.for
// CHECK: scf.for
// CHECK: %[[ROW:.+]] = arith.remui %{{.*}}, %c16
// CHECK: %[[L:.+]] = tensor.extract_slice %[[LC]][%{{.*}}, %{{.*}}, 0] [1, 1, 32] [1, 1, 1] : tensor<?x2x32xf8E4M3FN> to tensor<1x1x32xf8E4M3FN>
// CHECK: %[[C:.+]] = tensor.insert_slice %[[L]] into %{{.*}}[%{{.*}}, %[[ROW]], 0] [1, 1, 32] [1, 1, 1] : tensor<1x1x32xf8E4M3FN> into tensor<?x16x40xf8E4M3FN>
// CHECK: %[[R:.+]] = tensor.extract_slice %[[RC]][%{{.*}}, %{{.*}}, 0] [1, 1, 8] [1, 1, 1] : tensor<?x2x8xf8E4M3FN> to tensor<1x1x8xf8E4M3FN>
// CHECK: tensor.insert_slice %[[R]] into %[[C]][%{{.*}}, %[[ROW]], 32] [1, 1, 8] [1, 1, 1] : tensor<1x1x8xf8E4M3FN> into tensor<?x16x40xf8E4M3FN>
// CHECK-NOT: mla.kv_cache_append
func.func @append_per_tensor(%c: tensor<?x2x32xbf16>, %kr: tensor<?x2x8xbf16>, %cache: tensor<?x16x40xf8E4M3FN>,
                             %bt: tensor<?x?xi32>, %lens: tensor<?xi32>, %s: tensor<f32>) -> tensor<?x16x40xf8E4M3FN> {
  %0 = mla.kv_cache_append %c, %kr into %cache[%bt, %lens] cache_scale(%s : tensor<f32>) : tensor<?x2x32xbf16>, tensor<?x2x8xbf16> into tensor<?x16x40xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>]
  return %0 : tensor<?x16x40xf8E4M3FN>
}

// -----

// layer_norm: the mean, then the variance around it (two reductions), then
// one elementwise pass with gamma and beta, rounded once to bf16.
// CHECK-LABEL: func.func @layer_norm
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0 : tensor<?x1x8xbf16>)
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%arg0, %{{.*}} : tensor<?x1x8xbf16>, tensor<?x1xf32>)
// CHECK: arith.subf
// CHECK: arith.mulf
// CHECK: linalg.generic {{.*}} ins(%arg0, %{{.*}}, %{{.*}}, %arg1, %arg2 : tensor<?x1x8xbf16>, tensor<?x1xf32>, tensor<?x1xf32>, tensor<8xbf16>, tensor<8xbf16>)
// CHECK: math.rsqrt
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK-NOT: mla.layer_norm
func.func @layer_norm(%x: tensor<?x1x8xbf16>, %g: tensor<8xbf16>, %b: tensor<8xbf16>) -> tensor<?x1x8xbf16> {
  %0 = mla.layer_norm %x, %g, %b : tensor<?x1x8xbf16>, tensor<8xbf16>, tensor<8xbf16>
  return %0 : tensor<?x1x8xbf16>
}

// -----

// index_score: q.k and q_rope.k_rope as f32 contractions into [B, S, H, T],
// the weighted ReLU summed over the heads, then the scale and the mask.
// CHECK-LABEL: func.func @index_score
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg0, %arg1 : tensor<?x2x4x8xbf16>, tensor<?x?x8xbf16>) outs(%{{.*}} : tensor<?x2x4x?xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%arg3, %arg4 : tensor<?x2x4x2xbf16>, tensor<?x?x2xbf16>) outs(%{{.*}} : tensor<?x2x4x?xf32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}}, %arg2 : tensor<?x2x4x?xf32>, tensor<?x2x4x?xf32>, tensor<?x2x4xbf16>) outs(%{{.*}} : tensor<?x2x?xf32>)
// CHECK: arith.maximumf
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %arg5 : tensor<?x2x?xf32>, tensor<?xi32>) outs(%{{.*}} : tensor<?x2x?xf32>)
// CHECK: arith.cmpi slt
// CHECK: arith.cmpi slt
// CHECK: arith.select %{{.*}}, %{{.*}}, %cst{{.*}} : f32
// CHECK-NOT: mla.index_score
func.func @index_score(%q: tensor<?x2x4x8xbf16>, %k: tensor<?x?x8xbf16>, %w: tensor<?x2x4xbf16>,
                       %qr: tensor<?x2x4x2xbf16>, %kr: tensor<?x?x2xbf16>, %l: tensor<?xi32>) -> tensor<?x2x?xf32> {
  %0 = mla.index_score %q, %k weights(%w) rope(%qr, %kr) kv_lens(%l) {scale = 0.25 : f32, causal} : tensor<?x2x4x8xbf16>, tensor<?x?x8xbf16> weights(tensor<?x2x4xbf16>) rope(tensor<?x2x4x2xbf16>, tensor<?x?x2xbf16>) kv_lens(tensor<?xi32>) -> tensor<?x2x?xf32>
  return %0 : tensor<?x2x?xf32>
}

// -----

// topk: scores as ordered integer keys (0 for -inf and NaN); the k-th
// largest key found bit by bit (32 counting passes); the positions above it
// and enough equal to it gathered in position order; then their order
// (score, then position) among the k chosen.
// CHECK-LABEL: func.func @topk
// CHECK: %[[KEYS:.+]] = linalg.generic {{.*}} ins(%arg0 : tensor<?x1x?xf32>) outs(%{{.*}} : tensor<?x1x?xi32>)
// CHECK: arith.bitcast %{{.*}} : f32 to i32
// CHECK: %[[THR:.+]] = scf.for %{{.*}} = %{{.*}} to %c32 step %{{.*}} iter_args(%[[T:.+]] = %{{.*}}) -> (tensor<?x1xi32>)
// CHECK: arith.shli
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[KEYS]], %[[T]] : tensor<?x1x?xi32>, tensor<?x1xi32>)
// CHECK: arith.cmpi uge
// CHECK: linalg.generic {{.*}} outs(%[[T]] : tensor<?x1xi32>)
// CHECK: arith.cmpi ugt
// CHECK: scf.for
// CHECK: scf.for
// CHECK: scf.for {{.*}} -> (tensor<?x1x16xi32>, i32, i32)
// CHECK: scf.if
// CHECK: tensor.insert
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x1x16xi32>, tensor<?x1x16xf32>, tensor<?x1x16xi32>, tensor<?x1x16xf32>)
// CHECK: arith.maxsi
// CHECK-NOT: mla.topk
func.func @topk(%s: tensor<?x1x?xf32>) -> tensor<?x1x16xi32> {
  %0 = mla.topk %s {k = 16} : tensor<?x1x?xf32> -> tensor<?x1x16xi32>
  return %0 : tensor<?x1x16xi32>
}

// -----

// kv_cache_gather: each result a linalg.generic reading the cache through
// the block table (page t / BS, row t % BS, the rope part after d_c), a
// page id outside the cache reading zeros.
// CHECK-LABEL: func.func @gather
// CHECK: %[[NB:.+]] = tensor.dim %arg0, %c0
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x6xf32>)
// CHECK: %[[P:.+]] = tensor.extract %arg1
// CHECK: arith.cmpi sge
// CHECK: arith.cmpi slt, %{{.*}}, %[[NB]]
// CHECK: tensor.extract %arg0
// CHECK: arith.select
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x2xf32>)
// CHECK: arith.addi %{{.*}}, %c6
// CHECK-NOT: mla.kv_cache_gather
func.func @gather(%cache: tensor<?x4x8xf32>, %bt: tensor<?x2xi32>) -> (tensor<?x8x6xf32>, tensor<?x8x2xf32>) {
  %c, %kr = mla.kv_cache_gather %cache[%bt] : tensor<?x4x8xf32>[tensor<?x2xi32>] -> tensor<?x8x6xf32>, tensor<?x8x2xf32>
  return %c, %kr : tensor<?x8x6xf32>, tensor<?x8x2xf32>
}

// -----

// One fp8 scale: read like a plain cache, each e4m3 code decoded to f32,
// times the scale, rounded to the results' type.
// CHECK-LABEL: func.func @gather_per_tensor
// CHECK: %[[S:.+]] = tensor.extract %arg2[] : tensor<f32>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x6xbf16>)
// CHECK: %[[CODE:.+]] = tensor.extract %arg0[%{{.*}}, %{{.*}}, %{{.*}}] : tensor<?x4x8xf8E4M3FN>
// CHECK: %[[BITS:.+]] = arith.bitcast %[[CODE]] : f8E4M3FN to i8
// CHECK: arith.extui %[[BITS]] : i8 to i32
// CHECK: %[[V:.+]] = arith.bitcast %{{.*}} : i32 to f32
// CHECK: %[[X:.+]] = arith.mulf %[[V]], %[[S]] : f32
// CHECK: arith.truncf %[[X]] : f32 to bf16
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<?x8x2xbf16>)
// CHECK: %[[COL:.+]] = arith.addi %{{.*}}, %c6
// CHECK: tensor.extract %arg0[%{{.*}}, %{{.*}}, %[[COL]]] : tensor<?x4x8xf8E4M3FN>
// CHECK: arith.mulf %{{.*}}, %[[S]] : f32
// CHECK-NOT: mla.kv_cache_gather
func.func @gather_per_tensor(%cache: tensor<?x4x8xf8E4M3FN>, %bt: tensor<?x2xi32>, %s: tensor<f32>) -> (tensor<?x8x6xbf16>, tensor<?x8x2xbf16>) {
  %c, %kr = mla.kv_cache_gather %cache[%bt] cache_scale(%s : tensor<f32>) : tensor<?x4x8xf8E4M3FN>[tensor<?x2xi32>] -> tensor<?x8x6xbf16>, tensor<?x8x2xbf16>
  return %c, %kr : tensor<?x8x6xbf16>, tensor<?x8x2xbf16>
}

// -----

// A head cache's gather into rows of dynamic heads and head dim takes them
// from the cache (4 and 64), not from the positions.
// CHECK-LABEL: func.func @gather_heads
// CHECK-DAG: %[[G:.+]] = tensor.dim %arg0, %c2
// CHECK-DAG: %[[D:.+]] = tensor.dim %arg0, %c3
// CHECK: tensor.empty(%{{.*}}, %{{.*}}, %[[G]], %[[D]]) : tensor<?x?x?x?xf32>
func.func @gather_heads(%cache: tensor<?x16x4x64xf32>, %bt: tensor<?x?xi32>) -> tensor<?x?x?x?xf32> {
  %k = mla.kv_cache_gather %cache[%bt] : tensor<?x16x4x64xf32>[tensor<?x?xi32>] -> tensor<?x?x?x?xf32>
  return %k : tensor<?x?x?x?xf32>
}
