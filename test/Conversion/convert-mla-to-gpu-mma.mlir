// RUN: mla-opt %s --convert-mla-to-gpu="kernel-name=k num-splits=2" | FileCheck %s
// RUN: mla-opt %s --pass-pipeline="builtin.module(mla-lower-to-nvvm{arch=sm_80}, gpu-module-to-binary{format=isa})" | FileCheck %s --check-prefix=PTX
// RUN: not mla-opt %s --convert-mla-to-gpu="arch=sm_75" 2>&1 >/dev/null | FileCheck %s --check-prefix=ARCH
// ARCH: cannot generate a GPU decode kernel for 'sm_75' (expected sm_80, sm_86, sm_89 or sm_90a)

// bf16 storage: the tensor-core partial kernel. 4 heads x q_len 2 = 8 rows
// in one 16-row m-tile; d_c = 64 splits into 4 column slices of 16, so 4
// warps; rows of 96 + 8 padding elements; 32-token tiles.
// Shared memory: (16 query rows + 2 x 32 tile rows) x 104 x 2 bytes, plus
// 4 warps x 32 tokens x 16 rows x 4 bytes of score shares = 24832.

// CHECK-LABEL: func.func @attend
// CHECK: gpu.launch_func @k_kernels::@partial blocks in (%c2, %c1{{.*}}, %{{.*}}) threads in (%c128, %c1{{.*}}, %c1{{.*}}) dynamic_shared_memory_size %c24832_i32 args(%{{.*}} : memref<?xbf16>, %{{.*}} : memref<?xbf16>
// CHECK: gpu.launch_func @k_kernels::@combine blocks in (%c8,

// CHECK: gpu.module @k_kernels
// CHECK: llvm.mlir.global external @mla_partial_smem() {addr_space = 3 : i32, alignment = 128 : i64} : !llvm.array<0 x i8>
// Launch bounds: 128 threads, two CTAs an SM (32-token tiles of 64
// output columns a warp), which ptxas keeps the registers within.
// CHECK: gpu.func @partial({{.*}}) kernel attributes {known_block_size = array<i32: 128, 1, 1>, nvvm.minctasm = 2 : i32}
// The queries and the first tile: 16-byte copies, bypassing L1, one group.
// CHECK: llvm.mlir.addressof @mla_partial_smem : !llvm.ptr<3>
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg : !llvm.ptr<3>, !llvm.ptr<1>
// CHECK: nvvm.cp.async.commit.group
// Per tile: the next tile is requested before this one is waited for.
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c32{{.*}} iter_args({{.*}}) -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK: scf.if
// CHECK: nvvm.cp.async.shared.global
// CHECK: nvvm.cp.async.commit.group
// CHECK-NEXT: nvvm.cp.async.wait.group 1
// CHECK-NEXT: gpu.barrier
// QK^T: every 4th k-step of 16 for this warp; A (queries) and B (keys)
// with ldmatrix, 4 n-tiles of 8 tokens on mma.sync m16n8k16, f32 accumulation.
// CHECK: scf.for %{{.*}} = %{{.*}} to %c6 step %c4{{.*}} -> (f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32, f32)
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>, num = 4 : i32{{.*}} -> !llvm.struct<(i32, i32, i32, i32)>
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<row>
// CHECK-COUNT-2: nvvm.mma.sync A[{{.*}}] B[{{.*}}] C[{{.*}}] {layoutA = #nvvm.mma_layout<row>, layoutB = #nvvm.mma_layout<col>, multiplicandAPtxType = #nvvm.mma_type<bf16>, multiplicandBPtxType = #nvvm.mma_type<bf16>, shape = #nvvm.shape<m = 16, n = 8, k = 16>} : (i32, i32, f32) -> !llvm.struct<(f32, f32, f32, f32)>
// CHECK: nvvm.ldmatrix
// CHECK-COUNT-2: nvvm.mma.sync
// The 4 warps' shares meet in shared memory.
// CHECK: llvm.store %{{.*}}, %{{.*}} : f32, !llvm.ptr<3>
// CHECK: gpu.barrier
// CHECK: llvm.load %{{.*}} : !llvm.ptr<3> -> f32
// Softmax: the row max over a quad, exp2 in hardware.
// CHECK: gpu.shuffle  xor %{{.*}}, %c1_i32
// CHECK: gpu.shuffle  xor %{{.*}}, %c2_i32
// CHECK: llvm.call_intrinsic "llvm.nvvm.ex2.approx.f32"
// PV: P rounded to bf16 and packed in registers, V through ldmatrix.trans.
// CHECK: arith.truncf %{{.*}} : f32 to bf16
// CHECK: llvm.bitcast %{{.*}} : vector<2xbf16> to i32
// Causal with 2 queries: one turn of P V for all rows, or, on a tile past
// the first query's visible end, one a query, last first, each after the V
// rows past its visible end are zeroed and with the other rows' P zeroed.
// CHECK: %[[TURNS:.*]] = arith.select %{{.*}}, %{{.*}}, %c1{{.*}} : index
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[TURNS]] step %c1{{.*}} iter_args
// CHECK: scf.if
// CHECK: gpu.barrier
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// CHECK: gpu.barrier
// CHECK: arith.select %{{.*}} : i32
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-COUNT-2: nvvm.mma.sync
// CHECK: nvvm.ldmatrix {{.*}}layout = #nvvm.mma_layout<col>
// CHECK-COUNT-2: nvvm.mma.sync
// CHECK: gpu.barrier
// CHECK: scf.yield
// CHECK: nvvm.cp.async.wait.group 0
// The row sums over the quad, then the partials.
// CHECK: gpu.shuffle  xor
// CHECK: gpu.shuffle  xor
// CHECK: memref.store %{{.*}} : memref<?xf32>
// CHECK: gpu.func @combine

// PTX.
// PTX: gpu.binary @mla_decode_kernels
// PTX-SAME: .target sm_80
// PTX-NOT: __nv_
// PTX-SAME: .extern .shared .align 128 .b8 mla_partial_smem[]
// PTX-SAME: .maxntid 128, 1, 1
// PTX-SAME: .minnctapersm 2
// PTX-SAME: cp.async.cg.shared.global
// PTX-SAME: cp.async.wait_group
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.shared.b16
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// PTX-SAME: ex2.approx
// PTX-SAME: ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16
// PTX-SAME: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
// On a tile past the first query's visible end, V rows are zeroed (16-byte
// shared stores, placed after the loop body) before a query's turn of P V.
// PTX-SAME: st.shared.v4.b32 {{.*}}, {0, 0, 0, 0};
func.func @attend(%q: tensor<?x2x4x96xbf16>, %cache: tensor<?x16x96xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x4x64xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.15 : f32, causal} : tensor<?x2x4x96xbf16>, tensor<?x16x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x64xbf16>, tensor<?x4x2xf32>
  return %out : tensor<?x2x4x64xbf16>
}
