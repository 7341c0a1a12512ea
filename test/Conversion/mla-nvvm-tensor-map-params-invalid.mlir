// mla-nvvm-tensor-map-params refuses a marker on a function that is not an
// NVVM kernel, and tensor map parameters that are not pointers.
// RUN: mla-opt %s -split-input-file --mla-nvvm-tensor-map-params -verify-diagnostics

// expected-error @+1 {{'mla.tensor_map_params' on a function that is not an NVVM kernel}}
llvm.func @device(%map: !llvm.ptr) attributes {mla.tensor_map_params = 1 : i64} {
  llvm.return
}

// -----

// expected-error @+1 {{tensor map parameter 1 is not a pointer}}
llvm.func @scalar(%map: !llvm.ptr, %n: i64) attributes {nvvm.kernel, mla.tensor_map_params = 1 : i64} {
  llvm.return
}
