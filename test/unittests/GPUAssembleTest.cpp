//===- GPUAssembleTest.cpp - every GPU kernel assembles, no spills -------===//
//
// Generates the GPU kernels of a grid of configurations for sm_80 and
// sm_90a with mla-codegen and checks ptxas's report: both kernels assemble
// with 0 spill bytes. Registers and shared memory per kernel are printed
// (and recorded as test properties). The bf16 kernels must run on tensor
// cores: their PTX holds mma.sync m16n8k16 on sm_80, and on sm_90a wgmma
// with TMA loads (pages of 8 rows or more, d_c a multiple of 64; mma.sync
// otherwise, and for token indices and fp8 rows, which the tile loads gather
// and dequantize). Token indices copy an empty slot as zeros (cp.async with a
// source size).
//
//===----------------------------------------------------------------------===//

#include "gtest/gtest.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Config {
  int64_t dc, dr, heads, qLen, blockSize;
  bool bf16;
  std::string arch;
  /// A sliding window (--window; 0: none), per-head sinks (--sinks).
  int64_t window = 0;
  bool sinks = false;
  /// Head caches of this many KV heads (--num-kv-heads, dc the head dim);
  /// 0: a latent cache.
  int64_t kvHeads = 0;
  /// Token indices of topk slots (--topk; 0: pages), fp8 rows with scale
  /// groups of this many values (--cache-scales=row_groups; 0: none).
  int64_t topk = 0, scaleGroup = 0;
  /// e4m3 codes with one scale (--cache-scales=per_tensor).
  bool fp8Tensor = false;
  /// f16 storage where bf16 says 16 bits.
  bool f16 = false;
  std::string dtype() const { return !bf16 ? "f32" : f16 ? "f16" : "bf16"; }
  std::string name() const {
    return arch + "_dc" + std::to_string(dc) + "_dr" + std::to_string(dr) +
           "_h" + std::to_string(heads) + "_q" + std::to_string(qLen) + "_bs" +
           std::to_string(blockSize) + "_" + dtype() +
           (window ? "_w" + std::to_string(window) : "") +
           (sinks ? "_sinks" : "") +
           (kvHeads ? "_kv" + std::to_string(kvHeads) : "") +
           (topk ? "_topk" + std::to_string(topk) : "") +
           (scaleGroup ? "_fp8g" + std::to_string(scaleGroup) : "") +
           (fp8Tensor ? "_fp8t" : "");
  }
};

void PrintTo(const Config &c, std::ostream *os) { *os << c.name(); }

class GPUAssembleTest : public ::testing::TestWithParam<Config> {};

TEST_P(GPUAssembleTest, AssemblesWithoutSpills) {
  // The CUDA toolkit is not a Debian package of the right version (sm_90a
  // needs CUDA 12+); without it these checks report themselves skipped.
  if (!std::ifstream(std::string(MLA_CUDA_PATH) + "/bin/ptxas"))
    GTEST_SKIP() << "no ptxas under " << MLA_CUDA_PATH;
  const Config &c = GetParam();
  std::string dir = std::string(MLA_TEST_WORK_DIR) + "/gpu_" + c.name();
  std::string name = "k_" + c.name();
  std::string cmd =
      std::string(MLA_CODEGEN) + " --target=" + c.arch +
      " --num-heads=" + std::to_string(c.heads) +
      (c.kvHeads ? " --num-kv-heads=" + std::to_string(c.kvHeads) +
                       " --head-dim=" + std::to_string(c.dc)
                 : " --kv-lora-rank=" + std::to_string(c.dc) +
                       " --qk-rope-head-dim=" + std::to_string(c.dr)) +
      " --q-len=" + std::to_string(c.qLen) +
      " --block-size=" + std::to_string(c.blockSize) + " --dtype=" + c.dtype() +
      " --window=" + std::to_string(c.window) + (c.sinks ? " --sinks" : "") +
      (c.topk ? " --causal=false --topk=" + std::to_string(c.topk) : "") +
      (c.scaleGroup ? " --cache-scales=row_groups --scale-group=" +
                          std::to_string(c.scaleGroup)
                    : "") +
      (c.fp8Tensor ? " --cache-scales=per_tensor" : "") + " --name=" + name +
      " -o " + dir + " 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::ifstream log(dir + "/" + name + ".ptxas.log");
  ASSERT_TRUE(log) << "no ptxas report";
  std::stringstream text;
  text << log.rdbuf();
  std::string report = text.str();
  std::regex props(
      R"(Function properties for (\w+)\s+(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads\s+ptxas info\s+: Used (\d+) registers([^\n]*)\n)");
  std::regex smemBytes(R"((\d+) bytes smem)");
  int kernels = 0;
  for (std::sregex_iterator it(report.begin(), report.end(), props), end;
       it != end; ++it) {
    const std::smatch &m = *it;
    ++kernels;
    EXPECT_EQ(m[3].str(), "0") << m[1] << " spills stores";
    EXPECT_EQ(m[4].str(), "0") << m[1] << " spills loads";
    std::smatch sm;
    std::string rest = m[6].str();
    std::string smem =
        std::regex_search(rest, sm, smemBytes) ? sm[1].str() : "0";
    std::cout << "  " << c.name() << " " << m[1] << ": " << m[5]
              << " registers, " << smem << " bytes smem, " << m[2]
              << " bytes stack\n";
    RecordProperty(m[1].str() + "_registers", m[5].str());
    RecordProperty(m[1].str() + "_smem", smem);
  }
  EXPECT_EQ(kernels, 2) << report;
  // ptxas serializes wgmmas it cannot prove safe to pipeline (a register of
  // an unfinished wgmma read or written, ...) and says so in the report.
  EXPECT_EQ(report.find("Potential Performance Loss"), std::string::npos)
      << report;
  // ptxas does not see dynamic shared memory: the header says it.
  // It must fit the architecture: 99 KB a CTA on sm_86/sm_89, 227 KB on
  // sm_90a, 163 KB on sm_80.
  std::ifstream headerFile(dir + "/" + name + ".h");
  std::string line;
  std::regex dynamicBytes(R"((\d+) bytes of dynamic shared memory)");
  bool described = false;
  while (std::getline(headerFile, line))
    if (line.find("partial kernel:") != std::string::npos) {
      std::cout << "  " << c.name() << " " << line << "\n";
      std::smatch m;
      ASSERT_TRUE(std::regex_search(line, m, dynamicBytes)) << line;
      int64_t limit = c.arch == "sm_86" || c.arch == "sm_89" ? 99 * 1024
                      : c.arch == "sm_90a"                    ? 227 * 1024
                                                              : 163 * 1024;
      EXPECT_LE(std::stoll(m[1].str()), limit) << line;
      described = true;
    }
  EXPECT_TRUE(described) << "no partial kernel line in " << name << ".h";

  std::ifstream ptxFile(dir + "/" + name + ".ptx");
  ASSERT_TRUE(ptxFile) << "no PTX";
  std::stringstream ptx;
  ptx << ptxFile.rdbuf();
  auto has = [&](const char *what) {
    return ptx.str().find(what) != std::string::npos;
  };
  // wgmma + TMA: pages of whole 8-row swizzle groups, d_c in 64-column
  // boxes, a latent cache; mma.sync otherwise.
  const std::string t = c.dtype();
  bool tma = c.arch == "sm_90a" && c.blockSize % 8 == 0 && c.dc % 64 == 0 &&
             !c.kvHeads && !c.topk && !c.scaleGroup && !c.fp8Tensor;
  if (c.bf16 && !tma)
    EXPECT_TRUE(
        has(("mma.sync.aligned.m16n8k16.row.col.f32." + t + "." + t + ".f32")
                .c_str()))
        << "no " << t << " mma.sync in " << name << ".ptx";
  if (c.bf16 && tma) {
    EXPECT_TRUE(has(
        ("wgmma.mma_async.sync.aligned.m64n32k16.f32." + t + "." + t).c_str()))
        << "no QK^T wgmma in " << name << ".ptx";
    // P V: warpgroups of at most 256 output columns, P from registers.
    std::string pv = "wgmma.mma_async.sync.aligned.m64n" +
                     std::to_string(std::min<int64_t>(c.dc, 256)) + "k16.f32." +
                     t + "." + t;
    EXPECT_TRUE(has(pv.c_str())) << "no " << pv << " in " << name << ".ptx";
    EXPECT_TRUE(has("cp.async.bulk.tensor.2d"))
        << "no TMA load in " << name << ".ptx";
  }
  if (!c.bf16)
    EXPECT_EQ(ptx.str().find("mma"), std::string::npos)
        << "f32 storage has no tensor-core form";
  if (c.bf16 && c.topk && !c.scaleGroup && !c.fp8Tensor)
    EXPECT_TRUE(std::regex_search(
        ptx.str(),
        std::regex(
            R"(cp\.async\.cg\.shared\.global \[[^\]]+\], \[[^\]]+\], 16, %r)")))
        << "no zero-filling cp.async for empty slots in " << name << ".ptx";
}

/// Every (d_c, d_r, heads) of the grid, heads including 64 and 128, with
/// q_len (up to 4), block size and dtype cycling, for both architectures.
std::vector<Config> grid() {
  std::vector<Config> g;
  int64_t k = 0;
  for (int64_t dc : {64, 128, 256, 512})
    for (int64_t dr : {0, 32, 64})
      for (int64_t heads : {1, 3, 16, 40, 64, 128}) {
        int64_t qLen = std::array<int64_t, 4>{1, 2, 3, 4}[k % 4];
        int64_t bs = std::array<int64_t, 3>{1, 16, 64}[(k / 2) % 3];
        bool bf16 = (k / 3) % 2;
        for (const char *arch : {"sm_80", "sm_90a", "sm_86"})
          g.push_back({dc, dr, heads, qLen, bs, bf16, arch});
        ++k;
      }
  // d_c not a multiple of 32 (tensor cores take multiples of 16).
  for (const char *arch : {"sm_80", "sm_90a"})
    g.push_back({48, 16, 3, 2, 16, true, arch});
  // Sm_89 shares sm_86's budget; one configuration of each kind.
  g.push_back({512, 64, 128, 2, 64, true, "sm_89"});
  g.push_back({128, 0, 16, 1, 16, false, "sm_89"});
  // Sliding windows (the tensor-core kernels need tile + q_len at least).
  for (const char *arch : {"sm_80", "sm_90a"}) {
    g.push_back({512, 64, 16, 2, 64, true, arch, 128});
    g.push_back({512, 64, 128, 4, 64, true, arch, 36});
    g.push_back({256, 32, 40, 1, 16, false, arch, 5});
    g.push_back({64, 0, 3, 3, 1, true, arch, 100});
    // Sinks, alone and with a window.
    g.push_back({512, 64, 64, 1, 64, true, arch, 0, true});
    g.push_back({256, 32, 16, 2, 16, false, arch, 64, true});
    // Head caches (GQA/MQA/MHA), head dims 64-256: Llama-3-70B (64 heads on
    // 8), MQA, MHA, 7 heads a KV head with q_len 4, Gemma-2 (d 256), and
    // GPT-OSS's window and sinks.
    auto heads = [&](int64_t d, int64_t h, int64_t kv, int64_t qLen,
                     int64_t bs, bool bf16, int64_t window = 0,
                     bool sinks = false) {
      Config c{d, 0, h, qLen, bs, bf16, arch, window, sinks};
      c.kvHeads = kv;
      g.push_back(c);
    };
    heads(128, 64, 8, 1, 16, true);
    heads(128, 64, 8, 1, 16, false);
    heads(128, 8, 1, 2, 64, true);
    heads(64, 16, 16, 1, 16, true);
    heads(128, 28, 4, 4, 16, true, 128);
    heads(256, 16, 8, 2, 64, true);
    heads(64, 64, 8, 1, 16, true, 128, true);
    heads(96, 12, 4, 3, 1, false);
  }
  // Token indices and fp8 rows (DeepSeek-V3.2's 512/64 with groups of 128
  // and others), alone and together, on every architecture.
  for (const char *arch : {"sm_80", "sm_90a", "sm_86"}) {
    auto variant = [&](int64_t dc, int64_t dr, int64_t h, int64_t qLen,
                       int64_t bs, bool bf16, int64_t topk, int64_t group) {
      Config c{dc, dr, h, qLen, bs, bf16, arch};
      c.topk = topk;
      c.scaleGroup = group;
      g.push_back(c);
    };
    variant(512, 64, 128, 1, 64, true, 2048, 0);
    variant(512, 64, 128, 1, 64, true, 2048, 128);
    variant(512, 64, 64, 2, 64, true, 0, 128);
    variant(512, 64, 16, 4, 1, true, 64, 0);
    variant(256, 32, 40, 3, 16, true, 100, 64);
    variant(128, 0, 3, 2, 16, true, 0, 16);
    variant(64, 32, 1, 1, 5, true, 37, 32);
    variant(512, 64, 128, 2, 64, false, 256, 128);
    variant(128, 32, 16, 3, 16, false, 0, 32);
    variant(64, 0, 40, 1, 1, false, 9, 0);
    // e4m3 codes with one scale (rope included), dense and sparse.
    for (Config c :
         {Config{512, 64, 128, 1, 64, true, arch},
          Config{512, 64, 16, 2, 16, true, arch},
          Config{256, 32, 40, 3, 16, false, arch},
          Config{512, 64, 64, 1, 64, true, arch, 0, false, 0, 2048}}) {
      c.fp8Tensor = true;
      g.push_back(c);
    }
  }
  // f16 storage: mma.sync, wgmma, and fp8 rows with token indices
  // dequantized to f16.
  for (const char *arch : {"sm_80", "sm_90a"}) {
    for (Config c : {Config{512, 64, 16, 2, 64, true, arch},
                     Config{256, 32, 40, 3, 16, true, arch, 100}}) {
      c.f16 = true;
      g.push_back(c);
    }
    Config c{512, 64, 128, 1, 64, true, arch};
    c.f16 = true;
    c.topk = 128;
    c.scaleGroup = 128;
    g.push_back(c);
    Config t{512, 64, 16, 1, 64, true, arch};
    t.f16 = true;
    t.fp8Tensor = true;
    g.push_back(t);
  }
  return g;
}

INSTANTIATE_TEST_SUITE_P(Grid, GPUAssembleTest, ::testing::ValuesIn(grid()),
                         [](const auto &info) { return info.param.name(); });

} // namespace
