//===- DecodeArgs.h - shared by the C entries of generated kernels -*- C++ -*-===//
//
// Header-only: compiled into every kernel library by mla-codegen, for the
// CPU (DecodeEntry.cpp) and the CUDA (DecodeEntryCUDA.cpp) entries.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_RUNTIME_DECODEARGS_H
#define MLA_RUNTIME_DECODEARGS_H

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>

namespace mla_runtime {

/// What a call's host-visible arguments say: -1 to go on, 0 for an empty
/// batch (nothing to do), or the contract's code: 1 a null pointer,
/// 2 batch < 0, 3 max_blocks_per_seq < 0, 6 a non-finite scale.
inline int32_t checkArguments(const void *q, const void *kvCache,
                              const int32_t *blockTable,
                              const int32_t *seqLens, const void *out,
                              const float *lse, int32_t batch,
                              int32_t maxBlocksPerSeq, float softmaxScale) {
  if (batch < 0)
    return 2;
  if (batch == 0)
    return 0;
  if (!q || !kvCache || !blockTable || !seqLens || !out || !lse)
    return 1;
  if (maxBlocksPerSeq < 0)
    return 3;
  if (!std::isfinite(softmaxScale))
    return 6;
  return -1;
}

/// KV splits: enough work items for about twice `parallelism` (threads or
/// SMs), each split at least `minTokens` of the longest sequence; the
/// environment variable `envVar` overrides it.
inline int64_t chooseSplits(const char *envVar, int64_t itemsPerSplit,
                            int64_t maxSeqLen, int64_t parallelism,
                            int64_t minTokens) {
  if (const char *env = std::getenv(envVar))
    if (int v = std::atoi(env); v > 0)
      return v;
  int64_t items = std::max<int64_t>(1, itemsPerSplit);
  int64_t want = (2 * parallelism + items - 1) / items;
  int64_t cap = std::max<int64_t>(1, maxSeqLen / minTokens);
  return std::clamp<int64_t>(want, 1, cap);
}

} // namespace mla_runtime

#endif // MLA_RUNTIME_DECODEARGS_H
