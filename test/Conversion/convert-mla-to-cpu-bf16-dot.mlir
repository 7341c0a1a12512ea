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
// PF: memref.prefetch %{{.*}}, read, locality<3>, data : memref<?xbf16>
func.func @attend(%q: tensor<?x1x8x96xbf16>, %cache: tensor<?x64x96xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x8x64xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.1 : f32, causal} : tensor<?x1x8x96xbf16>, tensor<?x64x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x8x64xbf16>, tensor<?x8x1xf32>
  return %out : tensor<?x1x8x64xbf16>
}
