// mla.index_score, mla.topk and mla.layer_norm run through
// mla-lower-to-cpu and mlir-runner on random inputs over a grid of shapes
// (heads 1-64, q_len 1-4, rope parts, lengths with an empty sequence, the
// causal mask, f32 and bf16; top-k with ties, -inf, NaN, -0 beside +0 and
// k past the finite scores, where its threshold falls among equal scores), each value compared with a float64 numpy evaluation of the
// ops' definitions; the script states the tolerances.
// RUN: %python %S/Inputs/indexer_check.py mla-opt mlir-runner %mlir_c_runner_utils | FileCheck %s
// CHECK: index_score + topk #5
// CHECK: topk ties/-inf/NaN k=9
// CHECK: topk ties #4: {{.*}} exact
// CHECK: layer_norm #2
// CHECK: all indexer checks passed
