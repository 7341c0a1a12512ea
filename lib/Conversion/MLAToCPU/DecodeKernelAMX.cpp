//===- DecodeKernelAMX.cpp - CPU partial kernel on AMX tiles ---*- C++ -*-===//
//
// The partial kernel of bf16 caches on AMX (tdpbf16ps: C[16x16] f32 +=
// A[16x32] bf16 * B[32x16] bf16, B in pairs of rows), through the upstream
// amx dialect. Per tile of 128 tokens (kAMXTileTokens), for all rows of the
// group (up to 128, so that a sequence's cache is read once):
//   1. S^T = K Q^T: A is 16 cache rows read in place (or from a copy when
//      the 16 rows are not evenly spaced: pages under 16 tokens, clamped
//      tails), B is Q^T, packed once per work item; C lands token-major in
//      the scores. Token blocks outer and the row width in parts, so that
//      the key tiles are read from memory once and then from L1.
//   2. The softmax, per row tile in loops over the tokens: the max, then
//      P rounded to bf16 (the one place of bf16 rounding beyond the
//      storage, as in FlashAttention) and transposed straight into the A
//      tiles of P V.
//   3. P V: V pair-interleaved once into B tiles, shared by all rows, while
//      the next tile's rows are prefetched into L2; the f32 accumulators in
//      L2, loaded and stored once per 4 k steps, rescaled only for rows
//      whose max moved.
// Every stack buffer is on cache lines (a tile row across two lines made
// the kernel 1.6x slower).
// Tiles where some rows of the group must not see some tokens (causal with
// several queries, windows) take the vector kernel's masked P V, which keeps
// 0 * NaN out of the sums. Tile values never cross a block (the amx
// lowering does not carry them through block arguments): reductions are
// unrolled and every accumulator goes back to memory.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/AMX/AMXDialect.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace mlir::mla;
using namespace mlir::mla::cpu_kernels;

namespace {
constexpr int64_t kTileRows = 16, kTilePairs = 32;
/// Elements from one row of the V tiles (a pair of tokens, all of d_c) to
/// the next: padded by a line, as the accumulators' rows are.
int64_t vTileStride(const CPUDecodeConfig &c) {
  return 2 * c.dc + kTilePairs;
}
} // namespace

void KernelEmitter::emitPartialAMX(StringRef name) {
  OpBuilder::InsertionGuard guard(b);
  const int64_t TB = CPUDecodeConfig::kAMXTileTokens, D = c.rowWidth();
  PartialKernel kern = declarePartial((name + "_partial_amx").str(), TB);
  kern.amx = true;
  // The next tile's row offsets too: P V prefetches its rows.
  kern.prefetch = true;
  initRowState(kern);
  const int64_t RT = kern.paddedRows / kTileRows;
  Type bf16 = b.getBF16Type();
  auto dynBF16 = MemRefType::get({ShapedType::kDynamic}, bf16);
  auto buffer = [&](int64_t n) -> Value {
    return memref::CastOp::create(b, dynBF16, stackBuffer(n, bf16));
  };
  kern.qTiles = buffer(D / kTilePairs * RT * kTileRows * kTilePairs);
  kern.keyStage = buffer(TB * D);
  kern.vTiles = buffer(TB / 2 * vTileStride(c));
  kern.pTiles = buffer(RT * kTileRows * TB);
  packQueriesAMX(kern);
  emitTilesAndPartials(kern);
}

void KernelEmitter::packQueriesAMX(PartialKernel &kern) {
  // B tile (kc, rt): row k2 holds, for each of the 16 rows n of row tile
  // rt, the pair Q[n][32 kc + 2 k2 .. + 1]: Q^T in pairs of rows.
  const int64_t KC = c.rowWidth() / kTilePairs,
                RT = kern.paddedRows / kTileRows;
  Type bf16 = b.getBF16Type();
  auto chunkTy = VectorType::get({kTilePairs}, bf16);
  Value zeros = arith::ConstantOp::create(
      b, chunkTy, DenseElementsAttr::get(chunkTy, b.getZeroAttr(bf16)));
  const int64_t tileElems = kTileRows * kTilePairs;
  forLoop(kern.zero, idx(KC * RT * tileElems), idx(kTilePairs), {},
          [&](Value i, ValueRange) {
            vector::StoreOp::create(b, zeros, kern.qTiles, ValueRange{i});
            return SmallVector<Value>{};
          });
  forLoop(kern.zero, idx(c.rowsPerGroup), kern.one, {}, [&](Value rr,
                                                             ValueRange) {
    Value qBase = memref::LoadOp::create(b, kern.qOff, ValueRange{rr});
    Value rt = arith::DivUIOp::create(b, rr, idx(kTileRows));
    Value n2 = mulc(arith::RemUIOp::create(b, rr, idx(kTileRows)), 2);
    forLoop(kern.zero, idx(KC), kern.one, {}, [&](Value kc, ValueRange) {
      Value chunk = vector::LoadOp::create(
          b, chunkTy, kern.q, ValueRange{add(qBase, mulc(kc, kTilePairs))});
      Value tile = mulc(add(mulc(kc, RT), rt), tileElems);
      for (int64_t k2 = 0; k2 < kTilePairs / 2; ++k2) {
        Value pair = vector::ExtractStridedSliceOp::create(
            b, chunk, ArrayRef<int64_t>{2 * k2}, ArrayRef<int64_t>{2},
            ArrayRef<int64_t>{1});
        vector::StoreOp::create(b, pair, kern.qTiles,
                                ValueRange{add(addc(tile, k2 * kTilePairs),
                                               n2)});
      }
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
}

void KernelEmitter::emitScoresAMX(PartialKernel &kern) {
  const int64_t TB = kern.tileTokens, D = c.rowWidth(), KC = D / kTilePairs,
                RT = kern.paddedRows / kTileRows, RGp = kern.paddedRows;
  const int64_t tokenStride =
      c.headCaches ? c.kvHeads * c.rowWidth() : c.rowWidth();
  Type bf16 = b.getBF16Type();
  auto aTy = amx::TileType::get({kTileRows, kTilePairs}, bf16);
  auto cTy = amx::TileType::get({kTileRows, kTileRows}, b.getF32Type());
  auto chunkTy = VectorType::get({kTilePairs}, bf16);
  auto dynBF16 = MemRefType::get({ShapedType::kDynamic}, bf16);

  // Each block of 16 tokens as one A tile source: the cache itself when its
  // rows are evenly spaced (one page), else a copy.
  struct KeySource {
    Value mem, base, stride;
  };
  SmallVector<KeySource> keys;
  for (int64_t tb = 0; tb < TB / kTileRows; ++tb) {
    // Every row checked: pages may be contiguous in parts, clamped tokens
    // repeat a row.
    Value first = memref::LoadOp::create(b, kern.kvOff,
                                         ValueRange{idx(tb * kTileRows)});
    Value even;
    for (int64_t j = 1; j < kTileRows; ++j) {
      Value off = memref::LoadOp::create(
          b, kern.kvOff, ValueRange{idx(tb * kTileRows + j)});
      Value eq = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, off,
                                       addc(first, j * tokenStride));
      even = even ? arith::AndIOp::create(b, even, eq).getResult() : eq;
    }
    auto ifOp = scf::IfOp::create(
        b, TypeRange{dynBF16, idxTy, idxTy}, even, /*withElseRegion=*/true);
    {
      OpBuilder::InsertionGuard guard(b);
      b.setInsertionPointToStart(ifOp.thenBlock());
      scf::YieldOp::create(
          b, ValueRange{kern.kv, first, idx(tokenStride)});
      b.setInsertionPointToStart(ifOp.elseBlock());
      Value stage0 = idx(tb * kTileRows * D);
      forLoop(kern.zero, idx(kTileRows), kern.one, {}, [&](Value j,
                                                           ValueRange) {
        Value src = memref::LoadOp::create(
            b, kern.kvOff, ValueRange{addc(j, tb * kTileRows)});
        Value dst = add(stage0, mulc(j, D));
        forLoop(kern.zero, idx(D), idx(kTilePairs), {}, [&](Value d,
                                                            ValueRange) {
          Value v = vector::LoadOp::create(b, chunkTy, kern.kv,
                                           ValueRange{add(src, d)});
          vector::StoreOp::create(b, v, kern.keyStage,
                                  ValueRange{add(dst, d)});
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });
      scf::YieldOp::create(b, ValueRange{kern.keyStage, stage0, idx(D)});
    }
    keys.push_back(
        {ifOp.getResult(0), ifOp.getResult(1), ifOp.getResult(2)});
  }

  // Blocks of 2 token blocks x 2 row tiles: 4 C, 2 A and 2 B tiles, the
  // 8 registers. Token blocks outer, so that each pair's key tiles come
  // from memory once and from L1 for the other row tiles; the row width in
  // KH parts, so that a pair's key tiles of a part fit in L1 beside the
  // query tiles streaming past (the partial scores go to memory between
  // parts). A tile load waits on its 16 lines and cannot start before the
  // products reading its register are done: from L2, the loads and not the
  // products were the bound.
  const int64_t KH = (KC + 8) / 9;
  auto block = [&](int64_t tb0, Value rt0, int64_t rowTiles, int64_t kc0,
                   int64_t kc1) {
    SmallVector<Value> acc, at;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t r = 0; r < rowTiles; ++r) {
        at.push_back(add(idx((tb0 + i) * kTileRows * RGp),
                         mulc(addc(rt0, r), kTileRows)));
        acc.push_back(kc0 == 0 ? amx::TileZeroOp::create(b, cTy).getResult()
                               : amx::TileLoadOp::create(b, cTy, kern.scores,
                                                         ValueRange{at.back()},
                                                         idx(RGp))
                                     .getResult());
      }
    for (int64_t kc = kc0; kc < kc1; ++kc) {
      SmallVector<Value> a, bt;
      for (int64_t tb = tb0; tb < tb0 + 2; ++tb)
        a.push_back(amx::TileLoadOp::create(
            b, aTy, keys[tb].mem,
            ValueRange{addc(keys[tb].base, kc * kTilePairs)}, keys[tb].stride));
      for (int64_t r = 0; r < rowTiles; ++r) {
        Value q = mulc(add(idx(kc * RT), addc(rt0, r)), kTileRows * kTilePairs);
        bt.push_back(amx::TileLoadOp::create(b, aTy, kern.qTiles, ValueRange{q},
                                             idx(kTilePairs)));
      }
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t r = 0; r < rowTiles; ++r)
          acc[i * rowTiles + r] = amx::TileMulFOp::create(
              b, cTy, a[i], bt[r], acc[i * rowTiles + r]);
    }
    for (int64_t k = 0; k < 2 * rowTiles; ++k)
      amx::TileStoreOp::create(b, kern.scores, ValueRange{at[k]}, acc[k],
                               idx(RGp));
  };
  for (int64_t h = 0; h < KH; ++h) {
    const int64_t kc0 = KC * h / KH, kc1 = KC * (h + 1) / KH;
    for (int64_t tb0 = 0; tb0 < TB / kTileRows; tb0 += 2) {
      if (RT >= 2)
        forLoop(kern.zero, idx(RT / 2 * 2), idx(2), {},
                [&](Value rt, ValueRange) {
                  block(tb0, rt, 2, kc0, kc1);
                  return SmallVector<Value>{};
                });
      if (RT % 2)
        block(tb0, idx(RT - 1), 1, kc0, kc1);
    }
  }
}

void KernelEmitter::emitSoftmaxAMX(PartialKernel &kern, Value t) {
  const int64_t TB = kern.tileTokens, RT = kern.paddedRows / kTileRows,
                RGp = kern.paddedRows;
  // Tokens a step of the max pass, and its independent maxima.
  constexpr int64_t kMaxUnroll = 8, kMaxChains = 4;
  Type bf16 = b.getBF16Type(), i32 = b.getI32Type();
  auto rowsTy = VectorType::get({kTileRows}, f32);
  auto rowsBF16Ty = VectorType::get({kTileRows}, bf16);
  auto rowsI32Ty = VectorType::get({kTileRows}, i32);
  auto chunkTy = VectorType::get({kTilePairs}, bf16);
  flash::OnlineSoftmax softmax(*this, math, flash::OnlineSoftmax::Base::E);
  Value scaleRows =
      vector::BroadcastOp::create(b, rowsTy, softmax.scoreScale(kern.scale));
  Value tI32 = arith::IndexCastOp::create(b, i32, t);
  Value t1I32 = arith::IndexCastOp::create(b, i32, kern.range.t1);
  Value negInfRows = vector::BroadcastOp::create(b, rowsTy, kern.negInf);
  Value zeroRows = vector::BroadcastOp::create(b, rowsTy, kern.zeroF);
  // Masked tiles (causal with several queries, windows) take the vector
  // kernel's P V, which reads P in f32 from the scores.
  const bool keepF32 = (c.causal && c.qLen > 1) || c.window;
  SmallVector<int64_t> interleave;
  for (int64_t n = 0; n < kTileRows; ++n)
    interleave.append({n, kTileRows + n});

  forLoop(kern.zero, idx(RT), kern.one, {}, [&](Value rt, ValueRange) {
    Value rows = mulc(rt, kTileRows);
    RowMask mask = rowMask(kern, rows, kTileRows, t1I32);
    auto at = [&](Value j) { return add(mulc(j, RGp), rows); };
    // 1. The scaled, masked scores back in place, and their max.
    SmallVector<Value> inits(kMaxChains, negInfRows);
    auto maxLoop = forLoop(
        kern.zero, idx(TB), idx(kMaxUnroll), inits,
        [&](Value j0, ValueRange m) {
          SmallVector<Value> next(m.begin(), m.end());
          for (int64_t u = 0; u < kMaxUnroll; ++u) {
            Value j = addc(j0, u);
            Value raw = loadF32Vec(kern.scores, at(j));
            Value sj =
                maskedScores(kern, softmax, mask, tI32, j, raw, scaleRows);
            vector::StoreOp::create(b, sj, kern.scores, ValueRange{at(j)});
            next[u % kMaxChains] = math.max(next[u % kMaxChains], sj);
          }
          return next;
        });
    SmallVector<Value> m(maxLoop.getResults());
    while (m.size() > 1) {
      m[0] = math.max(m[0], m.back());
      m.pop_back();
      if (m.size() > 1) {
        m[1] = math.max(m[1], m.back());
        m.pop_back();
      }
    }
    Value mOld = loadF32Vec(kern.rowM, rows);
    flash::OnlineSoftmax::Step step = softmax.rescale(mOld, m[0]);
    // 2. Per 32 tokens: the probabilities, their sums, and the A tile of
    // P V: each row's 16 pairs (tokens 2 jp, 2 jp + 1) rounded to bf16,
    // 16 x 16 pairs transposed so that a row of the tile is a query row.
    auto sumLoop = forLoop(
        kern.zero, idx(TB / kTilePairs), kern.one, {zeroRows, zeroRows},
        [&](Value ks, ValueRange sums) {
          SmallVector<Value> next(sums.begin(), sums.end());
          SmallVector<Value> pairs;
          Value j0 = mulc(ks, kTilePairs);
          for (int64_t jp = 0; jp < kTilePairs / 2; ++jp) {
            Value half[2];
            for (int64_t e = 0; e < 2; ++e) {
              Value j = addc(j0, 2 * jp + e);
              Value p = softmax.probability(loadF32Vec(kern.scores, at(j)),
                                            step.mSafe);
              if (keepF32)
                vector::StoreOp::create(b, p, kern.scores, ValueRange{at(j)});
              next[e] = arith::AddFOp::create(b, next[e], p);
              half[e] = arith::TruncFOp::create(b, rowsBF16Ty, p);
            }
            Value w =
                vector::ShuffleOp::create(b, half[0], half[1], interleave);
            pairs.push_back(vector::BitCastOp::create(b, rowsI32Ty, w));
          }
          transposeLanes(pairs);
          Value tile = add(mulc(rt, kTileRows * TB), j0);
          for (int64_t n = 0; n < kTileRows; ++n) {
            Value row = vector::BitCastOp::create(b, chunkTy, pairs[n]);
            vector::StoreOp::create(b, row, kern.pTiles,
                                    ValueRange{addc(tile, n * TB)});
          }
          return next;
        });
    Value pSum =
        arith::AddFOp::create(b, sumLoop.getResult(0), sumLoop.getResult(1));
    Value lOld = loadF32Vec(kern.rowL, rows);
    vector::StoreOp::create(b, softmax.sum(lOld, step.alpha, pSum), kern.rowL,
                            ValueRange{rows});
    vector::StoreOp::create(b, step.mNew, kern.rowM, ValueRange{rows});
    vector::StoreOp::create(b, step.alpha, kern.alphaBuf, ValueRange{rows});
    return SmallVector<Value>{};
  });
}

void KernelEmitter::interleaveValuesAMX(PartialKernel &kern) {
  const int64_t vStride = vTileStride(c);
  auto chunkTy = VectorType::get({kTilePairs}, b.getBF16Type());
  // Row k2 of dc chunk cc holds, for each of its 16 columns, the pair of
  // tokens 2 k2 and 2 k2 + 1.
  SmallVector<int64_t> lo, hi;
  for (int64_t n = 0; n < kTileRows; ++n) {
    lo.append({n, kTilePairs + n});
    hi.append({kTileRows + n, kTilePairs + kTileRows + n});
  }
  forLoop(
      kern.zero, idx(kern.tileTokens / 2), kern.one, {},
      [&](Value k2, ValueRange) {
        Value j = mulc(k2, 2);
        Value r0 = memref::LoadOp::create(b, kern.kvOff, ValueRange{j});
        Value r1 =
            memref::LoadOp::create(b, kern.kvOff, ValueRange{addc(j, 1)});
        Value dst = mulc(k2, vStride);
        // The next tile's rows 2 k2 and 2 k2 + 1 into L2, a line at a time, so
        // that its key tiles (read in place) do not wait on memory.
        for (int64_t e = 0; e < 2; ++e) {
          Value next =
              memref::LoadOp::create(b, kern.nextOff, ValueRange{addc(j, e)});
          // fp8: the cache's bytes (kv is the tile's stage).
          const int64_t rowLen = c.cacheRowStride();
          for (Value mem : c.headCaches
                               ? SmallVector<Value>{kern.kv, kern.values}
                               : SmallVector<Value>{kern.cache})
            for (int64_t line = 0; line < rowLen; line += kTilePairs)
              memref::PrefetchOp::create(b, mem, ValueRange{addc(next, line)},
                                         /*isWrite=*/false, /*localityHint=*/2,
                                         /*isDataCache=*/true);
        }
        forLoop(kern.zero, idx(c.dc), idx(kTilePairs), {},
                [&](Value d, ValueRange) {
                  Value x = vector::LoadOp::create(b, chunkTy, kern.values,
                                                   ValueRange{add(r0, d)});
                  Value y = vector::LoadOp::create(b, chunkTy, kern.values,
                                                   ValueRange{add(r1, d)});
                  Value at = add(dst, mulc(d, 2));
                  Value pairsLo = vector::ShuffleOp::create(b, x, y, lo);
                  vector::StoreOp::create(b, pairsLo, kern.vTiles,
                                          ValueRange{at});
                  Value pairsHi = vector::ShuffleOp::create(b, x, y, hi);
                  vector::StoreOp::create(b, pairsHi, kern.vTiles,
                                          ValueRange{addc(at, kTilePairs)});
                  return SmallVector<Value>{};
                });
        return SmallVector<Value>{};
      });
}

void KernelEmitter::emitPVAMX(PartialKernel &kern) {
  const int64_t TB = kern.tileTokens, RT = kern.paddedRows / kTileRows,
                dc = c.dc, VL = c.vectorWidth, vStride = vTileStride(c);
  Type bf16 = b.getBF16Type();
  auto aTy = amx::TileType::get({kTileRows, kTilePairs}, bf16);
  auto cTy = amx::TileType::get({kTileRows, kTileRows}, f32);

  // 1. acc *= alpha, for the rows whose running max moved (alpha != 1).
  forLoop(
      kern.zero, idx(c.rowsPerGroup), kern.one, {}, [&](Value r, ValueRange) {
        Value alpha = memref::LoadOp::create(b, kern.alphaBuf, ValueRange{r});
        Value moved = arith::CmpFOp::create(b, arith::CmpFPredicate::UNE, alpha,
                                            f32c(1.0f));
        auto ifOp = scf::IfOp::create(b, moved, /*withElseRegion=*/false);
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPointToStart(ifOp.thenBlock());
        Value alphaVec = vector::BroadcastOp::create(b, vecTy, alpha);
        Value row = mulc(r, kern.accStride);
        forLoop(kern.zero, idx(dc), idx(VL), {}, [&](Value d, ValueRange) {
          Value at = add(row, d);
          vector::StoreOp::create(
              b, arith::MulFOp::create(b, loadF32Vec(kern.acc, at), alphaVec),
              kern.acc, ValueRange{at});
          return SmallVector<Value>{};
        });
        return SmallVector<Value>{};
      });

  // 2. V as B tiles, once for all rows.
  interleaveValuesAMX(kern);

  // 3. acc += P V: blocks of 2 row tiles x 2 dc chunks (4 C, 2 A, 2 B),
  // chunks inner, so that the row pair's P tiles stay in L1 and its
  // accumulators stream through L2 in address order.
  auto block = [&](Value cc, Value rt0, int64_t rowTiles) {
    SmallVector<Value> acc, at;
    for (int64_t r = 0; r < rowTiles; ++r)
      for (int64_t i = 0; i < 2; ++i) {
        at.push_back(add(mulc(addc(rt0, r), kTileRows * kern.accStride),
                         mulc(addc(cc, i), kTileRows)));
        acc.push_back(amx::TileLoadOp::create(
            b, cTy, kern.acc, ValueRange{at.back()}, idx(kern.accStride)));
      }
    // Every k step of the tile before the accumulators go back: their
    // loads and stores (L2 at 128 rows) are the bound, not the products.
    for (int64_t ks = 0; ks < TB / kTilePairs; ++ks) {
      SmallVector<Value> a, bt;
      for (int64_t r = 0; r < rowTiles; ++r)
        a.push_back(amx::TileLoadOp::create(
            b, aTy, kern.pTiles,
            ValueRange{addc(mulc(addc(rt0, r), kTileRows * TB),
                            ks * kTilePairs)},
            idx(TB)));
      for (int64_t i = 0; i < 2; ++i)
        bt.push_back(amx::TileLoadOp::create(
            b, aTy, kern.vTiles,
            ValueRange{addc(mulc(addc(cc, i), kTilePairs),
                            ks * kTileRows * vStride)},
            idx(vStride)));
      for (int64_t r = 0; r < rowTiles; ++r)
        for (int64_t i = 0; i < 2; ++i)
          acc[r * 2 + i] = amx::TileMulFOp::create(b, cTy, a[r], bt[i],
                                                   acc[r * 2 + i]);
    }
    for (int64_t k = 0; k < 2 * rowTiles; ++k)
      amx::TileStoreOp::create(b, kern.acc, ValueRange{at[k]}, acc[k],
                               idx(kern.accStride));
  };
  auto chunks = [&](Value rt, int64_t rowTiles) {
    forLoop(kern.zero, idx(dc / kTileRows), idx(2), {},
            [&](Value cc, ValueRange) {
              block(cc, rt, rowTiles);
              return SmallVector<Value>{};
            });
  };
  if (RT >= 2)
    forLoop(kern.zero, idx(RT / 2 * 2), idx(2), {}, [&](Value rt, ValueRange) {
      chunks(rt, 2);
      return SmallVector<Value>{};
    });
  if (RT % 2)
    chunks(idx(RT - 1), 1);
}
