//===- DecodeKernelMMA.cpp - bf16/f16 decode kernel on mma.sync -*- C++ -*-===//
//
// The tensor-core partial kernel for sm_80 and later. A CTA serves a group
// of 16 * mTiles query rows of one sequence over one KV split; its warps are
// (m-tile, column split) pairs. The group's queries stay in shared memory
// for the whole split; cache tiles of T tokens stream through a double
// buffer filled by 16-byte cp.async (one tile in flight while the other is
// computed). Rows are padded by 16 bytes so that ldmatrix is conflict-free.
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
//===----------------------------------------------------------------------===//

#include "TensorCoreEmitter.h"

#include <limits>

using namespace mlir;
using namespace mlir::mla;
using mlir::mla::detail::GPUKernelEmitter;

namespace {

class MMAPartialEmitter : public mla::detail::TensorCoreEmitter {
public:
  using TensorCoreEmitter::TensorCoreEmitter;
  void emit();
};

void MMAPartialEmitter::emit() {
  OpBuilder::InsertionGuard guard(b);
  gpu::GPUFuncOp fn = makePartialKernel(/*alignment=*/128);
  Value q = fn.getArgument(0), kv = fn.getArgument(1), bt = fn.getArgument(2),
        lens = fn.getArgument(3), partOut = fn.getArgument(4),
        partML = fn.getArgument(5), numSplits = fn.getArgument(6),
        maxBlocks = fn.getArgument(7), scale = fn.getArgument(8);

  const int64_t D = c.rowWidth(), Dp = c.paddedWidth(), R = c.rows(),
                RG = c.rowsPerGroup, T = c.tileTokens, MT = c.mTiles,
                CS = c.colSplits, NT = c.threads(), KS = D / 16, NJ = T / 8,
                CW = c.dc / CS, NO = CW / 8, CH = D / 8,
                eb = c.elemType.getIntOrFloatBitWidth() / 8;
  const int64_t qOff = 0, kvOff = RG * Dp * eb, stageBytes = T * Dp * eb,
                redOff = (RG + 2 * T) * Dp * eb;

  Value qPtr = globalPtr(q), kvPtr = globalPtr(kv);
  Value split = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value group = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value seq = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value warp = divc(tid, 32), lane = remc(tid, 32);
  Value mt = remc(warp, MT), cs = divc(warp, MT);
  Value g = divc(lane, 4), t4 = remc(lane, 4);
  Value zero = idx(0), one = idx(1);
  Value negInf = f32c(-std::numeric_limits<float>::infinity());
  Value zeroF = f32c(0.0f);
  Value scaleLog2 = baseTwoSoftmax().scoreScale(scale);

  SplitRange range =
      splitRange(lens, seq, maxBlocks, numSplits, split, T);
  Value len = range.len, t0 = range.t0, t1 = range.t1,
        lastTok = range.lastTok;
  Value btBase = mul(seq, maxBlocks);

  /// Distributes `count` 16-byte chunks over the CTA's threads.
  auto forChunks = [&](int64_t count, function_ref<void(Value)> body) {
    for (int64_t base = 0; base < count; base += NT) {
      Value e = addc(tid, base);
      if (base + NT <= count) {
        body(e);
        continue;
      }
      auto inRange = scf::IfOp::create(
          b, arith::CmpIOp::create(b, arith::CmpIPredicate::ult, e, idx(count)),
          /*withElse=*/false);
      OpBuilder::InsertionGuard g(b);
      b.setInsertionPointToStart(inRange.thenBlock());
      body(e);
    }
  };
  // The group's query rows (clamped to the last row) into shared memory.
  forChunks(RG * CH, [&](Value e) {
    Value row = divc(e, CH), ch = remc(e, CH);
    Value r = minIdx(add(mulc(group, RG), row), idx(R - 1));
    Value src = globalAt(qPtr, add(mulc(add(mulc(seq, R), r), D), mulc(ch, 8)));
    copy16(addc(mulc(add(mulc(row, Dp), mulc(ch, 8)), eb), qOff), src);
  });
  // The tile of tokens [ts, ts + T) into `stage`, through the block table;
  // tokens past the split repeat its last one (their scores are masked).
  auto loadTile = [&](Value ts, Value stage) {
    Value stageAt = addc(mulc(stage, stageBytes), kvOff);
    forChunks(T * CH, [&](Value e) {
      Value j = divc(e, CH), ch = remc(e, CH);
      Value tok = minIdx(add(ts, j), lastTok);
      Value row = flash::cacheRow(*this, c, bt, btBase, tok);
      Value src = globalAt(kvPtr, add(mulc(row, D), mulc(ch, 8)));
      copy16(add(stageAt, mulc(add(mulc(j, Dp), mulc(ch, 8)), eb)), src);
    });
  };
  auto ifLess = [&](Value x, Value y, function_ref<void()> body) {
    auto op = scf::IfOp::create(
        b, arith::CmpIOp::create(b, arith::CmpIPredicate::slt, x, y),
        /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(op.thenBlock());
    body();
  };
  ifLess(t0, t1, [&] { loadTile(t0, zero); });
  NVVM::CpAsyncCommitGroupOp::create(b);

  // The two rows of this lane (g and g + 8 of the m-tile).
  FragmentRows rows = fragmentRows(mulc(mt, 16), g, group, len, t1);

  // Loop state: the output accumulators (NO n-tiles x 4), then the running
  // max (base 2) and the lane's partial sum of each of its two rows.
  SmallVector<Value> inits(NO * 4, zeroF);
  inits.append({negInf, negInf, zeroF, zeroF});
  auto tiles = forLoop(t0, t1, idx(T), inits, [&](Value ts, ValueRange st) {
    Value stage = remc(divc(arith::SubIOp::create(b, ts, t0), T), 2);
    Value nextTs = addc(ts, T);
    ifLess(nextTs, t1,
           [&] { loadTile(nextTs, arith::SubIOp::create(b, one, stage)); });
    NVVM::CpAsyncCommitGroupOp::create(b);
    NVVM::CpAsyncWaitGroupOp::create(b, 1);
    gpu::BarrierOp::create(b);
    Value tileAt = addc(mulc(stage, stageBytes), kvOff);

    // This warp's k-steps of S = Q K^T.
    Value aRow = add(mulc(mt, 16), remc(lane, 16));
    Value aCol = mulc(divc(lane, 16), 8);
    Value bTok = remc(lane, 8), bCol = mulc(remc(divc(lane, 8), 2), 8);
    Value bHalf = divc(lane, 16);
    SmallVector<Value> sInit(NJ * 4, zeroF);
    auto kLoop = forLoop(cs, idx(KS), idx(CS), sInit, [&](Value ks,
                                                          ValueRange acc) {
      Value k0 = mulc(ks, 16);
      SmallVector<Value> a = ldmatrix4(
          addc(mulc(add(mulc(aRow, Dp), add(k0, aCol)), eb), qOff), false);
      for (Value &v : a)
        v = operand(v);
      SmallVector<Value> s(acc);
      for (int64_t jp = 0; jp < NJ / 2; ++jp) {
        Value tok = add(mulc(addc(bHalf, 2 * jp), 8), bTok);
        SmallVector<Value> bb = ldmatrix4(
            add(tileAt, mulc(add(mulc(tok, Dp), add(k0, bCol)), eb)), false);
        for (Value &v : bb)
          v = operand(v);
        mma(a, {bb[0], bb[1]}, MutableArrayRef<Value>(s).slice(8 * jp, 4));
        mma(a, {bb[2], bb[3]}, MutableArrayRef<Value>(s).slice(8 * jp + 4, 4));
      }
      return s;
    });
    SmallVector<Value> s(kLoop.getResults());
    if (CS > 1) {
      // Every warp of the m-tile publishes its share; each adds them all.
      auto slot = [&](Value w, int64_t v) {
        return addc(mulc(add(mulc(addc(mulc(w, NJ * 4), v), 32), lane), 4),
                    redOff);
      };
      for (int64_t v = 0; v < NJ * 4; ++v)
        LLVM::StoreOp::create(b, s[v], shared(slot(warp, v)));
      gpu::BarrierOp::create(b);
      for (int64_t v = 0; v < NJ * 4; ++v) {
        Value sum = zeroF;
        for (int64_t w = 0; w < CS; ++w)
          sum = arith::AddFOp::create(
              b, sum,
              LLVM::LoadOp::create(b, f32, shared(slot(addc(mt, w * MT), v))));
        s[v] = sum;
      }
    }

    SmallVector<Value> next = onlineSoftmax(s, st, NO * 4, ts, t4,
                                            rows.limit, scaleLog2);

    // O += P V over this warp's columns [cs * CW, (cs + 1) * CW).
    Value vTok = add(remc(lane, 8), mulc(remc(divc(lane, 8), 2), 8));
    Value vCol = add(mulc(cs, CW), mulc(divc(lane, 16), 8));
    for (int64_t kk = 0; kk < T / 16; ++kk) {
      SmallVector<Value> a = pFragments(s, kk);
      Value rowAt = mulc(addc(vTok, 16 * kk), Dp);
      for (int64_t np = 0; np < NO / 2; ++np) {
        SmallVector<Value> bb = ldmatrix4(
            add(tileAt, mulc(add(rowAt, addc(vCol, 16 * np)), eb)), true);
        for (Value &v : bb)
          v = operand(v);
        mma(a, {bb[0], bb[1]}, MutableArrayRef<Value>(next).slice(8 * np, 4));
        mma(a, {bb[2], bb[3]},
            MutableArrayRef<Value>(next).slice(8 * np + 4, 4));
      }
    }
    // The tile's stage and the score slots are free for the next tile.
    gpu::BarrierOp::create(b);
    return next;
  });
  NVVM::CpAsyncWaitGroupOp::create(b, 0);

  // Partials: one column-split warp of each m-tile writes m and l.
  Value item = layout.item(*this, seq, group, split, numSplits);
  Value writesML = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, t4, zero),
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, cs, zero));
  storePartials(tiles.getResults(), NO * 4, item, rows, mulc(cs, CW), t4,
                writesML, partOut, partML);
  gpu::ReturnOp::create(b);
}

} // namespace

void GPUKernelEmitter::emitPartialMMA() {
  MMAPartialEmitter(b, c).emit();
}

