// mla-codegen --target=sm_80|sm_90a: the stages down to PTX.
// RUN: mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=f32 --name=g --emit=mlir | FileCheck %s
// CHECK: // -----// kernels: gpu, scf, memref //----- //
// CHECK: gpu.module @g_kernels
// CHECK: gpu.func @partial({{.*}}) workgroup(%{{.*}} : memref<9216xf32, #gpu.address_space<workgroup>>) kernel
// CHECK: gpu.func @combine
// CHECK: // -----// NVVM //----- //
// CHECK: gpu.module @g_kernels [#nvvm.target<O = 3, chip = "sm_90a", features = "+ptx80">]
// CHECK: llvm.func @partial({{.*}}) attributes {gpu.kernel, nvvm.kernel}
// CHECK: nvvm.barrier0
// CHECK: nvvm.shfl.sync bfly
// CHECK: // -----// PTX //----- //
// CHECK: .target sm_90a
// CHECK: .visible .entry partial(
// CHECK: .visible .entry combine(

// bf16 on sm_80: mma.sync. DeepSeek-V3 at TP 8 (16 heads): one m-tile, 8
// warps of 64 output columns.
// RUN: mla-codegen --target=sm_80 --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16 --name=g80 --emit=mlir | FileCheck %s --check-prefix=SM80
// SM80: gpu.func @partial({{.*}}) kernel
// SM80: nvvm.mma.sync
// SM80: chip = "sm_80"
// SM80: .target sm_80
// SM80: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// f16 storage takes the f16 form of the same instruction.
// RUN: mla-codegen --target=sm_80 --num-heads=40 --kv-lora-rank=256 --qk-rope-head-dim=32 --q-len=2 --block-size=16 --dtype=f16 --name=g16 --emit=mlir | FileCheck %s --check-prefix=F16
// F16: .target sm_80
// F16: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32

// RUN: not mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=48 --dtype=f32 --emit=mlir 2>&1 | FileCheck %s --check-prefix=DC
// DC: cannot generate a GPU decode kernel: kv_lora_rank = 48 (must be a positive multiple of the 32 lanes of a warp)
// RUN: not mla-codegen --target=sm_80 --num-heads=16 --kv-lora-rank=40 --dtype=bf16 --emit=mlir 2>&1 | FileCheck %s --check-prefix=DC16
// DC16: cannot generate a GPU decode kernel: kv_lora_rank = 40 (must be a positive multiple of the 16-element k-step of the tensor-core MMA)
// RUN: not mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=1024 --qk-rope-head-dim=64 --dtype=f32 --emit=mlir 2>&1 | FileCheck %s --check-prefix=SMEM
// SMEM: kv_lora_rank + qk_rope_head_dim = 1088 (a 16-row f32 tile must fit 48 KB of shared memory)
// RUN: not mla-codegen --target=sm_80 --num-heads=16 --kv-lora-rank=4096 --dtype=bf16 --emit=mlir 2>&1 | FileCheck %s --check-prefix=SMEM16
// SMEM16: cannot generate a GPU decode kernel: kv_lora_rank = 4096, qk_rope_head_dim = 0 (16 query rows and a double-buffered 16-token tile must fit 160 KB of shared memory, and d_c / 256 warps a CTA)
// RUN: not mla-codegen --target=sm_75 --num-heads=16 --kv-lora-rank=512 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: --target=sm_75 is not supported (expected cpu, sm_80 or sm_90a)
