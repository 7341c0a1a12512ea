// Key = value (`#mla.decode_variant<value = row>`) through the named CPU
// pipeline, run: the example of mla-lower-to-cpu.mlir (2 heads, rows of 8,
// 4-token pages through the block table [1, 0], a sequence of 6 tokens, 2
// splits), the value now the whole row: the result is as wide as the query,
// its last 4 columns the weighted rope parts.
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=4 num-splits=2" | FileCheck %s

// The kernels see d_c = 8 (the value) and d_r = 0: the combine writes 8
// columns a row, two vectors of 4.
// CHECK-LABEL: func.func @k_combine(
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c8{{.*}} step %c4

func.func @attend(%q: tensor<?x1x2x8xf32>, %cache: tensor<?x4x8xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x1x2x8xf32>, tensor<?x2x1xf32>) {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.5 : f32, causal, variant = #mla.decode_variant<value = row>} : tensor<?x1x2x8xf32>, tensor<?x4x8xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x2x8xf32>, tensor<?x2x1xf32>
  return %out, %lse : tensor<?x1x2x8xf32>, tensor<?x2x1xf32>
}

// Token t holds [t / 4, 1, -t / 2, 1 / 2, 0, 0, 0, -t / 2]; head 0's scores
// are t / 8, head 1's -t / 2; out = sum_t softmax_t * row_t, as a
// double-precision evaluation gives (to 6 digits):
// VAL: ( 0.715279, 1, -1.43056, 0.5, 0, 0, 0, -1.43056 )
// VAL: ( 0.30678, 1, -0.61356, 0.5, 0, 0, 0, -0.61356 )
// VAL: ( 2.12694, 0.881683 )
func.func @main() {
  %q = arith.constant dense<[[[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                               [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]]]> : tensor<1x1x2x8xf32>
  %cache = arith.constant dense<[
    [[1.0, 1.0, -2.0, 0.5, 0.0, 0.0, 0.0, -2.0], [1.25, 1.0, -2.5, 0.5, 0.0, 0.0, 0.0, -2.5],
     [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]],
    [[0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0], [0.25, 1.0, -0.5, 0.5, 0.0, 0.0, 0.0, -0.5],
     [0.5, 1.0, -1.0, 0.5, 0.0, 0.0, 0.0, -1.0], [0.75, 1.0, -1.5, 0.5, 0.0, 0.0, 0.0, -1.5]]]> : tensor<2x4x8xf32>
  %bt = arith.constant dense<[[1, 0]]> : tensor<1x2xi32>
  %lens = arith.constant dense<[6]> : tensor<1xi32>
  %qd = tensor.cast %q : tensor<1x1x2x8xf32> to tensor<?x1x2x8xf32>
  %cd = tensor.cast %cache : tensor<2x4x8xf32> to tensor<?x4x8xf32>
  %btd = tensor.cast %bt : tensor<1x2xi32> to tensor<?x?xi32>
  %ld = tensor.cast %lens : tensor<1xi32> to tensor<?xi32>
  %out, %lse = func.call @attend(%qd, %cd, %btd, %ld) : (tensor<?x1x2x8xf32>, tensor<?x4x8xf32>, tensor<?x?xi32>, tensor<?xi32>) -> (tensor<?x1x2x8xf32>, tensor<?x2x1xf32>)
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %pad = arith.constant 0.0 : f32
  %o0 = vector.transfer_read %out[%c0, %c0, %c0, %c0], %pad {in_bounds = [true]} : tensor<?x1x2x8xf32>, vector<8xf32>
  %o1 = vector.transfer_read %out[%c0, %c0, %c1, %c0], %pad {in_bounds = [true]} : tensor<?x1x2x8xf32>, vector<8xf32>
  %l0 = tensor.extract %lse[%c0, %c0, %c0] : tensor<?x2x1xf32>
  %l1 = tensor.extract %lse[%c0, %c1, %c0] : tensor<?x2x1xf32>
  %l = vector.from_elements %l0, %l1 : vector<2xf32>
  vector.print %o0 : vector<8xf32>
  vector.print %o1 : vector<8xf32>
  vector.print %l : vector<2xf32>
  return
}
