//===- KernelLoader.h - Generate and dlopen decode kernels ------*- C++ -*-===//
//
// Runs `mla-codegen --target=cpu ...` once per kernel configuration and
// loads the shared library it writes. Failures are values, not aborts: the
// bench still reports the baselines when no kernel can be had.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_BENCH_KERNELLOADER_H
#define MLA_BENCH_KERNELLOADER_H

#include "Problem.h"

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace mla {
namespace bench {

/// The C ABI of a generated decode kernel (DESIGN.md, "Kernel contract").
using DecodeAttentionFn = int32_t (*)(const void *q, const void *kvCache,
                                      const int32_t *blockTable,
                                      const int32_t *seqLens, void *out,
                                      float *lse, int32_t batch,
                                      int32_t maxBlocksPerSeq,
                                      float softmaxScale, void *stream);

/// What is fixed when a kernel is generated.
struct KernelConfig {
  int64_t numHeads, dc, dr, qLen, blockSize;
  ElemType type;

  static KernelConfig forShape(const AttentionShape &shape, ElemType type);
  /// A C identifier unique to the configuration, used as --name.
  std::string symbolName() const;
};

/// A loaded kernel, or the reason there is none.
struct LoadedKernel {
  DecodeAttentionFn fn = nullptr;
  std::string error;
  std::string libraryPath;
  explicit operator bool() const { return fn != nullptr; }
};

class KernelLoader {
public:
  KernelLoader(std::string codegenPath, std::string workDir);
  ~KernelLoader();
  KernelLoader(const KernelLoader &) = delete;
  KernelLoader &operator=(const KernelLoader &) = delete;

  /// Generates and loads the kernel for \p config on first use; later calls
  /// return the same result (including a failure, which is not retried).
  const LoadedKernel &get(const KernelConfig &config);

  /// The mla-codegen next to the running executable.
  static std::string defaultCodegenPath();

private:
  LoadedKernel generateAndLoad(const KernelConfig &config);

  std::string codegenPath;
  std::string workDir;
  std::map<std::string, LoadedKernel> kernels;
  std::vector<void *> handles;
};

} // namespace bench
} // namespace mla

#endif // MLA_BENCH_KERNELLOADER_H
