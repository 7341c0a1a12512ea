//===- Peaks.h - Machine peak microbenchmarks for mla-bench -----*- C++ -*-===//
//
// The machine's own ceilings, measured in the same process as the kernels so
// that every reported rate has a ratio against something real: f32 FMA and
// bf16 dot-product throughput and streaming-read bandwidth, on any number of
// OpenMP threads.
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

/// bf16 dot-product throughput in GFLOP/s (vdpbf16ps on 512-bit vectors:
/// 64 FLOPs each, products of bf16 pairs summed into f32 lanes), the roof of
/// the vector kernels' bf16 tile math, on \p numThreads threads, best of
/// \p reps runs; 0 where the CPU lacks AVX512-BF16.
double measureBF16DotPeak(int numThreads, int reps = 5);

/// AMX tile throughput in GFLOP/s (tdpbf16ps: 16 x 16 x 32 products, 16384
/// FLOPs each) with operands and accumulators in tile registers: the roof of
/// the AMX kernel's tile math, on \p numThreads threads, best of \p reps
/// runs; 0 where the CPU lacks AMX-BF16 or Linux does not grant its state.
double measureAMXPeak(int numThreads, int reps = 5);

/// Streaming reads of a buffer much larger than the last-level cache.
class StreamBenchmark {
public:
  /// Allocates \p bytes and first-touches them with the threads that will
  /// read them.
  StreamBenchmark(size_t bytes, int maxThreads);
  /// Read bandwidth in GB/s (1e9 bytes/s) on \p numThreads threads, best of
  /// \p reps passes over the whole buffer.
  double measure(int numThreads, int reps = 5);
  /// f32 FMA throughput (GFLOP/s) while streaming the buffer at 15 FLOP per
  /// byte, the intensity of the 16-head f32 kernel: what a kernel that
  /// overlaps its DRAM reads with its FMAs would reach (`plain`), and the
  /// same when 8 of the 30 FMAs per streamed vector take an operand from a
  /// 16 KiB array (L1, `l1Operands`) or a 256 KiB one (L2, `l2Operands`), as
  /// a kernel whose working set does or does not fit in L1 does; the L2 case
  /// again with the stream prefetched 16 KiB ahead (`l2OperandsPrefetched`);
  /// and, as the control, the L2 case with the streamed data in L2 too
  /// (`l2OperandsInCache`).
  struct Overlap {
    double plain = 0.0, l1Operands = 0.0, l2Operands = 0.0,
           l2OperandsPrefetched = 0.0, l2OperandsInCache = 0.0;
  };
  Overlap measureOverlap(int numThreads, int reps = 3);
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
