// RUN: mla-opt %s --convert-mla-to-gpu="kernel-name=k num-splits=2" | FileCheck %s
// RUN: mla-opt %s --pass-pipeline="builtin.module(mla-lower-to-nvvm{arch=sm_90a}, gpu-module-to-binary{format=isa})" | FileCheck %s --check-prefix=PTX
// RUN: not mla-opt %s --convert-mla-to-gpu="num-splits=0" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADSPLIT
// BADSPLIT: convert-mla-to-gpu: num-splits must be in 1..256, got 0
// RUN: not mla-opt %s --convert-mla-to-gpu="num-splits=257" 2>&1 >/dev/null | FileCheck %s --check-prefix=HUGESPLIT
// HUGESPLIT: convert-mla-to-gpu: num-splits must be in 1..256, got 257
// RUN: not mla-opt %s --convert-mla-to-gpu="kernel-name=" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADNAME
// BADNAME: convert-mla-to-gpu: kernel-name '' is not a C identifier
// RUN: not mla-opt %s --convert-mla-to-gpu="launch=x" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADLAUNCH
// BADLAUNCH: convert-mla-to-gpu: launch = 'x' (expected launches or none)
// RUN: mla-opt %s --convert-mla-to-gpu="kernel-name=k launch=none" | FileCheck %s --check-prefix=NONE
// With launch=none (mla-codegen's use) the gpu.module is emitted and the op
// stays for a host runtime to launch the kernels.
// NONE: mla.decode_attention
// NONE-NOT: gpu.launch_func
// NONE: gpu.module @k_kernels

// 4 heads x q_len 2 = 8 rows, one group; d_c = 64, d_r = 32 (3 values a
// lane), f32 storage: the SIMT kernel (bf16/f16 storage gets the tensor-core
// one, convert-mla-to-gpu-mma.mlir).

// The op becomes two launches on the operands' buffers: partial over
// (splits, groups, batch) with 128 threads, combine over (rows, batch) with
// one warp.
// CHECK-LABEL: func.func @attend
// CHECK: %[[B:.+]] = tensor.dim %arg0, %c0
// CHECK: gpu.launch_func @k_kernels::@partial blocks in (%c2, %c1{{.*}}, %[[B]]) threads in (%c128, %c1{{.*}}, %c1{{.*}}) args(%{{.*}} : memref<?xf32>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xf32>, %{{.*}} : memref<?xf32>, %c2 : index, %{{.*}} : index, %{{.*}} : f32)
// CHECK: gpu.launch_func @k_kernels::@combine blocks in (%c8, %[[B]], %c1{{.*}}) threads in (%c32, %c1{{.*}}, %c1{{.*}})
// CHECK: bufferization.to_tensor

// The partial kernel: a 16 x 96 f32 tile in shared memory, loaded by the
// CTA between barriers; per token a 5-step xor-shuffle reduction of the
// dot product, online softmax with exp, and the accumulators updated with
// FMAs.
// CHECK: gpu.module @k_kernels
// CHECK: gpu.func @partial({{.*}}) workgroup(%{{.*}} : memref<1536xf32, #gpu.address_space<workgroup>>) kernel
// CHECK: gpu.block_id z
// CHECK: gpu.barrier
// CHECK: memref.store %{{.*}} : memref<1536xf32, #gpu.address_space<workgroup>>
// CHECK: gpu.barrier
// CHECK-COUNT-3: llvm.intr.fma
// CHECK: gpu.shuffle  xor %{{.*}}, %c16_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c8_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c4_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: arith.select %[[VISIBLE:.*]], %{{.*}}, %cst{{.*}} : f32
// CHECK: llvm.intr.maxnum
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// Causal with 2 queries: a position the row does not see leaves its
// accumulators as they were (a NaN there that a later query sees must not
// reach this row as 0 * NaN).
// CHECK: %[[SCALED:.*]] = arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK-NEXT: %[[SUM:.*]] = llvm.intr.fma(%{{.*}}, %{{.*}}, %[[SCALED]])
// CHECK-NEXT: arith.select %[[VISIBLE]], %[[SUM]], %[[SCALED]] : f32
// CHECK: gpu.func @combine({{.*}}) kernel
// CHECK: llvm.call_intrinsic "llvm.nvvm.lg2.approx.f"

// Through NVVM to PTX for sm_90a: shared memory, barriers, shuffles,
// hardware exp2, FMAs, and no call into an unlinked libdevice.
// PTX: gpu.binary @mla_decode_kernels
// PTX-SAME: .target sm_90a
// PTX-NOT: __nv_
// PTX-SAME: .shared .align
// PTX-SAME: bar.sync
// PTX-SAME: fma.rn.f32
// PTX-SAME: shfl.sync.bfly.b32
// PTX-SAME: ex2.approx
func.func @attend(%q: tensor<?x2x4x96xf32>, %cache: tensor<?x16x96xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x4x64xf32> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.15 : f32, causal} : tensor<?x2x4x96xf32>, tensor<?x16x96xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x64xf32>, tensor<?x4x2xf32>
  return %out : tensor<?x2x4x64xf32>
}
