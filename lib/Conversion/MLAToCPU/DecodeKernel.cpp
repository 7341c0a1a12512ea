//===- DecodeKernel.cpp - CPU flash-decoding kernels ------------*- C++ -*-===//
//
// Flash decoding on the CPU. One work item owns a group of query rows of one
// sequence and one split of its tokens; it walks the split in tiles of
// `tileTokens` cache rows, loaded once and used by every row of the group:
//   1. scores S = Q K^T, register-blocked over rows x tokens, vectors over
//      d_c + d_r with FMAs, masked (length, causal) to -inf;
//   2. online softmax per row (running max m, running sum l, rescale alpha);
//   3. O = alpha O + P V with V the first d_c values of the same rows,
//      register-blocked over rows x vectors of d_c.
// Tokens past the split's end are clamped to its last valid row, so loads
// stay in bounds and finite, and their probability is 0. The combine kernel
// merges the splits' (O, m, l) into out and lse, with zeros and -inf for a
// row that saw no token.
//
//===----------------------------------------------------------------------===//

#include "KernelEmitter.h"
#include "mla/Dialect/MLA/IR/MLADecompositions.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/Dialect/X86Vector/X86VectorDialect.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <limits>

using namespace mlir;
using namespace mlir::mla;

FailureOr<CPUDecodeConfig>
CPUDecodeConfig::get(const DecodeParams &params, int64_t vectorWidth,
                     bool bf16Dot,
                     function_ref<InFlightDiagnostic()> emitError,
                     bool amx) {
  if (vectorWidth != 4 && vectorWidth != 8 && vectorWidth != 16) {
    emitError() << "cannot generate a CPU decode kernel: vector width = "
                << vectorWidth << " (expected 4, 8 or 16)";
    return failure();
  }
  CPUDecodeConfig c;
  static_cast<DecodeParams &>(c) = params;
  c.vectorWidth = vectorWidth;
  // vdpbf16ps wants bf16 storage, 16-lane (zmm) or 8-lane (ymm) f32
  // results and whole pairs of vectors per row.
  c.bf16Dot = bf16Dot && c.elemType && c.elemType.isBF16() &&
              vectorWidth >= 8 && c.rowWidth() % (2 * vectorWidth) == 0;
  if (failed(c.verify("CPU", vectorWidth,
                      std::to_string(vectorWidth) + "-lane f32 vectors",
                      emitError, /*indices=*/true, /*fp8=*/true)))
    return failure();


  // A group is as many rows of one KV head as share each tile of the cache
  // (each group reads the whole cache): up to 64 while their f32
  // accumulators (rows x d_c) stay within 256 KiB of L2, 16 at least.
  // Measured on one core, 128 heads at 512/64, 4096 tokens, f32: groups of
  // 16 / 32 / 64 / 128 rows 9.7-10.0 / 8.4-9.0 / 7.9-8.0 / 7.9-8.0 ms;
  // batch 4 on 2 cores 22.2 ms (16) and 17.7 ms (64); bf16 (vdpbf16ps)
  // 9.8-9.9 and 9.6-9.7 ms; 16 heads x 2 queries, f32: 2.5-2.7 (16) and
  // 2.3-2.6 ms (32).
  int64_t rows = c.kvHeadRows();
  const int64_t cap = std::clamp<int64_t>(kGroupAccumulatorBytes / (4 * c.dc),
                                          16, 64);
  if (rows <= cap) {
    c.rowsPerGroup = rows;
  } else {
    // Equal groups where a divisor near the cap allows.
    c.rowsPerGroup = cap;
    for (int64_t g = cap; g > cap / 2; --g)
      if (rows % g == 0) {
        c.rowsPerGroup = g;
        break;
      }
  }
  // AMX (tdpbf16ps, 16 x 32 bf16 tiles): with enough rows a group takes
  // all rows of its KV head, up to 128, so that the cache is read once per
  // sequence; its stack (accumulators, Q^T, the tile's keys and V) must
  // stay well inside a thread's. The vector kernels of the library share
  // the groups, the AMX kernel being chosen at run time.
  if (amx && c.bf16Dot && vectorWidth == 16 && c.rowWidth() % 32 == 0 &&
      c.dc % 32 == 0 && rows >= kAMXMinRows) {
    auto padded = [](int64_t g) { return (g + 15) / 16 * 16; };
    int64_t g = std::min<int64_t>(rows, 128);
    while (g > 16 && c.amxStackBytes(padded(g)) > kStackBytes)
      g = padded(g) - 16;
    if (c.amxStackBytes(padded(g)) <= kStackBytes) {
      c.amx = true;
      c.rowsPerGroup = g;
    }
  }
  // Register blocks: 32 vector registers with AVX-512, 16 below.
  bool wide = vectorWidth == 16;
  auto largestDivisor = [](int64_t n, std::initializer_list<int64_t> cands) {
    for (int64_t d : cands)
      if (n % d == 0)
        return d;
    return int64_t(1);
  };
  c.scoreRows = largestDivisor(c.rowsPerGroup, {4, 3, 2, 1});
  c.scoreTokens = wide ? 4 : 2;
  if (c.scoreRows < 4)
    c.scoreTokens = wide ? 8 : 4;
  c.pvRows = largestDivisor(c.rowsPerGroup, wide ? std::initializer_list<int64_t>{8, 6, 4, 3, 2, 1}
                                                 : std::initializer_list<int64_t>{4, 3, 2, 1});
  c.pvVectors = largestDivisor(c.dc / vectorWidth, {2, 1});
  if (c.pvRows <= 2)
    c.pvVectors = largestDivisor(c.dc / vectorWidth, {4, 2, 1});
  // A few rows of bf16 through vdpbf16ps stream the cache faster in long
  // tiles (per-tile work is then small next to the loads: 1 head, batch 4 x
  // 8192 tokens out of cache went from 57-64% to 72-74% of the streaming
  // bandwidth with 128 tokens); f32 and many rows gain nothing from them.
  c.tileTokens = c.bf16Dot && c.rowsPerGroup <= 4 ? 128 : 16;
  // Many rows make the kernel compute bound, and cache rows that are not in
  // L1 then stall it unless the next tile is already on its way. Measured
  // with 16 heads on one core: f32 gains 4-12% once the cache is out of L3
  // (37.7 MB) but loses 4-5% while it is in L3 (9.4 MB); bf16 through
  // vdpbf16ps gains 7-37% at every size from 4.7 to 37.7 MB
  // (docs/benchmarks.md). Head caches stream twice the bytes a row (keys
  // and values) for 1-8 rows a KV head and gain at any row count, paired
  // calls on 2 cores with 8 KV heads, d 128, 4096 tokens: bf16 +7% (32
  // heads) and +34% (64 heads) at batch 4 (67 MB of cache), -2% at batch 1
  // (17 MB); f32 +13% at batch 4, -5% at batch 1 (hence OutOfCache).
  // Few rows are memory bound, and the next tile's pages (anywhere in the
  // cache) are what the hardware prefetchers cannot guess: 1-2 heads at
  // 512/64, batch 4 x 8192 tokens evicted before each call, one core:
  // bf16 3.26-3.28 -> 2.26-2.27 ms (1 head) and 4.49-4.51 -> 2.43 ms
  // (2 heads); f32 5.1-5.3 -> 4.2 ms and 5.7-6.1 -> 4.5-5.0 ms; in cache
  // (batch 1 x 4096) bf16 within +-3%. So every row count has it.
  // The prefetches go to L2 (prefetcht1), not L1: a tile ahead is more than
  // L1 holds, and on a Zen 4 EPYC prefetcht0 holds an L1 miss buffer per
  // line, so that 1 head read 11-12 GB/s of a 20 GB/s stream. Batch 4 x
  // 8192 evicted, one core: bf16 1 head 3.2-3.3 -> 2.2-2.8 ms, f32 5.1-5.2
  // -> 3.9-4.0 ms; 16 heads bf16 7.8-8.0 -> 7.3 ms, f32 12.6-12.7 -> 11.8-11.9
  // ms; GQA 32/8 at d 128, batch 4 x 4096 in cache, 8.3-8.5 -> 6.4 ms.
  c.prefetch = c.bf16Dot ? Prefetch::Always : Prefetch::OutOfCache;
  // P V in bf16 dot products doubles its rate, and then 32-token tiles and
  // 4 x 4 blocks (more columns a P broadcast) pay. One thread of a Zen 4
  // EPYC (AVX512-BF16, no AMX), 512/64, 4096 tokens, paired libraries: 128
  // heads f32 FMAs 8.7 ms -> dot products 6.3-6.5 -> with the tiling
  // 5.7-5.8 (64-token tiles 5.6-5.7); 16 heads 0.86 -> 0.77 ms (q_len 1),
  // 1.65-1.68 -> 1.49-1.50 ms (q_len 2). The f32 kernels measured the same
  // with either tiling (11.1-11.8 / 10.8-11.2 ms).
  c.choosePVDot();
  if (c.pvDot && c.rowsPerGroup > 4) {
    c.tileTokens = 32;
    c.pvRows = largestDivisor(c.rowsPerGroup, {4, 3, 2, 1});
    c.pvVectors = largestDivisor(c.dc / vectorWidth, {4, 2, 1});
  } else if (c.pvDot) {
    // One block of all rows, whose pairs are interleaved in registers.
    c.pvRows = c.rowsPerGroup;
    c.pvVectors = largestDivisor(c.dc / vectorWidth,
                                 c.rowsPerGroup <= 2
                                     ? std::initializer_list<int64_t>{8, 4, 2}
                                     : std::initializer_list<int64_t>{4, 2});
  }
  c.chooseQKLanes();
  // Wide rows (fp8 rows stage the tile; d_c in the thousands) take shorter
  // tiles rather than more stack than a thread has.
  while (c.vectorStackBytes() > kStackBytes &&
         (c.tileTokens / 2) % c.scoreTokens == 0) {
    c.tileTokens /= 2;
    c.choosePVDot();
    c.chooseQKLanes();
  }
  if (failed(c.checkStack(emitError)))
    return failure();
  return c;
}

void CPUDecodeConfig::chooseQKLanes() {
  const int64_t unit = bf16Dot ? 2 : 1;
  qkLanes = vectorWidth == 16 && rowsPerGroup >= 16 &&
            (bf16Dot || (elemType && elemType.isF32())) &&
            rowWidth() % (16 * unit) == 0;
  if (!qkLanes)
    return;
  // Up to 4 row vectors x 4-8 tokens: 16 accumulators, the row vectors'
  // loads and one broadcast a token.
  const int64_t rowVectors = (rowsPerGroup + 15) / 16;
  laneRowVectors = rowVectors % 4 == 0   ? 4
                   : rowVectors % 3 == 0 ? 3
                   : rowVectors % 2 == 0 ? 2
                                         : 1;
  laneTokens = laneRowVectors <= 2 ? 8 : 4;
  while (tileTokens % laneTokens != 0)
    laneTokens /= 2;
  // Q^T is a second copy of the queries on the stack: wide rows go without.
  if (vectorStackBytes() > kStackBytes)
    qkLanes = false;
}

LogicalResult CPUDecodeConfig::checkStack(
    function_ref<InFlightDiagnostic()> emitError) const {
  if (vectorStackBytes() <= kStackBytes)
    return success();
  emitError() << "cannot generate a CPU decode kernel: " << rowsPerGroup
              << " rows x d_c = " << dc << " with tiles of " << tileTokens
              << " tokens" << (fp8Cache() ? " (staged from fp8 rows)" : "")
              << " need " << vectorStackBytes() << " bytes of stack, more than "
              << kStackBytes;
  return failure();
}

LogicalResult
CPUDecodeConfig::overrideTiling(int64_t tokens, ArrayRef<int64_t> blocks,
                                function_ref<InFlightDiagnostic()> emitError) {
  auto refuse = [&](StringRef what, int64_t v, const Twine &rule) {
    emitError() << "cannot generate a CPU decode kernel: " << what << " = "
                << v << " (" << rule << ")";
    return failure();
  };
  if (!blocks.empty()) {
    if (blocks.size() != 5) {
      emitError() << "cannot generate a CPU decode kernel: tile-blocks has "
                  << blocks.size()
                  << " values (expected rows-per-group, score-rows, "
                     "score-tokens, pv-rows, pv-vectors)";
      return failure();
    }
    if (blocks[0] < 1 || blocks[0] > std::min<int64_t>(rows(), 128))
      return refuse("rows-per-group", blocks[0],
                    "must be in 1.." + Twine(std::min<int64_t>(rows(), 128)));
    // The group's f32 accumulators live on the stack.
    if (blocks[0] * dc * 4 > kStackBytes)
      return refuse("rows-per-group", blocks[0],
                    "its f32 accumulators, rows x d_c x 4 bytes, must stay "
                    "within " + Twine(kStackBytes) + " bytes");
    rowsPerGroup = blocks[0];
    if (blocks[1] < 1 || rowsPerGroup % blocks[1] != 0)
      return refuse("score-rows", blocks[1], "must divide rows-per-group");
    scoreRows = blocks[1];
    if (blocks[2] < 1 || blocks[2] > 16)
      return refuse("score-tokens", blocks[2], "must be in 1..16");
    scoreTokens = blocks[2];
    if (blocks[3] < 1 || rowsPerGroup % blocks[3] != 0)
      return refuse("pv-rows", blocks[3], "must divide rows-per-group");
    pvRows = blocks[3];
    if (blocks[4] < 1 || (dc / vectorWidth) % blocks[4] != 0)
      return refuse("pv-vectors", blocks[4],
                    "must divide the " + Twine(dc / vectorWidth) +
                        " vectors of d_c");
    pvVectors = blocks[4];
  }
  // The AMX kernel takes the groups only while its stack stays bounded.
  if (amx && amxStackBytes((rowsPerGroup + 15) / 16 * 16) > kStackBytes)
    amx = false;
  if (tokens)
    tileTokens = tokens;
  if (tileTokens < 1 || tileTokens > 256 || tileTokens % scoreTokens != 0)
    return refuse("tile-tokens", tileTokens,
                  "must be a multiple of score-tokens (" + Twine(scoreTokens) +
                      ") in 1..256");
  choosePVDot();
  chooseQKLanes();
  return checkStack(emitError);
}

using namespace mlir::mla::cpu_kernels;

func::FuncOp KernelEmitter::makeFunc(StringRef name, TypeRange args) {
  auto fn = func::FuncOp::create(b, name, b.getFunctionType(args, {}));
  fn->setAttr("llvm.emit_c_interface", b.getUnitAttr());
  b.setInsertionPointToStart(fn.addEntryBlock());
  return fn;
}

/// Sums each of VL vectors of VL lanes into one vector whose lane i is the
/// sum of accs[i]: log2(VL) levels of two-source shuffles and adds (15 for
/// 16 lanes) instead of VL separate horizontal reductions.
Value KernelEmitter::transposeReduce(ValueRange accs) {
  SmallVector<Value> level(accs.begin(), accs.end());
  int64_t vl = c.vectorWidth;
  // At each level, pairs (a, b) become one vector holding a's and b's
  // partial sums over groups of `chunk` lanes, halving the chunk.
  for (int64_t chunk = vl / 2; chunk >= 1; chunk /= 2) {
    SmallVector<Value> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      // Output group g holds chunk partial sums of accumulator g: the first
      // half of the groups come from a (lanes 0..vl-1 of the shuffle's
      // input), the second half from b (lanes vl..2vl-1).
      SmallVector<int64_t> loMask, hiMask;
      int64_t groups = vl / chunk, half = groups / 2;
      for (int64_t g = 0; g < groups; ++g) {
        int64_t src = (g / half) * vl + (g % half) * 2 * chunk;
        for (int64_t k = 0; k < chunk; ++k) {
          loMask.push_back(src + k);
          hiMask.push_back(src + chunk + k);
        }
      }
      Value l = vector::ShuffleOp::create(b, level[i], level[i + 1], loMask);
      Value h = vector::ShuffleOp::create(b, level[i], level[i + 1], hiMask);
      next.push_back(arith::AddFOp::create(b, l, h));
    }
    level = next;
  }
  return level.front();
}

void KernelEmitter::emitPartial(StringRef name, bool prefetch) {
  OpBuilder::InsertionGuard guard(b);
  PartialKernel kern = declarePartial(
      (name + (prefetch ? "_partial_prefetch" : "_partial")).str(),
      c.tileTokens);
  kern.prefetch = prefetch;
  initRowState(kern);
  if (c.qkLanes)
    packQueriesByLanes(kern);
  emitTilesAndPartials(kern);
}

void KernelEmitter::emitTilesAndPartials(PartialKernel &kern) {
  forLoop(kern.range.t0, kern.range.t1, idx(kern.tileTokens), {},
          [&](Value t, ValueRange) {
            Value hasKeys = storeTileOffsets(kern, t);
            // Token indices: a tile of invalid slots adds nothing.
            OpBuilder::InsertionGuard guard(b);
            if (hasKeys)
              b.setInsertionPointToStart(
                  scf::IfOp::create(b, hasKeys, /*withElseRegion=*/false)
                      .thenBlock());
            if (c.fp8Cache())
              stageFP8Rows(kern);
            if (kern.amx)
              emitScoresAMX(kern);
            else if (kern.qLanes)
              emitScoresByLanes(kern);
            else
              emitScores(kern);
            emitSoftmax(kern, t);
            emitPV(kern, t);
            return SmallVector<Value>{};
          });
  storePartials(kern);
  func::ReturnOp::create(b);
}

Value KernelEmitter::loadFP8Latent(Value kv, Value row, Value col) {
  const int64_t VL = c.vectorWidth;
  Value bytes = vector::LoadOp::create(
      b, VectorType::get({VL}, b.getI8Type()), kv, ValueRange{add(row, col)});
  // The group's f32 scale, after the row's d_c values.
  Value group = arith::DivUIOp::create(b, col, idx(c.scaleGroup));
  Value at = add(addc(row, c.dc), mulc(group, 4));
  Value raw = vector::LoadOp::create(b, VectorType::get({4}, b.getI8Type()),
                                     kv, ValueRange{at});
  Value scale = vector::ExtractOp::create(
      b,
      vector::BitCastOp::create(b, VectorType::get({1}, f32), raw).getResult(),
      ArrayRef<int64_t>{0});
  return arith::MulFOp::create(b, buildE4M3ToF32(b, b.getLoc(), bytes),
                               vector::BroadcastOp::create(b, vecTy, scale));
}

Value KernelEmitter::loadFP8Rope(Value kv, Value row, Value col) {
  const int64_t VL = c.vectorWidth;
  // After the values and the scales, 2 bytes a column.
  Value at = add(addc(row, c.dc + 4 * (c.dc / c.scaleGroup) - 2 * c.dc),
                 mulc(col, 2));
  Value raw = vector::LoadOp::create(
      b, VectorType::get({2 * VL}, b.getI8Type()), kv, ValueRange{at});
  Value bf = vector::BitCastOp::create(
      b, VectorType::get({VL}, b.getBF16Type()), raw);
  return arith::ExtFOp::create(b, vecTy, bf);
}

void KernelEmitter::stageFP8Rows(PartialKernel &kern) {
  const int64_t D = c.rowWidth(), VL = c.vectorWidth;
  auto store = [&](Value v, Value at) {
    if (!c.elemType.isF32())
      v = arith::TruncFOp::create(b, elemVecTy, v);
    vector::StoreOp::create(b, v, kern.kv, ValueRange{at});
  };
  forLoop(kern.zero, idx(kern.tileTokens), kern.one, {}, [&](Value j,
                                                             ValueRange) {
    Value row = memref::LoadOp::create(b, kern.kvOff, ValueRange{j});
    Value dst = mulc(j, D);
    // The next tile's row j, a line at a time, while this one is staged.
    // (The AMX kernel prefetches its own, in P V.)
    if (kern.prefetch && !kern.amx) {
      Value next = memref::LoadOp::create(b, kern.nextOff, ValueRange{j});
      for (int64_t line = 0; line < c.cacheRowStride(); line += 64)
        memref::PrefetchOp::create(b, kern.cache, ValueRange{addc(next, line)},
                                   /*isWrite=*/false, /*localityHint=*/2,
                                   /*isDataCache=*/true);
    }
    if (c.fp8Tensor()) {
      // One scale a cache: every column a code, read unscaled (exact in the
      // stage's type); the scale joins the scores' and the outputs'.
      forLoop(kern.zero, idx(D), idx(VL), {}, [&](Value d, ValueRange) {
        Value codes =
            vector::LoadOp::create(b, VectorType::get({VL}, c.cacheElemType()),
                                   kern.cache, ValueRange{add(row, d)});
        Value bytes = arith::BitcastOp::create(
            b, VectorType::get({VL}, b.getI8Type()), codes);
        store(buildE4M3ToF32(b, b.getLoc(), bytes), add(dst, d));
        return SmallVector<Value>{};
      });
    } else {
      forLoop(kern.zero, idx(c.dc), idx(VL), {}, [&](Value d, ValueRange) {
        store(loadFP8Latent(kern.cache, row, d), add(dst, d));
        return SmallVector<Value>{};
      });
      forLoop(idx(c.dc), idx(D), idx(VL), {}, [&](Value d, ValueRange) {
        store(loadFP8Rope(kern.cache, row, d), add(dst, d));
        return SmallVector<Value>{};
      });
    }
    memref::StoreOp::create(b, dst, kern.kvOff, ValueRange{j});
    return SmallVector<Value>{};
  });
}

KernelEmitter::PartialKernel
KernelEmitter::declarePartial(StringRef fnName, int64_t tileTokens) {
  auto elemMem = MemRefType::get({ShapedType::kDynamic}, c.elemType);
  auto cacheMem = MemRefType::get({ShapedType::kDynamic}, c.cacheElemType());
  auto i32Mem = MemRefType::get({ShapedType::kDynamic}, b.getI32Type());
  auto f32Mem = MemRefType::get({ShapedType::kDynamic}, f32);
  // Head caches: the value cache follows the key cache.
  SmallVector<Type> args = {elemMem, cacheMem, i32Mem, i32Mem, f32Mem, f32Mem,
                            idxTy,   idxTy,    idxTy,  idxTy,  idxTy,  f32};
  if (c.headCaches)
    args.insert(args.begin() + 2, elemMem);
  func::FuncOp fn = makeFunc(fnName, args);
  PartialKernel kern;
  kern.tileTokens = tileTokens;
  Block &entry = fn.getBody().front();
  unsigned a = 0;
  kern.q = entry.getArgument(a++);
  kern.kv = kern.cache = entry.getArgument(a++);
  kern.values = c.headCaches ? entry.getArgument(a++) : kern.kv;
  kern.bt = entry.getArgument(a++);
  kern.lens = entry.getArgument(a++);
  kern.partOut = entry.getArgument(a++);
  kern.partML = entry.getArgument(a++);
  kern.bIdx = entry.getArgument(a++);
  kern.group = entry.getArgument(a++);
  kern.split = entry.getArgument(a++);
  kern.numSplits = entry.getArgument(a++);
  kern.maxBlocks = entry.getArgument(a++);
  kern.scale = entry.getArgument(a++);
  kern.zero = idx(0);
  kern.one = idx(1);
  kern.negInf = f32c(-std::numeric_limits<float>::infinity());
  kern.zeroF = f32c(0.0f);

  // The split's tokens [t0, t1), in whole tiles.
  kern.range = flash::splitRange(
      *this, c,
      flash::sequenceLength(*this, c, kern.lens, kern.bIdx, kern.maxBlocks),
      kern.numSplits, kern.split, kern.tileTokens);
  return kern;

}

void KernelEmitter::initRowState(PartialKernel &kern) {
  const int64_t D = c.rowWidth(), R = c.rows(), RG = c.rowsPerGroup,
                TB = kern.tileTokens, VL = c.vectorWidth;
  Value bIdx = kern.bIdx, len = kern.range.len, zero = kern.zero;
  kern.kvHead = layout.kvHead(*this, kern.group);

  // Per-row state: query offsets and visible limits (fixed), then the
  // running max, sum and f32 output accumulators.
  auto bufIdx = [&](int64_t n) { return stackBuffer(n, idxTy); };
  auto bufF32 = [&](int64_t n) { return stackBuffer(n, f32); };
  // Row state is padded to whole vectors (RGp rows) so that the softmax
  // works on vectors of rows; padded rows see no token.
  // Few rows (1 head, q_len 1) use short vectors rather than mostly
  // padding.
  int64_t &RV = kern.rowVector, &RGp = kern.paddedRows;
  // The AMX kernel's rows are whole tiles of 16 (its vectors' width).
  RV = kern.amx ? VL : 4;
  while (RV < RG && RV < VL)
    RV *= 2;
  RGp = (RG + RV - 1) / RV * RV;
  auto i32Ty = b.getI32Type();
  kern.qOff = bufIdx(RG);
  kern.limit = stackBuffer(RGp, i32Ty);
  if (c.window)
    kern.start = stackBuffer(RGp, i32Ty);
  kern.rowM = bufF32(RGp);
  kern.rowL = bufF32(RGp);
  kern.alphaBuf = bufF32(RGp);
  // AMX: P V stores whole tiles, padded rows too.
  const int64_t accRows = kern.amx ? RGp : RG;
  kern.accStride = kern.amx ? c.dc + VL : c.dc;
  kern.acc = bufF32(accRows * kern.accStride);
  kern.scores = bufF32(TB * RGp);
  kern.kvOff = bufIdx(TB);
  // fp8 rows: the tile's rows dequantized to the query's type, which the
  // tile math reads in place of the cache (rows j * D apart).
  if (c.fp8Cache()) {
    kern.kv = kern.values = memref::CastOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, c.elemType),
        stackBuffer(TB * D, c.elemType));
  }
  if (c.sparse())
    kern.slotValid = stackBuffer(TB, i32Ty);
  // The next tile's row offsets, for the prefetches.
  if (kern.prefetch)
    kern.nextOff = bufIdx(TB);
  // With 3-4 rows the tile's work nears its reads, and the prefetches go
  // half in the scores, half in P V (unstaged: its pairs are made from the
  // cache rows), so that the memory stays busy through both. One core of a
  // Zen 4 EPYC, 512/64, batch 4 x 8192 evicted: 4 heads 2.71 -> 2.32-2.47
  // ms; 1 and 2 heads lose 0-5% and 9-11% (their P V is short: the second
  // half of the rows then comes late), and keep all in the scores.
  kern.pvPrefetch = kern.prefetch && c.pvDot && !c.pvDotStaged() &&
                    c.rowsPerGroup > 2 && !kern.amx && !c.fp8Cache();
  if (c.pvDot && !kern.amx)
    kern.pPairs = stackBuffer(TB / 2 * RGp, i32Ty);
  if (c.pvDotStaged() && !kern.amx)
    kern.vPairs = memref::CastOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, b.getBF16Type()),
        stackBuffer(TB / 2 * c.pvDotValueStride(), b.getBF16Type()));
  Value qOff = kern.qOff, limit = kern.limit, rowM = kern.rowM,
        rowL = kern.rowL, acc = kern.acc;
  Value seqRowBase = mulc(bIdx, R);
  for (int64_t rr = 0; rr < RG; ++rr) {
    Value r = layout.groupRow(*this, kern.group, idx(rr));
    Value rIdx = idx(rr);
    memref::StoreOp::create(b, mulc(add(seqRowBase, r), D), qOff, rIdx);
    Value lim = flash::visibleEnd(*this, c, r, len);
    memref::StoreOp::create(b, arith::IndexCastOp::create(b, i32Ty, lim),
                            limit, rIdx);
    if (c.window)
      memref::StoreOp::create(
          b,
          arith::IndexCastOp::create(b, i32Ty,
                                     flash::visibleStart(*this, c, r, len)),
          kern.start, rIdx);
  }
  Value zeroI32 = arith::ConstantOp::create(b, b.getI32IntegerAttr(0));
  for (int64_t rr = RG; rr < RGp; ++rr)
    memref::StoreOp::create(b, zeroI32, limit, ValueRange{idx(rr)});
  if (c.window)
    for (int64_t rr = RG; rr < RGp; ++rr)
      memref::StoreOp::create(b, zeroI32, kern.start, ValueRange{idx(rr)});
  for (int64_t rr = 0; rr < RGp; ++rr) {
    memref::StoreOp::create(b, kern.negInf, rowM, ValueRange{idx(rr)});
    memref::StoreOp::create(b, kern.zeroF, rowL, ValueRange{idx(rr)});
  }
  Value zeroVec = kern.zeroVec = arith::ConstantOp::create(
      b, vecTy, DenseElementsAttr::get(vecTy, 0.0f));
  forLoop(zero, idx(accRows * kern.accStride), idx(VL), {},
          [&](Value i, ValueRange) {
            vector::StoreOp::create(b, zeroVec, acc, ValueRange{i});
            return SmallVector<Value>{};
          });

  // Token indices: the index row of the group's query token.
  kern.btBase = c.sparse() ? flash::indexRowStart(*this, c, bIdx, kern.kvHead)
                           : mul(bIdx, kern.maxBlocks);
}

Value KernelEmitter::storeTileOffsets(PartialKernel &kern, Value t) {
  const int64_t TB = kern.tileTokens;
  if (c.sparse()) {
    flash::SparseTile tile =
        flash::sparseTile(*this, kern.bt, kern.btBase, t, TB, kern.range.t1,
                          kern.range.lastTok);
    auto i32Ty = b.getI32Type();
    for (int64_t j = 0; j < TB; ++j) {
      Value at = idx(j);
      memref::StoreOp::create(
          b, flash::cacheRowStart(*this, c, tile.rows[j], kern.kvHead),
          kern.kvOff, ValueRange{at});
      memref::StoreOp::create(
          b, arith::ExtUIOp::create(b, i32Ty, tile.valid[j]), kern.slotValid,
          ValueRange{at});
      if (!kern.prefetch)
        continue;
      // The next tile's rows, any valid slot's or row 0: prefetches do not
      // fault.
      Value slot = minIdx(addc(t, TB + j), kern.range.lastTok);
      Value id = arith::MaxSIOp::create(
          b, loadIndex(kern.bt, add(kern.btBase, slot)), idx(0));
      memref::StoreOp::create(b, flash::cacheRowStart(*this, c, id, kern.kvHead),
                              kern.nextOff, ValueRange{at});
    }
    return tile.anyValid;
  }
  // Cache offsets of the tile's rows (and, to prefetch, of the next
  // tile's); past t1 they repeat the last row, before a window's first
  // visible position its row (flash::loadedToken).
  auto rowOffset = [&](int64_t j) {
    Value tok = flash::loadedToken(*this, kern.range, addc(t, j));
    return flash::cacheRowStart(
        *this, c, flash::cacheRow(*this, c, kern.bt, kern.btBase, tok),
        kern.kvHead);
  };
  for (int64_t j = 0; j < TB; ++j) {
    memref::StoreOp::create(b, rowOffset(j), kern.kvOff, ValueRange{idx(j)});
    if (kern.prefetch)
      memref::StoreOp::create(b, rowOffset(TB + j), kern.nextOff,
                              ValueRange{idx(j)});
  }
  return Value();
}

void KernelEmitter::emitScores(PartialKernel &kern) {
  const int64_t D = c.rowWidth(), RG = c.rowsPerGroup, TB = kern.tileTokens,
                VL = c.vectorWidth, RGp = kern.paddedRows;
  // fp8 rows: the stage is read here; the cache's next rows are prefetched
  // while the tile is staged.
  const bool prefetch = kern.prefetch && !c.fp8Cache();
  Value q = kern.q, kv = kern.kv, zero = kern.zero, zeroVec = kern.zeroVec,
        qOff = kern.qOff, kvOff = kern.kvOff, nextOff = kern.nextOff,
        scores = kern.scores;
  // 1. Scores, scoreRows x scoreTokens accumulators over d_c + d_r.
  const int64_t SR = c.scoreRows, ST = c.scoreTokens;
  forLoop(zero, idx(RG), idx(SR), {}, [&](Value rb,
                                          ValueRange) {
    SmallVector<Value> qBase, inits(SR * ST, zeroVec);
    for (int64_t r = 0; r < SR; ++r)
      qBase.push_back(memref::LoadOp::create(b, qOff, ValueRange{addc(rb, r)}));
    forLoop(zero, idx(TB), idx(ST), {}, [&](Value jb,
                                            ValueRange) {
      SmallVector<Value> kBase;
      for (int64_t j = 0; j < ST; ++j)
        kBase.push_back(
            memref::LoadOp::create(b, kvOff, ValueRange{addc(jb, j)}));
      // With AVX512-BF16, pairs of bf16 products are summed straight into
      // f32 lanes (vdpbf16ps), 2 * VL values a step and no widening.
      const int64_t step = c.bf16Dot ? 2 * VL : VL;
      // The next tile's rows are prefetched a line per step, spread over
      // the (row block, token block) passes: block k takes rows k,
      // k + blocks, ... so that the tile's passes cover every row once.
      SmallVector<Value> nextBase;
      if (prefetch) {
        // P V prefetches the second half of the rows where it can.
        const int64_t rows = kern.pvPrefetch ? TB / 2 : TB;
        const int64_t tokenBlocks = TB / ST, blocks = RG / SR * tokenBlocks;
        Value k = add(mulc(arith::DivUIOp::create(b, rb, idx(SR)),
                           tokenBlocks),
                      arith::DivUIOp::create(b, jb, idx(ST)));
        for (int64_t i = 0; i < (rows + blocks - 1) / blocks; ++i)
          nextBase.push_back(memref::LoadOp::create(
              b, nextOff,
              ValueRange{minIdx(addc(k, i * blocks), idx(rows - 1))}));
      }
      auto pairTy = VectorType::get({2 * VL}, c.elemType);
      auto dot = forLoop(
          zero, idx(D), idx(step), inits,
          [&](Value d, ValueRange accs) {
            SmallVector<Value> qv, kvv, next;
            // Head caches: the next tile's value rows too (same offsets).
            for (Value base : nextBase)
              for (Value mem : c.headCaches ? SmallVector<Value>{kv, kern.values}
                                            : SmallVector<Value>{kv})
                memref::PrefetchOp::create(b, mem, ValueRange{add(base, d)},
                                           /*isWrite=*/false,
                                           /*localityHint=*/2,
                                           /*isDataCache=*/true);
            auto load = [&](Value mem, Value at) -> Value {
              if (c.bf16Dot)
                return vector::LoadOp::create(b, pairTy, mem, ValueRange{at});
              return loadVec(mem, at);
            };
            for (int64_t r = 0; r < SR; ++r)
              qv.push_back(load(q, add(qBase[r], d)));
            for (int64_t j = 0; j < ST; ++j)
              kvv.push_back(load(kv, add(kBase[j], d)));
            for (int64_t r = 0; r < SR; ++r)
              for (int64_t j = 0; j < ST; ++j)
                next.push_back(
                    c.bf16Dot
                        ? x86vector::DotBF16Op::create(b, accs[r * ST + j],
                                                       qv[r], kvv[j])
                              .getResult()
                        : vector::FMAOp::create(b, qv[r], kvv[j],
                                                accs[r * ST + j])
                              .getResult());
            return next;
          });
      // Scores are stored token-major, S^T[j][row], for the softmax over
      // vectors of rows.
      if (SR * ST == VL) {
        // One vector of all SR x ST sums, lane j * SR + r.
        SmallVector<Value> byToken;
        for (int64_t j = 0; j < ST; ++j)
          for (int64_t r = 0; r < SR; ++r)
            byToken.push_back(dot.getResult(r * ST + j));
        Value sums = transposeReduce(byToken);
        for (int64_t j = 0; j < ST; ++j) {
          Value part = vector::ExtractStridedSliceOp::create(
              b, sums, ArrayRef<int64_t>{j * SR}, ArrayRef<int64_t>{SR},
              ArrayRef<int64_t>{1});
          vector::StoreOp::create(b, part, scores,
                                  ValueRange{add(mulc(addc(jb, j), RGp), rb)});
        }
      } else {
        for (int64_t r = 0; r < SR; ++r)
          for (int64_t j = 0; j < ST; ++j) {
            Value s = vector::ReductionOp::create(
                b, vector::CombiningKind::ADD, dot.getResult(r * ST + j),
                kReassoc);
            Value at = add(mulc(addc(jb, j), RGp), addc(rb, r));
            memref::StoreOp::create(b, s, scores, ValueRange{at});
          }
      }
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });

}

Value KernelEmitter::maskedScores(PartialKernel &kern,
                                  flash::OnlineSoftmax &softmax,
                                  const RowMask &mask, Value tI32, Value j,
                                  Value raw, Value scale) {
  auto i32Ty = b.getI32Type();
  const int64_t RV = cast<VectorType>(raw.getType()).getNumElements();
  auto rowsI32Ty = VectorType::get({RV}, i32Ty);
  Value jI32 = getConstantIntValue(j)
                   ? arith::ConstantOp::create(
                         b, b.getI32IntegerAttr(*getConstantIntValue(j)))
                         .getResult()
                   : arith::IndexCastOp::create(b, i32Ty, j).getResult();
  Value tok = vector::BroadcastOp::create(b, rowsI32Ty,
                                          arith::AddIOp::create(b, tI32, jI32));
  Value visible =
      arith::CmpIOp::create(b, arith::CmpIPredicate::slt, tok, mask.limit);
  if (mask.first)
    visible = arith::AndIOp::create(
        b, visible,
        arith::CmpIOp::create(b, arith::CmpIPredicate::sge, tok, mask.first));
  // Token indices: a slot of -1 holds no token.
  if (kern.slotValid) {
    Value valid = arith::CmpIOp::create(
        b, arith::CmpIPredicate::ne,
        memref::LoadOp::create(b, kern.slotValid, ValueRange{j}),
        arith::ConstantOp::create(b, b.getI32IntegerAttr(0)));
    visible = arith::AndIOp::create(
        b, visible,
        vector::BroadcastOp::create(b, VectorType::get({RV}, b.getI1Type()),
                                    valid));
  }
  return softmax.maskedScore(visible, raw, scale);
}

KernelEmitter::RowMask KernelEmitter::rowMask(PartialKernel &kern, Value rows,
                                              int64_t RV, Value t1I32) {
  auto rowsI32Ty = VectorType::get({RV}, b.getI32Type());
  Value lim =
      vector::LoadOp::create(b, rowsI32Ty, kern.limit, ValueRange{rows});
  lim = arith::MinSIOp::create(
      b, lim, vector::BroadcastOp::create(b, rowsI32Ty, t1I32));
  Value first = c.window ? vector::LoadOp::create(b, rowsI32Ty, kern.start,
                                                  ValueRange{rows})
                               .getResult()
                         : Value();
  return {lim, first};
}

void KernelEmitter::emitSoftmax(PartialKernel &kern, Value t) {
  if (kern.amx)
    return emitSoftmaxAMX(kern, t);
  const int64_t TB = kern.tileTokens, RV = kern.rowVector,
                RGp = kern.paddedRows;
  auto i32Ty = b.getI32Type();
  auto rowsI32Ty = VectorType::get({RV}, i32Ty);
  auto rowsTy = VectorType::get({RV}, f32);
  Value t1 = kern.range.t1, scale = kern.scale, scores = kern.scores,
        rowM = kern.rowM, rowL = kern.rowL, alphaBuf = kern.alphaBuf;
  // 2. Online softmax on vectors of RV rows: per token a vector of the
  // rows' scores, maxima and sums elementwise over the tile's tokens, one
  // vector exp for the rescale factors of VL rows.
  Value tI32 = arith::IndexCastOp::create(b, i32Ty, t);
  Value t1I32 = arith::IndexCastOp::create(b, i32Ty, t1);
  flash::OnlineSoftmax softmax(*this, math, flash::OnlineSoftmax::Base::E);
  Value scaleRows =
      vector::BroadcastOp::create(b, rowsTy, softmax.scoreScale(scale));
  // A tile holds at least one token: `v` is never empty.
  auto tree = [&](SmallVector<Value> v, auto combine) -> Value {
    while (v.size() > 1) {
      SmallVector<Value> next;
      for (size_t i = 0; i + 1 < v.size(); i += 2)
        next.push_back(combine(v[i], v[i + 1]));
      if (v.size() % 2)
        next.push_back(v.back());
      v = next;
    }
    return v.empty() ? Value() : v.front();
  };
  for (int64_t v = 0; v < RGp; v += RV) {
    Value rows = idx(v);
    RowMask mask = rowMask(kern, rows, RV, t1I32);
    SmallVector<Value> s;
    for (int64_t j = 0; j < TB; ++j) {
      Value sj = vector::LoadOp::create(b, rowsTy, scores,
                                        ValueRange{idx(j * RGp + v)});
      s.push_back(
          maskedScores(kern, softmax, mask, tI32, idx(j), sj, scaleRows));
    }
    Value tileMax =
        tree(s, [&](Value x, Value y) { return math.max(x, y); });
    Value mOld = vector::LoadOp::create(b, rowsTy, rowM, ValueRange{rows});
    flash::OnlineSoftmax::Step step = softmax.rescale(mOld, tileMax);
    SmallVector<Value> p;
    for (int64_t j = 0; j < TB; ++j) {
      p.push_back(softmax.probability(s[j], step.mSafe));
      vector::StoreOp::create(b, p.back(), scores,
                              ValueRange{idx(j * RGp + v)});
    }
    // pvDot: each row's pair of probabilities of tokens 2 jp, 2 jp + 1 as
    // one i32, the dot products' broadcast operand.
    if (kern.pPairs) {
      SmallVector<int64_t> interleave;
      for (int64_t n = 0; n < RV; ++n)
        interleave.append({n, RV + n});
      auto halfTy = VectorType::get({RV}, b.getBF16Type());
      for (int64_t jp = 0; jp < TB / 2; ++jp) {
        Value lo = arith::TruncFOp::create(b, halfTy, p[2 * jp]);
        Value hi = arith::TruncFOp::create(b, halfTy, p[2 * jp + 1]);
        Value w = vector::ShuffleOp::create(b, lo, hi, interleave);
        vector::StoreOp::create(b, vector::BitCastOp::create(b, rowsI32Ty, w),
                                kern.pPairs, ValueRange{idx(jp * RGp + v)});
      }
    }
    Value pSum = tree(p, [&](Value x, Value y) -> Value {
      return arith::AddFOp::create(b, x, y);
    });
    Value lOld = vector::LoadOp::create(b, rowsTy, rowL, ValueRange{rows});
    vector::StoreOp::create(b, softmax.sum(lOld, step.alpha, pSum), rowL,
                            ValueRange{rows});
    vector::StoreOp::create(b, step.mNew, rowM, ValueRange{rows});
    vector::StoreOp::create(b, step.alpha, alphaBuf, ValueRange{rows});
  }

}

void KernelEmitter::emitPV(PartialKernel &kern, Value t) {
  auto unmasked = [&] {
    if (kern.amx)
      return emitPVAMX(kern);
    if (kern.pPairs)
      return emitPVDot(kern);
    emitPVLoops(kern, /*masked=*/false);
  };
  if ((!c.causal || c.qLen == 1) && !c.window)
    return unmasked();
  // Causal with several queries, from the first query's visible end on, and
  // with a window, before the last query's visible start, a tile holds
  // positions that some rows of the group must not see. There a row's zero
  // probability keeps the value row out of its sum (0 * NaN would be NaN),
  // at the cost of a select per product, paid on a few tiles of a sequence.
  Value tail = arith::CmpIOp::create(
      b, arith::CmpIPredicate::sgt, addc(t, kern.tileTokens),
      flash::commonVisibleEnd(*this, c, kern.range.len));
  if (c.window)
    tail = arith::OrIOp::create(
        b, tail,
        arith::CmpIOp::create(
            b, arith::CmpIPredicate::slt, t,
            flash::commonVisibleStart(*this, c, kern.range.len)));
  auto ifOp = scf::IfOp::create(b, tail, /*withElseRegion=*/true);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  emitPVLoops(kern, /*masked=*/true);
  b.setInsertionPointToStart(ifOp.elseBlock());
  unmasked();
}

void KernelEmitter::emitPVLoops(PartialKernel &kern, bool masked) {
  const int64_t RG = c.rowsPerGroup, TB = kern.tileTokens, VL = c.vectorWidth,
                RGp = kern.paddedRows;
  Value kv = kern.values, zero = kern.zero, one = kern.one, acc = kern.acc,
        alphaBuf = kern.alphaBuf, kvOff = kern.kvOff, scores = kern.scores;
  // 3. acc = alpha * acc + P V, pvRows x pvVectors accumulators.
  const int64_t PR = c.pvRows, PV = c.pvVectors;
  forLoop(zero, idx(RG), idx(PR), {}, [&](Value rb,
                                          ValueRange) {
    SmallVector<Value> alphas;
    for (int64_t r = 0; r < PR; ++r)
      alphas.push_back(vector::BroadcastOp::create(
          b, vecTy,
          memref::LoadOp::create(b, alphaBuf, ValueRange{addc(rb, r)})));
    forLoop(zero, idx(c.dc), idx(VL * PV), {}, [&](Value dch, ValueRange) {
      SmallVector<Value> accOff, inits;
      for (int64_t r = 0; r < PR; ++r) {
        Value base = add(mulc(addc(rb, r), kern.accStride), dch);
        for (int64_t v = 0; v < PV; ++v) {
          Value off = addc(base, v * VL);
          accOff.push_back(off);
          inits.push_back(arith::MulFOp::create(
              b, loadF32Vec(acc, off), alphas[r]));
        }
      }
      auto pv = forLoop(
          zero, idx(TB), one, inits,
          [&](Value j, ValueRange accs) {
            Value base =
                add(memref::LoadOp::create(b, kvOff, ValueRange{j}), dch);
            SmallVector<Value> vv, next;
            for (int64_t v = 0; v < PV; ++v)
              vv.push_back(loadVec(kv, addc(base, v * VL)));
            for (int64_t r = 0; r < PR; ++r) {
              Value pj = memref::LoadOp::create(
                  b, scores, ValueRange{add(mulc(j, RGp), addc(rb, r))});
              Value pb = vector::BroadcastOp::create(b, vecTy, pj);
              // Masked: only a nonzero (or NaN) probability adds its row.
              Value adds =
                  masked ? arith::CmpFOp::create(b, arith::CmpFPredicate::UNE,
                                                 pj, f32c(0.0f))
                               .getResult()
                         : Value();
              for (int64_t v = 0; v < PV; ++v) {
                Value sum = vector::FMAOp::create(b, pb, vv[v],
                                                  accs[r * PV + v]);
                next.push_back(masked ? arith::SelectOp::create(
                                            b, adds, sum, accs[r * PV + v])
                                            .getResult()
                                      : sum);
              }
            }
            return next;
          });
      for (unsigned k = 0; k < accOff.size(); ++k)
        vector::StoreOp::create(b, pv.getResult(k), acc,
                                ValueRange{accOff[k]});
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
}

void KernelEmitter::emitPVDot(PartialKernel &kern) {
  const int64_t RG = c.rowsPerGroup, TB = kern.tileTokens, VL = c.vectorWidth,
                RGp = kern.paddedRows, vStride = c.pvDotValueStride();
  const int64_t PR = c.pvRows, PV = c.pvVectors;
  Type bf16 = b.getBF16Type();
  auto halfTy = VectorType::get({VL}, bf16);
  auto pairTy = VectorType::get({2 * VL}, bf16);
  auto i32VecTy = VectorType::get({VL}, b.getI32Type());
  Value zero = kern.zero, one = kern.one, acc = kern.acc;
  // 1. The tile's value rows in pairs: row jp of the copy holds, for each
  // column, the values of tokens 2 jp and 2 jp + 1 (vdpbf16ps's pairs).
  // With one block of rows the pairs are made in registers instead.
  SmallVector<int64_t> interleave, lo, hi;
  for (int64_t n = 0; n < VL; ++n) {
    interleave.append({n, VL + n});
    lo.append({n, 2 * VL + n});
    hi.append({VL + n, 3 * VL + n});
  }
  const bool staged = c.pvDotStaged();
  if (staged)
    forLoop(zero, idx(TB / 2), one, {}, [&](Value jp, ValueRange) {
      Value r0 = memref::LoadOp::create(b, kern.kvOff, ValueRange{mulc(jp, 2)});
      Value r1 = memref::LoadOp::create(b, kern.kvOff,
                                        ValueRange{addc(mulc(jp, 2), 1)});
      Value dst = mulc(jp, vStride);
      forLoop(zero, idx(c.dc), idx(VL), {}, [&](Value d, ValueRange) {
        // One op a statement: the IR's order is the same whatever order a
        // compiler evaluates arguments in (the lit tests read it).
        Value at = add(dst, mulc(d, 2));
        Value x = vector::LoadOp::create(b, halfTy, kern.values,
                                         ValueRange{add(r0, d)});
        Value y = vector::LoadOp::create(b, halfTy, kern.values,
                                         ValueRange{add(r1, d)});
        Value w = vector::ShuffleOp::create(b, x, y, interleave);
        vector::StoreOp::create(b, w, kern.vPairs, ValueRange{at});
        return SmallVector<Value>{};
      });
      return SmallVector<Value>{};
    });
  // 2. acc = alpha acc + P V, pvRows x pvVectors accumulators, a pair of
  // tokens a dot product.
  forLoop(zero, idx(RG), idx(PR), {}, [&](Value rb, ValueRange) {
    SmallVector<Value> alphas;
    for (int64_t r = 0; r < PR; ++r)
      alphas.push_back(vector::BroadcastOp::create(
          b, vecTy,
          memref::LoadOp::create(b, kern.alphaBuf, ValueRange{addc(rb, r)})));
    forLoop(zero, idx(c.dc), idx(VL * PV), {}, [&](Value dch, ValueRange) {
      SmallVector<Value> accOff, inits;
      for (int64_t r = 0; r < PR; ++r) {
        Value base = add(mulc(addc(rb, r), kern.accStride), dch);
        for (int64_t v = 0; v < PV; ++v) {
          accOff.push_back(addc(base, v * VL));
          inits.push_back(arith::MulFOp::create(
              b, loadF32Vec(acc, accOff.back()), alphas[r]));
        }
      }
      auto pv = forLoop(
          zero, idx(TB / 2), one, inits, [&](Value jp, ValueRange accs) {
            SmallVector<Value> vv, next;
            if (staged) {
              Value base = add(mulc(jp, vStride), mulc(dch, 2));
              for (int64_t v = 0; v < PV; ++v)
                vv.push_back(
                    vector::LoadOp::create(b, pairTy, kern.vPairs,
                                           ValueRange{addc(base, 2 * v * VL)}));
            } else {
              Value j = mulc(jp, 2);
              Value r0 = add(
                  memref::LoadOp::create(b, kern.kvOff, ValueRange{j}), dch);
              Value r1 = add(
                  memref::LoadOp::create(b, kern.kvOff, ValueRange{addc(j, 1)}),
                  dch);
              // Row TB / 2 + jp of the next tile, its lines of this pass
              // over d_c (passes share a row's lines).
              if (kern.pvPrefetch) {
                const int64_t D = c.rowWidth(), lineElems = 64 / 2,
                              lines = (D + lineElems - 1) / lineElems,
                              passes = c.dc / (VL * PV),
                              share = (lines + passes - 1) / passes;
                Value next = memref::LoadOp::create(
                    b, kern.nextOff, ValueRange{addc(jp, TB / 2)});
                Value first = mulc(arith::DivUIOp::create(b, dch, idx(VL * PV)),
                                   share * lineElems);
                for (int64_t i = 0; i < share; ++i) {
                  Value at =
                      add(next, minIdx(addc(first, i * lineElems), idx(D - 1)));
                  for (Value mem :
                       c.headCaches ? SmallVector<Value>{kern.kv, kern.values}
                                    : SmallVector<Value>{kern.kv})
                    memref::PrefetchOp::create(b, mem, ValueRange{at},
                                               /*isWrite=*/false,
                                               /*localityHint=*/2,
                                               /*isDataCache=*/true);
                }
              }
              for (int64_t v = 0; v < PV; v += 2) {
                Value x = vector::LoadOp::create(b, pairTy, kern.values,
                                                 ValueRange{addc(r0, v * VL)});
                Value y = vector::LoadOp::create(b, pairTy, kern.values,
                                                 ValueRange{addc(r1, v * VL)});
                vv.push_back(vector::ShuffleOp::create(b, x, y, lo));
                vv.push_back(vector::ShuffleOp::create(b, x, y, hi));
              }
            }
            for (int64_t r = 0; r < PR; ++r) {
              Value pair = memref::LoadOp::create(
                  b, kern.pPairs, ValueRange{add(mulc(jp, RGp), addc(rb, r))});
              Value pb = vector::BitCastOp::create(
                  b, pairTy, vector::BroadcastOp::create(b, i32VecTy, pair));
              for (int64_t v = 0; v < PV; ++v)
                next.push_back(x86vector::DotBF16Op::create(b, accs[r * PV + v],
                                                            pb, vv[v]));
            }
            return next;
          });
      for (unsigned k = 0; k < accOff.size(); ++k)
        vector::StoreOp::create(b, pv.getResult(k), acc, ValueRange{accOff[k]});
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
}

void KernelEmitter::storePartials(PartialKernel &kern) {
  const int64_t RG = c.rowsPerGroup, VL = c.vectorWidth;
  Value zero = kern.zero, one = kern.one, acc = kern.acc;
  // Write this item's partial result: [b, group, split, row, ...].
  // The group's rows are contiguous there: one copy of all of them, or
  // of each row when the accumulators' rows are padded.
  Value itemRow0 = layout.itemRow(
      *this, layout.item(*this, kern.bIdx, kern.group, kern.split,
                  kern.numSplits), zero);
  Value outBase = layout.outAt(*this, itemRow0);
  const int64_t rowsAtOnce = kern.accStride == c.dc ? RG : 1;
  forLoop(zero, idx(RG / rowsAtOnce), one, {}, [&](Value r, ValueRange) {
    Value src = mulc(r, kern.accStride), dst = add(outBase, mulc(r, c.dc));
    forLoop(zero, idx(rowsAtOnce * c.dc), idx(VL), {}, [&](Value i,
                                                           ValueRange) {
      vector::StoreOp::create(b, loadF32Vec(acc, add(src, i)), kern.partOut,
                              ValueRange{add(dst, i)});
      return SmallVector<Value>{};
    });
    return SmallVector<Value>{};
  });
  forLoop(zero, idx(RG), one, {}, [&](Value rr, ValueRange) {
    Value at = layout.mlAt(*this, add(itemRow0, rr));
    memref::StoreOp::create(b, memref::LoadOp::create(b, kern.rowM, ValueRange{rr}),
                            kern.partML, ValueRange{at});
    memref::StoreOp::create(b, memref::LoadOp::create(b, kern.rowL, ValueRange{rr}),
                            kern.partML, ValueRange{addc(at, 1)});
    return SmallVector<Value>{};
  });
}

void KernelEmitter::emitCombine(StringRef name) {
  OpBuilder::InsertionGuard guard(b);
  auto elemMem = MemRefType::get({ShapedType::kDynamic}, c.elemType);
  auto f32Mem = MemRefType::get({ShapedType::kDynamic}, f32);
  // One fp8 scale a cache: the outputs' scale follows the contract's
  // arguments; with sinks, their buffer [H] follows.
  SmallVector<Type> args = {f32Mem, f32Mem, elemMem, f32Mem, idxTy, idxTy};
  if (c.fp8Tensor())
    args.push_back(f32);
  if (c.sinks)
    args.push_back(f32Mem);
  func::FuncOp fn = makeFunc((name + "_combine").str(), args);
  Block &entry = fn.getBody().front();
  Value partOut = entry.getArgument(0), partML = entry.getArgument(1),
        out = entry.getArgument(2), lse = entry.getArgument(3),
        bIdx = entry.getArgument(4), numSplits = entry.getArgument(5);
  Value valueScale = c.fp8Tensor() ? entry.getArgument(6) : Value();
  Value sinks = c.sinks ? entry.getArgument(c.fp8Tensor() ? 7 : 6) : Value();
  const int64_t VL = c.vectorWidth;
  Value zero = idx(0), one = idx(1);
  flash::SplitCombine combine(*this, math);
  Value zeroVec = arith::ConstantOp::create(
      b, vecTy, DenseElementsAttr::get(vecTy, 0.0f));
  Value weights = memref::AllocaOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, f32), ValueRange{numSplits});

  forLoop(zero, idx(c.rows()), one, {}, [&](Value r,
                                            ValueRange) {
    flash::PartialLayout::RowPartials rp =
        layout.rowPartials(*this, bIdx, r, numSplits);
    auto mlAt = [&](Value s, int64_t k) {
      return addc(layout.mlAt(*this, layout.splitRow(*this, rp, s)), k);
    };
    // The largest split max, then each split's weight, kept for the
    // columns.
    Value sink = flash::rowSink(*this, c, sinks, r);
    Value mSafe = combine.safeMax(
        numSplits,
        [&](Value s) -> Value {
          return memref::LoadOp::create(b, partML, ValueRange{mlAt(s, 0)});
        },
        sink);
    Value total0 = combine.initialTotal(mSafe, sink);
    auto sumLoop = forLoop(zero, numSplits, one, {total0}, [&](Value s,
                                                               ValueRange l) {
      Value ms = memref::LoadOp::create(b, partML, ValueRange{mlAt(s, 0)});
      Value ls = memref::LoadOp::create(b, partML, ValueRange{mlAt(s, 1)});
      Value w = combine.weight(ms, mSafe);
      memref::StoreOp::create(b, w, weights, ValueRange{s});
      return SmallVector<Value>{math.mulAdd(w, ls, l[0])};
    });
    flash::SplitCombine::Result res =
        combine.finish(mSafe, sumLoop.getResult(0), valueScale);
    Value invVec = vector::BroadcastOp::create(b, vecTy, res.scale);
    Value outBase = flash::outputAt(*this, c, bIdx, r);
    forLoop(zero, idx(c.dc), idx(VL), {}, [&](Value d, ValueRange) {
      auto sum = forLoop(zero, numSplits, one, {zeroVec}, [&](Value s,
                                                             ValueRange a) {
        Value w = vector::BroadcastOp::create(
            b, vecTy, memref::LoadOp::create(b, weights, ValueRange{s}));
        Value at = add(layout.outAt(*this, layout.splitRow(*this, rp, s)), d);
        return SmallVector<Value>{
            vector::FMAOp::create(b, w, loadF32Vec(partOut, at), a[0])};
      });
      Value o = arith::MulFOp::create(b, sum.getResult(0), invVec);
      if (!c.elemType.isF32())
        o = arith::TruncFOp::create(b, elemVecTy, o);
      vector::StoreOp::create(b, o, out, ValueRange{add(outBase, d)});
      return SmallVector<Value>{};
    });
    memref::StoreOp::create(b, res.lse, lse,
                            ValueRange{flash::lseAt(*this, c, bIdx, r)});
    return SmallVector<Value>{};
  });
  func::ReturnOp::create(b);
}

void mlir::mla::buildCPUDecodeKernels(ModuleOp module,
                                      const CPUDecodeConfig &config,
                                      StringRef name) {
  ImplicitLocOpBuilder b(module.getLoc(), module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  KernelEmitter emitter(b, config);
  emitter.emitPartial(name, /*prefetch=*/false);
  if (config.prefetch != CPUDecodeConfig::Prefetch::Never)
    emitter.emitPartial(name, /*prefetch=*/true);
  if (config.amx)
    emitter.emitPartialAMX(name);
  emitter.emitCombine(name);
}
