//===- LayerTest.cpp - generated layer step vs the training form ---------===//
//
// Writes a layer in the training form with `python -m mla.layer` from a
// Hugging Face-style config, generates its absorbed decode step with
// mla-codegen, and compares one step on random weights with the naive
// training-form layer in double (explicit K and V per head, RoPE, MHA):
// the output and the cache rows it appends.
//
// Tolerances: f32 |out - ref| <= 2e-4 * max|ref| + 1e-5 (the reference
// rounds the cached rows to f32 as the kernel does; the rest is summation
// order over d_c, hidden and the heads); bf16 weights and activations are
// rounded to bf16 for both sides and intermediate results are rounded by
// the generated code only, so the bound is 3e-2 * max|ref|.
//
// The step is run again with every buffer against a guard page (after its
// end, then before its start) and must give the same bits.
//
// The bad-argument calls return the codes of the ABI's table
// (include/mla/Runtime/KernelABI.h), and the generated header defines exactly
// the table's codes of a CPU kernel and a layer, with the table's values.
//
//===----------------------------------------------------------------------===//

#include "GuardedBuffer.h"
#include "mla/Reference/Reference.h"
#include "mla/Runtime/KernelABI.h"

#include "gtest/gtest.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <memory>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <regex>
#include <string>
#include <vector>

namespace {

using LayerFn = mla_abi::LayerFn;

struct Model {
  std::string name;
  int64_t hidden, heads, qLora, dc, dr, dNope, dV;
  bool interleaved;
  double eps;
};

struct Case {
  Model m;
  int64_t qLen, blockSize;
  bool bf16;
  std::string name() const {
    return m.name + "_q" + std::to_string(qLen) + "_bs" +
           std::to_string(blockSize) + (bf16 ? "_bf16" : "_f32");
  }
};

std::string kernelName(const Case &c) { return "layer_" + c.name(); }

/// The `#define <NAME>_<code> <value>` lines of the generated header, by
/// code name (OK, ERR_...).
std::map<std::string, int> headerCodes(const Case &c) {
  std::string name = kernelName(c), upper;
  for (char ch : name)
    upper += char(std::toupper(static_cast<unsigned char>(ch)));
  std::ifstream f(std::string(MLA_TEST_WORK_DIR) + "/" + c.name() + "/" + name +
                  ".h");
  std::regex define("#define " + upper + "_((?:OK|ERR_\\w+)) (-?\\d+)\\b.*");
  std::map<std::string, int> codes;
  std::smatch m;
  for (std::string line; std::getline(f, line);)
    if (std::regex_match(line, m, define))
      codes[m[1]] = std::stoi(m[2]);
  return codes;
}

LayerFn build(const Case &c, std::string &error) {
  std::string dir = std::string(MLA_TEST_WORK_DIR) + "/" + c.name();
  std::string cfg = dir + ".json", mlir = dir + ".mlir";
  // The config is written before the generator runs: the directory first
  // (a fresh build has none when this test runs alone).
  std::filesystem::create_directories(MLA_TEST_WORK_DIR);
  {
    std::ofstream f(cfg);
    f << "{\"hidden_size\": " << c.m.hidden
      << ", \"num_attention_heads\": " << c.m.heads
      << ", \"num_key_value_heads\": " << c.m.heads << ", \"q_lora_rank\": "
      << (c.m.qLora ? std::to_string(c.m.qLora) : "null")
      << ", \"kv_lora_rank\": " << c.m.dc
      << ", \"qk_nope_head_dim\": " << c.m.dNope
      << ", \"qk_rope_head_dim\": " << c.m.dr
      << ", \"v_head_dim\": " << c.m.dV
      << ", \"rope_theta\": 10000.0, \"rms_norm_eps\": " << c.m.eps << "}";
  }
  std::string gen = "mkdir -p " + std::string(MLA_TEST_WORK_DIR) +
                    " && PYTHONPATH=" MLA_PYTHON_DIR
                    " " MLA_PYTHON " -m mla.layer " + cfg +
                    " --name layer --dtype " +
                    (c.bf16 ? "bf16" : "f32") +
                    " --q-len " + std::to_string(c.qLen) + " --block-size " +
                    std::to_string(c.blockSize) + " --rope-style " +
                    (c.m.interleaved ? "interleaved" : "rotate_half") + " > " +
                    mlir;
  if (std::system(gen.c_str()) != 0) {
    error = "generator failed: " + gen;
    return nullptr;
  }
  std::string name = kernelName(c);
  std::string cmd = std::string(MLA_CODEGEN) + " " + mlir + " --name=" +
                    name + " -o " + dir + " 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    error = "mla-codegen failed: " + cmd;
    return nullptr;
  }
  std::string lib = dir + "/lib" + name + ".so";
  void *h = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    error = dlerror();
    return nullptr;
  }
  auto fn = reinterpret_cast<LayerFn>(dlsym(h, (name + "_layer").c_str()));
  if (!fn)
    error = "missing " + name + "_layer";
  return fn;
}

/// A tensor in f32 (what the reference reads) and in bf16 storage.
struct Tensor {
  std::vector<float> f;
  std::vector<uint16_t> bf;
  const void *data(bool bf16) const {
    return bf16 ? (const void *)bf.data() : (const void *)f.data();
  }
  size_t bytes(bool bf16) const { return bf16 ? bf.size() * 2 : f.size() * 4; }
};

Tensor random(std::mt19937 &rng, size_t n, float lo, float hi, bool bf16) {
  std::uniform_real_distribution<float> dist(lo, hi);
  Tensor t;
  t.f.resize(n);
  t.bf.resize(n);
  for (size_t i = 0; i < n; ++i) {
    float x = dist(rng);
    t.bf[i] = mla::ref::floatToBF16(x);
    t.f[i] = bf16 ? mla::ref::bf16ToFloat(t.bf[i]) : x;
  }
  return t;
}

void PrintTo(const Case &c, std::ostream *os) { *os << c.name(); }

class LayerTest : public ::testing::TestWithParam<Case> {};

TEST_P(LayerTest, MatchesTrainingForm) {
  const Case &c = GetParam();
  const Model &m = c.m;
  std::string error;
  LayerFn fn = build(c, error);
  ASSERT_NE(fn, nullptr) << error;

  std::mt19937 rng(42);
  const int64_t batch = 2, width = m.dc + m.dr;
  const int64_t qIn = m.qLora ? m.qLora : m.hidden;
  // Weights scaled ~1/sqrt(fan-in) so activations stay O(1).
  auto w = [&](size_t n, int64_t fanIn) {
    float a = 1.0f / std::sqrt(float(fanIn));
    return random(rng, n, -a, a, c.bf16);
  };
  std::vector<Tensor> weights;
  if (m.qLora) {
    weights.push_back(w(m.hidden * m.qLora, m.hidden));     // w_dq
    weights.push_back(random(rng, m.qLora, 0.5f, 1.5f, c.bf16)); // q_norm
  }
  weights.push_back(w(m.heads * qIn * m.dNope, qIn));        // w_uq
  weights.push_back(w(m.heads * qIn * m.dr, qIn));           // w_qr
  weights.push_back(w(m.hidden * m.dc, m.hidden));           // w_dkv
  weights.push_back(random(rng, m.dc, 0.5f, 1.5f, c.bf16));  // kv_norm
  weights.push_back(w(m.hidden * m.dr, m.hidden));           // w_kr
  weights.push_back(w(m.heads * m.dc * m.dNope, m.dc));      // w_uk
  weights.push_back(w(m.heads * m.dc * m.dV, m.dc));         // w_uv
  weights.push_back(w(m.heads * m.dV * m.hidden, m.heads * m.dV)); // w_o

  // Sequences of 37 and 70 tokens after this step; cached rows random,
  // shaped like real latents (normalized) and rotated keys.
  std::vector<int32_t> lens = {int32_t(37 + c.qLen - 1), 70};
  int64_t maxBlocks = (70 + c.blockSize - 1) / c.blockSize + 1;
  int64_t numBlocks = batch * maxBlocks;
  std::vector<int32_t> pages(numBlocks);
  std::iota(pages.begin(), pages.end(), 0);
  std::shuffle(pages.begin(), pages.end(), rng);
  std::vector<int32_t> blockTable(pages);
  Tensor hidden = random(rng, batch * c.qLen * m.hidden, -1, 1, c.bf16);
  Tensor cache = random(rng, numBlocks * c.blockSize * width, -1, 1, c.bf16);
  std::vector<int32_t> positions;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < c.qLen; ++s)
      positions.push_back(lens[b] - c.qLen + s);

  // Generated layer.
  std::vector<const void *> wptrs;
  for (const Tensor &t : weights)
    wptrs.push_back(t.data(c.bf16));
  Tensor cacheRun = cache;
  std::vector<float> outF(batch * c.qLen * m.hidden);
  std::vector<uint16_t> outBf(outF.size());
  void *out = c.bf16 ? (void *)outBf.data() : (void *)outF.data();
  void *cachePtr = c.bf16 ? (void *)cacheRun.bf.data() : (void *)cacheRun.f.data();
  ASSERT_EQ(fn(hidden.data(c.bf16), positions.data(), cachePtr,
               int32_t(numBlocks), blockTable.data(), lens.data(), wptrs.data(),
               out, int32_t(batch), int32_t(maxBlocks)),
            0);

  // The same step with every buffer (the weights and their pointer array
  // too) against an inaccessible page, after its end and then before its
  // start: the generated code is not instrumented by the sanitizers. Nothing
  // is touched out of bounds and the same bits come out.
  for (auto side : {mla::test::GuardedBuffer::Side::Tail,
                    mla::test::GuardedBuffer::Side::Head}) {
    using mla::test::GuardedBuffer;
    SCOPED_TRACE(side == GuardedBuffer::Side::Tail ? "guard after each buffer"
                                                   : "guard before each buffer");
    std::vector<std::unique_ptr<GuardedBuffer>> gw;
    std::vector<const void *> gwPtrs;
    for (const Tensor &t : weights) {
      gw.push_back(std::make_unique<GuardedBuffer>(t.data(c.bf16),
                                                   t.bytes(c.bf16), side));
      gwPtrs.push_back(gw.back()->as());
    }
    GuardedBuffer gPtrs(gwPtrs, side),
        gHidden(hidden.data(c.bf16), hidden.bytes(c.bf16), side),
        gPositions(positions, side),
        gCache(cache.data(c.bf16), cache.bytes(c.bf16), side),
        gTable(blockTable, side), gLens(lens, side),
        gOut(nullptr, outF.size() * (c.bf16 ? 2 : 4), side);
    ASSERT_EQ(fn(gHidden.as(), gPositions.as<int32_t>(), gCache.as(),
                 int32_t(numBlocks), gTable.as<int32_t>(), gLens.as<int32_t>(),
                 gPtrs.as<const void *>(), gOut.as(), int32_t(batch),
                 int32_t(maxBlocks)),
              0);
    ASSERT_EQ(std::memcmp(gOut.as(), out, outF.size() * (c.bf16 ? 2 : 4)), 0)
        << "out";
    ASSERT_EQ(std::memcmp(gCache.as(), cachePtr, cacheRun.bytes(c.bf16)), 0)
        << "cache";
  }

  // Reference: the training form in double.
  mla::ref::LayerShape shape{m.hidden, m.heads, m.qLora, m.dc, m.dr, m.dNope,
                             m.dV, 10000.0, m.interleaved, m.eps, c.qLen,
                             c.blockSize};
  size_t k = 0;
  mla::ref::LayerWeights rw{};
  if (m.qLora) {
    rw.wDQ = weights[k++].f.data();
    rw.qNorm = weights[k++].f.data();
  }
  rw.wUQ = weights[k++].f.data();
  rw.wQR = weights[k++].f.data();
  rw.wDKV = weights[k++].f.data();
  rw.kvNorm = weights[k++].f.data();
  rw.wKR = weights[k++].f.data();
  rw.wUK = weights[k++].f.data();
  rw.wUV = weights[k++].f.data();
  rw.wO = weights[k++].f.data();
  std::vector<float> refCache = cache.f;
  std::vector<double> ref(outF.size());
  double scale = 1.0 / std::sqrt(double(m.dNope + m.dr));
  mla::ref::layerDecodeStep(shape, rw, hidden.f.data(), positions.data(),
                            refCache.data(), blockTable.data(), lens.data(),
                            batch, maxBlocks, scale, ref.data());

  double maxRef = 0;
  for (double r : ref)
    maxRef = std::max(maxRef, std::abs(r));
  double tol = c.bf16 ? 3e-2 * maxRef : 2e-4 * maxRef + 1e-5;
  double worst = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double got = c.bf16 ? mla::ref::bf16ToFloat(outBf[i]) : outF[i];
    ASSERT_FALSE(std::isnan(got)) << "out[" << i << "]";
    worst = std::max(worst, std::abs(got - ref[i]));
  }
  EXPECT_LE(worst, tol) << "max |out - ref| over " << ref.size()
                        << " values, max |ref| = " << maxRef;
  RecordProperty("max_out_error", std::to_string(worst));

  // The appended rows, and nothing else in the cache, changed.
  double rowTol = c.bf16 ? 1e-2 : 1e-4;
  for (size_t i = 0; i < refCache.size(); ++i) {
    double got = c.bf16 ? mla::ref::bf16ToFloat(cacheRun.bf[i]) : cacheRun.f[i];
    ASSERT_NEAR(got, refCache[i], rowTol + rowTol * std::abs(refCache[i]))
        << "cache value " << i;
  }

  // The header defines the codes of a causal CPU kernel and a layer, with
  // the table's values, and no other.
  std::map<std::string, int> codes = headerCodes(c), expected;
  mla_abi::Library lib{mla_abi::kCPUKernel, /*causal=*/true,
                       /*tensorCores=*/false, /*layer=*/true};
  for (const mla_abi::ReturnCodeInfo &info : mla_abi::kReturnCodes)
    if (mla_abi::libraryReturns(info, lib))
      expected[info.name] = info.value;
  ASSERT_EQ(codes, expected);

  // Bad arguments: the table's code, as the header defines it; nothing
  // written.
  std::vector<float> before = outF;
  auto call = [&](const int32_t *table, const int32_t *seqLens,
                  const void *const *ws, int32_t b, int32_t mb) {
    return fn(hidden.data(c.bf16), positions.data(), cachePtr,
              int32_t(numBlocks), table, seqLens, ws, out, b, mb);
  };
  std::vector<int32_t> badTable = blockTable;
  badTable[0] = int32_t(numBlocks);
  int32_t code = call(badTable.data(), lens.data(), wptrs.data(),
                      int32_t(batch), int32_t(maxBlocks));
  EXPECT_EQ(code, mla_abi::ErrBlockId);
  EXPECT_EQ(code, codes["ERR_BLOCK_ID"]);
  std::vector<int32_t> shortLens = {int32_t(c.qLen - 1), 70};
  code = call(blockTable.data(), shortLens.data(), wptrs.data(), int32_t(batch),
              int32_t(maxBlocks));
  EXPECT_EQ(code, mla_abi::ErrSeqLenShort);
  EXPECT_EQ(code, codes["ERR_SEQ_LEN_SHORT"]);
  std::vector<int32_t> longLens = {int32_t(maxBlocks * c.blockSize + 1), 70};
  code = call(blockTable.data(), longLens.data(), wptrs.data(), int32_t(batch),
              int32_t(maxBlocks));
  EXPECT_EQ(code, mla_abi::ErrSeqLen);
  EXPECT_EQ(code, codes["ERR_SEQ_LEN"]);
  code = call(blockTable.data(), lens.data(), nullptr, int32_t(batch),
              int32_t(maxBlocks));
  EXPECT_EQ(code, mla_abi::ErrNullPointer);
  EXPECT_EQ(code, codes["ERR_NULL_POINTER"]);
  code = call(blockTable.data(), lens.data(), wptrs.data(), -1,
              int32_t(maxBlocks));
  EXPECT_EQ(code, mla_abi::ErrBatch);
  EXPECT_EQ(code, codes["ERR_BATCH"]);
  code = call(blockTable.data(), lens.data(), wptrs.data(), int32_t(batch), -1);
  EXPECT_EQ(code, mla_abi::ErrMaxBlocks);
  EXPECT_EQ(code, codes["ERR_MAX_BLOCKS"]);
  EXPECT_EQ(before, outF);
}

// DeepSeek-V2-Lite (no q_lora, interleaved RoPE) and MiniCPM3-4B (q_lora,
// rotate-half) at their real dimensions.
const Model kV2Lite{"v2lite", 2048, 16, 0, 512, 64, 128, 128, true, 1e-6};
const Model kMiniCPM3{"minicpm3", 2560, 40, 768, 256, 32, 64, 64, false, 1e-5};

INSTANTIATE_TEST_SUITE_P(
    Models, LayerTest,
    ::testing::Values(Case{kV2Lite, 1, 64, false}, Case{kV2Lite, 2, 16, true},
                      Case{kMiniCPM3, 1, 16, false},
                      Case{kMiniCPM3, 2, 64, true}),
    [](const auto &info) { return info.param.name(); });

} // namespace
