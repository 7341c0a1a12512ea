// The flash-decoding skeleton's pieces on their own (test-mla-flash-decode
// builds each with the calls the CPU and GPU kernels make): their IR, then
// their values, run with mlir-runner on the cases that matter (a row that
// has seen nothing, a masked score, empty splits).
// RUN: mla-opt %s --test-mla-flash-decode | FileCheck %s
// RUN: mla-opt %s --test-mla-flash-decode --convert-vector-to-scf \
// RUN:   --convert-scf-to-cf \
// RUN:   --convert-math-to-llvm --convert-vector-to-llvm \
// RUN:   --finalize-memref-to-llvm --convert-arith-to-llvm \
// RUN:   --convert-func-to-llvm --convert-cf-to-llvm \
// RUN:   --reconcile-unrealized-casts \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL

// One online-softmax step, base e: s = visible ? raw * scale : -inf;
// m_new = max(m_old, s); m_safe = m_new, or 0 while m_new = -inf (so that
// exp(-inf - m_safe) = 0, never NaN); alpha = exp(m_old - m_safe);
// p = exp(s - m_safe); l_new = l_old * alpha + p.
// CHECK-LABEL: func.func @softmax_step_e(
// CHECK-SAME: %[[MOLD:[a-z0-9]+]]: f32, %[[LOLD:[a-z0-9]+]]: f32, %[[RAW:[a-z0-9]+]]: f32, %[[VIS:[a-z0-9]+]]: i1, %[[SCALE:[a-z0-9]+]]: f32)
// CHECK-DAG: %[[NEGINF:.+]] = arith.constant 0xFF800000 : f32
// CHECK: %[[SCALED:.+]] = arith.mulf %[[RAW]], %[[SCALE]] : f32
// CHECK: %[[S:.+]] = arith.select %[[VIS]], %[[SCALED]], %[[NEGINF]] : f32
// CHECK: %[[MNEW:.+]] = arith.maxnumf %[[MOLD]], %[[S]] : f32
// CHECK: %[[NONE:.+]] = arith.cmpf oeq, %[[MNEW]], %{{.+}} : f32
// CHECK: %[[MSAFE:.+]] = arith.select %[[NONE]], %{{.+}}, %[[MNEW]] : f32
// CHECK: %[[D:.+]] = arith.subf %[[MOLD]], %[[MSAFE]] : f32
// CHECK: %[[ALPHA:.+]] = math.exp %[[D]] : f32
// CHECK: %[[DS:.+]] = arith.subf %[[S]], %[[MSAFE]] : f32
// CHECK: %[[P:.+]] = math.exp %[[DS]] : f32
// CHECK: %[[LNEW:.+]] = math.fma %[[LOLD]], %[[ALPHA]], %[[P]] : f32
// CHECK: return %[[MNEW]], %[[LNEW]], %[[ALPHA]], %[[P]]

// Base 2 (the tensor-core kernels): the scale is multiplied by log2 e once,
// exp2 replaces exp, and the max goes out in natural-log units (times ln 2).
// CHECK-LABEL: func.func @softmax_step_2(
// CHECK: arith.constant 1.44269502 : f32
// CHECK: arith.maxnumf
// CHECK: math.exp2
// CHECK: math.exp2
// CHECK: %[[LN2:.+]] = arith.constant 0.693147182 : f32
// CHECK: %[[MNAT:.+]] = arith.mulf %{{.+}}, %[[LN2]] : f32
// CHECK: %[[L2:.+]] = math.fma
// CHECK: return %[[MNAT]], %[[L2]]

// The combine of a row's splits: M = max_s m_s (0 if every split is empty),
// total = sum_s exp(m_s - M) l_s; the outputs' scale 1 / total and
// lse = M + log(total), or 0 and -inf when total = 0.
// CHECK-LABEL: func.func @combine_row(
// CHECK: scf.for
// CHECK: arith.maxnumf
// CHECK: arith.cmpf oeq
// CHECK: arith.select
// CHECK: scf.for
// CHECK: math.exp
// CHECK: math.fma
// CHECK: %[[SEEN:.+]] = arith.cmpf ogt
// CHECK: %[[INV:.+]] = arith.divf
// CHECK: %[[SC:.+]] = arith.select %[[SEEN]], %[[INV]]
// CHECK: math.log
// CHECK: %[[LSE:.+]] = arith.select %[[SEEN]]
// CHECK: return %[[SC]], %[[LSE]]

// Visibility with 2 heads and q_len 3: row r = i * 2 + h sees positions
// < clamp(len - 2 + r / 2, 0, len); without causality all len positions.
// CHECK-LABEL: func.func @visible_end_causal(
// CHECK: arith.divui %arg0, %c2
// CHECK: arith.subi %arg1, %c2
// CHECK: arith.maxsi
// CHECK: arith.minsi
// CHECK-LABEL: func.func @visible_end(
// CHECK-NEXT: return %arg1 : index

// The split range: chunk = ceil(ceil(len / splits) / 16) * 16 tokens;
// t0 = min(split * chunk, len), t1 = min(t0 + chunk, len).
// CHECK-LABEL: func.func @split_range(
// CHECK: arith.ceildivsi %arg0, %arg1
// CHECK: arith.ceildivsi
// CHECK: arith.muli
// CHECK: %[[T0:.+]] = arith.minsi
// CHECK: %[[T1:.+]] = arith.minsi
// CHECK: return %[[T0]], %[[T1]]

// A window of 20: row r (query r / 2, at position len - 3 + r / 2) sees
// from max(len - 22 + r / 2, 0); the splits start at the first query's
// start rounded down to a tile.
// CHECK-LABEL: func.func @visible_start_window(
// CHECK: arith.divui %arg0, %c2
// CHECK: arith.subi %arg1, %c22
// CHECK: arith.maxsi
// CHECK-LABEL: func.func @split_range_window(
// CHECK: arith.divui %{{.*}}, %c16
// CHECK: %[[FIRST:.+]] = arith.muli %{{.*}}, %c16
// CHECK: %[[SPAN:.+]] = arith.subi %arg0, %[[FIRST]]
// CHECK: arith.ceildivsi %[[SPAN]], %arg1
// CHECK: arith.addi %[[FIRST]]

func.func private @softmax_step_e(f32, f32, f32, i1, f32) -> (f32, f32, f32, f32)
func.func private @softmax_step_2(f32, f32, f32, i1, f32) -> (f32, f32, f32, f32)
func.func private @combine_row(memref<?xf32>, memref<?xf32>, index) -> (f32, f32)
func.func private @visible_end_causal(index, index) -> index
func.func private @split_range(index, index, index) -> (index, index)
func.func private @visible_start_window(index, index) -> index
func.func private @split_range_window(index, index, index) -> (index, index)

func.func @print4(%a: f32, %b: f32, %c: f32, %d: f32) {
  %v0 = vector.broadcast %a : f32 to vector<4xf32>
  %v1 = vector.insert %b, %v0 [1] : f32 into vector<4xf32>
  %v2 = vector.insert %c, %v1 [2] : f32 into vector<4xf32>
  %v3 = vector.insert %d, %v2 [3] : f32 into vector<4xf32>
  vector.print %v3 : vector<4xf32>
  return
}

func.func @main() {
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %two = arith.constant 2.0 : f32
  %half = arith.constant 0.5 : f32
  %t = arith.constant true
  %f = arith.constant false
  // A row that has seen nothing meets a visible score 2 * 0.5 = 1: m = 1,
  // alpha = exp(-inf - 1) = 0, p = exp(0) = 1, l = 0 * 0 + 1.
  // VAL: ( 1, 1, 0, 1 )
  %a:4 = func.call @softmax_step_e(%ninf, %zero, %two, %t, %half) : (f32, f32, f32, i1, f32) -> (f32, f32, f32, f32)
  func.call @print4(%a#0, %a#1, %a#2, %a#3) : (f32, f32, f32, f32) -> ()
  // Still nothing visible: the masked score keeps m = -inf, l = 0, and
  // alpha and p are 0, not NaN.
  // VAL: ( -inf, 0, 0, 0 )
  %b:4 = func.call @softmax_step_e(%ninf, %zero, %two, %f, %half) : (f32, f32, f32, i1, f32) -> (f32, f32, f32, f32)
  func.call @print4(%b#0, %b#1, %b#2, %b#3) : (f32, f32, f32, f32) -> ()
  // m = 1, l = 1, then a score of 2 * 1 = 2 (the same in base 2, where the
  // state is in log2 units and m goes out times ln 2): m = 2, alpha = e^-1,
  // p = 1, l = e^-1 + 1.
  // VAL: ( 2, 1.36788, 0.367879, 1 )
  %c:4 = func.call @softmax_step_e(%one, %one, %two, %t, %one) : (f32, f32, f32, i1, f32) -> (f32, f32, f32, f32)
  func.call @print4(%c#0, %c#1, %c#2, %c#3) : (f32, f32, f32, f32) -> ()
  // Base 2 from m = 1 (log2 units), a score 2 * log2 e: m = 2 log2 e, which
  // is 2 in natural units; alpha = 2^(1 - 2 log2 e), p = 1.
  // VAL: ( 2, 1.27067, 0.270671, 1 )
  %d:4 = func.call @softmax_step_2(%one, %one, %two, %t, %one) : (f32, f32, f32, i1, f32) -> (f32, f32, f32, f32)
  func.call @print4(%d#0, %d#1, %d#2, %d#3) : (f32, f32, f32, f32) -> ()

  // Splits (m, l) = (-inf, 0), (1, 2), (0, 1): M = 1, total = 2 + e^-1,
  // scale = 1 / total, lse = 1 + log(total).
  // VAL: ( 0.422319, 1.86199, 0, -inf )
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %m = memref.alloca() : memref<3xf32>
  %l = memref.alloca() : memref<3xf32>
  memref.store %ninf, %m[%c0] : memref<3xf32>
  memref.store %zero, %l[%c0] : memref<3xf32>
  memref.store %one, %m[%c1] : memref<3xf32>
  memref.store %two, %l[%c1] : memref<3xf32>
  memref.store %zero, %m[%c2] : memref<3xf32>
  memref.store %one, %l[%c2] : memref<3xf32>
  %md = memref.cast %m : memref<3xf32> to memref<?xf32>
  %ld = memref.cast %l : memref<3xf32> to memref<?xf32>
  %r:2 = func.call @combine_row(%md, %ld, %c3) : (memref<?xf32>, memref<?xf32>, index) -> (f32, f32)
  // Only the empty split: zeros and -inf, never NaN.
  %e:2 = func.call @combine_row(%md, %ld, %c1) : (memref<?xf32>, memref<?xf32>, index) -> (f32, f32)
  func.call @print4(%r#0, %r#1, %e#0, %e#1) : (f32, f32, f32, f32) -> ()

  // Causal visibility, len 10: rows 0-1 (query 0) see 8, rows 4-5
  // (query 2) see 10; len 1: query 0 sees nothing (max(1 - 2, 0) = 0).
  // Split 1 of 3 over 40 tokens: chunks of 16, [16, 32); split 2: [32, 40).
  // VAL: ( 8, 10, 0, 16, 32, 32, 40 )
  %c4 = arith.constant 4 : index
  %c10 = arith.constant 10 : index
  %c40 = arith.constant 40 : index
  %v0 = func.call @visible_end_causal(%c0, %c10) : (index, index) -> index
  %v1 = func.call @visible_end_causal(%c4, %c10) : (index, index) -> index
  %v2 = func.call @visible_end_causal(%c1, %c1) : (index, index) -> index
  %s1:2 = func.call @split_range(%c40, %c3, %c1) : (index, index, index) -> (index, index)
  %s2:2 = func.call @split_range(%c40, %c3, %c2) : (index, index, index) -> (index, index)
  %iv = vector.from_elements %v0, %v1, %v2, %s1#0, %s1#1, %s2#0, %s2#1 : vector<7xindex>
  vector.print %iv : vector<7xindex>

  // Window 20, len 100: query 0 (rows 0-1, position 97) sees from 78,
  // query 2 (rows 4-5) from 80; len 10: from 0. The splits of len 100 cut
  // [64, 100) (78 rounded down to 16): 1 of 2 is [64, 96), 2 of 2 [96, 100).
  // VAL: ( 78, 80, 0, 64, 96, 96, 100 )
  %c100 = arith.constant 100 : index
  %c2i = arith.constant 2 : index
  %w0 = func.call @visible_start_window(%c0, %c100) : (index, index) -> index
  %w1 = func.call @visible_start_window(%c4, %c100) : (index, index) -> index
  %w2 = func.call @visible_start_window(%c0, %c10) : (index, index) -> index
  %ws0:2 = func.call @split_range_window(%c100, %c2i, %c0) : (index, index, index) -> (index, index)
  %ws1:2 = func.call @split_range_window(%c100, %c2i, %c1) : (index, index, index) -> (index, index)
  %wv = vector.from_elements %w0, %w1, %w2, %ws0#0, %ws0#1, %ws1#0, %ws1#1 : vector<7xindex>
  vector.print %wv : vector<7xindex>
  return
}
