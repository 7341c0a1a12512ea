//===- KernelABI.h - the C ABI of generated kernels -------------*- C++ -*-===//
//
// The one description of the C ABI that mla-codegen's libraries keep: the
// return codes, the decode kernel's arguments, NAME_num_splits' and the layer
// function's. mla-codegen prints NAME.h, NAME.json and the layer's C wrapper
// from it; the runtimes (libmla_cpu_runtime, libmla_cuda_runtime) return its
// constants. Header-only C++17 without MLIR or LLVM: the runtimes and the
// layer wrapper that mla-codegen compiles include it from PREFIX/include.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_RUNTIME_KERNELABI_H
#define MLA_RUNTIME_KERNELABI_H

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

namespace mla_abi {

/// NAME.json's `abi_version`: raised when a change breaks its readers (a
/// renamed or removed key, a different meaning); new keys keep it.
inline constexpr int kVersion = 1;

/// The functions that can return a code: a bit set.
enum Returner : unsigned {
  kCPUKernel = 1u << 0,
  kGPUKernel = 1u << 1,
  kLayer = 1u << 2,
};

/// Which decode kernels of the targets in a code's `returnedBy` return it.
enum class KernelCondition {
  Always,
  Causal,     // kernels generated causal
  TensorCores // GPU kernels on tensor cores (not the f32 SIMT form)
};

// The return codes: X(enumerator, value, C macro suffix, returned by, the
// kernels' condition, meaning). Nothing is written when a code is nonzero.
// Values are ABI: never renumber one, append new codes.
#define MLA_ABI_RETURN_CODES(X)                                                \
  X(Ok, 0, "OK", kCPUKernel | kGPUKernel | kLayer, Always,                     \
    "success (an empty batch is a successful no-op)")                          \
  X(ErrNullPointer, 1, "ERR_NULL_POINTER", kCPUKernel | kGPUKernel | kLayer,   \
    Always, "a null pointer argument (the layer: also a null weight)")         \
  X(ErrBatch, 2, "ERR_BATCH", kCPUKernel | kGPUKernel | kLayer, Always,        \
    "batch < 0 (GPU: also batch > 65535, the grid's limit)")                   \
  X(ErrMaxBlocks, 3, "ERR_MAX_BLOCKS", kCPUKernel | kGPUKernel | kLayer,       \
    Always,                                                                    \
    "max_blocks_per_seq < 0 (NAME_checked and the layer: also num_blocks < "   \
    "0)")                                                                      \
  X(ErrSeqLen, 4, "ERR_SEQ_LEN", kCPUKernel | kLayer, Always,                  \
    "a seq_len < 0 or above max_blocks_per_seq * block_size")                  \
  X(ErrSeqLenShort, 5, "ERR_SEQ_LEN_SHORT", kLayer, Always,                    \
    "a seq_len < q_len (the layer: its new tokens need positions; the "        \
    "kernels serve such padded slots)")                                        \
  X(ErrScale, 6, "ERR_SCALE", kCPUKernel | kGPUKernel, Always,                 \
    "softmax_scale is not finite (with kv_scale: also kv_scale not finite "    \
    "and positive, or their product not finite)")                              \
  X(ErrBlockId, 7, "ERR_BLOCK_ID", kCPUKernel | kLayer, Always,                \
    "a negative page id in a used slot of block_table (NAME_checked and the "  \
    "layer: also one >= num_blocks)")                                          \
  X(ErrCudaLoad, 8, "ERR_CUDA_LOAD", kGPUKernel, Always,                       \
    "no current CUDA context, or the cubin did not load into it")              \
  X(ErrCudaLaunch, 9, "ERR_CUDA_LAUNCH", kGPUKernel, Always,                   \
    "a device allocation, copy or kernel launch failed")                       \
  X(ErrAlignment, 10, "ERR_ALIGNMENT", kGPUKernel, TensorCores,                \
    "q or kv_cache not 16-byte aligned (tensor-core kernels)")                 \
  X(ErrStream, 11, "ERR_STREAM", kCPUKernel, Always,                           \
    "a non-NULL stream (the CPU kernels run on the calling thread)")           \
  X(ErrAlloc, 12, "ERR_ALLOC", kCPUKernel | kLayer, Always,                    \
    "host memory could not be allocated (the split scratch; the layer's "      \
    "buffers)")

enum ReturnCode : int32_t {
#define MLA_ABI_ENUMERATOR(id, value, name, returners, condition, meaning)     \
  id = value,
  MLA_ABI_RETURN_CODES(MLA_ABI_ENUMERATOR)
#undef MLA_ABI_ENUMERATOR
};

struct ReturnCodeInfo {
  int32_t value;
  const char *name; // the C macro is NAME_<name>
  unsigned returnedBy;
  KernelCondition condition;
  const char *meaning;
};

inline constexpr ReturnCodeInfo kReturnCodes[] = {
#define MLA_ABI_INFO(id, value, name, returners, condition, meaning)           \
  {value, name, returners, KernelCondition::condition, meaning},
    MLA_ABI_RETURN_CODES(MLA_ABI_INFO)
#undef MLA_ABI_INFO
};

/// What decides which codes a library's functions return.
struct Library {
  Returner kernel;  // kCPUKernel or kGPUKernel
  bool causal;      // the kernel is causal
  bool tensorCores; // the GPU kernel runs on tensor cores
  bool layer;       // the library has NAME_layer
};

/// Whether the library's decode kernel can return `c`.
constexpr bool kernelReturns(const ReturnCodeInfo &c, const Library &lib) {
  if (!(c.returnedBy & lib.kernel))
    return false;
  switch (c.condition) {
  case KernelCondition::Always:
    return true;
  case KernelCondition::Causal:
    return lib.causal;
  case KernelCondition::TensorCores:
    return lib.tensorCores;
  }
  return false;
}

/// Whether NAME_layer can return `c`; `kvScale`: a layer whose cache holds
/// e4m3 codes with one scale, whose kv_scale argument is checked.
constexpr bool layerReturns(const ReturnCodeInfo &c, bool kvScale) {
  return (c.returnedBy & kLayer) || (kvScale && c.value == ErrScale);
}

/// Whether any function of the library (kernel or layer) can return `c`.
constexpr bool libraryReturns(const ReturnCodeInfo &c, const Library &lib) {
  return kernelReturns(c, lib) || (lib.layer && (c.returnedBy & kLayer));
}

/// The dimensions that shapes are written in. The fixed ones are options of
/// the generated kernel (or of its dialect file); the others vary per call.
enum class Dim {
  Batch,           // runtime: the `batch` argument
  QLen,            // fixed: new tokens per sequence
  NumHeads,        // fixed: query heads
  KvLoraRank,      // fixed: d_c
  RowWidth,        // fixed: d_c + d_r, one cache row or query row
  BlockSize,       // fixed: tokens per cache page
  NumBlocks,       // runtime: pages in the cache (an argument of the layer)
  MaxBlocksPerSeq, // runtime: the `max_blocks_per_seq` argument
  HiddenSize,      // fixed: the layer's model width
  NumKvHeads,      // fixed: KV heads of head caches (GQA/MQA/MHA)
  HeadDim,         // fixed: the head dim of head caches
  TopK,            // fixed: slots of a query's index row (token indices)
  CacheRowBytes,   // fixed: bytes of an fp8 cache row with its scales
  IndexHeadDim,    // fixed: the DeepSeek Sparse Attention indexer's key width
};

inline constexpr Dim kDims[] = {
    Dim::Batch,         Dim::QLen,        Dim::NumHeads,  Dim::KvLoraRank,
    Dim::RowWidth,      Dim::BlockSize,   Dim::NumBlocks, Dim::MaxBlocksPerSeq,
    Dim::HiddenSize,    Dim::NumKvHeads,  Dim::HeadDim,   Dim::TopK,
    Dim::CacheRowBytes, Dim::IndexHeadDim};

constexpr const char *dimName(Dim d) {
  switch (d) {
  case Dim::Batch:
    return "batch";
  case Dim::QLen:
    return "q_len";
  case Dim::NumHeads:
    return "num_heads";
  case Dim::KvLoraRank:
    return "kv_lora_rank";
  case Dim::RowWidth:
    return "row_width";
  case Dim::BlockSize:
    return "block_size";
  case Dim::NumBlocks:
    return "num_blocks";
  case Dim::MaxBlocksPerSeq:
    return "max_blocks_per_seq";
  case Dim::HiddenSize:
    return "hidden_size";
  case Dim::NumKvHeads:
    return "num_kv_heads";
  case Dim::HeadDim:
    return "head_dim";
  case Dim::TopK:
    return "topk";
  case Dim::CacheRowBytes:
    return "cache_row_bytes";
  case Dim::IndexHeadDim:
    return "index_head_dim";
  }
  return "";
}

/// The fixed sizes of one generated library.
struct Sizes {
  int64_t qLen = 0, numHeads = 0, kvLoraRank = 0, ropeDim = 0, blockSize = 0;
  int64_t hiddenSize = 0; // 0 without a layer function
  int64_t numKvHeads = 0; // head caches: KV heads (then kvLoraRank is the
                          // head dim); 0: a latent cache
  int64_t topK = 0;       // token indices: slots of an index row; 0: pages
  int64_t cacheRowBytes = 0; // fp8 rows with group scales: their bytes; 0:
                             // the cache holds the query's element type
  int64_t indexHeadDim = 0;  // a layer with DeepSeek-V3.2's indexer: its
                             // cached key width; 0: no indexer
};

/// The size of `d` in a library with `s`, or -1 for a runtime dimension.
constexpr int64_t fixedSize(Dim d, const Sizes &s) {
  switch (d) {
  case Dim::QLen:
    return s.qLen;
  case Dim::NumHeads:
    return s.numHeads;
  case Dim::KvLoraRank:
    return s.kvLoraRank;
  case Dim::RowWidth:
    return s.kvLoraRank + s.ropeDim;
  case Dim::BlockSize:
    return s.blockSize;
  case Dim::HiddenSize:
    return s.hiddenSize;
  case Dim::NumKvHeads:
    return s.numKvHeads > 0 ? s.numKvHeads : -1;
  case Dim::HeadDim:
    return s.numKvHeads > 0 ? s.kvLoraRank : -1;
  case Dim::TopK:
    return s.topK > 0 ? s.topK : -1;
  case Dim::CacheRowBytes:
    return s.cacheRowBytes > 0 ? s.cacheRowBytes : -1;
  case Dim::IndexHeadDim:
    return s.indexHeadDim > 0 ? s.indexHeadDim : -1;
  case Dim::Batch:
  case Dim::NumBlocks:
  case Dim::MaxBlocksPerSeq:
    return -1;
  }
  return -1;
}

/// What an argument's data are: the kernel's element type (f32, bf16 or f16
/// storage, fixed when generated), f32, i32, or none (a handle).
enum class DType { Elem, F32, I32, U8, None };

constexpr const char *dtypeName(DType t, const char *elemName) {
  switch (t) {
  case DType::Elem:
    return elemName;
  case DType::F32:
    return "f32";
  case DType::I32:
    return "i32";
  case DType::U8:
    return "u8";
  case DType::None:
    return "";
  }
  return "";
}

enum class ArgKind {
  Array,    // a pointer to a row-major, contiguous array of `shape`
  Scalar,   // passed by value
  Handle,   // an opaque pointer (the CUDA stream)
  ArrayList // a pointer to pointers to arrays (the layer's weights)
};
enum class Direction { In, Out, InOut };

constexpr const char *kindName(ArgKind k) {
  switch (k) {
  case ArgKind::Array:
    return "array";
  case ArgKind::Scalar:
    return "scalar";
  case ArgKind::Handle:
    return "handle";
  case ArgKind::ArrayList:
    return "array_list";
  }
  return "";
}

constexpr const char *directionName(Direction d) {
  switch (d) {
  case Direction::In:
    return "in";
  case Direction::Out:
    return "out";
  case Direction::InOut:
    return "inout";
  }
  return "";
}

struct Arg {
  const char *name;
  const char *cType;
  ArgKind kind;
  DType dtype;
  Direction direction;
  int rank; // of `shape`, for arrays
  Dim shape[4];
  const char *meaning;
};

/// An array argument of `dims`, outermost first.
template <typename... Dims>
constexpr Arg array(const char *name, const char *cType, DType dtype,
                    Direction dir, const char *meaning, Dims... dims) {
  static_assert(sizeof...(Dims) >= 1 && sizeof...(Dims) <= 4, "rank 1 to 4");
  return {name,      cType,  ArgKind::Array, dtype, dir, int(sizeof...(Dims)),
          {dims...}, meaning};
}
constexpr Arg scalar(const char *name, const char *cType, DType dtype,
                     const char *meaning) {
  return {name, cType, ArgKind::Scalar, dtype, Direction::In, 0, {}, meaning};
}

/// int32_t NAME(...): the DESIGN's kernel contract, in argument order. On
/// the GPU targets the arrays are device memory.
inline constexpr Arg kKernelArgs[] = {
    array("q", "const void *", DType::Elem, Direction::In,
          "q_lat followed by the rotated q_rope", Dim::Batch, Dim::QLen,
          Dim::NumHeads, Dim::RowWidth),
    array("kv_cache", "const void *", DType::Elem, Direction::In,
          "rows [c_kv ; k_rope], one per token", Dim::NumBlocks, Dim::BlockSize,
          Dim::RowWidth),
    array("block_table", "const int32_t *", DType::I32, Direction::In,
          "page ids of each sequence, in order", Dim::Batch,
          Dim::MaxBlocksPerSeq),
    array("seq_lens", "const int32_t *", DType::I32, Direction::In,
          "tokens in the cache, the new ones included", Dim::Batch),
    array("out", "void *", DType::Elem, Direction::Out, "o_lat", Dim::Batch,
          Dim::QLen, Dim::NumHeads, Dim::KvLoraRank),
    array("lse", "float *", DType::F32, Direction::Out,
          "natural-log sum of exp of the scaled scores, -inf if none",
          Dim::Batch, Dim::NumHeads, Dim::QLen),
    scalar("batch", "int32_t", DType::I32, "sequences in the call"),
    scalar("max_blocks_per_seq", "int32_t", DType::I32,
           "columns of block_table"),
    scalar("softmax_scale", "float", DType::F32,
           "scale of the scores; finite, and small enough that the scaled "
           "scores stay within float's range (rows whose scores overflow "
           "are NaN)"),
    {"stream",
     "void *",
     ArgKind::Handle,
     DType::None,
     Direction::In,
     0,
     {},
     "CUstream on the GPU targets (NULL: the default stream); NULL on the "
     "CPU"},
};

/// int32_t NAME_checked(...) (CPU): NAME with the cache's page count, so that
/// page ids at or beyond it are refused (ERR_BLOCK_ID) before any is read.
inline constexpr Arg kCheckedKernelArgs[] = {
    kKernelArgs[0],
    kKernelArgs[1],
    scalar("num_blocks", "int32_t", DType::I32, "pages in kv_cache"),
    kKernelArgs[2],
    kKernelArgs[3],
    kKernelArgs[4],
    kKernelArgs[5],
    kKernelArgs[6],
    kKernelArgs[7],
    kKernelArgs[8],
    kKernelArgs[9],
};

/// The per-head sink logits of a library generated with sinks; its NAME and
/// NAME_checked take them after seq_lens.
inline constexpr Arg kSinksArg =
    array("sinks", "const float *", DType::F32, Direction::In,
          "per-head logits that join each row's softmax denominator and lse "
          "without a value",
          Dim::NumHeads);

/// int32_t NAME(...) with sinks.
inline constexpr Arg kSinksKernelArgs[] = {
    kKernelArgs[0], kKernelArgs[1], kKernelArgs[2], kKernelArgs[3],
    kSinksArg,      kKernelArgs[4], kKernelArgs[5], kKernelArgs[6],
    kKernelArgs[7], kKernelArgs[8], kKernelArgs[9],
};

/// int32_t NAME_checked(...) with sinks.
inline constexpr Arg kSinksCheckedKernelArgs[] = {
    kCheckedKernelArgs[0], kCheckedKernelArgs[1], kCheckedKernelArgs[2],
    kCheckedKernelArgs[3], kCheckedKernelArgs[4], kSinksArg,
    kCheckedKernelArgs[5], kCheckedKernelArgs[6], kCheckedKernelArgs[7],
    kCheckedKernelArgs[8], kCheckedKernelArgs[9], kCheckedKernelArgs[10],
};

/// A library on head caches (GQA/MQA/MHA) takes queries, keys and values
/// of heads in place of q and kv_cache, and writes heads.
inline constexpr Arg kHeadsQuery =
    array("q", "const void *", DType::Elem, Direction::In, "queries",
          Dim::Batch, Dim::QLen, Dim::NumHeads, Dim::HeadDim);
inline constexpr Arg kKeyCache =
    array("k_cache", "const void *", DType::Elem, Direction::In,
          "keys, one row per token and KV head", Dim::NumBlocks,
          Dim::BlockSize, Dim::NumKvHeads, Dim::HeadDim);
inline constexpr Arg kValueCache =
    array("v_cache", "const void *", DType::Elem, Direction::In,
          "values, one row per token and KV head", Dim::NumBlocks,
          Dim::BlockSize, Dim::NumKvHeads, Dim::HeadDim);
inline constexpr Arg kHeadsOut =
    array("out", "void *", DType::Elem, Direction::Out,
          "attention output of each query head", Dim::Batch, Dim::QLen,
          Dim::NumHeads, Dim::HeadDim);
inline constexpr Arg kHeadsNumBlocks =
    scalar("num_blocks", "int32_t", DType::I32,
           "pages in k_cache (and in v_cache)");

/// int32_t NAME(...) on head caches, without and with sinks.
inline constexpr Arg kHeadsKernelArgs[] = {
    kHeadsQuery,    kKeyCache,      kValueCache,    kKernelArgs[2],
    kKernelArgs[3], kHeadsOut,      kKernelArgs[5], kKernelArgs[6],
    kKernelArgs[7], kKernelArgs[8], kKernelArgs[9],
};
inline constexpr Arg kHeadsSinksKernelArgs[] = {
    kHeadsQuery,    kKeyCache,      kValueCache,    kKernelArgs[2],
    kKernelArgs[3], kSinksArg,      kHeadsOut,      kKernelArgs[5],
    kKernelArgs[6], kKernelArgs[7], kKernelArgs[8], kKernelArgs[9],
};
/// int32_t NAME_checked(...) on head caches, without and with sinks.
inline constexpr Arg kHeadsCheckedKernelArgs[] = {
    kHeadsQuery,    kKeyCache,      kValueCache,    kHeadsNumBlocks,
    kKernelArgs[2], kKernelArgs[3], kHeadsOut,      kKernelArgs[5],
    kKernelArgs[6], kKernelArgs[7], kKernelArgs[8], kKernelArgs[9],
};
inline constexpr Arg kHeadsSinksCheckedKernelArgs[] = {
    kHeadsQuery,    kKeyCache,      kValueCache,    kHeadsNumBlocks,
    kKernelArgs[2], kKernelArgs[3], kSinksArg,      kHeadsOut,
    kKernelArgs[5], kKernelArgs[6], kKernelArgs[7], kKernelArgs[8],
    kKernelArgs[9],
};

/// A library on token indices (sparse decode) takes per-query index rows in
/// place of the block table, the valid slots of each sequence's rows in
/// place of its length, and topk in place of max_blocks_per_seq.
inline constexpr Arg kIndicesArg =
    array("indices", "const int32_t *", DType::I32, Direction::In,
          "cache rows (page * block_size + offset) each query attends to, -1 "
          "for a slot without a token",
          Dim::Batch, Dim::QLen, Dim::TopK);
inline constexpr Arg kIndicesLens =
    array("seq_lens", "const int32_t *", DType::I32, Direction::In,
          "valid slots of each sequence's index rows (0 .. topk); later "
          "slots are not read",
          Dim::Batch);
inline constexpr Arg kIndicesTopK =
    scalar("topk", "int32_t", DType::I32,
           "columns of indices: the topk the library was generated for");

/// int32_t NAME(...) and NAME_checked(...) on token indices, without and
/// with sinks.
inline constexpr Arg kIndicesKernelArgs[] = {
    kKernelArgs[0], kKernelArgs[1], kIndicesArg,    kIndicesLens,
    kKernelArgs[4], kKernelArgs[5], kKernelArgs[6], kIndicesTopK,
    kKernelArgs[8], kKernelArgs[9],
};
inline constexpr Arg kIndicesSinksKernelArgs[] = {
    kKernelArgs[0], kKernelArgs[1], kIndicesArg,    kIndicesLens,
    kSinksArg,      kKernelArgs[4], kKernelArgs[5], kKernelArgs[6],
    kIndicesTopK,   kKernelArgs[8], kKernelArgs[9],
};
inline constexpr Arg kIndicesCheckedKernelArgs[] = {
    kKernelArgs[0], kKernelArgs[1], kCheckedKernelArgs[2],
    kIndicesArg,    kIndicesLens,   kKernelArgs[4],
    kKernelArgs[5], kKernelArgs[6], kIndicesTopK,
    kKernelArgs[8], kKernelArgs[9],
};
inline constexpr Arg kIndicesSinksCheckedKernelArgs[] = {
    kKernelArgs[0], kKernelArgs[1], kCheckedKernelArgs[2],
    kIndicesArg,    kIndicesLens,   kSinksArg,
    kKernelArgs[4], kKernelArgs[5], kKernelArgs[6],
    kIndicesTopK,   kKernelArgs[8], kKernelArgs[9],
};

/// The cache of a library whose rows are fp8 with group scales (the
/// variant's scales = row_groups; FlashMLA's "FP8 with scale" row of 656
/// bytes at 512/64), in place of kv_cache.
inline constexpr Arg kFP8RowsCache =
    array("kv_cache", "const void *", DType::U8, Direction::In,
          "rows of d_c e4m3 values, d_c / scale_group f32 scales (value = "
          "e4m3 * its group's scale), then d_r bf16 rope values",
          Dim::NumBlocks, Dim::BlockSize, Dim::CacheRowBytes);

/// kv_cache of a layer function that keeps fp8 rows (kv_cache_append with
/// scale_group): the new tokens' rows are encoded and written in place.
inline constexpr Arg kFP8RowsLayerCache =
    array("kv_cache", "void *", DType::U8, Direction::InOut,
          "rows of d_c e4m3 values, d_c / scale_group f32 scales (value = "
          "e4m3 * its group's scale), then d_r bf16 rope values; the new "
          "tokens' rows are encoded and written in place",
          Dim::NumBlocks, Dim::BlockSize, Dim::CacheRowBytes);

/// The cache of a library whose cache is fp8 with one scale (the variant's
/// scales = per_tensor), in place of kv_cache, and the scale, which NAME and
/// NAME_checked take after softmax_scale.
inline constexpr Arg kFP8TensorCache =
    array("kv_cache", "const void *", DType::U8, Direction::In,
          "rows [c_kv ; k_rope] of e4m3 codes, one per token (value = e4m3 * "
          "kv_scale)",
          Dim::NumBlocks, Dim::BlockSize, Dim::RowWidth);
inline constexpr Arg kKvScaleArg =
    scalar("kv_scale", "float", DType::F32,
           "the cache's scale: every value is its e4m3 code times kv_scale; "
           "finite and positive");

/// kv_cache of a layer function whose cache holds e4m3 codes with one scale
/// (kv_cache_append and kv_cache_gather with cache_scale), which takes
/// kKvScaleArg after seq_lens: the new tokens' codes are written in place.
inline constexpr Arg kFP8TensorLayerCache =
    array("kv_cache", "void *", DType::U8, Direction::InOut,
          "rows [c_kv ; k_rope] of e4m3 codes (value = e4m3 * kv_scale); the "
          "new tokens' codes (value / kv_scale, nearest even, saturating) are "
          "written in place",
          Dim::NumBlocks, Dim::BlockSize, Dim::RowWidth);

/// A table of arguments, whichever its length.
struct ArgList {
  const Arg *first;
  size_t count;
  template <size_t N>
  constexpr ArgList(const Arg (&args)[N]) : first(args), count(N) {}
  constexpr ArgList(const Arg *first, size_t count)
      : first(first), count(count) {}
  constexpr const Arg *begin() const { return first; }
  constexpr const Arg *end() const { return first + count; }
  constexpr size_t size() const { return count; }
  constexpr const Arg &operator[](size_t i) const { return first[i]; }
};

/// The decode entry's and NAME_checked's arguments of a library with or
/// without sinks, on a latent cache or on head caches, with a block table
/// or token indices.
constexpr ArgList kernelArgs(bool sinks, bool heads = false,
                             bool indices = false) {
  if (indices)
    return sinks ? ArgList(kIndicesSinksKernelArgs)
                 : ArgList(kIndicesKernelArgs);
  if (heads)
    return sinks ? ArgList(kHeadsSinksKernelArgs) : ArgList(kHeadsKernelArgs);
  return sinks ? ArgList(kSinksKernelArgs) : ArgList(kKernelArgs);
}
constexpr ArgList checkedKernelArgs(bool sinks, bool heads = false,
                                    bool indices = false) {
  if (indices)
    return sinks ? ArgList(kIndicesSinksCheckedKernelArgs)
                 : ArgList(kIndicesCheckedKernelArgs);
  if (heads)
    return sinks ? ArgList(kHeadsSinksCheckedKernelArgs)
                 : ArgList(kHeadsCheckedKernelArgs);
  return sinks ? ArgList(kSinksCheckedKernelArgs)
               : ArgList(kCheckedKernelArgs);
}

/// int32_t NAME_num_splits(...): the KV splits a call with these sizes uses
/// (on the CPU, which plans them per sequence, those of a batch whose
/// sequences all have max_seq_len tokens). The last argument is the
/// parallelism the split count aims at.
inline constexpr Arg kNumSplitsArgsCPU[] = {
    scalar("batch", "int32_t", DType::I32, "sequences in the call"),
    scalar("max_seq_len", "int32_t", DType::I32, "the longest seq_len"),
    scalar("threads", "int32_t", DType::I32, "OpenMP threads"),
};
inline constexpr Arg kNumSplitsArgsGPU[] = {
    scalar("batch", "int32_t", DType::I32, "sequences in the call"),
    scalar("max_seq_len", "int32_t", DType::I32, "the longest seq_len"),
    scalar("sms", "int32_t", DType::I32, "streaming multiprocessors"),
};

/// int32_t NAME_layer(...): one decode step of a whole layer (CPU, from a
/// dialect file). `weights` points to the layer's weights in the order that
/// the header and NAME.json list, each of the kernel's element type.
inline constexpr Arg kLayerArgs[] = {
    array("hidden", "const void *", DType::Elem, Direction::In,
          "hidden states of the new tokens", Dim::Batch, Dim::QLen,
          Dim::HiddenSize),
    array("positions", "const int32_t *", DType::I32, Direction::In,
          "RoPE positions of the new tokens", Dim::Batch, Dim::QLen),
    array("kv_cache", "void *", DType::Elem, Direction::InOut,
          "rows [c_kv ; k_rope]; the new tokens' rows are written in place",
          Dim::NumBlocks, Dim::BlockSize, Dim::RowWidth),
    scalar("num_blocks", "int32_t", DType::I32, "pages in kv_cache"),
    array("block_table", "const int32_t *", DType::I32, Direction::In,
          "page ids of each sequence, in order", Dim::Batch,
          Dim::MaxBlocksPerSeq),
    array("seq_lens", "const int32_t *", DType::I32, Direction::In,
          "tokens after this step, the new ones included", Dim::Batch),
    {"weights",
     "const void *const *",
     ArgKind::ArrayList,
     DType::Elem,
     Direction::In,
     0,
     {},
     "the layer's weights, in the listed order"},
    array("out", "void *", DType::Elem, Direction::Out, "the layer's output",
          Dim::Batch, Dim::QLen, Dim::HiddenSize),
    scalar("batch", "int32_t", DType::I32, "sequences in the call"),
    scalar("max_blocks_per_seq", "int32_t", DType::I32,
           "columns of block_table"),
};

/// int32_t NAME_layer(...) of a layer on head caches (GQA/MQA/MHA): the
/// new tokens' keys and values written into k_cache and v_cache in place.
inline constexpr Arg kHeadsLayerArgs[] = {
    kLayerArgs[0],
    kLayerArgs[1],
    array("k_cache", "void *", DType::Elem, Direction::InOut,
          "keys of the KV heads; the new tokens' are written in place",
          Dim::NumBlocks, Dim::BlockSize, Dim::NumKvHeads, Dim::HeadDim),
    array("v_cache", "void *", DType::Elem, Direction::InOut,
          "values of the KV heads; the new tokens' are written in place",
          Dim::NumBlocks, Dim::BlockSize, Dim::NumKvHeads, Dim::HeadDim),
    scalar("num_blocks", "int32_t", DType::I32,
           "pages in k_cache (and in v_cache)"),
    kLayerArgs[4],
    kLayerArgs[5],
    kLayerArgs[6],
    kLayerArgs[7],
    kLayerArgs[8],
    kLayerArgs[9],
};

/// int32_t NAME_layer(...) of a DeepSeek-V3.2 layer (DeepSeek Sparse
/// Attention): its indexer's keys are cached too, in index_cache (pages of
/// the same block table), and attention reads the top-k positions it selects.
inline constexpr Arg kIndexerLayerArgs[] = {
    kLayerArgs[0],
    kLayerArgs[1],
    kLayerArgs[2],
    array("index_cache", "void *", DType::Elem, Direction::InOut,
          "the indexer's keys, rows [k_pass ; k_rope] (layer-normed, RoPE'd); "
          "the new tokens' are written in place",
          Dim::NumBlocks, Dim::BlockSize, Dim::IndexHeadDim),
    scalar("num_blocks", "int32_t", DType::I32,
           "pages in kv_cache (and in index_cache)"),
    kLayerArgs[4],
    kLayerArgs[5],
    kLayerArgs[6],
    kLayerArgs[7],
    kLayerArgs[8],
    kLayerArgs[9],
};

/// The layer function's arguments on a latent cache, on head caches, or on
/// a latent cache and the indexer's key cache.
constexpr ArgList layerArgs(bool heads, bool indexer = false) {
  if (indexer)
    return ArgList(kIndexerLayerArgs);
  return heads ? ArgList(kHeadsLayerArgs) : ArgList(kLayerArgs);
}

template <typename T, size_t N> constexpr size_t size(const T (&)[N]) {
  return N;
}

/// The C functions, as the runtime entries define them and callers load
/// them; checked against the tables below.
using KernelFn = int32_t (*)(const void *, const void *, const int32_t *,
                             const int32_t *, void *, float *, int32_t, int32_t,
                             float, void *);
using CheckedKernelFn = int32_t (*)(const void *, const void *, int32_t,
                                    const int32_t *, const int32_t *, void *,
                                    float *, int32_t, int32_t, float, void *);
using SinksKernelFn = int32_t (*)(const void *, const void *,
                                  const int32_t *, const int32_t *,
                                  const float *, void *, float *, int32_t,
                                  int32_t, float, void *);
using SinksCheckedKernelFn = int32_t (*)(const void *, const void *, int32_t,
                                         const int32_t *, const int32_t *,
                                         const float *, void *, float *,
                                         int32_t, int32_t, float, void *);
using HeadsKernelFn = int32_t (*)(const void *, const void *, const void *,
                                  const int32_t *, const int32_t *, void *,
                                  float *, int32_t, int32_t, float, void *);
using HeadsSinksKernelFn = int32_t (*)(const void *, const void *,
                                       const void *, const int32_t *,
                                       const int32_t *, const float *, void *,
                                       float *, int32_t, int32_t, float,
                                       void *);
using HeadsCheckedKernelFn = int32_t (*)(const void *, const void *,
                                         const void *, int32_t,
                                         const int32_t *, const int32_t *,
                                         void *, float *, int32_t, int32_t,
                                         float, void *);
using HeadsSinksCheckedKernelFn = int32_t (*)(
    const void *, const void *, const void *, int32_t, const int32_t *,
    const int32_t *, const float *, void *, float *, int32_t, int32_t, float,
    void *);
/// NAME and NAME_checked of a latent cache of e4m3 codes with one scale
/// (kernelArgs with kKvScaleArg after softmax_scale), without and with
/// sinks; the same on token indices.
using ScaledKernelFn = int32_t (*)(const void *, const void *, const int32_t *,
                                   const int32_t *, void *, float *, int32_t,
                                   int32_t, float, float, void *);
using ScaledCheckedKernelFn = int32_t (*)(const void *, const void *, int32_t,
                                          const int32_t *, const int32_t *,
                                          void *, float *, int32_t, int32_t,
                                          float, float, void *);
using ScaledSinksKernelFn = int32_t (*)(const void *, const void *,
                                        const int32_t *, const int32_t *,
                                        const float *, void *, float *, int32_t,
                                        int32_t, float, float, void *);
using ScaledSinksCheckedKernelFn = int32_t (*)(const void *, const void *,
                                               int32_t, const int32_t *,
                                               const int32_t *, const float *,
                                               void *, float *, int32_t,
                                               int32_t, float, float, void *);
/// The runtimes' decode entries: HeadsSinks*Fn with the cache's fp8 scale
/// after softmax_scale (1 for a library without).
using RuntimeKernelFn = int32_t (*)(const void *, const void *, const void *,
                                    const int32_t *, const int32_t *,
                                    const float *, void *, float *, int32_t,
                                    int32_t, float, float, void *);
using RuntimeCheckedKernelFn = int32_t (*)(const void *, const void *,
                                           const void *, int32_t,
                                           const int32_t *, const int32_t *,
                                           const float *, void *, float *,
                                           int32_t, int32_t, float, float,
                                           void *);
using NumSplitsFn = int32_t (*)(int32_t, int32_t, int32_t);
using LayerFn = int32_t (*)(const void *, const int32_t *, void *, int32_t,
                            const int32_t *, const int32_t *,
                            const void *const *, void *, int32_t, int32_t);
using HeadsLayerFn = int32_t (*)(const void *, const int32_t *, void *, void *,
                                 int32_t, const int32_t *, const int32_t *,
                                 const void *const *, void *, int32_t,
                                 int32_t);
using IndexerLayerFn = HeadsLayerFn; // kv_cache and index_cache
/// NAME_layer of a cache of e4m3 codes with one scale: kv_scale after
/// seq_lens (a latent cache; with the indexer's key cache).
using ScaledLayerFn = int32_t (*)(const void *, const int32_t *, void *,
                                  int32_t, const int32_t *, const int32_t *,
                                  float, const void *const *, void *, int32_t,
                                  int32_t);
using ScaledIndexerLayerFn = int32_t (*)(const void *, const int32_t *, void *,
                                         void *, int32_t, const int32_t *,
                                         const int32_t *, float,
                                         const void *const *, void *, int32_t,
                                         int32_t);

namespace detail {
template <typename T> struct CType;
#define MLA_ABI_CTYPE(type)                                                    \
  template <> struct CType<type> { static constexpr const char *name = #type; };
MLA_ABI_CTYPE(int32_t)
MLA_ABI_CTYPE(float)
MLA_ABI_CTYPE(void *)
MLA_ABI_CTYPE(float *)
#undef MLA_ABI_CTYPE
// Spelled as the tables spell them (the macro would write `const void*`).
template <> struct CType<const void *> {
  static constexpr const char *name = "const void *";
};
template <> struct CType<const int32_t *> {
  static constexpr const char *name = "const int32_t *";
};
template <> struct CType<const float *> {
  static constexpr const char *name = "const float *";
};
template <> struct CType<const void *const *> {
  static constexpr const char *name = "const void *const *";
};

constexpr bool equal(const char *a, const char *b) {
  while (*a && *a == *b)
    ++a, ++b;
  return *a == *b;
}

/// Whether `args` lists the parameters of the function type `Fn`, in order,
/// with the same C types.
template <typename R, typename... Params, size_t N>
constexpr bool describes(R (*)(Params...), const Arg (&args)[N]) {
  if (sizeof...(Params) != N)
    return false;
  const char *types[] = {CType<Params>::name...};
  for (size_t i = 0; i < N; ++i)
    if (!equal(types[i], args[i].cType))
      return false;
  return true;
}
} // namespace detail

static_assert(detail::describes(KernelFn(), kKernelArgs),
              "kKernelArgs must describe KernelFn");
static_assert(detail::describes(CheckedKernelFn(), kCheckedKernelArgs),
              "kCheckedKernelArgs must describe CheckedKernelFn");
static_assert(detail::describes(SinksKernelFn(), kSinksKernelArgs) &&
                  detail::describes(SinksCheckedKernelFn(),
                                    kSinksCheckedKernelArgs),
              "kSinks*Args must describe Sinks*Fn");
static_assert(detail::describes(HeadsKernelFn(), kHeadsKernelArgs) &&
                  detail::describes(HeadsSinksKernelFn(),
                                    kHeadsSinksKernelArgs) &&
                  detail::describes(HeadsCheckedKernelFn(),
                                    kHeadsCheckedKernelArgs) &&
                  detail::describes(HeadsSinksCheckedKernelFn(),
                                    kHeadsSinksCheckedKernelArgs),
              "kHeads*Args must describe Heads*Fn");
static_assert(detail::describes(KernelFn(), kIndicesKernelArgs) &&
                  detail::describes(SinksKernelFn(),
                                    kIndicesSinksKernelArgs) &&
                  detail::describes(CheckedKernelFn(),
                                    kIndicesCheckedKernelArgs) &&
                  detail::describes(SinksCheckedKernelFn(),
                                    kIndicesSinksCheckedKernelArgs),
              "kIndices*Args must describe the latent cache's *KernelFn");
static_assert(detail::describes(NumSplitsFn(), kNumSplitsArgsCPU) &&
                  detail::describes(NumSplitsFn(), kNumSplitsArgsGPU),
              "kNumSplitsArgs must describe NumSplitsFn");
static_assert(detail::describes(LayerFn(), kLayerArgs) &&
                  detail::describes(HeadsLayerFn(), kHeadsLayerArgs) &&
                  detail::describes(IndexerLayerFn(), kIndexerLayerArgs),
              "k*LayerArgs must describe *LayerFn");

/// The shape of array `a` in a library of sizes `s`: "[batch, 1, 16, 576]",
/// fixed dimensions as numbers, runtime ones by name.
inline std::string shapeText(const Arg &a, const Sizes &s) {
  std::string text = "[";
  for (int i = 0; i < a.rank; ++i) {
    int64_t n = fixedSize(a.shape[i], s);
    text += (i ? ", " : "") +
            (n < 0 ? std::string(dimName(a.shape[i])) : std::to_string(n));
  }
  return text + "]";
}

/// One argument for a header's comment: "q           [batch, 1, 16, 576]
/// q_lat followed by the rotated q_rope (bf16)".
inline std::string describe(const Arg &a, const Sizes &s,
                            const char *elemName) {
  std::string text = a.name;
  text.resize(std::max<size_t>(text.size() + 1, 12), ' ');
  if (a.kind == ArgKind::Array)
    text += shapeText(a, s) + " ";
  text += a.meaning;
  if (a.kind == ArgKind::Array || a.kind == ArgKind::ArrayList)
    text += std::string(" (") + dtypeName(a.dtype, elemName) + ")";
  return text;
}

/// "const void *q", "int32_t batch": one C parameter.
inline std::string parameter(const Arg &a) {
  std::string type = a.cType;
  return type + (type.back() == '*' ? "" : " ") + a.name;
}

/// The C declaration "int32_t name(parameters" followed by `end` (");" or
/// ") {"), wrapped before 80 columns with continuation lines indented by 4.
inline std::string declaration(const std::string &name, ArgList args,
                               const char *end = ");") {
  const size_t N = args.size();
  std::string text = "int32_t " + name + "(", line;
  size_t column = text.size();
  for (size_t i = 0; i < N; ++i) {
    std::string p = parameter(args[i]) + (i + 1 < N ? "," : end);
    if (i && column + 1 + p.size() > 79) {
      text += "\n    ";
      column = 4;
    } else if (i) {
      text += " ";
      ++column;
    }
    text += p;
    column += p.size();
  }
  return text;
}

} // namespace mla_abi

#endif // MLA_RUNTIME_KERNELABI_H
