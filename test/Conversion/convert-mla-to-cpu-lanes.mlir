// RUN: mla-opt %s --split-input-file --convert-mla-to-cpu="kernel-name=k vector-width=16 bf16-dot=true" | FileCheck %s

// 16 rows of bf16 through vdpbf16ps: QK^T with the rows in lanes. Q^T is
// packed once a work item (row width 96 = 48 pairs, 16 rows): each row's 16
// pairs as a vector<16xi32>, transposed in 4 levels of shuffles and stored
// unit-major. The scores loop takes a line of a key row (16 pairs) a step,
// broadcasts each pair against the row vector, and stores the accumulators
// as the token-major scores: no reduction across lanes.
// CHECK-LABEL: func.func @k_partial(
// CHECK: %[[QT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<768xi32>
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c48{{.*}} step %c16
// CHECK: vector.load %arg0[%{{.*}}] : memref<?xbf16>, vector<32xbf16>
// CHECK: vector.bitcast %{{.*}} : vector<32xbf16> to vector<16xi32>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23] : vector<16xi32>, vector<16xi32>
// CHECK: vector.store %{{.*}}, %[[QT]][%{{.*}}] : memref<768xi32>, vector<16xi32>
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c48{{.*}} step %c16{{.*}} iter_args(
// CHECK: vector.load %[[QT]][%{{.*}}] : memref<768xi32>, vector<16xi32>
// CHECK: vector.load %arg1[%{{.*}}] : memref<?xbf16>, vector<2xbf16>
// CHECK: vector.broadcast %{{.*}} : i32 to vector<16xi32>
// CHECK: x86vector.avx512.dot
// CHECK-NOT: vector.reduction
// CHECK: scf.yield
// CHECK-LABEL: func.func @k_combine(
func.func @attend(%q: tensor<?x1x16x96xbf16>, %cache: tensor<?x64x96xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x16x64xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.1 : f32} : tensor<?x1x16x96xbf16>, tensor<?x64x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x16x64xbf16>, tensor<?x16x1xf32>
  return %out : tensor<?x1x16x64xbf16>
}

// -----

// 2 rows (one block of P V rows): the value pairs are made in registers
// from two cache rows (32 columns, two shuffles) and nothing is copied.
// CHECK-LABEL: func.func @k_partial(
// CHECK-NOT: memref<{{[0-9]+}}xbf16>
// CHECK: vector.shuffle %[[X:[0-9]+]], %[[Y:[0-9]+]] [0, 32, 1, 33, {{.*}}] : vector<32xbf16>, vector<32xbf16>
// CHECK-NEXT: vector.shuffle %[[X]], %[[Y]] [16, 48, 17, 49, {{.*}}] : vector<32xbf16>, vector<32xbf16>
// CHECK: x86vector.avx512.dot
// CHECK-LABEL: func.func @k_combine(
func.func @attend(%q: tensor<?x1x2x96xbf16>, %cache: tensor<?x64x96xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x2x64xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.1 : f32} : tensor<?x1x2x96xbf16>, tensor<?x64x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x2x64xbf16>, tensor<?x2x1xf32>
  return %out : tensor<?x1x2x64xbf16>
}

// -----

// f32, 16 rows: the same loop with an f32 unit (96 of them), each key value
// broadcast into vector FMAs.
// CHECK-LABEL: func.func @k_partial(
// CHECK: %[[QT:.*]] = memref.alloca() {alignment = 64 : i64} : memref<1536xi32>
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c96{{.*}} step %c16{{.*}} iter_args(
// CHECK: vector.load %[[QT]][%{{.*}}] : memref<1536xi32>, vector<16xi32>
// CHECK-NEXT: vector.bitcast %{{.*}} : vector<16xi32> to vector<16xf32>
// CHECK: memref.load %arg1[%{{.*}}] : memref<?xf32>
// CHECK-NEXT: vector.broadcast %{{.*}} : f32 to vector<16xf32>
// CHECK-NEXT: vector.fma
// CHECK-NOT: vector.reduction
// CHECK: scf.yield
// CHECK-LABEL: func.func @k_combine(
func.func @attend(%q: tensor<?x1x16x96xf32>, %cache: tensor<?x64x96xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x16x64xf32> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.1 : f32} : tensor<?x1x16x96xf32>, tensor<?x64x96xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x16x64xf32>, tensor<?x16x1xf32>
  return %out : tensor<?x1x16x64xf32>
}
