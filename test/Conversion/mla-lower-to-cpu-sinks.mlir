// Attention sinks through the named CPU pipeline, run: the example of
// mla-lower-to-cpu.mlir (2 heads, d_c = 4, d_r = 4, 4-token pages through
// the block table [1, 0], a sequence of 6 tokens, 2 splits) with per-head
// sink logits [0.5, -1]: each joins its head's softmax denominator and lse,
// without a value.
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=4 num-splits=2" | FileCheck %s

// The combine takes the sinks after the contract's buffers; row r's sink
// (head r % 2) starts the max and adds exp(sink - M) to the total.
// CHECK-LABEL: func.func @attend
// CHECK: call @k_combine(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xf32>, index, index, memref<?xf32>) -> ()
// CHECK-LABEL: func.func @k_combine(
// CHECK-SAME: %[[SINKS:[a-z0-9]+]]: memref<?xf32>) attributes
// CHECK: %[[SINK:.+]] = memref.load %[[SINKS]][%{{.*}}] : memref<?xf32>
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[SINK]])
// CHECK: %[[D:.+]] = arith.subf %[[SINK]], %{{.*}}
// CHECK-NEXT: %[[W:.+]] = math.exp %[[D]]
// CHECK-NEXT: scf.for {{.*}} iter_args(%{{.*}} = %[[W]])

func.func @attend(%q: tensor<?x1x2x8xf32>, %cache: tensor<?x4x8xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>, %sinks: tensor<2xf32>)
    -> (tensor<?x1x2x4xf32>, tensor<?x2x1xf32>) {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] sinks(%sinks : tensor<2xf32>) {scale = 0.5 : f32, causal} : tensor<?x1x2x8xf32>, tensor<?x4x8xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
  return %out, %lse : tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
}

// Token t holds [t / 4, 1, -t / 2, 1 / 2 ; 0, 0, 0, -t / 2]; head 0's
// scores are t / 8, head 1's -t / 2; with the sinks in the denominators a
// double-precision evaluation gives (to 6 digits):
// VAL: ( 0.597794, 0.83575, -1.19559, 0.417875 )
// VAL: ( 0.266225, 0.867804, -0.53245, 0.433902 )
// VAL: ( 2.30636, 1.02347 )
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
  %sinks = arith.constant dense<[0.5, -1.0]> : tensor<2xf32>
  %out, %lse = func.call @attend(%qd, %cd, %btd, %ld, %sinks) : (tensor<?x1x2x8xf32>, tensor<?x4x8xf32>, tensor<?x?xi32>, tensor<?xi32>, tensor<2xf32>) -> (tensor<?x1x2x4xf32>, tensor<?x2x1xf32>)
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %pad = arith.constant 0.0 : f32
  %o0 = vector.transfer_read %out[%c0, %c0, %c0, %c0], %pad {in_bounds = [true]} : tensor<?x1x2x4xf32>, vector<4xf32>
  %o1 = vector.transfer_read %out[%c0, %c0, %c1, %c0], %pad {in_bounds = [true]} : tensor<?x1x2x4xf32>, vector<4xf32>
  %l0 = tensor.extract %lse[%c0, %c0, %c0] : tensor<?x2x1xf32>
  %l1 = tensor.extract %lse[%c0, %c1, %c0] : tensor<?x2x1xf32>
  %l = vector.from_elements %l0, %l1 : vector<2xf32>
  vector.print %o0 : vector<4xf32>
  vector.print %o1 : vector<4xf32>
  vector.print %l : vector<2xf32>
  return
}
