// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=16 bf16-dot=true" | FileCheck %s
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=16" | FileCheck %s --check-prefix=WIDEN
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=16 prefetch=true" | FileCheck %s --check-prefix=PF

// bf16 storage on a target with AVX512-BF16: QK^T takes 32 bf16 values of
// the query and of a cache row a step and sums pairs of products into 16
// f32 lanes (vdpbf16ps); the row width 96 = 3 steps. Without the feature
// the values are widened to f32 and multiplied with FMAs.
// CHECK-LABEL: func.func @k_partial(
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c96{{.*}} step %c32{{.*}} iter_args(
// CHECK: vector.load %arg0[%{{.*}}] : memref<?xbf16>, vector<32xbf16>
// CHECK: x86vector.avx512.dot %{{.*}}, %{{.*}}, %{{.*}} : vector<32xbf16> -> vector<16xf32>
// P V in dot products too (8 rows, two blocks of 4): the softmax rounds each
// row's probabilities of tokens 2j, 2j + 1 to bf16 and stores the pair as
// one i32; the tile's value rows are paired column by column into a copy
// once; each P pair is broadcast against it.
// CHECK: arith.truncf %{{.*}} : vector<8xf32> to vector<8xbf16>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15] : vector<8xbf16>, vector<8xbf16>
// CHECK: vector.bitcast %{{.*}} : vector<16xbf16> to vector<8xi32>
// CHECK: vector.shuffle %{{.*}}, %{{.*}} [0, 16, 1, 17, {{.*}}] : vector<16xbf16>, vector<16xbf16>
// CHECK-NEXT: vector.store %{{.*}}, %cast[%{{.*}}] : memref<?xbf16>, vector<32xbf16>
// CHECK: vector.broadcast %{{.*}} : i32 to vector<16xi32>
// CHECK-NEXT: vector.bitcast %{{.*}} : vector<16xi32> to vector<32xbf16>
// CHECK-NEXT: x86vector.avx512.dot
// CHECK-LABEL: func.func @k_combine(
// WIDEN-LABEL: func.func @k_partial(
// WIDEN-NOT: x86vector.avx512.dot
// WIDEN: arith.extf %{{.*}} : vector<16xbf16> to vector<16xf32>
// WIDEN: vector.fma
// With prefetch=true (8 rows a group) the launch calls the partial kernel
// that prefetches the next tile's rows, emitted beside the plain one.
// PF-LABEL: func.func @attend(
// PF: func.call @k_partial_prefetch(
// PF-LABEL: func.func @k_partial(
// PF-NOT: memref.prefetch
// PF-LABEL: func.func @k_partial_prefetch(
// PF: memref.prefetch %{{.*}}, read, locality<2>, data : memref<?xbf16>
func.func @attend(%q: tensor<?x1x8x96xbf16>, %cache: tensor<?x64x96xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x8x64xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.1 : f32, causal} : tensor<?x1x8x96xbf16>, tensor<?x64x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x8x64xbf16>, tensor<?x8x1xf32>
  return %out : tensor<?x1x8x64xbf16>
}
