// DeepSeek-V3.2's serving variants from mla-codegen: sparse decode (token
// indices) and fp8 rows with group scales. Sparse, from the command line and
// from a dialect file: the library takes indices [batch, q_len, topk] in place of the
// block table and topk in place of max_blocks_per_seq, NAME.h and NAME.json
// say so, and mla-kernel-check has called it (every query's index row
// naming the sequence's rows) before mla-codegen reports success.
// RUN: rm -rf %t && mla-codegen --target=cpu --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --topk=2048 --block-size=64 --dtype=bf16 --vector-width=16 --name=dsa -o %t/cli
// RUN: FileCheck %s --check-prefix=HDR --input-file=%t/cli/dsa.h
// HDR: #define DSA_CAUSAL 0
// HDR: #define DSA_TOPK 2048
// HDR: indices {{ *}}[batch, 1, 2048] cache rows (page * block_size + offset) each query attends to, -1 for a slot without a token (i32)
// HDR: seq_lens {{ *}}[batch] valid slots of each sequence's index rows (0 .. topk); later slots are not read (i32)
// HDR: topk {{ *}}columns of indices: the topk the library was generated for
// HDR: Query i of sequence b sees the cache rows of slots 0 .. seq_lens[b] - 1
// HDR: int32_t dsa(const void *q, const void *kv_cache, const int32_t *indices,
// HDR-NEXT: const int32_t *seq_lens, void *out, float *lse, int32_t batch,
// HDR-NEXT: int32_t topk, float softmax_scale, void *stream);
// RUN: python3 %S/Inputs/json-lines.py %t/cli/dsa.json | FileCheck %s --check-prefix=JSON
// JSON: args[2].name = "indices"
// JSON: args[2].shape = ["batch", 1, 2048]
// JSON: args[7].name = "topk"
// JSON: dims.topk = 2048
// JSON: params.causal = false
// JSON: params.topk = 2048

// The dialect file's op: q_len 2, sinks.
// RUN: mla-codegen %s --layer=false --vector-width=16 --name=dsaf -o %t/file
// RUN: FileCheck %s --check-prefix=FILE --input-file=%t/file/dsaf.h
// FILE: #define DSAF_Q_LEN 2
// FILE: #define DSAF_SINKS 1
// FILE: #define DSAF_TOPK 128
// FILE: indices {{ *}}[batch, 2, 128]
func.func @sparse(%q: tensor<?x2x8x576xbf16>, %c: tensor<?x64x576xbf16>,
                  %idx: tensor<?x2x128xi32>, %l: tensor<?xi32>,
                  %s: tensor<8xf32>) -> (tensor<?x2x8x512xbf16>, tensor<?x8x2xf32>) {
  %o, %lse = mla.decode_attention %q, %c[%idx, %l] sinks(%s : tensor<8xf32>) {scale = 0.0417 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<?x2x8x576xbf16>, tensor<?x64x576xbf16>[tensor<?x2x128xi32>, tensor<?xi32>] -> tensor<?x2x8x512xbf16>, tensor<?x8x2xf32>
  return %o, %lse : tensor<?x2x8x512xbf16>, tensor<?x8x2xf32>
}

// Refusals name the option and the rule.
// RUN: not mla-codegen --num-heads=16 --kv-lora-rank=512 --topk=-3 -o %t/bad 2>&1 | FileCheck %s --check-prefix=NEG
// NEG: --topk=-3 must be in 1..1048576
// RUN: not mla-codegen --num-heads=16 --kv-lora-rank=512 --topk=64 --causal=true -o %t/bad 2>&1 | FileCheck %s --check-prefix=CAUSAL
// CAUSAL: cannot generate a CPU decode kernel: keys = indices (takes a latent cache, no causal and no window)
// RUN: not mla-codegen --num-heads=16 --kv-lora-rank=512 --topk=64 --window=128 -o %t/bad 2>&1 | FileCheck %s --check-prefix=CAUSAL
// RUN: not mla-codegen --num-heads=16 --num-kv-heads=2 --head-dim=64 --topk=64 -o %t/bad 2>&1 | FileCheck %s --check-prefix=CAUSAL

// On the GPU both variants take the mma.sync kernel (sm_90a too) and the
// runtime's description carries topk and the row bytes.
// RUN: mla-codegen --num-heads=128 --kv-lora-rank=512 --qk-rope-head-dim=64 --topk=2048 --cache-scales=row_groups --dtype=bf16 --target=sm_90a --name=gpu -o %t/gpu
// RUN: FileCheck %s --check-prefix=GPU --input-file=%t/gpu/gpu.h
// GPU: partial kernel: mma.sync m16n8k16, 256 threads, 64 query rows
// GPU: #define GPU_TOPK 2048
// GPU: #define GPU_CACHE_ROW_BYTES 656
// GPU: On token indices ERR_MAX_BLOCKS means topk is not the generated one.
// GPU: any negative index is an empty slot
// GPU: dequantized (e4m3 * group scale, bf16 rope)
// GPU: (at most
// GPU-NEXT: 256 and topk)
// The V3.2 layer's own decode kernel (the example file) for sm_80 and sm_90a.
// RUN: mla-codegen %examples/deepseek-v32.mlir --target=sm_80 --name=v32a -o %t/v32a
// RUN: FileCheck %s --check-prefix=V32GPU --input-file=%t/v32a/v32a.h
// RUN: mla-codegen %examples/deepseek-v32.mlir --target=sm_90a --name=v32a -o %t/v32h
// RUN: FileCheck %s --check-prefix=V32GPU --input-file=%t/v32h/v32a.h
// V32GPU: partial kernel: mma.sync m16n8k16
// V32GPU: #define V32A_TOPK 2048
// RUN: python3 %S/Inputs/json-lines.py %t/gpu/gpu.json | FileCheck %s --check-prefix=GPUJSON
// GPUJSON: kernel.form = "mma_sync"
// GPUJSON: params.cache_row_bytes = 656
// GPUJSON: params.topk = 2048

// fp8 rows with group scales (FlashMLA's 656-byte row at 512/64), with token
// indices as DeepSeek-V3.2 serves them: kv_cache is bytes.
// RUN: mla-codegen --target=cpu --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --topk=2048 --cache-scales=row_groups --block-size=64 --dtype=bf16 --vector-width=16 --name=v32 -o %t/fp8
// RUN: FileCheck %s --check-prefix=FP8 --input-file=%t/fp8/v32.h
// FP8: #define V32_TOPK 2048
// FP8: #define V32_CACHE_SCALES "row_groups"
// FP8: #define V32_SCALE_GROUP 128
// FP8: #define V32_CACHE_ROW_BYTES 656
// FP8: kv_cache {{ *}}[num_blocks, 64, 656] rows of d_c e4m3 values, d_c / scale_group f32 scales (value = e4m3 * its group's scale), then d_r bf16 rope values (u8)
// RUN: python3 %S/Inputs/json-lines.py %t/fp8/v32.json | FileCheck %s --check-prefix=FP8JSON
// FP8JSON: args[1].dtype = "u8"
// FP8JSON: args[1].shape = ["num_blocks", 64, 656]
// FP8JSON: checked.args[1].dtype = "u8"
// FP8JSON: dims.cache_row_bytes = 656
// FP8JSON: params.cache_row_bytes = 656
// FP8JSON: params.cache_scales = "row_groups"
// FP8JSON: params.scale_group = 128
// Groups of 64 over d_c 256 with d_r 32: 256 + 16 + 64 bytes.
// RUN: mla-codegen --target=cpu --num-heads=4 --kv-lora-rank=256 --qk-rope-head-dim=32 --cache-scales=row_groups --scale-group=64 --dtype=f32 --vector-width=16 --name=g64 -o %t/g64
// RUN: FileCheck %s --check-prefix=G64 --input-file=%t/g64/g64.h
// G64: #define G64_CACHE_ROW_BYTES 336
// e4m3 codes with one scale (per_tensor): rows of d_c + d_r bytes, and
// kv_scale after softmax_scale in both entries.
// RUN: mla-codegen --target=cpu --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --topk=2048 --cache-scales=per_tensor --block-size=64 --dtype=bf16 --vector-width=16 --name=t8 -o %t/t8
// RUN: FileCheck %s --check-prefix=T8 --input-file=%t/t8/t8.h
// T8: #define T8_CACHE_SCALES "per_tensor"
// T8: kv_cache {{ *}}[num_blocks, 64, 576] rows [c_kv ; k_rope] of e4m3 codes, one per token (value = e4m3 * kv_scale) (u8)
// T8: kv_scale {{ *}}the cache's scale: every value is its e4m3 code times kv_scale; finite and positive
// T8: ERR_SCALE: kv_scale is not finite and positive.
// T8: int32_t topk, float softmax_scale, float kv_scale, void *stream);
// T8: int32_t t8_checked(
// T8: int32_t batch, int32_t topk, float softmax_scale, float kv_scale,
// RUN: python3 %S/Inputs/json-lines.py %t/t8/t8.json | FileCheck %s --check-prefix=T8JSON
// T8JSON: args[1].dtype = "u8"
// T8JSON: args[1].shape = ["num_blocks", 64, 576]
// T8JSON: args[8].name = "softmax_scale"
// T8JSON: args[9].c_type = "float"
// T8JSON: args[9].name = "kv_scale"
// T8JSON: args[10].name = "stream"
// T8JSON: params.cache_scales = "per_tensor"
// The same on sm_90a: mma.sync, the header's kv_scale too.
// RUN: mla-codegen --num-heads=128 --kv-lora-rank=512 --qk-rope-head-dim=64 --cache-scales=per_tensor --dtype=bf16 --target=sm_90a --name=t8g -o %t/t8g
// RUN: FileCheck %s --check-prefix=T8GPU --input-file=%t/t8g/t8g.h
// T8GPU: kernel: mma.sync
// T8GPU: #define T8G_CACHE_SCALES "per_tensor"
// T8GPU: int32_t max_blocks_per_seq, float softmax_scale, float kv_scale,
// RUN: not mla-codegen --num-heads=16 --kv-lora-rank=512 --cache-scales=per_row -o %t/bad 2>&1 | FileCheck %s --check-prefix=SCALES
// SCALES: --cache-scales=per_row is not supported (expected none, per_tensor or row_groups)
// RUN: not mla-codegen --num-heads=16 --num-kv-heads=2 --head-dim=64 --cache-scales=per_tensor -o %t/bad 2>&1 | FileCheck %s --check-prefix=T8HEADS
// T8HEADS: cannot generate a CPU decode kernel: scales = per_tensor (takes a latent cache)
// RUN: not mla-codegen --num-heads=16 --kv-lora-rank=512 --cache-scales=row_groups --scale-group=100 -o %t/bad 2>&1 | FileCheck %s --check-prefix=GROUP
// GROUP: cannot generate a CPU decode kernel: scale_group = 100 (must divide kv_lora_rank = 512 and be a multiple of the
// RUN: not mla-codegen --num-heads=16 --num-kv-heads=2 --head-dim=64 --cache-scales=row_groups -o %t/bad 2>&1 | FileCheck %s --check-prefix=FP8HEADS
// FP8HEADS: cannot generate a CPU decode kernel: scales = row_groups (takes a latent cache whose value is the first d_c columns)
// RUN: not mla-codegen --num-heads=16 --kv-lora-rank=512 --cache-scales=row_groups --scale-group=8 --target=sm_80 -o %t/bad 2>&1 | FileCheck %s --check-prefix=FP8GPU
// FP8GPU: cannot generate a GPU decode kernel: scale_group = 8 (must divide kv_lora_rank = 512 and be a multiple of the 16-element k-step of the tensor-core MMA)

// Wide fp8 rows stage each tile on the stack: d_c 8192 in f32 takes 8-token
// tiles, and a tiling that needs more than 1 MiB of stack is refused.
// RUN: mla-codegen --target=cpu --num-heads=16 --kv-lora-rank=8192 --qk-rope-head-dim=64 --cache-scales=row_groups --dtype=f32 --vector-width=16 --name=wide -o %t/wide
// RUN: python3 %S/Inputs/json-lines.py %t/wide/wide.json | FileCheck %s --check-prefix=WIDE
// WIDE: tile_tokens = 8
// RUN: not mla-codegen --target=cpu --num-heads=16 --kv-lora-rank=8192 --qk-rope-head-dim=64 --cache-scales=row_groups --dtype=f32 --vector-width=16 --tile-tokens=256 -o %t/bad 2>&1 | FileCheck %s --check-prefix=STACK
// STACK: cannot generate a CPU decode kernel: 16 rows x d_c = 8192 with tiles of 256 tokens (staged from fp8 rows) need 9002496 bytes of stack, more than 1048576

// DeepSeek-V3.2's layer from its config: the library's decode entry is the
// sparse kernel the fused layer uses (top 2048), and NAME_layer caches the
// indexer's keys in index_cache, an argument after kv_cache.
// RUN: mla-codegen %examples/deepseek-v32.mlir --vector-width=16 --name=v32l -o %t/layer
// RUN: FileCheck %s --check-prefix=LAYER --input-file=%t/layer/v32l.h
// LAYER: #define V32L_TOPK 2048
// LAYER: One decode step of a DeepSeek-V3.2 layer
// LAYER: index_cache [num_blocks, 64, 128] the indexer's keys, rows [k_pass ; k_rope] (layer-normed, RoPE'd); the new tokens' are written in place (bf16)
// LAYER: [14] [128] ik_norm_bias
// LAYER: int32_t v32l_layer(const void *hidden, const int32_t *positions,
// LAYER-NEXT: void *kv_cache, void *index_cache, int32_t num_blocks,
// RUN: python3 %S/Inputs/json-lines.py %t/layer/v32l.json | FileCheck %s --check-prefix=LAYERJSON
// LAYERJSON: dims.index_head_dim = 128
// LAYERJSON: layer.args[3].name = "index_cache"
// LAYERJSON: layer.args[3].shape = ["num_blocks", 64, 128]

// DeepSeek-V3.2 as it is served: sparse attention over an fp8 latent cache
// (FlashMLA's 656-byte rows), the layer function written by python -m
// mla.layer --kv-cache fp8: kv_cache is bytes, encoded in place.
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/deepseek-v3.2.json --name v32fp8 --kv-cache fp8 > %t/v32fp8.mlir
// RUN: FileCheck %s --check-prefix=FP8LAYERIR --input-file=%t/v32fp8.mlir
// FP8LAYERIR: // kv_cache: fp8 rows, 512 e4m3 values, 4 f32 scales (groups of 128), 64 bf16 rope values.
// FP8LAYERIR: %kv_cache: tensor<?x64x656xi8>
// FP8LAYERIR: mla.kv_cache_append {{.*}} {scale_group = 128 : i64} : tensor<?x1x512xbf16>, tensor<?x1x64xbf16> into tensor<?x64x656xi8>
// RUN: mla-codegen %t/v32fp8.mlir --vector-width=16 --name=v32fp8 -o %t/fp8layer
// RUN: FileCheck %s --check-prefix=FP8LAYER --input-file=%t/fp8layer/v32fp8.h
// FP8LAYER: #define V32FP8_TOPK 2048
// FP8LAYER: #define V32FP8_CACHE_SCALES "row_groups"
// FP8LAYER: #define V32FP8_CACHE_ROW_BYTES 656
// FP8LAYER: kv_cache {{ *}}[num_blocks, 64, 656] rows of d_c e4m3 values, d_c / scale_group f32 scales (value = e4m3 * its group's scale), then d_r bf16 rope values; the new tokens' rows are encoded and written in place (u8)
// FP8LAYER: index_cache [num_blocks, 64, 128]
// RUN: python3 %S/Inputs/json-lines.py %t/fp8layer/v32fp8.json | FileCheck %s --check-prefix=FP8LAYERJSON
// FP8LAYERJSON: layer.args[2].dtype = "u8"
// FP8LAYERJSON: layer.args[2].shape = ["num_blocks", 64, 656]
// The same layer keeping e4m3 codes with one scale (--kv-cache fp8_tensor):
// rows of 576 codes, the scale the layer function's argument after
// seq_lens, given to the append and the fused decode; the C entry takes
// kv_scale there and checks it (ERR_SCALE).
// RUN: env PYTHONPATH=%mla_src/python %python -m mla.layer %examples/configs/deepseek-v3.2.json --name v32t --kv-cache fp8_tensor > %t/v32t.mlir
// RUN: FileCheck %s --check-prefix=T8LAYERIR --input-file=%t/v32t.mlir
// T8LAYERIR: // kv_cache: 576 e4m3 codes a row (rope included), value = code * kv_scale.
// T8LAYERIR: %kv_cache: tensor<?x64x576xf8E4M3FN>,
// T8LAYERIR: %seq_lens: tensor<?xi32>,
// T8LAYERIR-NEXT: %kv_scale: tensor<f32>,
// T8LAYERIR: mla.kv_cache_append {{.*}} cache_scale(%kv_scale : tensor<f32>) : tensor<?x1x512xbf16>, tensor<?x1x64xbf16> into tensor<?x64x576xf8E4M3FN>
// T8LAYERIR: mla.kv_cache_gather %cache_new[%block_table] cache_scale(%kv_scale : tensor<f32>) : tensor<?x64x576xf8E4M3FN>
// RUN: mla-codegen %t/v32t.mlir --vector-width=16 --name=v32t -o %t/t8layer
// RUN: FileCheck %s --check-prefix=T8LAYER --input-file=%t/t8layer/v32t.h
// T8LAYER: #define V32T_CACHE_SCALES "per_tensor"
// T8LAYER: int32_t topk, float softmax_scale, float kv_scale, void *stream);
// T8LAYER: kv_cache {{ *}}[num_blocks, 64, 576] rows [c_kv ; k_rope] of e4m3 codes (value = e4m3 * kv_scale); the new tokens' codes (value / kv_scale, nearest even, saturating) are written in place (u8)
// T8LAYER: kv_scale {{ *}}the cache's scale: every value is its e4m3 code times kv_scale; finite and positive
// T8LAYER: V32T_ERR_SCALE
// T8LAYER: const int32_t *block_table, const int32_t *seq_lens, float kv_scale,
// T8LAYER-NEXT: const void *const *weights, void *out, int32_t batch,
// RUN: python3 %S/Inputs/json-lines.py %t/t8layer/v32t.json | FileCheck %s --check-prefix=T8LAYERJSON
// T8LAYERJSON: layer.args[2].dtype = "u8"
// T8LAYERJSON: layer.args[2].shape = ["num_blocks", 64, 576]
// T8LAYERJSON: layer.args[6].name = "seq_lens"
// T8LAYERJSON: layer.args[7].c_type = "float"
// T8LAYERJSON: layer.args[7].name = "kv_scale"
// T8LAYERJSON: layer.args[8].name = "weights"
// T8LAYERJSON: layer.return_codes[{{[0-9]+}}].name = "ERR_SCALE"
// The scale must be the argument after seq_lens, and what both the append
// and the decode read: a layer writing with another scale, reading with
// another, or without the argument is refused, naming which.
// RUN: sed -e 's/^  %%cache_new = /  %%two = arith.constant dense<2.0> : tensor<f32>\n  %%cache_new = /' -e 's/\[%%block_table, %%seq_lens\] cache_scale(%%kv_scale/[%%block_table, %%seq_lens] cache_scale(%%two/' %t/v32t.mlir > %t/t8write.mlir
// RUN: not mla-codegen %t/t8write.mlir --vector-width=16 --name=t8w -o %t/bad 2>&1 | FileCheck %s --check-prefix=T8WRITE
// T8WRITE: cannot build the layer function: the cache's append must write with its scale, argument 6
// RUN: sed -e 's/^  %%cache_new = /  %%two = arith.constant dense<2.0> : tensor<f32>\n  %%cache_new = /' -e 's/gather %%cache_new\[%%block_table\] cache_scale(%%kv_scale/gather %%cache_new[%%block_table] cache_scale(%%two/' %t/v32t.mlir > %t/t8read.mlir
// RUN: not mla-codegen %t/t8read.mlir --vector-width=16 --name=t8r -o %t/bad 2>&1 | FileCheck %s --check-prefix=T8READ
// T8READ: cannot build the layer function: the attention's cache_scale must be argument 6 (the cache's scale)
// RUN: sed -e '/^    %%kv_scale: tensor<f32>,$/d' -e 's/^  %%cache_new = /  %%kv_scale = arith.constant dense<1.0> : tensor<f32>\n  %%cache_new = /' %t/v32t.mlir > %t/t8noarg.mlir
// RUN: not mla-codegen %t/t8noarg.mlir --vector-width=16 --name=t8n -o %t/bad 2>&1 | FileCheck %s --check-prefix=T8NOARG
// T8NOARG: cannot build the layer function: argument 6 (after seq_lens) must be the cache's scale, tensor<f32>
