// NAME.h and NAME.json of CPU libraries, both printed from the ABI's one
// description (include/mla/Runtime/KernelABI.h). json-lines.py prints one
// `path = value` line per JSON value, keys sorted.

// A kernel from options: f16, not causal. ERR_SEQ_LEN_SHORT (5) is not among
// a kernel's codes: it serves slots shorter than q_len (padded batches).
// RUN: rm -rf %t && mla-codegen --target=cpu --num-heads=3 --kv-lora-rank=64 --qk-rope-head-dim=16 --q-len=2 --block-size=16 --dtype=f16 --causal=false --vector-width=8 --name=abi_cpu -o %t/cpu
// RUN: python3 %S/Inputs/json-lines.py %t/cpu/abi_cpu.json | FileCheck %s --check-prefix=CPU
// bf16 with 16 heads: --amx=false leaves the AMX kernel out on any host
// (vector width 16 and AVX512-BF16 from --mcpu=sapphirerapids, which has
// AMX), and the groups stay the vector kernels' own.
// RUN: mla-codegen --target=cpu --num-heads=16 --kv-lora-rank=64 --qk-rope-head-dim=32 --dtype=bf16 --mcpu=sapphirerapids --amx=false --name=noamx -o %t/noamx
// RUN: python3 %S/Inputs/json-lines.py %t/noamx/noamx.json | FileCheck %s --check-prefix=NOAMX
// NOAMX: kernel.amx = false
// NOAMX-NEXT: kernel.bf16_dot = true
// RUN: mla-codegen --target=cpu --num-heads=16 --kv-lora-rank=64 --qk-rope-head-dim=32 --dtype=bf16 --mcpu=sapphirerapids --name=amx -o %t/amx
// RUN: python3 %S/Inputs/json-lines.py %t/amx/amx.json | FileCheck %s --check-prefix=AMX
// RUN: nm -D %t/amx/libamx.so | FileCheck %s --check-prefix=AMX-SYM
// AMX: kernel.amx = true
// AMX-SYM: _mlir_ciface_amx_partial_amx
// CPU: abi_version = 1{{$}}
// CPU-NEXT: args[0].c_type = "const void *"
// CPU-NEXT: args[0].dims = ["batch", "q_len", "num_heads", "row_width"]
// CPU-NEXT: args[0].direction = "in"
// CPU-NEXT: args[0].dtype = "f16"
// CPU-NEXT: args[0].kind = "array"
// CPU-NEXT: args[0].meaning = "q_lat followed by the rotated q_rope"
// CPU-NEXT: args[0].name = "q"
// CPU-NEXT: args[0].shape = ["batch", 2, 3, 80]
// CPU: args[1].dtype = "f16"
// CPU: args[1].name = "kv_cache"
// CPU-NEXT: args[1].shape = ["num_blocks", 16, 80]
// CPU: args[2].c_type = "const int32_t *"
// CPU: args[2].dtype = "i32"
// CPU: args[2].name = "block_table"
// CPU-NEXT: args[2].shape = ["batch", "max_blocks_per_seq"]
// CPU: args[3].name = "seq_lens"
// CPU-NEXT: args[3].shape = ["batch"]
// CPU: args[4].c_type = "void *"
// CPU: args[4].direction = "out"
// CPU-NEXT: args[4].dtype = "f16"
// CPU: args[4].name = "out"
// CPU-NEXT: args[4].shape = ["batch", 2, 3, 64]
// CPU: args[5].c_type = "float *"
// CPU: args[5].direction = "out"
// CPU-NEXT: args[5].dtype = "f32"
// CPU: args[5].name = "lse"
// CPU-NEXT: args[5].shape = ["batch", 3, 2]
// CPU: args[6].c_type = "int32_t"
// CPU: args[6].kind = "scalar"
// CPU: args[6].name = "batch"
// CPU-NEXT: args[6].shape = null
// CPU: args[7].name = "max_blocks_per_seq"
// CPU: args[8].c_type = "float"
// CPU: args[8].name = "softmax_scale"
// CPU: args[9].c_type = "void *"
// CPU: args[9].dtype = null
// CPU-NEXT: args[9].kind = "handle"
// CPU: args[9].name = "stream"
// CPU-NOT: {{^}}args[10]
// NAME_checked: the contract's arguments with num_blocks after kv_cache.
// CPU: checked.args[1].name = "kv_cache"
// CPU: checked.args[2].c_type = "int32_t"
// CPU: checked.args[2].name = "num_blocks"
// CPU: checked.args[3].name = "block_table"
// CPU: checked.args[10].name = "stream"
// CPU: checked.symbol = "abi_cpu_checked"
// CPU: dims.block_size = 16{{$}}
// CPU-NEXT: dims.hidden_size = null
// CPU-NEXT: dims.kv_lora_rank = 64{{$}}
// CPU-NEXT: dims.num_heads = 3{{$}}
// CPU-NEXT: dims.q_len = 2{{$}}
// CPU-NEXT: dims.row_width = 80{{$}}
// CPU-NEXT: header = "abi_cpu.h"
// CPU: kernel.form = "cpu_vector"
// CPU-NEXT: kernel.prefetch = "out_of_cache"
// CPU-NEXT: kernel.pv_dot = false
// CPU-NEXT: kernel.rows_per_group = 6{{$}}
// CPU-NEXT: kernel.tile_tokens = 16{{$}}
// CPU-NEXT: kernel.vector_width = 8{{$}}
// CPU-NEXT: layer = null
// CPU-NEXT: library = "libabi_cpu.so"
// CPU-NEXT: memory = "host"
// CPU: num_splits.args[2].name = "threads"
// CPU: num_splits.env = "MLA_CPU_NUM_SPLITS"
// CPU-NEXT: num_splits.returns = "int32_t"
// CPU-NEXT: num_splits.symbol = "abi_cpu_num_splits"
// CPU-NEXT: params.block_size = 16{{$}}
// CPU-NEXT: params.causal = false
// CPU-NEXT: params.dtype = "f16"
// CPU-NEXT: params.kv_lora_rank = 64{{$}}
// CPU-NEXT: params.num_heads = 3{{$}}
// CPU-NEXT: params.q_len = 2{{$}}
// CPU-NEXT: params.qk_rope_head_dim = 16{{$}}
// Generated from options, not a layer: no scale to report; no window.
// CPU-NOT: params.softmax_scale
// CPU-NEXT: params.sinks = false
// CPU-NEXT: params.window = null
// CPU-NEXT: return_codes[0].macro = "ABI_CPU_OK"
// CPU: return_codes[0].value = 0{{$}}
// CPU: return_codes[1].name = "ERR_NULL_POINTER"
// CPU-NEXT: return_codes[1].value = 1{{$}}
// CPU: return_codes[2].name = "ERR_BATCH"
// CPU-NEXT: return_codes[2].value = 2{{$}}
// CPU: return_codes[3].name = "ERR_MAX_BLOCKS"
// CPU-NEXT: return_codes[3].value = 3{{$}}
// CPU: return_codes[4].macro = "ABI_CPU_ERR_SEQ_LEN"
// CPU-NEXT: return_codes[4].meaning = "a seq_len < 0 or above max_blocks_per_seq * block_size"
// CPU-NEXT: return_codes[4].name = "ERR_SEQ_LEN"
// CPU-NEXT: return_codes[4].value = 4{{$}}
// CPU: return_codes[5].name = "ERR_SCALE"
// CPU-NEXT: return_codes[5].value = 6{{$}}
// CPU: return_codes[6].name = "ERR_BLOCK_ID"
// CPU-NEXT: return_codes[6].value = 7{{$}}
// CPU: return_codes[7].name = "ERR_STREAM"
// CPU-NEXT: return_codes[7].value = 11{{$}}
// CPU: return_codes[8].name = "ERR_ALLOC"
// CPU-NEXT: return_codes[8].value = 12{{$}}
// CPU-NEXT: returns = "int32_t"
// CPU-NEXT: symbol = "abi_cpu"
// CPU-NEXT: target = "cpu"

// The header: the same codes, the kernel's element type, the table's
// arguments and C declarations.
// RUN: FileCheck %s --check-prefix=CPU-H --input-file=%t/cpu/abi_cpu.h
// CPU-H: #define ABI_CPU_CAUSAL 0{{$}}
// CPU-H-NEXT: #define ABI_CPU_WINDOW 0{{$}}
// CPU-H-NEXT: #define ABI_CPU_SINKS 0{{$}}
// CPU-H-NEXT: #define ABI_CPU_DTYPE "f16"
// CPU-H: #define ABI_CPU_OK 0 {{ *}}/* success
// CPU-H-NEXT: #define ABI_CPU_ERR_NULL_POINTER 1 {{ *}}/*
// CPU-H-NEXT: #define ABI_CPU_ERR_BATCH 2 {{ *}}/*
// CPU-H-NEXT: #define ABI_CPU_ERR_MAX_BLOCKS 3 {{ *}}/*
// CPU-H-NEXT: #define ABI_CPU_ERR_SEQ_LEN 4 {{ *}}/* a seq_len < 0 or above max_blocks_per_seq * block_size */
// CPU-H-NEXT: #define ABI_CPU_ERR_SCALE 6 {{ *}}/*
// CPU-H-NEXT: #define ABI_CPU_ERR_BLOCK_ID 7 {{ *}}/*
// CPU-H-NEXT: #define ABI_CPU_ERR_STREAM 11 {{ *}}/* a non-NULL stream (the CPU kernels run
// CPU-H-NEXT: #define ABI_CPU_ERR_ALLOC 12 {{ *}}/* host memory could not be allocated
// CPU-H-NEXT: {{^$}}
// CPU-H:  *   q           [batch, 2, 3, 80] q_lat followed by the rotated q_rope (f16)
// CPU-H-NEXT:  *   kv_cache    [num_blocks, 16, 80] rows [c_kv ; k_rope], one per token (f16)
// CPU-H:  *   out         [batch, 2, 3, 64] o_lat (f16)
// CPU-H-NEXT:  *   lse         [batch, 3, 2] natural-log sum of exp of the scaled scores, -inf if none (f32)
// CPU-H: int32_t abi_cpu(const void *q, const void *kv_cache,
// CPU-H-NEXT:     const int32_t *block_table, const int32_t *seq_lens, void *out, float *lse,
// CPU-H-NEXT:     int32_t batch, int32_t max_blocks_per_seq, float softmax_scale,
// CPU-H-NEXT:     void *stream);
// CPU-H: int32_t abi_cpu_num_splits(int32_t batch, int32_t max_seq_len,
// CPU-H-NEXT:     int32_t threads);

// A failed generation changes nothing in the output directory: here the
// library (4 heads now) does not link without the prebuilt CPU runtime; the
// earlier library, NAME.h and NAME.json stay as they were, together, and no
// staging directory is left behind.
// RUN: cp %t/cpu/abi_cpu.h %t/abi_cpu.h.before && cp %t/cpu/abi_cpu.json %t/abi_cpu.json.before
// RUN: not mla-codegen --target=cpu --num-heads=4 --kv-lora-rank=64 --qk-rope-head-dim=16 --q-len=2 --block-size=16 --dtype=f16 --causal=false --vector-width=8 --name=abi_cpu -o %t/cpu --runtime-lib-dir=%t/none 2>&1 | FileCheck %s --check-prefix=NOLIB
// NOLIB: linking {{.*}}libabi_cpu.so failed
// NOLIB: -lmla_cpu_runtime
// RUN: diff %t/cpu/abi_cpu.h %t/abi_cpu.h.before && diff %t/cpu/abi_cpu.json %t/abi_cpu.json.before
// RUN: ls -A %t/cpu | FileCheck %s --check-prefix=CLEAN
// CLEAN-NOT: tmp

// Each library is loaded and called once, in mla-kernel-check, before
// mla-codegen reports success. The check itself: it passes on the library
// above, and fails when NAME.json names a symbol the library lacks or
// describes a kernel the library is not (causal where it is not: lse of the
// first query is then ln 4 instead of ln 5).
// RUN: mla-kernel-check %t/cpu/abi_cpu.json
// RUN: mkdir -p %t/lie && cp %t/cpu/libabi_cpu.so %t/lie/
// RUN: sed 's/"symbol": "abi_cpu_num_splits"/"symbol": "abi_cpu_splits"/' %t/cpu/abi_cpu.json > %t/lie/abi_cpu.json
// RUN: not mla-kernel-check %t/lie/abi_cpu.json 2>&1 | FileCheck %s --check-prefix=NOSYM
// NOSYM: mla-kernel-check: the library does not export abi_cpu_splits
// RUN: sed 's/"causal": false/"causal": true/' %t/cpu/abi_cpu.json > %t/lie/abi_cpu.json
// RUN: not mla-kernel-check %t/lie/abi_cpu.json 2>&1 | FileCheck %s --check-prefix=WRONG
// WRONG: mla-kernel-check: lse[0, 0] is 1.6094{{[0-9]*}}, expected ln(4)

// A dialect file in f32 (DeepSeek-V2-Lite's layer with f32 types): the
// kernel's element type, not --dtype, in NAME.h and NAME.json, and the
// layer function with its weights and codes (5 for seq_len < q_len).
// RUN: sed 's/bf16/f32/g' %examples/deepseek-v2-lite.mlir > %t/v2lite-f32.mlir
// RUN: mla-codegen %t/v2lite-f32.mlir --dtype=f16 --vector-width=16 --name=v2l -o %t/layer
// RUN: FileCheck %s --check-prefix=LAYER-H --input-file=%t/layer/v2l.h
// LAYER-H: #define V2L_DTYPE "f32"
// LAYER-H: #define V2L_ERR_SEQ_LEN_SHORT 5 {{ *}}/* a seq_len < q_len (the layer: its new tokens need positions; the kernels serve such padded slots) */
// LAYER-H:  *   hidden      [batch, 1, 2048] hidden states of the new tokens (f32)
// LAYER-H:  *   kv_cache    [num_blocks, 64, 576] rows [c_kv ; k_rope]; the new tokens' rows are written in place (f32)
// LAYER-H:  *     [7] [2048, 2048]
// LAYER-H:  * Returns V2L_OK, or with nothing written:
// LAYER-H:  *   V2L_ERR_SEQ_LEN_SHORT
// LAYER-H: int32_t v2l_layer(const void *hidden, const int32_t *positions, void *kv_cache,
// LAYER-H-NEXT:     int32_t num_blocks, const int32_t *block_table, const int32_t *seq_lens,
// LAYER-H-NEXT:     const void *const *weights, void *out, int32_t batch,
// LAYER-H-NEXT:     int32_t max_blocks_per_seq);
// RUN: python3 %S/Inputs/json-lines.py %t/layer/v2l.json | FileCheck %s --check-prefix=LAYER
// LAYER: args[0].dtype = "f32"
// LAYER: args[0].shape = ["batch", 1, 16, 576]
// LAYER: dims.hidden_size = 2048{{$}}
// LAYER: layer.args[0].dtype = "f32"
// LAYER: layer.args[0].name = "hidden"
// LAYER-NEXT: layer.args[0].shape = ["batch", 1, 2048]
// LAYER: layer.args[1].name = "positions"
// LAYER-NEXT: layer.args[1].shape = ["batch", 1]
// LAYER: layer.args[2].direction = "inout"
// LAYER: layer.args[2].name = "kv_cache"
// LAYER-NEXT: layer.args[2].shape = ["num_blocks", 64, 576]
// LAYER: layer.args[3].kind = "scalar"
// LAYER: layer.args[3].name = "num_blocks"
// LAYER: layer.args[4].name = "block_table"
// LAYER: layer.args[5].name = "seq_lens"
// LAYER: layer.args[6].c_type = "const void *const *"
// LAYER: layer.args[6].kind = "array_list"
// LAYER: layer.args[6].name = "weights"
// LAYER: layer.args[7].direction = "out"
// LAYER: layer.args[7].name = "out"
// LAYER-NEXT: layer.args[7].shape = ["batch", 1, 2048]
// LAYER: layer.args[8].name = "batch"
// LAYER: layer.args[9].name = "max_blocks_per_seq"
// LAYER-NOT: layer.args[10]
// V2-Lite merges nothing (merging is costlier per token at its sizes).
// LAYER: layer.prepare_weights = null
// LAYER: layer.return_codes[4].name = "ERR_SEQ_LEN"
// LAYER-NEXT: layer.return_codes[4].value = 4{{$}}
// LAYER: layer.return_codes[5].macro = "V2L_ERR_SEQ_LEN_SHORT"
// LAYER: layer.return_codes[5].value = 5{{$}}
// LAYER: layer.return_codes[6].name = "ERR_BLOCK_ID"
// LAYER-NEXT: layer.return_codes[6].value = 7{{$}}
// The layer's own buffers: a failed allocation is a code, not a crash.
// LAYER: layer.return_codes[7].name = "ERR_ALLOC"
// LAYER-NEXT: layer.return_codes[7].value = 12{{$}}
// LAYER-NOT: layer.return_codes[8]
// LAYER: layer.symbol = "v2l_layer"
// Each weight with the name the dialect file gives it.
// LAYER-NEXT: layer.weights[0].dtype = "f32"
// LAYER-NEXT: layer.weights[0].index = 0{{$}}
// LAYER-NEXT: layer.weights[0].name = "w_uq"
// LAYER-NEXT: layer.weights[0].prepared = false
// LAYER-NEXT: layer.weights[0].shape = [16, 2048, 128]
// LAYER: layer.weights[3].name = "kv_norm"
// LAYER: layer.weights[3].shape = [512]
// LAYER: layer.weights[7].index = 7{{$}}
// LAYER-NEXT: layer.weights[7].name = "w_o"
// LAYER-NEXT: layer.weights[7].prepared = false
// LAYER-NEXT: layer.weights[7].shape = [2048, 2048]
// LAYER-NOT: layer.weights[8]
// LAYER: params.dtype = "f32"
// The layer's softmax scale, 1/sqrt(192) times YaRN's (1 + 0.0707 ln 40)^2.
// LAYER: params.softmax_scale = 0.1147213{{[0-9]*$}}
// The (causal) kernel serves slots shorter than q_len: 5 is the layer's
// code only.
// LAYER: return_codes[4].name = "ERR_SEQ_LEN"
// LAYER-NOT: "ERR_SEQ_LEN_SHORT"
// LAYER: return_codes[5].name = "ERR_SCALE"
// LAYER-NEXT: return_codes[5].value = 6{{$}}
// LAYER: symbol = "v2l"

// With a window and sinks: the header and NAME.json say so, and the sinks
// [num_heads] (f32) follow seq_lens in NAME and NAME_checked.
// RUN: mla-codegen --target=cpu --num-heads=3 --kv-lora-rank=64 --qk-rope-head-dim=16 --q-len=2 --block-size=16 --dtype=f32 --window=40 --sinks --name=abi_sinks -o %t/sinks
// RUN: FileCheck %s --check-prefix=SINKS-H < %t/sinks/abi_sinks.h
// RUN: python3 %S/Inputs/json-lines.py %t/sinks/abi_sinks.json | FileCheck %s --check-prefix=SINKS
// SINKS-H: #define ABI_SINKS_WINDOW 40{{$}}
// SINKS-H-NEXT: #define ABI_SINKS_SINKS 1{{$}}
// SINKS-H:  *   sinks       [3] per-head logits that join each row's softmax denominator and lse without a value (f32)
// SINKS-H: from seq_len - 2 + i - 39 on (a sliding window of 40).
// SINKS-H-NEXT:  * sinks[h] joins the softmax denominator of head h's rows and their
// SINKS-H: int32_t abi_sinks(const void *q, const void *kv_cache,
// SINKS-H-NEXT:     const int32_t *block_table, const int32_t *seq_lens, const float *sinks,
// SINKS-H: int32_t abi_sinks_checked(const void *q, const void *kv_cache,
// SINKS-H-NEXT:     int32_t num_blocks, const int32_t *block_table, const int32_t *seq_lens,
// SINKS-H-NEXT:     const float *sinks,
// SINKS: args[4].c_type = "const float *"
// SINKS: args[4].name = "sinks"
// SINKS-NEXT: args[4].shape = [3]
// SINKS: args[5].name = "out"
// SINKS: checked.args[5].name = "sinks"
// SINKS: params.sinks = true
// SINKS-NEXT: params.window = 40{{$}}
