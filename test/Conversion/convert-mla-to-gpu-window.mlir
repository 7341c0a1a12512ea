// A sliding window on the GPU: the tensor-core kernels mask positions
// before a row's window start like those past its end, and a tile before the
// last query's start takes P V in turns, first query first, with the V rows
// outside the query's [start, end) zeroed. A window shorter than a tile plus
// q_len is refused there (a tile would straddle both ends; mla-opt then
// exits 1, hence `not` on the FileCheck run).
// RUN: mla-opt %s -split-input-file -verify-diagnostics --convert-mla-to-gpu="kernel-name=k" > /dev/null
// RUN: not mla-opt %s -split-input-file --convert-mla-to-gpu="kernel-name=k" 2>/dev/null | FileCheck %s

// 4 heads x q_len 2 on mma.sync (pages of 16), a window of 40.
// CHECK-LABEL: func.func @window
// CHECK: gpu.func @partial(
// The window's first position of each of the thread's rows.
// CHECK: arith.subi %{{.*}}, %c41
// CHECK: arith.maxsi
// The mask: before the end and at or after the start.
// CHECK: arith.cmpi sge
// CHECK-NEXT: arith.andi
// Turns: past the first query's end, or before the last query's start.
// CHECK: %[[BEFORE:.+]] = arith.cmpi slt, %arg{{[0-9]+}}, %{{.*}} : index
// CHECK-NEXT: %[[STRADDLES:.+]] = arith.ori %{{.*}}, %[[BEFORE]] : i1
// CHECK: %[[TURNS:.+]] = arith.select %[[STRADDLES]], %{{.*}}, %c1{{.*}} : index
// CHECK: scf.for %{{.*}} = %c0{{.*}} to %[[TURNS]]
// CHECK: arith.select %[[BEFORE]]
// CHECK: scf.if %[[STRADDLES]]
// CHECK: gpu.barrier
// CHECK: arith.cmpi ult
// CHECK: arith.cmpi uge
// CHECK: arith.ori
// CHECK: llvm.store %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
func.func @window(%q: tensor<?x2x4x96xbf16>, %cache: tensor<?x16x96xbf16>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x4x64xbf16> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.15 : f32, causal, variant = #mla.decode_variant<window = 40>} : tensor<?x2x4x96xbf16>, tensor<?x16x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x64xbf16>, tensor<?x4x2xf32>
  return %out : tensor<?x2x4x64xbf16>
}

// -----

func.func @short(%q: tensor<?x2x4x96xbf16>, %cache: tensor<?x16x96xbf16>,
                 %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x2x4x64xbf16> {
  // expected-error @+1 {{cannot generate a GPU decode kernel: window = 20 (the tensor-core kernels need at least 32-token tile + q_len = 34)}}
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.15 : f32, causal, variant = #mla.decode_variant<window = 20>} : tensor<?x2x4x96xbf16>, tensor<?x16x96xbf16>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x2x4x64xbf16>, tensor<?x4x2xf32>
  return %out : tensor<?x2x4x64xbf16>
}

// -----

// f32 (the SIMT kernel) takes any window: each token's contribution to a
// row is skipped where the row does not see it.
// CHECK-LABEL: func.func @simt
// CHECK: gpu.func @partial(
// CHECK: arith.cmpi sge
// CHECK: llvm.intr.fma
// CHECK: arith.select
func.func @simt(%q: tensor<?x1x4x96xf32>, %cache: tensor<?x16x96xf32>,
                %bt: tensor<?x?xi32>, %lens: tensor<?xi32>) -> tensor<?x1x4x64xf32> {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 0.15 : f32, causal, variant = #mla.decode_variant<window = 3>} : tensor<?x1x4x96xf32>, tensor<?x16x96xf32>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x64xf32>, tensor<?x4x1xf32>
  return %out : tensor<?x1x4x64xf32>
}
