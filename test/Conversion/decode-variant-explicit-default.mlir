// The dense variant spelled out (keys = pages, scales = none, value =
// latent) is lowered as when the attribute is absent: a cache of the
// query's type, read through the block table. Every other variant has its
// own tests: a window (mla-lower-to-cpu-window.mlir,
// convert-mla-to-gpu-window.mlir), sinks (mla-lower-to-cpu-sinks.mlir), key
// = value (mla-lower-to-cpu-row.mlir), token indices and fp8 caches
// (mla-lower-to-cpu-sparse.mlir, mla-lower-to-cpu-fp8.mlir,
// mla-lower-to-cpu-fp8-tensor.mlir, convert-mla-to-gpu-variants.mlir).
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k" | FileCheck %s --check-prefix=CPU
// RUN: mla-opt %s --convert-mla-to-gpu="kernel-name=k arch=sm_80" | FileCheck %s --check-prefix=GPU

// CPU: func.func @k_partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>,
// CPU: func.func @k_combine(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %{{.*}}: index) attributes
// GPU: gpu.func @partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<?xi32>,
// GPU: gpu.func @combine(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xf32>, %{{.*}}: index) kernel
func.func @dense(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xbf16>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = pages, scales = none, value = latent>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}
