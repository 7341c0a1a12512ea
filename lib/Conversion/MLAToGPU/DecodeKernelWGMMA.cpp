//===- DecodeKernelWGMMA.cpp - bf16/f16 decode kernel on wgmma --*- C++ -*-===//
//
// The sm_90a partial kernel: TMA loads, an mbarrier per stage, and wgmma.
// A CTA serves 64 query rows (one wgmma m-tile) of one sequence over one KV
// split with `colSplits` warpgroups, each owning d_c / colSplits output
// columns (wgmma N <= 256). Shared memory holds, in TMA's 128-byte swizzle
// (64-column boxes, 8-row groups of 1024 bytes):
//   the group's queries   [ceil(D / 64) boxes][64 rows][64],
//   three cache stages    [3][ceil(D / 64) boxes][32 tokens][64],
//   two slots of the warpgroups' score shares, and one mbarrier per stage.
// Thread 0 issues the TMA copies of a tile (through the block table, one
// box per 64 columns and per tmaBoxRows rows of a page) two tiles ahead.
// Per 32-token tile, each warpgroup
//   - issues its share (every colSplits-th k-step of 16) of the next tile's
//     S = Q K^T with wgmma m64n32k16, A and B K-major from shared memory
//     descriptors, and does not wait for it;
//   - adds the other warpgroups' shares of this tile's S (computed the same
//     way one tile earlier) through shared memory;
//   - runs the online softmax on them (same row/column map as mma.sync per
//     warp: rows 16 w + lane / 4 (+ 8), a row per quad), without masks on
//     the tiles every row sees whole;
//   - accumulates O += P V with wgmma m64nNk16, P from registers (the
//     accumulator layout of S is the A-fragment layout) and V the same
//     shared tile read as an MN-major (transposed) B operand;
//   - waits for both before the next tile.
// MLIR 22's nvvm.wgmma.mma_async has no register-A form: that one is inline
// PTX. Partials and the combine kernel are those of the other kinds.
//
//===----------------------------------------------------------------------===//

#include "TensorCoreEmitter.h"

#include "llvm/ADT/StringExtras.h"

#include <limits>

using namespace mlir;
using namespace mlir::mla;
using mlir::mla::detail::GPUKernelEmitter;

namespace {

// High bits of a wgmma shared-memory descriptor for the 128-byte swizzle
// (PTX ISA, "Matrix Descriptor Format": bits 62-63 = 1, SBO = 1024 bytes, the
// next 8-row group, in bits 32-45, LBO in bits 16-29). K-major operands
// ignore LBO (1); the MN-major V steps one 64-column box of the tile per 64
// columns.
constexpr uint64_t descriptorHigh(uint64_t lboBytes) {
  return (uint64_t(1) << 62) | (uint64_t(1024 >> 4) << 32) |
         ((lboBytes >> 4) << 16);
}
constexpr uint64_t kDescKMajor = descriptorHigh(16);

/// The shapes of the wgmma kernel (elements, unless named bytes).
struct WGMMATileShape {
  explicit WGMMATileShape(const GPUDecodeConfig &c)
      : rowWidth(c.rowWidth()), rows(c.rows()), groupRows(c.rowsPerGroup),
        tileTokens(c.tileTokens), warpgroups(c.colSplits),
        kSteps(rowWidth / 16), scoreRegs(tileTokens / 2),
        columns(c.dc / warpgroups), outRegs(columns / 2),
        boxes((rowWidth + 63) / 64), boxRows(c.tmaBoxRows),
        queryBytes(boxes * 64 * 128), boxBytes(tileTokens * 128),
        stageBytes(boxes * boxBytes),
        scoreOffset(queryBytes + kStages * stageBytes),
        slotBytes(warpgroups > 1 ? warpgroups * 128 * scoreRegs * 4 : 0),
        barrierOffset(scoreOffset + 2 * slotBytes) {}

  /// Cache stages: the tile whose P V runs, the next one whose QK^T runs
  /// beside its softmax, and the one after it on its way in.
  static constexpr int64_t kStages = GPUDecodeConfig::kWGMMAStages;

  /// A query or cache row (d_c + d_r); the query rows of a sequence and of
  /// a CTA (one m64 tile).
  int64_t rowWidth, rows, groupRows;
  /// Cache rows (tokens) of a tile: the N of QK^T (m64n32k16).
  int64_t tileTokens;
  /// The warpgroups; each takes every warpgroups-th k16 step of QK^T.
  int64_t warpgroups, kSteps;
  /// A thread's f32 scores of a tile (the m64nTk16 accumulator).
  int64_t scoreRegs;
  /// The output columns of a warpgroup (the N of P V), and a thread's
  /// accumulators of them.
  int64_t columns, outRegs;
  /// The 64-column (128-byte swizzle) boxes of a row; cache rows of a box.
  int64_t boxes, boxRows;
  /// Shared memory, in bytes from its 1024-byte aligned base: the queries
  /// (`queryBytes`, `boxes` boxes of 64 rows), kStages cache stages
  /// (`stageBytes`, `boxes` boxes of `boxBytes`), two slots of the
  /// warpgroups' score shares (`slotBytes` each, alternating by tile) at
  /// `scoreOffset`, the stages' mbarriers at `barrierOffset`.
  int64_t queryBytes, boxBytes, stageBytes, scoreOffset, slotBytes,
      barrierOffset;
};

class WGMMAPartialEmitter : public mla::detail::TensorCoreEmitter,
                            private mla::detail::PartialKernelArgs {
public:
  WGMMAPartialEmitter(ImplicitLocOpBuilder &b, const GPUDecodeConfig &c)
      : TensorCoreEmitter(b, c), shape(c) {
    math.flushToZero = true;
    // P in bf16/f16 up to 2^8, the sums in f32.
    lazyRescaleLog2 = 8;
  }
  void emit();

private:
  Value i64c(uint64_t v) {
    return arith::ConstantOp::create(b, b.getI64IntegerAttr(int64_t(v)));
  }
  Value addI32(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value addI32(Value x, int64_t v) { return v ? addI32(x, i32c(v)) : x; }
  Value mulI32(Value x, int64_t v) {
    return arith::MulIOp::create(b, x, i32c(v));
  }
  Value ptrAt(Value addrI32) {
    return LLVM::IntToPtrOp::create(b, ptr3, addrI32);
  }
  Value less(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, x, y);
  }
  void ifThen(Value cond, function_ref<void()> body) {
    auto op = scf::IfOp::create(b, cond, /*withElse=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(op.thenBlock());
    body();
  }
  /// The start-address field of a wgmma descriptor (bits 0-13: shared
  /// address bits 4-17) of the matrix at shared address `addrI32`. Shared
  /// addresses stay below 2^18, so the field of `addr + off` (off a multiple
  /// of 16) is this plus off / 16: one add of a uniform value per wgmma.
  Value descriptorField(Value addrI32) {
    return arith::ShRUIOp::create(
        b, arith::AndIOp::create(b, addrI32, i32c(0x3FFFF)), i32c(4));
  }
  /// The descriptor whose start-address field is `field` (+ `offBytes`).
  /// The field stays below 2^14, so the constant bits of the low word (LBO)
  /// join the same add.
  Value descriptorAt(Value field, int64_t offBytes, uint64_t high) {
    Value lo = addI32(field, int64_t(offBytes / 16 + (high & 0xFFFFFFFFu)));
    return arith::OrIOp::create(
        b, arith::ExtUIOp::create(b, b.getI64Type(), lo).getResult(),
        i64c(high & ~uint64_t(0xFFFFFFFFu)));
  }
  /// The descriptor of the swizzled matrix starting at shared address
  /// `addrI32`.
  Value descriptor(Value addrI32, uint64_t high) {
    return descriptorAt(descriptorField(addrI32), 0, high);
  }
  /// acc (m64n`n`, n / 2 f32 a thread) += P (registers) x V (descriptor),
  /// V transposed; inline PTX, MLIR 22 has no register-A wgmma.
  void wgmmaRegisterA(MutableArrayRef<Value> acc, ArrayRef<Value> a,
                      Value descB, int64_t n);

  /// The kernel, its arguments, the aligned shared-memory base and the
  /// tensor maps.
  void declareKernel();
  /// The CTA's work item and split, this thread's place in it, and the
  /// constants the loop shares.
  void locateThread();
  /// Thread 0 initializes the stages' mbarriers.
  void initBarriers();
  /// Where cache stage `stage` (i32) starts in shared memory (i32), and
  /// its mbarrier.
  Value stageAt(Value stage) {
    return addI32(stageAt0, arith::MulIOp::create(b, stage,
                                                  i32c(shape.stageBytes)));
  }
  Value barrierAt(Value stage) {
    return ptrAt(addI32(addI32(base, shape.barrierOffset),
                        arith::MulIOp::create(b, stage, i32c(8))));
  }
  /// One TMA box of `map` at (col, row) to shared address `dstI32`,
  /// completing on mbarrier `bar`.
  void tma(Value dstI32, Value map, Value bar, Value col, Value row);
  /// The cache rows (i32) of the TMA boxes of the tile of tokens
  /// [ts, ts + tileTokens): one block-table read a box, which every thread
  /// makes (the same address) ahead of thread 0's copies.
  SmallVector<Value> tileRows(Value ts);
  /// Thread 0: the TMA copies of a tile (its `tileRows`) into `stage`, and
  /// of the group's queries (`withQueries`).
  void issueTile(ArrayRef<Value> boxRows, Value stage, bool withQueries);
  /// A tile's place in the pipeline, an i32 (CUTLASS's PipelineState):
  /// its stage in bits 0-1, the parity of the phase the stage's mbarrier
  /// completes for it in bit 2, its score slot in bit 3. The first tile's
  /// is 0; `advance` gives the next tile's.
  Value stageOf(Value n) { return arith::AndIOp::create(b, n, i32c(3)); }
  Value parityOf(Value n) {
    return arith::AndIOp::create(b, arith::ShRUIOp::create(b, n, i32c(2)),
                                 i32c(1));
  }
  Value slotOf(Value n) {
    return arith::AndIOp::create(b, arith::ShRUIOp::create(b, n, i32c(3)),
                                 i32c(1));
  }
  Value advance(Value n) {
    Value wraps = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, stageOf(n),
                                        i32c(WGMMATileShape::kStages - 1));
    Value stepped = arith::XOrIOp::create(b, addI32(n, 1), i32c(8));
    Value wrapped = arith::XOrIOp::create(
        b, arith::AndIOp::create(b, n, i32c(~3)), i32c(4 | 8));
    return arith::SelectOp::create(b, wraps, wrapped, stepped);
  }
  /// Waits until tile `n` is in its stage.
  void waitTile(Value n) {
    NVVM::MBarrierTryWaitParityOp::create(b, barrierAt(stageOf(n)), parityOf(n),
                                          i32c(0x989680));
  }
  /// One iteration of the tile loop: `state` is the loop state (see emit)
  /// without the tile's pipeline state `n` and its scores `s`. `whole`: every row sees all of the tile's tokens (no
  /// masks, no zeroed V rows). Returns the state and the next tile's
  /// scores.
  SmallVector<Value> tileStep(Value ts, Value n, ValueRange state,
                              ArrayRef<Value> s, bool whole);
  /// The loop over the tiles [lo, hi) of the split (hi clamped to t1).
  scf::ForOp tileLoop(Value lo, Value hi, ValueRange state, bool whole);
  /// An empty inline asm that takes and returns `values` ("+f"): the
  /// compiler may not move their reads and writes across it, nor so across
  /// the wgmma waits it follows (CUTLASS's warpgroup_fence_operand).
  void fenceOperands(MutableArrayRef<Value> values);
  /// On the split's last tile, zeroes the V rows of tokens past it.
  void zeroTailTile(Value ts, Value tile);
  /// Zeroes the V columns of the tile's rows outside [lo, hi), between two
  /// CTA barriers.
  void zeroVOutside(Value tile, Value lo, Value hi);
  /// Issues (and commits as one wgmma group, without waiting) this
  /// warpgroup's share of the tile's scores S = Q K^T; its values, in the
  /// accumulator layout, may be read once a wait has completed the group.
  SmallVector<Value> issueScores(Value tile);
  /// Where thread `tw` of warpgroup `w` keeps score `v` of its share of
  /// tile `n` (slot n % 2: a warp may still read the previous tile's slot
  /// while another writes this one's; the barrier of the tile between
  /// orders the reads of a slot before its next writes).
  Value scoreSlot(Value n, Value w, int64_t v);
  /// Stores this warpgroup's share of tile `n`'s scores; after a CTA
  /// barrier, addScoreShares adds the warpgroups' shares into each.
  void publishScoreShare(ArrayRef<Value> s, Value n);
  void addScoreShares(MutableArrayRef<Value> s, Value n);
  /// acc += P V over this warpgroup's output columns (P as A fragments),
  /// committed as one group; `wait`: and waited for (all groups).
  void accumulatePV(const PFragments &p, MutableArrayRef<Value> acc, Value tile,
                    bool wait);
  /// The partials of the final loop state.
  void storeOutputs(ValueRange state);

  const WGMMATileShape shape;
  /// The aligned shared-memory base and the first stage (i32 addresses);
  /// the tensor maps of the queries and of the cache.
  Value base, stageAt0, qMap, kvMap;
  /// The work item (split, group, seq); the thread's warpgroup `wg`, its
  /// index `tw` in it, its warp in the warpgroup; the lane's fragment row
  /// `g` and column pair `t4`; `leader`, thread 0.
  Value split, group, seq, tid, wg, tw, warp, lane, g, t4;
  Value zero, one, negInf, zeroF, scaleLog2, leader;
  SplitRange range;
  /// Where the sequence's row of the block table starts.
  Value btBase;
  FragmentRows rows;
};

void WGMMAPartialEmitter::wgmmaRegisterA(MutableArrayRef<Value> acc,
                                         ArrayRef<Value> a, Value descB,
                                         int64_t n) {
  const int64_t outs = n / 2;
  SmallVector<Value> operands(acc.begin(), acc.end());
  SmallVector<std::string> constraints(outs, "=f");
  for (int64_t i = 0; i < outs; ++i)
    constraints.push_back(std::to_string(i));
  operands.append(a.begin(), a.end());
  constraints.append(4, "r");
  operands.push_back(descB);
  constraints.push_back("l");
  operands.push_back(i32c(1));
  constraints.push_back("n");
  SmallVector<std::string> d;
  for (int64_t i = 0; i < outs; ++i)
    d.push_back("$" + std::to_string(i));
  std::string type = c.elemType.isBF16() ? "bf16" : "f16";
  std::string text =
      "{\n.reg .pred p;\nsetp.ne.b32 p, $" + std::to_string(2 * outs + 5) +
      ", 0;\nwgmma.mma_async.sync.aligned.m64n" + std::to_string(n) +
      "k16.f32." + type + "." + type + " {" + llvm::join(d, ", ") + "}, {$" +
      std::to_string(2 * outs) + ", $" + std::to_string(2 * outs + 1) +
      ", $" + std::to_string(2 * outs + 2) + ", $" +
      std::to_string(2 * outs + 3) + "}, $" + std::to_string(2 * outs + 4) +
      ", p, 1, 1, 1;\n}\n";
  auto resTy = LLVM::LLVMStructType::getLiteral(
      b.getContext(), SmallVector<Type>(outs, f32));
  Value res = LLVM::InlineAsmOp::create(
                  b, resTy, operands, text, llvm::join(constraints, ","),
                  /*has_side_effects=*/true, /*is_align_stack=*/false,
                  LLVM::tailcallkind::TailCallKind::None,
                  LLVM::AsmDialectAttr::get(b.getContext(),
                                            LLVM::AsmDialect::AD_ATT),
                  /*operand_attrs=*/ArrayAttr())
                  .getResult(0);
  for (int64_t i = 0; i < outs; ++i)
    acc[i] = LLVM::ExtractValueOp::create(b, res, i);
}

void WGMMAPartialEmitter::emit() {
  OpBuilder::InsertionGuard guard(b);
  declareKernel();
  locateThread();
  initBarriers();
  // The first two tiles (and the queries) on their way; the loop's first
  // iteration issues the third.
  const int64_t tt = shape.tileTokens;
  for (int64_t k = 0; k < 2; ++k) {
    Value ts = addc(range.t0, k * tt);
    SmallVector<Value> boxRows = tileRows(ts);
    ifThen(arith::AndIOp::create(b, leader, less(ts, range.t1)),
           [&] { issueTile(boxRows, i32c(k), /*withQueries=*/k == 0); });
  }

  // This thread's rows: 16 warp + g (+ 8) of the warpgroup's 64.
  rows = fragmentRows(mulc(warp, 16), g, group, range.len, range.t1);

  // The first tile's scores. (With no tile at all, an empty split, the
  // wgmmas read a stage nothing was loaded into, and nothing uses them.)
  ifThen(less(range.t0, range.t1), [&] { waitTile(i32c(0)); });
  SmallVector<Value> first = issueScores(stageAt(i32c(0)));
  NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
  fenceOperands(first);

  // Loop state: the output accumulators (outRegs), then the running max
  // (base 2) and the lane's partial sum of each of its two rows, then the
  // tile's pipeline state (see advance), then the tile's scores (its QK^T
  // ran in the previous iteration, beside that one's softmax). The state,
  // counted from a constant rather than derived from ts (which comes from
  // seq_lens), is a value ptxas knows to be uniform, and so are the stage,
  // its mbarrier and the descriptors.
  SmallVector<Value> inits(shape.outRegs, zeroF);
  inits.append({negInf, negInf, zeroF, zeroF, i32c(0)});
  inits.append(first);
  // Three loops, in token order: the tiles before the last query's window
  // start, the tiles every row sees whole (no masks: the steady state),
  // and the tiles past the first query's visible end or the split's end
  // (masked, their V rows past it zeroed). Each edge loop runs at most a
  // tile or two of a sequence; the first exists only with a window.
  auto [midStart, midEnd] = wholeTiles(range, shape.tileTokens);
  ValueRange state = inits;
  scf::ForOp head;
  if (c.window) {
    head = tileLoop(range.t0, midStart, state, /*whole=*/false);
    state = head.getResults();
  }
  scf::ForOp mid = tileLoop(midStart, midEnd, state, /*whole=*/true);
  scf::ForOp tail = tileLoop(midEnd, range.t1, mid.getResults(),
                             /*whole=*/false);
  storeOutputs(tail.getResults().take_front(shape.outRegs + 4));
  gpu::ReturnOp::create(b);
}

scf::ForOp WGMMAPartialEmitter::tileLoop(Value lo, Value hi, ValueRange state,
                                         bool whole) {
  const int64_t kept = shape.outRegs + 4;
  return forLoop(lo, hi, idx(shape.tileTokens), state,
                 [&](Value ts, ValueRange st) {
                   Value n = st[kept];
                   SmallVector<Value> s(st.drop_front(kept + 1));
                   SmallVector<Value> next =
                       tileStep(ts, n, st.take_front(kept), s, whole);
                   next.insert(next.begin() + kept, advance(n));
                   return next;
                 });
}

void WGMMAPartialEmitter::declareKernel() {
  // The tensor maps of the queries and of the cache follow the contract's
  // arguments: generic pointers to maps in device memory, or, for a host
  // runtime, CUDA's `const __grid_constant__ CUtensorMap` parameters
  // (mla-nvvm-tensor-map-params, after the lowering): the launch carries
  // them, so a call cannot see another call's maps, nothing is copied to
  // the device first, and a CUDA graph captures the launch alone.
  Type ptr0 = LLVM::LLVMPointerType::get(b.getContext());
  gpu::GPUFuncOp fn =
      makePartialKernel(/*alignment=*/1024, {ptr0, ptr0});
  if (c.tensorMapsByValue)
    fn->setAttr(MLADialect::getTensorMapParamsAttrName(),
                b.getI64IntegerAttr(2));
  readArgs(fn, c.headCaches);
  qMap = fn.getArgument(9);
  kvMap = fn.getArgument(10);

  // The 1024-byte aligned base of dynamic shared memory (the swizzle
  // pattern repeats every 1024 bytes; descriptors assume it starts there).
  Value raw = LLVM::PtrToIntOp::create(b, i32, smemBase);
  base = arith::AndIOp::create(b, addI32(raw, 1023), i32c(-1024));
  stageAt0 = addI32(base, shape.queryBytes);
}

void WGMMAPartialEmitter::locateThread() {
  split = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  group = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  seq = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  // Broadcast from lane 0: ptxas then knows the warpgroup is warp-uniform
  // and keeps the wgmma descriptors derived from it in uniform registers.
  wg = arith::IndexCastOp::create(
      b, idxTy,
      gpu::ShuffleOp::create(b, toI32(divc(tid, 128)), 0, 32,
                             gpu::ShuffleMode::IDX)
          .getShuffleResult());
  tw = remc(tid, 128);
  warp = divc(tw, 32);
  lane = remc(tid, 32);
  g = divc(lane, 4);
  t4 = remc(lane, 4);
  zero = idx(0);
  one = idx(1);
  negInf = f32c(-std::numeric_limits<float>::infinity());
  zeroF = f32c(0.0f);
  scaleLog2 = baseTwoSoftmax().scoreScale(scale);
  leader = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, zero);
  range = splitRange(lens, seq, maxBlocks, numSplits, split, shape.tileTokens);
  btBase = mul(seq, maxBlocks);
}

void WGMMAPartialEmitter::initBarriers() {
  ifThen(leader, [&] {
    for (int64_t s = 0; s < WGMMATileShape::kStages; ++s)
      NVVM::MBarrierInitOp::create(b, barrierAt(i32c(s)), i32c(1), Value());
    NVVM::FenceMbarrierInitOp::create(b);
  });
  gpu::BarrierOp::create(b);
}

void WGMMAPartialEmitter::tma(Value dstI32, Value map, Value bar, Value col,
                              Value row) {
  Type ptr7 = LLVM::LLVMPointerType::get(b.getContext(), 7);
  NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
      b, LLVM::AddrSpaceCastOp::create(b, ptr7, ptrAt(dstI32)), map,
      ValueRange{col, row}, bar, /*im2colOffsets=*/ValueRange{},
      /*multicastMask=*/Value(), /*l2CacheHint=*/Value(),
      NVVM::TMALoadMode::TILE, /*isCTAOnly=*/false, /*group=*/nullptr,
      /*predicate=*/Value());
}

// Box by box: one box per 64 columns and per boxRows rows of a page; boxes
// past the split repeat the box of its last token, boxes before a window's
// first visible position the box that holds it (masked; a box lies in one
// page).
SmallVector<Value> WGMMAPartialEmitter::tileRows(Value ts) {
  const int64_t boxRows = shape.boxRows;
  SmallVector<Value> out;
  for (int64_t sub = 0; sub < shape.tileTokens / boxRows; ++sub) {
    Value tok = flash::loadedToken(*this, range, addc(ts, sub * boxRows));
    tok = arith::SubIOp::create(b, tok, remc(tok, boxRows));
    out.push_back(toI32(flash::cacheRow(*this, c, bt, btBase, tok)));
  }
  return out;
}

void WGMMAPartialEmitter::issueTile(ArrayRef<Value> boxRows, Value stage,
                                    bool withQueries) {
  Value bar = barrierAt(stage);
  NVVM::MBarrierArriveExpectTxOp::create(
      b, Type(), bar,
      i32c(shape.stageBytes + (withQueries ? shape.queryBytes : 0)),
      NVVM::MemScopeKind::CTA, /*relaxed=*/false, /*predicate=*/Value());
  if (withQueries) {
    Value row =
        toI32(add(mulc(seq, shape.rows), mulc(group, shape.groupRows)));
    for (int64_t bx = 0; bx < shape.boxes; ++bx)
      tma(addI32(base, bx * 64 * 128), qMap, bar, i32c(64 * bx), row);
  }
  Value at = stageAt(stage);
  for (auto [sub, row] : llvm::enumerate(boxRows))
    for (int64_t bx = 0; bx < shape.boxes; ++bx)
      tma(addI32(at, bx * shape.boxBytes + int64_t(sub) * shape.boxRows * 128),
          kvMap, bar, i32c(64 * bx), row);
}

// Per tile: the next tile's QK^T is issued first and runs on the tensor
// cores while the warps exchange and softmax this tile's scores; then this
// tile's P V; both are waited for at the end, so that no register a wgmma
// still writes crosses the loop's back edge. Three stages: this tile's (P V
// reads its V), the next one's (QK^T reads its K), and the one after it,
// whose TMA thread 0 issues once the CTA barrier has shown that every
// warpgroup finished the P V of the tile that stage held.
SmallVector<Value> WGMMAPartialEmitter::tileStep(Value ts, Value n,
                                                 ValueRange state,
                                                 ArrayRef<Value> sIn,
                                                 bool whole) {
  const int64_t tt = shape.tileTokens;
  SmallVector<Value> s(sIn.begin(), sIn.end());
  Value tile = stageAt(stageOf(n));
  Value farTs = addc(ts, 2 * tt);
  SmallVector<Value> farRows = tileRows(farTs);
  Value n1 = advance(n);
  // (After the split's last tile the QK^T reads a stage nothing was loaded
  // into, and nothing uses its scores: cheaper than a branch whose results
  // would be registers a wgmma is still writing.) A masked tile, at most a
  // tile or two at a split's edges, issues it after its P V: its masks and
  // turns would otherwise hold both tiles' scores and spill.
  auto issueNext = [&] {
    ifThen(less(addc(ts, tt), range.t1), [&] { waitTile(n1); });
    return issueScores(stageAt(stageOf(n1)));
  };
  SmallVector<Value> sNext;
  if (whole)
    sNext = issueNext();

  if (shape.warpgroups > 1)
    publishScoreShare(s, n);
  gpu::BarrierOp::create(b);
  ifThen(arith::AndIOp::create(b, leader, less(farTs, range.t1)), [&] {
    issueTile(farRows, stageOf(advance(n1)), /*withQueries=*/false);
  });
  if (shape.warpgroups > 1)
    addScoreShares(s, n);
  if (!whole)
    zeroTailTile(ts, tile);

  SmallVector<Value> next = onlineSoftmax(s, state, shape.outRegs, ts, t4, rows,
                                          scaleLog2, {}, !whole);
  auto pv = [&](const PFragments &p, MutableArrayRef<Value> a) {
    accumulatePV(p, a, tile, /*wait=*/!whole);
  };
  MutableArrayRef<Value> acc =
      MutableArrayRef<Value>(next).take_front(shape.outRegs);
  if (whole) {
    SmallVector<Value> frags;
    for (int64_t kk = 0; kk < tt / 16; ++kk)
      llvm::append_range(frags, pFragments(s, kk));
    pv(PFragments{frags, {}}, acc);
  } else {
    SmallVector<Value> sum = visiblePV(
        s, ValueRange(next).take_front(shape.outRegs), ts, tt, range.len, group,
        rows, pv, [&](Value lo, Value hi) { zeroVOutside(tile, lo, hi); });
    llvm::copy(sum, acc.begin());
    sNext = issueNext();
  }
  NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
  fenceOperands(acc);
  fenceOperands(sNext);
  next.append(sNext);
  return next;
}

// V rows of tokens past t1 came with their TMA boxes (the rest of the page,
// possibly never written: NaN * 0 would be NaN); they are zeroed before P V
// reads them.
void WGMMAPartialEmitter::zeroTailTile(Value ts, Value tile) {
  ifThen(less(range.t1, addc(ts, shape.tileTokens)), [&] {
    zeroVOutside(tile, zero, arith::SubIOp::create(b, range.t1, ts));
  });
}

// Through the generic proxy, then fenced for wgmma's async proxy.
void WGMMAPartialEmitter::zeroVOutside(Value tile, Value lo, Value hi) {
  // V's boxes, each of 8 16-byte chunks a row.
  const int64_t vBoxes = c.dc / 64, count = shape.tileTokens * vBoxes * 8;
  gpu::BarrierOp::create(b);
  auto zero16 = arith::ConstantOp::create(
      b, DenseElementsAttr::get(VectorType::get({4}, i32),
                                b.getI32IntegerAttr(0)));
  // A loop rather than unrolled stores: its per-thread index math must not
  // be hoisted into registers that the accumulators need.
  forLoop(tid, idx(count), idx(c.threads()), {}, [&](Value e, ValueRange) {
    Value j = divc(e, vBoxes * 8);
    Value before = arith::CmpIOp::create(b, arith::CmpIPredicate::ult, j, lo);
    Value after = arith::CmpIOp::create(b, arith::CmpIPredicate::uge, j, hi);
    Value outside = arith::OrIOp::create(b, before, after);
    ifThen(outside, [&] {
      Value bx = remc(divc(e, 8), vBoxes), chunk = remc(e, 8);
      Value at = addI32(
          tile, toI32(add(add(mulc(bx, shape.boxBytes), mulc(j, 128)),
                          mulc(chunk, 16))));
      LLVM::StoreOp::create(b, zero16, ptrAt(at), /*alignment=*/16);
    });
    return SmallVector<Value>{};
  });
  NVVM::FenceProxyOp::create(
      b, NVVM::ProxyKind::async_shared,
      NVVM::SharedSpaceAttr::get(b.getContext(),
                                 NVVM::SharedSpace::shared_cta));
  gpu::BarrierOp::create(b);
}

// The k-steps k = wg + warpgroups * j, unrolled (the same count for every
// warpgroup) so that the wgmma chain stays asynchronous; A (the queries) and
// B (the tile) are K-major in shared memory, 4 k16 steps a 64-column box.
SmallVector<Value> WGMMAPartialEmitter::issueScores(Value tile) {
  MLIRContext *ctx = b.getContext();
  const int64_t tokens = shape.tileTokens;
  auto sTy = LLVM::LLVMStructType::getLiteral(
      ctx, SmallVector<Type>(shape.scoreRegs, f32));
  // The first k-step ignores the accumulator (scale-d 0): its registers
  // are written by nothing between wgmma.fence and the wgmma, as PTX asks.
  Value acc = LLVM::PoisonOp::create(b, sTy);
  NVVM::WgmmaFenceAlignedOp::create(b);
  Value wg32 = toI32(wg);
  // k16 step k is 32 bytes into box k / 4. Where the warpgroups divide a
  // box's 4 steps, warpgroup w's j-th step is the j-th of warpgroup 0 plus
  // 32 w bytes: one field per operand, and constants.
  const int64_t w = shape.warpgroups;
  Value aField, bField;
  if (4 % w == 0) {
    aField = descriptorField(addI32(base, mulI32(wg32, 32)));
    bField = descriptorField(addI32(tile, mulI32(wg32, 32)));
  }
  for (int64_t j = 0; j < shape.kSteps / w; ++j) {
    Value a, bDesc;
    if (aField) {
      int64_t k0 = w * j, inBox = (k0 % 4) * 32, box = k0 / 4;
      a = descriptorAt(aField, box * 64 * 128 + inBox, kDescKMajor);
      bDesc = descriptorAt(bField, box * shape.boxBytes + inBox, kDescKMajor);
    } else {
      Value k = addI32(wg32, w * j);
      Value inBox = mulI32(arith::RemUIOp::create(b, k, i32c(4)), 32);
      Value box = arith::DivUIOp::create(b, k, i32c(4));
      a = descriptor(addI32(addI32(base, mulI32(box, 64 * 128)), inBox),
                     kDescKMajor);
      bDesc =
          descriptor(addI32(addI32(tile, mulI32(box, shape.boxBytes)), inBox),
                     kDescKMajor);
    }
    NVVM::WGMMATypes t = c.elemType.isBF16() ? NVVM::WGMMATypes::bf16
                                             : NVVM::WGMMATypes::f16;
    acc = NVVM::WgmmaMmaAsyncOp::create(
        b, sTy, acc, a, bDesc, NVVM::MMAShapeAttr::get(ctx, 64, tokens, 16), t,
        t, NVVM::WGMMATypes::f32,
        j == 0 ? NVVM::WGMMAScaleOut::zero : NVVM::WGMMAScaleOut::one,
        NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one, NVVM::MMALayout::row,
        NVVM::MMALayout::col, /*satfinite=*/nullptr);
  }
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  SmallVector<Value> s;
  for (int64_t v = 0; v < shape.scoreRegs; ++v)
    s.push_back(LLVM::ExtractValueOp::create(b, acc, v));
  return s;
}

// Every warpgroup publishes its share; each adds them all.
Value WGMMAPartialEmitter::scoreSlot(Value n, Value w, int64_t v) {
  const int64_t regs = shape.scoreRegs;
  Value slot = arith::MulIOp::create(b, slotOf(n), i32c(shape.slotBytes));
  Value at = addI32(addI32(slot, mulI32(toI32(w), regs * 128 * 4)),
                    (v * 128) * 4 + shape.scoreOffset);
  return ptrAt(addI32(addI32(base, at), mulI32(toI32(tw), 4)));
}

void WGMMAPartialEmitter::publishScoreShare(ArrayRef<Value> s, Value n) {
  for (int64_t v = 0; v < shape.scoreRegs; ++v)
    LLVM::StoreOp::create(b, s[v], scoreSlot(n, wg, v));
}

void WGMMAPartialEmitter::addScoreShares(MutableArrayRef<Value> s, Value n) {
  // Both warpgroups must see bit-identical sums (each normalizes its own
  // columns with them): two add their own share to the other's, which is
  // the same sum either way round; more add all in warpgroup order.
  const int64_t w = shape.warpgroups;
  Value other =
      w == 2 ? arith::XOrIOp::create(b, wg, one).getResult() : Value();
  for (int64_t v = 0; v < shape.scoreRegs; ++v) {
    if (other) {
      s[v] = arith::AddFOp::create(
          b, s[v], LLVM::LoadOp::create(b, f32, scoreSlot(n, other, v)));
      continue;
    }
    Value sum = LLVM::LoadOp::create(b, f32, scoreSlot(n, idx(0), v));
    for (int64_t k = 1; k < w; ++k)
      sum = arith::AddFOp::create(
          b, sum, LLVM::LoadOp::create(b, f32, scoreSlot(n, idx(k), v)));
    s[v] = sum;
  }
}

void WGMMAPartialEmitter::fenceOperands(MutableArrayRef<Value> values) {
  if (values.empty())
    return;
  SmallVector<Type> types;
  SmallVector<std::string> constraints;
  for (Value v : values) {
    types.push_back(v.getType());
    constraints.push_back(v.getType().isF32() ? "=f" : "=r");
  }
  for (size_t i = 0; i < values.size(); ++i)
    constraints.push_back(std::to_string(i));
  auto resTy = LLVM::LLVMStructType::getLiteral(b.getContext(), types);
  Value res =
      LLVM::InlineAsmOp::create(
          b, resTy, ValueRange(values), "", llvm::join(constraints, ","),
          /*has_side_effects=*/true, /*is_align_stack=*/false,
          LLVM::tailcallkind::TailCallKind::None,
          LLVM::AsmDialectAttr::get(b.getContext(), LLVM::AsmDialect::AD_ATT),
          /*operand_attrs=*/ArrayAttr())
          .getResult(0);
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = LLVM::ExtractValueOp::create(b, res, i);
}

// V is this warpgroup's columns of the tile, MN-major (transposed), one
// k16 step of tokens at a time.
void WGMMAPartialEmitter::accumulatePV(const PFragments &p,
                                       MutableArrayRef<Value> acc, Value tile,
                                       bool wait) {
  Value vAt = addI32(
      tile, arith::MulIOp::create(b, toI32(wg),
                                  i32c((shape.columns / 64) * shape.boxBytes)));
  Value vField = descriptorField(vAt);
  // The registers the wgmmas read (the rescaled accumulators, P) are all
  // written before wgmma.fence: the empty asm pins them there.
  const int64_t steps = shape.tileTokens / 16;
  SmallVector<Value> regs(acc.take_front(shape.outRegs));
  for (int64_t kk = 0; kk < steps; ++kk)
    for (Value v : pStep(p, kk))
      regs.push_back(v.getType().isInteger(32)
                         ? v
                         : LLVM::BitcastOp::create(b, i32, v).getResult());
  fenceOperands(regs);
  llvm::copy(ArrayRef<Value>(regs).take_front(shape.outRegs), acc.begin());
  NVVM::WgmmaFenceAlignedOp::create(b);
  for (int64_t kk = 0; kk < steps; ++kk)
    wgmmaRegisterA(
        acc.take_front(shape.outRegs),
        ArrayRef<Value>(regs).slice(shape.outRegs + 4 * kk, 4),
        descriptorAt(vField, kk * 16 * 128, descriptorHigh(shape.boxBytes)),
        shape.columns);
  NVVM::WgmmaGroupSyncAlignedOp::create(b);
  if (wait) {
    NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
    fenceOperands(acc.take_front(shape.outRegs));
  }
}

// Warpgroup 0 writes m and l.
void WGMMAPartialEmitter::storeOutputs(ValueRange state) {
  Value item = layout.item(*this, seq, group, split, numSplits);
  Value writesML = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, t4, zero),
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, wg, zero));
  storePartials(state, shape.outRegs, item, rows, mulc(wg, shape.columns), t4,
                writesML, partOut, partML);
}

} // namespace

void GPUKernelEmitter::emitPartialWGMMA() {
  WGMMAPartialEmitter(b, c).emit();
}
