// A sliding window through the named CPU pipeline, run: the example of
// mla-lower-to-cpu.mlir (2 heads, d_c = 4, d_r = 4, 4-token pages through
// the block table [1, 0], a sequence of 6 tokens, 2 splits) with a window
// of 3, so the query (position 5) sees tokens 3, 4 and 5 only; tokens 0-2
// hold NaN, which must not reach the result.
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=4 num-splits=2" | FileCheck %s

// The splits cut the tokens from the query's window start (3) rounded down
// to a tile; a position before a row's start is masked like one past its
// end, and tiles before the last query's start take the masked P V.
// CHECK-LABEL: func.func @k_partial(
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<4xi32>
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<4xi32>
// CHECK: arith.cmpi slt
// CHECK: arith.cmpi sge
// CHECK: arith.andi
// CHECK: arith.ori
// CHECK: scf.if

func.func @attend(%q: tensor<?x1x2x8xf32>, %cache: tensor<?x4x8xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x1x2x4xf32>, tensor<?x2x1xf32>) {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.5 : f32, causal, variant = #mla.decode_variant<window = 3>} : tensor<?x1x2x8xf32>, tensor<?x4x8xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
  return %out, %lse : tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
}

// Token t holds [t / 4, 1, -t / 2, 1 / 2 ; 0, 0, 0, -t / 2]; head 0's
// scores are t / 8, head 1's -t / 2; over t = 3, 4, 5 a double-precision
// evaluation gives (to 6 digits):
// VAL: ( 1.02078, 1, -2.04156, 0.5 )
// VAL: ( 0.919961, 1, -1.83992, 0.5 )
// VAL: ( 1.60381, -0.81973 )
func.func @main() {
  %q = arith.constant dense<[[[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                               [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]]]> : tensor<1x1x2x8xf32>
  %cache = arith.constant dense<[
    [[1.0, 1.0, -2.0, 0.5, 0.0, 0.0, 0.0, -2.0], [1.25, 1.0, -2.5, 0.5, 0.0, 0.0, 0.0, -2.5],
     [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]],
    [[0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000],
     [0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000],
     [0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000, 0x7FC00000],
     [0.75, 1.0, -1.5, 0.5, 0.0, 0.0, 0.0, -1.5]]]> : tensor<2x4x8xf32>
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
