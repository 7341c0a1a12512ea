// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=8 num-splits=2" | FileCheck %s
// RUN: not mla-opt %s --convert-mla-to-cpu="vector-width=6" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADVW
// RUN: not mla-opt %s --convert-mla-to-cpu="num-splits=0" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADSPLIT
// BADVW: cannot generate a CPU decode kernel: vector width = 6 (expected 4, 8 or 16)
// BADSPLIT: convert-mla-to-cpu: num-splits must be in 1..256, got 0
// RUN: not mla-opt %s --convert-mla-to-cpu="num-splits=9223372036854775807" 2>&1 >/dev/null | FileCheck %s --check-prefix=HUGESPLIT
// HUGESPLIT: convert-mla-to-cpu: num-splits must be in 1..256, got 9223372036854775807
// RUN: not mla-opt %s --convert-mla-to-cpu="kernel-name=" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADNAME
// BADNAME: convert-mla-to-cpu: kernel-name '' is not a C identifier
// RUN: not mla-opt %s --convert-mla-to-cpu="kernel-name=a-b" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADNAME2
// BADNAME2: convert-mla-to-cpu: kernel-name 'a-b' is not a C identifier
// RUN: not mla-opt %s --convert-mla-to-cpu="launch=threads" 2>&1 >/dev/null | FileCheck %s --check-prefix=BADLAUNCH
// BADLAUNCH: convert-mla-to-cpu: launch = 'threads' (expected loops or none)
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=8 launch=none" | FileCheck %s --check-prefix=NONE
// With launch=none (mla-codegen's use) the kernels are emitted and the op
// stays for a host runtime to launch them.
// NONE-LABEL: func.func @attend
// NONE-NEXT: mla.decode_attention
// NONE: func.func @k_partial(
// NONE: func.func @k_combine(

// 4 heads x q_len 2 = 8 query rows in one group; d_c = 32, d_r = 8 with
// 8-lane vectors: 5 vectors per cache row.

// The op becomes calls of the kernels over (sequence, group, split) and
// per sequence, on the operands' flattened buffers.
// CHECK-LABEL: func.func @attend
// CHECK: %[[Q:.+]] = bufferization.to_buffer %arg0 read_only : tensor<?x2x4x40xf32> to memref<?x2x4x40xf32>
// CHECK: %[[QF:.+]] = memref.collapse_shape %[[Q]] {{\[\[}}0, 1, 2, 3]] : memref<?x2x4x40xf32> into memref<?xf32>
// CHECK: %[[OUT:.+]] = memref.alloc(%{{.*}}) : memref<?x2x4x32xf32>
// CHECK: %[[LSE:.+]] = memref.alloc(%{{.*}}) : memref<?x4x2xf32>
// CHECK: scf.for
// CHECK: func.call @k_partial(%[[QF]], {{.*}}) : (memref<?xf32>, memref<?xf32>, memref<?xi32>, memref<?xi32>, memref<?xf32>, memref<?xf32>, index, index, index, index, index, f32) -> ()
// CHECK: scf.for
// CHECK: func.call @k_combine(
// CHECK: %[[O:.+]] = bufferization.to_tensor %[[OUT]] restrict writable
// CHECK: return %[[O]]

// The partial kernel: per-row state on the stack, tiles of 16 tokens,
// register-blocked scores (4 rows x 2 tokens = 8 accumulators of 8 lanes)
// with FMAs over the 40 values of a row, summed into one vector of the 8
// scores by 3 levels of shuffles and adds, online softmax on vectors of
// rows (masks, elementwise max, vector exp), and PV (4 rows x 2 vectors)
// with broadcast probabilities.
// CHECK-LABEL: func.func @k_partial(
// CHECK-SAME: attributes {llvm.emit_c_interface}
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<8xi32>
// CHECK: memref.alloca() {alignment = 64 : i64} : memref<128xf32>
// CHECK: scf.for %{{.*}} = %{{.*}} to %{{.*}} step %c16
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %c40{{.*}} step %c8{{.*}} iter_args(
// CHECK-COUNT-8: vector.fma %{{.*}} : vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [0, 1, 2, 3, 8, 9, 10, 11] : vector<8xf32>, vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [4, 5, 6, 7, 12, 13, 14, 15] : vector<8xf32>, vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [0, 1, 4, 5, 8, 9, 12, 13] : vector<8xf32>, vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [2, 3, 6, 7, 10, 11, 14, 15] : vector<8xf32>, vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [0, 2, 4, 6, 8, 10, 12, 14] : vector<8xf32>, vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [1, 3, 5, 7, 9, 11, 13, 15] : vector<8xf32>, vector<8xf32>
// CHECK: vector.store %{{.*}} : memref<128xf32>, vector<4xf32>
// CHECK: arith.cmpi slt, %{{.*}} : vector<8xi32>
// CHECK: arith.maxnumf %{{.*}} : vector<8xf32>
// CHECK: math.exp %{{.*}} : vector<8xf32>
// CHECK: vector.broadcast %{{.*}} : f32 to vector<8xf32>
// CHECK: vector.fma
// CHECK: return

// The combine kernel: weights exp(m_s - M) over the splits, lse = M + log(l)
// and out = sum / l, or -inf and zeros when no split saw a token.
// CHECK-LABEL: func.func @k_combine(
// CHECK: arith.constant 0xFF800000 : f32
// CHECK: arith.maxnumf
// CHECK: math.exp
// CHECK: arith.cmpf ogt
// CHECK: math.log
// CHECK: vector.fma
func.func @attend(%q: tensor<?x2x4x40xf32>, %cache: tensor<?x16x40xf32>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x4x32xf32> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.15 : f32, causal} : tensor<?x2x4x40xf32>, tensor<?x16x40xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x32xf32>, tensor<?x4x2xf32>
  return %out : tensor<?x2x4x32xf32>
}
