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

// bf16 on sm_90a, pages of 64: wgmma + TMA. Thread 0 arms the stage's
// mbarrier with the bytes it expects (the 9 query boxes of 64 x 64 and the
// tile's 9 boxes of 32 x 64 first: 110592; one tile after: 36864), issues
// the TMA copies, and every thread waits on the barrier's phase (three
// stages). Each of the
// 2 warpgroups runs 18 of the 36 k-steps of QK^T (m64n32k16, descriptors),
// then P V on its 256 columns with P in registers (inline PTX).
// RUN: mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16 --block-size=64 --name=wg --emit=mlir | FileCheck %s --check-prefix=WGMMA
// WGMMA: llvm.mlir.global external @mla_partial_smem() {addr_space = 3 : i32, alignment = 1024 : i64}
// The tensor maps of the queries and of the cache are the last parameters,
// passed by value (mla-codegen's runtime launches them as
// __grid_constant__ CUtensorMaps): 128 bytes, 64-byte aligned, read through
// cvta.param.
// WGMMA: gpu.func @partial({{.*}}, %{{.*}}: f32, %[[QMAP:.*]]: !llvm.ptr, %[[KVMAP:.*]]: !llvm.ptr) kernel attributes {known_block_size = array<i32: 256, 1, 1>, mla.tensor_map_params = 2 : i64}
// The warpgroup index broadcast from lane 0 (warp-uniform for ptxas).
// WGMMA: gpu.shuffle  idx
// WGMMA: nvvm.mbarrier.init
// WGMMA: nvvm.mbarrier.init
// WGMMA: nvvm.fence.mbarrier.init
// WGMMA: gpu.barrier
// WGMMA: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c110592_i32
// WGMMA-COUNT-9: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[QMAP]], %{{.*}}, box[%{{.*}}, %{{.*}}] : !llvm.ptr<7>, !llvm.ptr
// WGMMA-COUNT-9: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KVMAP]], %{{.*}}, box[%{{.*}}, %{{.*}}] : !llvm.ptr<7>, !llvm.ptr
// The second tile on its way before the first tile's scores.
// WGMMA: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c36864_i32
// WGMMA-COUNT-9: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KVMAP]]
// WGMMA: nvvm.mbarrier.try_wait.parity
// WGMMA: nvvm.wgmma.fence.aligned
// The first k-step ignores its accumulator (scale-d 0), so no register it
// writes is set between wgmma.fence and the wgmma.
// WGMMA-NOT: llvm.mlir.zero
// WGMMA: nvvm.wgmma.mma_async %{{.*}}, %{{.*}}, %{{.*}}, <m = 64, n = 32, k = 16>, D[<f32>, <zero>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// WGMMA-COUNT-17: nvvm.wgmma.mma_async %{{.*}}, %{{.*}}, %{{.*}}, <m = 64, n = 32, k = 16>, D[<f32>, <one>], A[<bf16>, <one>, <row>], B[<bf16>, <one>, <col>]
// WGMMA: nvvm.wgmma.commit.group.sync.aligned
// WGMMA: nvvm.wgmma.wait.group.sync.aligned 0
// The tiles every row sees whole (no masks, nothing zeroed). The state
// carries the accumulators, maxes and sums (132), the tile's place in the
// pipeline (an i32 from 0) and its 16 scores.
// WGMMA: %[[MID:.*]]:149 = scf.for %{{.*}} = %{{.*}} to %[[MIDEND:[^ ]*]] step %c32{{.*}} iter_args({{.*}}, %{{[^ ]*}} = %c0_i32{{[_0-9]*}}, {{.*}}) -> ({{.*}}i32, f32,
// The next tile's QK^T is issued first and not waited for ...
// WGMMA: nvvm.mbarrier.try_wait.parity
// WGMMA: nvvm.wgmma.fence.aligned
// WGMMA-COUNT-18: nvvm.wgmma.mma_async
// WGMMA: nvvm.wgmma.commit.group.sync.aligned
// WGMMA-NOT: nvvm.wgmma.wait.group
// ... while the warpgroups exchange this tile's score shares (the barrier
// between, after which thread 0 sends the tile after the next into the
// stage the previous tile's P V has left) ...
// WGMMA: llvm.store %{{.*}} : f32, !llvm.ptr<3>
// WGMMA: gpu.barrier
// WGMMA: nvvm.mbarrier.arrive.expect_tx %{{.*}}, %c36864_i32
// WGMMA-COUNT-9: nvvm.cp.async.bulk.tensor.shared.cluster.global %{{.*}}, %[[KVMAP]]
// WGMMA: llvm.load %{{.*}} : !llvm.ptr<3> -> f32
// ... and run the softmax, unmasked. A row's max moves only when the
// tile's exceeds it by more than 8 (base 2), and a warp rescales its
// accumulators only when one of its rows moved.
// WGMMA-NOT: arith.cmpi
// WGMMA: %[[UP:.*]] = arith.addf %{{.*}}, %cst{{.*}} : f32
// WGMMA: arith.cmpf ogt, %{{.*}}, %[[UP]] : f32
// WGMMA-NOT: arith.cmpi
// WGMMA: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// WGMMA-NOT: arith.cmpi
// WGMMA: %[[ANY:.*]] = nvvm.vote.sync  any %c-1_i32{{.*}} -> i1
// WGMMA: scf.if %[[ANY]] -> (f32,
// WGMMA-COUNT-128: arith.mulf
// WGMMA: } else {
// WGMMA-NOT: arith.cmpi
// WGMMA-NOT: nvvm.wgmma.wait.group
// WGMMA: nvvm.wgmma.fence.aligned
// WGMMA-COUNT-2: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16 {{.*}}, p, 1, 1, 1;
// WGMMA: nvvm.wgmma.commit.group.sync.aligned
// Both groups waited for before the back edge.
// WGMMA-NEXT: nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA: scf.yield
// Then the tiles past the split's end, from where the first loop stopped:
// V rows past the end zeroed and fenced for wgmma, the scores masked, and
// the next tile's QK^T after the P V.
// WGMMA: scf.for %{{.*}} = %[[MIDEND]] to %{{.*}} step %c32{{.*}} iter_args({{.*}}%[[MID]]#148)
// WGMMA: gpu.barrier
// WGMMA: scf.if
// WGMMA: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// WGMMA: nvvm.fence.proxy {kind = #nvvm.proxy_kind<async.shared>, space = #nvvm.shared_space<cta>}
// WGMMA-NEXT: gpu.barrier
// WGMMA: arith.cmpi slt
// WGMMA: arith.select
// WGMMA: llvm.call_intrinsic "llvm.nvvm.ex2.approx.ftz.f"
// WGMMA-COUNT-2: llvm.inline_asm has_side_effects {{.*}}wgmma.mma_async.sync.aligned.m64n256k16
// WGMMA: nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA: nvvm.mbarrier.try_wait.parity
// WGMMA-COUNT-18: nvvm.wgmma.mma_async
// WGMMA: nvvm.wgmma.wait.group.sync.aligned 0
// WGMMA: llvm.func @partial({{.*}}, %{{.*}}: f32, %{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant}, %{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
// WGMMA-NOT: mla.tensor_map_params
// WGMMA: // -----// PTX //----- //
// WGMMA: .target sm_90a
// WGMMA: .param .align 64 .b8 partial_param_33[128],
// WGMMA-NEXT: .param .align 64 .b8 partial_param_34[128]
// WGMMA: cvta.param.u64
// WGMMA: cvta.param.u64
// WGMMA: cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes
// WGMMA: wgmma.mma_async.sync.aligned.m64n32k16.f32.bf16.bf16
// WGMMA: wgmma.mma_async.sync.aligned.m64n256k16.f32.bf16.bf16
// WGMMA: fence.proxy.async.shared::cta
// WGMMA: mbarrier.try_wait.parity.shared.b64
// f16 storage on sm_90a: the f16 forms of both wgmma instructions.
// RUN: mla-codegen --target=sm_90a --num-heads=128 --kv-lora-rank=512 --qk-rope-head-dim=64 --q-len=2 --dtype=f16 --block-size=64 --name=w16 --emit=mlir | FileCheck %s --check-prefix=WGMMA16
// WGMMA16: // -----// PTX //----- //
// WGMMA16: wgmma.mma_async.sync.aligned.m64n32k16.f32.f16.f16
// WGMMA16: wgmma.mma_async.sync.aligned.m64n256k16.f32.f16.f16
// Pages of 1 row cannot fill an 8-row swizzle group per TMA box: mma.sync.
// RUN: mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16 --block-size=1 --name=w1 --emit=mlir | FileCheck %s --check-prefix=PAGE1
// PAGE1: nvvm.mma.sync
// PAGE1-NOT: wgmma
// PAGE1: .target sm_90a

// d_c = 48 (tensor cores take multiples of 16): the combine kernel's second
// column of each lane is clamped for loads and guarded for stores.
// RUN: mla-codegen --target=sm_80 --num-heads=3 --kv-lora-rank=48 --qk-rope-head-dim=16 --dtype=bf16 --name=c48 --emit=mlir | FileCheck %s --check-prefix=DC48
// DC48: gpu.func @combine
// DC48: arith.minsi %{{.*}}, %c47
// DC48: scf.if
// DC48: memref.store %{{.*}} : memref<?xbf16>
// DC48: .target sm_80

// RUN: not mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=48 --dtype=f32 --emit=mlir 2>&1 | FileCheck %s --check-prefix=DC
// DC: cannot generate a GPU decode kernel: kv_lora_rank = 48 (must be a positive multiple of the 32 lanes of a warp)
// RUN: not mla-codegen --target=sm_80 --num-heads=16 --kv-lora-rank=40 --dtype=bf16 --emit=mlir 2>&1 | FileCheck %s --check-prefix=DC16
// DC16: cannot generate a GPU decode kernel: kv_lora_rank = 40 (must be a positive multiple of the 16-element k-step of the tensor-core MMA)
// RUN: not mla-codegen --target=sm_90a --num-heads=16 --kv-lora-rank=1024 --qk-rope-head-dim=64 --dtype=f32 --emit=mlir 2>&1 | FileCheck %s --check-prefix=SMEM
// SMEM: kv_lora_rank + qk_rope_head_dim = 1088 (a 16-row f32 tile must fit 48 KB of shared memory)
// RUN: not mla-codegen --target=sm_80 --num-heads=16 --kv-lora-rank=4096 --dtype=bf16 --emit=mlir 2>&1 | FileCheck %s --check-prefix=SMEM16
// SMEM16: cannot generate a GPU decode kernel: kv_lora_rank = 4096, qk_rope_head_dim = 0 (16 query rows and a double-buffered 16-token tile must fit 160 KB of shared memory on sm_80, and d_c / 256 warps a CTA)
// RUN: not mla-codegen --target=sm_75 --num-heads=16 --kv-lora-rank=512 2>&1 | FileCheck %s --check-prefix=TARGET
// TARGET: --target=sm_75 is not supported (expected cpu, sm_80, sm_86, sm_89 or sm_90a)

// sm_80, 128 heads (64-row CTAs, two column splits of 256): per tile, each
// thread looks its token up in the block table once and copies its 5 of the
// token's 72 chunks (16 threads a token, the fifth guarded), and QK^T is
// unrolled: the warp's 18 k-steps, 2 mma.sync each, no loop.
// RUN: mla-codegen --target=sm_80 --num-heads=128 --kv-lora-rank=512 --qk-rope-head-dim=64 --dtype=bf16 --block-size=64 --name=u --emit=mlir | FileCheck %s --check-prefix=UNROLL
// UNROLL: gpu.func @partial(
// UNROLL: scf.for %{{.*}} step %c16{{.*}} iter_args(
// UNROLL: memref.load %{{.*}} : memref<?xi32>
// UNROLL-NOT: memref.load
// UNROLL-COUNT-4: nvvm.cp.async.shared.global
// UNROLL-NOT: memref.load
// UNROLL: scf.if
// UNROLL: nvvm.cp.async.shared.global
// UNROLL: nvvm.cp.async.commit.group
// UNROLL-NOT: scf.for
// UNROLL-COUNT-36: nvvm.mma.sync
// UNROLL-NOT: nvvm.mma.sync
// UNROLL: gpu.barrier
