//===- Baselines.h - Reference decode-attention implementations -*- C++ -*-===//
//
// The two baselines the generated kernel is compared with: a straightforward
// OpenMP loop nest, and what a C++ user would write by hand around BLAS.
// Both follow the kernel contract exactly (layouts, causal rule, lse, empty
// rows) so that they double as references for verification.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_BENCH_BASELINES_H
#define MLA_BENCH_BASELINES_H

#include "Problem.h"

#include <string>
#include <vector>

namespace mla {
namespace bench {

/// Per (sequence, head), in parallel with OpenMP: scores over the visible
/// tokens, softmax, weighted sum of the latent rows.
void runNaive(const AttentionInputs &in, AttentionOutputs &outputs);

/// Per sequence: gather its pages into a contiguous f32 matrix K, then
/// S = Q K^T (sgemm), scale/mask/softmax per row, O = P K[:, :dc] (sgemm).
/// Threads are OpenBLAS's own (see setBlasThreads).
class OpenBlasAttention {
public:
  /// Allocates (and touches) the workspace for \p shape up front so that
  /// timed calls do not pay for page faults.
  explicit OpenBlasAttention(const AttentionShape &shape);
  void run(const AttentionInputs &in, AttentionOutputs &outputs);

private:
  template <typename T>
  void runTyped(const AttentionInputs &in, T *out, float *lse);

  int64_t maxSeqLen;
  std::vector<float> keys;    // [maxSeqLen, dc + dr]
  std::vector<float> queries; // [qLen * H, dc + dr], for bf16 inputs
  std::vector<float> scores;  // [qLen * H, maxSeqLen]
  std::vector<float> values;  // [qLen * H, dc], for bf16 outputs
};

void setBlasThreads(int numThreads);
/// OpenBLAS's build description (version, kernel, threading).
std::string blasDescription();

} // namespace bench
} // namespace mla

#endif // MLA_BENCH_BASELINES_H
