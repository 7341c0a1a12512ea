// The named CPU pipeline takes a function around mla.decode_attention on
// tensors to the LLVM dialect (mla-opt reaches the kernels mla-codegen
// builds), and the result runs: 2 heads, d_c = 4, d_r = 4, 4-lane vectors,
// 4-token pages gathered through a block table [1, 0], a sequence of 6
// tokens ending mid-page beside unused rows of 9.0, 2 splits.
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=2" | FileCheck %s
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL

// Only the LLVM dialect is left: the kernels, their C interfaces, and the
// function that calls them over (sequence, group, split).
// CHECK-DAG: llvm.func @k_partial(
// CHECK-DAG: llvm.func @k_combine(
// CHECK-DAG: llvm.func @attend(
// CHECK-NOT: mla.
// CHECK-NOT: scf.
// CHECK-NOT: memref.alloc

func.func @attend(%q: tensor<?x1x2x8xf32>, %cache: tensor<?x4x8xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x1x2x4xf32>, tensor<?x2x1xf32>) {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.5 : f32, causal} : tensor<?x1x2x8xf32>, tensor<?x4x8xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
  return %out, %lse : tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
}

// Token t holds [t / 4, 1, -t / 2, 1 / 2 ; 0, 0, 0, -t / 2]; head 0 asks for
// column 0 (scores t / 8), head 1 for columns 2 and 7 (scores -t / 2), so
// out = sum_t softmax_t * row_t[0:4] and lse = log sum_t exp(score_t), as a
// double-precision evaluation of the same sums gives (to 6 digits):
// VAL: ( 0.715279, 1, -1.43056, 0.5 )
// VAL: ( 0.30678, 1, -0.61356, 0.5 )
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
  %out, %lse = func.call @attend(%qd, %cd, %btd, %ld) : (tensor<?x1x2x8xf32>, tensor<?x4x8xf32>, tensor<?x?xi32>, tensor<?xi32>) -> (tensor<?x1x2x4xf32>, tensor<?x2x1xf32>)
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
