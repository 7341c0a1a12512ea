//===- FlashDecode.cpp - the flash-decoding skeleton ------------*- C++ -*-===//

#include "mla/Conversion/FlashDecode/FlashDecode.h"

#include "mla/Conversion/BufferUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"

#include <limits>

using namespace mlir;
using namespace mlir::mla;
using namespace mlir::mla::flash;

LogicalResult flash::forEachDecodeOp(
    ModuleOp module, StringRef pass, StringRef kernelName, int64_t numSplits,
    function_ref<LogicalResult(DecodeAttentionOp, StringRef)> lower) {
  // The runtimes cap a forced split count at the same bound.
  constexpr int64_t kMaxSplits = 256;
  if (numSplits < 1 || numSplits > kMaxSplits)
    return emitError(module.getLoc())
           << pass << ": num-splits must be in 1.." << kMaxSplits << ", got "
           << numSplits;
  // The kernel name becomes C symbols (NAME, NAME_partial, ...).
  bool identifier =
      !kernelName.empty() &&
      (llvm::isAlpha(kernelName[0]) || kernelName[0] == '_') &&
      llvm::all_of(kernelName,
                   [](char c) { return llvm::isAlnum(c) || c == '_'; });
  if (!identifier)
    return emitError(module.getLoc())
           << pass << ": kernel-name '" << kernelName
           << "' is not a C identifier";
  SmallVector<DecodeAttentionOp> ops;
  module.walk([&](DecodeAttentionOp op) { ops.push_back(op); });
  for (auto [i, op] : llvm::enumerate(ops)) {
    std::string name = kernelName.str();
    if (i > 0)
      name += "_" + std::to_string(i);
    if (failed(lower(op, name)))
      return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// KernelBuilder
//===----------------------------------------------------------------------===//

Value KernelBuilder::idx(int64_t v) {
  return arith::ConstantIndexOp::create(b, v);
}
Value KernelBuilder::f32c(float v) {
  return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
}
Value KernelBuilder::add(Value x, Value y) {
  return arith::AddIOp::create(b, x, y);
}
Value KernelBuilder::mul(Value x, Value y) {
  return arith::MulIOp::create(b, x, y);
}
Value KernelBuilder::minIdx(Value x, Value y) {
  return arith::MinSIOp::create(b, x, y);
}
Value KernelBuilder::loadIndex(Value mem, Value i) {
  return arith::IndexCastOp::create(
      b, b.getIndexType(), memref::LoadOp::create(b, mem, ValueRange{i}));
}

scf::ForOp KernelBuilder::forLoop(Value lb, Value ub, Value step,
                                  ValueRange inits, BodyFn fn) {
  return scf::ForOp::create(
      b, lb, ub, step, inits,
      [&](OpBuilder &ob, Location loc, Value iv, ValueRange args) {
        OpBuilder::InsertionGuard guard(b);
        b.setInsertionPoint(ob.getInsertionBlock(), ob.getInsertionPoint());
        SmallVector<Value> yields = fn(iv, args);
        scf::YieldOp::create(b, yields);
      });
}

TileMath::~TileMath() = default;

Value UpstreamTileMath::exp(Value x) { return math::ExpOp::create(b, x); }
Value UpstreamTileMath::exp2(Value x) { return math::Exp2Op::create(b, x); }
Value UpstreamTileMath::log(Value x) { return math::LogOp::create(b, x); }
Value UpstreamTileMath::max(Value x, Value y) {
  return arith::MaxNumFOp::create(b, x, y);
}
Value UpstreamTileMath::mulAdd(Value x, Value y, Value z) {
  return math::FmaOp::create(b, x, y, z);
}

//===----------------------------------------------------------------------===//
// Work decomposition, visibility, page gather
//===----------------------------------------------------------------------===//

Value flash::sequenceLength(KernelBuilder &kb, const DecodeParams &p,
                            Value lens, Value seq, Value maxBlocksPerSeq) {
  // Token indices: the valid slots of the sequence's index rows.
  if (p.sparse())
    return kb.minIdx(kb.loadIndex(lens, seq), kb.idx(p.topk));
  return kb.minIdx(kb.loadIndex(lens, seq),
                   kb.mulc(maxBlocksPerSeq, p.blockSize));
}

Value flash::indexRowStart(KernelBuilder &kb, const DecodeParams &p,
                           Value seq, Value token) {
  return kb.mulc(kb.add(kb.mulc(seq, p.qLen), token), p.topk);
}

SparseTile flash::sparseTile(KernelBuilder &kb, Value indices, Value rowStart,
                             Value t, int64_t n, Value end, Value lastSlot) {
  ImplicitLocOpBuilder &b = kb.builder();
  SparseTile tile;
  Value none = kb.idx(-1), zero = kb.idx(0), largest = none;
  SmallVector<Value> index;
  for (int64_t j = 0; j < n; ++j) {
    Value slot = kb.addc(t, j);
    Value at = kb.add(rowStart, kb.minIdx(slot, lastSlot));
    Value inRange =
        arith::CmpIOp::create(b, arith::CmpIPredicate::slt, slot, end);
    Value id = arith::SelectOp::create(b, inRange, kb.loadIndex(indices, at),
                                       none);
    tile.valid.push_back(
        arith::CmpIOp::create(b, arith::CmpIPredicate::sge, id, zero));
    largest = arith::MaxSIOp::create(b, largest, id);
    index.push_back(id);
  }
  for (int64_t j = 0; j < n; ++j)
    tile.rows.push_back(
        arith::SelectOp::create(b, tile.valid[j], index[j], largest));
  tile.anyValid =
      arith::CmpIOp::create(b, arith::CmpIPredicate::sge, largest, zero);
  return tile;
}

SplitRange flash::splitRange(KernelBuilder &kb, const DecodeParams &p,
                             Value len, Value numSplits, Value split,
                             int64_t tileTokens) {
  ImplicitLocOpBuilder &b = kb.builder();
  SplitRange r;
  r.len = len;
  // A window leaves the positions before the first query's start unseen:
  // the splits cut the rest, from a whole tile (so that tiles stay aligned
  // as the tensor-core kernels' loads want).
  Value first, span = len;
  if (p.window) {
    Value start = visibleStart(kb, p, kb.idx(0), len);
    Value tiles = arith::DivUIOp::create(b, start, kb.idx(tileTokens));
    first = kb.mulc(tiles, tileTokens);
    span = arith::SubIOp::create(b, len, first);
    r.firstTok = start;
  }
  Value perSplit = arith::CeilDivSIOp::create(b, span, numSplits);
  Value chunk = kb.mulc(
      arith::CeilDivSIOp::create(b, perSplit, kb.idx(tileTokens)), tileTokens);
  Value t0 = kb.mul(split, chunk);
  r.t0 = kb.minIdx(first ? kb.add(first, t0) : t0, len);
  r.t1 = kb.minIdx(kb.add(r.t0, chunk), len);
  r.lastTok = arith::SubIOp::create(b, r.t1, kb.idx(1));
  return r;
}

Value flash::loadedToken(KernelBuilder &kb, const SplitRange &r, Value tok) {
  Value t = kb.minIdx(tok, r.lastTok);
  if (!r.firstTok)
    return t;
  return arith::MaxSIOp::create(kb.builder(), t, r.firstTok);
}

Value flash::visibleStart(KernelBuilder &kb, const DecodeParams &p, Value row,
                          Value len) {
  if (!p.window)
    return kb.idx(0);
  ImplicitLocOpBuilder &b = kb.builder();
  // Position of query i: len - q_len + i; it sees from that - W + 1 on.
  Value i = arith::DivUIOp::create(b, row, kb.idx(p.heads));
  Value start = kb.add(
      arith::SubIOp::create(b, len, kb.idx(p.qLen + *p.window - 1)), i);
  return arith::MaxSIOp::create(b, start, kb.idx(0));
}

Value flash::commonVisibleStart(KernelBuilder &kb, const DecodeParams &p,
                                Value len) {
  return visibleStart(kb, p, kb.idx(p.rows() - 1), len);
}

Value flash::visibleEnd(KernelBuilder &kb, const DecodeParams &p, Value row,
                        Value len) {
  if (!p.causal)
    return len;
  ImplicitLocOpBuilder &b = kb.builder();
  Value i = arith::DivUIOp::create(b, row, kb.idx(p.heads));
  Value end = kb.add(arith::SubIOp::create(b, len, kb.idx(p.qLen - 1)), i);
  end = arith::MaxSIOp::create(b, end, kb.idx(0));
  return kb.minIdx(end, len);
}

Value flash::commonVisibleEnd(KernelBuilder &kb, const DecodeParams &p,
                              Value len) {
  return visibleEnd(kb, p, kb.idx(0), len);
}

Value flash::cacheRow(KernelBuilder &kb, const DecodeParams &p,
                      Value blockTable, Value tableBase, Value tok) {
  ImplicitLocOpBuilder &b = kb.builder();
  Value bs = kb.idx(p.blockSize);
  Value page = kb.loadIndex(
      blockTable, kb.add(tableBase, arith::DivUIOp::create(b, tok, bs)));
  return kb.add(kb.mulc(page, p.blockSize), arith::RemUIOp::create(b, tok, bs));
}

Value PartialLayout::item(KernelBuilder &kb, Value seq, Value group,
                          Value split, Value numSplits) const {
  return kb.add(kb.mul(kb.add(kb.mulc(seq, groups), group), numSplits), split);
}

PartialLayout PartialLayout::of(const DecodeParams &p, int64_t rowsPerGroup) {
  int64_t perKvHead = (p.kvHeadRows() + rowsPerGroup - 1) / rowsPerGroup;
  // Token indices: query token i's H rows read its index row, as the rows
  // of KV head i of H * q_len heads would (query row i * H + h).
  if (p.sparse())
    return {p.qLen * perKvHead, rowsPerGroup, p.dc, p.qLen, p.rows(), 1};
  return {p.kvHeads * perKvHead, rowsPerGroup, p.dc, p.kvHeads, p.heads,
          p.qLen};
}

Value PartialLayout::kvHead(KernelBuilder &kb, Value group) const {
  if (kvHeads == 1)
    return kb.idx(0);
  return arith::DivUIOp::create(kb.builder(), group,
                                kb.idx(groupsPerKvHead()));
}

Value PartialLayout::firstLocalRow(KernelBuilder &kb, Value group) const {
  if (kvHeads == 1)
    return kb.mulc(group, rowsPerGroup);
  return kb.mulc(arith::RemUIOp::create(kb.builder(), group,
                                        kb.idx(groupsPerKvHead())),
                 rowsPerGroup);
}

Value PartialLayout::queryRow(KernelBuilder &kb, Value group,
                              Value local) const {
  if (kvHeads == 1)
    return local;
  ImplicitLocOpBuilder &b = kb.builder();
  int64_t perHead = headsPerKvHead();
  Value i = arith::DivUIOp::create(b, local, kb.idx(perHead));
  Value j = arith::RemUIOp::create(b, local, kb.idx(perHead));
  Value g = kvHead(kb, group);
  Value head = kb.add(kb.mulc(g, perHead), j);
  return kb.add(kb.mulc(i, heads), head);
}

Value PartialLayout::groupRow(KernelBuilder &kb, Value group,
                              Value rr) const {
  Value local = kb.add(firstLocalRow(kb, group), rr);
  return queryRow(kb, group, kb.minIdx(local, kb.idx(kvHeadRows() - 1)));
}

PartialLayout::RowPartials
PartialLayout::rowPartials(KernelBuilder &kb, Value seq, Value row,
                           Value numSplits) const {
  ImplicitLocOpBuilder &b = kb.builder();
  Value local = row, groupBase;
  if (kvHeads > 1) {
    // The inverse of groupRow.
    int64_t perHead = headsPerKvHead();
    Value i = arith::DivUIOp::create(b, row, kb.idx(heads));
    Value h = arith::RemUIOp::create(b, row, kb.idx(heads));
    Value g = arith::DivUIOp::create(b, h, kb.idx(perHead));
    Value j = arith::RemUIOp::create(b, h, kb.idx(perHead));
    local = kb.add(kb.mulc(i, perHead), j);
    groupBase = kb.mulc(g, groupsPerKvHead());
  }
  Value group = arith::DivUIOp::create(b, local, kb.idx(rowsPerGroup));
  if (groupBase)
    group = kb.add(groupBase, group);
  RowPartials rp;
  rp.rowInGroup = arith::RemUIOp::create(b, local, kb.idx(rowsPerGroup));
  rp.firstItem = item(kb, seq, group, kb.idx(0), numSplits);
  return rp;
}

Value flash::cacheRowStart(KernelBuilder &kb, const DecodeParams &p,
                           Value row, Value kvHead) {
  if (!p.headCaches)
    return kb.mulc(row, p.cacheRowStride());
  return kb.mulc(kb.add(kb.mulc(row, p.kvHeads), kvHead), p.rowWidth());
}

Value flash::outputAt(KernelBuilder &kb, const DecodeParams &p, Value seq,
                      Value row) {
  return kb.mulc(kb.add(kb.mulc(seq, p.rows()), row), p.dc);
}

Value flash::lseAt(KernelBuilder &kb, const DecodeParams &p, Value seq,
                   Value row) {
  ImplicitLocOpBuilder &b = kb.builder();
  Value h = arith::RemUIOp::create(b, row, kb.idx(p.heads));
  Value i = arith::DivUIOp::create(b, row, kb.idx(p.heads));
  return kb.add(kb.mulc(kb.add(kb.mulc(seq, p.heads), h), p.qLen), i);
}

LaunchBuffers flash::makeLaunchBuffers(ImplicitLocOpBuilder &b,
                                      DecodeAttentionOp op,
                                      const PartialLayout &layout,
                                      int64_t numSplits) {
  auto cst = [&](int64_t v) { return arith::ConstantIndexOp::create(b, v); };
  LaunchBuffers l;
  l.q = flatBuffer(b, op.getQuery());
  l.kv = flatBuffer(b, op.getCache());
  l.blockTable = flatBuffer(b, op.getBlockTable());
  l.seqLens = flatBuffer(b, op.getSeqLens());
  l.batch = tensor::DimOp::create(b, op.getQuery(), 0);
  l.maxBlocks = tensor::DimOp::create(b, op.getBlockTable(), 1);
  auto outTy = op.getResult().getType(), lseTy = op.getLse().getType();
  l.out = memref::AllocOp::create(
      b, MemRefType::get(outTy.getShape(), outTy.getElementType()),
      ValueRange{l.batch});
  l.lse = memref::AllocOp::create(
      b, MemRefType::get(lseTy.getShape(), b.getF32Type()),
      ValueRange{l.batch});
  l.splits = cst(numSplits);
  l.items = arith::MulIOp::create(b, l.batch, cst(layout.groups * numSplits));
  auto scratch = [&](int64_t perItem) {
    return memref::AllocOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getF32Type()),
        ValueRange{arith::MulIOp::create(b, l.items, cst(perItem))});
  };
  l.partOut = scratch(layout.rowsPerGroup * layout.dc);
  l.partML = scratch(layout.rowsPerGroup * 2);
  l.scale = arith::ConstantOp::create(b, op.getScaleAttr());
  if (Value s = op.getCacheScale()) {
    l.kvScale = tensor::ExtractOp::create(b, s, ValueRange{});
    l.scale = arith::MulFOp::create(b, l.scale, l.kvScale);
  }
  if (op.getSinks())
    l.sinks = flatBuffer(b, op.getSinks());
  if (op.getValueCache())
    l.values = flatBuffer(b, op.getValueCache());
  return l;
}

void LaunchBuffers::replace(ImplicitLocOpBuilder &b,
                            DecodeAttentionOp op) const {
  Value outT = bufferization::ToTensorOp::create(
      b, op.getResult().getType(), out, /*restrict=*/true, /*writable=*/true);
  Value lseT = bufferization::ToTensorOp::create(
      b, op.getLse().getType(), lse, /*restrict=*/true, /*writable=*/true);
  op.replaceAllUsesWith(ValueRange{outT, lseT});
  op.erase();
}

//===----------------------------------------------------------------------===//
// Online softmax and the combine
//===----------------------------------------------------------------------===//

/// A constant of `type` (f32 or a vector of f32) holding `v` in every lane.
static Value splat(KernelBuilder &kb, Type type, float v) {
  Value s = kb.f32c(v);
  if (auto vecTy = dyn_cast<VectorType>(type))
    return vector::BroadcastOp::create(kb.builder(), vecTy, s);
  return s;
}

static constexpr float kLog2E = 1.4426950408889634f;
static constexpr float kLn2 = 0.6931471805599453f;
static constexpr float kNegInf = -std::numeric_limits<float>::infinity();

Value OnlineSoftmax::scoreScale(Value scale) {
  if (base == Base::E)
    return scale;
  return arith::MulFOp::create(kb.builder(), scale,
                               splat(kb, scale.getType(), kLog2E));
}

Value OnlineSoftmax::maskedScore(Value visible, Value raw, Value scale) {
  // Ops are created one statement each: the order of a call's arguments is
  // the compiler's choice, and the IR must not depend on it.
  ImplicitLocOpBuilder &b = kb.builder();
  Value negInf = splat(kb, raw.getType(), kNegInf);
  Value scaled = arith::MulFOp::create(b, raw, scale);
  return arith::SelectOp::create(b, visible, scaled, negInf);
}

OnlineSoftmax::Step OnlineSoftmax::rescale(Value mOld, Value tileMax) {
  ImplicitLocOpBuilder &b = kb.builder();
  Step s;
  s.mNew = math.max(mOld, tileMax);
  Value none = arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, s.mNew,
                                     splat(kb, mOld.getType(), kNegInf));
  s.mSafe = arith::SelectOp::create(b, none, splat(kb, mOld.getType(), 0.0f),
                                    s.mNew);
  s.alpha = pow(arith::SubFOp::create(b, mOld, s.mSafe));
  return s;
}

Value OnlineSoftmax::probability(Value s, Value mSafe) {
  return pow(arith::SubFOp::create(kb.builder(), s, mSafe));
}

Value OnlineSoftmax::sum(Value lOld, Value alpha, Value pSum) {
  return math.mulAdd(lOld, alpha, pSum);
}

Value OnlineSoftmax::naturalMax(Value m) {
  if (base == Base::E)
    return m;
  return arith::MulFOp::create(kb.builder(), m, splat(kb, m.getType(), kLn2));
}

Value SplitCombine::safeMax(Value numSplits, function_ref<Value(Value)> maxOf,
                            Value sink) {
  ImplicitLocOpBuilder &b = kb.builder();
  Value negInf = kb.f32c(kNegInf);
  Value mMax =
      kb.forLoop(kb.idx(0), numSplits, kb.idx(1), {sink ? sink : negInf},
                 [&](Value s, ValueRange m) {
                   return SmallVector<Value>{math.max(m[0], maxOf(s))};
                 })
          .getResult(0);
  Value none =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OEQ, mMax, negInf);
  return arith::SelectOp::create(b, none, kb.f32c(0.0f), mMax);
}

Value flash::rowSink(KernelBuilder &kb, const DecodeParams &p, Value sinks,
                     Value row) {
  if (!sinks)
    return Value();
  ImplicitLocOpBuilder &b = kb.builder();
  Value head = arith::RemUIOp::create(b, row, kb.idx(p.heads));
  return memref::LoadOp::create(b, sinks, ValueRange{head});
}

Value SplitCombine::initialTotal(Value safeMax, Value sink) {
  return sink ? weight(sink, safeMax) : kb.f32c(0.0f);
}

SplitCombine::Result SplitCombine::finish(Value safeMax, Value total,
                                          Value valueScale) {
  ImplicitLocOpBuilder &b = kb.builder();
  Value zero = kb.f32c(0.0f);
  Value seen =
      arith::CmpFOp::create(b, arith::CmpFPredicate::OGT, total, zero);
  Result r;
  r.scale = arith::SelectOp::create(
      b, seen,
      arith::DivFOp::create(b, valueScale ? valueScale : kb.f32c(1.0f), total),
      zero);
  Value negInf = kb.f32c(kNegInf);
  Value logTotal = math.log(total);
  r.lse = arith::SelectOp::create(
      b, seen, arith::AddFOp::create(b, safeMax, logTotal), negInf);
  return r;
}
