//===- CUDARuntime.cpp - the host side of every generated GPU kernel -*- C++ -*-===//
//
// libmla_cuda_runtime: built once with the project, on the CUDA driver API.
// A generated libNAME.so calls it with the constant description of its
// kernels and cubin (CUDAKernel.h). It keeps the contract's C signature:
// checks the arguments it can see on the host, loads the cubin into the
// current context once (per kernel and context), chooses the number of KV
// splits from the SM count, encodes the wgmma kernel's tensor maps, which
// the launch passes by value (__grid_constant__ parameters), and launches
// the partial and combine kernels on `stream`.
//
// The split partials live in a workspace allocated for each call on its
// stream from the runtime's memory pool of the context (stream-ordered,
// freed on the stream after the combine; the pool keeps its memory, so this
// costs no device allocation after the first calls): calls on different
// streams never share one, and a call captured into a CUDA graph becomes
// memory nodes of the graph. Where the device has no memory pools, one
// workspace per kernel and context is kept instead, which calls on
// concurrent streams must not share.
//
//===----------------------------------------------------------------------===//

#include "mla/Runtime/CUDAKernel.h"

#include "../DecodeArgs.h"

#include <cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <mutex>
#include <type_traits>

namespace {
int64_t rows(const mla_cuda_kernel &k) { return k.num_heads * k.q_len; }
int64_t width(const mla_cuda_kernel &k) {
  return k.kv_lora_rank + k.qk_rope_head_dim;
}
/// Groups of a sequence: the rows of each set of keys (a KV head of head
/// caches, a query token's index row) in groups of rows_per_group.
int64_t groups(const mla_cuda_kernel &k) {
  int64_t keySets = k.num_kv_heads > 0 ? k.num_kv_heads
                    : k.topk > 0       ? k.q_len
                                       : 1;
  int64_t perSet = rows(k) / keySets;
  return keySets * ((perSet + k.rows_per_group - 1) / k.rows_per_group);
}

/// The kernels' memref<?xT> arguments, as the lowered kernels take them.
struct MemRef1D {
  CUdeviceptr allocated, aligned;
  int64_t offset, size, stride;
};
MemRef1D view(CUdeviceptr p, int64_t n) { return {p, p, 0, n, 1}; }

/// What the runtime keeps for one generated kernel.
struct State {
  std::mutex mutex;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  CUfunction partial = nullptr, combine = nullptr;
  int sms = 0;
  /// The context's workspace pool, or null without memory pools (then
  /// `scratch`).
  CUmemoryPool pool = nullptr;
  CUdeviceptr scratch = 0;
  size_t scratchBytes = 0;
};
/// The state of each kernel that has been called, by its description (a
/// library's constant, alive while the library is loaded).
State &stateOf(const mla_cuda_kernel *k) {
  static std::mutex mapMutex;
  static std::map<const mla_cuda_kernel *, State> states;
  std::lock_guard<std::mutex> lock(mapMutex);
  return states[k];
}

/// The pool of the workspaces of every kernel in context `ctx` (null where
/// the device has no memory pools), created on first use with its release
/// threshold at the maximum: freed workspaces stay for the next calls
/// instead of going back to the device at each synchronization.
CUresult workspacePool(CUcontext ctx, CUdevice dev, CUmemoryPool &pool) {
  static std::mutex mutex;
  static std::map<CUcontext, CUmemoryPool> pools;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = pools.find(ctx); it != pools.end()) {
    pool = it->second;
    return CUDA_SUCCESS;
  }
  int supported = 0;
  if (CUresult r = cuDeviceGetAttribute(
          &supported, CU_DEVICE_ATTRIBUTE_MEMORY_POOLS_SUPPORTED, dev);
      r != CUDA_SUCCESS)
    return r;
  pool = nullptr;
  if (supported) {
    CUmemPoolProps props = {};
    props.allocType = CU_MEM_ALLOCATION_TYPE_PINNED;
    props.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    props.location.id = dev;
    if (CUresult r = cuMemPoolCreate(&pool, &props); r != CUDA_SUCCESS)
      return r;
    cuuint64_t keep = ~cuuint64_t(0);
    if (CUresult r = cuMemPoolSetAttribute(
            pool, CU_MEMPOOL_ATTR_RELEASE_THRESHOLD, &keep);
        r != CUDA_SUCCESS)
      return r;
  }
  pools[ctx] = pool;
  return CUDA_SUCCESS;
}

/// Loads the cubin into the current context the first time it is seen.
CUresult ensureLoaded(const mla_cuda_kernel &k, State &state) {
  CUcontext ctx = nullptr;
  if (CUresult r = cuCtxGetCurrent(&ctx); r != CUDA_SUCCESS)
    return r;
  if (!ctx)
    return CUDA_ERROR_INVALID_CONTEXT;
  if (ctx == state.context)
    return CUDA_SUCCESS;
  CUmodule module;
  if (CUresult r = cuModuleLoadData(&module, k.cubin); r != CUDA_SUCCESS)
    return r;
  CUdevice dev;
  CUresult r = cuModuleGetFunction(&state.partial, module, "partial");
  if (r == CUDA_SUCCESS)
    r = cuModuleGetFunction(&state.combine, module, "combine");
  // Above 48 KB, dynamic shared memory must be asked for.
  if (r == CUDA_SUCCESS && k.shared_bytes > 48 * 1024)
    r = cuFuncSetAttribute(state.partial,
                           CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                           int(k.shared_bytes));
  if (r == CUDA_SUCCESS)
    r = cuCtxGetDevice(&dev);
  if (r == CUDA_SUCCESS)
    r = cuDeviceGetAttribute(&state.sms,
                             CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, dev);
  CUmemoryPool pool = nullptr;
  if (r == CUDA_SUCCESS)
    r = workspacePool(ctx, dev, pool);
  if (r != CUDA_SUCCESS)
    return r;
  state.context = ctx;
  state.module = module;
  state.pool = pool;
  state.scratch = 0; // buffers of another context are not ours to reuse
  state.scratchBytes = 0;
  return CUDA_SUCCESS;
}

/// The workspace of one call: from the pool on `stream`, else the kernel's
/// scratch (grown when needed).
CUresult acquireWorkspace(State &state, size_t bytes, CUstream stream,
                          CUdeviceptr &at) {
  if (state.pool) {
    // While the stream is captured, the allocation becomes a graph memory
    // node: the documented way is cuMemAllocAsync (graph allocations come
    // from the graph's own memory, not from a pool).
    CUstreamCaptureStatus capture = CU_STREAM_CAPTURE_STATUS_NONE;
    if (CUresult r = cuStreamIsCapturing(stream, &capture); r != CUDA_SUCCESS)
      return r;
    if (capture == CU_STREAM_CAPTURE_STATUS_ACTIVE)
      return cuMemAllocAsync(&at, bytes, stream);
    return cuMemAllocFromPoolAsync(&at, bytes, state.pool, stream);
  }
  if (bytes > state.scratchBytes) {
    if (state.scratch)
      cuMemFree(state.scratch);
    state.scratch = 0;
    state.scratchBytes = 0;
    if (CUresult r = cuMemAlloc(&state.scratch, bytes); r != CUDA_SUCCESS)
      return r;
    state.scratchBytes = bytes;
  }
  at = state.scratch;
  return CUDA_SUCCESS;
}

/// The wgmma kernel's TMA descriptors, 128-byte swizzle, 64-column boxes:
/// the queries as [batch * rows, width] (64-row boxes; rows past the batch
/// read as zeros) and the cache as [rows, width] (tma_box_rows-row boxes;
/// the contract does not give the cache's length, and the kernel only reads
/// rows of pages in the block table).
CUresult encodeTensorMaps(const mla_cuda_kernel &k, CUtensorMap maps[2],
                          const void *q, const void *kvCache, int32_t batch) {
  CUtensorMapDataType type = k.elem_bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16
                                         : CU_TENSOR_MAP_DATA_TYPE_FLOAT16;
  cuuint64_t rowBytes = cuuint64_t(width(k)) * k.elem_bytes;
  cuuint32_t unit[2] = {1, 1};
  cuuint64_t qDims[2] = {cuuint64_t(width(k)), cuuint64_t(batch) * rows(k)};
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
  cuuint64_t kvDims[2] = {cuuint64_t(width(k)), rows};
  cuuint32_t kvBox[2] = {64, cuuint32_t(std::max<int64_t>(k.tma_box_rows, 1))};
  return cuTensorMapEncodeTiled(
      &maps[1], type, 2, const_cast<void *>(kvCache), kvDims, &rowBytes, kvBox,
      unit, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
      CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
}
} // namespace

extern "C" {

/// KV splits for a call: enough CTAs for about two waves over the SMs, each
/// split at least mla_runtime::kMinTokensPerSplit of the longest possible
/// sequence.
/// MLA_GPU_NUM_SPLITS overrides it.
int32_t mla_cuda_num_splits_v5(const mla_cuda_kernel *k, int32_t batch,
                               int32_t maxSeqLen, int32_t sms) {
  return int32_t(mla_runtime::chooseSplits("MLA_GPU_NUM_SPLITS",
                                           int64_t(batch) * groups(*k),
                                           maxSeqLen, sms));
}

int32_t mla_cuda_decode_v5(const mla_cuda_kernel *k, const void *q,
                           const void *kvCache, const void *vCache,
                           const int32_t *blockTable, const int32_t *seqLens,
                           const float *sinks, void *out, float *lse,
                           int32_t batch, int32_t maxBlocksPerSeq,
                           float softmaxScale, float kvScale, void *stream) {
  if (int32_t code = mla_runtime::checkArguments(q, kvCache, blockTable,
                                                 seqLens, out, lse, batch,
                                                 maxBlocksPerSeq, softmaxScale);
      code >= 0)
    return code;
  float scale;
  if (int32_t code =
          mla_runtime::scoreScale(k->kv_scale, softmaxScale, kvScale, scale);
      code >= 0)
    return code;
  if ((k->sinks && !sinks) || (k->num_kv_heads > 0 && !vCache))
    return mla_abi::ErrNullPointer;
  if (batch > 65535)
    return mla_abi::ErrBatch; // the grid's z dimension
  // Token indices: max_blocks_per_seq is the index rows' topk.
  if (k->topk > 0 && maxBlocksPerSeq != k->topk)
    return mla_abi::ErrMaxBlocks;
  // The tensor-core kernels copy query and cache rows 16 bytes at a time.
  if (k->tensor_cores &&
      (uintptr_t(q) | uintptr_t(kvCache) | uintptr_t(vCache)) % 16 != 0)
    return mla_abi::ErrAlignment;
  const int64_t kRows = rows(*k), kWidth = width(*k), kGroups = groups(*k),
                rowsPerGroup = k->rows_per_group, dc = k->kv_lora_rank;
  State &state = stateOf(k);
  std::lock_guard<std::mutex> lock(state.mutex);
  if (ensureLoaded(*k, state) != CUDA_SUCCESS)
    return mla_abi::ErrCudaLoad;
  int64_t capacity =
      k->topk > 0 ? k->topk : int64_t(maxBlocksPerSeq) * k->block_size;
  int64_t splits = mla_cuda_num_splits_v5(
      k, batch, int32_t(std::min<int64_t>(capacity, INT32_MAX)), state.sms);
  size_t perItem = size_t(rowsPerGroup) * (dc + 2) * sizeof(float);
  size_t need = size_t(batch) * kGroups * splits * perItem;
  CUstream s = static_cast<CUstream>(stream);
  CUdeviceptr workspace = 0;
  if (acquireWorkspace(state, need, s, workspace) != CUDA_SUCCESS)
    return mla_abi::ErrCudaLaunch;
  int64_t items = int64_t(batch) * kGroups * splits;
  CUdeviceptr partOut = workspace;
  CUdeviceptr partML =
      workspace + size_t(items) * rowsPerGroup * dc * sizeof(float);
  auto ptr = [](const void *p) { return CUdeviceptr(uintptr_t(p)); };
  MemRef1D qv = view(ptr(q), int64_t(batch) * kRows * kWidth),
           kvv = view(ptr(kvCache), INT64_MAX),
           vv = view(ptr(vCache), INT64_MAX),
           btv = view(ptr(blockTable), int64_t(batch) * maxBlocksPerSeq *
                                           (k->topk > 0 ? k->q_len : 1)),
           lv = view(ptr(seqLens), batch),
           pov = view(partOut, items * rowsPerGroup * dc),
           pmv = view(partML, items * rowsPerGroup * 2),
           ov = view(ptr(out), int64_t(batch) * kRows * dc),
           lsev = view(ptr(lse), int64_t(batch) * kRows),
           sv = view(ptr(sinks), k->num_heads);
  int64_t numSplits = splits, maxBlocks = maxBlocksPerSeq;
  float valueScale = kvScale;
  // Each memref is five kernel parameters: both pointers, offset, size,
  // stride.
  auto push = [](void **params, int &n, MemRef1D &m) {
    params[n++] = &m.allocated;
    params[n++] = &m.aligned;
    params[n++] = &m.offset;
    params[n++] = &m.size;
    params[n++] = &m.stride;
  };
  void *p1[43];
  int n1 = 0;
  push(p1, n1, qv);
  push(p1, n1, kvv);
  if (k->num_kv_heads > 0)
    push(p1, n1, vv);
  for (MemRef1D *m : {&btv, &lv, &pov, &pmv})
    push(p1, n1, *m);
  p1[n1++] = &numSplits;
  p1[n1++] = &maxBlocks;
  p1[n1++] = &scale;
  // The maps go by value with the launch's parameters (64-byte aligned, as
  // CUtensorMap is declared).
  CUtensorMap maps[2];
  if (k->tma_box_rows > 0) {
    // With aligned pointers (checked above), only the batch's rows can
    // exceed what a tensor map encodes.
    if (encodeTensorMaps(*k, maps, q, kvCache, batch) != CUDA_SUCCESS) {
      if (state.pool)
        cuMemFreeAsync(workspace, s);
      return mla_abi::ErrBatch;
    }
    p1[n1++] = &maps[0];
    p1[n1++] = &maps[1];
  }
  void *p2[27];
  int n2 = 0;
  for (MemRef1D *m : {&pov, &pmv, &ov, &lsev})
    push(p2, n2, *m);
  p2[n2++] = &numSplits;
  if (k->kv_scale)
    p2[n2++] = &valueScale;
  if (k->sinks)
    push(p2, n2, sv);
  bool launched =
      cuLaunchKernel(state.partial, unsigned(splits), unsigned(kGroups),
                     unsigned(batch), unsigned(k->threads), 1, 1,
                     unsigned(k->shared_bytes), s, p1,
                     nullptr) == CUDA_SUCCESS &&
      cuLaunchKernel(state.combine, unsigned(kRows), unsigned(batch), 1, 32, 1,
                     1, 0, s, p2, nullptr) == CUDA_SUCCESS;
  // Ordered after the combine on the stream (a free node when captured).
  if (state.pool && cuMemFreeAsync(workspace, s) != CUDA_SUCCESS)
    launched = false;
  return launched ? mla_abi::Ok : mla_abi::ErrCudaLaunch;
}

} // extern "C"

static_assert(mla_runtime::forwardsABI<mla_abi::RuntimeKernelFn>(
                  &mla_cuda_decode_v5, &mla_cuda_num_splits_v5),
              "the runtime's entries take the C signatures of the ABI");
