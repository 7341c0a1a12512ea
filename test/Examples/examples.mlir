// Every example parses, verifies and round-trips, in custom and generic form.
// RUN: mla-opt %examples/deepseek-v3.mlir | mla-opt | FileCheck %s --check-prefix=V3
// RUN: mla-opt %examples/deepseek-v3.mlir --mlir-print-op-generic | mla-opt | FileCheck %s --check-prefix=V3
// V3-LABEL: func.func @deepseek_v3_decode
// V3: mla.linear
// V3: mla.rms_norm
// V3-COUNT-2: mla.head_proj
// V3: mla.rope
// V3: mla.linear
// V3: mla.rms_norm
// V3: mla.linear
// V3: mla.rope
// V3: mla.kv_cache_append
// V3: mla.kv_cache_gather
// V3-COUNT-2: mla.head_proj
// V3: mla.attention {{.*}} rope({{.*}}) kv_lens({{.*}}) {causal, scale = 0.135233775 : f32} : tensor<?x1x128x128xbf16>, tensor<?x?x128x128xbf16>, tensor<?x?x128x128xbf16> rope(tensor<?x1x128x64xbf16>, tensor<?x?x64xbf16>)
// V3: mla.out_proj {{.*}} : tensor<?x1x128x128xbf16>, tensor<16384x7168xbf16> -> tensor<?x1x7168xbf16>

// RUN: mla-opt %examples/deepseek-v2-lite.mlir | mla-opt | FileCheck %s --check-prefix=LITE
// No q_lora_rank: queries are projected from the hidden state directly.
// LITE-LABEL: func.func @deepseek_v2_lite_decode
// LITE: mla.head_proj %arg0, %{{.*}} : tensor<?x1x2048xbf16>, tensor<16x2048x128xbf16> -> tensor<?x1x16x128xbf16>

// RUN: mla-opt %examples/minicpm3-4b.mlir | mla-opt | FileCheck %s --check-prefix=CPM
// CPM-LABEL: func.func @minicpm3_4b_decode
// CPM: mla.rope {{.*}}rotate_half{{.*}} : tensor<?x1x40x32xbf16>
// CPM: mla.kv_cache_append {{.*}} into tensor<?x64x288xbf16>

// RUN: mla-opt %examples/llama3-70b-gqa.mlir | mla-opt | FileCheck %s --check-prefix=LLAMA
// LLAMA-LABEL: func.func @llama3_70b_decode
// LLAMA: mla.kv_cache_append %{{.*}} into %{{.*}}[%{{.*}}, %{{.*}}] : tensor<?x1x8x128xbf16> into tensor<?x64x8x128xbf16>
// LLAMA: mla.kv_cache_gather %{{.*}}[%{{.*}}] : tensor<?x64x8x128xbf16>[tensor<?x?xi32>] -> tensor<?x?x8x128xbf16>
// LLAMA: mla.attention {{.*}} kv_lens(%{{.*}}) {{.*}} : tensor<?x1x64x128xbf16>, tensor<?x?x8x128xbf16>, tensor<?x?x8x128xbf16> kv_lens(tensor<?xi32>) -> tensor<?x1x64x128xbf16>

// The committed examples are what the generator writes from the configs.
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/minicpm3-4b.json --name minicpm3_4b_decode | diff - %examples/minicpm3-4b.mlir
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/llama3-70b.json --name llama3_70b_decode | diff - %examples/llama3-70b-gqa.mlir
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/deepseek-v3.json --name deepseek_v3_decode | diff - %examples/deepseek-v3.mlir
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/deepseek-v2-lite.json --name deepseek_v2_lite_decode | diff - %examples/deepseek-v2-lite.mlir
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/kimi-k2.json --name kimi_k2_decode | diff - %examples/kimi-k2.mlir
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/mistral-small-4.json --name mistral_small_4_decode | diff - %examples/mistral-small-4.mlir
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/deepseek-v3.2.json --name deepseek_v32_decode | diff - %examples/deepseek-v32.mlir

// DeepSeek-V3.2 (DeepSeek Sparse Attention): the indexer's 64 heads of 128
// (RoPE on their first 64 dims with half-split pairs, the keys layer-normed
// and cached in an index cache of 128-wide rows), ReLU scores weighted per
// head with scale 1/sqrt(128 * 64), the top 2048 positions, attention over
// those; absorbed and fused, the sparse decode op on the latent cache.
// RUN: mla-opt %examples/deepseek-v32.mlir | mla-opt | FileCheck %s --check-prefix=V32
// RUN: mla-opt %examples/deepseek-v32.mlir --mlir-print-op-generic | mla-opt | FileCheck %s --check-prefix=V32
// V32-LABEL: func.func @deepseek_v32_decode
// V32: mla.kv_cache_append {{.*}} into tensor<?x64x576xbf16>
// V32: mla.rope {{.*}}style = #mla.rope_style<rotate_half>{{.*}} : tensor<?x1x64x64xbf16>
// V32: mla.layer_norm {{.*}} : tensor<?x1x128xbf16>, tensor<128xbf16>, tensor<128xbf16>
// V32: mla.kv_cache_append {{.*}} into tensor<?x64x128xbf16>
// V32: mla.index_score {{.*}} kv_lens(%{{.*}}) {causal, scale = 0.0110485433 : f32} : tensor<?x1x64x64xbf16>, tensor<?x?x64xbf16> weights(tensor<?x1x64xbf16>)
// V32: mla.topk {{.*}} {k = 2048 : i64} : tensor<?x1x?xf32> -> tensor<?x1x2048xi32>
// V32: mla.attention {{.*}} kv_lens(%{{.*}}) indices(%{{.*}}) {causal, scale = 0.135233775 : f32}
// RUN: mla-opt %examples/deepseek-v32.mlir --mla-absorb-weights --mla-fuse-decode-attention | FileCheck %s --check-prefix=V32FUSED
// V32FUSED: mla.decode_attention {{.*}} {scale = 0.135233775 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<?x1x128x576xbf16>, tensor<?x64x576xbf16>[tensor<?x1x2048xi32>, tensor<?xi32>]
// V32FUSED-NOT: mla.attention
// A V3.2 prefill layer selects among the sequence's own positions.
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/deepseek-v3.2.json --mode prefill --dtype f32 | mla-opt | FileCheck %s --check-prefix=V32PRE
// V32PRE: mla.index_score {{.*}} {causal, scale = 0.0110485433 : f32} : tensor<?x?x64x64xf32>, tensor<?x?x64xf32>
// V32PRE: mla.attention {{.*}} indices(%{{.*}}) {causal

// What the real configs' RoPE settings become. DeepSeek-V3: YaRN (factor 40
// over 4096 positions, mscale = mscale_all_dim = 1), the softmax scale
// 1/sqrt(192) * (1 + 0.1 ln 40)^2.
// RUN: mla-opt %examples/deepseek-v3.mlir | FileCheck %s --check-prefix=V3ROPE
// V3ROPE: mla.rope {{.*}}scaling = #mla.rope_scaling<rope_type = yarn, factor = 4.000000e+01, original_max_position_embeddings = 4096, mscale = 1.000000e+00, mscale_all_dim = 1.000000e+00>
// V3ROPE: mla.attention {{.*}}scale = 0.135233775 : f32
// DeepSeek-V2-Lite: mscale = mscale_all_dim = 0.707, scale 1/sqrt(192) (1 + 0.0707 ln 40)^2.
// RUN: mla-opt %examples/deepseek-v2-lite.mlir | FileCheck %s --check-prefix=LITEROPE
// LITEROPE: mla.rope {{.*}}mscale = 7.070000e-01, mscale_all_dim = 7.070000e-01>
// LITEROPE: mla.attention {{.*}}scale = 0.114721388 : f32
// MiniCPM3: longrope with its 16 per-pair factors, rotate_half pairs
// (model_type minicpm3), factor 32768 / 32768 = 1 (the default, not printed).
// RUN: mla-opt %examples/minicpm3-4b.mlir | FileCheck %s --check-prefix=CPMROPE
// CPMROPE: mla.rope {{.*}}scaling = #mla.rope_scaling<rope_type = longrope, original_max_position_embeddings = 32768, short_factor = [1.0591234137867171, {{.*}}, 16.940876586213285], long_factor = [1.0591234137867171, {{.*}}]>, style = #mla.rope_style<rotate_half>
// Mistral Small 4 (transformers 5 rope_parameters): Llama 4's query scale on
// c_q, YaRN over the 64 rope dims of the 128 query dims.
// RUN: mla-opt %examples/mistral-small-4.mlir | FileCheck %s --check-prefix=MISTRAL
// MISTRAL: %[[CQ:.+]] = mla.rms_norm
// MISTRAL: %[[CQS:.+]] = mla.position_scale %[[CQ]], %arg1 {beta = 1.000000e-01 : f64, original_max_position_embeddings = 8192 : i64}
// MISTRAL: mla.head_proj %[[CQS]]
// MISTRAL: mla.head_proj %[[CQS]]
// MISTRAL: mla.rope {{.*}}factor = 1.280000e+02, original_max_position_embeddings = 8192
// MISTRAL: mla.attention {{.*}}scale = 0.19496949 : f32

// The generator's other modes give valid IR too: an MLA prefill layer in f32
// with q_len 4 and page size 16.
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/deepseek-v2-lite.json --mode prefill --dtype f32 | mla-opt | FileCheck %s --check-prefix=PREFILL
// PREFILL: mla.attention %{{.*}}, %{{.*}}, %{{.*}} rope(%{{.*}}, %{{.*}}) {causal, {{.*}}} : tensor<?x?x16x128xf32>, tensor<?x?x16x128xf32>
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/minicpm3-4b.json --q-len 4 --block-size 16 --dtype f32 | mla-opt | FileCheck %s --check-prefix=Q4
// Q4: mla.kv_cache_append {{.*}} : tensor<?x4x256xf32>, tensor<?x4x32xf32> into tensor<?x16x288xf32>

// Every example generates its decode kernels and its layer function (the
// library built, loaded and checked by mla-kernel-check; NAME_layer in the
// header).
// RUN: rm -rf %t.gen
// RUN: mla-codegen %examples/deepseek-v3.mlir --vector-width=16 --name=v3 -o %t.gen/v3
// RUN: mla-codegen %examples/deepseek-v2-lite.mlir --vector-width=16 --name=lite -o %t.gen/lite
// RUN: mla-codegen %examples/minicpm3-4b.mlir --vector-width=16 --name=cpm -o %t.gen/cpm
// RUN: mla-codegen %examples/kimi-k2.mlir --vector-width=16 --name=k2 -o %t.gen/k2
// RUN: mla-codegen %examples/mistral-small-4.mlir --vector-width=16 --name=m4 -o %t.gen/m4
// RUN: mla-codegen %examples/llama3-70b-gqa.mlir --vector-width=16 --name=llama -o %t.gen/llama
// RUN: cat %t.gen/*/*.h | FileCheck %s --check-prefix=GEN
// GEN-DAG: int32_t v3_layer(
// GEN-DAG: int32_t lite_layer(
// GEN-DAG: int32_t cpm_layer(
// GEN-DAG: int32_t k2_layer(
// GEN-DAG: int32_t m4_layer(
// GEN-DAG: int32_t llama_layer(
