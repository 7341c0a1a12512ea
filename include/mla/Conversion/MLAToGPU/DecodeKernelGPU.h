//===- DecodeKernelGPU.h - GPU flash-decoding kernels -----------*- C++ -*-===//
//
// The f32 (no tensor core) GPU kernels of mla.decode_attention: a split-KV
// partial kernel, one CTA per (split, row group, sequence), and a combine
// kernel, one warp per (query row, sequence), in a gpu.module.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_CONVERSION_MLATOGPU_DECODEKERNELGPU_H
#define MLA_CONVERSION_MLATOGPU_DECODEKERNELGPU_H

#include "mla/Conversion/DecodeParams.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"

namespace mlir::mla {

/// Parameters of a GPU decode kernel and its tiling.
struct GPUDecodeConfig : DecodeParams {
  static constexpr int64_t kWarpSize = 32;
  static constexpr int64_t kWarps = 4;       // warps per CTA
  int64_t rowsPerGroup = 0;                  // query rows per CTA
  int64_t tileTokens = 16;                   // cache rows per shared tile

  int64_t numGroups() const {
    return (rows() + rowsPerGroup - 1) / rowsPerGroup;
  }
  int64_t threads() const { return kWarps * kWarpSize; }
  /// Shared memory of the partial kernel, in bytes.
  int64_t sharedBytes() const { return tileTokens * rowWidth() * 4; }

  /// Validates the parameters and chooses the tiling; a parameter that
  /// cannot be generated is reported through `emitError`, naming it.
  static FailureOr<GPUDecodeConfig>
  get(const DecodeParams &params,
      function_ref<InFlightDiagnostic()> emitError);
};

/// Adds `gpu.module @<name>_kernels` to `module`, holding
///   gpu.func @partial(q, kv, block_table, seq_lens, part_out, part_ml,
///                     num_splits, max_blocks_per_seq, scale) kernel
///     grid (num_splits, groups, batch), block (128)
///   gpu.func @combine(part_out, part_ml, out, lse, num_splits) kernel
///     grid (rows, batch), block (32)
/// with the layouts of the CPU kernels (flat memrefs; partials
/// [b, group, split, row, dc] and [b, group, split, row, 2]).
void buildGPUDecodeKernels(ModuleOp module, const GPUDecodeConfig &config,
                           StringRef name);

} // namespace mlir::mla

#endif // MLA_CONVERSION_MLATOGPU_DECODEKERNELGPU_H
