//===- DecodeKernelGPU.h - GPU flash-decoding kernels -----------*- C++ -*-===//
//
// The GPU kernels of mla.decode_attention: a split-KV partial kernel, one
// CTA per (split, row group, sequence), and a combine kernel, one warp per
// (query row, sequence), in a gpu.module. The partial kernel comes in three
// kinds: SIMT (f32 storage, no tensor cores), MMA (bf16/f16 through
// mma.sync m16n8k16, sm_80 and later) and WGMMA (bf16/f16 through wgmma and
// TMA, sm_90a).
//
//===----------------------------------------------------------------------===//

#ifndef MLA_CONVERSION_MLATOGPU_DECODEKERNELGPU_H
#define MLA_CONVERSION_MLATOGPU_DECODEKERNELGPU_H

#include "mla/Conversion/DecodeParams.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"

namespace mlir::mla {

enum class GPUKernelKind { SIMT, MMA, WGMMA };

/// Parameters of a GPU decode kernel and its tiling.
struct GPUDecodeConfig : DecodeParams {
  static constexpr int64_t kWarpSize = 32;
  GPUKernelKind kind = GPUKernelKind::SIMT;
  int64_t warps = 4;        // warps per CTA of the partial kernel
  int64_t rowsPerGroup = 0; // query rows per CTA
  int64_t tileTokens = 16;  // cache rows per shared tile
  // MMA and WGMMA: 16-row m-tiles of the group, and the warps (MMA) or
  // warpgroups (WGMMA) sharing one m-tile, each owning d_c / colSplits
  // output columns and 1 / colSplits of the QK^T reduction.
  int64_t mTiles = 0, colSplits = 1;
  int64_t dynamicSharedBytes = 0; // MMA and WGMMA: dynamic shared memory
  // WGMMA: cache rows per TMA box (they divide the page and the tile).
  int64_t tmaBoxRows = 0;
  // WGMMA: cache stages in shared memory (P V of one tile, QK^T of the
  // next, the TMA of the one after).
  static constexpr int64_t kWGMMAStages = 3;
  /// WGMMA: the tensor maps are `__grid_constant__` parameters passed by
  /// value (a host runtime's launch: mla-codegen's), not pointers to maps
  /// in device memory (nvgpu.tma.create.descriptor's).
  bool tensorMapsByValue = false;
  /// CTAs of the partial kernel an SM is designed to hold: the launch
  /// bounds (nvvm.minctasm) that ptxas keeps the registers within.
  int64_t ctasPerSM = 1;
  /// fp8 rows: the target converts e4m3 pairs in hardware (sm_90a:
  /// cvt.rn.f16x2.e4m3x2), else the kernels decode by integer ops. (sm_89
  /// has the instruction from PTX 8.1; LLVM does not select it for the
  /// PTX 8.0 the pipeline targets.)
  bool hardwareE4M3 = false;

  /// Groups of a sequence: each KV head's rows in groups of rowsPerGroup.
  int64_t numGroups() const {
    return keySets() * ((kvHeadRows() + rowsPerGroup - 1) / rowsPerGroup);
  }
  int64_t threads() const { return warps * kWarpSize; }
  /// Elements of one query row in shared memory: the row padded by 16 bytes
  /// so that ldmatrix's eight rows fall in distinct banks.
  int64_t paddedWidth() const {
    return rowWidth() + 16 / (elemType.getIntOrFloatBitWidth() / 8);
  }
  /// A token's row of a cache tile in shared memory: its key row, then
  /// (head caches) its value row, at valueColumn(); padded the same way.
  int64_t tileWidth() const {
    return headCaches ? 2 * rowWidth() : rowWidth();
  }
  int64_t valueColumn() const { return headCaches ? rowWidth() : 0; }
  int64_t paddedTileWidth() const {
    return tileWidth() + 16 / (elemType.getIntOrFloatBitWidth() / 8);
  }

  /// Validates the parameters and chooses the kernel kind and its tiling
  /// for `arch` (sm_80 or sm_90a); a parameter that cannot be generated is
  /// reported through `emitError`, naming it. WGMMA needs TMA descriptors
  /// that the caller's host code encodes: `allowTMA` = false keeps sm_90a
  /// on mma.sync.
  static FailureOr<GPUDecodeConfig>
  get(const DecodeParams &params, StringRef arch,
      function_ref<InFlightDiagnostic()> emitError, bool allowTMA = true);
};

/// Adds `gpu.module @<name>_kernels` to `module`, holding
///   gpu.func @partial(q, kv, [v (head caches),] block_table, seq_lens,
///                     part_out, part_ml, num_splits, max_blocks_per_seq,
///                     scale
///                     [, q_map, kv_map (WGMMA)]) kernel
///     grid (num_splits, groups, batch), block (threads()),
///     dynamicSharedBytes of dynamic shared memory
///   gpu.func @combine(part_out, part_ml, out, lse, num_splits) kernel
///     grid (rows, batch), block (32)
/// with the layouts of the CPU kernels (flat memrefs; partials
/// [b, group, split, row, dc] and [b, group, split, row, 2]). The WGMMA
/// kernel's q_map and kv_map (!llvm.ptr) point at CUtensorMaps in device
/// memory (64-byte aligned), or, with tensorMapsByValue, are the maps
/// themselves (`mla.tensor_map_params = 2`, made 128-byte grid-constant
/// parameters by mla-nvvm-tensor-map-params), bf16/f16, 2D, 128-byte
/// swizzle: the queries
/// (dims {d_c + d_r, batch * rows}, box {64, 64}) and the cache (dims
/// {d_c + d_r, cache rows}, box {64, tmaBoxRows}).
void buildGPUDecodeKernels(ModuleOp module, const GPUDecodeConfig &config,
                           StringRef name);

} // namespace mlir::mla

#endif // MLA_CONVERSION_MLATOGPU_DECODEKERNELGPU_H
