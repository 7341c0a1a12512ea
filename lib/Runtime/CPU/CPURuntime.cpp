//===- CPURuntime.cpp - the entry of every generated CPU kernel -*- C++ -*-===//
//
// libmla_cpu_runtime: built once with the project. A generated libNAME.so
// calls it with the constant description of its kernels (CPUKernel.h). It
// keeps the kernel contract: checks the arguments (returning the ABI's code
// before anything is written), plans each sequence's KV splits from the
// tokens it reads, chooses the partial kernel (AMX, plain or prefetching),
// and runs the partial kernels over (sequence, row group, split) and the
// combine kernel over the batch on LLVM's OpenMP runtime. Each kernel call
// sees one sequence, as a batch of one: its slices of the queries, block
// table, lengths, outputs and split partials.
//
//===----------------------------------------------------------------------===//

#include "mla/Runtime/CPUKernel.h"
#include "mla/Runtime/HostCPU.h"

#include "../DecodeArgs.h"
#include "../SplitPlan.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>
#include <vector>
#include <type_traits>

namespace {
/// The descriptor of a memref<?xT> as the kernels' C interfaces take it (the
/// element type does not change its layout).
struct MemRef1D {
  void *allocated, *aligned;
  int64_t offset, size, stride;
};
MemRef1D view(const void *p, int64_t n) {
  void *t = const_cast<void *>(p);
  return {t, t, 0, n, 1};
}
/// Elements [first, first + n) of `v`, elements of `elemBytes` bytes.
MemRef1D slice(const MemRef1D &v, int64_t first, int64_t n, int64_t elemBytes) {
  return view(static_cast<char *>(v.aligned) + first * elemBytes, n);
}

using PartialFn = void (*)(MemRef1D *q, MemRef1D *kv, MemRef1D *bt,
                           MemRef1D *lens, MemRef1D *partOut,
                           MemRef1D *partML, int64_t b, int64_t group,
                           int64_t split, int64_t numSplits,
                           int64_t maxBlocks, float scale);
using CombineFn = void (*)(MemRef1D *partOut, MemRef1D *partML,
                           MemRef1D *out, MemRef1D *lse, int64_t b,
                           int64_t numSplits);
/// The partial kernel on head caches: the value cache follows the keys.
using HeadsPartialFn = void (*)(MemRef1D *q, MemRef1D *k, MemRef1D *v,
                                MemRef1D *bt, MemRef1D *lens,
                                MemRef1D *partOut, MemRef1D *partML,
                                int64_t b, int64_t group, int64_t split,
                                int64_t numSplits, int64_t maxBlocks,
                                float scale);
/// The combine of a kernel with sinks: their [H] buffer follows.
using SinksCombineFn = void (*)(MemRef1D *partOut, MemRef1D *partML,
                                MemRef1D *out, MemRef1D *lse, int64_t b,
                                int64_t numSplits, MemRef1D *sinks);
/// The combines of a kernel whose fp8 cache has one scale: the outputs'
/// scale follows the split count.
using ScaledCombineFn = void (*)(MemRef1D *partOut, MemRef1D *partML,
                                 MemRef1D *out, MemRef1D *lse, int64_t b,
                                 int64_t numSplits, float valueScale);
using ScaledSinksCombineFn = void (*)(MemRef1D *partOut, MemRef1D *partML,
                                      MemRef1D *out, MemRef1D *lse, int64_t b,
                                      int64_t numSplits, float valueScale,
                                      MemRef1D *sinks);

int64_t rows(const mla_cpu_kernel &k) { return k.num_heads * k.q_len; }
/// The sets of keys that groups read: KV heads, the query tokens' index
/// rows (token indices), or one (DecodeParams::keySets).
int64_t keySets(const mla_cpu_kernel &k) {
  if (k.num_kv_heads > 0)
    return k.num_kv_heads;
  return k.topk > 0 ? k.q_len : 1;
}
/// Groups of a sequence: each key set's rows in groups of rows_per_group
/// (flash::PartialLayout).
int64_t groups(const mla_cpu_kernel &k) {
  int64_t perSet = rows(k) / keySets(k);
  return keySets(k) * ((perSet + k.rows_per_group - 1) / k.rows_per_group);
}

/// Token indices: the code of the first bad argument, or -1. Each sequence
/// reads the first seq_lens[b] slots of its q_len index rows; a slot holds
/// -1 (no token) or a cache row page * block_size + offset, below
/// `numBlocks` pages.
int32_t checkIndices(const mla_cpu_kernel &k, const int32_t *indices,
                     const int32_t *seqLens, int32_t batch, int32_t topk,
                     int64_t numBlocks, int64_t &tokens) {
  if (topk != k.topk)
    return mla_abi::ErrMaxBlocks;
  for (int32_t b = 0; b < batch; ++b) {
    int32_t len = seqLens[b];
    if (len < 0 || len > topk)
      return mla_abi::ErrSeqLen;
    for (int64_t i = 0; i < k.q_len; ++i) {
      const int32_t *row = indices + (int64_t(b) * k.q_len + i) * topk;
      for (int32_t j = 0; j < len; ++j)
        if (row[j] < -1 || (row[j] >= 0 && row[j] / k.block_size >= numBlocks))
          return mla_abi::ErrBlockId;
    }
    tokens += int64_t(len) * k.q_len;
  }
  return -1;
}

/// The size of one L3 instance, as Linux reports it for CPU 0 (glibc's
/// sysconf gives the whole socket's L3 on AMD, not the slice a core's data
/// can stay in); 32 MiB if unknown.
int64_t lastLevelCacheBytes() {
  for (int i = 0; i < 8; ++i) {
    std::string dir =
        "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream level(dir + "level"), size(dir + "size");
    int l = 0;
    std::string text;
    if (!(level >> l) || l != 3 || !(size >> text) || text.empty())
      continue;
    int64_t n = std::atoll(text.c_str());
    char unit = text.back();
    n <<= unit == 'K' ? 10 : unit == 'M' ? 20 : unit == 'G' ? 30 : 0;
    if (n > 0)
      return n;
  }
  return int64_t(32) << 20;
}

/// Whether a call that reads `cacheBytes` of the KV cache uses the
/// prefetching partial kernel. With policy 1, when the cache cannot stay in
/// the last-level cache between calls: measured on a 32 MiB L3 (16 heads
/// f32, 1 thread), 9.4 MB of cache -5% with prefetching, 18.9 MB +2%,
/// 37.7 MB +4-12%, hence half the L3. MLA_CPU_PREFETCH=0/1 overrides it.
bool usePrefetch(const mla_cpu_kernel &k, int64_t cacheBytes) {
  if (!k.partial_prefetch)
    return false;
  if (const char *env = std::getenv("MLA_CPU_PREFETCH"); env && *env)
    return std::atoi(env) != 0;
  if (k.prefetch == 2)
    return true;
  static const int64_t llc = lastLevelCacheBytes();
  return cacheBytes > llc / 2;
}

/// The AMX partial kernel, where the library has one, the host grants AMX
/// and MLA_CPU_AMX is not 0.
bool useAMX(const mla_cpu_kernel &k) {
  if (!k.partial_amx)
    return false;
  if (const char *env = std::getenv("MLA_CPU_AMX"); env && *env &&
                                                     std::atoi(env) == 0)
    return false;
  return mla_runtime::amxGranted();
}

/// Split buffers and the split plan, grown once per calling thread and
/// reused.
struct Scratch {
  std::vector<float> out, ml;
  /// Per sequence, the tokens its kernels read; the plan (and the plan
  /// search's scratch).
  std::vector<int64_t> read;
  mla_runtime::SplitPlan plan;
  mla_runtime::PlanScratch planScratch;
  /// The first work item of each sequence in the plan's order (a
  /// sequence's items, [group, split], are consecutive).
  std::vector<int64_t> start;
};
thread_local Scratch scratch;

/// Grows `v` to at least `n` floats; gives memory back when a call needs a
/// quarter of what an earlier, larger one left (and that is over 64 MiB).
/// An allocation failure is a return code, never an exception through C.
bool reserve(std::vector<float> &v, int64_t n) {
  size_t need = size_t(n);
  try {
    if (v.size() > 4 * need && v.size() * sizeof(float) > (size_t(64) << 20))
      std::vector<float>(need).swap(v);
    else if (v.size() < need)
      v.resize(need);
  } catch (const std::bad_alloc &) {
    return false;
  }
  return true;
}

/// The split plan of a call (mla_runtime::planSplits) for the tokens in
/// `s.read`, or MLA_CPU_NUM_SPLITS's count for every sequence; fills
/// `s.plan` and `s.start`. False when memory runs out.
bool planCall(Scratch &s, int64_t groups, int64_t threads) {
  try {
    const size_t batch = s.read.size();
    int64_t maxRead = *std::max_element(s.read.begin(), s.read.end());
    if (int64_t forced =
            mla_runtime::forcedSplits("MLA_CPU_NUM_SPLITS", maxRead)) {
      s.plan.splits.assign(batch, forced);
      mla_runtime::schedule(s.read, groups, threads, s.plan, s.planScratch);
    } else {
      mla_runtime::planSplits(s.read, groups, threads, s.plan, s.planScratch);
    }
    s.start.resize(batch);
  } catch (const std::bad_alloc &) {
    return false;
  }
  int64_t items = 0;
  for (size_t i = 0; i < s.start.size(); ++i) {
    s.start[i] = items;
    items += groups * s.plan.splits[s.plan.order[i]];
  }
  return true;
}
} // namespace

extern "C" {

int32_t mla_cpu_num_splits_v6(const mla_cpu_kernel *k, int32_t batch,
                              int32_t maxSeqLen, int32_t threads) {
  // With a window, a sequence's kernels read at most W + q_len - 1 tokens.
  int64_t read = std::max<int32_t>(maxSeqLen, 0);
  if (k->window > 0)
    read = std::min<int64_t>(read, k->window + k->q_len - 1);
  if (int64_t forced = mla_runtime::forcedSplits("MLA_CPU_NUM_SPLITS", read))
    return int32_t(forced);
  // The plan of a batch whose sequences all read `read` tokens.
  Scratch &s = scratch;
  try {
    s.read.assign(size_t(std::max<int32_t>(batch, 1)), read);
    mla_runtime::planSplits(s.read, groups(*k), threads, s.plan, s.planScratch);
  } catch (const std::bad_alloc &) {
    return 1;
  }
  return int32_t(s.plan.splits[0]);
}

/// NAME and NAME_checked: the same checks and call; page ids are checked
/// against `numBlocks` (INT64_MAX when the caller did not give it).
static int32_t decode(const mla_cpu_kernel *k, const void *q,
                      const void *kvCache, const void *vCache,
                      int64_t numBlocks, const int32_t *blockTable,
                      const int32_t *seqLens, const float *sinks, void *out,
                      float *lse, int32_t batch, int32_t maxBlocksPerSeq,
                      float softmaxScale, float kvScale, void *stream) {
  if (int32_t code = mla_runtime::checkArguments(q, kvCache, blockTable,
                                                 seqLens, out, lse, batch,
                                                 maxBlocksPerSeq, softmaxScale);
      code >= 0)
    return code;
  float scale;
  if (int32_t code =
          mla_runtime::scoreScale(k->kv_scale, softmaxScale, kvScale, scale);
      code >= 0)
    return code;
  if ((k->sinks && !sinks) || (k->num_kv_heads > 0 && !vCache))
    return mla_abi::ErrNullPointer;
  if (numBlocks < 0)
    return mla_abi::ErrMaxBlocks;
  if (stream)
    return mla_abi::ErrStream;
  const int64_t bs = k->block_size,
                width = k->kv_lora_rank + k->qk_rope_head_dim;
  // What one token's rows hold, all KV heads' keys and values.
  const int64_t tokenElems =
      k->num_kv_heads > 0 ? 2 * k->num_kv_heads * width : width;
  int64_t capacity = int64_t(maxBlocksPerSeq) * bs;
  // The positions the kernels read: all of a sequence's, or from the first
  // query's window start on (pages before it are never read, so an engine
  // may have freed them: their ids are not checked).
  int64_t tokens = 0;
  Scratch &s = scratch;
  try {
    s.read.resize(size_t(batch));
  } catch (const std::bad_alloc &) {
    return mla_abi::ErrAlloc;
  }
  if (k->topk > 0) {
    if (int32_t code = checkIndices(*k, blockTable, seqLens, batch,
                                    maxBlocksPerSeq, numBlocks, tokens);
        code >= 0)
      return code;
    for (int32_t b = 0; b < batch; ++b)
      s.read[b] = seqLens[b];
  }
  for (int32_t b = 0; k->topk == 0 && b < batch; ++b) {
    int32_t len = seqLens[b];
    // A causal slot shorter than q_len (a padded batch's, seq_len 0 too) is
    // served: rows that see nothing get zeros and -inf (visibleEnd).
    if (len < 0 || len > capacity)
      return mla_abi::ErrSeqLen;
    int64_t first =
        k->window > 0
            ? std::max<int64_t>(0, int64_t(len) - k->q_len - k->window + 1)
            : 0;
    for (int64_t p = first / bs; p < (len + bs - 1) / bs; ++p) {
      int32_t page = blockTable[int64_t(b) * maxBlocksPerSeq + p];
      if (page < 0 || page >= numBlocks)
        return mla_abi::ErrBlockId;
    }
    tokens += len - first;
    s.read[b] = len - first;
  }
  void *partialSym =
      useAMX(*k) ? k->partial_amx
      : usePrefetch(*k, tokens * tokenElems * k->elem_bytes)
          ? k->partial_prefetch
          : k->partial;
  auto partial = reinterpret_cast<PartialFn>(partialSym);
  auto headsPartial = reinterpret_cast<HeadsPartialFn>(partialSym);
  auto combine = reinterpret_cast<CombineFn>(k->combine);
  auto sinksCombine = reinterpret_cast<SinksCombineFn>(k->combine);
  auto scaledCombine = reinterpret_cast<ScaledCombineFn>(k->combine);
  auto scaledSinksCombine = reinterpret_cast<ScaledSinksCombineFn>(k->combine);

  const int64_t kRows = rows(*k), kGroups = groups(*k),
                rowsPerGroup = k->rows_per_group, dc = k->kv_lora_rank;
  if (!planCall(s, kGroups, omp_get_max_threads()))
    return mla_abi::ErrAlloc;
  const int64_t items = s.plan.items;
  if (!reserve(s.out, items * rowsPerGroup * dc) ||
      !reserve(s.ml, items * rowsPerGroup * 2))
    return mla_abi::ErrAlloc;

  // Sizes of the views only bound what the kernels may touch; the cache's
  // page count is not part of the contract, so its view is unbounded.
  MemRef1D qv = view(q, int64_t(batch) * kRows * width);
  MemRef1D kvv = view(kvCache, INT64_MAX), vv = view(vCache, INT64_MAX);
  // Block table [batch, max_blocks]; token indices [batch, q_len, topk].
  const int64_t tableRow =
      int64_t(maxBlocksPerSeq) * (k->topk > 0 ? k->q_len : 1);
  MemRef1D btv = view(blockTable, int64_t(batch) * tableRow);
  MemRef1D lv = view(seqLens, batch);
  MemRef1D pov = view(s.out.data(), int64_t(s.out.size()));
  MemRef1D pmv = view(s.ml.data(), int64_t(s.ml.size()));
  MemRef1D ov = view(out, int64_t(batch) * kRows * dc);
  MemRef1D lsev = view(lse, int64_t(batch) * kRows);
  MemRef1D sv = view(sinks, k->num_heads);
  // The split partials of the i-th sequence in the plan's order: its items,
  // [group, split, row, ...].
  auto partials = [&](int64_t i, MemRef1D &po, MemRef1D &pm) {
    int64_t n = kGroups * s.plan.splits[s.plan.order[i]] * rowsPerGroup;
    po = slice(pov, s.start[i] * rowsPerGroup * dc, n * dc, 4);
    pm = slice(pmv, s.start[i] * rowsPerGroup * 2, n * 2, 4);
  };

#pragma omp parallel
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      // Sequences in the plan's order, largest items first.
      int64_t i = std::upper_bound(s.start.begin(), s.start.end(), item) -
                  s.start.begin() - 1;
      int64_t b = s.plan.order[i];
      int64_t splits = s.plan.splits[b], local = item - s.start[i];
      int64_t group = local / splits, split = local % splits;
      // The kernels take their descriptors by pointer; each call gets its
      // own.
      MemRef1D qi = slice(qv, b * kRows * width, kRows * width, k->elem_bytes);
      MemRef1D bti = slice(btv, b * tableRow, tableRow, 4);
      MemRef1D li = slice(lv, b, 1, 4);
      MemRef1D kvi = kvv, vi = vv, poi, pmi;
      partials(i, poi, pmi);
      if (k->num_kv_heads > 0)
        headsPartial(&qi, &kvi, &vi, &bti, &li, &poi, &pmi, 0, group, split,
                     splits, maxBlocksPerSeq, scale);
      else
        partial(&qi, &kvi, &bti, &li, &poi, &pmi, 0, group, split, splits,
                maxBlocksPerSeq, scale);
    }
#pragma omp for schedule(static)
    for (int64_t i = 0; i < batch; ++i) {
      int64_t b = s.plan.order[i], splits = s.plan.splits[b];
      MemRef1D oi = slice(ov, b * kRows * dc, kRows * dc, k->elem_bytes);
      MemRef1D lsei = slice(lsev, b * kRows, kRows, 4);
      MemRef1D si = sv, poi, pmi;
      partials(i, poi, pmi);
      if (k->kv_scale && k->sinks)
        scaledSinksCombine(&poi, &pmi, &oi, &lsei, 0, splits, kvScale, &si);
      else if (k->kv_scale)
        scaledCombine(&poi, &pmi, &oi, &lsei, 0, splits, kvScale);
      else if (k->sinks)
        sinksCombine(&poi, &pmi, &oi, &lsei, 0, splits, &si);
      else
        combine(&poi, &pmi, &oi, &lsei, 0, splits);
    }
  }
  return mla_abi::Ok;
}

int32_t mla_cpu_decode_v6(const mla_cpu_kernel *k, const void *q,
                          const void *kvCache, const void *vCache,
                          const int32_t *blockTable, const int32_t *seqLens,
                          const float *sinks, void *out, float *lse,
                          int32_t batch, int32_t maxBlocksPerSeq,
                          float softmaxScale, float kvScale, void *stream) {
  return decode(k, q, kvCache, vCache, INT64_MAX, blockTable, seqLens, sinks,
                out, lse, batch, maxBlocksPerSeq, softmaxScale, kvScale,
                stream);
}

int32_t mla_cpu_decode_checked_v6(const mla_cpu_kernel *k, const void *q,
                                  const void *kvCache, const void *vCache,
                                  int32_t numBlocks, const int32_t *blockTable,
                                  const int32_t *seqLens, const float *sinks,
                                  void *out, float *lse, int32_t batch,
                                  int32_t maxBlocksPerSeq, float softmaxScale,
                                  float kvScale, void *stream) {
  return decode(k, q, kvCache, vCache, numBlocks, blockTable, seqLens, sinks,
                out, lse, batch, maxBlocksPerSeq, softmaxScale, kvScale,
                stream);
}

} // extern "C"

static_assert(std::is_same_v<decltype(mla_runtime::withoutDescription(
                                 &mla_cpu_decode_checked_v6)),
                             mla_abi::RuntimeCheckedKernelFn>,
              "mla_cpu_decode_checked_v6 must forward NAME_checked");
static_assert(mla_runtime::forwardsABI<mla_abi::RuntimeKernelFn>(
                  &mla_cpu_decode_v6, &mla_cpu_num_splits_v6),
              "the runtime's entries take the C signatures of the ABI");
