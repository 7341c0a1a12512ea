//===- CudaBench.cpp - mla-bench --target=cuda -------------------*- C++ -*-===//
//
// The GPU kernels mla-codegen generates (--target=sm_90a on compute
// capability 9.x, sm_80 below), on FlashMLA's grid: batch 128, seq_len
// 4096 and 8192, heads 16, 32, 64, 128, q_len 1 and 2, bf16, page 64, with
// shuffled pages. Each configuration is first checked against the double
// reference on its first sequence; then the median time of the timed
// launches (CUDA events) gives TFLOP/s (DESIGN's count), cache GB/s and the
// ratios to the H100 SXM peaks (3.35 TB/s, 989 dense bf16 TFLOP/s) and to
// the device-to-device copy bandwidth measured in the same run. Where
// PyTorch with CUDA is importable, tools/mla-bench/torch_mla.py runs the
// same math (gather, two matmuls, softmax) and the generated kernel (through
// ctypes) on the same torch tensors, stream and process, checks the kernel
// against PyTorch and times both; their ratio is printed.
//
//===----------------------------------------------------------------------===//

#include "CudaBench.h"
#include "CudaDriver.h"

#include "mla/Reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

namespace {

using KernelFn = int32_t (*)(const void *, const void *, const int32_t *,
                             const int32_t *, void *, float *, int32_t,
                             int32_t, float, void *);

constexpr double kH100Bandwidth = 3.35e12;  // bytes/s, H100 SXM
constexpr double kH100BF16Flops = 989e12;   // dense bf16, H100 SXM
constexpr int64_t kDc = 512, kDr = 64, kBlock = 64;

struct CudaOptions {
  std::vector<int64_t> batch{128}, seqLen{4096, 8192}, heads{16, 32, 64, 128},
      qLen{1, 2};
  int reps = 20;
  std::string codegen, workDir = "/tmp/mla-bench-cuda", torch;
};

std::vector<int64_t> parseList(const std::string &s) {
  std::vector<int64_t> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t comma = s.find(',', pos);
    out.push_back(std::atoll(s.substr(pos, comma - pos).c_str()));
    pos = comma == std::string::npos ? s.size() : comma + 1;
  }
  return out;
}

/// Device-to-device copy bandwidth (bytes read + written per second).
double copyBandwidth(const mla::CudaDriver &cu) {
  size_t bytes = size_t(1) << 30;
  mla::CudaDriver::DevPtr a, b;
  if (cu.memAlloc(&a, bytes) || cu.memAlloc(&b, bytes))
    return 0;
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

/// What torch_mla.py measured in one Python process: PyTorch's and the
/// generated kernel's median milliseconds on the same tensors and stream,
/// and the kernel's max |err| against PyTorch (negative when unavailable).
struct TorchRun {
  double torchMs = -1, kernelMs = -1, err = -1;
};
TorchRun runTorch(const CudaOptions &o, int64_t b, int64_t l, int64_t h,
                  int64_t q, const std::string &lib, const std::string &name) {
  TorchRun run;
  if (o.torch.empty())
    return run;
  std::string cmd = "python3 " + o.torch + " --batch " + std::to_string(b) +
                    " --seq-len " + std::to_string(l) + " --heads " +
                    std::to_string(h) + " --q-len " + std::to_string(q) +
                    " --reps " + std::to_string(o.reps) + " --kernel-lib " +
                    lib + " --kernel-name " + name + " 2>/dev/null";
  std::FILE *p = popen(cmd.c_str(), "r");
  if (!p)
    return run;
  if (std::fscanf(p, "%lf %lf %lf", &run.torchMs, &run.kernelMs, &run.err) !=
      3)
    run = TorchRun();
  pclose(p);
  return run;
}

uint64_t next(uint64_t &s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

/// Random bf16 values in [-1, 1), fast enough for gigabytes.
void fillBF16(std::vector<uint16_t> &v, uint64_t seed) {
  uint64_t s = seed | 1;
  for (uint16_t &x : v) {
    float f = float(next(s) >> 40) / float(1 << 24) * 2.0f - 1.0f;
    x = mla::ref::floatToBF16(f);
  }
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
    if (const char *v = value("--batch"))
      o.batch = parseList(v);
    else if (const char *v = value("--seq-len"))
      o.seqLen = parseList(v);
    else if (const char *v = value("--heads"))
      o.heads = parseList(v);
    else if (const char *v = value("--q-len"))
      o.qLen = parseList(v);
    else if (const char *v = value("--reps"))
      o.reps = std::max(1, std::atoi(v));
    else if (const char *v = value("--codegen"))
      o.codegen = v;
    else if (const char *v = value("--work-dir"))
      o.workDir = v;
    else if (a.rfind("--target=", 0) != 0) {
      std::fprintf(stderr, "mla-bench --target=cuda: unknown option %s\n",
                   a.c_str());
      return 2;
    }
  }
  if (o.codegen.empty()) {
    std::string self = argv[0];
    o.codegen = self.substr(0, self.rfind('/') + 1) + "mla-codegen";
  }
  std::string why;
  const CudaDriver *cu = CudaDriver::get(why);
  if (!cu) {
    std::printf("mla-bench --target=cuda: not available (%s); nothing "
                "measured\n",
                why.c_str());
    return 0;
  }
  // 8.6 / 8.7 / 8.9 have 99 KB of shared memory a CTA: their own kernels.
  std::string arch = cu->major >= 9 ? "sm_90a"
                     : cu->minor == 0 ? "sm_80"
                                      : "sm_86";
  double copyBW = copyBandwidth(*cu);
  std::string torchScript = std::string(MLA_BENCH_SOURCE_DIR) + "/torch_mla.py";
  if (std::system("python3 -c 'import torch; assert torch.cuda.is_available()' "
                  ">/dev/null 2>&1") == 0)
    o.torch = torchScript;
  std::printf("mla-bench --target=cuda: %s (sm_%d%d, %d SMs), kernels for %s\n"
              "  device-to-device copy: %.0f GB/s; H100 SXM peaks: %.2f TB/s, "
              "%.0f bf16 TFLOP/s\n  PyTorch: %s\n\n",
              cu->name.c_str(), cu->major, cu->minor, cu->sms, arch.c_str(),
              copyBW / 1e9, kH100Bandwidth / 1e12, kH100BF16Flops / 1e12,
              o.torch.empty() ? "not available" : "torch_mla.py");
  std::printf("%-5s %5s %7s %5s %5s %9s %9s %8s %7s %7s %7s %9s %8s\n",
              "dtype", "batch", "seq_len", "heads", "q_len", "ms",
              "TFLOP/s", "GB/s", "%BW", "%TFLOP", "%copy", "vs torch",
              "max err");
  int failures = 0;
  for (int64_t h : o.heads)
    for (int64_t q : o.qLen) {
      std::string name = "cuda_h" + std::to_string(h) + "_q" + std::to_string(q);
      std::string dir = o.workDir + "/" + name;
      std::string cmd = o.codegen + " --target=" + arch +
                        " --num-heads=" + std::to_string(h) +
                        " --kv-lora-rank=512 --qk-rope-head-dim=64 --q-len=" +
                        std::to_string(q) + " --block-size=64 --dtype=bf16 "
                        "--name=" + name + " -o " + dir + " >" + dir +
                        ".log 2>&1";
      std::system(("mkdir -p " + o.workDir).c_str());
      if (std::system(cmd.c_str()) != 0) {
        std::printf("  %s: mla-codegen failed, see %s.log\n", name.c_str(),
                    dir.c_str());
        ++failures;
        continue;
      }
      void *lib = dlopen((dir + "/lib" + name + ".so").c_str(), RTLD_NOW);
      auto fn = lib ? reinterpret_cast<KernelFn>(dlsym(lib, name.c_str()))
                    : nullptr;
      if (!fn) {
        std::printf("  %s: cannot load the kernel\n", name.c_str());
        ++failures;
        continue;
      }
      for (int64_t b : o.batch)
        for (int64_t l : o.seqLen) {
          const int64_t width = kDc + kDr, pages = (l + kBlock - 1) / kBlock;
          std::vector<uint16_t> qh(size_t(b) * q * h * width),
              kvh(size_t(b) * pages * kBlock * width);
          fillBF16(qh, 1 + h);
          fillBF16(kvh, 2 + l);
          std::vector<int32_t> table(b * pages), lens(b, int32_t(l));
          std::iota(table.begin(), table.end(), 0);
          std::mt19937 rng(7);
          std::shuffle(table.begin(), table.end(), rng);
          CudaDriver::DevPtr dq, dkv, dbt, dlens, dout, dlse;
          size_t outN = size_t(b) * q * h * kDc, lseN = size_t(b) * h * q;
          if (cu->memAlloc(&dq, qh.size() * 2) ||
              cu->memAlloc(&dkv, kvh.size() * 2) ||
              cu->memAlloc(&dbt, table.size() * 4) ||
              cu->memAlloc(&dlens, lens.size() * 4) ||
              cu->memAlloc(&dout, outN * 2) || cu->memAlloc(&dlse, lseN * 4)) {
            std::printf("  out of device memory\n");
            return 1;
          }
          cu->memcpyHtoD(dq, qh.data(), qh.size() * 2);
          cu->memcpyHtoD(dkv, kvh.data(), kvh.size() * 2);
          cu->memcpyHtoD(dbt, table.data(), table.size() * 4);
          cu->memcpyHtoD(dlens, lens.data(), lens.size() * 4);
          auto ptr = [](CudaDriver::DevPtr p) { return (void *)(uintptr_t)p; };
          float scale = 1.0f / std::sqrt(float(width));
          auto launch = [&](int32_t batch) {
            return fn(ptr(dq), ptr(dkv), (const int32_t *)ptr(dbt),
                      (const int32_t *)ptr(dlens), ptr(dout),
                      (float *)ptr(dlse), batch, int32_t(pages), scale,
                      nullptr);
          };
          // Check the first sequence against the double reference.
          double err = INFINITY;
          if (launch(1) == 0 && cu->ctxSynchronize() == 0) {
            std::vector<uint16_t> outh(size_t(q) * h * kDc);
            cu->memcpyDtoH(outh.data(), dout, outh.size() * 2);
            // The first sequence's pages, compacted, under an identity table.
            std::vector<float> qf(size_t(q) * h * width),
                kvf(size_t(pages) * kBlock * width);
            for (size_t i = 0; i < qf.size(); ++i)
              qf[i] = ref::bf16ToFloat(qh[i]);
            std::vector<int32_t> identity(pages);
            std::iota(identity.begin(), identity.end(), 0);
            const size_t pageElems = size_t(kBlock) * width;
            for (int64_t p = 0; p < pages; ++p)
              for (size_t e = 0; e < pageElems; ++e)
                kvf[p * pageElems + e] =
                    ref::bf16ToFloat(kvh[size_t(table[p]) * pageElems + e]);
            ref::DecodeShape shape{h, kDc, kDr, q, kBlock, true};
            std::vector<double> ro(outh.size()), rl(size_t(h) * q);
            ref::decodeAttention(shape, qf.data(), kvf.data(), identity.data(),
                                 lens.data(), 1, pages, scale, ro.data(),
                                 rl.data());
            err = 0;
            for (size_t i = 0; i < ro.size(); ++i)
              err = std::max(err, std::abs(ref::bf16ToFloat(outh[i]) - ro[i]));
          }
          bool ok = err <= 5e-2;
          double ms = NAN;
          if (ok) {
            void *start, *stop;
            cu->eventCreate(&start, 0);
            cu->eventCreate(&stop, 0);
            launch(int32_t(b));
            std::vector<double> times;
            for (int r = 0; r < o.reps; ++r) {
              cu->eventRecord(start, nullptr);
              launch(int32_t(b));
              cu->eventRecord(stop, nullptr);
              cu->eventSynchronize(stop);
              float t = 0;
              cu->eventElapsedTime(&t, start, stop);
              times.push_back(t);
            }
            std::sort(times.begin(), times.end());
            ms = times[times.size() / 2];
          } else {
            ++failures;
          }
          for (CudaDriver::DevPtr p : {dq, dkv, dbt, dlens, dout, dlse})
            cu->memFree(p);
          double flops = 2.0 * b * q * h * double(l) * (kDc + kDr + kDc);
          double bytes = double(b) * l * width * 2;
          double tf = flops / (ms * 1e-3), bw = bytes / (ms * 1e-3);
          // PyTorch against the kernel, both timed in the Python process.
          TorchRun tr = ok ? runTorch(o, b, l, h, q,
                                      dir + "/lib" + name + ".so", name)
                           : TorchRun();
          char vsTorch[32] = "-";
          if (tr.torchMs > 0 && tr.kernelMs > 0 && tr.err >= 0 && tr.err < 5e-2)
            std::snprintf(vsTorch, sizeof(vsTorch), "%.2fx",
                          tr.torchMs / tr.kernelMs);
          else if (tr.torchMs > 0)
            std::snprintf(vsTorch, sizeof(vsTorch), "err %.0e", tr.err);
          if (ok)
            std::printf("%-5s %5lld %7lld %5lld %5lld %9.3f %9.1f %8.0f %6.1f%% "
                        "%6.1f%% %6.1f%% %9s %8.1e\n",
                        "bf16", (long long)b, (long long)l, (long long)h,
                        (long long)q, ms, tf / 1e12, bw / 1e9,
                        100 * bw / kH100Bandwidth, 100 * tf / kH100BF16Flops,
                        copyBW > 0 ? 100 * bw / copyBW : 0.0, vsTorch, err);
          else
            std::printf("%-5s %5lld %7lld %5lld %5lld   FAIL: max |err| %.1e "
                        "vs the double reference (tolerance 5e-2)\n",
                        "bf16", (long long)b, (long long)l, (long long)h,
                        (long long)q, err);
        }
    }
  return failures ? 1 : 0;
}
