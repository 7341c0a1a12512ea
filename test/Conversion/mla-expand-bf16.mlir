// mla-expand-bf16: f32 -> bf16 as integer ops without a select (CPUs without
// AVX512-BF16, where LLVM would call libgcc's missing __truncsfbf2), then
// the same conversion run on the values that matter.
// RUN: mla-opt %s --mla-expand-bf16 | FileCheck %s
// RUN: mla-opt %s --mla-expand-bf16 --convert-vector-to-scf --convert-scf-to-cf \
// RUN:   --convert-vector-to-llvm --convert-arith-to-llvm --convert-func-to-llvm \
// RUN:   --convert-cf-to-llvm --reconcile-unrealized-casts \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL

// b = bits(x); nan = (|b| + 0x7fffff) >> 31; m = -nan;
// bits(bf16) = ((b | (0x400000 & m)) + ((0x7fff + (b >> 16 & 1)) & ~m)) >> 16.
// CHECK-LABEL: func.func @to_bf16(
// CHECK-NOT: arith.truncf
// CHECK-NOT: arith.select
// CHECK: arith.bitcast %{{.*}} : vector<8xf32> to vector<8xi32>
// CHECK: arith.shrui
// CHECK: arith.trunci %{{.*}} : vector<8xi32> to vector<8xi16>
// CHECK: arith.bitcast %{{.*}} : vector<8xi16> to vector<8xbf16>
func.func @to_bf16(%x: vector<8xf32>) -> vector<8xbf16> {
  %y = arith.truncf %x : vector<8xf32> to vector<8xbf16>
  return %y : vector<8xbf16>
}

// CHECK-LABEL: func.func @scalar(
// CHECK-NOT: arith.truncf
// CHECK: arith.bitcast %{{.*}} : i16 to bf16
func.func @scalar(%x: f32) -> bf16 {
  %y = arith.truncf %x : f32 to bf16
  return %y : bf16
}

// Bits of: 1.0 (0x3f80); 1 + 2^-8, a tie, to even (0x3f80); 1 + 3 * 2^-8, a
// tie, up to even (0x3f82); -2.5 (0xc020); the largest float, which rounds
// to inf (0x7f80); -inf (0xff80); a quiet and a signalling NaN (both quiet
// NaNs, 0x7fc0). As signed i16:
// VAL: ( 16256, 16256, 16258, -16352, 32640, -128, 32704, 32704 )
// VAL: 16256
func.func @main() {
  %bits = arith.constant dense<[0x3f800000, 0x3f808000, 0x3f818000, 0xc0200000,
                                0x7f7fffff, 0xff800000, 0x7fc00000, 0x7f800001]> : vector<8xi32>
  %x = arith.bitcast %bits : vector<8xi32> to vector<8xf32>
  %y = func.call @to_bf16(%x) : (vector<8xf32>) -> vector<8xbf16>
  %yb = arith.bitcast %y : vector<8xbf16> to vector<8xi16>
  vector.print %yb : vector<8xi16>
  %one = arith.constant 1.0 : f32
  %s = func.call @scalar(%one) : (f32) -> bf16
  %sb = arith.bitcast %s : bf16 to i16
  vector.print %sb : i16
  return
}
