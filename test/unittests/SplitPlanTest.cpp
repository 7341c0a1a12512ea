//===- SplitPlanTest.cpp - the CPU entry's split plan ---------------------===//
//
// mla_runtime::planSplits (lib/Runtime/SplitPlan.h): each sequence's KV
// splits from the tokens it reads, and the order the threads take the work
// items in. Checked on hand-computed cases and, over random batches, against
// a separate implementation of the same cost model (each free thread takes
// the next item; an item costs its tokens plus kItemOverheadTokens; played
// item by item up to kSimulatedItemsPerThread items a thread, list
// scheduling's bound beyond): the plan is never worse than one count for
// all (the rule before it) nor than chunks of a quarter of a thread's
// share, and, played item by item, stays within list scheduling's bound of
// a perfect balance.
//
//===----------------------------------------------------------------------===//

#include "SplitPlan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

namespace {
using mla_runtime::kItemOverheadTokens;
using mla_runtime::kMaxSplits;
using mla_runtime::kMinTokensPerSplit;
using mla_runtime::kSimulatedItemsPerThread;
using mla_runtime::SplitPlan;

SplitPlan plan(const std::vector<int64_t> &read, int64_t groups,
               int64_t threads) {
  SplitPlan p;
  mla_runtime::PlanScratch scratch;
  mla_runtime::planSplits(read, groups, threads, p, scratch);
  return p;
}

/// When the last thread finishes: items taken in `order` (a sequence's
/// groups x splits items together), each by the least loaded thread.
int64_t simulate(const std::vector<int64_t> &read,
                 const std::vector<int64_t> &splits,
                 const std::vector<int64_t> &order, int64_t groups,
                 int64_t threads) {
  std::vector<int64_t> load(size_t(threads), 0);
  for (int64_t b : order) {
    int64_t per = (read[b] + splits[b] - 1) / splits[b];
    for (int64_t i = 0; i < groups * splits[b]; ++i)
      *std::min_element(load.begin(), load.end()) += per + kItemOverheadTokens;
  }
  return *std::max_element(load.begin(), load.end());
}

int64_t itemsOf(const std::vector<int64_t> &splits, int64_t groups) {
  int64_t items = 0;
  for (int64_t n : splits)
    items += groups * n;
  return items;
}

/// The order the plan takes a plan's sequences in: longest split first
/// where it plays the schedule, else as they come.
std::vector<int64_t> orderOf(const std::vector<int64_t> &read,
                             const std::vector<int64_t> &splits, int64_t groups,
                             int64_t threads) {
  std::vector<int64_t> order(read.size());
  for (size_t b = 0; b < read.size(); ++b)
    order[b] = int64_t(b);
  if (itemsOf(splits, groups) > kSimulatedItemsPerThread * threads)
    return order;
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) {
    return (read[x] + splits[x] - 1) / splits[x] >
           (read[y] + splits[y] - 1) / splits[y];
  });
  return order;
}

/// The model's time of a plan: played item by item, or list scheduling's
/// bound (the total over the threads plus the largest item).
int64_t modelled(const std::vector<int64_t> &read,
                 const std::vector<int64_t> &splits, int64_t groups,
                 int64_t threads) {
  if (itemsOf(splits, groups) <= kSimulatedItemsPerThread * threads)
    return simulate(read, splits, orderOf(read, splits, groups, threads),
                    groups, threads);
  int64_t total = 0, largest = 0;
  for (size_t b = 0; b < read.size(); ++b) {
    int64_t cost = (read[b] + splits[b] - 1) / splits[b] + kItemOverheadTokens;
    total += groups * splits[b] * cost;
    largest = std::max(largest, cost);
  }
  return (total + threads - 1) / threads + largest;
}

TEST(SplitPlanTest, HandComputedCases) {
  // One sequence on 2 threads: one split each (4 cost two overheads more).
  EXPECT_EQ(plan({4096}, 1, 2).splits, (std::vector<int64_t>{2}));
  // Three on 2 threads: halves, 3 a thread (whole ones leave one idle).
  EXPECT_EQ(plan({4096, 4096, 4096}, 1, 2).splits,
            (std::vector<int64_t>{2, 2, 2}));
  // A long sequence among short ones: only it is split, and goes first.
  // One count for all (1: the batch fills 2 threads twice) leaves it on
  // one thread: 16384 tokens against about 10240.
  std::vector<int64_t> skewed = {1024, 16384, 1024, 1024};
  SplitPlan p = plan(skewed, 1, 2);
  EXPECT_EQ(p.splits, (std::vector<int64_t>{1, 2, 1, 1}));
  EXPECT_EQ(p.order.front(), 1);
  EXPECT_EQ(p.items, 5);
  EXPECT_EQ(p.makespan, 8192 + 2 * 1024 + 3 * kItemOverheadTokens);
  EXPECT_EQ(mla_runtime::uniformSplits(4, 16384, 2), 1);
  EXPECT_EQ(simulate(skewed, {1, 1, 1, 1}, {1, 0, 2, 3}, 1, 2),
            16384 + kItemOverheadTokens);
  // Enough row groups already: no split (FlashMLA's batch 128 at 128 heads).
  EXPECT_EQ(plan(std::vector<int64_t>(128, 4096), 2, 16).splits,
            std::vector<int64_t>(128, 1));
  // Short and empty sequences: one split each.
  EXPECT_EQ(plan({300, 0, 255}, 1, 64).splits, (std::vector<int64_t>{1, 1, 1}));
  // At least kMinTokensPerSplit tokens a split, at most kMaxSplits splits.
  EXPECT_EQ(plan({1000}, 1, 64).splits, (std::vector<int64_t>{3}));
  EXPECT_EQ(plan({10000000}, 1, 1000).splits,
            (std::vector<int64_t>{kMaxSplits}));
}

TEST(SplitPlanTest, NeverWorseThanItsCandidatesOverRandomBatches) {
  std::mt19937_64 rng(7);
  int bounded = 0;
  bool simulatedToo = false;
  for (int trial = 0; trial < 1500; ++trial) {
    int64_t batch = std::uniform_int_distribution<int64_t>(1, 100)(rng);
    int64_t groups = std::uniform_int_distribution<int64_t>(1, 8)(rng);
    int64_t threads = std::uniform_int_distribution<int64_t>(1, 128)(rng);
    int64_t mean = std::uniform_int_distribution<int64_t>(1, 40000)(rng);
    // FlashMLA's variable lengths: normal around the mean, half its
    // deviation; some trials with one sequence 16x longer.
    std::normal_distribution<double> dist(double(mean), mean / 2.0);
    std::vector<int64_t> read;
    for (int64_t b = 0; b < batch; ++b)
      read.push_back(std::max<int64_t>(0, int64_t(dist(rng))));
    if (trial % 3 == 0)
      read[rng() % batch] = 16 * mean;
    SCOPED_TRACE("trial " + std::to_string(trial));
    SplitPlan p = plan(read, groups, threads);
    ASSERT_EQ(p.splits.size(), read.size());
    int64_t total = 0, longest = 0, items = 0;
    for (size_t b = 0; b < read.size(); ++b) {
      ASSERT_GE(p.splits[b], 1);
      ASSERT_LE(p.splits[b], kMaxSplits);
      total += read[b];
      longest = std::max(longest, read[b]);
      items += groups * p.splits[b];
    }
    ASSERT_EQ(p.items, items);
    // The order is the model's, and so is the time.
    ASSERT_EQ(p.order, orderOf(read, p.splits, groups, threads));
    ASSERT_EQ(p.makespan, modelled(read, p.splits, groups, threads));
    simulatedToo |= items <= kSimulatedItemsPerThread * threads;

    // Never worse than one count for all.
    std::vector<int64_t> uniform(
        read.size(), std::min(kMaxSplits, mla_runtime::uniformSplits(
                                              int64_t(read.size()) * groups,
                                              longest, threads)));
    ASSERT_LE(p.makespan, modelled(read, uniform, groups, threads));
    // Nor than chunks of a quarter of a thread's share, which list
    // scheduling keeps within its largest item of a perfect balance.
    int64_t work = groups * total;
    int64_t chunk =
        std::max(kMinTokensPerSplit, (work + 4 * threads - 1) / (4 * threads));
    std::vector<int64_t> quarter;
    int64_t quarterItems = 0, largest = 0;
    bool capped = false;
    for (int64_t r : read) {
      int64_t n = mla_runtime::splitsForChunk(r, chunk);
      capped |= (r + chunk - 1) / chunk > n;
      quarter.push_back(n);
      quarterItems += groups * n;
      largest = std::max(largest, (r + n - 1) / n);
    }
    ASSERT_LE(p.makespan, modelled(read, quarter, groups, threads));
    if (capped)
      continue;
    ++bounded;
    // Played item by item in the plan's order, as the threads take them.
    ASSERT_LE(simulate(read, p.splits, p.order, groups, threads),
              (work + quarterItems * kItemOverheadTokens + threads - 1) /
                      threads +
                  chunk + kItemOverheadTokens);
    ASSERT_LE(largest, chunk);
  }
  EXPECT_GT(bounded, 1000);
  EXPECT_TRUE(simulatedToo);
}
} // namespace
