//===- Peaks.cpp - Machine peak microbenchmarks for mla-bench -------------===//
//
// Compiled with -march=native: the loops use the widest vectors the host has.
//
//===----------------------------------------------------------------------===//

#include "Peaks.h"

#include "mla/Runtime/HostCPU.h"

#include <algorithm>
#include <chrono>

#include <omp.h>

#if defined(__x86_64__)
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

#if defined(__x86_64__)
/// 24 independent vdpbf16ps chains, \p iters each; built for AVX512-BF16
/// whatever -march says, called only where the CPU has it.
__attribute__((target("avx512f,avx512bf16"))) float
bf16DotChains(int64_t iters) {
  constexpr int kChains = 24;
  __m512 acc[kChains];
  for (int j = 0; j < kChains; ++j)
    acc[j] = _mm512_set1_ps(1.0f + 1e-3f * float(j));
  // Products of 1e-3 keep the sums bounded and away from denormals.
  const __m512bh x =
      _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3f), _mm512_set1_ps(1e-3f));
  const __m512bh y =
      _mm512_cvtne2ps_pbh(_mm512_set1_ps(-1e-3f), _mm512_set1_ps(1e-3f));
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 24
    for (int j = 0; j < kChains; ++j)
      acc[j] = _mm512_dpbf16_ps(acc[j], x, y);
  }
  __m512 total = acc[0];
  for (int j = 1; j < kChains; ++j)
    total = _mm512_add_ps(total, acc[j]);
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, total);
  float sum = 0.0f;
  for (float v : lanes)
    sum += v;
  return sum;
}
constexpr int kDotChains = 24;

/// 4 independent tdpbf16ps chains on tiles 0-3, operands in tiles 4-7,
/// \p iters rounds; every thread configures its own tiles (the tile
/// configuration is per-thread state).
__attribute__((target("amx-tile,amx-bf16"))) float
amxTileChains(int64_t iters) {
  struct alignas(64) Config {
    uint8_t palette, startRow, reserved[14];
    uint16_t colBytes[16];
    uint8_t rows[16];
  } config = {};
  config.palette = 1;
  for (int t = 0; t < 8; ++t) {
    config.colBytes[t] = 64;
    config.rows[t] = 16;
  }
  _tile_loadconfig(&config);
  // bf16 1e-3 (0x3a83) in every element: the sums stay far from overflow
  // and denormals.
  alignas(64) uint16_t operand[16 * 32];
  alignas(64) float out[16 * 16];
  for (uint16_t &v : operand)
    v = 0x3a83;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, operand, 64);
  _tile_loadd(5, operand, 64);
  _tile_loadd(6, operand, 64);
  _tile_loadd(7, operand, 64);
  for (int64_t i = 0; i < iters; ++i) {
    _tile_dpbf16ps(0, 4, 5);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 6, 5);
    _tile_dpbf16ps(3, 6, 7);
  }
  _tile_stored(0, out, 64);
  _tile_release();
  return out[0];
}
constexpr int kTileProducts = 4;
#endif

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

/// FMAs while streaming data[begin, end): kStreamFmas per vector read, on
/// registers (15 FLOP per byte of f32, the intensity of the 16-head f32
/// kernel); the first OtherLoads of them take their operand from `other`, a
/// power-of-two array of `otherMask + 1` floats read in order, instead of the
/// streamed vector. Prefetch: also prefetch the stream kPrefetchBytes ahead.
constexpr int kStreamFmas = 30;
constexpr size_t kPrefetchBytes = 16384;
template <int OtherLoads, bool Prefetch = false>
float fmasWhileStreaming(const float *data, size_t begin, size_t end,
                         const float *other, size_t otherMask, float seed) {
  static_assert(OtherLoads <= kStreamFmas, "more loads than FMAs");
  Vec acc[kAccumulators];
  for (int j = 0; j < kAccumulators; ++j)
    acc[j] = splat(seed + 1e-3f * float(j));
  const Vec mul = splat(0.999999f);
  size_t w = 0;
  for (size_t i = begin; i < end; i += kLanes) {
    if (Prefetch && i + kPrefetchBytes / sizeof(float) < end)
      __builtin_prefetch(data + i + kPrefetchBytes / sizeof(float), 0, 3);
    Vec x = load(data + i);
#pragma GCC unroll 32
    for (int k = 0; k < kStreamFmas; ++k) {
      Vec operand = k < OtherLoads
                        ? load(other + ((w + size_t(k) * kLanes) & otherMask))
                        : x;
      acc[k % kAccumulators] = fmadd(acc[k % kAccumulators], mul, operand);
    }
    w = (w + size_t(OtherLoads) * kLanes) & otherMask;
  }
  Vec total = acc[0];
  for (int j = 1; j < kAccumulators; ++j)
    total = add(total, acc[j]);
  return reduce(total);
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

namespace {
/// The best rate in GFLOP/s of `chains(iters)` (`flopsPerIter` each) on
/// numThreads threads over reps runs, iters calibrated on one thread to about
/// 50 ms a run: long enough to hide thread start-up and timer resolution,
/// short enough for a quick bench.
template <typename Chains>
double bestRate(Chains chains, double flopsPerIter, int numThreads, int reps) {
  int64_t iters = 1 << 14;
  for (;;) {
    auto start = std::chrono::steady_clock::now();
    gSink = chains(iters);
    if (secondsSince(start) > 0.05 || iters > (int64_t(1) << 34))
      break;
    iters *= 2;
  }
  double best = 0.0;
  for (int rep = 0; rep < reps + 1; ++rep) { // The first run warms up.
    auto start = std::chrono::steady_clock::now();
    float total = 0.0f;
#pragma omp parallel num_threads(numThreads) reduction(+ : total)
    total += chains(iters);
    double seconds = secondsSince(start);
    gSink = total;
    if (rep == 0)
      continue;
    double flops = flopsPerIter * double(iters) * numThreads;
    best = std::max(best, flops / seconds * 1e-9);
  }
  return best;
}
} // namespace

double mla::bench::measureFmaPeak(int numThreads, int reps) {
  return bestRate(fmaChains, 2.0 * kLanes * kAccumulators, numThreads, reps);
}

double mla::bench::measureBF16DotPeak(int numThreads, int reps) {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16"))
    return 0.0;
  return bestRate(bf16DotChains, 64.0 * kDotChains, numThreads, reps);
#else
  (void)numThreads;
  (void)reps;
  return 0.0;
#endif
}

double mla::bench::measureAMXPeak(int numThreads, int reps) {
#if defined(__x86_64__)
  if (!mla_runtime::amxGranted())
    return 0.0;
  return bestRate(amxTileChains, 16384.0 * kTileProducts, numThreads, reps);
#else
  (void)numThreads;
  (void)reps;
  return 0.0;
#endif
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

/// GFLOP/s of fmasWhileStreaming over data[0, numFloats), \p passes times,
/// best of \p reps; each thread's other operands come from its own array of
/// \p otherBytes.
template <int OtherLoads, bool Prefetch = false>
static double fmaWhileStreamingRate(const float *data, size_t numFloats,
                                    int passes, size_t otherBytes,
                                    int numThreads, int reps) {
  const size_t otherFloats = otherBytes / sizeof(float);
  double best = 0.0;
  for (int rep = 0; rep < reps + 1; ++rep) { // The first pass warms up.
    float total = 0.0f;
    double seconds = 0.0;
#pragma omp parallel num_threads(numThreads) reduction(+ : total)
    {
      // Aligned like the stream: a vector load never straddles two lines.
      AlignedBuffer otherBuffer(otherBytes);
      float *other = otherBuffer.as<float>();
      std::fill(other, other + otherFloats, 1.0f);
      size_t begin, end;
      threadRange(numFloats, omp_get_thread_num(), omp_get_num_threads(), begin,
                  end);
#pragma omp barrier
      auto start = std::chrono::steady_clock::now();
      // Each pass starts from the last one's result, so that none can be
      // dropped as a repeat.
      for (int pass = 0; pass < passes; ++pass)
        total += 1e-9f * fmasWhileStreaming<OtherLoads, Prefetch>(
                             data, begin, end, other, otherFloats - 1, total);
#pragma omp barrier
#pragma omp master
      seconds = secondsSince(start);
    }
    gSink = total;
    if (rep > 0)
      best = std::max(best, 2.0 * kStreamFmas * double(numFloats) * passes /
                                seconds * 1e-9);
  }
  return best;
}

StreamBenchmark::Overlap StreamBenchmark::measureOverlap(int numThreads,
                                                         int reps) {
  const float *data = buffer.as<float>();
  const size_t l1 = size_t(16) << 10, l2 = size_t(256) << 10;
  Overlap o;
  o.plain = fmaWhileStreamingRate<0>(data, numFloats, 1, kLanes * sizeof(float),
                                     numThreads, reps);
  o.l1Operands =
      fmaWhileStreamingRate<8>(data, numFloats, 1, l1, numThreads, reps);
  o.l2Operands =
      fmaWhileStreamingRate<8>(data, numFloats, 1, l2, numThreads, reps);
  o.l2OperandsPrefetched =
      fmaWhileStreamingRate<8, true>(data, numFloats, 1, l2, numThreads, reps);
  // The control: the same loads, the streamed part now a 256 KiB slice per
  // thread (in L2) read over and over.
  size_t slice = std::min(numFloats, l2 / sizeof(float) * size_t(numThreads));
  slice = slice / (4 * kLanes) * (4 * kLanes);
  int passes = int(std::max<size_t>(1, numFloats / slice / 8));
  o.l2OperandsInCache =
      fmaWhileStreamingRate<8>(data, slice, passes, l2, numThreads, reps);
  return o;
}

void StreamBenchmark::flushCaches(size_t bytes) {
  size_t count = std::min(numFloats, bytes / sizeof(float));
  count = count / (4 * kLanes) * (4 * kLanes);
  gSink = parallelSum(buffer.as<float>(), count, maxThreads);
}
