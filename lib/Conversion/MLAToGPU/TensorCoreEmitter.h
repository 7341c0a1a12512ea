//===- TensorCoreEmitter.h - helpers of the tensor-core kernels -*- C++ -*-===//
//
// What the mma.sync and wgmma partial kernels share: their declaration,
// pointers into dynamic shared memory and kernel buffers, 16-byte
// asynchronous copies, ldmatrix, mma.sync, packing f32 pairs to 16-bit
// operands, quad reductions, and the work on the accumulator layout (rows and
// limits, online softmax, P fragments, partial stores;
// TensorCoreEmitter.cpp).
//
//===----------------------------------------------------------------------===//

#ifndef MLA_LIB_CONVERSION_MLATOGPU_TENSORCOREEMITTER_H
#define MLA_LIB_CONVERSION_MLATOGPU_TENSORCOREEMITTER_H

#include "KernelEmitter.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::mla::detail {

class TensorCoreEmitter : public GPUKernelEmitter {
public:
  using GPUKernelEmitter::GPUKernelEmitter;

protected:
  Value i32c(int64_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  }
  Value toI32(Value v) { return arith::IndexCastOp::create(b, i32, v); }
  Value divc(Value x, int64_t v) {
    return v == 1 ? x : arith::DivUIOp::create(b, x, idx(v));
  }
  Value remc(Value x, int64_t v) { return arith::RemUIOp::create(b, x, idx(v)); }

  /// A shared-memory pointer `bytes` past the dynamic shared memory base.
  Value shared(Value bytes) {
    return LLVM::GEPOp::create(b, ptr3, b.getI8Type(), smemBase,
                               ValueRange{toI32(bytes)});
  }
  /// The global pointer of a kernel's memref argument.
  Value globalPtr(Value memref) {
    Value addr = memref::ExtractAlignedPointerAsIndexOp::create(b, memref);
    Value generic = LLVM::IntToPtrOp::create(
        b, LLVM::LLVMPointerType::get(b.getContext()),
        arith::IndexCastOp::create(b, b.getI64Type(), addr).getResult());
    return LLVM::AddrSpaceCastOp::create(b, ptr1, generic);
  }
  /// `base` advanced by `elems` storage elements.
  Value globalAt(Value base, Value elems) {
    return LLVM::GEPOp::create(
        b, ptr1, c.elemType, base,
        ValueRange{arith::IndexCastOp::create(b, b.getI64Type(), elems)});
  }
  /// `base` advanced by `bytes` bytes.
  Value globalBytes(Value base, Value bytes) {
    return LLVM::GEPOp::create(
        b, ptr1, b.getI8Type(), base,
        ValueRange{arith::IndexCastOp::create(b, b.getI64Type(), bytes)});
  }
  /// One 16-byte asynchronous copy, global to shared, bypassing L1; where
  /// `copies` (i1) is given and false, it reads nothing and writes zeros
  /// (cp.async's source size 0).
  void copy16(Value sharedBytes, Value src, Value copies = Value()) {
    Value srcSize;
    if (copies)
      srcSize = arith::SelectOp::create(b, copies, i32c(16), i32c(0));
    NVVM::CpAsyncOp::create(
        b, shared(sharedBytes), src, b.getI32IntegerAttr(16),
        NVVM::LoadCacheModifierKindAttr::get(b.getContext(),
                                             NVVM::LoadCacheModifierKind::CG),
        srcSize);
  }
  /// ldmatrix .x4 at the address this lane names; `transpose` for V.
  SmallVector<Value> ldmatrix4(Value sharedBytes, bool transpose) {
    auto structTy = LLVM::LLVMStructType::getLiteral(
        b.getContext(), SmallVector<Type>(4, i32));
    Value res = NVVM::LdMatrixOp::create(
        b, structTy, shared(sharedBytes), 4,
        transpose ? NVVM::MMALayout::col : NVVM::MMALayout::row,
        NVVM::LdStMatrixShapeAttr::get(b.getContext(), 8, 8),
        NVVM::LdStMatrixEltType::B16);
    SmallVector<Value> regs;
    for (int64_t i = 0; i < 4; ++i)
      regs.push_back(LLVM::ExtractValueOp::create(b, res, i));
    return regs;
  }
  /// A packed pair of 16-bit values as mma.sync takes it: i32 for bf16,
  /// vector<2xf16> for f16.
  Value operand(Value packedI32) {
    if (c.elemType.isBF16())
      return packedI32;
    return LLVM::BitcastOp::create(b, VectorType::get({2}, c.elemType),
                                   packedI32);
  }
  /// Two f32 values rounded to the storage type and packed (lo, hi).
  Value pack(Value lo, Value hi) {
    auto vecTy = VectorType::get({2}, c.elemType);
    Value v = LLVM::PoisonOp::create(b, vecTy);
    v = LLVM::InsertElementOp::create(
        b, v, arith::TruncFOp::create(b, c.elemType, lo), i32c(0));
    v = LLVM::InsertElementOp::create(
        b, v, arith::TruncFOp::create(b, c.elemType, hi), i32c(1));
    return c.elemType.isBF16() ? LLVM::BitcastOp::create(b, i32, v).getResult()
                               : v;
  }
  /// acc (4 x f32) += A (16 x 16) * B (16 x 8), f32 accumulation.
  void mma(ArrayRef<Value> a, ArrayRef<Value> bFrag, MutableArrayRef<Value> acc) {
    auto structTy = LLVM::LLVMStructType::getLiteral(
        b.getContext(), SmallVector<Type>(4, f32));
    NVVM::MMATypes t =
        c.elemType.isBF16() ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
    Value res = NVVM::MmaOp::create(
        b, structTy, a, bFrag, acc, ArrayRef<int64_t>{16, 8, 16},
        std::nullopt, std::nullopt, std::array<NVVM::MMATypes, 2>{t, t},
        std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                       NVVM::MMALayout::col});
    for (int64_t i = 0; i < 4; ++i)
      acc[i] = LLVM::ExtractValueOp::create(b, res, i);
  }
  /// Max or sum over the four lanes of a quad (the lanes holding a row).
  Value quadReduce(Value v, bool max) {
    for (int32_t offset : {1, 2}) {
      Value other =
          gpu::ShuffleOp::create(b, v, offset, 32, gpu::ShuffleMode::XOR)
              .getShuffleResult();
      v = max ? maxf(v, other) : arith::AddFOp::create(b, v, other).getResult();
    }
    return v;
  }
  /// The tensor-core kernels keep the softmax in base 2 (ex2.approx on the
  /// raw scores times scale * log2 e).
  flash::OnlineSoftmax baseTwoSoftmax() {
    return flash::OnlineSoftmax(*this, math, flash::OnlineSoftmax::Base::Two);
  }

  /// Declares dynamic shared memory (`alignment` bytes aligned) and the
  /// partial kernel with the contract's arguments (q, kv, block_table,
  /// seq_lens, part_out, part_ml, num_splits, max_blocks_per_seq, scale)
  /// followed by `extra`; the builder is left at the start of its body,
  /// where `smemBase` points at the shared memory.
  gpu::GPUFuncOp makePartialKernel(uint64_t alignment, TypeRange extra = {});

  // Both tensor-core kernels hold scores and outputs in the mma/wgmma
  // accumulator layout: per 16-row fragment a thread owns rows g = lane / 4
  // and g + 8, value v of a fragment's n-tile j being row g + 8 ((v / 2) % 2),
  // column 8 j + 2 (lane % 4) + v % 2.

  /// A thread's two rows, `rowBase` + g (+ 8) of the group: whether they
  /// exist, the end of the split's tokens they see (0 if none) and, with a
  /// window, the first they see.
  struct FragmentRows {
    SmallVector<Value, 2> row, valid, limit, start;
  };
  FragmentRows fragmentRows(Value rowBase, Value g, Value group, Value len,
                            Value t1);

  /// One tile of online softmax in base 2. `s` holds the tile's raw scores
  /// of tokens ts.. in the accumulator layout and becomes P (tokens of a row
  /// outside [rows.start, rows.limit) masked); `state` is [accumulators
  /// (nAcc), max of both rows (base 2), lane sums of both rows]; returns it
  /// with the accumulators rescaled.
  /// With token indices, `slotHolds[i]` says whether this thread's i-th
  /// token (ts + 2 t4 + 8 (i / 2) + i % 2, see slotTokens) holds a token at
  /// all; a slot that does not is masked in every row. `masked` false: a
  /// tile every row sees whole, no masks (rows that are not valid compute
  /// on what their queries hold and are never stored).
  SmallVector<Value> onlineSoftmax(MutableArrayRef<Value> s, ValueRange state,
                                   int64_t nAcc, Value ts, Value t4,
                                   const FragmentRows &rows, Value scaleLog2,
                                   ArrayRef<Value> slotHolds = {},
                                   bool masked = true);
  /// The tokens of a tile of `tileTokens` whose scores this thread holds in
  /// the accumulator layout, in the order of onlineSoftmax's slotHolds.
  SmallVector<Value> slotTokens(Value ts, Value t4, int64_t tileTokens) {
    SmallVector<Value> toks;
    for (int64_t i = 0; i < tileTokens / 4; ++i)
      toks.push_back(addc(add(ts, mulc(t4, 2)), 8 * (i / 2) + i % 2));
    return toks;
  }

  /// The P fragments of PV k-step kk (tokens 16 kk..): the accumulator
  /// layout of two n8 tiles is the A layout of one k16 step.
  SmallVector<Value> pFragments(ArrayRef<Value> p, int64_t kk) {
    SmallVector<Value> a;
    for (int64_t i = 0; i < 4; ++i)
      a.push_back(pack(p[8 * kk + 2 * i], p[8 * kk + 2 * i + 1]));
    return a;
  }

  /// P as the A fragments of its k16 steps (4 a step), and, where not
  /// empty, whether each of the thread's two rows takes part.
  struct PFragments {
    SmallVector<Value> frags;
    SmallVector<Value, 2> rowMask;
  };
  /// The A fragments of k-step kk, rows not taking part zeroed.
  SmallVector<Value> pStep(const PFragments &p, int64_t kk);

  /// acc += P V for the tile of tokens [ts, ts + tileTokens), through `pv`
  /// (which adds P to acc). A tile past the first query's visible end
  /// (causal, q_len > 1) or before the last query's visible start (a
  /// window) holds rows that some of the group's queries may not see, and
  /// they may be NaN or inf (0 * NaN is NaN): there the group's queries take
  /// turns, each adding its own rows' P after `zeroVOutside(lo, hi)` has
  /// zeroed the tile's V rows outside [lo, hi), the rows it sees: last query
  /// first past the end (hi only decreases), first query first before the
  /// start (lo only increases), so that what an earlier turn needed is not
  /// needed again. A tile is never both (GPUDecodeConfig: window >= tile +
  /// q_len). `zeroVOutside` synchronizes the CTA before and after its
  /// stores.
  SmallVector<Value>
  visiblePV(ArrayRef<Value> p, ValueRange acc, Value ts, int64_t tileTokens,
            Value len, Value group, const FragmentRows &rows,
            function_ref<void(const PFragments &, MutableArrayRef<Value>)> pv,
            function_ref<void(Value, Value)> zeroVOutside);

  /// The tiles of a split (`range`, tiles of `tileTokens` from t0) that
  /// every row sees whole: [start, end), tile-aligned, start the first tile
  /// at or past the last query's window start (t0 without a window), end
  /// past the last tile before the first query's visible end (causal,
  /// q_len > 1) or t1. Tiles before start and from end on need masks;
  /// start <= end <= t1 unless start = t1 (no whole tile).
  std::pair<Value, Value> wholeTiles(const flash::SplitRange &range,
                                     int64_t tileTokens);

  /// Writes a CTA's partials [b, group, split, row, ...]: the unnormalized
  /// output (final loop state as onlineSoftmax keeps it) at columns
  /// `colBase` + 8 j + 2 (lane % 4), and, where `writesML`, the max in
  /// natural-log units and the row's sum over its quad.
  void storePartials(ValueRange state, int64_t nAcc, Value item,
                     const FragmentRows &rows, Value colBase, Value t4,
                     Value writesML, Value partOut, Value partML);

  /// Lazy rescaling (FlashAttention-4's): a row's running max moves only
  /// when a tile's max exceeds it by more than this (base 2), and a warp
  /// rescales its accumulators only on a tile where one of its rows moved.
  /// 0: every tile, every row.
  float lazyRescaleLog2 = 0;

  Type ptr1, ptr3;
  Value smemBase;
};

} // namespace mlir::mla::detail

#endif // MLA_LIB_CONVERSION_MLATOGPU_TENSORCOREEMITTER_H
