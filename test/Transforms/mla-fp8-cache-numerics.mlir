// mla.kv_cache_append into an fp8-row cache (scale_group) and
// mla.kv_cache_gather out of it, through mla-lower-to-cpu and mlir-runner:
// every byte written is mla.fp8.encode_rows of its row, every value
// gathered mla.fp8.decode_rows of its bytes, bit for bit, over d_c 32-512,
// d_r 0-64, groups of 16-128, f32 and bf16 rows, with an all-zero group,
// subnormal codes and NaN rope values of either sign (0x7FC0); rows not
// written keep their bytes.
// RUN: %python %S/Inputs/fp8_rows_check.py mla-opt mlir-runner %mlir_c_runner_utils %mla_src/python | FileCheck %s
// CHECK: fp8 rows #3: {{.*}} 656 bytes a row, bytes exact, values exact
// CHECK: all fp8 row checks passed
