// mla-codegen --target=sm_80|sm_90a: the stages down to PTX.
// RUN: mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16 --name=g --emit=mlir | FileCheck %s
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

// RUN: mla-codegen --target=sm_80 --num-heads=40 --kv-lora-rank=256 --qk-rope-head-dim=32 --q-len=2 --block-size=16 --dtype=f32 --name=g80 --emit=mlir | FileCheck %s --check-prefix=SM80
// SM80: chip = "sm_80"
// SM80: .target sm_80

// RUN: not mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=48 --emit=mlir 2>&1 | FileCheck %s --check-prefix=DC
// DC: cannot generate a GPU decode kernel: kv_lora_rank = 48 (must be a positive multiple of the 32 lanes of a warp)
// RUN: not mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=1024 --qk-rope-head-dim=64 --emit=mlir 2>&1 | FileCheck %s --check-prefix=SMEM
// SMEM: kv_lora_rank + qk_rope_head_dim = 1088 (a 16-row tile must fit 48 KB of shared memory)
// RUN: not mla-codegen --target=sm_75 --num-heads=16 --kv-lora-rank=512 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: --target=sm_75 is not supported (expected cpu, sm_80 or sm_90a)
