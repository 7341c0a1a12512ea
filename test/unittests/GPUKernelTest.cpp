//===- GPUKernelTest.cpp - generated GPU kernels vs the reference --------===//
//
// Runs the sm_80 / sm_90a kernels on a CUDA device and compares them with
// the double-precision reference, over the grid of the CPU test (plus 64 and
// 128 heads, page size 64, q_len up to 4), with variable lengths and an
// empty sequence when not causal. The driver is opened with dlopen (as
// mla-bench --target=cuda opens it): on a machine without a CUDA driver or
// device every test reports itself skipped. Tolerances: f32 out within 1e-4
// (the hardware ex2 is approximate); bf16 within 2.5e-3 + 2^-8 |ref|: the
// tensor-core kernels round P to bf16 for the PV product (as FlashAttention
// and FlashMLA do), at most 2^-9 max|v| = 2^-9 here, and the output to bf16,
// 2^-9 |ref|; lse within 1e-4 * max(1, |ref|). Guard zones around out and
// lse must come back untouched, and bad arguments get the contract's codes.
// NaN fills every cache row no query may see, and, causal with several
// queries, each sequence's last position, which only the last query sees.
//
//===----------------------------------------------------------------------===//

#include "CudaDriver.h"
#include "mla/Reference/Reference.h"
#include "mla/Runtime/KernelABI.h"

#include "gtest/gtest.h"

#include <array>
#include <cmath>
#include <cstdlib>
#include <dlfcn.h>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using KernelFn = int32_t (*)(const void *, const void *, const int32_t *,
                             const int32_t *, void *, float *, int32_t,
                             int32_t, float, void *);

struct Config {
  int64_t dc, dr, heads, qLen, blockSize;
  bool bf16, causal;
  /// A sliding window (--window; 0: none), per-head sinks (--sinks).
  int64_t window = 0;
  bool sinks = false;
  /// Head caches of this many KV heads (--num-kv-heads, dc the head dim,
  /// dr 0); 0: a latent cache.
  int64_t kvHeads = 0;
  std::string name() const {
    return "dc" + std::to_string(dc) + "_dr" + std::to_string(dr) + "_h" +
           std::to_string(heads) + "_q" + std::to_string(qLen) + "_bs" +
           std::to_string(blockSize) + (bf16 ? "_bf16" : "_f32") +
           (causal ? "" : "_noncausal") +
           (window ? "_w" + std::to_string(window) : "") +
           (sinks ? "_sinks" : "") +
           (kvHeads ? "_kv" + std::to_string(kvHeads) : "");
  }
};

void PrintTo(const Config &c, std::ostream *os) { *os << c.name(); }

class GPUKernelTest : public ::testing::TestWithParam<Config> {};

TEST_P(GPUKernelTest, MatchesReferenceOnDevice) {
  std::string why;
  const mla::CudaDriver *cu = mla::CudaDriver::get(why);
  if (!cu)
    GTEST_SKIP() << why;
  const Config &c = GetParam();
  // 8.6 / 8.7 / 8.9 have 99 KB of shared memory a CTA: their own kernels.
  std::string arch = cu->major >= 9 ? "sm_90a"
                     : cu->minor == 0 ? "sm_80"
                                      : "sm_86";
  std::string dir = std::string(MLA_TEST_WORK_DIR) + "/gpurun_" + c.name();
  std::string name = "g_" + c.name();
  std::string cmd = std::string(MLA_CODEGEN) + " --target=" + arch +
                    " --num-heads=" + std::to_string(c.heads) +
                    (c.kvHeads
                         ? " --num-kv-heads=" + std::to_string(c.kvHeads) +
                               " --head-dim=" + std::to_string(c.dc)
                         : " --kv-lora-rank=" + std::to_string(c.dc) +
                               " --qk-rope-head-dim=" + std::to_string(c.dr)) +
                    " --q-len=" + std::to_string(c.qLen) +
                    " --block-size=" + std::to_string(c.blockSize) +
                    " --dtype=" + (c.bf16 ? "bf16" : "f32") +
                    " --causal=" + (c.causal ? "true" : "false") +
                    " --window=" + std::to_string(c.window) +
                    (c.sinks ? " --sinks" : "") +
                    " --name=" + name + " -o " + dir + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  void *lib = dlopen((dir + "/lib" + name + ".so").c_str(), RTLD_NOW);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto fn = reinterpret_cast<KernelFn>(dlsym(lib, name.c_str()));
  ASSERT_NE(fn, nullptr);

  std::mt19937 rng(99 + c.heads);
  std::uniform_real_distribution<float> dist(-1, 1);
  // With the slots of a padded batch (empty; shorter than q_len), served
  // row by row.
  std::vector<int32_t> lens = {int32_t(3 * c.blockSize / 2 + c.qLen),
                               int32_t(c.qLen), int32_t(700 + c.qLen), 0};
  if (c.qLen > 1)
    lens.push_back(int32_t(c.qLen - 1));
  int64_t batch = lens.size(), width = c.dc + c.dr;
  int64_t maxBlocks = (700 + c.qLen + c.blockSize - 1) / c.blockSize + 1;
  int64_t numBlocks = batch * maxBlocks;
  std::vector<int32_t> table(numBlocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), rng);
  // A token's row: d_c + d_r, or a head dim for each KV head (then the
  // values, in `vals`, too).
  const int64_t tokenElems = width * std::max<int64_t>(1, c.kvHeads);
  size_t qN = batch * c.qLen * c.heads * width,
         kvN = numBlocks * c.blockSize * tokenElems,
         vN = c.kvHeads ? kvN : 0;
  std::vector<float> q(qN), kv(kvN), vals(vN);
  std::vector<uint16_t> qBf(qN), kvBf(kvN), valsBf(vN);
  for (auto *v : {&q, &kv, &vals})
    for (float &x : *v)
      x = dist(rng);
  for (size_t i = 0; i < qN; ++i) {
    qBf[i] = mla::ref::floatToBF16(q[i]);
    if (c.bf16)
      q[i] = mla::ref::bf16ToFloat(qBf[i]);
  }
  for (size_t i = 0; i < kvN; ++i) {
    kvBf[i] = mla::ref::floatToBF16(kv[i]);
    if (c.bf16)
      kv[i] = mla::ref::bf16ToFloat(kvBf[i]);
  }
  for (size_t i = 0; i < vN; ++i) {
    valsBf[i] = mla::ref::floatToBF16(vals[i]);
    if (c.bf16)
      vals[i] = mla::ref::bf16ToFloat(valsBf[i]);
  }
  // NaN in all of a token's row (every KV head's key and value).
  auto poison = [&](size_t row) {
    for (int64_t d = 0; d < tokenElems; ++d) {
      kv[row * tokenElems + d] = std::numeric_limits<float>::quiet_NaN();
      kvBf[row * tokenElems + d] = 0x7fc0;
      if (c.kvHeads) {
        vals[row * tokenElems + d] = std::numeric_limits<float>::quiet_NaN();
        valsBf[row * tokenElems + d] = 0x7fc0;
      }
    }
  };
  // NaN in every cache row past a sequence's end (the page tails, which the
  // wgmma kernel's TMA boxes load whole) and before every query's window:
  // no query may see them.
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < maxBlocks * c.blockSize; ++t) {
      if (t < lens[b] &&
          t >= mla::ref::firstVisiblePosition(lens[b], c.qLen, 0, c.window))
        continue;
      poison(size_t(table[b * maxBlocks + t / c.blockSize]) * c.blockSize +
             t % c.blockSize);
    }
  // Causal with several queries, NaN in each sequence's last position: only
  // its last query sees it, and 0 * NaN must not reach the others' sums (the
  // tensor-core kernels multiply whole tiles of P and V).
  const bool lastNaN = c.causal && c.qLen > 1;
  if (lastNaN)
    for (int64_t b = 0; b < batch; ++b) {
      if (lens[b] == 0)
        continue;
      poison(size_t(mla::ref::cacheRowIndex(table.data(), maxBlocks,
                                            c.blockSize, b, lens[b] - 1)));
    }
  // With a window, the pages wholly before the first query's window are
  // -1, as an engine that freed them leaves them (read after the NaN fill
  // above and the reference below use only positions a query sees).
  std::vector<int32_t> kernelTable = table;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t p = 0;
         p < mla::ref::firstVisiblePosition(lens[b], c.qLen, 0, c.window) /
                 c.blockSize;
         ++p)
      kernelTable[b * maxBlocks + p] = -1;
  size_t es = c.bf16 ? 2 : 4, outN = batch * c.qLen * c.heads * c.dc,
         lseN = batch * c.heads * c.qLen;
  mla::CudaDriver::DevPtr dq, dkv, dv = 0, dbt, dlens, dout, dlse;
  ASSERT_EQ(cu->memAlloc(&dq, qN * es), 0);
  ASSERT_EQ(cu->memAlloc(&dkv, kvN * es), 0);
  if (c.kvHeads)
    ASSERT_EQ(cu->memAlloc(&dv, vN * es), 0);
  ASSERT_EQ(cu->memAlloc(&dbt, table.size() * 4), 0);
  ASSERT_EQ(cu->memAlloc(&dlens, lens.size() * 4), 0);
  // Sinks from below to above the scores, one a head.
  std::vector<float> sinks;
  for (int64_t h = 0; h < c.heads; ++h)
    sinks.push_back(-2.0f + 5.0f * float(h % 5) / 4.0f);
  mla::CudaDriver::DevPtr dsinks;
  ASSERT_EQ(cu->memAlloc(&dsinks, sinks.size() * 4), 0);
  cu->memcpyHtoD(dsinks, sinks.data(), sinks.size() * 4);
  // out and lse sit between guard zones of kGuard bytes of 0x7f.
  constexpr size_t kGuard = 256;
  mla::CudaDriver::DevPtr doutAll, dlseAll;
  ASSERT_EQ(cu->memAlloc(&doutAll, outN * es + 2 * kGuard), 0);
  ASSERT_EQ(cu->memAlloc(&dlseAll, lseN * 4 + 2 * kGuard), 0);
  std::vector<uint8_t> guardOut(outN * es + 2 * kGuard, 0x7f),
      guardLse(lseN * 4 + 2 * kGuard, 0x7f);
  cu->memcpyHtoD(doutAll, guardOut.data(), guardOut.size());
  cu->memcpyHtoD(dlseAll, guardLse.data(), guardLse.size());
  dout = doutAll + kGuard;
  dlse = dlseAll + kGuard;
  cu->memcpyHtoD(dq, c.bf16 ? (const void *)qBf.data() : q.data(), qN * es);
  cu->memcpyHtoD(dkv, c.bf16 ? (const void *)kvBf.data() : kv.data(), kvN * es);
  if (c.kvHeads)
    cu->memcpyHtoD(dv, c.bf16 ? (const void *)valsBf.data() : vals.data(),
                   vN * es);
  cu->memcpyHtoD(dbt, kernelTable.data(), kernelTable.size() * 4);
  cu->memcpyHtoD(dlens, lens.data(), lens.size() * 4);
  double scale = 1.0 / std::sqrt(double(width));
  auto dev = [](mla::CudaDriver::DevPtr p) { return (void *)(uintptr_t)p; };
  // The kernel on q at `qAt` for `b` sequences (with the sinks if it has
  // them, or `sinksAt`).
  auto run = [&](mla::CudaDriver::DevPtr qAt, int32_t b,
                 mla::CudaDriver::DevPtr sinksAt) {
    if (c.kvHeads && c.sinks)
      return reinterpret_cast<mla_abi::HeadsSinksKernelFn>(fn)(
          qAt ? dev(qAt) : nullptr, dev(dkv), dev(dv),
          (const int32_t *)dev(dbt), (const int32_t *)dev(dlens),
          (const float *)dev(sinksAt), dev(dout), (float *)dev(dlse), b,
          int32_t(maxBlocks), float(scale), nullptr);
    if (c.kvHeads)
      return reinterpret_cast<mla_abi::HeadsKernelFn>(fn)(
          qAt ? dev(qAt) : nullptr, dev(dkv), dev(dv),
          (const int32_t *)dev(dbt), (const int32_t *)dev(dlens), dev(dout),
          (float *)dev(dlse), b, int32_t(maxBlocks), float(scale), nullptr);
    if (c.sinks)
      return reinterpret_cast<mla_abi::SinksKernelFn>(fn)(
          qAt ? dev(qAt) : nullptr, dev(dkv), (const int32_t *)dev(dbt),
          (const int32_t *)dev(dlens), (const float *)dev(sinksAt), dev(dout),
          (float *)dev(dlse), b, int32_t(maxBlocks), float(scale), nullptr);
    return fn(qAt ? dev(qAt) : nullptr, dev(dkv), (const int32_t *)dev(dbt),
              (const int32_t *)dev(dlens), dev(dout), (float *)dev(dlse), b,
              int32_t(maxBlocks), float(scale), nullptr);
  };
  // Bad arguments: the contract's codes, nothing launched.
  EXPECT_EQ(run(0, int32_t(batch), dsinks), 1);
  EXPECT_EQ(run(dq, -1, dsinks), 2);
  if (c.bf16) // the tensor-core kernels copy 16-byte chunks
    EXPECT_EQ(run(dq + 2, int32_t(batch), dsinks), 10);
  if (c.sinks)
    EXPECT_EQ(run(dq, int32_t(batch), 0), 1);
  ASSERT_EQ(run(dq, int32_t(batch), dsinks), 0);
  ASSERT_EQ(cu->ctxSynchronize(), 0);
  std::vector<uint8_t> afterOut(guardOut.size()), afterLse(guardLse.size());
  cu->memcpyDtoH(afterOut.data(), doutAll, afterOut.size());
  cu->memcpyDtoH(afterLse.data(), dlseAll, afterLse.size());
  for (size_t i = 0; i < kGuard; ++i) {
    ASSERT_EQ(afterOut[i], 0x7f) << "write before out";
    ASSERT_EQ(afterOut[afterOut.size() - 1 - i], 0x7f) << "write after out";
    ASSERT_EQ(afterLse[i], 0x7f) << "write before lse";
    ASSERT_EQ(afterLse[afterLse.size() - 1 - i], 0x7f) << "write after lse";
  }
  std::vector<float> out(outN), lse(lseN);
  std::vector<uint16_t> outBf(outN);
  cu->memcpyDtoH(c.bf16 ? (void *)outBf.data() : out.data(), dout, outN * es);
  cu->memcpyDtoH(lse.data(), dlse, lseN * 4);
  for (mla::CudaDriver::DevPtr p :
       {dq, dkv, dbt, dlens, doutAll, dlseAll, dsinks})
    cu->memFree(p);
  if (dv)
    cu->memFree(dv);

  mla::ref::DecodeShape shape{c.heads, c.dc, c.dr, c.qLen, c.blockSize,
                              c.causal};
  shape.window = c.window;
  shape.sinks = c.sinks ? sinks.data() : nullptr;
  std::vector<double> refOut(outN), refLse(lseN);
  if (c.kvHeads)
    mla::ref::decodeAttentionHeads(shape, c.kvHeads, q.data(), kv.data(),
                                   vals.data(), table.data(), lens.data(),
                                   batch, maxBlocks, scale, refOut.data(),
                                   refLse.data());
  else
    mla::ref::decodeAttention(shape, q.data(), kv.data(), table.data(),
                              lens.data(), batch, maxBlocks, scale,
                              refOut.data(), refLse.data());
  for (size_t i = 0; i < outN; ++i) {
    double got = c.bf16 ? mla::ref::bf16ToFloat(outBf[i]) : out[i];
    int64_t seqOf = i / (c.qLen * c.heads * c.dc),
            query = (i / (c.heads * c.dc)) % c.qLen;
    if (lastNaN && query == c.qLen - 1 && lens[seqOf] > 0) {
      ASSERT_TRUE(std::isnan(got) && std::isnan(refOut[i]))
          << "out[" << i << "] of the query that sees the NaN";
      continue;
    }
    double tol = c.bf16 ? 2.5e-3 + std::ldexp(std::abs(refOut[i]), -8) : 1e-4;
    ASSERT_NEAR(got, refOut[i], tol) << "out[" << i << "]";
  }
  for (size_t i = 0; i < lseN; ++i) {
    if (std::isnan(refLse[i]))
      continue; // the rows that see the NaN (their out is checked)
    if (std::isinf(refLse[i])) {
      ASSERT_TRUE(std::isinf(lse[i]) && lse[i] < 0) << "lse[" << i << "]";
      continue;
    }
    ASSERT_NEAR(lse[i], refLse[i], 1e-4 * std::max(1.0, std::abs(refLse[i])))
        << "lse[" << i << "]";
  }
}

std::vector<Config> grid() {
  std::vector<Config> g;
  int64_t k = 0;
  for (int64_t dc : {64, 128, 256, 512})
    for (int64_t dr : {0, 32, 64})
      for (int64_t heads : {1, 3, 16, 40, 64, 128})
        for (bool bf16 : {false, true}) {
          int64_t qLen = std::array<int64_t, 4>{1, 2, 3, 4}[k % 4];
          int64_t bs = std::array<int64_t, 3>{1, 16, 64}[(k / 4) % 3];
          g.push_back({dc, dr, heads, qLen, bs, bf16, (k % 7) != 3});
          ++k;
        }
  // d_c not a multiple of 32 (tensor cores take multiples of 16).
  g.push_back({48, 16, 3, 2, 16, true, true});
  // Sliding windows (the tensor-core kernels need tile + q_len at least):
  // tiles before the last query's start, and with several queries after
  // the first one's end.
  for (Config c : {Config{512, 64, 16, 2, 64, true, true},
                   Config{512, 64, 128, 4, 64, true, true},
                   Config{256, 32, 40, 1, 16, false, true},
                   Config{64, 0, 3, 3, 1, true, false},
                   Config{128, 64, 64, 2, 16, false, true}}) {
    c.window = c.bf16 ? 36 + 64 * (c.heads % 3) : 5;
    g.push_back(c);
  }
  // Sinks, alone and with a window.
  for (Config c : {Config{512, 64, 64, 1, 64, true, true},
                   Config{256, 32, 16, 2, 16, false, true},
                   Config{512, 64, 128, 2, 64, true, true}}) {
    c.sinks = true;
    c.window = c.heads == 128 ? 100 : 0;
    g.push_back(c);
  }
  // Head caches (GQA/MQA/MHA): Llama-3-70B, MQA, MHA, 7 heads a KV head
  // with q_len 4 and a window, Gemma-2's d 256, GPT-OSS's window and sinks.
  auto heads = [&](int64_t d, int64_t h, int64_t kv, int64_t qLen,
                   int64_t bs, bool bf16, int64_t window = 0,
                   bool sinks = false) {
    Config c{d, 0, h, qLen, bs, bf16, true};
    c.kvHeads = kv;
    c.window = window;
    c.sinks = sinks;
    g.push_back(c);
  };
  heads(128, 64, 8, 1, 16, true);
  heads(128, 64, 8, 2, 16, false);
  heads(128, 8, 1, 2, 64, true);
  heads(64, 16, 16, 1, 16, true);
  heads(128, 28, 4, 4, 16, true, 100);
  heads(256, 16, 8, 2, 64, true);
  heads(64, 64, 8, 1, 16, true, 128, true);
  return g;
}

INSTANTIATE_TEST_SUITE_P(Grid, GPUKernelTest, ::testing::ValuesIn(grid()),
                         [](const auto &info) { return info.param.name(); });

} // namespace
