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
// V3: mla.attention {{.*}} rope({{.*}}) kv_lens({{.*}}) {causal, scale = 0.0721687824 : f32} : tensor<?x1x128x128xbf16>, tensor<?x?x128x128xbf16>, tensor<?x?x128x128xbf16> rope(tensor<?x1x128x64xbf16>, tensor<?x?x64xbf16>)
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
// LLAMA-LABEL: func.func @llama3_70b_prefill
// LLAMA: mla.attention {{.*}} : tensor<?x?x64x128xbf16>, tensor<?x?x8x128xbf16>, tensor<?x?x8x128xbf16> -> tensor<?x?x64x128xbf16>

// The committed examples are what the generator writes from the configs.
// RUN: env PYTHONPATH=%mla_src/python python3 -m mla.layer %examples/configs/minicpm3-4b.json --name minicpm3_4b_decode --rope-style rotate_half | diff - %examples/minicpm3-4b.mlir
// RUN: env PYTHONPATH=%mla_src/python python3 -m mla.layer %examples/configs/deepseek-v3.json --name deepseek_v3_decode | diff - %examples/deepseek-v3.mlir

// The generator's other modes give valid IR too: an MLA prefill layer in f32
// with q_len 4 and page size 16.
// RUN: env PYTHONPATH=%mla_src/python python3 -m mla.layer %examples/configs/deepseek-v2-lite.json --mode prefill --dtype f32 | mla-opt | FileCheck %s --check-prefix=PREFILL
// PREFILL: mla.attention %{{.*}}, %{{.*}}, %{{.*}} rope(%{{.*}}, %{{.*}}) {causal, {{.*}}} : tensor<?x?x16x128xf32>, tensor<?x?x16x128xf32>
// RUN: env PYTHONPATH=%mla_src/python python3 -m mla.layer %examples/configs/minicpm3-4b.json --q-len 4 --block-size 16 --dtype f32 | mla-opt | FileCheck %s --check-prefix=Q4
// Q4: mla.kv_cache_append {{.*}} : tensor<?x4x256xf32>, tensor<?x4x32xf32> into tensor<?x16x288xf32>
