//===- TensorCoreEmitter.cpp - helpers of the tensor-core kernels --------===//
//
// The parts of the mma.sync and wgmma partial kernels that work on the
// accumulator layout (rows and limits, online softmax, partial stores), and
// the partial kernel's declaration.
//
//===----------------------------------------------------------------------===//

#include "TensorCoreEmitter.h"

#include <limits>

using namespace mlir;
using namespace mlir::mla;
using namespace mlir::mla::detail;

gpu::GPUFuncOp TensorCoreEmitter::makePartialKernel(uint64_t alignment,
                                                    TypeRange extra) {
  MLIRContext *ctx = b.getContext();
  ptr1 = LLVM::LLVMPointerType::get(ctx, 1);
  ptr3 = LLVM::LLVMPointerType::get(ctx, 3);
  auto smem = LLVM::GlobalOp::create(
      b, LLVM::LLVMArrayType::get(b.getI8Type(), 0), /*isConstant=*/false,
      LLVM::Linkage::External, "mla_partial_smem", Attribute(), alignment,
      /*addrSpace=*/3);
  auto dyn = ShapedType::kDynamic;
  auto elemMem = MemRefType::get({dyn}, c.elemType);
  auto cacheMem = MemRefType::get({dyn}, c.cacheElemType());
  auto i32Mem = MemRefType::get({dyn}, i32);
  auto f32Mem = MemRefType::get({dyn}, f32);
  SmallVector<Type> args = {elemMem, cacheMem, i32Mem, i32Mem, f32Mem,
                            f32Mem,  idxTy,    idxTy,  f32};
  if (c.headCaches)
    args.insert(args.begin() + 2, elemMem);
  args.append(extra.begin(), extra.end());
  gpu::GPUFuncOp fn = makeKernel("partial", args);
  setLaunchBounds(fn);
  b.setInsertionPointToStart(&fn.getBody().front());
  smemBase = LLVM::AddressOfOp::create(b, smem);
  return fn;
}

TensorCoreEmitter::FragmentRows
TensorCoreEmitter::fragmentRows(Value rowBase, Value g, Value group, Value len,
                                Value t1) {
  FragmentRows rows;
  Value zero = idx(0);
  // Local rows (of the group's KV head); past its last one, no row.
  const int64_t headRows = layout.kvHeadRows();
  for (int64_t k = 0; k < 2; ++k) {
    Value rr = addc(add(rowBase, g), 8 * k);
    Value r = add(layout.firstLocalRow(*this, group), rr);
    Value valid =
        arith::CmpIOp::create(b, arith::CmpIPredicate::ult, r, idx(headRows));
    Value row = layout.queryRow(*this, group, minIdx(r, idx(headRows - 1)));
    Value lim = flash::visibleEnd(*this, c, row, len);
    rows.limit.push_back(
        arith::SelectOp::create(b, valid, minIdx(lim, t1), zero));
    if (c.window)
      rows.start.push_back(flash::visibleStart(*this, c, row, len));
    rows.row.push_back(rr);
    rows.valid.push_back(valid);
  }
  return rows;
}

std::pair<Value, Value>
TensorCoreEmitter::wholeTiles(const flash::SplitRange &range,
                              int64_t tileTokens) {
  const int64_t tt = tileTokens;
  Value wholeEnd = range.t1;
  if (c.causal && c.qLen > 1)
    wholeEnd = minIdx(wholeEnd, flash::commonVisibleEnd(*this, c, range.len));
  wholeEnd = arith::MaxUIOp::create(b, wholeEnd, range.t0);
  Value end =
      add(range.t0,
          mulc(arith::DivUIOp::create(
                   b, arith::SubIOp::create(b, wholeEnd, range.t0), idx(tt)),
               tt));
  if (!c.window)
    return {range.t0, end};
  Value first = arith::MaxUIOp::create(
      b, flash::commonVisibleStart(*this, c, range.len), range.t0);
  Value ahead = addc(arith::SubIOp::create(b, first, range.t0), tt - 1);
  Value start =
      minIdx(add(range.t0, mulc(arith::DivUIOp::create(b, ahead, idx(tt)), tt)),
             range.t1);
  return {start, arith::MaxUIOp::create(b, end, start)};
}

SmallVector<Value>
TensorCoreEmitter::onlineSoftmax(MutableArrayRef<Value> s, ValueRange state,
                                 int64_t nAcc, Value ts, Value t4,
                                 const FragmentRows &rows, Value scaleLog2,
                                 ArrayRef<Value> slotHolds, bool masked) {
  flash::OnlineSoftmax softmax = baseTwoSoftmax();
  Value zeroF = f32c(0.0f);
  SmallVector<Value> rowMax(2, f32c(-std::numeric_limits<float>::infinity()));
  for (int64_t v = 0; v < int64_t(s.size()); ++v) {
    int64_t k = (v / 2) % 2;
    if (!masked) {
      s[v] = arith::MulFOp::create(b, s[v], scaleLog2);
      rowMax[k] = maxf(rowMax[k], s[v]);
      continue;
    }
    Value tok = addc(add(ts, mulc(t4, 2)), 8 * (v / 4) + v % 2);
    Value visible =
        arith::CmpIOp::create(b, arith::CmpIPredicate::slt, tok, rows.limit[k]);
    if (!rows.start.empty())
      visible = arith::AndIOp::create(
          b, visible,
          arith::CmpIOp::create(b, arith::CmpIPredicate::sge, tok,
                                rows.start[k]));
    if (!slotHolds.empty())
      visible =
          arith::AndIOp::create(b, visible, slotHolds[2 * (v / 4) + v % 2]);
    s[v] = softmax.maskedScore(visible, s[v], scaleLog2);
    rowMax[k] = maxf(rowMax[k], s[v]);
  }
  SmallVector<Value> next(state.begin(), state.end());
  SmallVector<flash::OnlineSoftmax::Step, 2> steps;
  SmallVector<Value, 2> moved;
  for (int64_t k = 0; k < 2; ++k) {
    Value mOld = state[nAcc + k];
    Value tileMax = quadReduce(rowMax[k], /*max=*/true);
    if (lazyRescaleLog2 > 0) {
      // The row keeps its max unless the tile's exceeds it by more than the
      // threshold: the same max then scales the outputs and the sum, so the
      // result is exact, and a probability stays below 2^threshold.
      Value candidate = maxf(mOld, tileMax);
      Value bound = arith::AddFOp::create(b, mOld, f32c(lazyRescaleLog2));
      Value move =
          arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, candidate, bound);
      tileMax = arith::SelectOp::create(b, move, candidate, mOld);
      moved.push_back(move);
    }
    steps.push_back(softmax.rescale(mOld, tileMax));
    next[nAcc + k] = steps[k].mNew;
  }
  SmallVector<Value> rowSum(2, zeroF);
  for (int64_t v = 0; v < int64_t(s.size()); ++v) {
    int64_t k = (v / 2) % 2;
    s[v] = softmax.probability(s[v], steps[k].mSafe);
    rowSum[k] = arith::AddFOp::create(b, rowSum[k], s[v]);
  }
  for (int64_t k = 0; k < 2; ++k)
    next[nAcc + 2 + k] =
        softmax.sum(state[nAcc + 2 + k], steps[k].alpha, rowSum[k]);
  auto rescaled = [&] {
    SmallVector<Value> acc;
    for (int64_t v = 0; v < nAcc; ++v)
      acc.push_back(
          arith::MulFOp::create(b, state[v], steps[(v / 2) % 2].alpha));
    return acc;
  };
  if (moved.empty()) {
    llvm::copy(rescaled(), next.begin());
    return next;
  }
  // Unmoved rows have alpha = 1: the warp rescales only when one of its
  // rows moved, which after the first tiles is rare.
  Value any = NVVM::VoteSyncOp::create(
      b, b.getI1Type(), i32c(-1), arith::OrIOp::create(b, moved[0], moved[1]),
      NVVM::VoteSyncKind::any);
  auto ifOp = scf::IfOp::create(b, SmallVector<Type>(nAcc, f32), any,
                                /*withElseRegion=*/true);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, rescaled());
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, state.take_front(nAcc));
  }
  llvm::copy(ifOp.getResults(), next.begin());
  return next;
}

SmallVector<Value> TensorCoreEmitter::visiblePV(
    ArrayRef<Value> p, ValueRange acc, Value ts, int64_t tileTokens,
    Value len, Value group, const FragmentRows &rows,
    function_ref<void(const PFragments &, MutableArrayRef<Value>)> pv,
    function_ref<void(Value, Value)> zeroVOutside) {
  // P packed to the A fragments of the k16 steps once: a turn keeps them.
  SmallVector<Value> frags;
  for (int64_t kk = 0; kk < tileTokens / 16; ++kk)
    llvm::append_range(frags, pFragments(p, kk));
  SmallVector<Value> sum(acc.begin(), acc.end());
  const bool endsDiffer = c.causal && c.qLen > 1;
  if (!endsDiffer && !c.window) {
    pv(PFragments{frags, {}}, sum);
    return sum;
  }
  // One loop, one P V in the code (a second copy costs registers): a single
  // turn for all rows unless the tile straddles.
  Value tileEnd = addc(ts, tileTokens);
  Value pastEnd, beforeStart;
  if (endsDiffer)
    pastEnd = arith::CmpIOp::create(b, arith::CmpIPredicate::slt,
                                    flash::commonVisibleEnd(*this, c, len),
                                    tileEnd);
  if (c.window)
    beforeStart = arith::CmpIOp::create(
        b, arith::CmpIPredicate::slt, ts,
        flash::commonVisibleStart(*this, c, len));
  Value straddles = pastEnd ? pastEnd : beforeStart;
  if (pastEnd && beforeStart)
    straddles = arith::OrIOp::create(b, pastEnd, beforeStart);
  Value whole = arith::XOrIOp::create(
      b, straddles, arith::ConstantOp::create(b, b.getBoolAttr(true)));
  // The group's queries qLo..qHi (local row = query * heads of the KV
  // head + head).
  Value first = layout.firstLocalRow(*this, group);
  // (Operands that create ops are built one statement each: C++ leaves the
  // order of arguments' evaluation open, and the IR should not depend on it.)
  Value heads = idx(layout.headsPerKvHead());
  Value qLo = arith::DivUIOp::create(b, first, heads);
  Value lastRow = minIdx(addc(first, c.rowsPerGroup - 1),
                         idx(layout.kvHeadRows() - 1));
  Value qHi = arith::DivUIOp::create(b, lastRow, heads);
  Value queries = addc(arith::SubIOp::create(b, qHi, qLo), 1);
  Value turns = arith::SelectOp::create(b, straddles, queries, idx(1));
  SmallVector<Value, 2> rowQuery;
  for (Value rr : rows.row)
    rowQuery.push_back(arith::DivUIOp::create(b, add(first, rr), heads));
  auto loop = forLoop(idx(0), turns, idx(1), acc, [&](Value k, ValueRange a) {
    // Before the start the first query goes first, otherwise the last.
    Value query = arith::SubIOp::create(b, qHi, k);
    if (beforeStart)
      query = arith::SelectOp::create(b, beforeStart, add(qLo, k), query)
                  .getResult();
    // A query that sees none of the tile takes its turn too: its P is 0
    // and V is all zeroed for it (no branch whose results would cost
    // copies of the accumulators).
    auto zeroing = scf::IfOp::create(b, straddles, /*withElse=*/false);
    {
      OpBuilder::InsertionGuard z(b);
      b.setInsertionPointToStart(zeroing.thenBlock());
      Value row = mulc(query, c.heads);
      auto inTile = [&](Value pos) -> Value {
        return arith::SubIOp::create(
            b, minIdx(arith::MaxUIOp::create(b, pos, ts), tileEnd), ts);
      };
      Value lo = c.window ? inTile(flash::visibleStart(*this, c, row, len))
                          : idx(0);
      zeroVOutside(lo, inTile(flash::visibleEnd(*this, c, row, len)));
    }
    // Fragment register i of a k-step holds a pair of row g + 8 (i % 2).
    Value mine[2];
    for (int64_t r = 0; r < 2; ++r)
      mine[r] = arith::OrIOp::create(
          b, whole,
          arith::CmpIOp::create(b, arith::CmpIPredicate::eq, rowQuery[r],
                                query));
    SmallVector<Value> next(a.begin(), a.end());
    pv(PFragments{frags, {mine[0], mine[1]}}, next);
    return next;
  });
  return SmallVector<Value>(loop.getResults());
}

SmallVector<Value> TensorCoreEmitter::pStep(const PFragments &p,
                                            int64_t kk) {
  SmallVector<Value> a(ArrayRef<Value>(p.frags).slice(4 * kk, 4));
  if (p.rowMask.empty())
    return a;
  Value zero = LLVM::ZeroOp::create(b, a.front().getType());
  // Fragment register i holds a pair of row g + 8 (i % 2).
  for (int64_t i = 0; i < 4; ++i)
    a[i] = arith::SelectOp::create(b, p.rowMask[i % 2], a[i], zero);
  return a;
}

void TensorCoreEmitter::storePartials(ValueRange state, int64_t nAcc,
                                      Value item, const FragmentRows &rows,
                                      Value colBase, Value t4, Value writesML,
                                      Value partOut, Value partML) {
  for (int64_t k = 0; k < 2; ++k) {
    Value l = quadReduce(state[nAcc + 2 + k], /*max=*/false);
    auto ifOp = scf::IfOp::create(b, rows.valid[k], /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    Value rowAt = layout.itemRow(*this, item, rows.row[k]);
    Value outBase =
        add(layout.outAt(*this, rowAt), add(colBase, mulc(t4, 2)));
    for (int64_t jn = 0; jn < nAcc / 4; ++jn)
      for (int64_t v = 0; v < 2; ++v)
        memref::StoreOp::create(b, state[4 * jn + 2 * k + v], partOut,
                                ValueRange{addc(outBase, 8 * jn + v)});
    auto first = scf::IfOp::create(b, writesML, /*withElse=*/false);
    b.setInsertionPointToStart(first.thenBlock());
    Value mlAt = layout.mlAt(*this, rowAt);
    Value m = baseTwoSoftmax().naturalMax(state[nAcc + k]);
    memref::StoreOp::create(b, m, partML, ValueRange{mlAt});
    memref::StoreOp::create(b, l, partML, ValueRange{addc(mlAt, 1)});
  }
}
