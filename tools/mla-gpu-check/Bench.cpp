//===- Bench.cpp - FlashMLA's benchmark grid on one kernel ----------------===//
//
// A bench entry is one kernel (heads, q_len) timed over batches and sequence
// lengths, each with fixed lengths and with FlashMLA's variable lengths
// (normal around the mean with half its deviation, at least q_len). Counted
// as FlashMLA's benchmark counts them (tests/test_flash_mla.py): FLOPs
// 2 q_len sum(len) heads (576 + 512), bytes (sum(len) 576 + batch q_len
// heads (576 + 512)) 2. Each row is first checked against the double
// reference on its first sequence (bf16 within 5e-2), then timed (CUDA
// events, median of 20), and set against the copy bandwidth and PyTorch's
// bf16 matmul throughput measured in the same run. Where python3 imports
// torch with CUDA, torch_mla.py runs PyTorch's version and the kernel on the
// same tensors and stream (fixed lengths); the ratio is PyTorch's time over
// the kernel's.
//
// Token indices (FlashMLA's sparse decode, DeepSeek-V3.2's): each of the
// batch's sequences holds --bench-seq-len cached tokens, and each query
// token's topk slots name random rows of its own sequence. Counted as the
// rows actually gathered: FLOPs 2 q_len topk heads (576 + 512) a sequence,
// bytes batch q_len (topk row_bytes + heads (576 + 512) 2), row_bytes 1152
// in bf16, 656 for fp8 rows, 576 for e4m3 codes with one scale.
//
//===----------------------------------------------------------------------===//

#include "Check.h"

#include "mla/Reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>

namespace mla::gpucheck {
namespace {

/// FlashMLA's published H800 SXM5 figures (README: 3000 GB/s memory-bound,
/// 660 TFLOP/s compute-bound), scaled to the H200 by bandwidth (4.8 / 3.35
/// TB/s) and by measured bf16 matmul throughput (790 / 989 TFLOP/s).
constexpr double kFlashMLABandwidth = 3000e9 * 4.8 / 3.35;
constexpr double kFlashMLAFlops = 660e12 * 790.0 / 989.0;

uint64_t next(uint64_t &s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

/// Device-to-device copy bandwidth (bytes read + written per second).
double copyBandwidth(const CudaDriver &cu) {
  size_t bytes = size_t(1) << 30;
  CudaDriver::DevPtr a, b;
  if (cu.memAlloc(&a, bytes))
    return 0;
  if (cu.memAlloc(&b, bytes)) {
    cu.memFree(a);
    return 0;
  }
  void *start, *stop;
  cu.eventCreate(&start, 0);
  cu.eventCreate(&stop, 0);
  cu.memcpyDtoD(b, a, bytes);
  cu.eventRecord(start, nullptr);
  const int reps = 10;
  for (int i = 0; i < reps; ++i)
    cu.memcpyDtoD(b, a, bytes);
  cu.eventRecord(stop, nullptr);
  cu.eventSynchronize(stop);
  float ms = 0;
  cu.eventElapsedTime(&ms, start, stop);
  cu.memFree(a);
  cu.memFree(b);
  return ms > 0 ? 2.0 * bytes * reps / (ms * 1e-3) : 0;
}

struct TorchRun {
  double torchMs = -1, kernelMs = -1, err = -1;
};
TorchRun runTorch(const std::string &script, const std::string &lib,
                  const Spec &s, int64_t b, int64_t l) {
  TorchRun run;
  if (script.empty())
    return run;
  std::string cmd = "python3 " + script + " --batch " + std::to_string(b) +
                    " --seq-len " + std::to_string(l) + " --heads " +
                    std::to_string(s.heads) + " --q-len " +
                    std::to_string(s.qLen) + " --kernel-lib " + lib +
                    " --kernel-name " + s.name + " 2>/dev/null";
  std::fflush(stdout);
  if (std::FILE *p = popen(cmd.c_str(), "r")) {
    if (std::fscanf(p, "%lf %lf %lf", &run.torchMs, &run.kernelMs, &run.err) !=
        3)
      run = TorchRun();
    pclose(p);
  }
  return run;
}

/// The device buffers of one bench row (16-bit q and out), allocated.
struct RowBuffers {
  Buffer q, kv, table, lens, out, lse;
  bool ok() const {
    return q.get() && kv.get() && table.get() && lens.get() && out.get() &&
           lse.get();
  }
  /// The call on these buffers: `maxBlocks` is max_blocks_per_seq (topk
  /// with token indices).
  CallArgs call(int64_t batch, int64_t maxBlocks, int64_t width) const {
    CallArgs a;
    a.q = q.get();
    a.kCache = kv.get();
    a.blockTable = static_cast<const int32_t *>(table.get());
    a.seqLens = static_cast<const int32_t *>(lens.get());
    a.out = out.get();
    a.lse = static_cast<float *>(lse.get());
    a.batch = int32_t(batch);
    a.maxBlocks = int32_t(maxBlocks);
    a.scale = float(1.0 / std::sqrt(double(width)));
    return a;
  }
  /// The largest |out - ref| over ref's values (bf16 out).
  double maxError(Device &dev, const std::vector<double> &ref) const {
    std::vector<uint16_t> got(ref.size());
    if (!dev.download(got.data(), out.get(), got.size() * 2))
      return INFINITY;
    double err = 0;
    for (size_t i = 0; i < ref.size(); ++i)
      err = std::max(err, std::abs(ref::bf16ToFloat(got[i]) - ref[i]));
    return err;
  }
};

/// Median of 20 timed calls, in ms.
double timeCalls(const CudaDriver &cu, const Kernel &kernel,
                 const CallArgs &a) {
  void *start, *stop;
  cu.eventCreate(&start, 0);
  cu.eventCreate(&stop, 0);
  std::vector<double> times;
  for (int r = 0; r < 20; ++r) {
    cu.eventRecord(start, nullptr);
    kernel(a);
    cu.eventRecord(stop, nullptr);
    cu.eventSynchronize(stop);
    float t = 0;
    cu.eventElapsedTime(&t, start, stop);
    times.push_back(t);
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

/// The sparse rows of the bench (see the top).
int runSparseBench(const Spec &s, Device &dev,
                   const Kernel &kernel, double matmulPeak) {
  const CudaDriver &cu = *dev.cuda();
  const double copyBW = copyBandwidth(cu);
  const int64_t width = s.width(), h = s.heads, q = s.qLen, topk = s.topk;
  const int64_t rowBytes = s.fp8Rows()     ? s.fp8RowBytes()
                           : s.fp8Tensor() ? width
                                           : 2 * width;
  // 4096 distinct random rows (bytes as the cache holds them, and their
  // values), tiled over the cache: row r holds pattern r % 4096.
  const int64_t patterns = 4096;
  std::vector<uint8_t> rowData(patterns * rowBytes);
  std::vector<float> rowVals(patterns * width);
  uint64_t seed = 0x9e3779b97f4a7c15ull + h;
  auto uniform = [&] { return float(next(seed) >> 40) / float(1 << 24) * 2 - 1; };
  for (int64_t r = 0; r < patterns; ++r) {
    float *v = rowVals.data() + r * width;
    for (int64_t d = 0; d < width; ++d)
      v[d] = ref::roundToBF16(uniform());
    uint8_t *bytes = rowData.data() + r * rowBytes;
    if (s.fp8Rows()) {
      ref::encodeFP8Row(v, s.dc, s.dr, s.scaleGroup, bytes);
      ref::decodeFP8Row(bytes, s.dc, s.dr, s.scaleGroup, v);
      for (int64_t d = 0; d < width; ++d)
        v[d] = ref::roundToBF16(v[d]);
    } else if (s.fp8Tensor()) {
      for (int64_t d = 0; d < width; ++d) {
        bytes[d] = ref::floatToFP8E4M3(v[d] / s.kvScale);
        v[d] = float(double(ref::fp8E4M3ToFloat(bytes[d])) * s.kvScale);
      }
    } else {
      for (int64_t d = 0; d < width; ++d) {
        uint16_t bits = ref::floatToBF16(v[d]);
        std::memcpy(bytes + 2 * d, &bits, 2);
      }
    }
  }
  int failures = 0;
  for (int64_t b : s.benchBatch)
    for (int64_t context : s.benchSeqLen) {
      std::printf("  batch %4lld, %6lld cached, top %lld: ", (long long)b,
                  (long long)context, (long long)topk);
      const size_t rows = size_t(b) * context, qN = size_t(b) * q * h * width;
      std::mt19937 rng(uint32_t(b * 131 + context));
      std::uniform_int_distribution<int64_t> pick(0, context - 1);
      std::vector<int32_t> indices(size_t(b) * q * topk), lens(b, int32_t(topk));
      for (size_t i = 0; i < indices.size(); ++i)
        indices[i] = int32_t(int64_t(i / (q * topk)) * context + pick(rng));
      std::vector<uint16_t> qBits(qN);
      for (uint16_t &x : qBits)
        x = ref::floatToBF16(uniform());
      RowBuffers d{Buffer(dev, qN * 2),
                   Buffer(dev, rows * rowBytes),
                   Buffer(dev, indices.size() * 4),
                   Buffer(dev, lens.size() * 4),
                   Buffer(dev, size_t(b) * q * h * s.dc * 2),
                   Buffer(dev, size_t(b) * q * h * 4)};
      bool ok = d.ok();
      for (size_t at = 0; ok && at < rows; at += patterns)
        ok = dev.upload(d.kv.bytes() + at * rowBytes, rowData.data(),
                        std::min<size_t>(patterns, rows - at) * rowBytes);
      ok = ok && dev.upload(d.q.get(), qBits.data(), qN * 2) &&
           dev.upload(d.table.get(), indices.data(), indices.size() * 4) &&
           dev.upload(d.lens.get(), lens.data(), lens.size() * 4);
      if (!ok) {
        std::printf("FAIL: out of device memory\n");
        ++failures;
        continue;
      }
      CallArgs a = d.call(b, topk, width);
      if (s.fp8Tensor())
        a.kvScale = s.kvScale;
      // The first sequence against the reference: its rows are patterns.
      double err = INFINITY;
      if (kernel(a) == 0 && dev.sync(nullptr).empty()) {
        std::vector<float> qf(size_t(q) * h * width);
        for (size_t i = 0; i < qf.size(); ++i)
          qf[i] = ref::bf16ToFloat(qBits[i]);
        std::vector<int32_t> first(indices.begin(), indices.begin() + q * topk);
        for (int32_t &id : first)
          id %= int32_t(patterns);
        ref::DecodeShape shape{h, s.dc, s.dr, q, s.blockSize, false};
        std::vector<double> ro(size_t(q) * h * s.dc), rl(size_t(h) * q);
        ref::decodeAttentionSparse(shape, qf.data(), rowVals.data(),
                                   first.data(), lens.data(), 1, topk,
                                   a.scale, ro.data(), rl.data());
        err = d.maxError(dev, ro);
      }
      if (!(err <= 5e-2)) {
        std::printf("FAIL: max |err| %.2g vs the double reference\n", err);
        ++failures;
        continue;
      }
      double ms = timeCalls(cu, kernel, a);
      double flops = 2.0 * b * q * topk * h * (width + s.dc);
      double bytes = double(b) * q * (double(topk) * rowBytes +
                                      double(h) * (width + s.dc) * 2);
      double tf = flops / (ms * 1e-3), bw = bytes / (ms * 1e-3);
      std::printf("%8.3f ms %7.1f TFLOP/s", ms, tf / 1e12);
      if (matmulPeak > 0)
        std::printf(" (%5.1f%% of matmul)", 100 * tf / matmulPeak);
      std::printf(" %6.0f GB/s of rows gathered (%5.1f%% of copy), err %.1e\n",
                  bw / 1e9, copyBW > 0 ? 100 * bw / copyBW : 0.0, err);
    }
  std::printf("  device-to-device copy: %.0f GB/s\n", copyBW / 1e9);
  return failures;
}

} // namespace

int runBench(const std::string &bundle, const Spec &s, Device &dev,
             const std::string &torchScript, double matmulPeak) {
  const CudaDriver *cu = dev.cuda();
  if (!cu || !s.bf16 || s.f16 || s.dc != 512 || s.dr != 64) {
    std::printf("  FAIL: the bench takes bf16 512/64 GPU kernels\n");
    return 1;
  }
  Kernel kernel;
  if (std::string e = kernel.load(bundle, s); !e.empty()) {
    std::printf("  FAIL: %s\n", e.c_str());
    return 1;
  }
  if (s.topk)
    return runSparseBench(s, dev, kernel, matmulPeak);
  const std::string lib =
      bundle + "/kernels/" + s.name + "/lib" + s.name + ".so";
  const double copyBW = copyBandwidth(*cu);
  const int64_t width = s.width(), bs = s.blockSize, h = s.heads, q = s.qLen;
  // The cache is tiled with one chunk of random values (filling gigabytes
  // on the host would take longer than the run); element e holds
  // chunk[e % chunk.size()], and q's element i chunk[kQOffset + i % qChunk].
  std::vector<uint16_t> chunk(size_t(1) << 25);
  const size_t kQOffset = 12345, qChunk = chunk.size() - kQOffset;
  uint64_t seed = 0x9e3779b97f4a7c15ull + h;
  for (uint16_t &x : chunk)
    x = ref::floatToBF16(float(next(seed) >> 40) / float(1 << 24) * 2 - 1);
  int failures = 0;
  for (int64_t b : s.benchBatch)
    for (int64_t mean : s.benchSeqLen)
      for (bool varlen : {false, true}) {
        std::vector<int32_t> lens(b, int32_t(mean));
        std::mt19937 rng(uint32_t(b * 131 + mean));
        if (varlen) {
          std::normal_distribution<double> dist(double(mean), mean / 2.0);
          for (int32_t &l : lens)
            l = int32_t(std::clamp<double>(dist(rng), double(q), 4.0 * mean));
        }
        int64_t longest = *std::max_element(lens.begin(), lens.end());
        int64_t total = std::accumulate(lens.begin(), lens.end(), int64_t(0));
        int64_t pages = (longest + bs - 1) / bs;
        std::vector<int32_t> table(b * pages);
        std::iota(table.begin(), table.end(), 0);
        std::shuffle(table.begin(), table.end(), rng);
        const size_t qN = size_t(b) * q * h * width,
                     kvN = size_t(b) * pages * bs * width,
                     outN = size_t(b) * q * h * s.dc, lseN = size_t(b) * q * h;
        RowBuffers d{Buffer(dev, qN * 2),           Buffer(dev, kvN * 2),
                     Buffer(dev, table.size() * 4), Buffer(dev, lens.size() * 4),
                     Buffer(dev, outN * 2),         Buffer(dev, lseN * 4)};
        bool ok = d.ok();
        for (size_t at = 0; ok && at < kvN; at += chunk.size())
          ok = dev.upload(d.kv.bytes() + 2 * at, chunk.data(),
                          2 * std::min(chunk.size(), kvN - at));
        for (size_t at = 0; ok && at < qN; at += qChunk)
          ok = dev.upload(d.q.bytes() + 2 * at, chunk.data() + kQOffset,
                          2 * std::min(qChunk, qN - at));
        ok = ok && dev.upload(d.table.get(), table.data(), table.size() * 4) &&
             dev.upload(d.lens.get(), lens.data(), lens.size() * 4);
        std::printf("  batch %4lld, seq_len %5lld%s: ", (long long)b,
                    (long long)mean, varlen ? " (variable)" : "           ");
        if (!ok) {
          std::printf("FAIL: out of device memory\n");
          ++failures;
          continue;
        }
        CallArgs a = d.call(b, pages, width);
        // The first sequence against the reference, its pages compacted.
        double err = INFINITY;
        if (kernel(a) == 0 && dev.sync(nullptr).empty()) {
          int64_t seqPages = (lens[0] + bs - 1) / bs;
          std::vector<float> qf(size_t(q) * h * width),
              kvf(size_t(std::max<int64_t>(seqPages, 1)) * bs * width);
          for (size_t i = 0; i < qf.size(); ++i)
            qf[i] = ref::bf16ToFloat(chunk[kQOffset + i % qChunk]);
          const size_t pageElems = size_t(bs) * width;
          for (int64_t p = 0; p < seqPages; ++p)
            for (size_t e = 0; e < pageElems; ++e)
              kvf[p * pageElems + e] = ref::bf16ToFloat(
                  chunk[(size_t(table[p]) * pageElems + e) % chunk.size()]);
          std::vector<int32_t> identity(std::max<int64_t>(seqPages, 1));
          std::iota(identity.begin(), identity.end(), 0);
          ref::DecodeShape shape{h, s.dc, s.dr, q, bs, true};
          std::vector<double> ro(size_t(q) * h * s.dc), rl(size_t(h) * q);
          ref::decodeAttention(shape, qf.data(), kvf.data(), identity.data(),
                               lens.data(), 1, identity.size(),
                               1.0 / std::sqrt(double(width)), ro.data(),
                               rl.data());
          err = d.maxError(dev, ro);
        }
        if (!(err <= 5e-2)) {
          std::printf("FAIL: max |err| %.2g vs the double reference\n", err);
          ++failures;
          continue;
        }
        double ms = timeCalls(*cu, kernel, a);
        double flops = 2.0 * q * double(total) * h * (width + s.dc);
        double bytes =
            (double(total) * width + double(b) * q * h * (width + s.dc)) * 2;
        double tf = flops / (ms * 1e-3), bw = bytes / (ms * 1e-3);
        // Bound by whichever of FlashMLA's figures the row would reach first.
        bool memoryBound = flops / bytes < kFlashMLAFlops / kFlashMLABandwidth;
        double vsFlash =
            memoryBound ? bw / kFlashMLABandwidth : tf / kFlashMLAFlops;
        std::printf("%8.3f ms %7.1f TFLOP/s", ms, tf / 1e12);
        if (matmulPeak > 0)
          std::printf(" (%5.1f%% of matmul)", 100 * tf / matmulPeak);
        std::printf(" %6.0f GB/s (%5.1f%% of copy) %s %.2fx FlashMLA-scaled, "
                    "err %.1e",
                    bw / 1e9, copyBW > 0 ? 100 * bw / copyBW : 0.0,
                    memoryBound ? "memory-bound " : "compute-bound", vsFlash,
                    err);
        if (!varlen) {
          TorchRun t = runTorch(torchScript, lib, s, b, mean);
          if (t.torchMs > 0 && t.kernelMs > 0 && t.err >= 0 && t.err < 5e-2)
            std::printf(", %.2fx PyTorch", t.torchMs / t.kernelMs);
          else if (t.torchMs > 0)
            std::printf(", differs from PyTorch by %.1e", t.err);
        }
        std::printf("\n");
      }
  std::printf("  device-to-device copy: %.0f GB/s\n", copyBW / 1e9);
  return failures;
}

} // namespace mla::gpucheck
