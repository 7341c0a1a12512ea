// NAME.h and NAME.json of GPU libraries (see mla-codegen-abi.mlir).
// REQUIRES: ptxas

// sm_80, bf16: mma.sync; device pointers, the GPU's codes (8, 9, 10; the
// host does not read seq_lens, so no 4, 5 or 7).
// RUN: rm -rf %t && mla-codegen --target=sm_80 --num-heads=40 --kv-lora-rank=256 --qk-rope-head-dim=32 --q-len=2 --block-size=16 --dtype=bf16 --name=abi_sm80 -o %t/sm80
// RUN: python3 %S/Inputs/json-lines.py %t/sm80/abi_sm80.json | FileCheck %s --check-prefix=SM80
// SM80: args[0].dtype = "bf16"
// SM80: args[0].name = "q"
// SM80-NEXT: args[0].shape = ["batch", 2, 40, 288]
// SM80: args[1].name = "kv_cache"
// SM80-NEXT: args[1].shape = ["num_blocks", 16, 288]
// SM80: args[4].name = "out"
// SM80-NEXT: args[4].shape = ["batch", 2, 40, 256]
// SM80: args[5].dtype = "f32"
// SM80: args[5].name = "lse"
// SM80-NEXT: args[5].shape = ["batch", 40, 2]
// SM80: args[9].name = "stream"
// No NAME_checked on the GPU (block_table is device memory).
// SM80: {{^}}checked = null
// SM80: dims.row_width = 288{{$}}
// SM80: kernel.dynamic_shared_bytes = 92160{{$}}
// SM80-NEXT: kernel.form = "mma_sync"
// SM80-NEXT: kernel.rows_per_group = 64{{$}}
// SM80-NEXT: kernel.threads = 256{{$}}
// SM80-NEXT: kernel.tile_tokens = 32{{$}}
// SM80-NEXT: kernel.tma_box_rows = 0{{$}}
// SM80-NEXT: layer = null
// SM80-NEXT: library = "libabi_sm80.so"
// SM80-NEXT: memory = "device"
// SM80: num_splits.args[2].name = "sms"
// SM80: num_splits.env = "MLA_GPU_NUM_SPLITS"
// SM80: num_splits.symbol = "abi_sm80_num_splits"
// SM80: params.dtype = "bf16"
// SM80: return_codes[3].name = "ERR_MAX_BLOCKS"
// SM80-NEXT: return_codes[3].value = 3{{$}}
// SM80: return_codes[4].name = "ERR_SCALE"
// SM80-NEXT: return_codes[4].value = 6{{$}}
// SM80: return_codes[5].macro = "ABI_SM80_ERR_CUDA_LOAD"
// SM80: return_codes[5].value = 8{{$}}
// SM80: return_codes[6].name = "ERR_CUDA_LAUNCH"
// SM80-NEXT: return_codes[6].value = 9{{$}}
// SM80: return_codes[7].macro = "ABI_SM80_ERR_ALIGNMENT"
// SM80-NEXT: return_codes[7].meaning = "q or kv_cache not 16-byte aligned (tensor-core kernels)"
// SM80-NEXT: return_codes[7].name = "ERR_ALIGNMENT"
// SM80-NEXT: return_codes[7].value = 10{{$}}
// SM80-NEXT: returns = "int32_t"
// SM80-NEXT: symbol = "abi_sm80"
// SM80-NEXT: target = "sm_80"
// RUN: FileCheck %s --check-prefix=SM80-H --input-file=%t/sm80/abi_sm80.h
// SM80-H: #define ABI_SM80_DTYPE "bf16"
// SM80-H: #define ABI_SM80_ERR_MAX_BLOCKS 3 {{ *}}/*
// SM80-H-NEXT: #define ABI_SM80_ERR_SCALE 6 {{ *}}/*
// SM80-H-NEXT: #define ABI_SM80_ERR_CUDA_LOAD 8 {{ *}}/* no current CUDA context, or the cubin did not load into it */
// SM80-H-NEXT: #define ABI_SM80_ERR_CUDA_LAUNCH 9 {{ *}}/*
// SM80-H-NEXT: #define ABI_SM80_ERR_ALIGNMENT 10 {{ *}}/*
// SM80-H: int32_t abi_sm80_num_splits(int32_t batch, int32_t max_seq_len, int32_t sms);

// sm_90a: f32 runs SIMT (no alignment code), bf16 with 64-row pages wgmma
// with TMA boxes of the page's rows.
// RUN: mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=f32 --name=abi_simt -o %t/simt
// RUN: python3 %S/Inputs/json-lines.py %t/simt/abi_simt.json | FileCheck %s --check-prefix=SIMT
// SIMT: kernel.form = "simt"
// SIMT: params.dtype = "f32"
// SIMT: return_codes[6].name = "ERR_CUDA_LAUNCH"
// SIMT-NOT: return_codes[7]
// SIMT: target = "sm_90a"
// RUN: mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16 --block-size=64 --name=abi_wgmma -o %t/wgmma
// RUN: python3 %S/Inputs/json-lines.py %t/wgmma/abi_wgmma.json | FileCheck %s --check-prefix=WGMMA
// WGMMA: kernel.form = "wgmma_tma"
// WGMMA: kernel.tma_box_rows = 32{{$}}
// WGMMA: return_codes[7].value = 10{{$}}
// WGMMA: target = "sm_90a"
