// Bad input ends in a diagnostic and a nonzero exit, never a crash.

// A truncated file.
// RUN: head -c 900 %examples/deepseek-v3.mlir > %t.trunc.mlir
// RUN: not mla-opt %t.trunc.mlir 2>&1 | FileCheck %s --check-prefix=TRUNC
// TRUNC: error:
// TRUNC-NOT: Stack dump

// A wrong rank, a zero size and an unknown attribute, each in its own file.
// RUN: sed 's/tensor<7168x1536xbf16>/tensor<7168x1536x1xbf16>/g' %examples/deepseek-v3.mlir > %t.rank.mlir
// RUN: not mla-opt %t.rank.mlir 2>&1 | FileCheck %s --check-prefix=RANK
// RANK: error: 'mla.linear' op 'weight' must have rank 2, got rank 3
// RUN: sed 's/kv_lora_rank = 512/kv_lora_rank = 0/' %examples/deepseek-v3.mlir > %t.zero.mlir
// RUN: not mla-opt %t.zero.mlir 2>&1 | FileCheck %s --check-prefix=ZERO
// ZERO: error: layer_config: kv_lora_rank must be positive, got 0
// RUN: sed 's/rope_theta = /rope_base = /' %examples/deepseek-v3.mlir > %t.attr.mlir
// RUN: not mla-opt %t.attr.mlir 2>&1 | FileCheck %s --check-prefix=ATTR
// ATTR: error: duplicate or unknown struct parameter name: rope_base
// A negative size is not a tensor type.
// RUN: sed 's/tensor<7168x512xbf16>/tensor<7168x-512xbf16>/' %examples/deepseek-v3.mlir > %t.neg.mlir
// RUN: not mla-opt %t.neg.mlir 2>&1 | FileCheck %s --check-prefix=NEG
// NEG: error:
// Not MLIR at all.
// RUN: printf '\x00\xff garbage {{{' > %t.garbage.mlir
// RUN: not mla-opt %t.garbage.mlir 2>&1 | FileCheck %s --check-prefix=GARBAGE
// GARBAGE: error:
