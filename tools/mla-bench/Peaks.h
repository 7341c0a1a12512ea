//===- Peaks.h - Machine peak microbenchmarks for mla-bench -----*- C++ -*-===//
//
// The machine's own ceilings, measured in the same process as the kernels so
// that every reported rate has a ratio against something real: f32 FMA
// throughput and streaming-read bandwidth, on any number of OpenMP threads.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_BENCH_PEAKS_H
#define MLA_BENCH_PEAKS_H

#include "Problem.h"

#include <cstddef>

namespace mla {
namespace bench {

/// The vector ISA the FMA and stream loops were compiled for, e.g. "AVX-512".
const char *peakVectorIsa();

/// f32 FMA throughput in GFLOP/s (2 FLOPs per lane per FMA) on \p numThreads
/// OpenMP threads, best of \p reps runs. Each thread keeps enough independent
/// accumulators in registers to cover FMA latency times the number of pipes.
double measureFmaPeak(int numThreads, int reps = 5);

/// Streaming reads of a buffer much larger than the last-level cache.
class StreamBenchmark {
public:
  /// Allocates \p bytes and first-touches them with the threads that will
  /// read them.
  StreamBenchmark(size_t bytes, int maxThreads);
  /// Read bandwidth in GB/s (1e9 bytes/s) on \p numThreads threads, best of
  /// \p reps passes over the whole buffer.
  double measure(int numThreads, int reps = 5);
  /// Reads the first \p bytes of the buffer (on all threads) to push other
  /// data out of the caches; used for cold-cache timing.
  void flushCaches(size_t bytes);
  size_t size() const { return numFloats * sizeof(float); }

private:
  AlignedBuffer buffer;
  size_t numFloats;
  int maxThreads;
};

} // namespace bench
} // namespace mla

#endif // MLA_BENCH_PEAKS_H
