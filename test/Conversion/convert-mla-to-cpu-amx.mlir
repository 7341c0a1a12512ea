// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=16 bf16-dot=true amx=true" | FileCheck %s
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=16 bf16-dot=true" | FileCheck %s --check-prefix=NOAMX
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=16 bf16-dot=true amx=true" \
// RUN:   --one-shot-bufferize="bufferize-function-boundaries function-boundary-type-conversion=identity-layout-map" \
// RUN:   --mla-lower-cpu-kernels-to-llvm="native-bf16=true" | FileCheck %s --check-prefix=LLVM

// bf16 with 20 query rows on a target with AMX-BF16: beside the vector
// kernels, k_partial_amx, which the runtime of mla-codegen's libraries calls
// on hosts that grant AMX; the loops launch keeps calling k_partial. Its
// group is all 20 rows, padded to 2 tiles of 16 (32 rows of scores).
// CHECK-LABEL: func.func @attend(
// CHECK: func.call @k_partial(
// CHECK-NOT: @k_partial_amx
// CHECK-LABEL: func.func @k_partial(
// CHECK-NOT: amx.
// CHECK-LABEL: func.func @k_partial_amx(
// CHECK-SAME: %arg0: memref<?xbf16>, %arg1: memref<?xbf16>, %arg2: memref<?xi32>, %arg3: memref<?xi32>, %arg4: memref<?xf32>, %arg5: memref<?xf32>
// Stack buffers on cache lines: a tile's 64-byte rows on one line each
// (the 128-head kernel took 1.6x as long with them straddling two).
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<2560xf32>
// Q^T packed once into B tiles, a pair of a row's values at a time.
// CHECK: vector.load %arg0[%{{.*}}] : memref<?xbf16>, vector<32xbf16>
// CHECK: vector.extract_strided_slice %{{.*}} {offsets = [0], sizes = [2], strides = [1]} : vector<32xbf16> to vector<2xbf16>
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?xbf16>, vector<2xbf16>
// Each block of 16 keys is read in place where its rows are evenly spaced
// (96 elements apart), else from a copy.
// CHECK: %[[KEYS:.+]]:3 = scf.if %{{.*}} -> (memref<?xbf16>, index, index) {
// CHECK: scf.yield %arg1, %{{.*}}, %c96{{.*}} : memref<?xbf16>, index, index
// CHECK: } else {
// CHECK: scf.yield %{{.*}}, %{{.*}}, %c96{{.*}} : memref<?xbf16>, index, index
// S^T = K Q^T: 2 token blocks x 2 row tiles, the row width (96) in 3 steps,
// stored token-major with the 32 padded rows as the stride.
// CHECK: amx.tile_zero : !amx.tile<16x16xf32>
// CHECK: amx.tile_load %[[KEYS]]#0[%[[KEYS]]#1], %[[KEYS]]#2 : memref<?xbf16> into !amx.tile<16x32xbf16>
// CHECK: amx.tile_mulf %{{.*}}, %{{.*}}, %{{.*}} : !amx.tile<16x32xbf16>, !amx.tile<16x32xbf16>, !amx.tile<16x16xf32>
// CHECK: amx.tile_store %{{.*}}[%{{.*}}], %{{.*}}, %c32{{.*}} : memref<4096xf32>, !amx.tile<16x16xf32>
// The softmax per row tile: the masked, scaled scores and 4 chains of
// their max over the 128 tokens, 8 a step; then per 32 tokens the
// probabilities, their sums (2 chains), and P rounded to bf16 pairs of
// tokens, transposed into a row of P's A tile per query row.
// CHECK: scf.for %{{.*}} = %c0 to %c128{{.*}} step %c8{{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>, vector<16xf32>, vector<16xf32>)
// CHECK: arith.select %{{.*}}, %{{.*}}, %{{.*}} : vector<16xi1>, vector<16xf32>
// CHECK: vector.store %{{.*}}, %alloca_9[%{{.*}}] : memref<4096xf32>, vector<16xf32>
// CHECK: arith.maxnumf
// CHECK: scf.for %{{.*}} = %c0 to %c4{{.*}} step %c1{{.*}} iter_args({{.*}}) -> (vector<16xf32>, vector<16xf32>)
// CHECK: math.exp %{{.*}} : vector<16xf32>
// CHECK-NEXT: arith.addf %{{.*}}, %{{.*}} : vector<16xf32>
// CHECK-NEXT: arith.truncf %{{.*}} : vector<16xf32> to vector<16xbf16>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 16, 1, 17, 2, 18
// CHECK: vector.store %{{.*}}, %{{.*}}[%{{.*}}] : memref<?xbf16>, vector<32xbf16>
// P V: rows whose max moved are rescaled, V interleaved in pairs of
// tokens, the accumulators' rows 64 + 16 apart.
// CHECK: arith.cmpf une, %{{.*}}, %{{.*}} : f32
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 32, 1, 33, 2, 34
// CHECK: amx.tile_load %{{.*}}[%{{.*}}], %c80{{.*}} : memref<{{[0-9]+}}xf32> into !amx.tile<16x16xf32>
// CHECK: amx.tile_mulf
// CHECK: amx.tile_store %{{.*}}[%{{.*}}], %{{.*}}, %c80{{.*}} : memref<{{[0-9]+}}xf32>, !amx.tile<16x16xf32>
// CHECK-LABEL: func.func @k_combine(

// Without the option, no AMX kernel (and 16-row groups).
// NOAMX-NOT: k_partial_amx
// NOAMX-NOT: amx.

// The amx ops lower to the LLVM intrinsics of tile loads, products and
// stores (LLVM then configures the tiles).
// LLVM-LABEL: llvm.func @k_partial_amx(
// LLVM: llvm.alloca %{{.*}} x f32 {alignment = 64 : i64}
// LLVM: llvm.call_intrinsic "llvm.x86.tilezero.internal"
// LLVM: llvm.call_intrinsic "llvm.x86.tileloadd64.internal"
// LLVM: llvm.call_intrinsic "llvm.x86.tdpbf16ps.internal"
// LLVM: llvm.call_intrinsic "llvm.x86.tilestored64.internal"

func.func @attend(%q: tensor<?x1x20x96xbf16>, %cache: tensor<?x64x96xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x20x64xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.1 : f32, causal} : tensor<?x1x20x96xbf16>, tensor<?x64x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x20x64xbf16>, tensor<?x20x1xf32>
  return %out : tensor<?x1x20x64xbf16>
}
