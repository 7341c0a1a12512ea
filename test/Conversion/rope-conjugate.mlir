// The conjugate RoPE (`conjugate`: rotation by -a) undoes mla.rope at the
// same position, through the named CPU pipeline and run: rotate-half, d = 8,
// position 7; the rotation itself matches a double evaluation of
// (x0 cos a - x1 sin a, x0 sin a + x1 cos a), a = 7 * 1e4^(-i/4) (to 6
// digits), and the conjugate gives x back.
// RUN: mla-opt %s --mla-lower-to-cpu \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s
// CHECK: ( -2.53103, -2.33562, 2.50305, 3.9439, 4.4265, 5.87749, 7.19269, 8.0278 )
// CHECK-NEXT: ( 1, 2, 3, 4, 5, 6, 7, 8 )
func.func @roundtrip(%x: tensor<1x1x8xf32>, %p: tensor<1x1xi32>) -> (tensor<1x1x8xf32>, tensor<1x1x8xf32>) {
  %r = mla.rope %x, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>} : tensor<1x1x8xf32>, tensor<1x1xi32>
  %c = mla.rope %r, %p {theta = 10000.0 : f64, style = #mla.rope_style<rotate_half>, conjugate} : tensor<1x1x8xf32>, tensor<1x1xi32>
  return %r, %c : tensor<1x1x8xf32>, tensor<1x1x8xf32>
}
func.func @main() {
  %x = arith.constant dense<[[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]]]> : tensor<1x1x8xf32>
  %p = arith.constant dense<[[7]]> : tensor<1x1xi32>
  %r, %c = func.call @roundtrip(%x, %p) : (tensor<1x1x8xf32>, tensor<1x1xi32>) -> (tensor<1x1x8xf32>, tensor<1x1x8xf32>)
  %c0 = arith.constant 0 : index
  %pad = arith.constant 0.0 : f32
  %rv = vector.transfer_read %r[%c0, %c0, %c0], %pad {in_bounds = [true]} : tensor<1x1x8xf32>, vector<8xf32>
  %cv = vector.transfer_read %c[%c0, %c0, %c0], %pad {in_bounds = [true]} : tensor<1x1x8xf32>, vector<8xf32>
  vector.print %rv : vector<8xf32>
  vector.print %cv : vector<8xf32>
  return
}
