//===- DecodeKernelWGMMA.cpp - bf16/f16 decode kernel on wgmma --*- C++ -*-===//
//
// The sm_90a partial kernel: TMA loads, an mbarrier per stage, and wgmma.
// A CTA serves 64 query rows (one wgmma m-tile) of one sequence over one KV
// split with `colSplits` warpgroups, each owning d_c / colSplits output
// columns (wgmma N <= 256). Shared memory holds, in TMA's 128-byte swizzle
// (64-column boxes, 8-row groups of 1024 bytes):
//   the group's queries   [ceil(D / 64) boxes][64 rows][64],
//   two cache stages      [2][ceil(D / 64) boxes][32 tokens][64],
//   the warpgroups' score shares, and one mbarrier per stage.
// Thread 0 issues the TMA copies of the next tile (through the block table,
// one box per 64 columns and per tmaBoxRows rows of a page) before the CTA
// waits for the current one. Per 32-token tile, each warpgroup
//   - computes its share (every colSplits-th k-step of 16) of S = Q K^T with
//     wgmma m64n32k16, A and B K-major from shared memory descriptors, and
//     adds the other warpgroups' shares through shared memory;
//   - runs the online softmax on its accumulators (same row/column map as
//     mma.sync per warp: rows 16 w + lane / 4 (+ 8), a row per quad);
//   - accumulates O += P V with wgmma m64nNk16, P from registers (the
//     accumulator layout of S is the A-fragment layout) and V the same
//     shared tile read as an MN-major (transposed) B operand.
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

class WGMMAPartialEmitter : public mla::detail::TensorCoreEmitter {
public:
  using TensorCoreEmitter::TensorCoreEmitter;
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
  Value ptrAt(Value addrI32) { return LLVM::IntToPtrOp::create(b, ptr3, addrI32); }
  /// The descriptor of the swizzled matrix starting at shared address
  /// `addrI32`.
  Value descriptor(Value addrI32, uint64_t high) {
    Value field = arith::AndIOp::create(
        b, arith::ExtUIOp::create(b, b.getI64Type(), addrI32).getResult(),
        i64c(0x3FFFF));
    field = arith::ShRUIOp::create(b, field, i64c(4));
    return arith::OrIOp::create(b, field, i64c(high));
  }
  /// acc (m64n`n`, n / 2 f32 a thread) += P (registers) x V (descriptor),
  /// V transposed; inline PTX, MLIR 22 has no register-A wgmma.
  void wgmmaRegisterA(MutableArrayRef<Value> acc, ArrayRef<Value> a,
                      Value descB, int64_t n) {
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
};

void WGMMAPartialEmitter::emit() {
  OpBuilder::InsertionGuard guard(b);
  MLIRContext *ctx = b.getContext();
  Type ptr0 = LLVM::LLVMPointerType::get(ctx);
  Type ptr7 = LLVM::LLVMPointerType::get(ctx, 7);
  // The tensor maps follow the contract's arguments.
  gpu::GPUFuncOp fn = makePartialKernel(
      /*alignment=*/1024,
      {MemRefType::get({ShapedType::kDynamic}, b.getI64Type())});
  Value lens = fn.getArgument(3), bt = fn.getArgument(2),
        partOut = fn.getArgument(4), partML = fn.getArgument(5),
        numSplits = fn.getArgument(6), maxBlocks = fn.getArgument(7),
        scale = fn.getArgument(8), maps = fn.getArgument(9);

  const int64_t D = c.rowWidth(), R = c.rows(), RG = c.rowsPerGroup,
                T = c.tileTokens, CS = c.colSplits, KS = D / 16,
                N = c.dc / CS, NV = N / 2, NB = (D + 63) / 64,
                BR = c.tmaBoxRows;
  const int64_t qBytes = NB * 64 * 128, boxBytes = T * 128,
                stageBytes = NB * boxBytes,
                exOff = qBytes + 2 * stageBytes,
                barOff = exOff + (CS > 1 ? CS * 128 * (T / 2) * 4 : 0);

  // The 1024-byte aligned base of dynamic shared memory (the swizzle
  // pattern repeats every 1024 bytes; descriptors assume it starts there).
  Value raw = LLVM::PtrToIntOp::create(b, i32, smemBase);
  Value base = arith::AndIOp::create(b, addI32(raw, 1023), i32c(-1024));
  Value stageAt0 = addI32(base, qBytes);
  auto stageAt = [&](Value stage) {
    return addI32(stageAt0, arith::MulIOp::create(b, toI32(stage),
                                                  i32c(stageBytes)));
  };
  auto barrierAt = [&](Value stage) {
    return ptrAt(addI32(addI32(base, barOff),
                        arith::MulIOp::create(b, toI32(stage), i32c(8))));
  };
  Value maps0 = LLVM::AddrSpaceCastOp::create(b, ptr0, globalPtr(maps));
  Value qMap = maps0;
  Value kvMap = LLVM::GEPOp::create(b, ptr0, b.getI8Type(), maps0,
                                    ArrayRef<LLVM::GEPArg>{128});

  Value split = gpu::BlockIdOp::create(b, gpu::Dimension::x);
  Value group = gpu::BlockIdOp::create(b, gpu::Dimension::y);
  Value seq = gpu::BlockIdOp::create(b, gpu::Dimension::z);
  Value tid = gpu::ThreadIdOp::create(b, gpu::Dimension::x);
  Value wg = divc(tid, 128), tw = remc(tid, 128);
  Value warp = divc(tw, 32), lane = remc(tid, 32);
  Value g = divc(lane, 4), t4 = remc(lane, 4);
  Value zero = idx(0), one = idx(1);
  Value negInf = f32c(-std::numeric_limits<float>::infinity());
  Value zeroF = f32c(0.0f);
  Value scaleLog2 = baseTwoSoftmax().scoreScale(scale);
  Value leader = arith::CmpIOp::create(b, arith::CmpIPredicate::eq, tid, zero);

  SplitRange range =
      splitRange(lens, seq, maxBlocks, numSplits, split, T);
  Value len = range.len, t0 = range.t0, t1 = range.t1,
        lastTok = range.lastTok;
  Value btBase = mul(seq, maxBlocks);

  auto ifThen = [&](Value cond, function_ref<void()> body) {
    auto op = scf::IfOp::create(b, cond, /*withElse=*/false);
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(op.thenBlock());
    body();
  };
  auto less = [&](Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::slt, x, y);
  };
  auto tma = [&](Value dstI32, Value map, Value bar, Value col, Value row) {
    NVVM::CpAsyncBulkTensorGlobalToSharedClusterOp::create(
        b, LLVM::AddrSpaceCastOp::create(b, ptr7, ptrAt(dstI32)), map,
        ValueRange{col, row}, bar, /*im2colOffsets=*/ValueRange{},
        /*multicastMask=*/Value(), /*l2CacheHint=*/Value(),
        NVVM::TMALoadMode::TILE, /*isCTAOnly=*/false, /*group=*/nullptr,
        /*predicate=*/Value());
  };
  // Thread 0: the tile of tokens [ts, ts + T) into `stage`, box by box;
  // boxes past the split repeat the page of its last token (masked).
  auto loadTile = [&](Value ts, Value stage, bool withQueries) {
    Value bar = barrierAt(stage);
    NVVM::MBarrierArriveExpectTxOp::create(
        b, Type(), bar, i32c(stageBytes + (withQueries ? qBytes : 0)),
        NVVM::MemScopeKind::CTA, /*relaxed=*/false, /*predicate=*/Value());
    if (withQueries) {
      Value row = toI32(add(mulc(seq, R), mulc(group, RG)));
      for (int64_t bx = 0; bx < NB; ++bx)
        tma(addI32(base, bx * 64 * 128), qMap, bar, i32c(64 * bx), row);
    }
    Value at = stageAt(stage);
    for (int64_t sub = 0; sub < T / BR; ++sub) {
      Value tok = minIdx(addc(ts, sub * BR), lastTok);
      tok = arith::SubIOp::create(b, tok, remc(tok, BR));
      Value row = toI32(flash::cacheRow(*this, c, bt, btBase, tok));
      for (int64_t bx = 0; bx < NB; ++bx)
        tma(addI32(at, bx * boxBytes + sub * BR * 128), kvMap, bar,
            i32c(64 * bx), row);
    }
  };

  ifThen(leader, [&] {
    for (int64_t s = 0; s < 2; ++s)
      NVVM::MBarrierInitOp::create(b, barrierAt(idx(s)), i32c(1), Value());
    NVVM::FenceMbarrierInitOp::create(b);
  });
  gpu::BarrierOp::create(b);
  ifThen(arith::AndIOp::create(b, leader, less(t0, t1)),
         [&] { loadTile(t0, zero, /*withQueries=*/true); });

  // This thread's rows: 16 warp + g (+ 8) of the warpgroup's 64.
  FragmentRows rows = fragmentRows(mulc(warp, 16), g, group, len, t1);

  auto sTy = LLVM::LLVMStructType::getLiteral(ctx, SmallVector<Type>(T / 2, f32));
  SmallVector<Value> inits(NV, zeroF);
  inits.append({negInf, negInf, zeroF, zeroF});
  auto tiles = forLoop(t0, t1, idx(T), inits, [&](Value ts, ValueRange st) {
    Value i = divc(arith::SubIOp::create(b, ts, t0), T);
    Value stage = remc(i, 2);
    Value parity = toI32(remc(divc(i, 2), 2));
    Value nextTs = addc(ts, T);
    ifThen(arith::AndIOp::create(b, leader, less(nextTs, t1)), [&] {
      loadTile(nextTs, arith::SubIOp::create(b, one, stage), false);
    });
    NVVM::MBarrierTryWaitParityOp::create(b, barrierAt(stage), parity,
                                          i32c(0x989680));
    Value tile = stageAt(stage);

    // The split's last tile: V rows of tokens past t1 came with their TMA
    // boxes (the rest of the page, possibly never written: NaN * 0 would
    // be NaN); they are zeroed before P V reads them, through the generic
    // proxy, then fenced for wgmma's async proxy.
    ifThen(less(t1, addc(ts, T)), [&] {
      const int64_t vBoxes = c.dc / 64, count = T * vBoxes * 8;
      auto zero16 = arith::ConstantOp::create(
          b, DenseElementsAttr::get(VectorType::get({4}, i32),
                                    b.getI32IntegerAttr(0)));
      Value tEnd = arith::SubIOp::create(b, t1, ts);
      // A loop rather than unrolled stores: its per-thread index math must
      // not be hoisted into registers that the accumulators need.
      forLoop(tid, idx(count), idx(c.threads()), {}, [&](Value e, ValueRange) {
        Value j = divc(e, vBoxes * 8);
        ifThen(arith::CmpIOp::create(b, arith::CmpIPredicate::sge, j, tEnd),
               [&] {
                 Value bx = remc(divc(e, 8), vBoxes), chunk = remc(e, 8);
                 Value at = addI32(
                     tile, toI32(add(add(mulc(bx, boxBytes), mulc(j, 128)),
                                     mulc(chunk, 16))));
                 LLVM::StoreOp::create(b, zero16, ptrAt(at), /*alignment=*/16);
               });
        return SmallVector<Value>{};
      });
      NVVM::FenceProxyOp::create(
          b, NVVM::ProxyKind::async_shared,
          NVVM::SharedSpaceAttr::get(ctx, NVVM::SharedSpace::shared_cta));
      gpu::BarrierOp::create(b);
    });

    // This warpgroup's k-steps of S = Q K^T: k = wg + CS j, unrolled (the
    // same count for every warpgroup) so that the wgmma chain stays
    // asynchronous.
    NVVM::WgmmaFenceAlignedOp::create(b);
    Value acc = LLVM::ZeroOp::create(b, sTy);
    Value wg32 = toI32(wg);
    for (int64_t j = 0; j < KS / CS; ++j) {
      Value k = addI32(wg32, CS * j);
      Value inBox = mulI32(arith::RemUIOp::create(b, k, i32c(4)), 32);
      Value box = arith::DivUIOp::create(b, k, i32c(4));
      Value a = descriptor(addI32(addI32(base, mulI32(box, 64 * 128)), inBox),
                           kDescKMajor);
      Value bDesc = descriptor(
          addI32(addI32(tile, mulI32(box, boxBytes)), inBox), kDescKMajor);
      NVVM::WGMMATypes t = c.elemType.isBF16() ? NVVM::WGMMATypes::bf16
                                               : NVVM::WGMMATypes::f16;
      acc = NVVM::WgmmaMmaAsyncOp::create(
          b, sTy, acc, a, bDesc, NVVM::MMAShapeAttr::get(ctx, 64, T, 16), t, t,
          NVVM::WGMMATypes::f32, NVVM::WGMMAScaleOut::one,
          NVVM::WGMMAScaleIn::one, NVVM::WGMMAScaleIn::one,
          NVVM::MMALayout::row, NVVM::MMALayout::col, /*satfinite=*/nullptr);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b);
    NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
    SmallVector<Value> s;
    for (int64_t v = 0; v < T / 2; ++v)
      s.push_back(LLVM::ExtractValueOp::create(b, acc, v));
    if (CS > 1) {
      auto slot = [&](Value w, int64_t v) {
        Value at = addI32(mulI32(toI32(w), (T / 2) * 128 * 4),
                          (v * 128) * 4 + exOff);
        return ptrAt(addI32(addI32(base, at), mulI32(toI32(tw), 4)));
      };
      for (int64_t v = 0; v < T / 2; ++v)
        LLVM::StoreOp::create(b, s[v], slot(wg, v));
      gpu::BarrierOp::create(b);
      for (int64_t v = 0; v < T / 2; ++v) {
        Value sum = zeroF;
        for (int64_t w = 0; w < CS; ++w)
          sum = arith::AddFOp::create(b, sum,
                                      LLVM::LoadOp::create(b, f32, slot(idx(w), v)));
        s[v] = sum;
      }
    }

    SmallVector<Value> next =
        onlineSoftmax(s, st, NV, ts, t4, rows.limit, scaleLog2);

    // O += P V: V is this warpgroup's N columns of the tile, MN-major.
    Value vAt = addI32(tile, arith::MulIOp::create(b, toI32(wg),
                                                   i32c((N / 64) * boxBytes)));
    NVVM::WgmmaFenceAlignedOp::create(b);
    for (int64_t kk = 0; kk < T / 16; ++kk) {
      SmallVector<Value> a = pFragments(s, kk);
      for (Value &v : a)
        if (!v.getType().isInteger(32))
          v = LLVM::BitcastOp::create(b, i32, v);
      wgmmaRegisterA(MutableArrayRef<Value>(next).take_front(NV), a,
                     descriptor(addI32(vAt, kk * 16 * 128),
                                descriptorHigh(boxBytes)),
                     N);
    }
    NVVM::WgmmaGroupSyncAlignedOp::create(b);
    NVVM::WgmmaWaitGroupSyncOp::create(b, 0);
    // The stage and the score slots are free for the next tile.
    gpu::BarrierOp::create(b);
    return next;
  });

  // Partials: warpgroup 0 writes m and l.
  Value item = layout.item(*this, seq, group, split, numSplits);
  Value writesML = arith::AndIOp::create(
      b, arith::CmpIOp::create(b, arith::CmpIPredicate::eq, t4, zero),
      arith::CmpIOp::create(b, arith::CmpIPredicate::eq, wg, zero));
  storePartials(tiles.getResults(), NV, item, rows, mulc(wg, N), t4, writesML,
                partOut, partML);
  gpu::ReturnOp::create(b);
}

} // namespace

void GPUKernelEmitter::emitPartialWGMMA() {
  WGMMAPartialEmitter(b, c).emit();
}
