//===- DecodeEntry.cpp - C entry of a generated CPU decode kernel -*- C++ -*-===//
//
// Compiled by mla-codegen once per kernel, with the kernel's parameters as
// macros, and linked with the generated object into libNAME.so. It keeps the
// kernel contract's C signature: checks the arguments (returning a nonzero
// code before anything is written), chooses the number of KV splits, and
// runs the generated partial kernels over (batch, row group, split) and the
// combine kernel over the batch on LLVM's OpenMP runtime.
//
// Required macros: MLA_NAME, MLA_HEADS, MLA_QLEN, MLA_DC, MLA_DR,
// MLA_BLOCK_SIZE, MLA_ROWS_PER_GROUP, MLA_CAUSAL (0/1), MLA_ELEM_BYTES.
// Optional: MLA_PREFETCH, CPUDecodeConfig::Prefetch as a number (0: only
// `NAME_partial`; 1: also `NAME_partial_prefetch`, used when the call's cache
// does not fit in the last-level cache; 2: that one for every call).
//
//===----------------------------------------------------------------------===//

#include "../DecodeArgs.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <type_traits>
#include <vector>

#define MLA_CAT_(a, b) a##b
#define MLA_CAT(a, b) MLA_CAT_(a, b)
#define MLA_PARTIAL MLA_CAT(_mlir_ciface_, MLA_CAT(MLA_NAME, _partial))
#define MLA_COMBINE MLA_CAT(_mlir_ciface_, MLA_CAT(MLA_NAME, _combine))
#define MLA_NUM_SPLITS MLA_CAT(MLA_NAME, _num_splits)
#define MLA_PARTIAL_PREFETCH                                                   \
  MLA_CAT(_mlir_ciface_, MLA_CAT(MLA_NAME, _partial_prefetch))
#ifndef MLA_PREFETCH
#define MLA_PREFETCH 0
#endif

namespace {
/// The descriptor of a memref<?xT> as the generated code's C interface
/// takes it.
template <typename T> struct MemRef1D {
  T *allocated, *aligned;
  int64_t offset, size, stride;
};
template <typename T> MemRef1D<T> view(const void *p, int64_t n) {
  T *t = static_cast<T *>(const_cast<void *>(p));
  return {t, t, 0, n, 1};
}
using Elem = std::conditional_t<MLA_ELEM_BYTES == 4, float, uint16_t>;

constexpr int64_t kRows = int64_t(MLA_HEADS) * MLA_QLEN;
constexpr int64_t kWidth = int64_t(MLA_DC) + MLA_DR;
constexpr int64_t kGroups = (kRows + MLA_ROWS_PER_GROUP - 1) / MLA_ROWS_PER_GROUP;
// Below this many tokens per split the combine costs more than it saves.
constexpr int64_t kMinTokensPerSplit = 256;

#if MLA_PREFETCH
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
/// prefetching partial kernel. Under MLA_PREFETCH 1, when the cache cannot
/// stay in the last-level cache between calls: measured on a 32 MiB L3 (16
/// heads f32, 1 thread), 9.4 MB of cache -5% with prefetching, 18.9 MB +2%,
/// 37.7 MB +4-12%, hence half the L3. MLA_CPU_PREFETCH=0/1 overrides it.
bool usePrefetch(int64_t cacheBytes) {
  if (const char *env = std::getenv("MLA_CPU_PREFETCH"); env && *env)
    return std::atoi(env) != 0;
  if (MLA_PREFETCH == 2)
    return true;
  static const int64_t llc = lastLevelCacheBytes();
  return cacheBytes > llc / 2;
}

#endif

/// Split buffers, grown once per calling thread and reused.
struct Scratch {
  std::vector<float> out, ml;
};
thread_local Scratch scratch;
} // namespace

extern "C" {
void MLA_PARTIAL(MemRef1D<Elem> *q, MemRef1D<Elem> *kv, MemRef1D<int32_t> *bt,
                 MemRef1D<int32_t> *lens, MemRef1D<float> *partOut,
                 MemRef1D<float> *partML, int64_t b, int64_t group,
                 int64_t split, int64_t numSplits, int64_t maxBlocks,
                 float scale);
#if MLA_PREFETCH
void MLA_PARTIAL_PREFETCH(MemRef1D<Elem> *q, MemRef1D<Elem> *kv,
                          MemRef1D<int32_t> *bt, MemRef1D<int32_t> *lens,
                          MemRef1D<float> *partOut, MemRef1D<float> *partML,
                          int64_t b, int64_t group, int64_t split,
                          int64_t numSplits, int64_t maxBlocks, float scale);
#endif
void MLA_COMBINE(MemRef1D<float> *partOut, MemRef1D<float> *partML,
                 MemRef1D<Elem> *out, MemRef1D<float> *lse, int64_t b,
                 int64_t numSplits);

/// The number of KV splits a call with these sizes uses: enough work items
/// for every thread, each split at least kMinTokensPerSplit tokens. The
/// environment variable MLA_CPU_NUM_SPLITS overrides it.
int32_t MLA_NUM_SPLITS(int32_t batch, int32_t maxSeqLen, int32_t threads) {
  return int32_t(mla_runtime::chooseSplits("MLA_CPU_NUM_SPLITS",
                                           int64_t(batch) * kGroups, maxSeqLen,
                                           threads, kMinTokensPerSplit));
}

int32_t MLA_NAME(const void *q, const void *kvCache, const int32_t *blockTable,
                 const int32_t *seqLens, void *out, float *lse, int32_t batch,
                 int32_t maxBlocksPerSeq, float softmaxScale, void *stream) {
  (void)stream;
  if (int32_t code = mla_runtime::checkArguments(q, kvCache, blockTable,
                                                 seqLens, out, lse, batch,
                                                 maxBlocksPerSeq, softmaxScale);
      code >= 0)
    return code;
  int64_t capacity = int64_t(maxBlocksPerSeq) * MLA_BLOCK_SIZE;
  int32_t maxLen = 0;
  int64_t tokens = 0;
  for (int32_t b = 0; b < batch; ++b) {
    int32_t len = seqLens[b];
    if (len < 0 || len > capacity)
      return mla_abi::ErrSeqLen;
    if (MLA_CAUSAL && len < MLA_QLEN)
      return mla_abi::ErrSeqLenShort;
    for (int64_t p = 0; p < (len + MLA_BLOCK_SIZE - 1) / MLA_BLOCK_SIZE; ++p)
      if (blockTable[int64_t(b) * maxBlocksPerSeq + p] < 0)
        return mla_abi::ErrBlockId;
    maxLen = std::max(maxLen, len);
    tokens += len;
  }
  auto *partial = MLA_PARTIAL;
#if MLA_PREFETCH
  if (usePrefetch(tokens * kWidth * MLA_ELEM_BYTES))
    partial = MLA_PARTIAL_PREFETCH;
#else
  (void)tokens;
#endif

  int64_t splits = MLA_NUM_SPLITS(batch, maxLen, omp_get_max_threads());
  int64_t items = int64_t(batch) * kGroups * splits;
  Scratch &s = scratch;
  s.out.resize(std::max<size_t>(s.out.size(), items * MLA_ROWS_PER_GROUP * MLA_DC));
  s.ml.resize(std::max<size_t>(s.ml.size(), items * MLA_ROWS_PER_GROUP * 2));

  // Sizes of the views only bound what the kernels may touch; the cache's
  // page count is not part of the contract, so its view is unbounded.
  auto qv = view<Elem>(q, int64_t(batch) * kRows * kWidth);
  auto kvv = view<Elem>(kvCache, INT64_MAX);
  auto btv = view<int32_t>(blockTable, int64_t(batch) * maxBlocksPerSeq);
  auto lv = view<int32_t>(seqLens, batch);
  auto pov = view<float>(s.out.data(), int64_t(s.out.size()));
  auto pmv = view<float>(s.ml.data(), int64_t(s.ml.size()));
  auto ov = view<Elem>(out, int64_t(batch) * kRows * MLA_DC);
  auto lsev = view<float>(lse, int64_t(batch) * kRows);

#pragma omp parallel
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t item = 0; item < items; ++item) {
      int64_t b = item / (kGroups * splits);
      int64_t group = (item / splits) % kGroups;
      int64_t split = item % splits;
      // The kernels take their descriptors by pointer; each call gets its
      // own copies.
      auto qi = qv, kvi = kvv;
      auto bti = btv, li = lv;
      auto poi = pov, pmi = pmv;
      partial(&qi, &kvi, &bti, &li, &poi, &pmi, b, group, split, splits,
              maxBlocksPerSeq, softmaxScale);
    }
#pragma omp for schedule(static)
    for (int64_t b = 0; b < batch; ++b) {
      auto poi = pov, pmi = pmv, lsei = lsev;
      auto oi = ov;
      MLA_COMBINE(&poi, &pmi, &oi, &lsei, b, splits);
    }
  }
  return mla_abi::Ok;
}

// The signatures NAME.h declares, from the ABI's tables.
static_assert(
    std::is_same_v<decltype(&MLA_NAME), mla_abi::KernelFn> &&
        std::is_same_v<decltype(&MLA_NUM_SPLITS), mla_abi::NumSplitsFn>,
    "the C signatures of the ABI");
} // extern "C"
