//===- Spec.h - one kernel of a check bundle --------------------*- C++ -*-===//
//
// A bundle's manifest.txt has one line per generated kernel: the phase that
// uses it (check or bench), its name, then the mla-codegen options it was
// generated with and, for the bench, the runner's own --bench-* options.
// The runner reads the kernel's configuration back from those options, so
// the bundle script and the runner cannot disagree about what was built.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_GPU_CHECK_SPEC_H
#define MLA_GPU_CHECK_SPEC_H

#include <cstdint>
#include <string>
#include <vector>

namespace mla::gpucheck {

struct Spec {
  std::string phase, name, target;
  int64_t dc = 0, dr = 0, heads = 0, qLen = 1, blockSize = 16;
  int64_t window = 0, kvHeads = 0;
  /// --topk: token indices (sparse decode) with index rows of topk slots;
  /// 0: pages.
  int64_t topk = 0;
  /// --cache-scales=row_groups --scale-group=G: fp8 rows with group
  /// scales; 0: the cache holds the query's type.
  int64_t scaleGroup = 0;
  /// --cache-scales=per_tensor: e4m3 codes (rope included) with one scale,
  /// which the runner picks (kKvScale); 0: none.
  float kvScale = 0;
  static constexpr float kKvScale = 1.0f / 400;
  /// 16-bit storage: bf16, or f16 with `f16` (both set then).
  bool bf16 = false, f16 = false, causal = true, sinks = false;
  /// --bench-batch, --bench-seq-len: FlashMLA's grid (bench entries).
  std::vector<int64_t> benchBatch, benchSeqLen;

  bool onHost() const { return target == "cpu"; }
  /// The GPU kernels on tensor cores (bf16/f16); they copy 16-byte chunks.
  bool tensorCores() const { return !onHost() && bf16; }
  int64_t width() const { return dc + dr; }
  bool fp8Rows() const { return scaleGroup > 0; }
  bool fp8Tensor() const { return kvScale > 0; }
  /// Bytes of one fp8 row: d_c codes, d_c / G f32 scales, d_r bf16 values.
  int64_t fp8RowBytes() const { return dc + 4 * (dc / scaleGroup) + 2 * dr; }
  /// Elements of one token's row in the key cache (and the value cache).
  int64_t tokenElems() const { return width() * (kvHeads ? kvHeads : 1); }
  std::string splitsEnv() const {
    return onHost() ? "MLA_CPU_NUM_SPLITS" : "MLA_GPU_NUM_SPLITS";
  }
};

/// The items of a comma-separated list (an empty string is one empty item).
std::vector<std::string> splitList(const std::string &s);

/// The spec of one manifest line, or an error naming the bad option.
bool parseSpec(const std::string &line, Spec &spec, std::string &error);

} // namespace mla::gpucheck

#endif // MLA_GPU_CHECK_SPEC_H
