// GQA decode over paged head caches through the named CPU pipeline, run:
// 4 query heads on 2 KV heads (heads 0-1 read KV head 0, 2-3 KV head 1),
// head dim 4, 4-token pages through the block table [1, 0], a sequence of
// 6 tokens, 2 causal queries, 2 splits; the unused slots of the caches hold
// 9 (a read of one would show).
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=2" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=4 num-splits=2" | FileCheck %s

// The partial kernel takes the value cache after the key cache; a group's
// rows (2 queries x 2 heads) read one KV head g, whose row of token t (page
// row r) starts at (r * 2 + g) * 4 in both caches: QK^T loads keys, PV
// values.
// CHECK-LABEL: func.func @attend
// CHECK: call @k_partial(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) : (memref<?xf32>, memref<?xf32>, memref<?xf32>, memref<?xi32>, memref<?xi32>,
// CHECK-LABEL: func.func @k_partial(
// CHECK-SAME: %[[Q:[a-z0-9]+]]: memref<?xf32>, %[[K:[a-z0-9]+]]: memref<?xf32>, %[[V:[a-z0-9]+]]: memref<?xf32>, %[[BT:[a-z0-9]+]]: memref<?xi32>
// CHECK: %[[PAGE:.+]] = memref.load %[[BT]]
// CHECK: %[[R:.+]] = arith.addi %{{.*}}, %{{.*}} : index
// CHECK-NEXT: %[[C2:.+]] = arith.constant 2 : index
// CHECK-NEXT: %[[R2:.+]] = arith.muli %[[R]], %[[C2]] : index
// CHECK-NEXT: %[[RG:.+]] = arith.addi %[[R2]], %[[G:.+]] : index
// CHECK: arith.muli %[[RG]], %{{.*}} : index
// CHECK: vector.load %[[K]]
// CHECK: vector.load %[[V]]

func.func @attend(%q: tensor<?x2x4x4xf32>, %k: tensor<?x4x2x4xf32>,
                  %v: tensor<?x4x2x4xf32>, %bt: tensor<?x?xi32>,
                  %lens: tensor<?xi32>)
    -> (tensor<?x2x4x4xf32>, tensor<?x4x2xf32>) {
  %out, %lse = mla.decode_attention %q, %k, %v[%bt, %lens] {scale = 0.5 : f32, causal} : tensor<?x2x4x4xf32>, tensor<?x4x2x4xf32>, tensor<?x4x2x4xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x4xf32>, tensor<?x4x2xf32>
  return %out, %lse : tensor<?x2x4x4xf32>, tensor<?x4x2xf32>
}

// Token t of KV head g has key [t / 4, 1 - g, -t (g + 1) / 4, 1 / 2] and
// value [t / 4 + g, 1, -t / 2, g / 2 - 1 / 4]; query 0 sees tokens 0-4,
// query 1 tokens 0-5. A double-precision evaluation gives (to 6 digits)
// out[0, i, h] for i = 0, 1 and h = 0..3, then lse[0, h, :]:
// VAL: ( 0.562081, 1, -1.12416, -0.25 )
// VAL: ( 0.437919, 1, -0.875839, -0.25 )
// VAL: ( 1.5, 1, -1, 0.25 )
// VAL: ( 1.43792, 1, -0.875839, 0.25 )
// VAL: ( 0.670464, 1, -1.34093, -0.25 )
// VAL: ( 0.715279, 1, -1.43056, -0.25 )
// VAL: ( 1.71528, 1, -1.43056, 0.25 )
// VAL: ( 1.625, 1, -1.25, 0.25 )
// VAL: ( 1.87501, 1.9537 )
// VAL: ( 1.37501, 2.12694 )
// VAL: ( 1.85944, 2.37694 )
// VAL: ( 1.62501, 2.29176 )
func.func @main() {
  %q = arith.constant dense<[[[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0],
                               [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]],
                              [[0.5, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0],
                               [1.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 2.0]]]]> : tensor<1x2x4x4xf32>
  %k = arith.constant dense<[
    [[[1.0, 1.0, -1.0, 0.5], [1.0, 0.0, -2.0, 0.5]],
     [[1.25, 1.0, -1.25, 0.5], [1.25, 0.0, -2.5, 0.5]],
     [[9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0]],
     [[9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0]]],
    [[[0.0, 1.0, 0.0, 0.5], [0.0, 0.0, 0.0, 0.5]],
     [[0.25, 1.0, -0.25, 0.5], [0.25, 0.0, -0.5, 0.5]],
     [[0.5, 1.0, -0.5, 0.5], [0.5, 0.0, -1.0, 0.5]],
     [[0.75, 1.0, -0.75, 0.5], [0.75, 0.0, -1.5, 0.5]]]]> : tensor<2x4x2x4xf32>
  %v = arith.constant dense<[
    [[[1.0, 1.0, -2.0, -0.25], [2.0, 1.0, -2.0, 0.25]],
     [[1.25, 1.0, -2.5, -0.25], [2.25, 1.0, -2.5, 0.25]],
     [[9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0]],
     [[9.0, 9.0, 9.0, 9.0], [9.0, 9.0, 9.0, 9.0]]],
    [[[0.0, 1.0, 0.0, -0.25], [1.0, 1.0, 0.0, 0.25]],
     [[0.25, 1.0, -0.5, -0.25], [1.25, 1.0, -0.5, 0.25]],
     [[0.5, 1.0, -1.0, -0.25], [1.5, 1.0, -1.0, 0.25]],
     [[0.75, 1.0, -1.5, -0.25], [1.75, 1.0, -1.5, 0.25]]]]> : tensor<2x4x2x4xf32>
  %bt = arith.constant dense<[[1, 0]]> : tensor<1x2xi32>
  %lens = arith.constant dense<[6]> : tensor<1xi32>
  %qd = tensor.cast %q : tensor<1x2x4x4xf32> to tensor<?x2x4x4xf32>
  %kd = tensor.cast %k : tensor<2x4x2x4xf32> to tensor<?x4x2x4xf32>
  %vd = tensor.cast %v : tensor<2x4x2x4xf32> to tensor<?x4x2x4xf32>
  %btd = tensor.cast %bt : tensor<1x2xi32> to tensor<?x?xi32>
  %ld = tensor.cast %lens : tensor<1xi32> to tensor<?xi32>
  %out, %lse = func.call @attend(%qd, %kd, %vd, %btd, %ld) : (tensor<?x2x4x4xf32>, tensor<?x4x2x4xf32>, tensor<?x4x2x4xf32>, tensor<?x?xi32>, tensor<?xi32>) -> (tensor<?x2x4x4xf32>, tensor<?x4x2xf32>)
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  %pad = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c2 step %c1 {
    scf.for %h = %c0 to %c4 step %c1 {
      %o = vector.transfer_read %out[%c0, %i, %h, %c0], %pad {in_bounds = [true]} : tensor<?x2x4x4xf32>, vector<4xf32>
      vector.print %o : vector<4xf32>
    }
  }
  scf.for %h = %c0 to %c4 step %c1 {
    %l = vector.transfer_read %lse[%c0, %h, %c0], %pad {in_bounds = [true]} : tensor<?x4x2xf32>, vector<2xf32>
    vector.print %l : vector<2xf32>
  }
  return
}
