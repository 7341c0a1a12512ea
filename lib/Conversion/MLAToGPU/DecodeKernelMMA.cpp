//===- DecodeKernelMMA.cpp - bf16/f16 decode kernel on mma.sync -*- C++ -*-===//
//
// The tensor-core partial kernel for sm_80 and later. A CTA serves a group
// of 16 * mTiles query rows of one sequence over one KV split; its warps are
// (m-tile, column split) pairs. The group's queries stay in shared memory
// for the whole split; cache tiles of tileTokens tokens stream through a
// double buffer filled by 16-byte cp.async (one tile in flight while the
// other is computed). Rows are padded by 16 bytes so that ldmatrix is
// conflict-free.
// Per tile, each warp
//   - computes its share (every colSplits-th k-step) of S = Q K^T for its
//     16 rows with ldmatrix + mma.sync m16n8k16 (f32 accumulation); the
//     column-split warps of an m-tile add their shares through shared
//     memory, so each holds all of S in the accumulator layout;
//   - runs the online softmax on its registers (rows g and g + 8 of the
//     fragment; the row max is a quad shuffle), in base 2;
//   - turns P into A fragments in registers (the C layout of two n8 tiles
//     is the A layout of one k16 step) and accumulates P V for its d_c /
//     colSplits output columns, V read with ldmatrix.trans from the same
//     shared tile as K.
// Partials and the combine kernel are those of the SIMT kernel.
//
// Token indices: a tile's token j is slot ts + j of the group's query
// token's index row; a slot without a token is copied as zeros (cp.async
// with source size 0) and masked in every row's softmax. fp8 rows are not
// copied asynchronously: each thread loads its chunk's 8 e4m3 codes (or 8
// bf16 rope values), dequantizes them with the group's scale and stores
// the 16-bit values, so the tile in shared memory is that of a bf16/f16
// cache.
//
//===----------------------------------------------------------------------===//

#include "TensorCoreEmitter.h"

#include <limits>

using namespace mlir;
using namespace mlir::mla;
using mlir::mla::detail::GPUKernelEmitter;

namespace {

/// The shapes of the mma.sync kernel (elements, unless named bytes).
struct MMATileShape {
  explicit MMATileShape(const GPUDecodeConfig &c)
      : rowWidth(c.rowWidth()), paddedWidth(c.paddedWidth()),
        tileWidth(c.paddedTileWidth()), valueColumn(c.valueColumn()),
        rows(c.rows()),
        groupRows(c.rowsPerGroup), tileTokens(c.tileTokens), mTiles(c.mTiles),
        colSplits(c.colSplits), threads(c.threads()), kSteps(rowWidth / 16),
        scoreTiles(tileTokens / 8), warpColumns(c.dc / colSplits),
        outTiles(warpColumns / 8), rowChunks(rowWidth / 8),
        tileChunks(c.tileWidth() / 8),
        elemBytes(c.elemType.getIntOrFloatBitWidth() / 8),
        stageBytes(tileTokens * tileWidth * elemBytes),
        cacheOffset(groupRows * paddedWidth * elemBytes),
        scoreOffset(cacheOffset + 2 * stageBytes) {}

  /// A query or cache row (d_c + d_r), and the same row in shared memory,
  /// padded so that ldmatrix is conflict-free; a token's row of a tile in
  /// shared memory (its key row, then with head caches its value row at
  /// valueColumn), padded the same way.
  int64_t rowWidth, paddedWidth, tileWidth, valueColumn;
  /// The query rows of a sequence, and those of a CTA (16 per m-tile).
  int64_t rows, groupRows;
  /// Cache rows (tokens) of a tile.
  int64_t tileTokens;
  /// The warps: m-tiles x column splits of each.
  int64_t mTiles, colSplits, threads;
  /// The k16 steps of QK^T, and the n8 tiles of a tile's scores.
  int64_t kSteps, scoreTiles;
  /// The output columns of a warp (PV), and their n8 tiles.
  int64_t warpColumns, outTiles;
  /// The 16-byte chunks (cp.async copies) of a row and of a token's tile
  /// row (unpadded); bytes of an element.
  int64_t rowChunks, tileChunks, elemBytes;
  /// Shared memory, in bytes: the queries at 0, two cache stages of
  /// `stageBytes` at `cacheOffset`, the column splits' score shares at
  /// `scoreOffset`.
  static constexpr int64_t queryOffset = 0;
  int64_t stageBytes, cacheOffset, scoreOffset;
};

class MMAPartialEmitter : public mla::detail::TensorCoreEmitter,
                          private mla::detail::PartialKernelArgs {
public:
  MMAPartialEmitter(ImplicitLocOpBuilder &b, const GPUDecodeConfig &c)
      : TensorCoreEmitter(b, c), shape(c) {}
  void emit();

private:
  /// The kernel, its arguments and the global pointers of q and kv.
  void declareKernel();
  /// The CTA's work item and split, this thread's place in it, and the
  /// constants the loop shares.
  void locateThread();
  /// Distributes `count` 16-byte chunks over the CTA's threads.
  void forChunks(int64_t count, function_ref<void(Value)> body);
  void ifLess(Value x, Value y, function_ref<void()> body);
  /// cp.async of the group's query rows (clamped to the last row).
  void loadQueries();
  /// Where cache stage `stage` starts in shared memory.
  Value stageOffset(Value stage) {
    return addc(mulc(stage, shape.stageBytes), shape.cacheOffset);
  }
  /// cp.async of the tile of tokens [ts, ts + tileTokens) into `stage`.
  void loadTile(Value ts, Value stage);
  /// fp8 rows: chunk `ch` (8 columns) of the row at byte `rowBytes`,
  /// dequantized into shared memory at `dst`; zeros where `holds` is given
  /// and false.
  void dequantizeChunk(Value dst, Value ch, Value rowBytes, Value holds);
  /// One iteration of the tile loop: `state` is the loop state (see emit).
  SmallVector<Value> tileStep(Value ts, ValueRange state);
  /// ldmatrix .x4 at `sharedBytes` as four mma.sync operands.
  SmallVector<Value> loadOperands(Value sharedBytes, bool transpose);
  /// acc's n8 tiles `tile` and `tile` + 1 += a x the two n8 tiles of `bFrag`
  /// (an ldmatrix .x4).
  void mmaPair(ArrayRef<Value> a, ArrayRef<Value> bFrag,
               MutableArrayRef<Value> acc, int64_t tile);
  /// This warp's share of the tile's scores S = Q K^T, accumulator layout.
  SmallVector<Value> scores(Value tileAt);
  /// Adds the shares of the m-tile's column-split warps into each of them.
  void sumScoreShares(MutableArrayRef<Value> s);
  /// Zeroes the V columns of the tile's rows outside [lo, hi) (see
  /// visiblePV), between two CTA barriers.
  void zeroVOutside(Value tileAt, Value lo, Value hi);
  /// acc += P V over this warp's output columns (P as A fragments).
  void accumulatePV(const PFragments &p, MutableArrayRef<Value> acc,
                    Value tileAt);
  /// The partials of the final loop state.
  void storeOutputs(ValueRange state);

  const MMATileShape shape;
  /// Global pointers of q, kv and (head caches) the values.
  Value qPtr, kvPtr, valuesPtr;
  /// The work item (split, group, seq); the warp's m-tile `mt` and column
  /// split `cs`; the lane's fragment row `g` and column pair `t4`.
  Value split, group, seq, tid, warp, lane, mt, cs, g, t4;
  Value zero, one, negInf, zeroF, scaleLog2;
  SplitRange range;
  /// Where the sequence's row of the block table starts; token indices:
  /// where the group's query token's index row starts.
  Value btBase;
  FragmentRows rows;
};

void MMAPartialEmitter::emit() {
  OpBuilder::InsertionGuard guard(b);
  declareKernel();
  locateThread();
  loadQueries();
  ifLess(range.t0, range.t1, [&] { loadTile(range.t0, zero); });
  NVVM::CpAsyncCommitGroupOp::create(b);

  // The two rows of this lane (g and g + 8 of the m-tile).
  rows = fragmentRows(mulc(mt, 16), g, group, range.len, range.t1);

  // Loop state: the output accumulators (outTiles x 4), then the running
  // max (base 2) and the lane's partial sum of each of its two rows.
  SmallVector<Value> inits(shape.outTiles * 4, zeroF);
  inits.append({negInf, negInf, zeroF, zeroF});
  auto tiles = forLoop(range.t0, range.t1, idx(shape.tileTokens), inits,
                       [&](Value ts, ValueRange state) {
                         return tileStep(ts, state);
                       });
  NVVM::CpAsyncWaitGroupOp::create(b, 0);
  storeOutputs(tiles.getResults());
  gpu::ReturnOp::create(b);
}

void MMAPartialEmitter::declareKernel() {
  gpu::GPUFuncOp fn = makePartialKernel(/*alignment=*/128);
  readArgs(fn, c.headCaches);
  qPtr = globalPtr(q);
  kvPtr = globalPtr(kv);
  if (values)
    valuesPtr = globalPtr(values);
}

void MMAPartialEmitter::locateThread() {
  split = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  group = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  seq = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  warp = divc(tid, 32);
  lane = remc(tid, 32);
  mt = remc(warp, shape.mTiles);
  cs = divc(warp, shape.mTiles);
  g = divc(lane, 4);
  t4 = remc(lane, 4);
  zero = idx(0);
  one = idx(1);
  negInf = f32c(-std::numeric_limits<float>::infinity());
  zeroF = f32c(0.0f);
  scaleLog2 = baseTwoSoftmax().scoreScale(scale);
  range = splitRange(lens, seq, maxBlocks, numSplits, split, shape.tileTokens);
  btBase = c.sparse() ? flash::indexRowStart(*this, c, seq,
                                             layout.kvHead(*this, group))
                      : mul(seq, maxBlocks);
}

void MMAPartialEmitter::forChunks(int64_t count,
                                  function_ref<void(Value)> body) {
  for (int64_t base = 0; base < count; base += shape.threads) {
    Value e = addc(tid, base);
    if (base + shape.threads <= count) {
      body(e);
      continue;
    }
    auto inRange = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, e, idx(count)),
        /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(inRange.thenBlock());
    body(e);
  }
}

void MMAPartialEmitter::ifLess(Value x, Value y, function_ref<void()> body) {
  auto op = scf::IfOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::slt, x, y),
      /*withElse=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(op.thenBlock());
  body();
}

void MMAPartialEmitter::loadQueries() {
  const int64_t chunks = shape.rowChunks;
  forChunks(shape.groupRows * chunks, [&](Value e) {
    Value row = divc(e, chunks), ch = remc(e, chunks);
    Value r = layout.groupRow(*this, group, row);
    Value src = globalAt(qPtr, add(mulc(add(mulc(seq, shape.rows), r),
                                        shape.rowWidth),
                                   mulc(ch, 8)));
    copy16(addc(mulc(add(mulc(row, shape.paddedWidth), mulc(ch, 8)),
                     shape.elemBytes),
                shape.queryOffset),
           src);
  });
}

// Tokens past the split repeat its last one, before a window its first
// visible one (their scores are masked).
// With head caches a token's tile row is its key row then its value row,
// of the group's KV head.
// Each token's chunks go to threads / tileTokens consecutive threads (where
// that divides), so that a thread looks up its token's page in the block
// table once per tile (not once per chunk) and a token's row is still read
// in whole 16-byte chunks by neighbouring lanes.
void MMAPartialEmitter::loadTile(Value ts, Value stage) {
  const int64_t chunks = shape.tileChunks, rowChunks = shape.rowChunks;
  Value stageAt = stageOffset(stage);
  Value kvHead = layout.kvHead(*this, group);
  // Chunk `ch` of a token whose row starts at `rowStart` in its cache and
  // at `dstRow` in the stage; `holds` (token indices) says whether the
  // slot holds a token.
  auto copyChunk = [&](Value dstRow, Value ch, Value rowStart, Value holds) {
    auto dst = [&] { return add(dstRow, mulc(ch, 8 * shape.elemBytes)); };
    if (c.fp8Cache())
      return dequantizeChunk(dst(), ch, rowStart, holds);
    Value src;
    if (!valuesPtr) {
      src = globalAt(kvPtr, add(rowStart, mulc(ch, 8)));
    } else {
      Value isKey = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, ch,
                                          idx(rowChunks));
      Value base = LLVM::SelectOp::create(b, isKey, kvPtr, valuesPtr);
      src = globalAt(base, add(rowStart, mulc(remc(ch, rowChunks), 8)));
    }
    copy16(dst(), src, holds);
  };
  auto dstRowOf = [&](Value j) {
    return add(stageAt, mulc(j, shape.tileWidth * shape.elemBytes));
  };
  // Where token j's row starts, and (token indices) whether its slot holds
  // a token: slots past the split or of -1 hold none, and read row 0.
  auto rowStartOf = [&](Value j) -> std::pair<Value, Value> {
    if (c.sparse()) {
      Value row = slotRow(bt, btBase, add(ts, j), range.t1);
      Value holds = isRow(row);
      row = arith::SelectOp::create(b, holds, row, zero);
      return {flash::cacheRowStart(*this, c, row, kvHead), holds};
    }
    Value tok = flash::loadedToken(*this, range, add(ts, j));
    Value row = flash::cacheRow(*this, c, bt, btBase, tok);
    return {flash::cacheRowStart(*this, c, row, kvHead), Value()};
  };
  if (shape.threads % shape.tileTokens != 0) {
    forChunks(shape.tileTokens * chunks, [&](Value e) {
      Value j = divc(e, chunks);
      auto [rowStart, holds] = rowStartOf(j);
      copyChunk(dstRowOf(j), remc(e, chunks), rowStart, holds);
    });
    return;
  }
  const int64_t perToken = shape.threads / shape.tileTokens;
  Value j = divc(tid, perToken), u = remc(tid, perToken);
  auto [rowStart, holds] = rowStartOf(j);
  Value dstRow = dstRowOf(j);
  for (int64_t k = 0; k * perToken < chunks; ++k) {
    if ((k + 1) * perToken <= chunks) {
      copyChunk(dstRow, addc(u, k * perToken), rowStart, holds);
      continue;
    }
    ifLess(addc(u, k * perToken), idx(chunks),
           [&] { copyChunk(dstRow, addc(u, k * perToken), rowStart, holds); });
  }
}

// The 8 codes of a latent chunk share one scale group (scale groups are
// multiples of 16 columns); rows are multiples of 4 bytes, so the chunk's
// codes, the scale and the rope values are read as aligned 32-bit words.
// With one scale a cache every chunk is 8 codes, staged unscaled (exact in
// f16 and bf16); the kernel applies the scale to the scores and outputs.
void MMAPartialEmitter::dequantizeChunk(Value dst, Value ch, Value rowBytes,
                                        Value holds) {
  auto word = [&](Value bytes) -> Value {
    return LLVM::LoadOp::create(b, i32, globalBytes(kvPtr, bytes),
                                /*alignment=*/4);
  };
  // Two 16-bit values of the storage type, packed in an i32.
  auto pack32 = [&](Value lo, Value hi) -> Value {
    Value v = pack(lo, hi);
    return v.getType() == i32 ? v : LLVM::BitcastOp::create(b, i32, v);
  };
  auto vecTy = VectorType::get({4}, i32);
  auto store = [&](ArrayRef<Value> words) {
    Value v = LLVM::PoisonOp::create(b, vecTy);
    for (int64_t k = 0; k < 4; ++k)
      v = LLVM::InsertElementOp::create(b, v, words[k], i32c(k));
    LLVM::StoreOp::create(b, v, shared(dst), /*alignment=*/16);
  };
  auto latent = [&] {
    Value col = mulc(ch, 8);
    Value at = add(rowBytes, col);
    Value scale;
    if (c.fp8Rows())
      scale = LLVM::BitcastOp::create(
          b, f32,
          word(add(addc(rowBytes, c.dc), mulc(divc(col, c.scaleGroup), 4))));
    auto scaled = [&](Value v) -> Value {
      return scale ? arith::MulFOp::create(b, v, scale).getResult() : v;
    };
    Value codes[2] = {word(at), word(addc(at, 4))};
    SmallVector<Value> vals;
    if (c.hardwareE4M3) {
      // Two codes an instruction (the low byte to the low half), exact in
      // f16, then widened.
      auto f16x2 = VectorType::get({2}, b.getF16Type());
      for (int64_t k = 0; k < 4; ++k) {
        Value word = codes[k / 2];
        if (k % 2)
          word = arith::ShRUIOp::create(b, word, i32c(16));
        Value pair = LLVM::BitcastOp::create(
            b, VectorType::get({2}, b.getI8Type()),
            arith::TruncIOp::create(b, b.getI16Type(), word));
        Value h = NVVM::ConvertF8x2ToF16x2Op::create(
            b, f16x2, pair, /*relu=*/false, b.getType<Float8E4M3FNType>());
        for (int64_t e = 0; e < 2; ++e)
          vals.push_back(scaled(arith::ExtFOp::create(
              b, f32,
              LLVM::ExtractElementOp::create(b, h, i32c(e)).getResult())));
      }
    }
    for (int64_t k = 0; !c.hardwareE4M3 && k < 8; ++k) {
      Value code = arith::TruncIOp::create(
          b, b.getI8Type(),
          arith::ShRUIOp::create(b, codes[k / 4], i32c(8 * (k % 4))));
      vals.push_back(scaled(buildE4M3ToF32(b, b.getLoc(), code)));
    }
    SmallVector<Value> words;
    for (int64_t k = 0; k < 4; ++k)
      words.push_back(pack32(vals[2 * k], vals[2 * k + 1]));
    store(words);
  };
  auto rope = [&] {
    Value at = add(addc(rowBytes, c.dc + 4 * (c.dc / c.scaleGroup)),
                   mulc(arith::SubIOp::create(b, ch, idx(c.dc / 8)), 16));
    SmallVector<Value> words;
    for (int64_t k = 0; k < 4; ++k) {
      Value w = word(addc(at, 4 * k));
      if (!c.elemType.isBF16()) {
        // bf16 to f32 is a shift; then rounded to f16.
        Value lo = LLVM::BitcastOp::create(
            b, f32, arith::ShLIOp::create(b, w, i32c(16)));
        Value hi = LLVM::BitcastOp::create(
            b, f32, arith::AndIOp::create(b, w, i32c(int32_t(0xffff0000u))));
        w = pack32(lo, hi);
      }
      words.push_back(w);
    }
    store(words);
  };
  auto body = [&] {
    if (c.fp8Tensor())
      return latent();
    Value isLatent =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, ch, idx(c.dc / 8));
    auto pick = scf::IfOp::create(b, isLatent, /*withElse=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(pick.thenBlock());
    latent();
    b.setInsertionPointToStart(pick.elseBlock());
    rope();
  };
  if (!holds)
    return body();
  auto ifHolds = scf::IfOp::create(b, holds, /*withElse=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifHolds.thenBlock());
  body();
  b.setInsertionPointToStart(ifHolds.elseBlock());
  store(SmallVector<Value>(4, i32c(0)));
}

SmallVector<Value> MMAPartialEmitter::tileStep(Value ts, ValueRange state) {
  // Double buffering: the next tile is issued before this one is waited for.
  Value stage = remc(
      divc(arith::SubIOp::create(b, ts, range.t0), shape.tileTokens), 2);
  Value nextTs = addc(ts, shape.tileTokens);
  ifLess(nextTs, range.t1,
         [&] { loadTile(nextTs, arith::SubIOp::create(b, one, stage)); });
  NVVM::CpAsyncCommitGroupOp::create(b);
  NVVM::CpAsyncWaitGroupOp::create(b, 1);
  gpu::BarrierOp::create(b);
  Value tileAt = stageOffset(stage);

  SmallVector<Value> s = scores(tileAt);
  if (shape.colSplits > 1)
    sumScoreShares(s);
  // Token indices: which of this thread's tokens' slots hold a token.
  SmallVector<Value> slotHolds;
  if (c.sparse())
    for (Value tok : slotTokens(ts, t4, shape.tileTokens))
      slotHolds.push_back(isRow(slotRow(bt, btBase, tok, range.t1)));
  SmallVector<Value> next = onlineSoftmax(s, state, shape.outTiles * 4, ts, t4,
                                          rows, scaleLog2, slotHolds);
  const int64_t nAcc = shape.outTiles * 4;
  SmallVector<Value> acc = visiblePV(
      s, ValueRange(next).take_front(nAcc), ts, shape.tileTokens, range.len,
      group, rows,
      [&](const PFragments &p, MutableArrayRef<Value> a) {
        accumulatePV(p, a, tileAt);
      },
      [&](Value lo, Value hi) { zeroVOutside(tileAt, lo, hi); });
  llvm::copy(acc, next.begin());
  // The tile's stage and the score slots are free for the next tile.
  gpu::BarrierOp::create(b);
  return next;
}

SmallVector<Value> MMAPartialEmitter::loadOperands(Value sharedBytes,
                                                   bool transpose) {
  SmallVector<Value> regs = ldmatrix4(sharedBytes, transpose);
  for (Value &v : regs)
    v = operand(v);
  return regs;
}

void MMAPartialEmitter::mmaPair(ArrayRef<Value> a, ArrayRef<Value> bFrag,
                                MutableArrayRef<Value> acc, int64_t tile) {
  mma(a, {bFrag[0], bFrag[1]}, acc.slice(4 * tile, 4));
  mma(a, {bFrag[2], bFrag[3]}, acc.slice(4 * tile + 4, 4));
}

// This warp's k-steps are cs, cs + colSplits, ...; the lanes' ldmatrix
// addresses follow the m16n8k16 A (16 x 16) and B (two 16 x 8) fragments.
SmallVector<Value> MMAPartialEmitter::scores(Value tileAt) {
  const int64_t width = shape.paddedWidth, tileWidth = shape.tileWidth,
                eb = shape.elemBytes;
  Value aRow = add(mulc(mt, 16), remc(lane, 16));
  Value aCol = mulc(divc(lane, 16), 8);
  Value bTok = remc(lane, 8), bCol = mulc(remc(divc(lane, 8), 2), 8);
  Value bHalf = divc(lane, 16);
  auto kStep = [&](Value ks, SmallVector<Value> s) {
    Value k0 = mulc(ks, 16);
    SmallVector<Value> a = loadOperands(
        addc(mulc(add(mulc(aRow, width), add(k0, aCol)), eb),
             shape.queryOffset),
        /*transpose=*/false);
    for (int64_t jp = 0; jp < shape.scoreTiles / 2; ++jp) {
      Value tok = add(mulc(addc(bHalf, 2 * jp), 8), bTok);
      SmallVector<Value> bFrag = loadOperands(
          add(tileAt, mulc(add(mulc(tok, tileWidth), add(k0, bCol)), eb)),
          /*transpose=*/false);
      mmaPair(a, bFrag, s, 2 * jp);
    }
    return s;
  };
  SmallVector<Value> s(shape.scoreTiles * 4, zeroF);
  // Unrolled where every warp has the same count of k-steps: no loop
  // counter, and ptxas schedules the ldmatrix of the next step under the
  // mma of this one.
  if (shape.kSteps % shape.colSplits == 0) {
    for (int64_t j = 0; j < shape.kSteps / shape.colSplits; ++j)
      s = kStep(addc(cs, j * shape.colSplits), s);
    return s;
  }
  auto kLoop = forLoop(cs, idx(shape.kSteps), idx(shape.colSplits), s,
                       [&](Value ks, ValueRange acc) {
                         return kStep(ks, SmallVector<Value>(acc));
                       });
  return SmallVector<Value>(kLoop.getResults());
}

// Every warp of the m-tile publishes its share; each adds them all.
void MMAPartialEmitter::sumScoreShares(MutableArrayRef<Value> s) {
  const int64_t values = shape.scoreTiles * 4;
  auto slot = [&](Value w, int64_t v) {
    return addc(mulc(add(mulc(addc(mulc(w, values), v), 32), lane), 4),
                shape.scoreOffset);
  };
  for (int64_t v = 0; v < values; ++v)
    LLVM::StoreOp::create(b, s[v], shared(slot(warp, v)));
  gpu::BarrierOp::create(b);
  for (int64_t v = 0; v < values; ++v) {
    Value sum = zeroF;
    for (int64_t w = 0; w < shape.colSplits; ++w)
      sum = arith::AddFOp::create(
          b, sum,
          LLVM::LoadOp::create(
              b, f32, shared(slot(addc(mt, w * shape.mTiles), v))));
    s[v] = sum;
  }
}

// The columns [cs * warpColumns, (cs + 1) * warpColumns); V is read with
// ldmatrix.trans from the same shared tile as K (its rows' first d_c values,
// or with head caches the value rows after the keys).
void MMAPartialEmitter::accumulatePV(const PFragments &p,
                                     MutableArrayRef<Value> acc,
                                     Value tileAt) {
  Value vTok = add(remc(lane, 8), mulc(remc(divc(lane, 8), 2), 8));
  Value vCol = addc(add(mulc(cs, shape.warpColumns), mulc(divc(lane, 16), 8)),
                   shape.valueColumn);
  for (int64_t kk = 0; kk < shape.tileTokens / 16; ++kk) {
    SmallVector<Value> a = pStep(p, kk);
    Value rowAt = mulc(addc(vTok, 16 * kk), shape.tileWidth);
    for (int64_t np = 0; np < shape.outTiles / 2; ++np) {
      SmallVector<Value> bFrag = loadOperands(
          add(tileAt,
              mulc(add(rowAt, addc(vCol, 16 * np)), shape.elemBytes)),
          /*transpose=*/true);
      mmaPair(a, bFrag, acc, 2 * np);
    }
  }
}

// A loop rather than unrolled stores, as in the wgmma kernel: its index
// math must not take registers from the accumulators.
void MMAPartialEmitter::zeroVOutside(Value tileAt, Value lo, Value hi) {
  const int64_t chunks = c.dc / 8;
  gpu::BarrierOp::create(b);
  Value zero16 = arith::ConstantOp::create(
      b, DenseElementsAttr::get(VectorType::get({4}, i32),
                                b.getI32IntegerAttr(0)));
  forLoop(tid, idx(shape.tileTokens * chunks), idx(shape.threads), {},
          [&](Value e, ValueRange) {
            Value j = divc(e, chunks);
            Value before =
                arith::CmpIOp::create(b, arith::CmpIPredicate::ult, j, lo);
            Value after =
                arith::CmpIOp::create(b, arith::CmpIPredicate::uge, j, hi);
            auto past = scf::IfOp::create(
                b, arith::OrIOp::create(b, before, after), /*withElse=*/false);
            OpBuilder::InsertionGuard guard(b);
            b.setInsertionPointToStart(past.thenBlock());
            Value at = add(
                tileAt,
                mulc(addc(add(mulc(j, shape.tileWidth),
                              mulc(remc(e, chunks), 8)),
                          shape.valueColumn),
                     shape.elemBytes));
            LLVM::StoreOp::create(b, zero16, shared(at), /*alignment=*/16);
            return SmallVector<Value>{};
          });
  gpu::BarrierOp::create(b);
}

// One column-split warp of each m-tile writes m and l.
void MMAPartialEmitter::storeOutputs(ValueRange state) {
  Value item = layout.item(*this, seq, group, split, numSplits);
  Value writesML = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, t4, zero),
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, cs, zero));
  storePartials(state, shape.outTiles * 4, item, rows,
                mulc(cs, shape.warpColumns), t4, writesML, partOut, partML);
}

} // namespace

void GPUKernelEmitter::emitPartialMMA() {
  MMAPartialEmitter(b, c).emit();
}

