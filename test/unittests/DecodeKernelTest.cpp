//===- DecodeKernelTest.cpp - generated CPU kernels vs the reference -----===//
//
// Builds decode kernels with mla-codegen over a grid of configurations and
// compares them with the double-precision reference of the kernel contract,
// on batches with variable lengths (ends mid-page, exactly q_len, empty when
// not causal), shuffled pages, 1 and several KV splits. Also checks the
// contract's error codes, that nothing is written outside out and lse, and,
// under guard pages, that nothing is read or written outside any buffer.
// Sparse kernels (--topk) get index rows with invalid slots (-1), repeated
// rows, query rows without a token, and garbage past each sequence's valid
// slots, over a cache whose rows no valid slot names hold NaN. fp8 caches
// (--cache-scales=row_groups) hold the batch's rows quantized
// (mla::ref::encodeFP8Row), and the reference reads them dequantized; so do
// caches of e4m3 codes with one scale (--cache-scales=per_tensor), whose
// values are code * kv_scale in double.
//
// Tolerances (outputs are convex combinations of values in [-1, 1]):
//   f32:  |out - ref| <= 2e-5,  |lse - ref| <= 2e-5 * max(1, |ref|)
//   bf16: |out - ref| <= 1e-3 + 2^-8 |ref| (out is rounded to bf16), lse 1e-4
//   bf16 on AMX (MLA_CPU_AMX not 0, on a host with AMX-BF16) and the vector
//     kernels' P V in bf16 dot products ("pv_dot" in NAME.json: AVX512-BF16,
//     8 rows a group or more): P is rounded to bf16 for P V, each p_j by at
//     most 2^-8 p_j, so the output moves by at most
//     2^-8 sum_j p_j |v_j| / l <= 2^-8 max|v| = 2^-8 here: within
//     1e-3 + 2^-8 (|ref| + 1).
// Every run is made with MLA_CPU_AMX=0 (the vector kernels) and with the
// entry's choice (AMX where the library and host have it).
//
//===----------------------------------------------------------------------===//

#include "GuardedBuffer.h"
#include "mla/Reference/Reference.h"
#include "mla/Runtime/KernelABI.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using KernelFn = int32_t (*)(const void *, const void *, const int32_t *,
                             const int32_t *, void *, float *, int32_t,
                             int32_t, float, void *);
/// NAME_checked: NAME with the cache's page count after kv_cache.
using CheckedKernelFn = int32_t (*)(const void *, const void *, int32_t,
                                    const int32_t *, const int32_t *, void *,
                                    float *, int32_t, int32_t, float, void *);
/// A cache with one fp8 scale: kv_scale after softmax_scale.
using mla_abi::ScaledCheckedKernelFn;
using mla_abi::ScaledKernelFn;
using mla_abi::ScaledSinksKernelFn;

struct Config {
  int64_t dc, dr, heads, qLen, blockSize;
  bool bf16, causal;
  /// The CPU to generate for (mla-codegen --mcpu); empty: this host's.
  std::string mcpu = "";
  /// Tuning overrides (--tile-tokens, --tile-blocks) and a name for them.
  std::string tuning = "", tuningTag = "";
  /// A sliding window (mla-codegen --window; 0: none).
  int64_t window = 0;
  /// Per-head sink logits (mla-codegen --sinks).
  bool sinks = false;
  /// Head caches of this many KV heads (GQA/MQA/MHA; mla-codegen
  /// --num-kv-heads, dc the head dim, dr 0); 0: a latent cache.
  int64_t kvHeads = 0;
  /// Token indices of this many slots (mla-codegen --topk); 0: pages.
  int64_t topk = 0;
  /// fp8 rows with a scale a group of this many values (mla-codegen
  /// --cache-scales=row_groups --scale-group); 0: the query's type.
  int64_t fp8Group = 0;
  /// e4m3 codes with this one scale (mla-codegen --cache-scales=per_tensor;
  /// calls pass it as kv_scale); 0: the query's type.
  float kvScale = 0;
  bool fp8() const { return fp8Group || kvScale; }
  std::string name() const {
    std::string cpu = mcpu;
    std::replace(cpu.begin(), cpu.end(), '-', '_');
    return "dc" + std::to_string(dc) + "_dr" + std::to_string(dr) + "_h" +
           std::to_string(heads) + "_q" + std::to_string(qLen) + "_bs" +
           std::to_string(blockSize) + (bf16 ? "_bf16" : "_f32") +
           (causal ? "" : "_noncausal") +
           (window ? "_w" + std::to_string(window) : "") +
           (sinks ? "_sinks" : "") +
           (kvHeads ? "_kv" + std::to_string(kvHeads) : "") +
           (topk ? "_topk" + std::to_string(topk) : "") +
           (fp8Group ? "_fp8g" + std::to_string(fp8Group) : "") +
           (kvScale ? "_fp8t" : "") + (cpu.empty() ? "" : "_" + cpu) +
           (tuningTag.empty() ? "" : "_" + tuningTag);
  }
};

/// Generates and loads one kernel; the library stays loaded for the test.
KernelFn buildKernel(const Config &c, std::string &error) {
  std::string dir = std::string(MLA_TEST_WORK_DIR) + "/" + c.name();
  std::string cmd =
      std::string(MLA_CODEGEN) +
      " --target=cpu --num-heads=" + std::to_string(c.heads) +
      (c.kvHeads ? " --num-kv-heads=" + std::to_string(c.kvHeads) +
                       " --head-dim=" + std::to_string(c.dc)
                 : " --kv-lora-rank=" + std::to_string(c.dc) +
                       " --qk-rope-head-dim=" + std::to_string(c.dr)) +
      " --q-len=" + std::to_string(c.qLen) +
      " --block-size=" + std::to_string(c.blockSize) +
      " --dtype=" + (c.bf16 ? "bf16" : "f32") +
      " --causal=" + (c.causal ? "true" : "false") +
      " --window=" + std::to_string(c.window) + (c.sinks ? " --sinks" : "") +
      (c.topk ? " --topk=" + std::to_string(c.topk) : "") +
      (c.fp8Group ? " --cache-scales=row_groups --scale-group=" +
                        std::to_string(c.fp8Group)
                  : "") +
      (c.kvScale ? " --cache-scales=per_tensor" : "") +
      (c.mcpu.empty() ? "" : " --mcpu=" + c.mcpu) + " " + c.tuning +
      " --name=" + c.name() + " -o " + dir + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    error = "mla-codegen failed: " + cmd;
    return nullptr;
  }
  std::string lib = dir + "/lib" + c.name() + ".so";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    error = dlerror();
    return nullptr;
  }
  auto fn = reinterpret_cast<KernelFn>(dlsym(h, c.name().c_str()));
  if (!fn)
    error = "missing symbol " + c.name();
  return fn;
}

/// The reference's description of a configuration.
mla::ref::DecodeShape refShape(const Config &c) {
  mla::ref::DecodeShape s{c.heads, c.dc, c.dr, c.qLen, c.blockSize, c.causal};
  s.window = c.window;
  return s;
}

/// One batch of inputs in both the kernel's storage and the reference's f32.
struct Batch {
  int64_t batch, maxBlocks, numBlocks;
  std::vector<int32_t> blockTable, seqLens;
  std::vector<float> q, kv;          // values as the reference sees them
  std::vector<uint16_t> qBf, kvBf;   // bf16 storage
  std::vector<float> v;              // head caches: the values (kv: keys)
  std::vector<uint16_t> vBf;
  std::vector<float> out, lse;       // with guard zones
  std::vector<uint16_t> outBf;
  std::vector<float> sinks;          // per head, with --sinks
  std::vector<uint8_t> kvFP8;        // fp8 rows (kv: their values)
};

/// The cache as the kernel reads it, and its size in bytes.
const void *cacheData(const Config &c, const Batch &in) {
  if (c.fp8())
    return in.kvFP8.data();
  return c.bf16 ? (const void *)in.kvBf.data() : in.kv.data();
}
size_t cacheBytes(const Config &c, const Batch &in) {
  return c.fp8() ? in.kvFP8.size() : in.kv.size() * (c.bf16 ? 2 : 4);
}

/// One scale a cache: each value of `in.kv` as the e4m3 code of value /
/// kv_scale, and `in.kv` set to code * kv_scale (the kernels read the codes
/// exactly and apply the scale in f32); NaN stays NaN (code 0x7F).
void quantizeCacheTensor(const Config &c, Batch &in) {
  in.kvFP8.resize(in.kv.size());
  for (size_t i = 0; i < in.kv.size(); ++i) {
    in.kvFP8[i] = mla::ref::floatToFP8E4M3(in.kv[i] / c.kvScale);
    in.kv[i] = float(double(mla::ref::fp8E4M3ToFloat(in.kvFP8[i])) * c.kvScale);
  }
}

/// fp8 rows: each row of `in.kv` encoded, and `in.kv` set to the values the
/// encoding holds in the query's type (the kernels dequantize a tile's rows
/// to it, as FlashMLA does to bf16); a row holding NaN (never to be read)
/// becomes NaN codes, scales and rope values.
void quantizeCache(const Config &c, Batch &in) {
  const int64_t width = c.dc + c.dr,
                rowBytes = c.dc + 4 * (c.dc / c.fp8Group) + 2 * c.dr;
  const int64_t rows = in.kv.size() / width;
  in.kvFP8.assign(rows * rowBytes, 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t r = 0; r < rows; ++r) {
    float *row = in.kv.data() + r * width;
    uint8_t *bytes = in.kvFP8.data() + r * rowBytes;
    if (std::any_of(row, row + width, [](float x) { return std::isnan(x); })) {
      std::fill(bytes, bytes + c.dc, 0x7F);
      for (int64_t k = c.dc; k + 4 <= c.dc + 4 * (c.dc / c.fp8Group); k += 4)
        std::memcpy(bytes + k, &nan, 4);
      std::fill(bytes + c.dc + 4 * (c.dc / c.fp8Group), bytes + rowBytes, 0xFF);
      continue;
    }
    mla::ref::encodeFP8Row(row, c.dc, c.dr, c.fp8Group, bytes);
    mla::ref::decodeFP8Row(bytes, c.dc, c.dr, c.fp8Group, row);
    // The kernels compute on the rows dequantized to the query's type.
    if (c.bf16)
      for (int64_t k = 0; k < width; ++k)
        row[k] = mla::ref::roundToBF16(row[k]);
  }
}

constexpr int64_t kGuard = 64;
constexpr float kSentinel = 12288.0f; // exact in bf16

/// NaN in every value of cache row `row` (a token: all its KV heads, keys
/// and values).
void poisonToken(const Config &c, Batch &in, int64_t row) {
  const int64_t n = (c.dc + c.dr) * std::max<int64_t>(1, c.kvHeads);
  for (int64_t d = row * n; d < (row + 1) * n; ++d) {
    in.kv[d] = std::numeric_limits<float>::quiet_NaN();
    in.kvBf[d] = 0x7fc0;
    if (c.kvHeads) {
      in.v[d] = std::numeric_limits<float>::quiet_NaN();
      in.vBf[d] = 0x7fc0;
    }
  }
}

/// n values uniform in [-1, 1] into `v` (rounded to bf16 for bf16
/// configurations) and their bf16 bits into `bf`.
void fillUniform(const Config &c, std::mt19937 &rng, std::vector<float> &v,
                 std::vector<uint16_t> &bf, size_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  v.resize(n);
  bf.resize(n);
  for (size_t i = 0; i < n; ++i) {
    float x = dist(rng);
    bf[i] = mla::ref::floatToBF16(x);
    v[i] = c.bf16 ? mla::ref::bf16ToFloat(bf[i]) : x;
  }
}

/// The outputs with their guard zones, all kSentinel, and the sinks (from
/// well below to well above the scores, |score| < ~1 here).
void initOutputs(const Config &c, Batch &in) {
  in.out.assign(in.batch * c.qLen * c.heads * c.dc + 2 * kGuard, kSentinel);
  in.outBf.assign(in.out.size(), mla::ref::floatToBF16(kSentinel));
  in.lse.assign(in.batch * c.heads * c.qLen + 2 * kGuard, kSentinel);
  if (c.sinks)
    for (int64_t h = 0; h < c.heads; ++h)
      in.sinks.push_back(-2.0f + 5.0f * float(h % 5) / 4.0f);
}

Batch makeSparseBatch(const Config &c, std::vector<int32_t> lens,
                      uint32_t seed);

Batch makeDenseBatch(const Config &c, std::vector<int32_t> lens,
                     uint32_t seed);

/// The inputs of a call on `lens`: dense or sparse, the cache quantized for
/// fp8 rows.
Batch makeBatch(const Config &c, std::vector<int32_t> lens, uint32_t seed) {
  Batch in = c.topk ? makeSparseBatch(c, lens, seed)
                    : makeDenseBatch(c, lens, seed);
  if (c.fp8Group)
    quantizeCache(c, in);
  if (c.kvScale)
    quantizeCacheTensor(c, in);
  return in;
}

Batch makeDenseBatch(const Config &c, std::vector<int32_t> lens,
                     uint32_t seed) {
  std::mt19937 rng(seed);
  Batch in;
  in.batch = lens.size();
  in.seqLens = lens;
  int64_t maxLen = *std::max_element(lens.begin(), lens.end());
  in.maxBlocks = (maxLen + c.blockSize - 1) / c.blockSize + 1;
  in.numBlocks = in.batch * in.maxBlocks;
  // Every sequence gets distinct pages in a shuffled order; unused slots
  // hold -1, which the kernel must never read.
  std::vector<int32_t> pages(in.numBlocks);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), rng);
  in.blockTable.assign(in.numBlocks, -1);
  // With a window, the pages wholly before the first query's window are
  // -1 too, as an engine that freed them leaves them.
  for (int64_t b = 0; b < in.batch; ++b) {
    int64_t used = (lens[b] + c.blockSize - 1) / c.blockSize;
    int64_t freed =
        mla::ref::firstVisiblePosition(lens[b], c.qLen, 0, c.window) /
        c.blockSize;
    for (int64_t p = freed; p < used; ++p)
      in.blockTable[b * in.maxBlocks + p] = pages[b * in.maxBlocks + p];
  }
  int64_t width = c.dc + c.dr;
  auto fill = [&](std::vector<float> &v, std::vector<uint16_t> &bf, size_t n) {
    fillUniform(c, rng, v, bf, n);
  };
  fill(in.q, in.qBf, in.batch * c.qLen * c.heads * width);
  // A token's row: one of d_c + d_r, or a head dim for each KV head.
  const int64_t tokenElems = width * std::max<int64_t>(1, c.kvHeads);
  fill(in.kv, in.kvBf, in.numBlocks * c.blockSize * tokenElems);
  if (c.kvHeads)
    fill(in.v, in.vBf, in.kv.size());
  // Cache rows no query may see hold NaN: page tails past a sequence's end,
  // the pages no sequence uses and the positions before every query's
  // window. The kernel must never compute with them.
  std::vector<bool> seen(in.numBlocks * c.blockSize, false);
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t t = mla::ref::firstVisiblePosition(lens[b], c.qLen, 0,
                                                    c.window);
         t < lens[b]; ++t)
      seen[in.blockTable[b * in.maxBlocks + t / c.blockSize] * c.blockSize +
           t % c.blockSize] = true;
  for (size_t row = 0; row < seen.size(); ++row)
    if (!seen[row])
      poisonToken(c, in, row);
  initOutputs(c, in);
  return in;
}

/// Token indices: `lens` (clamped to topk) are the valid slots of each
/// sequence's index rows, `maxBlocks` is topk and `blockTable` holds the
/// indices [batch, q_len, topk]: in valid slots a fifth -1, the others
/// uniform over the cache's rows (some repeat), every fourth (sequence,
/// query) all -1; past the valid slots garbage that must not be read.
Batch makeSparseBatch(const Config &c, std::vector<int32_t> lens,
                      uint32_t seed) {
  std::mt19937 rng(seed);
  Batch in;
  for (int32_t &len : lens)
    len = std::min<int32_t>(len, int32_t(c.topk));
  in.batch = lens.size();
  in.seqLens = lens;
  in.maxBlocks = c.topk;
  in.numBlocks = (2 * c.topk + c.blockSize - 1) / c.blockSize + 1;
  const int64_t rows = in.numBlocks * c.blockSize, width = c.dc + c.dr;
  std::uniform_int_distribution<int32_t> anyRow(0, int32_t(rows - 1));
  std::vector<bool> seen(rows, false);
  in.blockTable.assign(in.batch * c.qLen * c.topk, -1);
  const int32_t garbage[] = {std::numeric_limits<int32_t>::max(), -7,
                             int32_t(rows + 5)};
  for (int64_t b = 0; b < in.batch; ++b)
    for (int64_t i = 0; i < c.qLen; ++i)
      for (int64_t j = 0; j < c.topk; ++j) {
        int32_t &slot = in.blockTable[(b * c.qLen + i) * c.topk + j];
        if (j >= lens[b])
          slot = garbage[j % 3];
        else if ((b + i) % 4 != 3 && rng() % 5 != 0)
          seen[slot = anyRow(rng)] = true;
      }
  auto fill = [&](std::vector<float> &v, std::vector<uint16_t> &bf, size_t n) {
    fillUniform(c, rng, v, bf, n);
  };
  fill(in.q, in.qBf, in.batch * c.qLen * c.heads * width);
  fill(in.kv, in.kvBf, rows * width);
  for (int64_t row = 0; row < rows; ++row)
    if (!seen[row])
      poisonToken(c, in, row);
  initOutputs(c, in);
  return in;
}

int32_t call(KernelFn fn, const Config &c, Batch &in, float scale,
             int32_t batch = -1) {
  const void *q = c.bf16 ? (const void *)in.qBf.data() : in.q.data();
  const void *kv = cacheData(c, in);
  void *out = c.bf16 ? (void *)(in.outBf.data() + kGuard)
                     : (void *)(in.out.data() + kGuard);
  const void *v = c.bf16 ? (const void *)in.vBf.data() : in.v.data();
  // One fp8 scale: kv_scale after softmax_scale.
  if (c.kvScale && c.sinks)
    return reinterpret_cast<ScaledSinksKernelFn>(fn)(
        q, kv, in.blockTable.data(), in.seqLens.data(), in.sinks.data(), out,
        in.lse.data() + kGuard, batch < 0 ? in.batch : batch, in.maxBlocks,
        scale, c.kvScale, nullptr);
  if (c.kvScale)
    return reinterpret_cast<ScaledKernelFn>(fn)(
        q, kv, in.blockTable.data(), in.seqLens.data(), out,
        in.lse.data() + kGuard, batch < 0 ? in.batch : batch, in.maxBlocks,
        scale, c.kvScale, nullptr);
  if (c.kvHeads && c.sinks)
    return reinterpret_cast<mla_abi::HeadsSinksKernelFn>(fn)(
        q, kv, v, in.blockTable.data(), in.seqLens.data(), in.sinks.data(),
        out, in.lse.data() + kGuard, batch < 0 ? in.batch : batch,
        in.maxBlocks, scale, nullptr);
  if (c.kvHeads)
    return reinterpret_cast<mla_abi::HeadsKernelFn>(fn)(
        q, kv, v, in.blockTable.data(), in.seqLens.data(), out,
        in.lse.data() + kGuard, batch < 0 ? in.batch : batch, in.maxBlocks,
        scale, nullptr);
  if (c.sinks)
    return reinterpret_cast<mla_abi::SinksKernelFn>(fn)(
        q, kv, in.blockTable.data(), in.seqLens.data(), in.sinks.data(), out,
        in.lse.data() + kGuard, batch < 0 ? in.batch : batch, in.maxBlocks,
        scale, nullptr);
  return fn(q, kv, in.blockTable.data(), in.seqLens.data(), out,
            in.lse.data() + kGuard, batch < 0 ? in.batch : batch,
            in.maxBlocks, scale, nullptr);
}

float outAt(const Config &c, const Batch &in, size_t i) {
  return c.bf16 ? mla::ref::bf16ToFloat(in.outBf[i]) : in.out[i];
}

bool untouched(const Config &c, const Batch &in) {
  for (size_t i = 0; i < in.out.size(); ++i)
    if (outAt(c, in, i) != kSentinel)
      return false;
  return std::all_of(in.lse.begin(), in.lse.end(),
                     [](float x) { return x == kSentinel; });
}

/// The double reference of `c`'s contract on `in`.
void reference(const Config &c, const mla::ref::DecodeShape &shape,
               const Batch &in, double scale, std::vector<double> &out,
               std::vector<double> &lse) {
  if (c.topk)
    mla::ref::decodeAttentionSparse(shape, in.q.data(), in.kv.data(),
                                    in.blockTable.data(), in.seqLens.data(),
                                    in.batch, c.topk, scale, out.data(),
                                    lse.data());
  else if (c.kvHeads)
    mla::ref::decodeAttentionHeads(shape, c.kvHeads, in.q.data(),
                                   in.kv.data(), in.v.data(),
                                   in.blockTable.data(), in.seqLens.data(),
                                   in.batch, in.maxBlocks, scale, out.data(),
                                   lse.data());
  else
    mla::ref::decodeAttention(shape, in.q.data(), in.kv.data(),
                              in.blockTable.data(), in.seqLens.data(),
                              in.batch, in.maxBlocks, scale, out.data(),
                              lse.data());
}

void PrintTo(const Config &c, std::ostream *os) { *os << c.name(); }

/// NAME.json of the library buildKernel generated for `c`.
std::string kernelJSONText(const Config &c) {
  std::ifstream json(std::string(MLA_TEST_WORK_DIR) + "/" + c.name() + "/" +
                     c.name() + ".json");
  return std::string((std::istreambuf_iterator<char>(json)),
                     std::istreambuf_iterator<char>());
}

/// Whether the library of `c` may round P to bf16 for P V: `amx`, the AMX
/// kernel may run, or its vector kernels do ("pv_dot": true in NAME.json).
bool roundsP(const Config &c, bool amx) {
  return amx || kernelJSONText(c).find("\"pv_dot\": true") != std::string::npos;
}

/// The bound on |out - ref| (see the top of the file); `pRounded`: from
/// roundsP.
double outTolerance(const Config &c, double want, bool pRounded) {
  if (!c.bf16)
    return 2e-5;
  return 1e-3 + std::ldexp(std::abs(want) + (pRounded ? 1.0 : 0.0), -8);
}

/// Environment settings of one call: the split count, the prefetching
/// partial kernel (where the configuration has one) and the AMX kernel; ""
/// leaves the entry's choice, MLA_CPU_AMX=0 forces the vector kernels.
struct EnvRun {
  const char *splits, *prefetch, *amx;
};

/// Calls the kernel of `c` on sequences of `lens` under `run` and compares
/// out and lse with the double reference, and the guard zones around them.
void expectMatchesReference(KernelFn fn, const Config &c,
                            const std::vector<int32_t> &lens, const EnvRun &run,
                            uint32_t seed) {
  auto [splits, prefetch, amx] = run;
  SCOPED_TRACE(std::string("MLA_CPU_NUM_SPLITS=") + splits +
               " MLA_CPU_PREFETCH=" + prefetch + " MLA_CPU_AMX=" + amx);
  auto setOrUnset = [](const char *var, const char *value) {
    if (*value)
      setenv(var, value, 1);
    else
      unsetenv(var);
  };
  setOrUnset("MLA_CPU_NUM_SPLITS", splits);
  setOrUnset("MLA_CPU_PREFETCH", prefetch);
  setOrUnset("MLA_CPU_AMX", amx);
  const double scale = 1.0 / std::sqrt(double(c.dc + c.dr));
  Batch in = makeBatch(c, lens, seed);
  int32_t code = call(fn, c, in, float(scale));
  unsetenv("MLA_CPU_NUM_SPLITS");
  unsetenv("MLA_CPU_PREFETCH");
  unsetenv("MLA_CPU_AMX");
  ASSERT_EQ(code, 0);

  mla::ref::DecodeShape shape = refShape(c);
  shape.sinks = c.sinks ? in.sinks.data() : nullptr;
  std::vector<double> refOut(in.batch * c.qLen * c.heads * c.dc),
      refLse(in.batch * c.heads * c.qLen);
  reference(c, shape, in, scale, refOut, refLse);

  double worstOut = 0;
  const bool pRounded = roundsP(c, /*amx=*/*amx != '0');
  for (size_t i = 0; i < refOut.size(); ++i) {
    double got = outAt(c, in, kGuard + i), want = refOut[i];
    ASSERT_FALSE(std::isnan(got)) << "out[" << i << "] is NaN";
    double tol = outTolerance(c, want, pRounded);
    worstOut = std::max(worstOut, std::abs(got - want));
    ASSERT_LE(std::abs(got - want), tol) << "out[" << i << "]";
  }
  for (size_t i = 0; i < refLse.size(); ++i) {
    double got = in.lse[kGuard + i], want = refLse[i];
    if (std::isinf(want)) {
      ASSERT_TRUE(std::isinf(got) && got < 0) << "lse[" << i << "] " << got;
      continue;
    }
    double tol = (c.bf16 ? 1e-4 : 2e-5) * std::max(1.0, std::abs(want));
    ASSERT_LE(std::abs(got - want), tol) << "lse[" << i << "]";
  }
  for (int64_t g = 0; g < kGuard; ++g) {
    ASSERT_EQ(outAt(c, in, g), kSentinel) << "write before out";
    ASSERT_EQ(outAt(c, in, in.out.size() - 1 - g), kSentinel)
        << "write past out";
    ASSERT_EQ(in.lse[g], kSentinel) << "write before lse";
    ASSERT_EQ(in.lse[in.lse.size() - 1 - g], kSentinel) << "write past lse";
  }
  ::testing::Test::RecordProperty(
      "max_out_error_" + std::string(*splits ? splits : "auto") + "_prefetch_" +
          (*prefetch ? prefetch : "auto") + "_amx_" + (*amx ? amx : "auto"),
      std::to_string(worstOut));
}

/// Generates the kernel of `c` and checks it under each of `runs`.
void expectRunsMatchReference(const Config &c, const std::vector<int32_t> &lens,
                              const std::vector<EnvRun> &runs, uint32_t seed) {
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  for (const EnvRun &run : runs) {
    expectMatchesReference(fn, c, lens, run, seed);
    if (::testing::Test::HasFatalFailure())
      return;
  }
}

class DecodeKernelTest : public ::testing::TestWithParam<Config> {};

TEST_P(DecodeKernelTest, MatchesReference) {
  const Config &c = GetParam();
  // Lengths: one ending mid-page, exactly q_len, a page boundary, a long one
  // (several splits), and the slots of a padded batch: empty, and (causal,
  // q_len > 1) shorter than q_len, where query i sees only i positions.
  std::vector<int32_t> lens = {int32_t(3 * c.blockSize / 2 + c.qLen),
                               int32_t(c.qLen),
                               int32_t(c.blockSize *
                                       std::max<int64_t>(2, c.qLen)),
                               int32_t(300 + c.qLen), 0};
  if (c.qLen > 1)
    lens.push_back(int32_t(c.qLen - 1));
  // Token indices: all slots, some, none, one, all but a few.
  if (c.topk)
    lens = {int32_t(c.topk), int32_t(c.topk / 2 + 1), 0, 1,
            int32_t(std::max<int64_t>(0, c.topk - 3))};
  // Split counts, and the prefetching and AMX kernels forced on and off. A
  // split count far beyond the tokens is capped (it used to size the
  // scratch: 10^9 splits asked for terabytes).
  expectRunsMatchReference(c, lens,
                           {{"1", "0", "0"},
                            {"1", "1", "0"},
                            {"3", "1", "0"},
                            {"", "", "0"},
                            {"1", "", ""},
                            {"3", "", ""},
                            {"", "", ""},
                            {"1000000000", "", ""}},
                           1234 + c.heads);
}

/// The entry's own split plan on a batch where it differs from one count for
/// all: a long sequence among short ones (the plan splits it and leaves the
/// short ones whole; SplitPlanTest checks the plan itself), an empty slot,
/// and the same batch with every sequence forced to 3 and 13 splits.
class DecodeKernelPlanTest : public ::testing::TestWithParam<Config> {};

TEST_P(DecodeKernelPlanTest, LongAmongShortSequences) {
  const Config &c = GetParam();
  int32_t longest = int32_t(c.topk ? c.topk : 2048 + c.qLen);
  std::vector<int32_t> lens = {int32_t(c.qLen + 5), longest, 0,
                               int32_t(3 * c.blockSize / 2 + 1),
                               int32_t(700 + c.qLen)};
  if (c.topk)
    lens[4] = int32_t(c.topk / 3);
  expectRunsMatchReference(
      c, lens, {{"", "", "0"}, {"", "", ""}, {"3", "", ""}, {"13", "", ""}},
      99 + c.heads);
}

/// A NaN in a cache row that only later queries see (causal, q_len > 1)
/// stays out of the earlier queries' rows: their probability of it is 0, and
/// 0 * NaN must not reach their sums. The last query sees it, so its rows are
/// NaN, as in the reference.
class DecodeKernelNaNTest : public ::testing::TestWithParam<Config> {};

TEST_P(DecodeKernelNaNTest, NaNSeenOnlyByLaterQueries) {
  const Config &c = GetParam();
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  const double scale = 1.0 / std::sqrt(double(c.dc + c.dr));
  std::vector<int32_t> lens = {int32_t(3 * c.blockSize / 2 + c.qLen),
                               int32_t(c.qLen + 40), int32_t(c.qLen)};
  for (const char *amx : {"0", ""})
  for (const char *splits : {"1", "3", ""}) {
    SCOPED_TRACE(std::string("MLA_CPU_NUM_SPLITS=") + splits +
                 " MLA_CPU_AMX=" + amx);
    if (*splits)
      setenv("MLA_CPU_NUM_SPLITS", splits, 1);
    else
      unsetenv("MLA_CPU_NUM_SPLITS");
    if (*amx)
      setenv("MLA_CPU_AMX", amx, 1);
    else
      unsetenv("MLA_CPU_AMX");
    Batch in = makeBatch(c, lens, 4321);
    for (int64_t b = 0; b < in.batch; ++b)
      poisonToken(c, in,
                  mla::ref::cacheRowIndex(in.blockTable.data(), in.maxBlocks,
                                          c.blockSize, b, lens[b] - 1));
    ASSERT_EQ(call(fn, c, in, float(scale)), 0);
    mla::ref::DecodeShape shape = refShape(c);
    shape.sinks = c.sinks ? in.sinks.data() : nullptr;
    std::vector<double> refOut(in.batch * c.qLen * c.heads * c.dc),
        refLse(in.batch * c.heads * c.qLen);
    reference(c, shape, in, scale, refOut, refLse);
    const bool pRounded = roundsP(c, /*amx=*/!*amx);
    for (size_t i = 0; i < refOut.size(); ++i) {
      int64_t query = (i / (c.heads * c.dc)) % c.qLen;
      double got = outAt(c, in, kGuard + i), want = refOut[i];
      if (query == c.qLen - 1) {
        ASSERT_TRUE(std::isnan(got) && std::isnan(want)) << "out[" << i << "]";
        continue;
      }
      double tol = outTolerance(c, want, pRounded);
      ASSERT_LE(std::abs(got - want), tol) << "out[" << i << "] of query "
                                           << query;
    }
  }
  unsetenv("MLA_CPU_NUM_SPLITS");
  unsetenv("MLA_CPU_AMX");
}

/// The generated code under guard pages (it is not instrumented by the
/// sanitizers): each buffer of the call (q, kv, block_table, seq_lens, out,
/// lse) against an inaccessible page, after its end and then before its
/// start, through NAME and NAME_checked, with 1, 3 and the entry's own
/// splits; the results are bit for bit those of the same call on ordinary
/// buffers.
class DecodeKernelGuardTest : public ::testing::TestWithParam<Config> {};

TEST_P(DecodeKernelGuardTest, StaysInsideItsBuffers) {
  using mla::test::GuardedBuffer;
  const Config &c = GetParam();
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  std::string lib = std::string(MLA_TEST_WORK_DIR) + "/" + c.name() + "/lib" +
                    c.name() + ".so";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr) << dlerror();
  auto checked = reinterpret_cast<CheckedKernelFn>(
      dlsym(h, (c.name() + "_checked").c_str()));
  ASSERT_NE(checked, nullptr);
  const float scale = float(1.0 / std::sqrt(double(c.dc + c.dr)));
  std::vector<int32_t> lens = {int32_t(3 * c.blockSize / 2 + c.qLen),
                               int32_t(c.qLen), int32_t(300 + c.qLen), 0};
  if (c.qLen > 1)
    lens.push_back(int32_t(c.qLen - 1));
  Batch in = makeBatch(c, lens, 77 + c.heads);
  const size_t es = c.bf16 ? 2 : 4;
  const size_t outBytes = in.batch * c.qLen * c.heads * c.dc * es,
               lseBytes = in.batch * c.heads * c.qLen * 4;
  const void *q = c.bf16 ? (const void *)in.qBf.data() : in.q.data();
  const void *kv = cacheData(c, in);
  for (const char *splits : {"1", "3", ""}) {
    SCOPED_TRACE(std::string("MLA_CPU_NUM_SPLITS=") + splits);
    if (*splits)
      setenv("MLA_CPU_NUM_SPLITS", splits, 1);
    else
      unsetenv("MLA_CPU_NUM_SPLITS");
    ASSERT_EQ(call(fn, c, in, scale), 0);
    const uint8_t *wantOut =
        c.bf16 ? (const uint8_t *)(in.outBf.data() + kGuard)
               : (const uint8_t *)(in.out.data() + kGuard);
    const uint8_t *wantLse = (const uint8_t *)(in.lse.data() + kGuard);
    for (GuardedBuffer::Side side :
         {GuardedBuffer::Side::Tail, GuardedBuffer::Side::Head})
      for (bool viaChecked : {false, true}) {
        SCOPED_TRACE(std::string(side == GuardedBuffer::Side::Tail
                                     ? "guard after each buffer"
                                     : "guard before each buffer") +
                     (viaChecked ? ", NAME_checked" : ", NAME"));
        GuardedBuffer gq(q, in.q.size() * es, side),
            gkv(kv, cacheBytes(c, in), side), gbt(in.blockTable, side),
            glens(in.seqLens, side), gout(nullptr, outBytes, side),
            glse(nullptr, lseBytes, side);
        int32_t rc =
            c.kvScale
                ? (viaChecked
                       ? reinterpret_cast<ScaledCheckedKernelFn>(checked)(
                             gq.as(), gkv.as(), int32_t(in.numBlocks),
                             gbt.as<int32_t>(), glens.as<int32_t>(), gout.as(),
                             glse.as<float>(), int32_t(in.batch),
                             int32_t(in.maxBlocks), scale, c.kvScale, nullptr)
                       : reinterpret_cast<ScaledKernelFn>(fn)(
                             gq.as(), gkv.as(), gbt.as<int32_t>(),
                             glens.as<int32_t>(), gout.as(), glse.as<float>(),
                             int32_t(in.batch), int32_t(in.maxBlocks), scale,
                             c.kvScale, nullptr))
            : viaChecked
                ? checked(gq.as(), gkv.as(), int32_t(in.numBlocks),
                          gbt.as<int32_t>(), glens.as<int32_t>(), gout.as(),
                          glse.as<float>(), int32_t(in.batch),
                          int32_t(in.maxBlocks), scale, nullptr)
                : fn(gq.as(), gkv.as(), gbt.as<int32_t>(), glens.as<int32_t>(),
                     gout.as(), glse.as<float>(), int32_t(in.batch),
                     int32_t(in.maxBlocks), scale, nullptr);
        ASSERT_EQ(rc, 0);
        ASSERT_EQ(std::memcmp(gout.as(), wantOut, outBytes), 0) << "out";
        ASSERT_EQ(std::memcmp(glse.as(), wantLse, lseBytes), 0) << "lse";
      }
  }
  unsetenv("MLA_CPU_NUM_SPLITS");
}

std::vector<Config> fp8Tensor();

/// kv_scale of a cache with one fp8 scale: not finite, not positive, or
/// overflowing the scores' scale is ERR_SCALE, before anything is written.
TEST(DecodeKernelFP8TensorTest, RejectsBadKvScaleWithoutWriting) {
  const Config c = fp8Tensor()[4];
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  Batch in = makeBatch(c, {7, 3}, 11);
  auto scaled = reinterpret_cast<ScaledKernelFn>(fn);
  const float inf = std::numeric_limits<float>::infinity();
  const std::pair<float, float> bad[] = {
      {0.1f, 0.0f},
      {0.1f, -0.5f},
      {0.1f, inf},
      {0.1f, -inf},
      {0.1f, std::numeric_limits<float>::quiet_NaN()},
      {1e30f, 1e30f}};
  for (auto [softmaxScale, kvScale] : bad) {
    SCOPED_TRACE("softmax_scale " + std::to_string(softmaxScale) +
                 ", kv_scale " + std::to_string(kvScale));
    EXPECT_EQ(scaled(in.q.data(), in.kvFP8.data(), in.blockTable.data(),
                     in.seqLens.data(), in.out.data() + kGuard,
                     in.lse.data() + kGuard, int32_t(in.batch),
                     int32_t(in.maxBlocks), softmaxScale, kvScale, nullptr),
              mla_abi::ErrScale);
    EXPECT_TRUE(untouched(c, in));
  }
  // The same call with a good scale runs.
  EXPECT_EQ(call(fn, c, in, 0.1f), 0);
  EXPECT_FALSE(untouched(c, in));
}

/// The argument checks are the same code for every configuration: they run
/// on the 16-head ones with a rope part (grid16()).
class DecodeKernelArgsTest : public ::testing::TestWithParam<Config> {};

TEST_P(DecodeKernelArgsTest, RejectsBadArgumentsWithoutWriting) {
  const Config &c = GetParam();
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  std::vector<int32_t> lens = {int32_t(c.blockSize + c.qLen), int32_t(c.qLen)};
  Batch in = makeBatch(c, lens, 7);
  const void *q = c.bf16 ? (const void *)in.qBf.data() : in.q.data();
  const void *kv = c.bf16 ? (const void *)in.kvBf.data() : in.kv.data();
  void *out = c.bf16 ? (void *)(in.outBf.data() + kGuard)
                     : (void *)(in.out.data() + kGuard);
  float *lse = in.lse.data() + kGuard;
  int32_t mb = in.maxBlocks;
  EXPECT_EQ(fn(nullptr, kv, in.blockTable.data(), in.seqLens.data(), out, lse,
               2, mb, 0.1f, nullptr), 1);
  EXPECT_EQ(fn(q, nullptr, in.blockTable.data(), in.seqLens.data(), out, lse,
               2, mb, 0.1f, nullptr), 1);
  EXPECT_EQ(fn(q, kv, in.blockTable.data(), in.seqLens.data(), out, nullptr,
               2, mb, 0.1f, nullptr), 1);
  EXPECT_EQ(fn(q, kv, in.blockTable.data(), in.seqLens.data(), out, lse, -1,
               mb, 0.1f, nullptr), 2);
  EXPECT_EQ(fn(q, kv, in.blockTable.data(), in.seqLens.data(), out, lse, 2,
               -1, 0.1f, nullptr), 3);
  EXPECT_EQ(fn(q, kv, in.blockTable.data(), in.seqLens.data(), out, lse, 2,
               mb, std::numeric_limits<float>::quiet_NaN(), nullptr), 6);
  // The CPU kernels have no stream: one given is refused.
  int token = 0;
  EXPECT_EQ(fn(q, kv, in.blockTable.data(), in.seqLens.data(), out, lse, 2,
               mb, 0.1f, &token), 11);
  in.seqLens[1] = int32_t(mb * c.blockSize + 1);
  EXPECT_EQ(call(fn, c, in, 0.1f), 4);
  in.seqLens[1] = -3;
  EXPECT_EQ(call(fn, c, in, 0.1f), 4);
  in.seqLens = lens;
  in.blockTable[0] = -1;
  EXPECT_EQ(call(fn, c, in, 0.1f), 7);
  EXPECT_TRUE(untouched(c, in));
  // An empty batch is a successful no-op, even with null pointers.
  EXPECT_EQ(fn(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, 0, 0,
               0.1f, nullptr), 0);
  // A slot shorter than q_len, causal or not, is served (a padded batch),
  // not refused (MatchesReference checks its values).
  in.blockTable = makeBatch(c, lens, 7).blockTable;
  in.seqLens[1] = int32_t(c.qLen - 1);
  EXPECT_EQ(call(fn, c, in, 0.1f), 0);
}

/// Every (d_c, d_r, heads, dtype) of the grid, with q_len, block size and
/// causality cycling through their values so that every pair of values
/// meets; the full product is 4 x 3 x 5 x 3 x 3 x 2.
std::vector<Config> grid() {
  std::vector<Config> g;
  int64_t k = 0;
  for (int64_t dc : {64, 128, 256, 512})
    for (int64_t dr : {0, 32, 64})
      for (int64_t heads : {1, 3, 16, 40, 128})
        for (bool bf16 : {false, true}) {
          int64_t qLen = std::array<int64_t, 3>{1, 2, 4}[k % 3];
          int64_t bs = std::array<int64_t, 3>{1, 16, 64}[(k / 3) % 3];
          bool causal = (k % 7) != 3;
          g.push_back({dc, dr, heads, qLen, bs, bf16, causal});
          ++k;
        }
  return g;
}

INSTANTIATE_TEST_SUITE_P(Grid, DecodeKernelTest, ::testing::ValuesIn(grid()),
                         [](const auto &info) { return info.param.name(); });

/// Latent and head caches, windows, sinks, token indices and fp8 rows and
/// codes under the split plan (DecodeKernelPlanTest); their own kernels
/// ("_plan"), so that no two tests generate into one directory at once.
std::vector<Config> planned() {
  std::vector<Config> g = {{512, 64, 16, 1, 64, true, true},
                           {512, 64, 128, 2, 16, true, true},
                           {128, 32, 3, 4, 1, false, true},
                           {256, 0, 40, 1, 64, false, false}};
  g.push_back({128, 32, 3, 4, 16, true, true});
  g.back().window = 300;
  g.push_back({128, 0, 8, 2, 16, true, true});
  g.back().kvHeads = 2;
  g.back().sinks = true;
  g.push_back({512, 64, 16, 1, 64, true, false});
  g.back().topk = 2048;
  g.push_back({512, 64, 16, 2, 64, true, true});
  g.back().fp8Group = 128;
  g.push_back({512, 64, 16, 1, 64, true, true});
  g.back().kvScale = 1.0f / 400;
  for (Config &c : g)
    c.tuningTag = "plan";
  return g;
}

INSTANTIATE_TEST_SUITE_P(Plan, DecodeKernelPlanTest,
                         ::testing::ValuesIn(planned()),
                         [](const auto &info) { return info.param.name(); });

/// Kernels generated for older CPUs than this one, loaded and run here: 8-lane
/// AVX2 vectors (haswell, x86-64-v3) and AVX-512 without AVX512-BF16
/// (skylake-avx512), whose bf16 output conversion must not call libgcc's
/// missing __truncsfbf2 (the library would not load).
std::vector<Config> olderCPUs() {
  std::vector<Config> g;
  for (const char *cpu : {"haswell", "x86-64-v3", "skylake-avx512"})
    for (Config c : {Config{512, 64, 16, 1, 64, true, true},
                     Config{256, 32, 40, 2, 16, true, true},
                     Config{64, 0, 1, 1, 1, true, false},
                     Config{128, 64, 3, 4, 16, false, true}}) {
      c.mcpu = cpu;
      g.push_back(c);
    }
  return g;
}

/// Kernels with the tuning overrides (pass options of convert-mla-to-cpu)
/// other than the derived tiling: other group sizes, register blocks and
/// tile lengths compute the same attention.
std::vector<Config> tuned() {
  std::vector<Config> g;
  for (bool bf16 : {false, true}) {
    Config a{512, 64, 16, 1, 64, bf16, true};
    a.tuning = "--tile-tokens=32 --tile-blocks=8,4,2,4,2";
    a.tuningTag = "t32_b8_4_2_4_2";
    Config b{256, 32, 40, 2, 16, bf16, true};
    b.tuning = "--tile-tokens=8 --tile-blocks=5,1,8,5,1";
    b.tuningTag = "t8_b5_1_8_5_1";
    g.push_back(a);
    g.push_back(b);
  }
  return g;
}

/// The variant grids: every dtype, q_len 1/2/4 and window of `windows`,
/// with d_c from `dcs`, d_r, heads, page size and causality cycling.
std::vector<Config> variantGrid(std::array<int64_t, 3> dcs,
                                std::initializer_list<int64_t> windows,
                                bool sinks) {
  std::vector<Config> g;
  int64_t k = 0;
  for (bool bf16 : {false, true})
    for (int64_t qLen : {1, 2, 4})
      for (int64_t window : windows) {
        Config c{dcs[k % 3],
                 std::array<int64_t, 3>{0, 32, 64}[(k / 3) % 3],
                 std::array<int64_t, 4>{1, 3, 16, 40}[k % 4],
                 qLen,
                 std::array<int64_t, 3>{1, 16, 64}[(k / 2) % 3],
                 bf16,
                 (k % 5) != 2};
        c.window = window;
        c.sinks = sinks;
        g.push_back(c);
        ++k;
      }
  return g;
}

/// Sliding windows: of 1 (a query sees itself), shorter than a tile, and
/// longer than some sequences, with several queries, causal or not, over
/// the dtypes, page sizes and head counts.
std::vector<Config> windowed() {
  return variantGrid({64, 128, 512}, {1, 5, 37, 100}, /*sinks=*/false);
}

INSTANTIATE_TEST_SUITE_P(Window, DecodeKernelTest,
                         ::testing::ValuesIn(windowed()),
                         [](const auto &info) { return info.param.name(); });

/// Per-head sinks, alone and with a window, over dtypes, heads, q_len and
/// page sizes (rows that see nothing: zeros and lse = the sink).
std::vector<Config> withSinks() {
  return variantGrid({64, 256, 512}, {0, 37}, /*sinks=*/true);
}

INSTANTIATE_TEST_SUITE_P(Sinks, DecodeKernelTest,
                         ::testing::ValuesIn(withSinks()),
                         [](const auto &info) { return info.param.name(); });

/// GQA/MQA/MHA decode over head caches: head dims 64-256, KV heads from 1
/// (MQA) to all heads (MHA), groups that fill a KV head's rows exactly and
/// not (7 heads a KV head, q_len 4: 28 rows), with GPT-OSS's window and
/// sinks (64 heads on 8 KV heads, d 64, window 128) among them.
std::vector<Config> headCaches() {
  auto make = [](int64_t d, int64_t heads, int64_t kvHeads, int64_t qLen,
                 int64_t blockSize, bool bf16, bool causal) {
    Config c{d, 0, heads, qLen, blockSize, bf16, causal};
    c.kvHeads = kvHeads;
    return c;
  };
  std::vector<Config> g = {
      make(64, 4, 4, 1, 16, false, true),    // MHA
      make(128, 8, 1, 2, 64, true, true),    // MQA
      make(128, 8, 2, 1, 16, true, true),    // GQA 4
      make(128, 64, 8, 1, 64, true, true),   // Llama-3-70B
      make(96, 12, 4, 3, 1, false, false),   // 3 heads a KV head, 9 rows
      make(128, 28, 4, 4, 16, false, true),  // Qwen2-7B, 28 rows a KV head
      make(256, 16, 8, 2, 16, true, true),   // Gemma-2-9B
  };
  Config oss = make(64, 64, 8, 1, 16, true, true); // GPT-OSS
  oss.window = 128;
  oss.sinks = true;
  g.push_back(oss);
  Config windowed = make(128, 8, 2, 4, 16, false, true);
  windowed.window = 37;
  g.push_back(windowed);
  return g;
}

INSTANTIATE_TEST_SUITE_P(Heads, DecodeKernelTest,
                         ::testing::ValuesIn(headCaches()),
                         [](const auto &info) { return info.param.name(); });

/// Sparse decode (token indices): DeepSeek-V3.2's shape at TP 8 (16 heads,
/// 2048 slots) and at TP 1 (128 heads, on AMX where the host has it), q_len
/// up to 4 (each query its own index row), topk below, at and off a tile,
/// pages of 1, 16 and 64, sinks, both dtypes, and an AVX2 build.
std::vector<Config> sparse() {
  auto make = [](int64_t dc, int64_t dr, int64_t heads, int64_t qLen,
                 int64_t blockSize, bool bf16, int64_t topk) {
    Config c{dc, dr, heads, qLen, blockSize, bf16, /*causal=*/false};
    c.topk = topk;
    return c;
  };
  std::vector<Config> g = {
      make(512, 64, 16, 1, 64, true, 2048), make(512, 64, 128, 1, 1, true, 256),
      make(512, 64, 16, 2, 16, false, 100), make(64, 0, 1, 1, 1, false, 37),
      make(128, 64, 3, 4, 16, true, 300),   make(512, 64, 64, 3, 64, false, 130),
  };
  Config sinks = make(256, 32, 40, 2, 64, true, 64);
  sinks.sinks = true;
  g.push_back(sinks);
  Config avx2 = make(512, 64, 16, 2, 64, true, 200);
  avx2.mcpu = "haswell";
  g.push_back(avx2);
  return g;
}

/// fp8 rows with group scales (FlashMLA's 656-byte row at 512/64), dense
/// and sparse (DeepSeek-V3.2's decode: 16 or 128 heads, topk 2048 or 256),
/// bf16 and f32 queries, groups of 128, 64 and 16, q_len 1-4, pages of
/// 1/16/64, causal and not, a window, sinks, an AVX2 build.
std::vector<Config> fp8Rows() {
  auto make = [](int64_t dc, int64_t dr, int64_t heads, int64_t qLen,
                 int64_t blockSize, bool bf16, bool causal, int64_t group,
                 int64_t topk = 0) {
    Config c{dc, dr, heads, qLen, blockSize, bf16, causal};
    c.fp8Group = group;
    c.topk = topk;
    return c;
  };
  std::vector<Config> g = {
      make(512, 64, 16, 1, 64, true, false, 128, 2048),
      make(512, 64, 128, 1, 1, true, false, 128, 256),
      make(512, 64, 16, 2, 64, true, true, 128),
      make(256, 32, 40, 4, 16, false, true, 64),
      make(64, 0, 1, 1, 1, false, false, 16),
      make(128, 64, 3, 3, 16, true, false, 64, 100),
  };
  Config windowed = make(512, 64, 16, 2, 16, false, true, 128);
  windowed.window = 37;
  windowed.sinks = true;
  g.push_back(windowed);
  Config avx2 = make(512, 64, 16, 1, 64, true, false, 128, 300);
  avx2.mcpu = "haswell";
  g.push_back(avx2);
  return g;
}

/// e4m3 codes with one scale for the cache (rope included), dense and
/// sparse, bf16 and f32, scales that keep the codes in the normal range
/// (1/400 of |x| <= 1) and that push most into the subnormals (0.5), q_len
/// 1-4, pages of 1/16/64, causal and not, a window, sinks, an AVX2 build.
std::vector<Config> fp8Tensor() {
  auto make = [](int64_t dc, int64_t dr, int64_t heads, int64_t qLen,
                 int64_t blockSize, bool bf16, bool causal, float kvScale,
                 int64_t topk = 0) {
    Config c{dc, dr, heads, qLen, blockSize, bf16, causal};
    c.kvScale = kvScale;
    c.topk = topk;
    return c;
  };
  std::vector<Config> g = {
      make(512, 64, 16, 1, 64, true, false, 1.0f / 400, 2048),
      make(512, 64, 128, 1, 1, true, false, 1.0f / 400, 256),
      make(512, 64, 16, 2, 64, true, true, 0.5f),
      make(256, 32, 40, 4, 16, false, true, 1.0f / 400),
      make(64, 0, 1, 1, 1, false, false, 0.5f),
      make(128, 64, 3, 3, 16, true, false, 1.0f / 300, 100),
  };
  Config windowed = make(512, 64, 16, 2, 16, false, true, 1.0f / 400);
  windowed.window = 37;
  windowed.sinks = true;
  g.push_back(windowed);
  Config sparseSinks = make(512, 64, 16, 1, 64, true, false, 0.01f, 64);
  sparseSinks.sinks = true;
  g.push_back(sparseSinks);
  Config avx2 = make(512, 64, 16, 1, 64, true, false, 1.0f / 400, 300);
  avx2.mcpu = "haswell";
  g.push_back(avx2);
  return g;
}

INSTANTIATE_TEST_SUITE_P(FP8Tensor, DecodeKernelTest,
                         ::testing::ValuesIn(fp8Tensor()),
                         [](const auto &info) { return info.param.name(); });
INSTANTIATE_TEST_SUITE_P(FP8Tensor, DecodeKernelGuardTest,
                         ::testing::Values(fp8Tensor()[3], fp8Tensor()[5]),
                         [](const auto &info) { return info.param.name(); });

INSTANTIATE_TEST_SUITE_P(FP8, DecodeKernelTest, ::testing::ValuesIn(fp8Rows()),
                         [](const auto &info) { return info.param.name(); });
INSTANTIATE_TEST_SUITE_P(FP8, DecodeKernelGuardTest,
                         ::testing::Values(fp8Rows()[3], fp8Rows()[5]),
                         [](const auto &info) { return info.param.name(); });

INSTANTIATE_TEST_SUITE_P(Sparse, DecodeKernelTest, ::testing::ValuesIn(sparse()),
                         [](const auto &info) { return info.param.name(); });
INSTANTIATE_TEST_SUITE_P(Sparse, DecodeKernelGuardTest,
                         ::testing::Values(sparse()[2], sparse()[4]),
                         [](const auto &info) { return info.param.name(); });

/// A sparse kernel's own argument checks: topk other than the generated one
/// (ERR_MAX_BLOCKS), valid slots above topk or negative (ERR_SEQ_LEN), an
/// index below -1 in a valid slot (ERR_BLOCK_ID; garbage past the valid
/// slots is not read), and with NAME_checked an index past the cache's rows;
/// nothing is written when a call is refused.
TEST(DecodeKernelSparseTest, ArgumentChecks) {
  Config c = sparse()[2];
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  std::string lib = std::string(MLA_TEST_WORK_DIR) + "/" + c.name() + "/lib" +
                    c.name() + ".so";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr) << dlerror();
  auto checked = reinterpret_cast<CheckedKernelFn>(
      dlsym(h, (c.name() + "_checked").c_str()));
  ASSERT_NE(checked, nullptr);
  std::vector<int32_t> lens = {int32_t(c.topk), 5};
  Batch in = makeBatch(c, lens, 11);
  const int32_t topk = int32_t(c.topk);
  auto run = [&](int32_t columns) {
    return fn(in.q.data(), in.kv.data(), in.blockTable.data(),
              in.seqLens.data(), in.out.data() + kGuard, in.lse.data() + kGuard,
              2, columns, 0.1f, nullptr);
  };
  auto runChecked = [&](int32_t numBlocks) {
    return checked(in.q.data(), in.kv.data(), numBlocks, in.blockTable.data(),
                   in.seqLens.data(), in.out.data() + kGuard,
                   in.lse.data() + kGuard, 2, topk, 0.1f, nullptr);
  };
  EXPECT_EQ(run(topk - 1), 3);
  EXPECT_EQ(run(topk + 1), 3);
  in.seqLens[1] = topk + 1;
  EXPECT_EQ(run(topk), 4);
  in.seqLens[1] = -1;
  EXPECT_EQ(run(topk), 4);
  in.seqLens[1] = 5;
  // Sequence 1's slot 4 is valid, slot 5 is not read.
  int32_t &valid = in.blockTable[(1 * c.qLen + 1) * c.topk + 4];
  int32_t saved = valid;
  valid = -2;
  EXPECT_EQ(run(topk), 7);
  valid = int32_t(in.numBlocks * c.blockSize);
  EXPECT_EQ(runChecked(int32_t(in.numBlocks)), 7);
  EXPECT_TRUE(untouched(c, in));
  valid = saved;
  int32_t past = in.blockTable[(1 * c.qLen + 1) * c.topk + 5];
  EXPECT_TRUE(past < -1 || past >= in.numBlocks * c.blockSize) << past;
  EXPECT_EQ(runChecked(int32_t(in.numBlocks)), 0);
  EXPECT_EQ(run(topk), 0);
}

/// A NaN that only the last query sees stays out of the others' rows in
/// every KV head's groups.
std::vector<Config> headCachesMultiQuery() {
  std::vector<Config> g;
  for (const Config &c : headCaches())
    if (c.causal && c.qLen > 1)
      g.push_back(c);
  return g;
}

INSTANTIATE_TEST_SUITE_P(Heads, DecodeKernelNaNTest,
                         ::testing::ValuesIn(headCachesMultiQuery()),
                         [](const auto &info) { return info.param.name(); });

/// A kernel on head caches: a null v_cache is refused (NAME and
/// NAME_checked), NAME_checked refuses a page beyond the caches, and under
/// guard pages around each of its buffers (the value cache included) it
/// reads and writes nothing outside them, with the results of the ordinary
/// call.
TEST(DecodeKernelHeadsTest, ArgumentsAndGuardPages) {
  using mla::test::GuardedBuffer;
  Config c{128, 0, 8, 2, 16, true, true};
  c.kvHeads = 2;
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  auto heads = reinterpret_cast<mla_abi::HeadsKernelFn>(fn);
  std::string lib = std::string(MLA_TEST_WORK_DIR) + "/" + c.name() + "/lib" +
                    c.name() + ".so";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr) << dlerror();
  auto checked = reinterpret_cast<mla_abi::HeadsCheckedKernelFn>(
      dlsym(h, (c.name() + "_checked").c_str()));
  ASSERT_NE(checked, nullptr);
  std::vector<int32_t> lens = {40, 2, 0, 1};
  Batch in = makeBatch(c, lens, 11);
  const float scale = 0.1f;
  const size_t outBytes = in.batch * c.qLen * c.heads * c.dc * 2,
               lseBytes = in.batch * c.heads * c.qLen * 4,
               cacheBytes = in.kvBf.size() * 2;
  void *out = in.outBf.data() + kGuard;
  float *lse = in.lse.data() + kGuard;
  int32_t batch = int32_t(in.batch), mb = int32_t(in.maxBlocks),
          nb = int32_t(in.numBlocks);
  EXPECT_EQ(heads(in.qBf.data(), in.kvBf.data(), nullptr, in.blockTable.data(),
                  in.seqLens.data(), out, lse, batch, mb, scale, nullptr),
            1);
  EXPECT_EQ(checked(in.qBf.data(), in.kvBf.data(), nullptr, nb,
                    in.blockTable.data(), in.seqLens.data(), out, lse, batch,
                    mb, scale, nullptr),
            1);
  // The largest page id in use, as the page count: that page is beyond.
  int32_t maxPage =
      *std::max_element(in.blockTable.begin(), in.blockTable.end());
  EXPECT_EQ(checked(in.qBf.data(), in.kvBf.data(), in.vBf.data(), maxPage,
                    in.blockTable.data(), in.seqLens.data(), out, lse, batch,
                    mb, scale, nullptr),
            7);
  EXPECT_TRUE(untouched(c, in));
  ASSERT_EQ(call(fn, c, in, scale), 0);
  const uint8_t *wantOut = (const uint8_t *)(in.outBf.data() + kGuard);
  const uint8_t *wantLse = (const uint8_t *)(in.lse.data() + kGuard);
  for (GuardedBuffer::Side side :
       {GuardedBuffer::Side::Tail, GuardedBuffer::Side::Head})
    for (bool viaChecked : {false, true}) {
      SCOPED_TRACE(viaChecked ? "NAME_checked" : "NAME");
      GuardedBuffer gq(in.qBf.data(), in.qBf.size() * 2, side),
          gk(in.kvBf.data(), cacheBytes, side),
          gv(in.vBf.data(), cacheBytes, side), gbt(in.blockTable, side),
          glens(in.seqLens, side), gout(nullptr, outBytes, side),
          glse(nullptr, lseBytes, side);
      int32_t rc =
          viaChecked
              ? checked(gq.as(), gk.as(), gv.as(), nb, gbt.as<int32_t>(),
                        glens.as<int32_t>(), gout.as(), glse.as<float>(),
                        batch, mb, scale, nullptr)
              : heads(gq.as(), gk.as(), gv.as(), gbt.as<int32_t>(),
                      glens.as<int32_t>(), gout.as(), glse.as<float>(), batch,
                      mb, scale, nullptr);
      ASSERT_EQ(rc, 0);
      ASSERT_EQ(std::memcmp(gout.as(), wantOut, outBytes), 0) << "out";
      ASSERT_EQ(std::memcmp(glse.as(), wantLse, lseBytes), 0) << "lse";
    }
}

/// Whether /proc/cpuinfo lists `flag` for this CPU.
bool cpuHasFlag(const std::string &flag) {
  std::ifstream info("/proc/cpuinfo");
  std::string line;
  while (std::getline(info, line))
    if (line.rfind("flags", 0) == 0)
      return (line + " ").find(" " + flag + " ") != std::string::npos;
  return false;
}

/// On a host with AMX-BF16 the library of a bf16 configuration with many
/// heads holds the AMX kernel and the entry calls it: its results differ
/// from the vector kernels' (P is rounded to bf16 there) while both stay
/// within their bounds of the reference. Elsewhere the entry falls back to
/// the vector kernels even when asked for AMX, with the same results.
TEST(DecodeKernelAMXTest, TileKernelRunsWhereTheHostHasAMX) {
  Config c{512, 64, 16, 2, 16, /*bf16=*/true, /*causal=*/true};
  c.tuningTag = "amx_check";
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  std::string text = kernelJSONText(c);
  const bool hostAMX = cpuHasFlag("amx_bf16") && cpuHasFlag("amx_tile");
  EXPECT_NE(text.find(hostAMX ? "\"amx\": true" : "\"amx\": false"),
            std::string::npos)
      << text;
  std::vector<int32_t> lens = {700, 33, 2};
  std::vector<float> outs[2];
  for (int amx = 0; amx < 2; ++amx) {
    setenv("MLA_CPU_AMX", amx ? "1" : "0", 1);
    Batch in = makeBatch(c, lens, 99);
    ASSERT_EQ(call(fn, c, in, 0.05f), 0);
    mla::ref::DecodeShape shape = refShape(c);
    std::vector<double> refOut(in.batch * c.qLen * c.heads * c.dc),
        refLse(in.batch * c.heads * c.qLen);
    reference(c, shape, in, 0.05, refOut, refLse);
    const bool pRounded = roundsP(c, amx);
    for (size_t i = 0; i < refOut.size(); ++i) {
      double got = outAt(c, in, kGuard + i);
      outs[amx].push_back(float(got));
      ASSERT_LE(std::abs(got - refOut[i]), outTolerance(c, refOut[i], pRounded))
          << "out[" << i << "] MLA_CPU_AMX=" << amx;
    }
  }
  unsetenv("MLA_CPU_AMX");
  if (hostAMX)
    EXPECT_NE(outs[0], outs[1]) << "the AMX kernel did not run";
  else
    EXPECT_EQ(outs[0], outs[1]);
}

/// A kernel generated with sinks refuses a call without them (and
/// NAME_checked too), writing nothing.
TEST(DecodeKernelSinksTest, NullSinksRefused) {
  Config c{128, 32, 3, 2, 16, false, true};
  c.sinks = true;
  std::string error;
  KernelFn fn = buildKernel(c, error);
  ASSERT_NE(fn, nullptr) << error;
  Batch in = makeBatch(c, {40, 2}, 5);
  auto sinksFn = reinterpret_cast<mla_abi::SinksKernelFn>(fn);
  EXPECT_EQ(sinksFn(in.q.data(), in.kv.data(), in.blockTable.data(),
                    in.seqLens.data(), nullptr, in.out.data() + kGuard,
                    in.lse.data() + kGuard, 2, int32_t(in.maxBlocks), 0.1f,
                    nullptr),
            mla_abi::ErrNullPointer);
  std::string lib = std::string(MLA_TEST_WORK_DIR) + "/" + c.name() + "/lib" +
                    c.name() + ".so";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(h, nullptr);
  auto checked = reinterpret_cast<mla_abi::SinksCheckedKernelFn>(
      dlsym(h, (c.name() + "_checked").c_str()));
  ASSERT_NE(checked, nullptr);
  EXPECT_EQ(checked(in.q.data(), in.kv.data(), int32_t(in.numBlocks),
                    in.blockTable.data(), in.seqLens.data(), nullptr,
                    in.out.data() + kGuard, in.lse.data() + kGuard, 2,
                    int32_t(in.maxBlocks), 0.1f, nullptr),
            mla_abi::ErrNullPointer);
  EXPECT_TRUE(untouched(c, in));
  // With them, both entries agree.
  ASSERT_EQ(call(fn, c, in, 0.1f), 0);
  std::vector<float> out = in.out, lse = in.lse;
  ASSERT_EQ(checked(in.q.data(), in.kv.data(), int32_t(in.numBlocks),
                    in.blockTable.data(), in.seqLens.data(), in.sinks.data(),
                    in.out.data() + kGuard, in.lse.data() + kGuard, 2,
                    int32_t(in.maxBlocks), 0.1f, nullptr),
            0);
  EXPECT_EQ(out, in.out);
  EXPECT_EQ(lse, in.lse);
}

INSTANTIATE_TEST_SUITE_P(Tuned, DecodeKernelTest, ::testing::ValuesIn(tuned()),
                         [](const auto &info) { return info.param.name(); });

INSTANTIATE_TEST_SUITE_P(OlderCPU, DecodeKernelTest,
                         ::testing::ValuesIn(olderCPUs()),
                         [](const auto &info) { return info.param.name(); });

/// The causal configurations of the grid with several queries.
std::vector<Config> causalMultiQuery() {
  std::vector<Config> g;
  for (const Config &c : grid())
    if (c.causal && c.qLen > 1)
      g.push_back(c);
  return g;
}

INSTANTIATE_TEST_SUITE_P(Grid, DecodeKernelNaNTest,
                         ::testing::ValuesIn(causalMultiQuery()),
                         [](const auto &info) { return info.param.name(); });

/// The windowed configurations with several queries, causal.
std::vector<Config> windowedMultiQuery() {
  std::vector<Config> g;
  for (const Config &c : windowed())
    if (c.causal && c.qLen > 1)
      g.push_back(c);
  return g;
}

INSTANTIATE_TEST_SUITE_P(Window, DecodeKernelNaNTest,
                         ::testing::ValuesIn(windowedMultiQuery()),
                         [](const auto &info) { return info.param.name(); });

std::vector<Config> grid16() {
  std::vector<Config> g;
  for (const Config &c : grid())
    if (c.heads == 16 && c.dr != 0)
      g.push_back(c);
  return g;
}

INSTANTIATE_TEST_SUITE_P(Grid, DecodeKernelArgsTest,
                         ::testing::ValuesIn(grid16()),
                         [](const auto &info) { return info.param.name(); });

INSTANTIATE_TEST_SUITE_P(Grid, DecodeKernelGuardTest,
                         ::testing::ValuesIn(grid16()),
                         [](const auto &info) { return info.param.name(); });

INSTANTIATE_TEST_SUITE_P(Window, DecodeKernelGuardTest,
                         ::testing::ValuesIn(windowedMultiQuery()),
                         [](const auto &info) { return info.param.name(); });

} // namespace
