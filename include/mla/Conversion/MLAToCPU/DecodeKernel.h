//===- DecodeKernel.h - CPU flash-decoding kernels --------------*- C++ -*-===//
//
// Builds the CPU kernels of mla.decode_attention: a split-KV partial kernel
// (one work item = one sequence, one group of query rows, one split of the
// tokens) and a combine kernel, on flat memrefs with scf/vector/math ops.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_CONVERSION_MLATOCPU_DECODEKERNEL_H
#define MLA_CONVERSION_MLATOCPU_DECODEKERNEL_H

#include "mla/Conversion/DecodeParams.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/Support/LLVM.h"

namespace mlir::mla {

/// A decode-attention kernel's fixed parameters and the tiling chosen for
/// them. Rows are the H * q_len query rows of one sequence, row r = i * H + h.
struct CPUDecodeConfig : DecodeParams {
  int64_t vectorWidth = 8; // f32 lanes of one vector register
  bool bf16Dot = false;     // QK^T of bf16 with AVX512-BF16 dot products
  /// P V of bf16 through AVX512-BF16 dot products too: P rounded to bf16
  /// pairs of tokens, the value rows pair-interleaved (in registers with one
  /// block of rows, else once a tile into a copy all blocks read). Set by
  /// choosePVDot.
  bool pvDot = false;
  /// Also a partial kernel on AMX tiles (`<name>_partial_amx`), which the
  /// runtime calls on hosts that have AMX-BF16 and grant its state.
  bool amx = false;
  /// The AMX kernel's tile of tokens: 8 A tiles of keys in QK^T, 4 k steps
  /// of P V per load and store of the accumulators (which bound it).
  static constexpr int64_t kAMXTileTokens = 128;
  /// Fewer rows per KV head than this stay on the vector kernels: AMX pads
  /// them to 16-row tiles.
  static constexpr int64_t kAMXMinRows = 8;
  /// The AMX kernel's stack (f32 accumulators, packed Q^T, P, the tile's
  /// keys, values and scores) for `paddedRows` rows.
  int64_t amxStackBytes(int64_t paddedRows) const {
    const int64_t tb = kAMXTileTokens;
    // fp8 rows: the tile's dequantized rows too.
    return paddedRows * (4 * (dc + 16) + 2 * rowWidth() + 2 * tb + 4 * tb) +
           tb * 2 * (rowWidth() + dc + 16) +
           (fp8Cache() ? tb * 2 * rowWidth() : 0);
  }
  /// The vector kernels' stack for the chosen tiling: row state, the f32
  /// accumulators, the tile's scores and offsets and, with fp8 rows, the
  /// tile dequantized to the query's type (rows padded to 16 as an upper
  /// bound of the softmax's vectors).
  int64_t vectorStackBytes() const {
    const int64_t padded = (rowsPerGroup + 15) / 16 * 16, tb = tileTokens;
    const int64_t elemBytes =
        elemType ? std::max<int64_t>(elemType.getIntOrFloatBitWidth() / 8, 1)
                 : 4;
    return padded * (4 * 6 + 8) + rowsPerGroup * 4 * dc + tb * padded * 4 +
           tb * (3 * 8 + 4) + (fp8Cache() ? tb * rowWidth() * elemBytes : 0) +
           (pvDot ? tb / 2 * padded * 4 : 0) +
           (pvDotStaged() ? tb / 2 * pvDotValueStride() * 2 : 0) +
           (qkLanes ? rowWidth() / (bf16Dot ? 2 : 1) * padded * 4 : 0);
  }
  /// Sets qkLanes and its blocks from the target and the tiling.
  void chooseQKLanes();
  /// pvDot with several blocks of rows (or an odd number of vectors a
  /// block): the tile's value rows are interleaved once into a copy.
  bool pvDotStaged() const {
    return pvDot && (rowsPerGroup > pvRows || pvVectors % 2 != 0);
  }
  /// pvDot: elements from one pair of value rows to the next in the tile's
  /// interleaved copy, padded by a line (2 KiB strides share L1 sets).
  int64_t pvDotValueStride() const { return 2 * dc + 32; }
  /// Sets pvDot from the target and the tiling.
  void choosePVDot() {
    pvDot = bf16Dot && dc % (2 * vectorWidth) == 0 && tileTokens % 2 == 0;
  }
  /// What a partial kernel may keep on its thread's stack.
  static constexpr int64_t kStackBytes = 1 << 20;
  /// The vector kernels' groups: f32 accumulators up to this size.
  static constexpr int64_t kGroupAccumulatorBytes = 256 << 10;

  // Tiling, derived by `get`.
  int64_t rowsPerGroup = 0;   // query rows sharing one pass over the cache
  int64_t scoreRows = 0;      // register block of QK^T: rows x tokens
  int64_t scoreTokens = 0;
  int64_t pvRows = 0;         // register block of PV: rows x vectors
  int64_t pvVectors = 0;
  /// QK^T with the group's rows in vector lanes (16 rows or more, f32 or
  /// bf16 through vdpbf16ps, AVX-512): Q^T packed once a work item, each key
  /// element (pair) broadcast, laneRowVectors x laneTokens accumulators that
  /// are the token-major scores themselves (no reduction across lanes).
  bool qkLanes = false;
  int64_t laneRowVectors = 0, laneTokens = 0;
  int64_t tileTokens = 16;    // tokens per online-softmax step
  /// When the entry calls `<name>_partial_prefetch` (see below).
  enum class Prefetch { Never, OutOfCache, Always };
  Prefetch prefetch = Prefetch::Never;

  /// Groups of a sequence: each KV head's rows in groups of rowsPerGroup.
  int64_t numGroups() const {
    return keySets() * ((kvHeadRows() + rowsPerGroup - 1) / rowsPerGroup);
  }

  /// Validates the parameters and chooses the tiling; a parameter that
  /// cannot be generated is reported through `emitError`, naming it.
  /// `bf16Dot`: the target has AVX512-BF16 (used for bf16 storage when the
  /// row width allows); `amx`: it has AMX-BF16 (used for bf16 storage with
  /// enough rows, d_c and the row width multiples of 32).
  static FailureOr<CPUDecodeConfig>
  get(const DecodeParams &params, int64_t vectorWidth, bool bf16Dot,
      function_ref<InFlightDiagnostic()> emitError, bool amx = false);

  /// Refuses, naming the sizes, a tiling whose vector kernels need more
  /// than kStackBytes of stack.
  LogicalResult checkStack(function_ref<InFlightDiagnostic()> emitError) const;

  /// Tuning overrides of the derived tiling: `tileTokens` (0 keeps it) and
  /// `blocks` (empty keeps them, else rows-per-group, score-rows,
  /// score-tokens, pv-rows, pv-vectors). Refused, naming the value and the
  /// rule, unless every block divides what it blocks.
  LogicalResult overrideTiling(int64_t tileTokens, ArrayRef<int64_t> blocks,
                               function_ref<InFlightDiagnostic()> emitError);
};

/// Adds `<name>_partial` and `<name>_combine` to `module` (both with
/// llvm.emit_c_interface):
///
///   partial(q, kv, block_table, seq_lens, part_out, part_ml,
///           b, group, split, num_splits, max_blocks_per_seq, scale)
///     part_out [B, groups, splits, rowsPerGroup, dc] f32 (unnormalized)
///     part_ml  [B, groups, splits, rowsPerGroup, 2]  f32 (max, sum of exp)
///   combine(part_out, part_ml, out, lse, b, num_splits)
///
/// All memrefs are flat (memref<?xT>), row-major as in the kernel contract.
/// Unless `config.prefetch` is Never, also `<name>_partial_prefetch`: the
/// same partial kernel that prefetches the next tile's cache rows into L2
/// while it computes; OutOfCache: for calls whose cache does not stay in the
/// last-level cache, Always: for every call.
void buildCPUDecodeKernels(ModuleOp module, const CPUDecodeConfig &config,
                           StringRef name);

} // namespace mlir::mla

#endif // MLA_CONVERSION_MLATOCPU_DECODEKERNEL_H
