//===- Problem.h - Decode-attention problem for mla-bench -------*- C++ -*-===//
//
// Shapes, element types and buffers of one decode-attention call in the
// layouts of the kernel contract (DESIGN.md, "Kernel contract"). Everything
// the implementations share lives here so that they all read the same bytes.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_BENCH_PROBLEM_H
#define MLA_BENCH_PROBLEM_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace mla {
namespace bench {

enum class ElemType { F32, BF16 };

inline size_t elemSize(ElemType type) { return type == ElemType::F32 ? 4 : 2; }
inline const char *elemTypeName(ElemType type) {
  return type == ElemType::F32 ? "f32" : "bf16";
}

inline float bf16ToFloat(uint16_t value) {
  uint32_t bits = uint32_t(value) << 16;
  float result;
  std::memcpy(&result, &bits, sizeof(result));
  return result;
}

/// Round to nearest even, as hardware conversions and PyTorch do.
inline uint16_t floatToBf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((bits >> 16) | 0x40); // Keep NaN a (quiet) NaN.
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return uint16_t(bits >> 16);
}

/// Loads one element of q/kv_cache/out as f32.
inline float loadElem(const float *ptr, size_t index) { return ptr[index]; }
inline float loadElem(const uint16_t *ptr, size_t index) {
  return bf16ToFloat(ptr[index]);
}
inline void storeElem(float *ptr, size_t index, float value) {
  ptr[index] = value;
}
inline void storeElem(uint16_t *ptr, size_t index, float value) {
  ptr[index] = floatToBf16(value);
}

/// The dimensions of one benchmarked call. All sequences have seqLen tokens
/// unless `lens` gives each its own.
struct AttentionShape {
  int64_t batch = 1;
  int64_t qLen = 1;
  int64_t numHeads = 16;
  int64_t dc = 512;
  int64_t dr = 64;
  int64_t blockSize = 64;
  int64_t seqLen = 1024;
  /// Each sequence's tokens where they vary (mla-bench --var-len; seqLen is
  /// then their mean as asked for); empty: seqLen each.
  std::vector<int32_t> lens;
  /// A sliding window of positions (mla-codegen --window); 0: none.
  int64_t window = 0;
  /// Head caches (GQA/MQA/MHA): KV heads of separate key and value caches
  /// [numBlocks, blockSize, kvHeads, dc] (dc the head dim, dr 0); 0: a
  /// latent cache.
  int64_t kvHeads = 0;
  /// Sparse decode (mla-codegen --topk): each query attends to topk rows
  /// that its index row names, out of a cache of seqLen tokens a sequence;
  /// 0: every position.
  int64_t topk = 0;
  /// fp8 rows with a scale a group of 128 values (mla-codegen
  /// --cache-scales=row_groups; FlashMLA's 656-byte row at 512/64).
  bool fp8 = false;
  /// e4m3 codes with one scale (mla-codegen --cache-scales=per_tensor): a
  /// byte a value, rope included.
  bool fp8Tensor = false;

  int64_t headDim() const { return dc + dr; }
  /// Bytes of one cache row as stored.
  double rowBytes(ElemType type) const {
    return fp8         ? double(dc + 4 * (dc / 128) + 2 * dr)
           : fp8Tensor ? double(headDim())
                       : double(headDim()) * double(elemSize(type));
  }
  bool causal() const { return qLen > 1; }
  /// The first position query \p i of a sequence of \p len tokens sees.
  int64_t firstVisible(int64_t len, int64_t i) const {
    return window ? std::max<int64_t>(0, len - qLen + i - window + 1) : 0;
  }
  /// The tokens of a sequence that some query sees: all of them, or from
  /// the first query's window start on.
  int64_t seenTokens() const { return seqLen - firstVisible(seqLen, 0); }
  /// The seen tokens of all sequences together.
  double seenTotal() const {
    if (lens.empty())
      return double(batch) * double(seenTokens());
    double total = 0;
    for (int32_t len : lens)
      total += double(len - firstVisible(len, 0));
    return total;
  }
  int64_t longest() const {
    return lens.empty() ? seqLen : *std::max_element(lens.begin(), lens.end());
  }
  int64_t maxBlocksPerSeq() const {
    return (longest() + blockSize - 1) / blockSize;
  }
  int64_t numBlocks() const { return batch * maxBlocksPerSeq(); }
  int64_t qElems() const { return batch * qLen * numHeads * headDim(); }
  int64_t cacheElems() const { return numBlocks() * blockSize * headDim(); }
  int64_t outElems() const { return batch * qLen * numHeads * dc; }
  int64_t lseElems() const { return batch * numHeads * qLen; }
  /// The FLOP count of DESIGN.md: QK^T over d_c + d_r, PV over d_c, every
  /// query against every token some query sees (causal masking is not
  /// discounted; a window is).
  double flops() const {
    double tokens = topk ? double(batch) * double(topk) : seenTotal();
    return 2.0 * tokens * double(qLen) * double(numHeads) *
           double(dc + dr + dc);
  }
  /// Bytes of the cache rows that some query sees, read once per call (a
  /// key and a value row of every KV head with head caches).
  double cacheBytes(ElemType type) const {
    // Sparse: the rows gathered, topk for each query token.
    if (topk)
      return double(batch) * double(qLen) * double(topk) * rowBytes(type);
    if (fp8 || fp8Tensor)
      return seenTotal() * rowBytes(type);
    double rows = kvHeads ? 2.0 * double(kvHeads) : 1.0;
    return seenTotal() * rows * double(headDim()) * double(elemSize(type));
  }
};

/// A 64-byte aligned, uninitialised byte buffer.
class AlignedBuffer {
public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { resize(bytes); }
  void resize(size_t bytes);
  void *data() { return storage.get(); }
  const void *data() const { return storage.get(); }
  size_t size() const { return numBytes; }
  template <typename T> T *as() { return static_cast<T *>(data()); }
  template <typename T> const T *as() const {
    return static_cast<const T *>(data());
  }

private:
  struct FreeDeleter {
    void operator()(void *ptr) const;
  };
  std::unique_ptr<void, FreeDeleter> storage;
  size_t numBytes = 0;
};

/// The read-only arguments of one call, generated once per configuration.
struct AttentionInputs {
  AttentionShape shape;
  ElemType type = ElemType::F32;
  float softmaxScale = 1.0f;
  AlignedBuffer q;                 // [batch, qLen, H, dc + dr]
  AlignedBuffer cache;             // [numBlocks, blockSize, dc + dr]
  std::vector<int32_t> blockTable; // [batch, maxBlocksPerSeq], shuffled pages
  std::vector<int32_t> seqLens;    // [batch]

  /// Fills q and the cache with uniform values in [-1, 1) from \p seed and
  /// gives every sequence a random permutation of the pages. Sequences have
  /// shape.lens (or shape.seqLen each) tokens unless \p seqLens (each at
  /// most shape.longest(), one per sequence) says otherwise.
  static AttentionInputs create(const AttentionShape &shape, ElemType type,
                                uint64_t seed,
                                const std::vector<int32_t> &seqLens = {});
};

/// The outputs of one call, with guard bytes after `out` and `lse` so that
/// out-of-bounds writes by a kernel are detected.
class AttentionOutputs {
public:
  AttentionOutputs(const AttentionShape &shape, ElemType type);
  void *out() { return outBuf.data(); }
  float *lse() { return lseBuf.as<float>(); }
  /// Poisons out/lse (NaN) so that unwritten elements fail verification.
  void poison();
  bool guardsIntact() const;
  /// out converted to f32, in [batch, qLen, H, dc] order.
  std::vector<float> outAsFloat() const;
  const float *lse() const { return lseBuf.as<float>(); }
  size_t lseCount() const { return lseElems; }

private:
  static constexpr size_t kGuardBytes = 256;
  ElemType type;
  size_t outElems, lseElems;
  AlignedBuffer outBuf, lseBuf;
};

/// The kernel contract computed in double by the project's reference
/// (mla::ref::decodeAttention, lib/Reference) on the same inputs: bf16 inputs
/// are widened exactly, the scale is the float handed to the kernels.
struct ReferenceOutputs {
  std::vector<double> out; // [batch, qLen, H, dc]
  std::vector<double> lse; // [batch, H, qLen], -inf where nothing is visible
};

/// Runs the reference, one (sequence, head) per call, in parallel over the
/// current OpenMP thread count (it is slow: plain double loops).
ReferenceOutputs computeReference(const AttentionInputs &in);

/// Largest absolute errors of an implementation's outputs against the
/// reference. lse is compared where the reference is finite; where it is
/// -inf (no visible position) the output must be -inf too. NaN, or an
/// infinity where the reference has a finite value, counts as an infinite
/// error.
struct ErrorStats {
  double out = 0.0, lse = 0.0;
  double max() const { return out > lse ? out : lse; }
};
ErrorStats maxAbsError(const AttentionOutputs &outputs,
                       const ReferenceOutputs &reference);

} // namespace bench
} // namespace mla

#endif // MLA_BENCH_PROBLEM_H
