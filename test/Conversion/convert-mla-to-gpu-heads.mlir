// RUN: mla-opt %s --convert-mla-to-gpu="kernel-name=k num-splits=2" | FileCheck %s
// RUN: mla-opt %s --pass-pipeline="builtin.module(mla-lower-to-nvvm{arch=sm_90a}, gpu-module-to-binary{format=isa})" | FileCheck %s --check-prefix=PTX

// GQA decode over head caches on tensor cores: 8 heads on 2 KV heads, head
// dim 64, bf16, 16-token pages. A CTA serves one KV head's 4 rows (one
// 16-row m-tile; 2 groups a sequence, one per KV head); d 64 in 4 column
// slices of 16, so 4 warps. A token's tile row is its key row then its
// value row: 128 + 8 padding elements. Shared memory: 16 query rows x
// (64 + 8) x 2 + 2 stages x 32 tokens x 136 x 2 + 4 warps x 32 tokens x 16
// rows x 4 bytes of score shares = 27904. sm_90a too takes mma.sync (a TMA
// box of the latent row does not hold a token's keys and values).

// CHECK-LABEL: func.func @attend
// CHECK: gpu.launch_func @k_kernels::@partial blocks in (%c2, %c2{{.*}}, %{{.*}}) threads in (%c128, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %c27904_i32 args(%{{.*}} : memref<?xbf16>, %{{.*}} : memref<?xbf16>, %{{.*}} : memref<?xbf16>, %{{.*}} : memref<?xi32>, %{{.*}} : memref<?xi32>,
// CHECK: gpu.launch_func @k_kernels::@combine blocks in (%c8,

// The keys' and the values' chunks of a token's row come from their caches:
// the first 8 chunks from the keys, the next 8 from the values, both at the
// KV head's row (page row * 2 + KV head) * 64, computed once per tile.
// CHECK: gpu.func @partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %[[BT:.+]]: memref<?xi32>, %{{.*}}: memref<?xi32>,
// CHECK: llvm.addrspacecast %{{.*}} : !llvm.ptr to !llvm.ptr<1>
// CHECK: %[[KEYS:.+]] = llvm.addrspacecast %{{.*}} : !llvm.ptr to !llvm.ptr<1>
// CHECK: %[[VALUES:.+]] = llvm.addrspacecast %{{.*}} : !llvm.ptr to !llvm.ptr<1>
// CHECK: memref.load %[[BT]]
// CHECK: %[[C2:.+]] = arith.constant 2 : index
// CHECK-NEXT: %[[ROW2:.+]] = arith.muli %{{.*}}, %[[C2]] : index
// CHECK-NEXT: %[[ROWG:.+]] = arith.addi %[[ROW2]], %{{.*}} : index
// CHECK-NEXT: %[[C64:.+]] = arith.constant 64 : index
// CHECK-NEXT: arith.muli %[[ROWG]], %[[C64]] : index
// CHECK: %[[C8:.+]] = arith.constant 8 : index
// CHECK-NEXT: %[[ISKEY:.+]] = arith.cmpi ult, %{{.*}}, %[[C8]] : index
// CHECK-NEXT: llvm.select %[[ISKEY]], %[[KEYS]], %[[VALUES]] : i1, !llvm.ptr<1>
// CHECK: nvvm.cp.async.shared.global

// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-NOT: wgmma

func.func @attend(%q: tensor<?x1x8x64xbf16>, %k: tensor<?x16x2x64xbf16>,
                  %v: tensor<?x16x2x64xbf16>, %bt: tensor<?x?xi32>,
                  %lens: tensor<?xi32>)
    -> (tensor<?x1x8x64xbf16>, tensor<?x8x1xf32>) {
  %out, %lse = mla.decode_attention %q, %k, %v[%bt, %lens] {scale = 0.125 : f32, causal} : tensor<?x1x8x64xbf16>, tensor<?x16x2x64xbf16>, tensor<?x16x2x64xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x8x64xbf16>, tensor<?x8x1xf32>
  return %out, %lse : tensor<?x1x8x64xbf16>, tensor<?x8x1xf32>
}

// f32 storage: the SIMT kernel stages a token's key row then its value row
// (2 x 64 floats) in its shared tile, picking the cache per element, and
// reads V at column 64.
// RUN: mla-opt %s --convert-mla-to-gpu="kernel-name=s num-splits=2" --split-input-file | FileCheck %s --check-prefix=SIMT
// SIMT: gpu.func @partial(%{{.*}}: memref<?xf32>, %[[SK:[a-z0-9]+]]: memref<?xf32>, %[[SV:[a-z0-9]+]]: memref<?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>, {{.*}} workgroup(%[[TILE:.+]] : memref<2048xf32, #gpu.address_space<workgroup>>)
// SIMT: %[[ISKEY:.+]] = arith.cmpi ult, %{{.*}}, %c64{{.*}} : index
// SIMT: arith.remui %{{.*}}, %c64{{.*}} : index
// SIMT-NEXT: scf.if %[[ISKEY]] -> (f32) {
// SIMT: memref.load %[[SK]]
// SIMT: } else {
// SIMT: memref.load %[[SV]]

// -----

func.func @attend_f32(%q: tensor<?x1x8x64xf32>, %k: tensor<?x16x2x64xf32>,
                      %v: tensor<?x16x2x64xf32>, %bt: tensor<?x?xi32>,
                      %lens: tensor<?xi32>)
    -> (tensor<?x1x8x64xf32>, tensor<?x8x1xf32>) {
  %out, %lse = mla.decode_attention %q, %k, %v[%bt, %lens] {scale = 0.125 : f32, causal} : tensor<?x1x8x64xf32>, tensor<?x16x2x64xf32>, tensor<?x16x2x64xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x8x64xf32>, tensor<?x8x1xf32>
  return %out, %lse : tensor<?x1x8x64xf32>, tensor<?x8x1xf32>
}
