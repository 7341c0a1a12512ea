//===- Peaks.cpp - Machine peak microbenchmarks for mla-bench -------------===//
//
// Compiled with -march=native: the loops use the widest vectors the host has.
//
//===----------------------------------------------------------------------===//

#include "Peaks.h"

#include <algorithm>
#include <chrono>

#include <omp.h>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#include <immintrin.h>
#endif

using namespace mla::bench;

namespace {
#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
// 32 zmm registers: 24 accumulators cover latency 4 x 2 pipes with margin and
// leave room for the two constants.
constexpr int kAccumulators = 24;
constexpr const char *kIsaName = "AVX-512";
inline Vec splat(float x) { return _mm512_set1_ps(x); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec load(const float *p) { return _mm512_load_ps(p); }
inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
inline float reduce(Vec v) {
  // Not _mm512_reduce_add_ps: GCC 12 warns inside it (-Wuninitialized).
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float sum = 0.0f;
  for (float x : lanes)
    sum += x;
  return sum;
}
#elif defined(__AVX2__) && defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
// 16 ymm registers: 12 accumulators (>= latency 4 x 2 pipes) + 2 constants.
constexpr int kAccumulators = 12;
constexpr const char *kIsaName = "AVX2+FMA";
inline Vec splat(float x) { return _mm256_set1_ps(x); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec load(const float *p) { return _mm256_load_ps(p); }
inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline float reduce(Vec v) {
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, v);
  float sum = 0.0f;
  for (float x : lanes)
    sum += x;
  return sum;
}
#else
// Portable fallback; the numbers it gives are not the machine's peak.
using Vec = float;
constexpr int kLanes = 1;
constexpr int kAccumulators = 8;
constexpr const char *kIsaName = "scalar (no AVX2/FMA at compile time)";
inline Vec splat(float x) { return x; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return a * b + c; }
inline Vec load(const float *p) { return *p; }
inline Vec add(Vec a, Vec b) { return a + b; }
inline float reduce(Vec v) { return v; }
#endif

// Results go here so the compiler cannot drop the loops.
volatile float gSink;

double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

/// kAccumulators independent FMA chains, \p iters FMAs each.
float fmaChains(int64_t iters) {
  Vec acc[kAccumulators];
  for (int j = 0; j < kAccumulators; ++j)
    acc[j] = splat(1.0f + 1e-3f * float(j));
  // |mul| < 1 keeps the values bounded; add keeps them away from zero.
  const Vec mul = splat(0.999999f), addend = splat(1e-6f);
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 32
    for (int j = 0; j < kAccumulators; ++j)
      acc[j] = fmadd(acc[j], mul, addend);
  }
  Vec total = acc[0];
  for (int j = 1; j < kAccumulators; ++j)
    total = add(total, acc[j]);
  return reduce(total);
}

/// Sum of data[begin, end); the bounds are multiples of kLanes * 4.
float sumRange(const float *data, size_t begin, size_t end) {
  Vec acc0 = splat(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  for (size_t i = begin; i < end; i += 4 * kLanes) {
    acc0 = add(acc0, load(data + i));
    acc1 = add(acc1, load(data + i + kLanes));
    acc2 = add(acc2, load(data + i + 2 * kLanes));
    acc3 = add(acc3, load(data + i + 3 * kLanes));
  }
  return reduce(add(add(acc0, acc1), add(acc2, acc3)));
}

/// Static split of [0, count) into 4 * kLanes aligned chunks, as OpenMP's
/// schedule(static) would, so first touch and reads use the same threads.
void threadRange(size_t count, int thread, int numThreads, size_t &begin,
                 size_t &end) {
  const size_t unit = 4 * kLanes, units = count / unit;
  begin = units * size_t(thread) / size_t(numThreads) * unit;
  end = units * size_t(thread + 1) / size_t(numThreads) * unit;
}

/// Sums data[0, count) on numThreads threads.
float parallelSum(const float *data, size_t count, int numThreads) {
  float total = 0.0f;
#pragma omp parallel num_threads(numThreads) reduction(+ : total)
  {
    size_t begin, end;
    threadRange(count, omp_get_thread_num(), omp_get_num_threads(), begin, end);
    total += sumRange(data, begin, end);
  }
  return total;
}
} // namespace

const char *mla::bench::peakVectorIsa() { return kIsaName; }

double mla::bench::measureFmaPeak(int numThreads, int reps) {
  // Calibrate on one thread to about 50 ms per run: long enough to hide
  // thread start-up and timer resolution, short enough for a quick bench.
  int64_t iters = 1 << 16;
  for (;;) {
    auto start = std::chrono::steady_clock::now();
    gSink = fmaChains(iters);
    if (secondsSince(start) > 0.05 || iters > (int64_t(1) << 34))
      break;
    iters *= 2;
  }
  double best = 0.0;
  for (int rep = 0; rep < reps + 1; ++rep) { // The first run warms up.
    auto start = std::chrono::steady_clock::now();
    float total = 0.0f;
#pragma omp parallel num_threads(numThreads) reduction(+ : total)
    total += fmaChains(iters);
    double seconds = secondsSince(start);
    gSink = total;
    if (rep == 0)
      continue;
    double flops = 2.0 * kLanes * kAccumulators * double(iters) * numThreads;
    best = std::max(best, flops / seconds * 1e-9);
  }
  return best;
}

StreamBenchmark::StreamBenchmark(size_t bytes, int maxThreads)
    : buffer(bytes), maxThreads(maxThreads) {
  numFloats = bytes / sizeof(float) / (4 * kLanes) * (4 * kLanes);
  float *data = buffer.as<float>();
#pragma omp parallel num_threads(maxThreads)
  {
    size_t begin, end;
    threadRange(numFloats, omp_get_thread_num(), omp_get_num_threads(), begin,
                end);
    for (size_t i = begin; i < end; ++i)
      data[i] = 1.0f;
  }
}

double StreamBenchmark::measure(int numThreads, int reps) {
  const float *data = buffer.as<float>();
  double best = 0.0;
  for (int rep = 0; rep < reps + 1; ++rep) { // The first pass warms up.
    auto start = std::chrono::steady_clock::now();
    gSink = parallelSum(data, numFloats, numThreads);
    double seconds = secondsSince(start);
    if (rep > 0)
      best = std::max(best, double(size()) / seconds * 1e-9);
  }
  return best;
}

void StreamBenchmark::flushCaches(size_t bytes) {
  size_t count = std::min(numFloats, bytes / sizeof(float));
  count = count / (4 * kLanes) * (4 * kLanes);
  gSink = parallelSum(buffer.as<float>(), count, maxThreads);
}
