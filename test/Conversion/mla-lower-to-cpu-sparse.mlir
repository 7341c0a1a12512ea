// Sparse decode (keys = indices) through the named CPU pipeline, run: the
// cache of mla-lower-to-cpu-sinks.mlir (2 heads, d_c = 4, d_r = 4, two
// 4-token pages, cache row r = page r / 4, offset r % 4), two sequences, 2
// splits. Sequence 0's query attends to slots [5, -1, 0, 5, 7] (5 valid
// slots; row 5 twice, slot 1 without a token; its sixth slot, row 3 of 9s,
// is past them and never read); sequence 1's two valid slots are -1, so its
// rows get zeros and lse = -inf.
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=4 num-splits=2" | FileCheck %s

// A work item reads the index row of its query token, (b * q_len + i) *
// topk; each slot before the valid count loads its index (else -1), a
// negative one is no token and borrows the tile's largest index as its row
// (finite, in the cache), and a tile without any token is skipped. In the
// softmax an invalid slot's score is -inf.
// CHECK-LABEL: func.func @k_partial(
// CHECK: %[[TOPK:.+]] = arith.constant 6 : index
// CHECK: arith.minsi %{{.*}}, %[[TOPK]] : index
// CHECK: scf.for %[[T:.+]] =
// CHECK: %[[IN:.+]] = arith.cmpi slt, %{{.*}}, %{{.*}} : index
// CHECK: %[[ID:.+]] = arith.select %[[IN]], %{{.*}}, %{{.*}} : index
// CHECK: %[[VALID:.+]] = arith.cmpi sge, %[[ID]], %{{.*}} : index
// CHECK: %[[LARGEST:.+]] = arith.maxsi %{{.*}}, %[[ID]] : index
// CHECK: arith.select %[[VALID]], %[[ID]], %{{.*}} : index
// CHECK: %[[ANY:.+]] = arith.cmpi sge, %{{.*}}, %{{.*}} : index
// CHECK: scf.if %[[ANY]] {
// CHECK: arith.cmpi ne, %{{.*}}, %{{.*}} : i32
// CHECK: arith.andi %{{.*}}, %{{.*}} : vector<4xi1>

func.func @attend(%q: tensor<?x1x2x8xf32>, %cache: tensor<?x4x8xf32>,
                  %idx: tensor<?x1x6xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x1x2x4xf32>, tensor<?x2x1xf32>) {
  %out, %lse = mla.decode_attention %q, %cache[%idx, %lens] {scale = 0.5 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<?x1x2x8xf32>, tensor<?x4x8xf32>[tensor<?x1x6xi32>, tensor<?xi32>] -> tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
  return %out, %lse : tensor<?x1x2x4xf32>, tensor<?x2x1xf32>
}

// Head 0's scores are row[0] / 2, head 1's (row[2] + row[7]) / 2, over the
// four valid slots (row 5 counted twice); a double-precision evaluation
// gives (to 6 digits):
// VAL: ( 0.615742, 1, -1.23148, 0.5 )
// VAL: ( 0.385579, 1, -0.771159, 0.5 )
// VAL: ( 0, 0, 0, 0 )
// VAL: ( 1.68083, 0.452048, -inf, -inf )
func.func @main() {
  %q = arith.constant dense<[[[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                               [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]],
                             [[[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
                               [0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]]]> : tensor<2x1x2x8xf32>
  %cache = arith.constant dense<[
    [[1.0, 1.0, -2.0, 0.5, 0.0, 0.0, 0.0, -2.0], [1.25, 1.0, -2.5, 0.5, 0.0, 0.0, 0.0, -2.5],
     [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0, 9.0]],
    [[0.0, 1.0, 0.0, 0.5, 0.0, 0.0, 0.0, 0.0], [0.25, 1.0, -0.5, 0.5, 0.0, 0.0, 0.0, -0.5],
     [0.5, 1.0, -1.0, 0.5, 0.0, 0.0, 0.0, -1.0], [0.75, 1.0, -1.5, 0.5, 0.0, 0.0, 0.0, -1.5]]]> : tensor<2x4x8xf32>
  %idx = arith.constant dense<[[[5, -1, 0, 5, 7, 3]], [[-1, -1, 2, 3, 2, 3]]]> : tensor<2x1x6xi32>
  %lens = arith.constant dense<[5, 2]> : tensor<2xi32>
  %qd = tensor.cast %q : tensor<2x1x2x8xf32> to tensor<?x1x2x8xf32>
  %cd = tensor.cast %cache : tensor<2x4x8xf32> to tensor<?x4x8xf32>
  %idxd = tensor.cast %idx : tensor<2x1x6xi32> to tensor<?x1x6xi32>
  %ld = tensor.cast %lens : tensor<2xi32> to tensor<?xi32>
  %out, %lse = func.call @attend(%qd, %cd, %idxd, %ld) : (tensor<?x1x2x8xf32>, tensor<?x4x8xf32>, tensor<?x1x6xi32>, tensor<?xi32>) -> (tensor<?x1x2x4xf32>, tensor<?x2x1xf32>)
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %pad = arith.constant 0.0 : f32
  %o0 = vector.transfer_read %out[%c0, %c0, %c0, %c0], %pad {in_bounds = [true]} : tensor<?x1x2x4xf32>, vector<4xf32>
  %o1 = vector.transfer_read %out[%c0, %c0, %c1, %c0], %pad {in_bounds = [true]} : tensor<?x1x2x4xf32>, vector<4xf32>
  %o2 = vector.transfer_read %out[%c1, %c0, %c1, %c0], %pad {in_bounds = [true]} : tensor<?x1x2x4xf32>, vector<4xf32>
  %l0 = tensor.extract %lse[%c0, %c0, %c0] : tensor<?x2x1xf32>
  %l1 = tensor.extract %lse[%c0, %c1, %c0] : tensor<?x2x1xf32>
  %l2 = tensor.extract %lse[%c1, %c0, %c0] : tensor<?x2x1xf32>
  %l3 = tensor.extract %lse[%c1, %c1, %c0] : tensor<?x2x1xf32>
  %l = vector.from_elements %l0, %l1, %l2, %l3 : vector<4xf32>
  vector.print %o0 : vector<4xf32>
  vector.print %o1 : vector<4xf32>
  vector.print %o2 : vector<4xf32>
  vector.print %l : vector<4xf32>
  return
}
