//===- Check.cpp - one kernel against the double reference ----------------===//
//
// The checks of GPUKernelTest, run from a bundle: a padded batch (a long
// sequence, one of q_len tokens, one ending mid-page, an empty slot and one
// shorter than q_len), shuffled pages, NaN in every cache row no query may
// see (page tails past a sequence's end, rows before a window) and, causal
// with several queries, in each sequence's last row (only its last query sees
// it), the pages wholly before a window set to -1 in the table. Each call is
// checked against the reference with guard zones around out and lse:
//   - the split count the runtime picks, then forced to 1, 3 and 13;
//   - a second call on other buffers with another batch (sequences 1..);
//   - GPU: a call on a created stream, and the call captured into a CUDA
//     graph and replayed twice;
//   - bad arguments get the contract's codes.
// Token indices (--topk): index rows of random cache rows with -1 slots and
// repeats, the valid slot counts topk, 0, about half, 1 and a row of -1
// only; slots past a sequence's count hold junk no kernel may follow, and
// every cache row that no valid slot names is NaN. fp8 rows
// (--cache-scales=row_groups): the cache is the rows' encoding (NaN rows all
// 0xff bytes), the reference reads what they decode to, rounded to bf16 for
// bf16 kernels (which dequantize to the query's type). One fp8 scale
// (--cache-scales=per_tensor): the cache is each value's e4m3 code of
// value / kv_scale (NaN rows 0x7f), the reference reads code * kv_scale
// unrounded (the kernels read the codes exactly and scale in f32).
// f16 kernels (--dtype=f16) take the bf16 paths with f16 values and the
// same tolerances.
// Tolerances: f32 1e-4 on the GPU (the hardware ex2), 2e-5 on the CPU; bf16
// 2.5e-3 + 2^-8 |ref| on the GPU (P rounded to bf16 for P V, out to bf16),
// 1e-3 + 2^-8 (|ref| + 1) on the CPU (the AMX kernel rounds P too; |v| <= 1);
// lse 1e-4 max(1, |ref|).
//
//===----------------------------------------------------------------------===//

#include "Check.h"

#include "mla/Reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

namespace mla::gpucheck {
namespace {

constexpr size_t kGuard = 256;
constexpr uint8_t kGuardByte = 0x7f;

/// The host side of the problem and its reference.
struct Problem {
  /// The lengths of the reference and those the kernel is called with
  /// (the same but for a GPU's sparse problem, below).
  std::vector<int32_t> lens, kernelLens, table, kernelTable;
  /// max_blocks_per_seq (topk with token indices) and the block table's (or
  /// the indices') elements a sequence.
  int64_t batch = 0, maxBlocks = 0, tableRow = 0;
  std::vector<float> q, k, v, sinks;
  std::vector<uint16_t> qBf, kBf, vBf;
  /// fp8 rows: the cache's bytes.
  std::vector<uint8_t> kFP8;
  std::vector<double> refOut, refLse;
  bool lastNaN = false;
  double scale = 1;
};

/// fp8 rows: encodes the cache (rows whose first value is NaN, the poisoned
/// ones, as 0xff bytes) and replaces its values by what the rows decode to.
void encodeCache(const Spec &s, Problem &p) {
  const int64_t w = s.width(), rb = s.fp8RowBytes(), rows = p.k.size() / w;
  p.kFP8.assign(rows * rb, 0xff);
  for (int64_t r = 0; r < rows; ++r) {
    float *row = p.k.data() + r * w;
    if (std::isnan(row[0])) {
      ref::decodeFP8Row(p.kFP8.data() + r * rb, s.dc, s.dr, s.scaleGroup, row);
      continue;
    }
    ref::encodeFP8Row(row, s.dc, s.dr, s.scaleGroup, p.kFP8.data() + r * rb);
    ref::decodeFP8Row(p.kFP8.data() + r * rb, s.dc, s.dr, s.scaleGroup, row);
    // The kernels dequantize to the query's type.
    if (s.bf16)
      for (int64_t d = 0; d < w; ++d)
        row[d] = s.f16 ? ref::roundToF16(row[d]) : ref::roundToBF16(row[d]);
  }
}

/// One fp8 scale: the cache's codes, and its values replaced by code *
/// kv_scale (NaN stays NaN).
void encodeCacheTensor(const Spec &s, Problem &p) {
  p.kFP8.resize(p.k.size());
  for (size_t i = 0; i < p.k.size(); ++i) {
    p.kFP8[i] = ref::floatToFP8E4M3(p.k[i] / s.kvScale);
    p.k[i] = float(double(ref::fp8E4M3ToFloat(p.kFP8[i])) * s.kvScale);
  }
}

void fillValues(const Spec &s, Problem &p, std::mt19937 &rng) {
  std::uniform_real_distribution<float> dist(-1, 1);
  auto fill = [&](std::vector<float> &f, std::vector<uint16_t> &b) {
    b.resize(f.size());
    for (size_t i = 0; i < f.size(); ++i) {
      b[i] = s.f16 ? ref::floatToF16(dist(rng)) : ref::floatToBF16(dist(rng));
      f[i] = s.f16    ? ref::f16ToFloat(b[i])
             : s.bf16 ? ref::bf16ToFloat(b[i])
                      : dist(rng);
    }
  };
  fill(p.q, p.qBf);
  fill(p.k, p.kBf);
  fill(p.v, p.vBf);
  for (int64_t h = 0; h < s.heads; ++h)
    p.sinks.push_back(-2.0f + 5.0f * float(h % 5) / 4.0f);
  p.scale = 1.0 / std::sqrt(double(s.width()));
}

void poisonRow(const Spec &s, Problem &p, size_t row) {
  const int64_t tokenElems = s.tokenElems();
  for (int64_t d = 0; d < tokenElems; ++d) {
    p.k[row * tokenElems + d] = std::numeric_limits<float>::quiet_NaN();
    p.kBf[row * tokenElems + d] = s.f16 ? 0x7e00 : 0x7fc0;
    if (s.kvHeads) {
      p.v[row * tokenElems + d] = std::numeric_limits<float>::quiet_NaN();
      p.vBf[row * tokenElems + d] = s.f16 ? 0x7e00 : 0x7fc0;
    }
  }
}

/// Token indices: the problem described at the top.
Problem makeSparseProblem(const Spec &s) {
  Problem p;
  std::mt19937 rng(77 + s.heads);
  const int64_t ql = s.qLen, topk = s.topk;
  p.lens = {int32_t(topk), 0, int32_t(std::max<int64_t>(1, topk / 2)), 1,
            int32_t(std::min<int64_t>(topk, 5))};
  p.batch = p.lens.size();
  p.maxBlocks = topk;
  p.tableRow = ql * topk;
  const int64_t rows = std::max<int64_t>(8, 3 * topk);
  p.q.resize(p.batch * ql * s.heads * s.width());
  p.k.resize(rows * s.width());
  fillValues(s, p, rng);
  std::uniform_int_distribution<int32_t> pick(0, int32_t(rows - 1)),
      eighth(0, 7);
  std::vector<bool> named(rows, false);
  p.table.resize(p.batch * p.tableRow);
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t i = 0; i < ql; ++i)
      for (int64_t j = 0; j < topk; ++j) {
        int32_t &id = p.table[(b * ql + i) * topk + j];
        if (j >= p.lens[b]) {
          id = j % 2 ? std::numeric_limits<int32_t>::max() : -5;
        } else if (b == 4 || eighth(rng) == 0) {
          id = -1;
        } else {
          // Repeats: a slot may name its neighbour's row.
          id = j > 0 && eighth(rng) == 1 ? p.table[(b * ql + i) * topk + j - 1]
                                         : pick(rng);
          if (id >= 0)
            named[id] = true;
        }
      }
  for (int64_t r = 0; r < rows; ++r)
    if (!named[r])
      poisonRow(s, p, r);
  if (s.fp8Rows())
    encodeCache(s, p);
  if (s.fp8Tensor())
    encodeCacheTensor(s, p);
  p.kernelTable = p.table;
  // The GPU kernels clamp a count above topk (the host cannot read it);
  // the CPU's refuse it (ERR_SEQ_LEN, checked with the bad arguments).
  p.kernelLens = p.lens;
  if (!s.onHost())
    p.kernelLens[0] = int32_t(topk + 7);
  ref::DecodeShape shape{s.heads, s.dc, s.dr, ql, s.blockSize, false};
  shape.sinks = s.sinks ? p.sinks.data() : nullptr;
  p.refOut.resize(p.batch * ql * s.heads * s.dc);
  p.refLse.resize(p.batch * ql * s.heads);
  ref::decodeAttentionSparse(shape, p.q.data(), p.k.data(), p.table.data(),
                             p.lens.data(), p.batch, topk, p.scale,
                             p.refOut.data(), p.refLse.data());
  return p;
}

Problem makeProblem(const Spec &s) {
  if (s.topk)
    return makeSparseProblem(s);
  Problem p;
  std::mt19937 rng(99 + s.heads);
  const int64_t bs = s.blockSize, ql = s.qLen;
  p.lens = {int32_t(3 * bs / 2 + ql), int32_t(ql), int32_t(700 + ql), 0,
            int32_t(2 * bs)};
  if (ql > 1)
    p.lens.push_back(int32_t(ql - 1));
  p.batch = p.lens.size();
  int64_t longest = *std::max_element(p.lens.begin(), p.lens.end());
  p.maxBlocks = (longest + bs - 1) / bs + 1;
  p.tableRow = p.maxBlocks;
  int64_t numBlocks = p.batch * p.maxBlocks;
  p.table.resize(numBlocks);
  std::iota(p.table.begin(), p.table.end(), 0);
  std::shuffle(p.table.begin(), p.table.end(), rng);
  const int64_t tokenElems = s.tokenElems();
  size_t qN = p.batch * ql * s.heads * s.width(),
         kN = numBlocks * bs * tokenElems, vN = s.kvHeads ? kN : 0;
  p.q.resize(qN);
  p.k.resize(kN);
  p.v.resize(vN);
  fillValues(s, p, rng);
  auto poison = [&](size_t row) { poisonRow(s, p, row); };
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t t = 0; t < p.maxBlocks * bs; ++t)
      if (t >= p.lens[b] ||
          t < ref::firstVisiblePosition(p.lens[b], ql, 0, s.window))
        poison(size_t(p.table[b * p.maxBlocks + t / bs]) * bs + t % bs);
  p.lastNaN = s.causal && ql > 1;
  if (p.lastNaN)
    for (int64_t b = 0; b < p.batch; ++b)
      if (p.lens[b] > 0)
        poison(size_t(ref::cacheRowIndex(p.table.data(), p.maxBlocks, bs, b,
                                         p.lens[b] - 1)));
  if (s.fp8Rows())
    encodeCache(s, p);
  if (s.fp8Tensor())
    encodeCacheTensor(s, p);
  p.kernelLens = p.lens;
  p.kernelTable = p.table;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t pg = 0;
         pg < ref::firstVisiblePosition(p.lens[b], ql, 0, s.window) / bs; ++pg)
      p.kernelTable[b * p.maxBlocks + pg] = -1;
  ref::DecodeShape shape{s.heads, s.dc, s.dr, ql, bs, s.causal};
  shape.window = s.window;
  shape.sinks = s.sinks ? p.sinks.data() : nullptr;
  p.refOut.resize(p.batch * ql * s.heads * s.dc);
  p.refLse.resize(p.batch * ql * s.heads);
  if (s.kvHeads)
    ref::decodeAttentionHeads(shape, s.kvHeads, p.q.data(), p.k.data(),
                              p.v.data(), p.table.data(), p.lens.data(),
                              p.batch, p.maxBlocks, p.scale, p.refOut.data(),
                              p.refLse.data());
  else
    ref::decodeAttention(shape, p.q.data(), p.k.data(), p.table.data(),
                         p.lens.data(), p.batch, p.maxBlocks, p.scale,
                         p.refOut.data(), p.refLse.data());
  return p;
}

/// The device buffers of one call: inputs, and out and lse between guards.
struct Buffers {
  Buffer q, k, v, table, lens, sinks, out, lse;
  size_t outBytes = 0, lseBytes = 0;
};

class Checker {
public:
  Checker(const Spec &s, Device &dev, const Kernel &kernel)
      : s(s), dev(dev), kernel(kernel), p(makeProblem(s)), es(s.bf16 ? 2 : 4) {}

  int run();

private:
  /// Buffers for sequences [first, batch) of the problem; false when the
  /// device is out of memory.
  bool upload(Buffers &b, int64_t first);
  CallArgs args(const Buffers &b, int64_t first, void *stream) const;
  /// Compares out and lse of sequences [first, batch) with the reference
  /// and the guard zones; "" or the first difference.
  std::string verify(const Buffers &b, int64_t first);
  /// "" when out and lse hold only the fill byte.
  std::string untouched(const Buffers &b);
  bool resetOutputs(const Buffers &b) {
    return dev.fill(b.out.get(), kGuardByte, b.outBytes + 2 * kGuard) &&
           dev.fill(b.lse.get(), kGuardByte, b.lseBytes + 2 * kGuard);
  }
  void report(const std::string &what, const std::string &error) {
    std::printf("  %-28s %s\n", what.c_str(),
                error.empty() ? "ok" : ("FAIL: " + error).c_str());
    failures += !error.empty();
  }
  /// One call and its verification.
  std::string callAndVerify(const Buffers &b, int64_t first, void *stream);
  void checkStreamAndGraph(const Buffers &b);

  const Spec &s;
  Device &dev;
  const Kernel &kernel;
  Problem p;
  size_t es;
  int failures = 0;
};

bool Checker::upload(Buffers &b, int64_t first) {
  const int64_t n = p.batch - first, ql = s.qLen;
  const size_t qRow = ql * s.heads * s.width();
  b.outBytes = size_t(n) * ql * s.heads * s.dc * es;
  b.lseBytes = size_t(n) * ql * s.heads * 4;
  b.q = Buffer(dev, std::max<size_t>(1, n * qRow * es));
  const bool fp8 = s.fp8Rows() || s.fp8Tensor();
  const size_t kBytes = fp8 ? p.kFP8.size() : p.k.size() * es;
  b.k = Buffer(dev, kBytes);
  b.v = Buffer(dev, std::max<size_t>(1, p.v.size() * es));
  b.table = Buffer(dev, n * p.tableRow * 4);
  b.lens = Buffer(dev, n * 4);
  b.sinks = Buffer(dev, p.sinks.size() * 4);
  b.out = Buffer(dev, b.outBytes + 2 * kGuard);
  b.lse = Buffer(dev, b.lseBytes + 2 * kGuard);
  for (const Buffer *x :
       {&b.q, &b.k, &b.v, &b.table, &b.lens, &b.sinks, &b.out, &b.lse})
    if (!x->get())
      return false;
  auto data = [&](const std::vector<float> &f,
                  const std::vector<uint16_t> &bf) -> const void * {
    return s.bf16 ? (const void *)bf.data() : (const void *)f.data();
  };
  bool ok =
      dev.upload(b.q.get(), (const char *)data(p.q, p.qBf) + first * qRow * es,
                 n * qRow * es) &&
      dev.upload(b.k.get(),
                 fp8 ? (const void *)p.kFP8.data() : data(p.k, p.kBf),
                 kBytes) &&
      (p.v.empty() ||
       dev.upload(b.v.get(), data(p.v, p.vBf), p.v.size() * es)) &&
      dev.upload(b.table.get(), p.kernelTable.data() + first * p.tableRow,
                 n * p.tableRow * 4) &&
      dev.upload(b.lens.get(), p.kernelLens.data() + first, n * 4) &&
      dev.upload(b.sinks.get(), p.sinks.data(), p.sinks.size() * 4);
  return ok && resetOutputs(b);
}

CallArgs Checker::args(const Buffers &b, int64_t first, void *stream) const {
  CallArgs a;
  a.q = b.q.get();
  a.kCache = b.k.get();
  a.vCache = s.kvHeads ? b.v.get() : nullptr;
  a.blockTable = static_cast<const int32_t *>(b.table.get());
  a.seqLens = static_cast<const int32_t *>(b.lens.get());
  a.sinks = s.sinks ? static_cast<const float *>(b.sinks.get()) : nullptr;
  a.out = b.out.bytes() + kGuard;
  a.lse = reinterpret_cast<float *>(b.lse.bytes() + kGuard);
  a.batch = int32_t(p.batch - first);
  a.maxBlocks = int32_t(p.maxBlocks);
  a.scale = float(p.scale);
  a.kvScale = s.fp8Tensor() ? s.kvScale : 1.0f;
  a.stream = stream;
  return a;
}

std::string Checker::verify(const Buffers &b, int64_t first) {
  std::vector<uint8_t> out(b.outBytes + 2 * kGuard),
      lse(b.lseBytes + 2 * kGuard);
  if (!dev.download(out.data(), b.out.get(), out.size()) ||
      !dev.download(lse.data(), b.lse.get(), lse.size()))
    return "cannot read the outputs back";
  for (size_t i = 0; i < kGuard; ++i) {
    if (out[i] != kGuardByte || out[out.size() - 1 - i] != kGuardByte)
      return "write outside out (guard zone)";
    if (lse[i] != kGuardByte || lse[lse.size() - 1 - i] != kGuardByte)
      return "write outside lse (guard zone)";
  }
  const int64_t rowElems = s.qLen * s.heads * s.dc;
  const size_t offset = size_t(first) * rowElems, n = b.outBytes / es;
  char msg[256];
  for (size_t i = 0; i < n; ++i) {
    const uint8_t *at = out.data() + kGuard + i * es;
    double got;
    if (s.bf16) {
      uint16_t bits;
      std::memcpy(&bits, at, 2);
      got = s.f16 ? ref::f16ToFloat(bits) : ref::bf16ToFloat(bits);
    } else {
      float f;
      std::memcpy(&f, at, 4);
      got = f;
    }
    double want = p.refOut[offset + i];
    int64_t seq = first + int64_t(i) / rowElems,
            query = (int64_t(i) / (s.heads * s.dc)) % s.qLen;
    if (p.lastNaN && query == s.qLen - 1 && p.lens[seq] > 0) {
      if (!std::isnan(got)) {
        std::snprintf(msg, sizeof msg,
                      "out[%zu] = %g, the query that sees the NaN row", i, got);
        return msg;
      }
      continue;
    }
    double tol =
        s.onHost() ? (s.bf16 ? 1e-3 + std::ldexp(std::abs(want) + 1, -8) : 2e-5)
                   : (s.bf16 ? 2.5e-3 + std::ldexp(std::abs(want), -8) : 1e-4);
    if (!(std::abs(got - want) <= tol)) {
      std::snprintf(msg, sizeof msg,
                    "out[%zu] (sequence %lld) = %.6g, reference %.6g, "
                    "tolerance %.2g",
                    i, (long long)seq, got, want, tol);
      return msg;
    }
  }
  const size_t lseOffset = size_t(first) * s.qLen * s.heads;
  for (size_t i = 0; i < b.lseBytes / 4; ++i) {
    float got;
    std::memcpy(&got, lse.data() + kGuard + 4 * i, 4);
    double want = p.refLse[lseOffset + i];
    if (std::isnan(want))
      continue; // the rows that see the NaN (their out is checked)
    bool ok = std::isinf(want) ? std::isinf(got) && got < 0
                               : std::abs(got - want) <=
                                     1e-4 * std::max(1.0, std::abs(want));
    if (!ok) {
      std::snprintf(msg, sizeof msg, "lse[%zu] = %.7g, reference %.7g", i,
                    double(got), want);
      return msg;
    }
  }
  return "";
}

std::string Checker::untouched(const Buffers &b) {
  std::vector<uint8_t> out(b.outBytes + 2 * kGuard),
      lse(b.lseBytes + 2 * kGuard);
  if (!dev.download(out.data(), b.out.get(), out.size()) ||
      !dev.download(lse.data(), b.lse.get(), lse.size()))
    return "cannot read the outputs back";
  for (const std::vector<uint8_t> *v : {&out, &lse})
    if (std::any_of(v->begin(), v->end(),
                    [](uint8_t x) { return x != kGuardByte; }))
      return v == &out ? "a rejected call wrote out"
                       : "a rejected call wrote lse";
  return "";
}

std::string Checker::callAndVerify(const Buffers &b, int64_t first,
                                   void *stream) {
  if (!resetOutputs(b))
    return "cannot reset the outputs";
  if (int32_t code = kernel(args(b, first, stream)))
    return "returned " + std::to_string(code);
  if (std::string e = dev.sync(stream); !e.empty())
    return "synchronize: " + e;
  return verify(b, first);
}

void Checker::checkStreamAndGraph(const Buffers &b) {
  const CudaDriver &cu = *dev.cuda();
  void *stream = nullptr;
  const unsigned kNonBlocking = 1; // CU_STREAM_NON_BLOCKING
  if (int r = cu.streamCreate(&stream, kNonBlocking)) {
    report("another stream", "cuStreamCreate: " + cu.errorName(r));
    return;
  }
  report("another stream", callAndVerify(b, 0, stream));
  // Captured as torch.cuda.graphs captures (global mode), after a first
  // call on the stream has loaded the module and sized the scratch.
  std::string error;
  void *graph = nullptr, *exec = nullptr;
  const int kGlobal = 0; // CU_STREAM_CAPTURE_MODE_GLOBAL
  if (!resetOutputs(b))
    error = "cannot reset the outputs";
  else if (int r = cu.streamBeginCapture(stream, kGlobal))
    error = "cuStreamBeginCapture: " + cu.errorName(r);
  else {
    int32_t code = kernel(args(b, 0, stream));
    int ended = cu.streamEndCapture(stream, &graph);
    if (code)
      error = "returned " + std::to_string(code) + " while capturing";
    else if (ended)
      error = "cuStreamEndCapture: " + cu.errorName(ended);
    else if (int r2 = cu.graphInstantiate(&exec, graph, 0))
      error = "cuGraphInstantiate: " + cu.errorName(r2);
  }
  for (int replay = 0; replay < 2 && error.empty(); ++replay) {
    if (!resetOutputs(b))
      error = "cannot reset the outputs";
    else if (int r = cu.graphLaunch(exec, stream))
      error = "cuGraphLaunch: " + cu.errorName(r);
    else if (std::string e = dev.sync(stream); !e.empty())
      error = "synchronize: " + e;
    else if (std::string e = verify(b, 0); !e.empty())
      error = "replay " + std::to_string(replay + 1) + ": " + e;
  }
  report("CUDA graph capture, replays", error);
  if (exec)
    cu.graphExecDestroy(exec);
  if (graph)
    cu.graphDestroy(graph);
  cu.streamDestroy(stream);
}

int Checker::run() {
  Buffers b;
  if (!upload(b, 0)) {
    report("buffers", "out of device memory");
    return failures;
  }
  // Bad arguments: the contract's codes, and nothing written.
  {
    std::ostringstream bad;
    CallArgs a = args(b, 0, nullptr);
    auto expect = [&](const char *what, CallArgs call, int32_t want) {
      if (int32_t got = kernel(call); got != want)
        bad << what << " returned " << got << " (want " << want << "); ";
    };
    CallArgs nullQ = a;
    nullQ.q = nullptr;
    expect("null q", nullQ, 1);
    CallArgs negBatch = a;
    negBatch.batch = -1;
    expect("batch -1", negBatch, 2);
    CallArgs negBlocks = a;
    negBlocks.maxBlocks = -1;
    expect("max_blocks_per_seq -1", negBlocks, 3);
    if (s.topk) {
      CallArgs otherTopK = a;
      otherTopK.maxBlocks = int32_t(s.topk + 1);
      expect("max_blocks_per_seq topk + 1", otherTopK, 3);
      // A count above topk in host memory is refused (ERR_SEQ_LEN).
      if (s.onHost()) {
        std::vector<int32_t> lens = p.lens;
        lens[0] = int32_t(s.topk + 1);
        CallArgs tooMany = a;
        tooMany.seqLens = lens.data();
        expect("seq_len topk + 1", tooMany, 4);
      }
    }
    CallArgs nanScale = a;
    nanScale.scale = std::numeric_limits<float>::quiet_NaN();
    expect("NaN scale", nanScale, 6);
    if (s.fp8Tensor()) {
      CallArgs zeroKv = a;
      zeroKv.kvScale = 0;
      expect("kv_scale 0", zeroKv, 6);
      CallArgs infKv = a;
      infKv.kvScale = std::numeric_limits<float>::infinity();
      expect("kv_scale inf", infKv, 6);
    }
    if (s.tensorCores()) {
      CallArgs misaligned = a;
      misaligned.q = b.q.bytes() + 2;
      expect("q 2 bytes off", misaligned, 10);
    }
    if (s.sinks) {
      CallArgs noSinks = a;
      noSinks.sinks = nullptr;
      expect("null sinks", noSinks, 1);
    }
    std::string e = bad.str();
    if (e.empty())
      e = dev.sync(nullptr);
    if (e.empty())
      e = untouched(b);
    report("bad arguments", e);
  }
  const std::string env = s.splitsEnv();
  for (const char *splits : {"", "1", "3", "13"}) {
    if (*splits)
      setenv(env.c_str(), splits, 1);
    else
      unsetenv(env.c_str());
    report(*splits ? "splits " + std::string(splits) : "splits (runtime's)",
           callAndVerify(b, 0, nullptr));
  }
  unsetenv(env.c_str());
  {
    Buffers other;
    report("other buffers, batch - 1", upload(other, 1)
                                           ? callAndVerify(other, 1, nullptr)
                                           : "out of device memory");
  }
  if (dev.cuda())
    checkStreamAndGraph(b);
  return failures;
}

} // namespace

int runCheck(const std::string &bundle, const Spec &spec, Device &dev) {
  Kernel kernel;
  if (std::string e = kernel.load(bundle, spec); !e.empty()) {
    std::printf("  FAIL: %s\n", e.c_str());
    return 1;
  }
  Checker checker(spec, dev, kernel);
  return checker.run();
}

} // namespace mla::gpucheck
