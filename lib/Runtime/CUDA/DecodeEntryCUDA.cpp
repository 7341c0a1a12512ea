//===- DecodeEntryCUDA.cpp - C entry of a generated GPU kernel --*- C++ -*-===//
//
// Compiled by mla-codegen once per kernel with its parameters as macros and
// linked with the kernel's cubin (an array) into libNAME.so. It keeps the
// contract's C signature on the CUDA driver API: checks the arguments it can
// see on the host, loads the cubin into the current context once, keeps one
// scratch buffer for the split partials (grown, never reallocated per call),
// chooses the number of KV splits from the SM count, and launches the
// partial and combine kernels on `stream`.
//
// Required macros: MLA_NAME, MLA_HEADS, MLA_QLEN, MLA_DC, MLA_DR,
// MLA_BLOCK_SIZE, MLA_ROWS_PER_GROUP, MLA_THREADS, MLA_SHARED_BYTES (dynamic
// shared memory of the partial kernel), MLA_TENSOR_CORES, MLA_ELEM_BYTES,
// MLA_ELEM_BF16 (bf16, else f16 when 2 bytes), MLA_TMA_BOX_ROWS (the wgmma
// kernel's cache rows per TMA box; 0 for the kernels without TMA).
//
//===----------------------------------------------------------------------===//

#include "../DecodeArgs.h"

#include <cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <type_traits>

#define MLA_CAT_(a, b) a##b
#define MLA_CAT(a, b) MLA_CAT_(a, b)
#define MLA_CUBIN MLA_CAT(MLA_NAME, _cubin)
#define MLA_NUM_SPLITS MLA_CAT(MLA_NAME, _num_splits)

extern "C" const unsigned char MLA_CUBIN[];

namespace {
constexpr int64_t kRows = int64_t(MLA_HEADS) * MLA_QLEN;
constexpr int64_t kWidth = int64_t(MLA_DC) + MLA_DR;
constexpr int64_t kGroups = (kRows + MLA_ROWS_PER_GROUP - 1) / MLA_ROWS_PER_GROUP;
constexpr int64_t kMinTokensPerSplit = 256;

/// The kernels' memref<?xT> arguments, as the lowered kernels take them.
struct MemRef1D {
  CUdeviceptr allocated, aligned;
  int64_t offset, size, stride;
};
MemRef1D view(CUdeviceptr p, int64_t n) { return {p, p, 0, n, 1}; }

struct State {
  std::mutex mutex;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUfunction partial = nullptr, combine = nullptr;
  int sms = 0;
  CUdeviceptr scratch = 0;
  size_t scratchBytes = 0;
  CUdeviceptr tensorMaps = 0; // the wgmma kernel's two CUtensorMaps
};
State state;

/// Loads the cubin into the current context the first time it is seen.
CUresult ensureLoaded() {
  CUcontext ctx = nullptr;
  if (CUresult r = cuCtxGetCurrent(&ctx); r != CUDA_SUCCESS)
    return r;
  if (!ctx)
    return CUDA_ERROR_INVALID_CONTEXT;
  if (ctx == state.context)
    return CUDA_SUCCESS;
  CUmodule module;
  if (CUresult r = cuModuleLoadData(&module, MLA_CUBIN); r != CUDA_SUCCESS)
    return r;
  CUdevice dev;
  CUresult r = cuModuleGetFunction(&state.partial, module, "partial");
  if (r == CUDA_SUCCESS)
    r = cuModuleGetFunction(&state.combine, module, "combine");
  // Above 48 KB, dynamic shared memory must be asked for.
  if (r == CUDA_SUCCESS && MLA_SHARED_BYTES > 48 * 1024)
    r = cuFuncSetAttribute(state.partial,
                           CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                           MLA_SHARED_BYTES);
  if (r == CUDA_SUCCESS)
    r = cuCtxGetDevice(&dev);
  if (r == CUDA_SUCCESS)
    r = cuDeviceGetAttribute(&state.sms,
                             CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  CUdeviceptr maps = 0;
  if (r == CUDA_SUCCESS && MLA_TMA_BOX_ROWS > 0)
    r = cuMemAlloc(&maps, 2 * sizeof(CUtensorMap));
  if (r != CUDA_SUCCESS)
    return r;
  state.context = ctx;
  state.module = module;
  state.scratch = 0; // buffers of another context are not ours to reuse
  state.scratchBytes = 0;
  state.tensorMaps = maps;
  return CUDA_SUCCESS;
}


/// The wgmma kernel's TMA descriptors, 128-byte swizzle, 64-column boxes:
/// the queries as [batch * rows, width] (64-row boxes; rows past the batch
/// read as zeros) and the cache as [rows, width] (MLA_TMA_BOX_ROWS-row boxes;
/// the contract does not give the cache's length, and the kernel only reads
/// rows of pages in the block table).
CUresult encodeTensorMaps(CUtensorMap maps[2], const void *q,
                          const void *kvCache, int32_t batch) {
  CUtensorMapDataType type = MLA_ELEM_BF16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                           : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  cuuint64_t rowBytes = cuuint64_t(kWidth) * MLA_ELEM_BYTES;
  cuuint32_t unit[2] = {1, 1};
  cuuint64_t qDims[2] = {cuuint64_t(kWidth), cuuint64_t(batch) * kRows};
  cuuint32_t qBox[2] = {64, 64};
  CUresult r = cuTensorMapEncodeTiled(
      &maps[0], type, 2, const_cast<void *>(q), qDims, &rowBytes, qBox, unit,
      CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_128B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    return r;
  // As many rows as device memory can hold, within what TMA encodes (a
  // dimension below 2^32, the tensor's extent below 2^40 bytes).
  cuuint64_t rows = std::min<cuuint64_t>(cuuint64_t(1) << 31,
                                         ((cuuint64_t(1) << 40) - 1) / rowBytes);
  cuuint64_t kvDims[2] = {cuuint64_t(kWidth), rows};
  cuuint32_t kvBox[2] = {64, cuuint32_t(MLA_TMA_BOX_ROWS > 0 ? MLA_TMA_BOX_ROWS : 1)};
  return cuTensorMapEncodeTiled(
      &maps[1], type, 2, const_cast<void *>(kvCache), kvDims, &rowBytes, kvBox,
      unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}
} // namespace

extern "C" {

/// KV splits for a call: enough CTAs for about two waves over the SMs, each
/// split at least kMinTokensPerSplit of the longest possible sequence.
/// MLA_GPU_NUM_SPLITS overrides it.
int32_t MLA_NUM_SPLITS(int32_t batch, int32_t maxSeqLen, int32_t sms) {
  return int32_t(mla_runtime::chooseSplits("MLA_GPU_NUM_SPLITS",
                                           int64_t(batch) * kGroups, maxSeqLen,
                                           sms, kMinTokensPerSplit));
}

int32_t MLA_NAME(const void *q, const void *kvCache, const int32_t *blockTable,
                 const int32_t *seqLens, void *out, float *lse, int32_t batch,
                 int32_t maxBlocksPerSeq, float softmaxScale, void *stream) {
  if (int32_t code = mla_runtime::checkArguments(q, kvCache, blockTable,
                                                 seqLens, out, lse, batch,
                                                 maxBlocksPerSeq, softmaxScale);
      code >= 0)
    return code;
  if (batch > 65535)
    return mla_abi::ErrBatch; // the grid's z dimension
  // The tensor-core kernels copy query and cache rows 16 bytes at a time.
  if (MLA_TENSOR_CORES && (uintptr_t(q) | uintptr_t(kvCache)) % 16 != 0)
    return mla_abi::ErrAlignment;
  std::lock_guard<std::mutex> lock(state.mutex);
  if (ensureLoaded() != CUDA_SUCCESS)
    return mla_abi::ErrCudaLoad;
  int64_t capacity = int64_t(maxBlocksPerSeq) * MLA_BLOCK_SIZE;
  int64_t splits = MLA_NUM_SPLITS(
      batch, int32_t(std::min<int64_t>(capacity, INT32_MAX)), state.sms);
  size_t perItem = size_t(MLA_ROWS_PER_GROUP) * (MLA_DC + 2) * sizeof(float);
  size_t need = size_t(batch) * kGroups * splits * perItem;
  if (need > state.scratchBytes) {
    if (state.scratch)
      cuMemFree(state.scratch);
    state.scratch = 0;
    state.scratchBytes = 0;
    if (cuMemAlloc(&state.scratch, need) != CUDA_SUCCESS)
      return mla_abi::ErrCudaLaunch;
    state.scratchBytes = need;
  }
  int64_t items = int64_t(batch) * kGroups * splits;
  CUdeviceptr partOut = state.scratch;
  CUdeviceptr partML =
      state.scratch + size_t(items) * MLA_ROWS_PER_GROUP * MLA_DC * sizeof(float);
  auto ptr = [](const void *p) { return CUdeviceptr(uintptr_t(p)); };
  MemRef1D qv = view(ptr(q), int64_t(batch) * kRows * kWidth),
           kvv = view(ptr(kvCache), INT64_MAX),
           btv = view(ptr(blockTable), int64_t(batch) * maxBlocksPerSeq),
           lv = view(ptr(seqLens), batch),
           pov = view(partOut, items * MLA_ROWS_PER_GROUP * MLA_DC),
           pmv = view(partML, items * MLA_ROWS_PER_GROUP * 2),
           ov = view(ptr(out), int64_t(batch) * kRows * MLA_DC),
           lsev = view(ptr(lse), int64_t(batch) * kRows);
  int64_t numSplits = splits, maxBlocks = maxBlocksPerSeq;
  float scale = softmaxScale;
  // Each memref is five kernel parameters: both pointers, offset, size,
  // stride.
  auto push = [](void **params, int &n, MemRef1D &m) {
    params[n++] = &m.allocated;
    params[n++] = &m.aligned;
    params[n++] = &m.offset;
    params[n++] = &m.size;
    params[n++] = &m.stride;
  };
  void *p1[38];
  int n1 = 0;
  for (MemRef1D *m : {&qv, &kvv, &btv, &lv, &pov, &pmv})
    push(p1, n1, *m);
  p1[n1++] = &numSplits;
  p1[n1++] = &maxBlocks;
  p1[n1++] = &scale;
  CUstream s = static_cast<CUstream>(stream);
  MemRef1D mapsv = view(state.tensorMaps, 2 * sizeof(CUtensorMap) / 8);
  if (MLA_TMA_BOX_ROWS > 0) {
    // Encoded per call (the pointers and the batch change); the copy is
    // staged before cuMemcpyHtoDAsync returns, and ordered on the stream.
    CUtensorMap maps[2];
    // With aligned pointers (checked above), only the batch's rows can
    // exceed what a tensor map encodes.
    if (encodeTensorMaps(maps, q, kvCache, batch) != CUDA_SUCCESS)
      return mla_abi::ErrBatch;
    if (cuMemcpyHtoDAsync(state.tensorMaps, maps, sizeof(maps), s) !=
        CUDA_SUCCESS)
      return mla_abi::ErrCudaLaunch;
    push(p1, n1, mapsv);
  }
  void *p2[21];
  int n2 = 0;
  for (MemRef1D *m : {&pov, &pmv, &ov, &lsev})
    push(p2, n2, *m);
  p2[n2++] = &numSplits;
  if (cuLaunchKernel(state.partial, unsigned(splits), unsigned(kGroups),
                     unsigned(batch), MLA_THREADS, 1, 1, MLA_SHARED_BYTES, s, p1,
                     nullptr) != CUDA_SUCCESS ||
      cuLaunchKernel(state.combine, unsigned(kRows), unsigned(batch), 1, 32, 1,
                     1, 0, s, p2, nullptr) != CUDA_SUCCESS)
    return mla_abi::ErrCudaLaunch;
  return mla_abi::Ok;
}

// The signatures NAME.h declares, from the ABI's tables.
static_assert(
    std::is_same_v<decltype(&MLA_NAME), mla_abi::KernelFn> &&
        std::is_same_v<decltype(&MLA_NUM_SPLITS), mla_abi::NumSplitsFn>,
    "the C signatures of the ABI");
} // extern "C"
