//===- DecodeKernelGPU.cpp - GPU flash-decoding kernels (f32) ---*- C++ -*-===//
//
// The f32 variant, without tensor cores. A CTA of 4 warps owns one split of
// one sequence's tokens for a group of query rows; each warp owns rows
// w, w + 4, ... of the group, with its lanes over d. Per tile of 16 cache
// rows, loaded once into shared memory (widened to f32) by the whole CTA:
//   score  = warp-reduced dot product of the query row with the tile row,
//   online softmax (running max m, sum l, rescale alpha) per query row,
//   o     += p * row[0:d_c], lanes over d_c (d_c / 32 accumulators a lane).
// Tokens past the split clamp to its last row and get probability 0. The
// combine kernel merges the splits as the CPU one does.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>
#include <numeric>

using namespace mlir;
using namespace mlir::mla;
using mlir::mla::detail::GPUKernelEmitter;

FailureOr<GPUDecodeConfig>
GPUDecodeConfig::get(const DecodeParams &params, StringRef arch,
                     function_ref<InFlightDiagnostic()> emitError,
                     bool allowTMA) {
  GPUDecodeConfig c;
  static_cast<DecodeParams &>(c) = params;
  c.hardwareE4M3 = arch == "sm_90a";
  if (arch != "sm_80" && arch != "sm_86" && arch != "sm_89" &&
      arch != "sm_90a") {
    emitError() << "cannot generate a GPU decode kernel for '" << arch
                << "' (expected sm_80, sm_86, sm_89 or sm_90a)";
    return failure();
  }
  if (!c.elemType || c.elemType.isF32()) {
    if (failed(c.verify("GPU", kWarpSize, "32 lanes of a warp", emitError,
                        /*indices=*/true, /*fp8=*/true)))
      return failure();
    // Up to 4 rows a warp: the accumulators (4 x d_c / 32 a lane) stay in
    // registers.
    c.kind = GPUKernelKind::SIMT;
    c.warps = 4;
    c.rowsPerGroup = std::min<int64_t>(c.kvHeadRows(), 4 * c.warps);
    c.tileTokens = 16;
    if (c.tileTokens * c.tileWidth() * 4 > 48 * 1024) {
      emitError() << "cannot generate a GPU decode kernel: "
                  << (c.headCaches ? "head_dim = "
                                   : "kv_lora_rank + qk_rope_head_dim = ")
                  << c.rowWidth()
                  << " (a 16-row f32 tile must fit 48 KB of shared memory)";
      return failure();
    }
    return c;
  }

  // Tensor cores: k-steps of 16 over d (QK^T) and output columns in pairs
  // of 8-column n-tiles (PV).
  if (failed(c.verify("GPU", 16, "16-element k-step of the tensor-core MMA",
                      emitError, /*indices=*/true, /*fp8=*/true)))
    return failure();
  const int64_t eb = c.elemType.getIntOrFloatBitWidth() / 8;
  // The tensor-core kernels' tiles straddle either the first query's visible
  // end or the last query's visible start, never both (visiblePV).
  auto tensorCoreWindow = [&]() -> FailureOr<GPUDecodeConfig> {
    if (c.window && *c.window < c.tileTokens + c.qLen) {
      emitError() << "cannot generate a GPU decode kernel: window = "
                  << *c.window << " (the tensor-core kernels need at least "
                  << c.tileTokens << "-token tile + q_len = "
                  << c.tileTokens + c.qLen << ")";
      return failure();
    }
    return c;
  };
  // Head caches take mma.sync on sm_90a too: a tile holds each token's key
  // and value rows, which one TMA box of the latent row does not. So do
  // token indices (rows gathered one by one, not boxes of a page) and fp8
  // caches (dequantized on their way to shared memory, which TMA cannot).
  if (arch == "sm_90a" && allowTMA && !c.headCaches && !c.sparse() &&
      !c.fp8Cache()) {
    // One 64-row m-tile per warpgroup (wgmma's M), the warpgroups splitting
    // d_c in 64-column swizzle atoms of at most 256 (wgmma's largest N);
    // 32-token tiles whose TMA boxes cover whole 8-row swizzle groups of
    // one page.
    const int64_t tokens = 32, boxes = (c.rowWidth() + 63) / 64;
    int64_t colSplits = (c.dc + 255) / 256;
    int64_t boxRows = std::gcd(c.blockSize, tokens);
    // (The alignment slack, the queries, the stages, two slots of score
    // shares, the stages' mbarriers.)
    const int64_t stages = GPUDecodeConfig::kWGMMAStages;
    int64_t bytes =
        1024 + boxes * 64 * 128 + stages * boxes * tokens * 128 +
        (colSplits > 1 ? 2 * colSplits * 128 * (tokens / 2) * 4 : 0) +
        8 * stages;
    if (c.dc % (64 * colSplits) == 0 && boxRows % 8 == 0 &&
        (c.rowWidth() / 16) % colSplits == 0 && bytes <= 227 * 1024) {
      c.kind = GPUKernelKind::WGMMA;
      c.mTiles = 4;
      c.colSplits = colSplits;
      c.warps = 4 * colSplits;
      c.rowsPerGroup = 64;
      c.tileTokens = tokens;
      c.tmaBoxRows = boxRows;
      c.dynamicSharedBytes = bytes;
      return tensorCoreWindow();
    }
    // Otherwise (pages of fewer than 8 rows, ...) mma.sync serves sm_90a.
  }
  c.kind = GPUKernelKind::MMA;
  // Shared memory: the group's queries, a double-buffered cache tile, and
  // the partial scores the column-split warps exchange.
  auto shared = [&](int64_t mTiles, int64_t colSplits, int64_t tokens) {
    int64_t warps = mTiles * colSplits;
    return 16 * mTiles * c.paddedWidth() * eb +
           2 * tokens * c.paddedTileWidth() * eb +
           (colSplits > 1 ? warps * tokens * 16 * 4 : 0);
  };
  // sm_80's largest dynamic shared memory per CTA is 163 KB; 113 KB lets two
  // CTAs share an H100 SM. sm_86 and sm_89 (GeForce/workstation Ampere, Ada)
  // give a CTA at most 99 KB of their 100 KB an SM, so two CTAs fit in 49 KB
  // each (a CTA keeps 1 KB for itself).
  const bool smallShared = arch == "sm_86" || arch == "sm_89";
  const int64_t kMaxShared = (smallShared ? 99 : 160) * 1024,
                kTwoPerSM = (smallShared ? 49 : 113) * 1024;
  for (int64_t mTiles = std::min<int64_t>(4, (c.kvHeadRows() + 15) / 16);
       mTiles >= 1; --mTiles) {
    // Eight warps where the m-tiles allow, each with at most 256 output
    // columns (128 accumulators a thread); d_c / colSplits a multiple of 16.
    int64_t colSplits = mTiles == 3 ? 2 : 8 / mTiles;
    colSplits = std::max<int64_t>(colSplits, (c.dc + 255) / 256);
    while (colSplits > 1 && c.dc % (16 * colSplits) != 0)
      --colSplits;
    if (c.dc / colSplits > 256 || mTiles * colSplits > 32)
      continue;
    for (int64_t tokens : {32, 16}) {
      int64_t bytes = shared(mTiles, colSplits, tokens);
      if (bytes > (tokens == 32 ? kTwoPerSM : kMaxShared))
        continue;
      c.mTiles = mTiles;
      c.colSplits = colSplits;
      c.warps = mTiles * colSplits;
      c.rowsPerGroup = 16 * mTiles;
      c.tileTokens = tokens;
      c.dynamicSharedBytes = bytes;
      // 32-token tiles share an SM two by two where the registers allow:
      // warps of 128 output columns (d_c 256 with 2 column splits) need
      // 130-158 registers (ptxas, sm_80), above the 128 of two CTAs of 8
      // warps (held to it, they spilled 44-92 bytes), so those take an SM
      // alone.
      if (tokens == 32 && c.dc / colSplits <= 64)
        c.ctasPerSM = 2;
      return tensorCoreWindow();
    }
  }
  emitError() << "cannot generate a GPU decode kernel: kv_lora_rank = " << c.dc
              << ", qk_rope_head_dim = " << c.dr
              << " (16 query rows and a double-buffered 16-token tile must "
                 "fit "
              << kMaxShared / 1024 << " KB of shared memory on " << arch
              << ", and d_c / 256 warps a CTA)";
  return failure();
}

namespace {

/// The shapes of the SIMT kernel (f32 elements).
struct SIMTTileShape {
  explicit SIMTTileShape(const GPUDecodeConfig &c)
      : rowWidth(c.rowWidth()), tileWidth(c.tileWidth()),
        valueColumn(c.valueColumn()), rows(c.rows()),
        groupRows(c.rowsPerGroup), tileTokens(c.tileTokens), warps(c.warps),
        warpSize(c.kWarpSize),
        rowsPerWarp((groupRows + warps - 1) / warps),
        rowElemsPerLane(rowWidth / warpSize), outPerLane(c.dc / warpSize),
        rowState(2 + outPerLane) {}

  /// A query or cache row (d_c + d_r); a token's row of the tile (its key
  /// row, then with head caches its value row at valueColumn); the query
  /// rows of a sequence and of a CTA.
  int64_t rowWidth, tileWidth, valueColumn, rows, groupRows;
  /// Cache rows (tokens) of a tile.
  int64_t tileTokens;
  /// The warps of a CTA, their lanes, and the query rows of each warp.
  int64_t warps, warpSize, rowsPerWarp;
  /// A lane's elements of a row (lane + 32 i), and of the d_c outputs.
  int64_t rowElemsPerLane, outPerLane;
  /// The loop state of one query row: m, l, then the lane's outputs.
  int64_t rowState;
};

class SIMTPartialEmitter : public GPUKernelEmitter,
                           private mla::detail::PartialKernelArgs {
public:
  SIMTPartialEmitter(ImplicitLocOpBuilder &b, const GPUDecodeConfig &c)
      : GPUKernelEmitter(b, c), shape(c),
        softmax(*this, math, flash::OnlineSoftmax::Base::E) {}
  void emit();

private:
  /// The kernel, its arguments and its workgroup tile.
  void declareKernel();
  /// The CTA's work item and split, and this thread's warp and lane.
  void locateThread();
  /// This warp's query rows: whether each exists and how many of the
  /// split's tokens it sees; returns where each (clamped) row starts in q.
  SmallVector<Value> warpRows();
  /// This lane's query values of each row, kept in registers.
  void loadQueries(ArrayRef<Value> queryAt);
  /// The CTA loads the tile of tokens [ts, ts + tileTokens), widened to f32.
  void loadTile(Value ts);
  /// Element `d` of the cache row at `rowStart` (elements, or bytes for fp8,
  /// dequantized; one scale a cache: unscaled), as f32.
  Value loadRowElement(Value rowStart, Value d);
  /// One iteration of the tile loop, and of its token loop: `state` is the
  /// loop state (see emit).
  SmallVector<Value> tileStep(Value ts, ValueRange state);
  SmallVector<Value> tokenStep(Value tok, Value rowAt, ValueRange state);
  /// This lane's share of the dot product of query row k and the tile row
  /// starting at `rowAt`.
  Value laneDot(int64_t k, Value rowAt);
  /// The partials of the final loop state.
  void storeOutputs(ValueRange state);

  const SIMTTileShape shape;
  flash::OnlineSoftmax softmax;
  Value tile;
  Value split, group, seq, tid, warp, lane;
  Value zero, one, negInf, zeroF;
  SplitRange range;
  /// Where the sequence's row of the block table starts; token indices:
  /// where the group's query token's index row starts.
  Value btBase;
  /// Per row of this warp: the end (exclusive) of the tokens it sees, the
  /// first it sees (a window only), whether it exists, and the lane's query
  /// values.
  SmallVector<Value> limit, start, rowValid;
  SmallVector<SmallVector<Value>> queries;
};

void SIMTPartialEmitter::emit() {
  OpBuilder::InsertionGuard guard(b);
  declareKernel();
  locateThread();
  loadQueries(warpRows());

  // Loop state: per row m, l, then d_c / 32 accumulators.
  SmallVector<Value> inits;
  for (int64_t k = 0; k < shape.rowsPerWarp; ++k) {
    inits.push_back(negInf);
    inits.push_back(zeroF);
    for (int64_t i = 0; i < shape.outPerLane; ++i)
      inits.push_back(zeroF);
  }
  btBase = c.sparse() ? flash::indexRowStart(*this, c, seq,
                                             layout.kvHead(*this, group))
                      : mul(seq, maxBlocks);
  auto tiles = forLoop(range.t0, range.t1, idx(shape.tileTokens), inits,
                       [&](Value ts, ValueRange state) {
                         return tileStep(ts, state);
                       });
  storeOutputs(tiles.getResults());
  gpu::ReturnOp::create(b);
}

void SIMTPartialEmitter::declareKernel() {
  auto dyn = ShapedType::kDynamic;
  auto elemMem = MemRefType::get({dyn}, c.elemType);
  auto cacheMem = MemRefType::get({dyn}, c.cacheElemType());
  auto i32Mem = MemRefType::get({dyn}, i32);
  auto f32Mem = MemRefType::get({dyn}, f32);
  auto tileTy = MemRefType::get(
      {shape.tileTokens * shape.tileWidth}, f32, AffineMap(),
      gpu::AddressSpaceAttr::get(b.getContext(),
                                 gpu::GPUDialect::getWorkgroupAddressSpace()));
  SmallVector<Type> args = {elemMem, cacheMem, i32Mem, i32Mem, f32Mem,
                            f32Mem,  idxTy,    idxTy,  f32};
  if (c.headCaches)
    args.insert(args.begin() + 2, elemMem);
  gpu::GPUFuncOp fn = makeKernel("partial", args, {tileTy});
  b.setInsertionPointToStart(&fn.getBody().front());
  readArgs(fn, c.headCaches);
  tile = fn.getWorkgroupAttributions().front();
}

void SIMTPartialEmitter::locateThread() {
  split = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  group = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  seq = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  warp = arith::DivUIOp::create(b, tid, idx(shape.warpSize));
  lane = arith::RemUIOp::create(b, tid, idx(shape.warpSize));
  zero = idx(0);
  one = idx(1);
  negInf = f32c(-std::numeric_limits<float>::infinity());
  zeroF = f32c(0.0f);
  range = splitRange(lens, seq, maxBlocks, numSplits, split, shape.tileTokens);
}

// Group row rr = warp + warps * k, clamped for loads; a row past the group
// or past its KV head's rows sees no token and writes nothing.
SmallVector<Value> SIMTPartialEmitter::warpRows() {
  const int64_t rows = shape.rows, groupRows = shape.groupRows,
                headRows = layout.kvHeadRows();
  SmallVector<Value> queryAt;
  for (int64_t k = 0; k < shape.rowsPerWarp; ++k) {
    Value rr = addc(warp, shape.warps * k);
    Value r = add(layout.firstLocalRow(*this, group), rr);
    Value valid = arith::AndIOp::create(
        b,
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, rr,
                              idx(groupRows)),
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, r,
                              idx(headRows)));
    Value rc =
        layout.queryRow(*this, group, minIdx(r, idx(headRows - 1)));
    queryAt.push_back(mulc(add(mulc(seq, rows), rc), shape.rowWidth));
    Value lim = flash::visibleEnd(*this, c, rc, range.len);
    lim = arith::SelectOp::create(b, valid, minIdx(lim, range.t1), zero);
    limit.push_back(lim);
    if (c.window)
      start.push_back(flash::visibleStart(*this, c, rc, range.len));
    rowValid.push_back(valid);
  }
  return queryAt;
}

void SIMTPartialEmitter::loadQueries(ArrayRef<Value> queryAt) {
  queries.resize(shape.rowsPerWarp);
  for (int64_t k = 0; k < shape.rowsPerWarp; ++k)
    for (int64_t i = 0; i < shape.rowElemsPerLane; ++i)
      queries[k].push_back(
          loadF32(q, add(queryAt[k], addc(lane, i * shape.warpSize))));
}

// Tokens past the split clamp to its last row (before a window, to its
// first visible one), which stays in bounds. Token indices: a slot without
// a token loads zeros. fp8 rows are dequantized on their way in. With head
// caches a token's tile row is its key row then its value row, of the group's
// KV head.
void SIMTPartialEmitter::loadTile(Value ts) {
  const int64_t width = shape.rowWidth, tileWidth = shape.tileWidth;
  Value kvHead = layout.kvHead(*this, group);
  gpu::BarrierOp::create(b);
  forLoop(tid, idx(shape.tileTokens * tileWidth), idx(c.threads()), {},
          [&](Value e, ValueRange) {
            Value j = arith::DivUIOp::create(b, e, idx(tileWidth));
            Value d = arith::RemUIOp::create(b, e, idx(tileWidth));
            if (c.sparse()) {
              // Slots of the next split load zeros too.
              Value row = slotRow(bt, btBase, add(ts, j), range.t1);
              auto load = scf::IfOp::create(b, f32, isRow(row),
                                            /*withElse=*/true);
              OpBuilder::InsertionGuard guard(b);
              b.setInsertionPointToStart(load.thenBlock());
              scf::YieldOp::create(
                  b, loadRowElement(flash::cacheRowStart(*this, c, row, kvHead),
                                    d));
              b.setInsertionPointToStart(load.elseBlock());
              scf::YieldOp::create(b, zeroF);
              b.setInsertionPointAfter(load);
              memref::StoreOp::create(b, load.getResult(0), tile,
                                      ValueRange{e});
              return SmallVector<Value>{};
            }
            Value tok = flash::loadedToken(*this, range, add(ts, j));
            Value row = flash::cacheRow(*this, c, bt, btBase, tok);
            Value rowStart = flash::cacheRowStart(*this, c, row, kvHead);
            Value x;
            if (!c.headCaches) {
              x = loadRowElement(rowStart, d);
            } else {
              Value isKey =
                  arith::CmpIOp::create(b, arith::CmpIPredicate::ult, d,
                                        idx(width));
              Value col = arith::RemUIOp::create(b, d, idx(width));
              auto pick = scf::IfOp::create(b, f32, isKey, /*withElse=*/true);
              OpBuilder::InsertionGuard guard(b);
              b.setInsertionPointToStart(pick.thenBlock());
              scf::YieldOp::create(b, loadF32(kv, add(rowStart, col)));
              b.setInsertionPointToStart(pick.elseBlock());
              scf::YieldOp::create(b, loadF32(values, add(rowStart, col)));
              x = pick.getResult(0);
            }
            memref::StoreOp::create(b, x, tile, ValueRange{e});
            return SmallVector<Value>{};
          });
  gpu::BarrierOp::create(b);
}

Value SIMTPartialEmitter::loadRowElement(Value rowStart, Value d) {
  if (!c.fp8Cache())
    return loadF32(kv, add(rowStart, d));
  // One scale a cache: the code's value, the scale applied outside.
  if (c.fp8Tensor())
    return buildE4M3ToF32(
        b, b.getLoc(),
        arith::BitcastOp::create(
            b, b.getI8Type(),
            memref::LoadOp::create(b, kv, ValueRange{add(rowStart, d)})));
  Value isLatent =
      arith::CmpIOp::create(b, arith::CmpIPredicate::ult, d, idx(c.dc));
  auto pick = scf::IfOp::create(b, f32, isLatent, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(pick.thenBlock());
  Value code = memref::LoadOp::create(b, kv, ValueRange{add(rowStart, d)});
  scf::YieldOp::create(
      b, fp8Latent(kv, rowStart, code,
                   arith::DivUIOp::create(b, d, idx(c.scaleGroup))));
  b.setInsertionPointToStart(pick.elseBlock());
  scf::YieldOp::create(
      b, fp8Rope(kv, rowStart, arith::SubIOp::create(b, d, idx(c.dc))));
  return pick.getResult(0);
}

SmallVector<Value> SIMTPartialEmitter::tileStep(Value ts, ValueRange state) {
  loadTile(ts);
  auto tokens = forLoop(zero, idx(shape.tileTokens), one, state,
                        [&](Value j, ValueRange st) {
                          Value tok = add(ts, j);
                          Value rowAt = mulc(j, shape.tileWidth);
                          return tokenStep(tok, rowAt, st);
                        });
  return SmallVector<Value>(tokens.getResults());
}

// One token a step: the step's max is its score.
SmallVector<Value> SIMTPartialEmitter::tokenStep(Value tok, Value rowAt,
                                                 ValueRange state) {
  const int64_t stride = shape.rowState;
  // Token indices: whether the slot holds a token (one for all the rows: a
  // group's rows are one query token's heads).
  Value slotHolds;
  if (c.sparse())
    slotHolds = isRow(slotRow(bt, btBase, tok, range.len));
  SmallVector<Value> next;
  for (int64_t k = 0; k < shape.rowsPerWarp; ++k) {
    Value partial = laneDot(k, rowAt);
    Value visible =
        arith::CmpIOp::create(b, arith::CmpIPredicate::slt, tok, limit[k]);
    if (slotHolds)
      visible = arith::AndIOp::create(b, visible, slotHolds);
    if (c.window)
      visible = arith::AndIOp::create(
          b, visible,
          arith::CmpIOp::create(b, arith::CmpIPredicate::sge, tok, start[k]));
    Value s = softmax.maskedScore(visible, warpSum(partial), scale);
    Value mOld = state[k * stride], lOld = state[k * stride + 1];
    flash::OnlineSoftmax::Step step = softmax.rescale(mOld, s);
    Value p = softmax.probability(s, step.mSafe);
    next.push_back(step.mNew);
    next.push_back(softmax.sum(lOld, step.alpha, p));
    for (int64_t i = 0; i < shape.outPerLane; ++i) {
      Value v = memref::LoadOp::create(
          b, tile,
          ValueRange{add(rowAt, addc(lane, shape.valueColumn +
                                               i * shape.warpSize))});
      Value scaled =
          arith::MulFOp::create(b, state[k * stride + 2 + i], step.alpha);
      Value sum = fma(p, v, scaled);
      // Causal with several queries or with a window, a row this one may
      // not see can be one another query sees, NaN or inf included (0 * NaN
      // is NaN): skipped.
      if ((c.causal && c.qLen > 1) || c.window)
        sum = arith::SelectOp::create(b, visible, sum, scaled);
      next.push_back(sum);
    }
  }
  return next;
}

Value SIMTPartialEmitter::laneDot(int64_t k, Value rowAt) {
  Value partial = zeroF;
  for (int64_t i = 0; i < shape.rowElemsPerLane; ++i) {
    Value kvv = memref::LoadOp::create(
        b, tile, ValueRange{add(rowAt, addc(lane, i * shape.warpSize))});
    partial = fma(queries[k][i], kvv, partial);
  }
  return partial;
}

// Lane 0 of each row writes m and l.
void SIMTPartialEmitter::storeOutputs(ValueRange state) {
  const int64_t stride = shape.rowState;
  Value item = layout.item(*this, seq, group, split, numSplits);
  for (int64_t k = 0; k < shape.rowsPerWarp; ++k) {
    Value itemRow = layout.itemRow(*this, item, addc(warp, shape.warps * k));
    auto ifOp = scf::IfOp::create(b, rowValid[k], /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value outBase = layout.outAt(*this, itemRow);
    for (int64_t i = 0; i < shape.outPerLane; ++i)
      memref::StoreOp::create(
          b, state[k * stride + 2 + i], partOut,
          ValueRange{add(outBase, addc(lane, i * shape.warpSize))});
    Value first =
        arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, zero);
    auto lane0 = scf::IfOp::create(b, first, /*withElse=*/false);
    b.setInsertionPointToStart(lane0.thenBlock());
    Value mlAt = layout.mlAt(*this, itemRow);
    memref::StoreOp::create(b, state[k * stride], partML, ValueRange{mlAt});
    memref::StoreOp::create(b, state[k * stride + 1], partML,
                            ValueRange{addc(mlAt, 1)});
  }
}

} // namespace

void GPUKernelEmitter::emitPartialSIMT() {
  SIMTPartialEmitter(b, c).emit();
}

namespace {

/// The combine kernel: a warp per (query row, sequence), its lanes over d_c.
class CombineEmitter : public GPUKernelEmitter {
public:
  CombineEmitter(ImplicitLocOpBuilder &b, const GPUDecodeConfig &c)
      : GPUKernelEmitter(b, c),
        columnsPerLane((c.dc + c.kWarpSize - 1) / c.kWarpSize) {}
  void emit();

private:
  /// The kernel and its arguments; the row, its sequence and the lane.
  void declareKernel();
  /// Where split `split`'s max (k = 0) or sum (k = 1) of the row is.
  Value mlAt(Value split, int64_t k) {
    return addc(layout.mlAt(*this, layout.splitRow(*this, partials, split)),
                k);
  }
  /// Column lane + 32 i; when d_c is not a multiple of 32 (the tensor-core
  /// kinds take multiples of 16) the last one is clamped for loads and
  /// guarded for stores.
  Value column(int64_t i) {
    const int64_t warpSize = c.kWarpSize;
    Value col = addc(lane, i * warpSize);
    return (i + 1) * warpSize > c.dc ? minIdx(col, idx(c.dc - 1)) : col;
  }
  /// Loop over the splits: [`total0` + sum of w_s l_s, then per column sum
  /// of w_s o_s].
  scf::ForOp weighSplits(flash::SplitCombine &combine, Value mSafe,
                         Value total0);
  /// The row's outputs (`sums` [total, columns...] times `res.scale`) and
  /// its lse.
  void storeOutputs(ValueRange sums, const flash::SplitCombine::Result &res);

  const int64_t columnsPerLane;
  Value partOut, partML, out, lse, numSplits, valueScale, sinks;
  /// The query row (r = i * H + h) and its sequence; this thread's lane.
  Value row, seq, lane;
  Value zero, one, zeroF;
  flash::PartialLayout::RowPartials partials;
};

void CombineEmitter::emit() {
  OpBuilder::InsertionGuard guard(b);
  declareKernel();
  partials = layout.rowPartials(*this, seq, row, numSplits);
  flash::SplitCombine combine(*this, math);
  Value sink = flash::rowSink(*this, c, sinks, row);
  Value mSafe = combine.safeMax(
      numSplits,
      [&](Value s) -> Value {
        return memref::LoadOp::create(b, partML, ValueRange{mlAt(s, 0)});
      },
      sink);
  scf::ForOp sums =
      weighSplits(combine, mSafe, combine.initialTotal(mSafe, sink));
  flash::SplitCombine::Result res =
      combine.finish(mSafe, sums.getResult(0), valueScale);
  storeOutputs(sums.getResults(), res);
  gpu::ReturnOp::create(b);
}

void CombineEmitter::declareKernel() {
  auto dyn = ShapedType::kDynamic;
  auto elemMem = MemRefType::get({dyn}, c.elemType);
  auto f32Mem = MemRefType::get({dyn}, f32);
  // One fp8 scale a cache: the outputs' scale follows; with sinks, their
  // buffer [H] follows.
  SmallVector<Type> args = {f32Mem, f32Mem, elemMem, f32Mem, idxTy};
  if (c.fp8Tensor())
    args.push_back(f32);
  if (c.sinks)
    args.push_back(f32Mem);
  gpu::GPUFuncOp fn = makeKernel("combine", args);
  b.setInsertionPointToStart(&fn.getBody().front());
  partOut = fn.getArgument(0);
  partML = fn.getArgument(1);
  out = fn.getArgument(2);
  lse = fn.getArgument(3);
  numSplits = fn.getArgument(4);
  unsigned next = 5;
  if (c.fp8Tensor())
    valueScale = fn.getArgument(next++);
  if (c.sinks)
    sinks = fn.getArgument(next);
  row = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  seq = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  lane = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  zero = idx(0);
  one = idx(1);
  zeroF = f32c(0.0f);
}

scf::ForOp CombineEmitter::weighSplits(flash::SplitCombine &combine,
                                       Value mSafe, Value total0) {
  SmallVector<Value> inits(columnsPerLane + 1, zeroF);
  inits[0] = total0;
  return forLoop(zero, numSplits, one, inits, [&](Value s, ValueRange a) {
    Value ms = memref::LoadOp::create(b, partML, ValueRange{mlAt(s, 0)});
    Value ls = memref::LoadOp::create(b, partML, ValueRange{mlAt(s, 1)});
    Value w = combine.weight(ms, mSafe);
    SmallVector<Value> next{fma(w, ls, a[0])};
    Value base = layout.outAt(*this, layout.splitRow(*this, partials, s));
    for (int64_t i = 0; i < columnsPerLane; ++i)
      next.push_back(fma(w,
                         memref::LoadOp::create(
                             b, partOut, ValueRange{add(base, column(i))}),
                         a[1 + i]));
    return next;
  });
}

void CombineEmitter::storeOutputs(ValueRange sums,
                                  const flash::SplitCombine::Result &res) {
  const int64_t warpSize = c.kWarpSize;
  Value outBase = flash::outputAt(*this, c, seq, row);
  for (int64_t i = 0; i < columnsPerLane; ++i) {
    Value o = arith::MulFOp::create(b, sums[1 + i], res.scale);
    if (!c.elemType.isF32())
      o = arith::TruncFOp::create(b, c.elemType, o);
    if ((i + 1) * warpSize <= c.dc) {
      memref::StoreOp::create(b, o, out, ValueRange{add(outBase, column(i))});
      continue;
    }
    Value col = addc(lane, i * warpSize);
    auto inside = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, col, idx(c.dc)),
        /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inside.thenBlock());
    memref::StoreOp::create(b, o, out, ValueRange{add(outBase, col)});
  }
  // lse [b, h, i] with r = i * H + h, written by lane 0.
  Value first = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, lane, zero);
  auto lane0 = scf::IfOp::create(b, first, /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(lane0.thenBlock());
  memref::StoreOp::create(b, res.lse, lse,
                          ValueRange{flash::lseAt(*this, c, seq, row)});
}

} // namespace

void GPUKernelEmitter::emitCombine() { CombineEmitter(b, c).emit(); }

void mlir::mla::buildGPUDecodeKernels(ModuleOp module,
                                      const GPUDecodeConfig &config,
                                      StringRef name) {
  ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  b.getUnitAttr());
  b.setInsertionPointToEnd(module.getBody());
  auto gpuModule = gpu::GPUModuleOp::create(b, (name + "_kernels").str());
  b.setInsertionPointToStart(gpuModule.getBody());
  GPUKernelEmitter emitter(b, config);
  switch (config.kind) {
  case GPUKernelKind::SIMT:
    emitter.emitPartialSIMT();
    break;
  case GPUKernelKind::MMA:
    emitter.emitPartialMMA();
    break;
  case GPUKernelKind::WGMMA:
    emitter.emitPartialWGMMA();
    break;
  }
  emitter.emitCombine();
}
