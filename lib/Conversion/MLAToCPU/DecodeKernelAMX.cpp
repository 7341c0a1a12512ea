//===- DecodeKernelAMX.cpp - the CPU partial kernel on AMX tiles -*- C++ -*-===//
//
// The partial kernel of bf16 caches on AMX (tdpbf16ps: C[16x16] f32 +=
// A[16x32] bf16 * B[32x16] bf16, B in pairs of rows), through the upstream
// amx dialect. Per tile of 128 tokens (kAMXTileTokens), for all rows of the
// group (up to 128, so that a sequence's cache is read once):
//   1. S^T = K Q^T: A is 16 cache rows read in place (or from a copy when
//      the 16 rows are not evenly spaced: pages under 16 tokens, clamped
//      tails), B is Q^T, packed once per work item; C lands token-major in
//      the scores, which the vector kernel's online softmax takes as they
//      are.
//   2. P V: P rounded to bf16 (the one place of bf16 rounding beyond the
//      storage, as in FlashAttention), transposed into A tiles; V
//      pair-interleaved once into B tiles, shared by all rows, while the
//      next tile's rows are prefetched into L2; the f32 accumulators in
//      L2, loaded and stored once per 4 k steps, rescaled only for rows
//      whose max moved.
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
  // 8 registers. The reduction over the row width is unrolled.
  auto block = [&](Value rt0, int64_t rowTiles) {
    for (int64_t tb0 = 0; tb0 < TB / kTileRows; tb0 += 2) {
      SmallVector<Value> acc;
      for (int64_t i = 0; i < 2 * rowTiles; ++i)
        acc.push_back(amx::TileZeroOp::create(b, cTy));
      for (int64_t kc = 0; kc < KC; ++kc) {
        SmallVector<Value> a, bt;
        for (int64_t tb = tb0; tb < tb0 + 2; ++tb)
          a.push_back(amx::TileLoadOp::create(
              b, aTy, keys[tb].mem,
              ValueRange{addc(keys[tb].base, kc * kTilePairs)},
              keys[tb].stride));
        for (int64_t r = 0; r < rowTiles; ++r) {
          Value at = mulc(add(idx(kc * RT), addc(rt0, r)),
                          kTileRows * kTilePairs);
          bt.push_back(amx::TileLoadOp::create(b, aTy, kern.qTiles,
                                               ValueRange{at},
                                               idx(kTilePairs)));
        }
        for (int64_t i = 0; i < 2; ++i)
          for (int64_t r = 0; r < rowTiles; ++r)
            acc[i * rowTiles + r] = amx::TileMulFOp::create(
                b, cTy, a[i], bt[r], acc[i * rowTiles + r]);
      }
      for (int64_t i = 0; i < 2; ++i)
        for (int64_t r = 0; r < rowTiles; ++r) {
          Value at = add(idx((tb0 + i) * kTileRows * RGp),
                         mulc(addc(rt0, r), kTileRows));
          amx::TileStoreOp::create(b, kern.scores, ValueRange{at},
                                   acc[i * rowTiles + r], idx(RGp));
        }
    }
  };
  if (RT >= 2)
    forLoop(kern.zero, idx(RT / 2 * 2), idx(2), {}, [&](Value rt,
                                                        ValueRange) {
      block(rt, 2);
      return SmallVector<Value>{};
    });
  if (RT % 2)
    block(idx(RT - 1), 1);
}

void KernelEmitter::emitPVAMX(PartialKernel &kern) {
  const int64_t TB = kern.tileTokens, RT = kern.paddedRows / kTileRows,
                RGp = kern.paddedRows, dc = c.dc, VL = c.vectorWidth,
                vStride = vTileStride(c);
  Type bf16 = b.getBF16Type(), i32 = b.getI32Type();
  auto aTy = amx::TileType::get({kTileRows, kTilePairs}, bf16);
  auto cTy = amx::TileType::get({kTileRows, kTileRows}, f32);
  auto chunkTy = VectorType::get({kTilePairs}, bf16);
  auto rowsBF16Ty = VectorType::get({kTileRows}, bf16);
  auto rowsI32Ty = VectorType::get({kTileRows}, i32);

  // 1. acc *= alpha, for the rows whose running max moved (alpha != 1).
  forLoop(kern.zero, idx(c.rowsPerGroup), kern.one, {}, [&](Value r,
                                                             ValueRange) {
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

  // 2. P as A tiles: per row tile, token pairs (2 jp, 2 jp + 1) of the
  // token-major scores rounded and interleaved, lane n = the pair of row n;
  // the 16 x 16 pairs transposed so that each row of A is a query row.
  SmallVector<int64_t> interleave;
  for (int64_t n = 0; n < kTileRows; ++n) {
    interleave.push_back(n);
    interleave.push_back(kTileRows + n);
  }
  forLoop(kern.zero, idx(RT), kern.one, {}, [&](Value rt, ValueRange) {
    Value rowBase = mulc(rt, kTileRows);
    for (int64_t ks = 0; ks < TB / kTilePairs; ++ks) {
    SmallVector<Value> pairs;
    for (int64_t jp = ks * kTileRows; jp < (ks + 1) * kTileRows; ++jp) {
      Value p[2];
      for (int64_t e = 0; e < 2; ++e) {
        Value s = loadF32Vec(kern.scores,
                             add(idx((2 * jp + e) * RGp), rowBase));
        p[e] = arith::TruncFOp::create(b, rowsBF16Ty, s);
      }
      Value w = vector::ShuffleOp::create(b, p[0], p[1], interleave);
      pairs.push_back(vector::BitCastOp::create(b, rowsI32Ty, w));
    }
    transposeLanes(pairs);
    Value tile = mulc(rt, kTileRows * TB);
    for (int64_t n = 0; n < kTileRows; ++n)
      vector::StoreOp::create(
          b, vector::BitCastOp::create(b, chunkTy, pairs[n]), kern.pTiles,
          ValueRange{addc(tile, n * TB + ks * kTilePairs)});
    }
    return SmallVector<Value>{};
  });

  // 3. V as B tiles: row k2 of dc chunk cc holds, for each of its 16
  // columns, the pair of tokens 2 k2 and 2 k2 + 1.
  SmallVector<int64_t> lo, hi;
  for (int64_t n = 0; n < kTileRows; ++n) {
    lo.append({n, kTilePairs + n});
    hi.append({kTileRows + n, kTilePairs + kTileRows + n});
  }
  forLoop(kern.zero, idx(TB / 2), kern.one, {}, [&](Value k2, ValueRange) {
    Value j = mulc(k2, 2);
    Value r0 = memref::LoadOp::create(b, kern.kvOff, ValueRange{j});
    Value r1 = memref::LoadOp::create(b, kern.kvOff, ValueRange{addc(j, 1)});
    Value dst = mulc(k2, vStride);
    // The next tile's rows 2 k2 and 2 k2 + 1 into L2, a line at a time, so
    // that its key tiles (read in place) do not wait on memory.
    for (int64_t e = 0; e < 2; ++e) {
      Value next =
          memref::LoadOp::create(b, kern.nextOff, ValueRange{addc(j, e)});
      // fp8: the cache's bytes (kv is the tile's stage).
      const int64_t rowLen = c.cacheRowStride();
      for (Value mem : c.headCaches ? SmallVector<Value>{kern.kv, kern.values}
                                    : SmallVector<Value>{kern.cache})
        for (int64_t line = 0; line < rowLen; line += kTilePairs)
          memref::PrefetchOp::create(b, mem, ValueRange{addc(next, line)},
                                     /*isWrite=*/false, /*localityHint=*/2,
                                     /*isDataCache=*/true);
    }
    forLoop(kern.zero, idx(dc), idx(kTilePairs), {}, [&](Value d,
                                                         ValueRange) {
      Value x = vector::LoadOp::create(b, chunkTy, kern.values,
                                       ValueRange{add(r0, d)});
      Value y = vector::LoadOp::create(b, chunkTy, kern.values,
                                       ValueRange{add(r1, d)});
      Value at = add(dst, mulc(d, 2));
      vector::StoreOp::create(b, vector::ShuffleOp::create(b, x, y, lo),
                              kern.vTiles, ValueRange{at});
      vector::StoreOp::create(b, vector::ShuffleOp::create(b, x, y, hi),
                              kern.vTiles, ValueRange{addc(at, kTilePairs)});
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });

  // 4. acc += P V: blocks of 2 row tiles x 2 dc chunks (4 C, 2 A, 2 B),
  // row tiles inner so that a chunk's V tiles and all of P stay in L1 while
  // the accumulators stream through L2.
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
  forLoop(kern.zero, idx(dc / kTileRows), idx(2), {}, [&](Value cc,
                                                          ValueRange) {
    if (RT >= 2)
      forLoop(kern.zero, idx(RT / 2 * 2), idx(2), {}, [&](Value rt,
                                                          ValueRange) {
        block(cc, rt, 2);
        return SmallVector<Value>{};
      });
    if (RT % 2)
      block(cc, idx(RT - 1), 1);
    return SmallVector<Value>{};
  });
}
