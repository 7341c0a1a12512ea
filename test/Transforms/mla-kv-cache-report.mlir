// The standard worked figures, from the example layers.
//
// Llama-3-70B (64 heads, head dim 128, 8 KV heads), batch 8, 1000 tokens,
// 80 layers, 16-bit: MHA caches 2*64*128 values = 32768 bytes per token per
// layer, 20.97 GB in all; GQA with 8 KV heads 2*8*128 = 4096 bytes, 2.62 GB.
// RUN: mla-opt %examples/llama3-70b-gqa.mlir \
// RUN:   --mla-kv-cache-report="batch=8 context=1000 layers=80" -o /dev/null \
// RUN:   | FileCheck %s --check-prefix=LLAMA
// LLAMA-LABEL: kv-cache report: @llama3_70b_decode
// LLAMA-NEXT: attention: GQA, 64 heads, 8 kv heads, head_dim 128, dtype bf16 (2 bytes)
// LLAMA-NEXT: per token per layer: 2048 values, 4096 bytes
// LLAMA-NEXT: mha with the same heads: 16384 values, 32768 bytes
// LLAMA-NEXT: ratio to mha: 0.1250 (1/8.0)
// LLAMA-NEXT: total for batch 8, context 1000, 80 layers: 2621440000 bytes (2.62 GB); mha 20971520000 bytes (20.97 GB)

// DeepSeek (hidden 7168, d_c 512, d_r 64): MLA caches d_c + d_r = 576 values
// per token per layer against 2 * 7168 = 14336 for MHA, about 1/25.
// RUN: mla-opt %examples/deepseek-v3.mlir --mla-kv-cache-report -o /dev/null \
// RUN:   | FileCheck %s --check-prefix=DSV3
// DSV3-LABEL: kv-cache report: @deepseek_v3_decode
// DSV3-NEXT: attention: MLA, 128 heads, 128 kv heads, kv_lora_rank 512, qk_rope_head_dim 64, dtype bf16 (2 bytes)
// DSV3-NEXT: per token per layer: 576 values, 1152 bytes
// DSV3-NEXT: mha with the same heads: 14336 values, 28672 bytes
// DSV3-NEXT: ratio to mha: 0.0402 (1/24.9)

// DeepSeek-V3.2 also caches its indexer's keys (index_head_dim 128): 704
// values per token per layer.
// RUN: mla-opt %examples/deepseek-v32.mlir --mla-kv-cache-report -o /dev/null \
// RUN:   | FileCheck %s --check-prefix=DSV32
// DSV32-LABEL: kv-cache report: @deepseek_v32_decode
// DSV32-NEXT: attention: MLA, 128 heads, 128 kv heads, kv_lora_rank 512, qk_rope_head_dim 64, index_head_dim 128 (indexer keys), dtype bf16 (2 bytes)
// DSV32-NEXT: per token per layer: 704 values, 1408 bytes

// dtype overrides the layer's element type: f32 doubles every byte count;
// DeepSeek-V3's 61 layers at batch 1, 32768 tokens cache 576*4*61*32768 bytes.
// RUN: mla-opt %examples/deepseek-v3.mlir \
// RUN:   --mla-kv-cache-report="dtype=f32 context=32768 layers=61" -o /dev/null \
// RUN:   | FileCheck %s --check-prefix=F32
// F32: dtype f32 (4 bytes)
// F32: per token per layer: 576 values, 2304 bytes
// F32: total for batch 1, context 32768, 61 layers: 4605345792 bytes (4.61 GB); mha 114621939712 bytes (114.62 GB)

// The two other MLA examples: DeepSeek-V2-Lite 576 / 4096, MiniCPM3 288 / 5120.
// RUN: mla-opt %examples/deepseek-v2-lite.mlir --mla-kv-cache-report -o /dev/null \
// RUN:   | FileCheck %s --check-prefix=LITE
// LITE: per token per layer: 576 values, 1152 bytes
// LITE: mha with the same heads: 4096 values, 8192 bytes
// LITE: ratio to mha: 0.1406 (1/7.1)
// RUN: mla-opt %examples/minicpm3-4b.mlir --mla-kv-cache-report="dtype=fp8" -o /dev/null \
// RUN:   | FileCheck %s --check-prefix=CPM
// CPM: attention: MLA, 40 heads, 40 kv heads, kv_lora_rank 256, qk_rope_head_dim 32, dtype fp8 (1 bytes)
// CPM: per token per layer: 288 values, 288 bytes
// CPM: mha with the same heads: 5120 values, 5120 bytes

// The pass leaves the IR unchanged.
// RUN: mla-opt %examples/minicpm3-4b.mlir --mla-kv-cache-report -o %t.after > /dev/null
// RUN: mla-opt %examples/minicpm3-4b.mlir -o %t.before
// RUN: diff %t.before %t.after

// Bad options are diagnosed.
// RUN: not mla-opt %examples/minicpm3-4b.mlir --mla-kv-cache-report="dtype=int4" -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=BADTYPE
// BADTYPE: error: mla-kv-cache-report: unknown dtype 'int4' (expected f32, f16, bf16 or fp8)
// RUN: not mla-opt %examples/minicpm3-4b.mlir --mla-kv-cache-report="batch=-1" -o /dev/null 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NEG
// NEG: error: mla-kv-cache-report: batch, context and layers must be non-negative, got -1, 1, 1

// RUN: not mla-opt %s -split-input-file --mla-kv-cache-report -o /dev/null 2>&1 | FileCheck %s

// A module with two layers reports both; MQA caches 2 * d_h; attention
// without a layer config is only warned about.
// CHECK-LABEL: kv-cache report: @mqa
// CHECK: attention: MQA, 32 heads, 1 kv heads, head_dim 128, dtype f16 (2 bytes)
// CHECK: per token per layer: 256 values, 512 bytes
// CHECK-LABEL: kv-cache report: @mha
// CHECK: attention: MHA, 4 heads, 4 kv heads, head_dim 16, dtype f32 (4 bytes)
// CHECK: per token per layer: 128 values, 512 bytes
// CHECK: ratio to mha: 1.0000 (1/1.0)
// CHECK: warning: mla-kv-cache-report: attention outside an op with an 'mla.layer' config is not reported
func.func @mqa(%q: tensor<1x?x32x128xf16>, %k: tensor<1x?x1x128xf16>) -> tensor<1x?x32x128xf16>
    attributes {mla.layer = #mla.layer_config<hidden_size = 4096, num_attention_heads = 32, num_key_value_heads = 1, head_dim = 128, rope_theta = 10000.0, rope_style = rotate_half>} {
  %o = mla.attention %q, %k, %k {scale = 0.088 : f32, causal} : tensor<1x?x32x128xf16>, tensor<1x?x1x128xf16>, tensor<1x?x1x128xf16> -> tensor<1x?x32x128xf16>
  return %o : tensor<1x?x32x128xf16>
}
func.func @mha(%q: tensor<1x?x4x16xf32>) -> tensor<1x?x4x16xf32>
    attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>} {
  %o = mla.attention %q, %q, %q {scale = 0.25 : f32, causal} : tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32> -> tensor<1x?x4x16xf32>
  return %o : tensor<1x?x4x16xf32>
}
func.func @no_config(%q: tensor<1x?x4x16xf32>) -> tensor<1x?x4x16xf32> {
  %o = mla.attention %q, %q, %q {scale = 0.25 : f32} : tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32>, tensor<1x?x4x16xf32> -> tensor<1x?x4x16xf32>
  return %o : tensor<1x?x4x16xf32>
}

// -----

// A layer with no attention op to take the element type from needs dtype.
// CHECK: error: mla-kv-cache-report: cannot size cache elements of type ''; pass dtype=f32|f16|bf16|fp8
func.func private @decl() attributes {mla.layer = #mla.layer_config<hidden_size = 64, num_attention_heads = 4, num_key_value_heads = 4, head_dim = 16, rope_theta = 10000.0, rope_style = rotate_half>}

// Totals past 64 bits are an error, not a wrapped number.
// RUN: not mla-opt %examples/deepseek-v3.mlir -o /dev/null \
// RUN:   --mla-kv-cache-report="batch=4294967296 context=9223372036854775807 layers=61" 2>&1 \
// RUN:   | FileCheck %s --check-prefix=OVERFLOW
// OVERFLOW: error: mla-kv-cache-report: the footprint of batch 4294967296, context 9223372036854775807, 61 layers does not fit in 64 bits (over 9.2e18 bytes)
