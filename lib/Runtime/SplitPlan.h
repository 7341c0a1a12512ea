//===- SplitPlan.h - KV splits per sequence from its length -----*- C++ -*-===//
//
// Header-only: the split plan of a call whose sequences' lengths the host
// knows (the CPU runtime's; FlashMLA and FlashInfer compute this kind of
// metadata on the device). Each sequence gets its own split count, and with
// few items a thread the threads take them largest first. The plan is the
// best of a few candidates under a cost model of OpenMP's dynamic schedule:
// an item costs its tokens plus a fixed overhead, and each free thread takes
// the next one. Linear in the batch but for a sort of at most
// kSimulatedItemsPerThread x threads sequences.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_RUNTIME_SPLITPLAN_H
#define MLA_RUNTIME_SPLITPLAN_H

#include "DecodeArgs.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

namespace mla_runtime {

/// A work item's fixed cost in tokens' worth of its work (packing the
/// queries, the first tiles' misses, its share of the combine). Measured on
/// a Xeon with AMX (512/64, bf16, 2 threads, one sequence of 4096 tokens):
/// 4 splits instead of 2 cost 0.011 ms an item at 16 heads and 0.095 ms at
/// 128, about 120 and 275 tokens' worth (docs/benchmarks.md, "Variable
/// lengths").
inline constexpr int64_t kItemOverheadTokens = 256;

/// The splits of a sequence whose kernels read `read` tokens, in chunks of
/// at most about `chunk` tokens: at least one, each at least
/// kMinTokensPerSplit tokens on average, at most kMaxSplits.
inline int64_t splitsForChunk(int64_t read, int64_t chunk) {
  read = std::max<int64_t>(0, read);
  int64_t n = (read + chunk - 1) / std::max<int64_t>(1, chunk);
  int64_t cap = std::clamp<int64_t>(read / kMinTokensPerSplit, 1, kMaxSplits);
  return std::clamp<int64_t>(n, 1, cap);
}

/// What one of a sequence's items costs in the model: its longest split's
/// tokens and the overhead.
inline int64_t itemCost(int64_t read, int64_t splits) {
  return (std::max<int64_t>(0, read) + splits - 1) / splits +
         kItemOverheadTokens;
}

/// Up to this many items a thread, the model plays the schedule item by
/// item, largest first; beyond, no item is more than a small part of a
/// thread's work, and list scheduling's bound stands for it.
inline constexpr int64_t kSimulatedItemsPerThread = 16;

/// A call's plan: per sequence its splits; the sequences in the order the
/// threads take their items (each sequence's groups x splits items
/// together); the items; the modelled time.
struct SplitPlan {
  std::vector<int64_t> splits, order;
  int64_t items = 0, makespan = 0;
};

/// What the plan search reuses from call to call.
struct PlanScratch {
  SplitPlan trial;
  std::vector<int64_t> costs, loads;
};

/// Orders `plan`'s sequences, counts its items and models its time on
/// `threads` threads, each taking the next item when it is free. With few
/// items (kSimulatedItemsPerThread), largest first (LPT; ties by index) and
/// played item by item; otherwise in index order, and the time is list
/// scheduling's bound: the total over the threads plus the largest item.
inline void schedule(const std::vector<int64_t> &read, int64_t groups,
                     int64_t threads, SplitPlan &plan, PlanScratch &scratch) {
  threads = std::max<int64_t>(1, threads);
  const size_t batch = read.size();
  std::vector<int64_t> &costs = scratch.costs;
  costs.resize(batch);
  int64_t total = 0, largest = 0;
  plan.items = 0;
  for (size_t b = 0; b < batch; ++b) {
    costs[b] = itemCost(read[b], plan.splits[b]);
    plan.items += groups * plan.splits[b];
    total += groups * plan.splits[b] * costs[b];
    largest = std::max(largest, costs[b]);
  }
  plan.order.resize(batch);
  for (size_t b = 0; b < batch; ++b)
    plan.order[b] = int64_t(b);
  if (plan.items > kSimulatedItemsPerThread * threads) {
    plan.makespan = (total + threads - 1) / threads + largest;
    return;
  }
  std::stable_sort(plan.order.begin(), plan.order.end(),
                   [&](int64_t x, int64_t y) { return costs[x] > costs[y]; });
  // The threads' loads as a min-heap.
  std::vector<int64_t> &loads = scratch.loads;
  loads.assign(size_t(threads), 0);
  std::greater<int64_t> later;
  for (int64_t b : plan.order)
    for (int64_t i = 0; i < groups * plan.splits[b]; ++i) {
      std::pop_heap(loads.begin(), loads.end(), later);
      loads.back() += costs[b];
      std::push_heap(loads.begin(), loads.end(), later);
    }
  plan.makespan = *std::max_element(loads.begin(), loads.end());
}

/// The plan of a call whose sequences read `read` tokens each, in `groups`
/// row groups, on `threads` threads. Candidates: one count for every
/// sequence (uniformSplits, the runtime's rule before the plan), and one
/// chunk size for the call such that the items number about k x threads
/// (k = 1 .. 4). The least modelled time wins, the fewer items among
/// equals. So a long sequence among short ones is split and the short ones
/// are not, and a batch of equal sequences gets as many items as fill the
/// threads evenly.
inline void planSplits(const std::vector<int64_t> &read, int64_t groups,
                       int64_t threads, SplitPlan &plan, PlanScratch &scratch) {
  groups = std::max<int64_t>(1, groups);
  threads = std::max<int64_t>(1, threads);
  int64_t total = 0, longest = 0;
  for (int64_t r : read) {
    total += std::max<int64_t>(0, r);
    longest = std::max(longest, r);
  }
  const size_t batch = read.size();
  SplitPlan &trial = scratch.trial;
  bool first = true;
  auto consider = [&](auto splitsOf) {
    trial.splits.resize(batch);
    for (size_t b = 0; b < batch; ++b)
      trial.splits[b] = splitsOf(read[b]);
    if (!first && trial.splits == plan.splits)
      return;
    schedule(read, groups, threads, trial, scratch);
    if (first || trial.makespan < plan.makespan ||
        (trial.makespan == plan.makespan && trial.items < plan.items))
      std::swap(plan, trial);
    first = false;
  };
  int64_t uniform = std::min(
      kMaxSplits, uniformSplits(int64_t(batch) * groups, longest, threads));
  consider([&](int64_t) { return uniform; });
  for (int64_t k = 1; k <= 4; ++k) {
    int64_t chunk = std::max(
        kMinTokensPerSplit, (groups * total + k * threads - 1) / (k * threads));
    consider([&](int64_t r) { return splitsForChunk(r, chunk); });
  }
}

} // namespace mla_runtime

#endif // MLA_RUNTIME_SPLITPLAN_H
