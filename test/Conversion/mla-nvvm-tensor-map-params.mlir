// mla-nvvm-tensor-map-params: the trailing parameters an NVVM kernel marks
// with mla.tensor_map_params become 128-byte, 64-byte aligned byval
// __grid_constant__ parameters (CUtensorMap), addressed with cvta.param in
// the PTX; the marker is removed; functions without it are left alone.
// RUN: mla-opt %s -split-input-file --mla-nvvm-tensor-map-params | FileCheck %s

// CHECK-LABEL: llvm.func @k(
// CHECK-SAME: %{{.*}}: i32,
// CHECK-SAME: %{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant},
// CHECK-SAME: %{{.*}}: !llvm.ptr {llvm.align = 64 : i64, llvm.byval = !llvm.array<128 x i8>, nvvm.grid_constant})
// CHECK-NOT: mla.tensor_map_params
// CHECK-SAME: nvvm.kernel
llvm.func @k(%n: i32, %qmap: !llvm.ptr, %kvmap: !llvm.ptr) attributes {nvvm.kernel, mla.tensor_map_params = 2 : i64} {
  llvm.return
}

// CHECK-LABEL: llvm.func @plain(
// CHECK-SAME: %{{.*}}: !llvm.ptr)
llvm.func @plain(%p: !llvm.ptr) attributes {nvvm.kernel} {
  llvm.return
}

// -----

// CHECK-LABEL: llvm.func @zero(
// CHECK-SAME: %{{.*}}: !llvm.ptr) attributes {nvvm.kernel}
llvm.func @zero(%p: !llvm.ptr) attributes {nvvm.kernel, mla.tensor_map_params = 0 : i64} {
  llvm.return
}
