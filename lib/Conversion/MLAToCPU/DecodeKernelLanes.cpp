//===- DecodeKernelLanes.cpp - QK^T with the rows in vector lanes -*- C++
//-*-===//
//
// The vector kernels' scores for groups of 16 rows or more (AVX-512, f32 or
// bf16 through vdpbf16ps), blocked as a GEMM would: S^T = K Q^T with Q^T
// packed once a work item ([unit of the row width][row], a unit being an f32
// or a pair of bf16 as one i32), and each key unit broadcast against up to 4
// vectors of 16 rows. The accumulators are the token-major scores the
// softmax reads, so no reduction across lanes is left (the rows x tokens
// blocks of emitScores end in log2(16) levels of shuffles).
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"

#include "mlir/Dialect/X86Vector/X86VectorDialect.h"

using namespace mlir;
using namespace mlir::mla;
using namespace mlir::mla::cpu_kernels;

void KernelEmitter::transposeLanes(SmallVectorImpl<Value> &rows) {
  const int64_t n = rows.size();
  // At block size bs, rows i and i + bs swap their off-diagonal bs x bs
  // blocks.
  for (int64_t bs = n / 2; bs >= 1; bs /= 2) {
    SmallVector<int64_t> lo, hi;
    for (int64_t l = 0; l < n; ++l) {
      lo.push_back(l & bs ? n + l - bs : l);
      hi.push_back(l & bs ? n + l : l + bs);
    }
    for (int64_t i = 0; i < n; ++i) {
      if (i & bs)
        continue;
      Value x = rows[i], y = rows[i + bs];
      rows[i] = vector::ShuffleOp::create(b, x, y, lo);
      rows[i + bs] = vector::ShuffleOp::create(b, x, y, hi);
    }
  }
}

void KernelEmitter::packQueriesByLanes(PartialKernel &kern) {
  const int64_t VL = c.vectorWidth, RG = c.rowsPerGroup, RGp = kern.paddedRows,
                unit = c.bf16Dot ? 2 : 1, units = c.rowWidth() / unit;
  Type i32 = b.getI32Type();
  auto lanesTy = VectorType::get({VL}, i32);
  auto rowTy = VectorType::get({VL * unit}, c.elemType);
  kern.qLanes = stackBuffer(units * RGp, i32);
  Value zeros = arith::ConstantOp::create(
      b, lanesTy, DenseElementsAttr::get(lanesTy, b.getZeroAttr(i32)));
  SmallVector<Value> qBase;
  for (int64_t r = 0; r < RG; ++r)
    qBase.push_back(memref::LoadOp::create(b, kern.qOff, ValueRange{idx(r)}));
  // VL units of 16 rows at a time: the rows' units as vectors, transposed.
  forLoop(kern.zero, idx(units), idx(VL), {}, [&](Value u, ValueRange) {
    for (int64_t rb = 0; rb < RGp; rb += VL) {
      SmallVector<Value> rows;
      for (int64_t r = rb; r < rb + VL; ++r)
        rows.push_back(r < RG
                           ? vector::BitCastOp::create(
                                 b, lanesTy,
                                 vector::LoadOp::create(
                                     b, rowTy, kern.q,
                                     ValueRange{add(qBase[r], mulc(u, unit))}))
                                 .getResult()
                           : zeros);
      transposeLanes(rows);
      for (int64_t k = 0; k < VL; ++k)
        vector::StoreOp::create(b, rows[k], kern.qLanes,
                                ValueRange{addc(mulc(addc(u, k), RGp), rb)});
    }
    return SmallVector<Value>{};
  });
}

void KernelEmitter::emitScoresByLanes(PartialKernel &kern) {
  const int64_t D = c.rowWidth(), VL = c.vectorWidth, TB = kern.tileTokens,
                RGp = kern.paddedRows, unit = c.bf16Dot ? 2 : 1,
                RVB = c.laneRowVectors, JT = c.laneTokens,
                rowBlocks = RGp / VL / RVB;
  // A cache line of a row: 16 units of 4 bytes.
  const int64_t lineUnits = 64 / 4;
  const bool prefetch = kern.prefetch && !c.fp8Cache();
  Type i32 = b.getI32Type();
  auto lanesTy = VectorType::get({VL}, i32);
  auto operandTy = VectorType::get({VL * unit}, c.elemType);
  auto unitTy = VectorType::get({unit}, c.elemType);
  Value kv = kern.kv;
  forLoop(kern.zero, idx(TB), idx(JT), {}, [&](Value jb, ValueRange) {
    SmallVector<Value> kBase;
    for (int64_t j = 0; j < JT; ++j)
      kBase.push_back(
          memref::LoadOp::create(b, kern.kvOff, ValueRange{addc(jb, j)}));
    forLoop(
        kern.zero, idx(rowBlocks), kern.one, {}, [&](Value rbk, ValueRange) {
          Value rv0 = mulc(rbk, RVB * VL);
          // The next tile's rows a line per step, spread over the (token
          // block, row block) passes as in emitScores.
          SmallVector<Value> nextBase;
          if (prefetch) {
            const int64_t blocks = TB / JT * rowBlocks;
            Value k = add(
                mulc(arith::DivUIOp::create(b, jb, idx(JT)), rowBlocks), rbk);
            for (int64_t i = 0; i < (TB + blocks - 1) / blocks; ++i)
              nextBase.push_back(memref::LoadOp::create(
                  b, kern.nextOff,
                  ValueRange{minIdx(addc(k, i * blocks), idx(TB - 1))}));
          }
          SmallVector<Value> inits(JT * RVB, kern.zeroVec);
          auto dot = forLoop(
              kern.zero, idx(D / unit), idx(lineUnits), inits,
              [&](Value u0, ValueRange accs) {
                for (Value base : nextBase)
                  for (Value mem : c.headCaches
                                       ? SmallVector<Value>{kv, kern.values}
                                       : SmallVector<Value>{kv})
                    memref::PrefetchOp::create(
                        b, mem, ValueRange{add(base, mulc(u0, unit))},
                        /*isWrite=*/false, /*localityHint=*/2,
                        /*isDataCache=*/true);
                SmallVector<Value> acc(accs.begin(), accs.end());
                for (int64_t du = 0; du < lineUnits; ++du) {
                  Value u = addc(u0, du);
                  SmallVector<Value> qv;
                  for (int64_t k = 0; k < RVB; ++k)
                    qv.push_back(vector::BitCastOp::create(
                        b, operandTy,
                        vector::LoadOp::create(
                            b, lanesTy, kern.qLanes,
                            ValueRange{add(mulc(u, RGp), addc(rv0, k * VL))})));
                  for (int64_t j = 0; j < JT; ++j) {
                    Value at = add(kBase[j], mulc(u, unit));
                    Value key;
                    if (c.bf16Dot) {
                      Value pair = vector::ExtractOp::create(
                          b,
                          vector::BitCastOp::create(
                              b, VectorType::get({1}, i32),
                              vector::LoadOp::create(b, unitTy, kv,
                                                     ValueRange{at})),
                          ArrayRef<int64_t>{0});
                      key = vector::BitCastOp::create(
                          b, operandTy,
                          vector::BroadcastOp::create(b, lanesTy, pair));
                    } else {
                      key = vector::BroadcastOp::create(
                          b, vecTy,
                          memref::LoadOp::create(b, kv, ValueRange{at}));
                    }
                    for (int64_t k = 0; k < RVB; ++k) {
                      Value &a = acc[j * RVB + k];
                      a = c.bf16Dot
                              ? x86vector::DotBF16Op::create(b, a, qv[k], key)
                                    .getResult()
                              : vector::FMAOp::create(b, qv[k], key, a)
                                    .getResult();
                    }
                  }
                }
                return acc;
              });
          for (int64_t j = 0; j < JT; ++j)
            for (int64_t k = 0; k < RVB; ++k)
              vector::StoreOp::create(
                  b, dot.getResult(j * RVB + k), kern.scores,
                  ValueRange{add(mulc(addc(jb, j), RGp), addc(rv0, k * VL))});
          return SmallVector<Value>{};
        });
    return SmallVector<Value>{};
  });
}
