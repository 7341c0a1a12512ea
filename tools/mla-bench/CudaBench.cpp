//===- CudaBench.cpp - mla-bench --target=cuda ------------------*- C++ -*-===//
//
// The GPU kernels mla-codegen generates (--target=sm_90a on compute
// capability 9.x, sm_80 / sm_86 below), on FlashMLA's grid: batch 128,
// seq_len 4096 and 8192 (fixed and variable), heads 16, 32, 64, 128, q_len 1
// and 2, bf16, 512/64, pages of 64. mla-bench generates the kernels into a
// bundle and the GPU runner, mla-gpu-check --phase=bench, measures them (its
// Bench.cpp: the check against the double reference, TFLOP/s, GB/s, the
// copy bandwidth, PyTorch's version on the same tensors), as on a bare GPU
// machine (scripts/gpu-check.sh).
//
//===----------------------------------------------------------------------===//

#include "CudaBench.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace {

struct CudaOptions {
  std::string batch = "128", seqLen = "4096,8192";
  std::vector<std::string> heads{"16", "32", "64", "128"}, qLen{"1", "2"};
  std::string codegen, workDir = "/tmp/mla-bench-cuda";
};

std::vector<std::string> split(const std::string &s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    if (comma == std::string::npos)
      comma = s.size();
    out.push_back(s.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return out;
}

/// A comma-separated list of positive integers.
bool isList(const std::string &s) {
  for (const std::string &x : split(s))
    if (x.empty() || x.find_first_not_of("0123456789") != std::string::npos ||
        std::atoll(x.c_str()) <= 0)
      return false;
  return true;
}

} // namespace

int mla::runCudaBench(int argc, char **argv) {
  CudaOptions o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](const char *name) -> const char * {
      size_t n = std::strlen(name);
      return a.compare(0, n, name) == 0 && a.size() > n && a[n] == '='
                 ? argv[i] + n + 1
                 : nullptr;
    };
    bool ok = true;
    if (const char *v = value("--batch"))
      ok = isList(o.batch = v);
    else if (const char *v = value("--seq-len"))
      ok = isList(o.seqLen = v);
    else if (const char *v = value("--heads"))
      ok = isList(v), o.heads = split(v);
    else if (const char *v = value("--q-len"))
      ok = isList(v), o.qLen = split(v);
    else if (const char *v = value("--codegen"))
      o.codegen = v;
    else if (const char *v = value("--work-dir"))
      o.workDir = v;
    else
      ok = a.rfind("--target=", 0) == 0;
    if (!ok) {
      std::fprintf(stderr, "mla-bench --target=cuda: bad option %s\n",
                   a.c_str());
      return 2;
    }
  }
  std::string self = argv[0];
  std::string binDir = self.substr(0, self.rfind('/') + 1);
  if (o.codegen.empty())
    o.codegen = binDir + "mla-codegen";
  std::string runner = binDir + "mla-gpu-check";
  // The device's target, asked of the runner (this process stays free of
  // CUDA; the runner's children make their own contexts).
  std::string target;
  if (std::FILE *p = popen((runner + " --probe 2>&1").c_str(), "r")) {
    char buf[256] = {0};
    if (std::fgets(buf, sizeof buf, p))
      target = buf;
    int status = pclose(p);
    while (!target.empty() && target.back() == '\n')
      target.pop_back();
    if (status != 0) {
      std::printf("mla-bench --target=cuda: not available (%s); nothing "
                  "measured\n",
                  target.empty() ? "no runner" : target.c_str());
      return 0;
    }
  }
  if (std::system(("mkdir -p " + o.workDir + "/kernels").c_str()) != 0 ||
      std::system(("cp " + std::string(MLA_BENCH_SOURCE_DIR) +
                   "/torch_mla.py " + o.workDir + "/")
                      .c_str()) != 0) {
    std::printf("mla-bench --target=cuda: cannot write %s\n",
                o.workDir.c_str());
    return 1;
  }
  std::ofstream manifest(o.workDir + "/manifest.txt");
  for (const std::string &h : o.heads)
    for (const std::string &q : o.qLen) {
      std::string name = "cuda_h" + h + "_q" + q;
      std::string opts =
          "--target=" + target + " --num-heads=" + h +
          " --kv-lora-rank=512 --qk-rope-head-dim=64 --q-len=" + q +
          " --block-size=64 --dtype=bf16";
      std::string dir = o.workDir + "/kernels/" + name;
      std::string cmd = o.codegen + " " + opts + " --name=" + name + " -o " +
                        dir + " >" + dir + ".log 2>&1";
      if (std::system(cmd.c_str()) != 0) {
        std::printf("mla-bench --target=cuda: mla-codegen failed, see %s.log\n",
                    dir.c_str());
        return 1;
      }
      manifest << "bench " << name << " " << opts
               << " --bench-batch=" << o.batch
               << " --bench-seq-len=" << o.seqLen << "\n";
    }
  manifest.close();
  std::fflush(stdout);
  int status = std::system(
      (runner + " --bundle=" + o.workDir + " --phase=bench").c_str());
  return status == 0 ? 0 : 1;
}
