// convert-mla-to-gpu{tma} on sm_90a: the wgmma + TMA kernel (bf16, pages of
// 64 rows, d_c = 512), its launch passing the tensor maps of the queries
// ([batch * rows, 576], 64 x 64 boxes) and of the cache ([blocks * 64, 576],
// 32 x 64 boxes), 128-byte swizzle, created on the host with
// nvgpu.tma.create.descriptor; the kernels assemble (ptxas) with wgmma and
// TMA loads. Without tma, sm_90a launches the mma.sync kernel. With
// launch=none (a host runtime's kernels) the maps are parameters by value.
// RUN: mla-opt %s --convert-mla-to-gpu="arch=sm_90a tma=true kernel-name=w" | FileCheck %s
// RUN: mla-opt %s --pass-pipeline="builtin.module(mla-lower-to-nvvm{arch=sm_90a tma=true}, gpu-module-to-binary{format=isa})" | FileCheck %s --check-prefix=PTX
// RUN: mla-opt %s --convert-mla-to-gpu="arch=sm_90a kernel-name=w" | FileCheck %s --check-prefix=MMA
// RUN: mla-opt %s --convert-mla-to-gpu="arch=sm_90a tma=true kernel-name=w launch=none" | FileCheck %s --check-prefix=BYVALUE

// CHECK-LABEL: func.func @attend(
// CHECK: %[[Q2:.+]] = memref.collapse_shape %{{.*}} {{\[\[}}0, 1, 2], [3]] : memref<?x1x16x576xbf16> into memref<?x576xbf16>
// CHECK: %[[QU:.+]] = memref.cast %[[Q2]] : memref<?x576xbf16> to memref<*xbf16>
// CHECK: %[[QD:.+]] = nvgpu.tma.create.descriptor %[[QU]] box[%c64{{.*}}, %c64{{.*}}] : memref<*xbf16> -> <tensor = memref<64x64xbf16, 3>, swizzle = swizzle_128b, l2promo = l2promo_128b, oob = zero, interleave = none>
// CHECK: %[[QP:.+]] = builtin.unrealized_conversion_cast %[[QD]] : {{.*}} to !llvm.ptr
// CHECK: memref.collapse_shape %{{.*}} {{\[\[}}0, 1], [2]] : memref<?x64x576xbf16> into memref<?x576xbf16>
// CHECK: %[[KD:.+]] = nvgpu.tma.create.descriptor %{{.*}} box[%c32{{.*}}, %c64{{.*}}] : memref<*xbf16> -> <tensor = memref<32x64xbf16, 3>, swizzle = swizzle_128b, l2promo = l2promo_128b, oob = zero, interleave = none>
// CHECK: %[[KP:.+]] = builtin.unrealized_conversion_cast %[[KD]] : {{.*}} to !llvm.ptr
// CHECK: gpu.launch_func @w_kernels::@partial {{.*}} threads in (%c256{{.*}}) dynamic_shared_memory_size %c218136_i32 args({{.*}}, %[[QP]] : !llvm.ptr, %[[KP]] : !llvm.ptr)
// CHECK: gpu.func @partial({{.*}}, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel attributes {known_block_size = array<i32: 256, 1, 1>}
// CHECK: nvvm.wgmma.mma_async

// PTX: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// PTX: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16
// PTX: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16

// MMA-NOT: nvgpu.tma.create.descriptor
// MMA: gpu.func @partial(
// MMA-NOT: nvvm.wgmma
// MMA: nvvm.mma.sync
func.func @attend(%q: tensor<?x1x16x576xbf16>, %cache: tensor<?x64x576xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x16x512xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.04 : f32, causal} : tensor<?x1x16x576xbf16>, tensor<?x64x576xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x16x512xbf16>, tensor<?x16x1xf32>
  return %out : tensor<?x1x16x512xbf16>
}

// BYVALUE: gpu.func @partial({{.*}}, %{{.*}}: !llvm.ptr, %{{.*}}: !llvm.ptr) kernel attributes {known_block_size = array<i32: 256, 1, 1>, mla.tensor_map_params = 2 : i64}
