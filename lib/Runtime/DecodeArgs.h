//===- DecodeArgs.h - shared by the C entries of kernels --------*- C++ -*-===//
//
// Header-only: what the CPU (CPU/CPURuntime.cpp) and the CUDA
// (CUDA/CUDARuntime.cpp) runtimes share, the argument checks returning the
// ABI's codes (mla/Runtime/KernelABI.h) and the split count of a call
// whose sequences' lengths the host does not know (SplitPlan.h: one that
// does).
//
//===----------------------------------------------------------------------===//

#ifndef MLA_RUNTIME_DECODEARGS_H
#define MLA_RUNTIME_DECODEARGS_H

#include "mla/Runtime/KernelABI.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <type_traits>

namespace mla_runtime {

/// What a call's host-visible arguments say: -1 to go on, Ok for an empty
/// batch (nothing to do), or the code of the first bad argument.
inline int32_t checkArguments(const void *q, const void *kvCache,
                              const int32_t *blockTable,
                              const int32_t *seqLens, const void *out,
                              const float *lse, int32_t batch,
                              int32_t maxBlocksPerSeq, float softmaxScale) {
  if (batch < 0)
    return mla_abi::ErrBatch;
  if (batch == 0)
    return mla_abi::Ok;
  if (!q || !kvCache || !blockTable || !seqLens || !out || !lse)
    return mla_abi::ErrNullPointer;
  if (maxBlocksPerSeq < 0)
    return mla_abi::ErrMaxBlocks;
  if (!std::isfinite(softmaxScale))
    return mla_abi::ErrScale;
  return -1;
}

/// The partial kernels' score scale: softmax_scale, times kv_scale for a
/// library whose fp8 cache has one scale (`fp8Tensor`; its codes are read
/// unscaled and the combine multiplies the outputs by kv_scale). ErrScale
/// when kv_scale is not finite and positive or the product overflows; -1
/// to go on.
inline int32_t scoreScale(bool fp8Tensor, float softmaxScale, float kvScale,
                          float &scale) {
  scale = softmaxScale;
  if (!fp8Tensor)
    return -1;
  scale = softmaxScale * kvScale;
  if (!std::isfinite(kvScale) || !(kvScale > 0) || !std::isfinite(scale))
    return mla_abi::ErrScale;
  return -1;
}

/// Below this many tokens per split the combine costs more than it saves.
inline constexpr int64_t kMinTokensPerSplit = 256;

/// The most KV splits a call uses: the split partials' scratch grows with
/// the split count, and more splits than this never pay for their combine.
inline constexpr int64_t kMaxSplits = 256;

/// The split count `envVar` forces on every sequence, within 1 ..
/// min(kMaxSplits, the longest sequence) since a split without tokens is
/// only scratch; 0 when it is unset or not a positive number.
inline int64_t forcedSplits(const char *envVar, int64_t maxSeqLen) {
  if (const char *env = std::getenv(envVar))
    if (long v = std::atol(env); v > 0)
      return std::clamp<int64_t>(
          v, 1, std::max<int64_t>(1, std::min(kMaxSplits, maxSeqLen)));
  return 0;
}

/// One split count for every sequence: enough work items for about twice
/// `parallelism` (threads or SMs), each split at least kMinTokensPerSplit
/// of the longest sequence.
inline int64_t uniformSplits(int64_t itemsPerSplit, int64_t maxSeqLen,
                             int64_t parallelism) {
  int64_t items = std::max<int64_t>(1, itemsPerSplit);
  int64_t want = (2 * parallelism + items - 1) / items;
  int64_t cap = std::max<int64_t>(1, maxSeqLen / kMinTokensPerSplit);
  return std::clamp<int64_t>(want, 1, cap);
}

/// KV splits of a call whose sequences' lengths the host does not know (the
/// GPU's): uniformSplits, or what `envVar` forces.
inline int64_t chooseSplits(const char *envVar, int64_t itemsPerSplit,
                            int64_t maxSeqLen, int64_t parallelism) {
  if (int64_t forced = forcedSplits(envVar, maxSeqLen))
    return forced;
  return uniformSplits(itemsPerSplit, maxSeqLen, parallelism);
}

/// A runtime entry's function type without its first parameter (the
/// kernel's description): what a generated NAME or NAME_num_splits forwards.
template <typename R, typename Description, typename... Args>
constexpr auto withoutDescription(R (*)(const Description *, Args...))
    -> R (*)(Args...) {
  return nullptr;
}

/// Whether a runtime's entries take the contract's arguments, as the ABI's
/// tables describe them, after the kernel's description: the decode entry
/// as `DecodeFn` (by default with the sinks, NULL for a library without).
template <typename DecodeFn = mla_abi::SinksKernelFn, typename Decode,
          typename Splits>
constexpr bool forwardsABI(Decode decode, Splits splits) {
  return std::is_same_v<decltype(withoutDescription(decode)), DecodeFn> &&
         std::is_same_v<decltype(withoutDescription(splits)),
                        mla_abi::NumSplitsFn>;
}

} // namespace mla_runtime

#endif // MLA_RUNTIME_DECODEARGS_H
