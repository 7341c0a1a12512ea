//===- KernelLoader.h - Generate and dlopen decode kernels ------*- C++ -*-===//
//
// Runs `mla-codegen --target=cpu ...` once per kernel configuration and
// loads the shared library it writes, or loads one library generated
// beforehand (--kernel-lib). Failures are values, not aborts: the bench
// still reports the baselines when no kernel can be had.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_BENCH_KERNELLOADER_H
#define MLA_BENCH_KERNELLOADER_H

#include "Problem.h"

#include <cstdint>
#include <map>
#include <memory>
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
  int64_t window = 0; // mla-codegen --window; 0: none
  int64_t kvHeads = 0; // --num-kv-heads (head dim dc); 0: a latent cache
  int64_t topk = 0;    // --topk (sparse decode); 0: pages
  bool fp8 = false;    // --cache-scales=row_groups
  bool fp8Tensor = false; // --cache-scales=per_tensor

  static KernelConfig forShape(const AttentionShape &shape, ElemType type);
  /// A C identifier unique to the configuration, used as --name.
  std::string symbolName() const;
  bool operator==(const KernelConfig &other) const;
  /// "H=16 dc=512 dr=64 q_len=1 block_size=64 bf16".
  std::string describe() const;
};

/// A loaded kernel, or the reason there is none.
struct LoadedKernel {
  DecodeAttentionFn fn = nullptr;
  std::string error;
  std::string libraryPath;
  std::string symbol;
  explicit operator bool() const { return fn != nullptr; }
};

class KernelLoader {
public:
  /// Generates kernels with \p codegenPath into \p workDir.
  KernelLoader(std::string codegenPath, std::string workDir);
  /// Never generates: every configuration gets \p symbol from the library at
  /// \p libraryPath, which must have been generated for \p config (the only
  /// configuration get() then accepts). When the header mla-codegen writes
  /// beside it (DIR/SYMBOL.h) is there, its #defines are checked against
  /// \p config and a mismatch is an error, not a crash or wrong numbers.
  static std::unique_ptr<KernelLoader> prebuilt(const std::string &libraryPath,
                                                const std::string &symbol,
                                                const KernelConfig &config);
  ~KernelLoader();
  KernelLoader(const KernelLoader &) = delete;
  KernelLoader &operator=(const KernelLoader &) = delete;

  /// Generates and loads the kernel for \p config on first use; later calls
  /// return the same result (including a failure, which is not retried).
  /// A prebuilt loader returns its library's kernel, or an error when
  /// \p config is not the one it was created for.
  const LoadedKernel &get(const KernelConfig &config);

  /// The mla-codegen next to the running executable.
  static std::string defaultCodegenPath();

private:
  LoadedKernel generateAndLoad(const KernelConfig &config);
  /// dlopens \p libraryPath and looks up \p symbol.
  LoadedKernel load(const std::string &libraryPath, const std::string &symbol);

  bool isPrebuilt = false;
  KernelConfig prebuiltConfig{};
  LoadedKernel prebuiltKernel, mismatch;

  std::string codegenPath;
  std::string workDir;
  std::map<std::string, LoadedKernel> kernels;
  std::vector<void *> handles;
};

} // namespace bench
} // namespace mla

#endif // MLA_BENCH_KERNELLOADER_H
