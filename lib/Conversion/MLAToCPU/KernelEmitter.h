//===- KernelEmitter.h - the CPU decode kernels' emitter --------*- C++ -*-===//
//
// Private to MLAToCPU: the emitter of the CPU partial and combine kernels,
// shared by the vector kernels (DecodeKernel.cpp) and the AMX tile kernel
// (DecodeKernelAMX.cpp), which reuses its row state, softmax and stores.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_LIB_CONVERSION_MLATOCPU_KERNELEMITTER_H
#define MLA_LIB_CONVERSION_MLATOCPU_KERNELEMITTER_H

#include "mla/Conversion/FlashDecode/FlashDecode.h"
#include "mla/Conversion/MLAToCPU/DecodeKernel.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::mla::cpu_kernels {

// Horizontal sums in any order: a tree of shuffles instead of a chain of
// lane-by-lane adds.
constexpr auto kReassoc = arith::FastMathFlags::reassoc;

/// The CPU's elementwise math: the upstream ops (math.exp/log become
/// polynomials, so they vectorize), with the softmax's multiply-add kept as
/// two ops, as the kernels were measured with.
class CPUTileMath : public flash::UpstreamTileMath {
public:
  using UpstreamTileMath::UpstreamTileMath;
  Value mulAdd(Value x, Value y, Value z) override {
    return arith::AddFOp::create(b, arith::MulFOp::create(b, x, y), z);
  }
};

/// The CPU tile math around the skeleton: vector loads of the cache rows,
/// register-blocked QK^T and PV, the softmax on vectors of rows.
class KernelEmitter : public flash::KernelBuilder {
public:
  KernelEmitter(ImplicitLocOpBuilder &b, const CPUDecodeConfig &c)
      : KernelBuilder(b), c(c), math(b), f32(b.getF32Type()),
        idxTy(b.getIndexType()),
        vecTy(VectorType::get({c.vectorWidth}, f32)),
        elemVecTy(VectorType::get({c.vectorWidth}, c.elemType)),
        layout(flash::PartialLayout::of(c, c.rowsPerGroup)) {}

  void emitPartial(StringRef name, bool prefetch);
  /// `<name>_partial_amx`: the partial kernel on AMX tiles
  /// (DecodeKernelAMX.cpp), for configurations with `c.amx`.
  void emitPartialAMX(StringRef name);
  void emitCombine(StringRef name);

private:
  /// What the pieces of one partial kernel share: its arguments, the
  /// split's range, and the per-row state on the stack. Row state is padded
  /// to whole vectors of `rowVector` rows (`paddedRows`) so that the softmax
  /// works on vectors of rows; padded rows see no token.
  struct PartialKernel {
    bool prefetch = false;
    /// P V in dot products on pairs made in registers prefetches the second
    /// half of the next tile's rows, the scores the first.
    bool pvPrefetch = false;
    /// The AMX kernel: its tile of tokens, rows padded to whole 16-row
    /// tiles, P V on tiles outside the masked tiles.
    bool amx = false;
    int64_t tileTokens = 0;
    /// Elements from one row's accumulators to the next: d_c, padded by a
    /// line on the AMX kernel, whose tiles span 16 rows (at 2 KiB apart
    /// they would share two L1 sets).
    int64_t accStride = 0;
    Value q, kv, bt, lens, partOut, partML, bIdx, group, split, numSplits,
        maxBlocks, scale;
    // The cache argument: `kv` itself, except with fp8 rows, whose tiles
    // `kv` holds dequantized.
    Value cache;
    // The value cache (head caches; else the rows of `kv`) and the KV head
    // of the group.
    Value values, kvHead;
    flash::SplitRange range;
    Value zero, one, negInf, zeroF, zeroVec, btBase;
    int64_t rowVector = 0, paddedRows = 0;
    // Query offsets and visible ends (fixed), running max, sum and rescale
    // of each row, f32 output accumulators, the tile's scores (token-major),
    // its cache row offsets and the next tile's (to prefetch).
    // `start` (a window only): the rows' first visible positions.
    Value qOff, limit, start, rowM, rowL, alphaBuf, acc, scores, kvOff,
        nextOff;
    // AMX: Q^T packed as B tiles, the tile's keys where its rows are not
    // evenly spaced, V pair-interleaved as B tiles, P as A tiles.
    Value qTiles, keyStage, vTiles, pTiles;
    // qkLanes: Q^T of the group, [row width units][paddedRows] i32 (a bf16
    // pair or an f32 each), zero in padded rows.
    Value qLanes;
    // Token indices: whether each slot of the tile holds a token (i32).
    Value slotValid;
    // pvDot: P as bf16 pairs of tokens per row (i32 each, token-pair-major)
    // and the tile's value rows pair-interleaved (bf16).
    Value pPairs, vPairs;
  };
  /// The partial kernel's function `fnName`, its arguments and split range,
  /// walked in tiles of `tileTokens`.
  PartialKernel declarePartial(StringRef fnName, int64_t tileTokens);
  /// Allocates the per-row state and sets each row's query offset, visible
  /// end, running max (-inf), sum and accumulators (0).
  void initRowState(PartialKernel &kern);
  /// The cache row offsets of the tile starting at token `t` (and of the
  /// next tile's when prefetching). Token indices: also which slots hold a
  /// token, and the returned i1 says whether any does (else null).
  Value storeTileOffsets(PartialKernel &kern, Value t);
  /// S = Q K^T of the tile, register-blocked, stored token-major.
  void emitScores(PartialKernel &kern);
  /// qkLanes: Q^T packed into kern.qLanes (once a work item).
  void packQueriesByLanes(PartialKernel &kern);
  /// qkLanes: S^T = K Q^T of the tile with rows in lanes.
  void emitScoresByLanes(PartialKernel &kern);
  /// Transposes `rows`, n vectors of n 32-bit lanes (n a power of two), in
  /// log2(n) levels of two-source shuffles.
  void transposeLanes(SmallVectorImpl<Value> &rows);
  /// fp8 caches: the tile's rows (at the byte offsets in kvOff) dequantized
  /// into the stage `kv`, each offset becoming its row's there.
  void stageFP8Rows(PartialKernel &kern);
  /// Which tokens a vector of rows sees: their visible ends (clamped to
  /// the split's end) and, with a window, their first visible positions.
  struct RowMask {
    Value limit, first;
  };
  RowMask rowMask(PartialKernel &kern, Value rows, int64_t RV, Value t1I32);
  /// The scaled scores of token `j` of the tile at `tI32` for a vector of
  /// rows (`raw`, their dot products), -inf where a row must not see it.
  Value maskedScores(PartialKernel &kern, flash::OnlineSoftmax &softmax,
                     const RowMask &mask, Value tI32, Value j, Value raw,
                     Value scale);
  /// The online-softmax step of the tile on vectors of rows: S becomes P.
  void emitSoftmax(PartialKernel &kern, Value t);
  /// The AMX kernel's softmax: in loops over the tile's tokens (a pass for
  /// the max, one for the probabilities), P rounded to bf16 straight into
  /// the A tiles of P V.
  void emitSoftmaxAMX(PartialKernel &kern, Value t);
  /// acc = alpha acc + P V, register-blocked, for the tile at token `t`.
  void emitPV(PartialKernel &kern, Value t);
  /// The loops of emitPV; `masked`: a product only where its probability is
  /// not zero.
  void emitPVLoops(PartialKernel &kern, bool masked);
  /// emitPV's unmasked tiles with pvDot: acc = alpha acc + P V in bf16 dot
  /// products on the pairs the softmax rounded.
  void emitPVDot(PartialKernel &kern);
  /// The work item's unnormalized outputs and (max, sum) pairs.
  void storePartials(PartialKernel &kern);
  /// The walk over the split's tiles (offsets, scores, softmax, P V, on
  /// vectors or AMX tiles), then the partials and the return.
  void emitTilesAndPartials(PartialKernel &kern);

  // The AMX kernel's pieces (DecodeKernelAMX.cpp).
  /// Q^T of the group as B tiles (VNNI pairs), zero in padded rows.
  void packQueriesAMX(PartialKernel &kern);
  /// S^T = K Q^T on tiles, stored token-major into the scores.
  void emitScoresAMX(PartialKernel &kern);
  /// acc = alpha acc + P V on tiles.
  void emitPVAMX(PartialKernel &kern);
  /// The tile's value rows pair-interleaved into the B tiles of P V, once
  /// for all rows, and the next tile's rows prefetched into L2.
  void interleaveValuesAMX(PartialKernel &kern);

  /// Loads one f32 vector from element storage, extending bf16/f16.
  Value loadVec(Value mem, Value i) {
    if (c.elemType.isF32())
      return vector::LoadOp::create(b, vecTy, mem, ValueRange{i});
    Value v = vector::LoadOp::create(b, elemVecTy, mem, ValueRange{i});
    return arith::ExtFOp::create(b, vecTy, v);
  }
  Value loadF32Vec(Value mem, Value i) {
    return vector::LoadOp::create(b, vecTy, mem, ValueRange{i});
  }
  /// fp8 rows: the VL values of columns [col, col + VL) (col < d_c) of the
  /// row starting at byte `row`, times their group's scale.
  Value loadFP8Latent(Value kv, Value row, Value col);
  /// fp8 rows: the VL bf16 rope values of columns [col, col + VL)
  /// (col >= d_c) as f32.
  Value loadFP8Rope(Value kv, Value row, Value col);

  /// A stack buffer of `n` elements, aligned to a cache line: tile and
  /// vector rows must not straddle two lines (a tile load of 16 rows would
  /// touch 32).
  Value stackBuffer(int64_t n, Type elemType) {
    return memref::AllocaOp::create(b, MemRefType::get({n}, elemType),
                                    b.getI64IntegerAttr(64));
  }

  func::FuncOp makeFunc(StringRef name, TypeRange args);
  Value transposeReduce(ValueRange accs);

  const CPUDecodeConfig &c;
  CPUTileMath math;
  Type f32, idxTy;
  VectorType vecTy, elemVecTy;
  flash::PartialLayout layout;
};

} // namespace mlir::mla::cpu_kernels

#endif // MLA_LIB_CONVERSION_MLATOCPU_KERNELEMITTER_H
