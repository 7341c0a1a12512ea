//===- FlashDecode.h - the flash-decoding skeleton --------------*- C++ -*-===//
//
// What every decode kernel of mla.decode_attention computes, written once:
// the work decomposition (sequence, row group, KV split) and the split's
// token range, which positions a query row sees, the page gather, the
// online-softmax state (running max, sum, rescale, the -inf guard, in base e
// or 2), the layout of the split partials and the combine of the splits.
// Each target (CPU vectors, SIMT, mma.sync, wgmma) supplies only its tile
// math: how a tile is loaded and multiplied, and the elementwise primitives
// of `TileMath` (exp, log, max, multiply-add), and calls these pieces on
// scalars or vectors alike (the arithmetic is elementwise).
//
//===----------------------------------------------------------------------===//

#ifndef MLA_CONVERSION_FLASHDECODE_FLASHDECODE_H
#define MLA_CONVERSION_FLASHDECODE_FLASHDECODE_H

#include "mla/Conversion/DecodeParams.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::mla::flash {

/// The driver of every lowering of mla.decode_attention: checks the pass's
/// `numSplits` (naming `pass`), then calls `lower(op, name)` for each op of
/// `module` in order, its kernels named `kernelName`, `kernelName`_1, ...
LogicalResult forEachDecodeOp(
    ModuleOp module, StringRef pass, StringRef kernelName, int64_t numSplits,
    function_ref<LogicalResult(DecodeAttentionOp, StringRef)> lower);

/// Index arithmetic and loops on an ImplicitLocOpBuilder: the shorthands
/// every kernel emitter uses.
class KernelBuilder {
public:
  explicit KernelBuilder(ImplicitLocOpBuilder &b) : b(b) {}

  Value idx(int64_t v);
  Value f32c(float v);
  Value add(Value x, Value y);
  Value mul(Value x, Value y);
  Value addc(Value x, int64_t v) { return v ? add(x, idx(v)) : x; }
  Value mulc(Value x, int64_t v) { return v == 1 ? x : mul(x, idx(v)); }
  Value minIdx(Value x, Value y);
  /// An i32 element of `mem` as an index.
  Value loadIndex(Value mem, Value i);

  using BodyFn = function_ref<SmallVector<Value>(Value, ValueRange)>;
  /// scf.for whose body is built by `fn` (given the induction variable and
  /// the iteration arguments), which returns the values to yield.
  scf::ForOp forLoop(Value lb, Value ub, Value step, ValueRange inits,
                     BodyFn fn);

  ImplicitLocOpBuilder &builder() { return b; }

protected:
  ImplicitLocOpBuilder &b;
};

/// The elementwise primitives a target gives the softmax and the combine;
/// each works on f32 scalars and on vectors of f32.
class TileMath {
public:
  virtual ~TileMath();
  /// e^x.
  virtual Value exp(Value x) = 0;
  /// 2^x.
  virtual Value exp2(Value x) = 0;
  /// The natural logarithm.
  virtual Value log(Value x) = 0;
  /// The larger of two values (a NaN loses).
  virtual Value max(Value x, Value y) = 0;
  /// x * y + z, fused where the target's lowering keeps it fused.
  virtual Value mulAdd(Value x, Value y, Value z) = 0;
};

/// TileMath on upstream ops (math.exp/exp2/log, arith.maxnumf, math.fma),
/// for targets whose lowering of the math dialect is what they want.
class UpstreamTileMath : public TileMath {
public:
  explicit UpstreamTileMath(ImplicitLocOpBuilder &b) : b(b) {}
  Value exp(Value x) override;
  Value exp2(Value x) override;
  Value log(Value x) override;
  Value max(Value x, Value y) override;
  Value mulAdd(Value x, Value y, Value z) override;

protected:
  ImplicitLocOpBuilder &b;
};

/// The length of sequence `seq` (seq_lens[seq]), clamped to what its row of
/// the block table can hold, so that no kernel reads past it.
Value sequenceLength(KernelBuilder &kb, const DecodeParams &p, Value lens,
                     Value seq, Value maxBlocksPerSeq);

/// The tokens [t0, t1) of one KV split of a sequence of `len` tokens: the
/// positions that some query sees (from the first query's visibleStart,
/// rounded down to a whole tile) cut into `numSplits` chunks of whole tiles
/// of `tileTokens` (the last splits may be empty); `lastTok` = t1 - 1, the
/// row that loads past t1 repeat so that they stay in bounds and finite;
/// with a window, `firstTok`, the first position any query sees, which
/// loads before it repeat (the pages before it need not be valid).
struct SplitRange {
  Value len, t0, t1, lastTok, firstTok;
};
SplitRange splitRange(KernelBuilder &kb, const DecodeParams &p, Value len,
                      Value numSplits, Value split, int64_t tileTokens);

/// The position whose cache row a tile loads for token `tok` of `r`: `tok`
/// clamped into [firstTok, lastTok], a row that the sequence's pages hold.
Value loadedToken(KernelBuilder &kb, const SplitRange &r, Value tok);

/// Visibility: the end (exclusive) of the cache positions that query row
/// `row` (row = i * H + h, 0 <= row < H * q_len) of a sequence of `len`
/// tokens sees, from position 0: len when not causal; when causal, query i
/// sees positions < len - q_len + 1 + i (0 for a sequence shorter than
/// q_len). A position at or past it never joins the row's softmax.
Value visibleEnd(KernelBuilder &kb, const DecodeParams &p, Value row,
                 Value len);

/// Visibility: the first cache position that query row `row` of a
/// sequence of `len` tokens sees: 0, or under a sliding window of W, query
/// i at position len - q_len + i sees from len - q_len + i - W + 1 (at
/// least 0). Before it, a position never joins the row's softmax.
Value visibleStart(KernelBuilder &kb, const DecodeParams &p, Value row,
                   Value len);

/// The first position that every query row sees: the last query's
/// visibleStart. Before it, a tile holds positions that some rows must not
/// see.
Value commonVisibleStart(KernelBuilder &kb, const DecodeParams &p, Value len);

/// The end (exclusive) of the positions that every query row sees: the
/// first query's visible end (all len when not causal). Past it, a tile
/// holds positions that some rows must not see.
Value commonVisibleEnd(KernelBuilder &kb, const DecodeParams &p, Value len);

/// The page gather: the cache row of token `tok` of the sequence whose
/// block-table row starts at `tableBase`: block_table[tableBase + tok / BS]
/// * BS + tok % BS.
Value cacheRow(KernelBuilder &kb, const DecodeParams &p, Value blockTable,
               Value tableBase, Value tok);

/// Token indices (keys = indices): where the index row of query token
/// `token` of sequence `seq` starts in indices [batch, q_len, topk].
Value indexRowStart(KernelBuilder &kb, const DecodeParams &p, Value seq,
                    Value token);

/// Token indices: the slots [t, t + n) of the index row at `rowStart`, of
/// which those before `end` hold a token where their index is not negative;
/// `lastSlot` (< end) is where the slots past `end` read, so that every
/// read stays in the row. An invalid slot's row is the tile's largest
/// index (a row of a valid slot), so that its loads stay finite and in the
/// cache; `anyValid` says whether the tile has a valid slot at all (else
/// it has nothing to load).
struct SparseTile {
  SmallVector<Value> rows, valid;
  Value anyValid;
};
SparseTile sparseTile(KernelBuilder &kb, Value indices, Value rowStart,
                      Value t, int64_t n, Value end, Value lastSlot);

/// The split partials, f32, indexed by work item (sequence, row group,
/// split): out [batch, groups, splits, rowsPerGroup, d_c] (unnormalized),
/// ml [batch, groups, splits, rowsPerGroup, 2] (running max in natural-log
/// units, sum of exp). The combine reads what the partial kernels write.
///
/// A group's rows read one KV head: with head caches of G KV heads
/// (`kvHeads`), head g has groups / G groups, and its local row
/// v = i * (H / G) + j is query row i * H + g * (H / G) + j (query i, head
/// g * (H / G) + j). With one KV head, local rows are query rows.
struct PartialLayout {
  int64_t groups, rowsPerGroup, dc;
  int64_t kvHeads = 1, heads = 1, qLen = 1;

  /// The layout of `p`'s rows in groups of `rowsPerGroup`.
  static PartialLayout of(const DecodeParams &p, int64_t rowsPerGroup);
  int64_t groupsPerKvHead() const { return groups / kvHeads; }

  int64_t headsPerKvHead() const { return heads / kvHeads; }
  /// The query rows that read one KV head.
  int64_t kvHeadRows() const { return headsPerKvHead() * qLen; }

  /// The KV head that group `group` reads.
  Value kvHead(KernelBuilder &kb, Value group) const;
  /// Group `group`'s first row, counted among its KV head's rows.
  Value firstLocalRow(KernelBuilder &kb, Value group) const;
  /// The query row of local row `local` (< kvHeadRows) of group `group`'s
  /// KV head.
  Value queryRow(KernelBuilder &kb, Value group, Value local) const;
  /// The query row of row `rr` of group `group`; past the KV head's last
  /// row (a partial group), its last row.
  Value groupRow(KernelBuilder &kb, Value group, Value rr) const;

  /// The work item of (seq, group, split).
  Value item(KernelBuilder &kb, Value seq, Value group, Value split,
             Value numSplits) const;
  /// Row `row` of the group of work item `item`, counted over all items.
  Value itemRow(KernelBuilder &kb, Value item, Value row) const {
    return kb.add(kb.mulc(item, rowsPerGroup), row);
  }
  /// Where that row's d_c outputs start.
  Value outAt(KernelBuilder &kb, Value itemRow) const {
    return kb.mulc(itemRow, dc);
  }
  /// Where that row's (max, sum) pair starts.
  Value mlAt(KernelBuilder &kb, Value itemRow) const {
    return kb.mulc(itemRow, 2);
  }

  /// The partials of query row `row` of sequence `seq` over the splits, as
  /// the combine reads them.
  struct RowPartials {
    Value firstItem, rowInGroup;
  };
  RowPartials rowPartials(KernelBuilder &kb, Value seq, Value row,
                          Value numSplits) const;
  /// The item row of split `split` of those.
  Value splitRow(KernelBuilder &kb, const RowPartials &rp, Value split) const {
    return itemRow(kb, kb.add(rp.firstItem, split), rp.rowInGroup);
  }
};

/// Where token `row` (a cache row, flash::cacheRow) of KV head `kvHead`
/// starts in the cache (elements): one row of d_c + d_r in a latent cache,
/// or [NB * BS, kvHeads, d_c] in head caches (keys and values alike).
Value cacheRowStart(KernelBuilder &kb, const DecodeParams &p, Value row,
                    Value kvHead);

/// The contract's outputs of query row `row` (row = i * H + h) of sequence
/// `seq`: where its d_c values start in out [batch, q_len, H, d_c], and its
/// element of lse [batch, H, q_len].
Value outputAt(KernelBuilder &kb, const DecodeParams &p, Value seq, Value row);
Value lseAt(KernelBuilder &kb, const DecodeParams &p, Value seq, Value row);

/// What a pass's lowering of one mla.decode_attention launches its kernels
/// on: the operands as flat buffers, the batch and max_blocks_per_seq, the
/// buffers of out and lse, and the split partials for `numSplits` splits
/// (`layout`'s shapes).
struct LaunchBuffers {
  Value q, kv, blockTable, seqLens, batch, maxBlocks, out, lse, partOut,
      partML, splits, items, scale;
  /// The value cache of head caches, or null (a latent cache).
  Value values;
  /// The op's sinks [H] (f32) as a flat buffer, or null without them.
  Value sinks;
  /// One fp8 scale a cache: its value (f32), which `scale` includes and the
  /// combine multiplies the outputs by; null otherwise.
  Value kvScale;
  /// Replaces `op`'s results by out and lse as tensors. No deallocations:
  /// the buffer-deallocation pipeline after bufferization frees the buffers.
  void replace(ImplicitLocOpBuilder &b, DecodeAttentionOp op) const;
};
LaunchBuffers makeLaunchBuffers(ImplicitLocOpBuilder &b, DecodeAttentionOp op,
                                const PartialLayout &layout,
                                int64_t numSplits);

/// The online softmax of one query row (or of a vector of rows), in base e
/// or 2: scores are scaled by `scale` (times log2 e in base 2), so that the
/// state (running max m, running sum l of exp(s - m)) is kept in the
/// kernel's base; `naturalMax` converts m for the partials.
class OnlineSoftmax {
public:
  enum class Base { E, Two };
  OnlineSoftmax(KernelBuilder &kb, TileMath &math, Base base)
      : kb(kb), math(math), base(base) {}

  /// The factor raw dot products are multiplied by: scale, or scale * log2 e.
  Value scoreScale(Value scale);
  /// The score of a position: raw * scale where `visible`, else -inf (the
  /// masked position then adds exp(-inf) = 0 to the row).
  Value maskedScore(Value visible, Value raw, Value scale);

  /// One step of the running max: mNew = max(mOld, tileMax); mSafe, the max
  /// the step subtracts (0 while the row has seen nothing, so that
  /// exp(-inf - mSafe) = 0, never NaN); alpha = exp(mOld - mSafe), the
  /// rescale of what was accumulated before.
  struct Step {
    Value mNew, mSafe, alpha;
  };
  Step rescale(Value mOld, Value tileMax);
  /// exp(s - mSafe) in the kernel's base: a probability up to the row sum.
  Value probability(Value s, Value mSafe);
  /// The running sum after a step: lOld * alpha + pSum.
  Value sum(Value lOld, Value alpha, Value pSum);
  /// The running max in natural-log units.
  Value naturalMax(Value m);

private:
  Value pow(Value x) { return base == Base::E ? math.exp(x) : math.exp2(x); }

  KernelBuilder &kb;
  TileMath &math;
  Base base;
};

/// The sink logit of query row `row` (row = i * H + h): sinks[h] from the
/// buffer `sinks` [H]; null when `sinks` is (no sinks).
Value rowSink(KernelBuilder &kb, const DecodeParams &p, Value sinks,
              Value row);

/// The combine of one query row's splits (natural-log units): with
/// M = max_s m_s (0 if no split saw a token), each split weighs
/// w_s = exp(m_s - M); total = sum_s w_s l_s; out = sum_s w_s o_s / total
/// and lse = M + log(total), or zeros and -inf when total is 0. A per-head
/// sink logit joins M and adds exp(sink - M) to the total.
class SplitCombine {
public:
  SplitCombine(KernelBuilder &kb, TileMath &math) : kb(kb), math(math) {}

  /// M over the splits, with `maxOf(s)` loading split s's max, and over the
  /// row's `sink` logit if it has one; returns the max the weights subtract
  /// (0 when every split is empty and there is no sink).
  Value safeMax(Value numSplits, function_ref<Value(Value)> maxOf,
                Value sink = Value());
  /// Where the total starts: the sink's exp(sink - M), or 0 without one
  /// (the sink joins the denominator and lse, never the outputs).
  Value initialTotal(Value safeMax, Value sink);
  /// exp(m_s - M).
  Value weight(Value ms, Value safeMax) {
    return math.exp(arith::SubFOp::create(kb.builder(), ms, safeMax));
  }
  /// What the row's outputs are multiplied by (1 / total, or 0; times
  /// `valueScale` when given: the cache's one fp8 scale) and its lse.
  struct Result {
    Value scale, lse;
  };
  Result finish(Value safeMax, Value total, Value valueScale = Value());

private:
  KernelBuilder &kb;
  TileMath &math;
};

} // namespace mlir::mla::flash

#endif // MLA_CONVERSION_FLASHDECODE_FLASHDECODE_H
