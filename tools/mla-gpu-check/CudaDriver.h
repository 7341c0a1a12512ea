//===- CudaDriver.h - the CUDA driver API, opened at run time ---*- C++ -*-===//
//
// The driver entry points the GPU runner uses, resolved with
// dlopen so that the binaries build and run (reporting "no device") on
// machines without a CUDA driver.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_GPU_CHECK_CUDADRIVER_H
#define MLA_GPU_CHECK_CUDADRIVER_H

#include <cstddef>
#include <dlfcn.h>
#include <string>
#include <type_traits>

namespace mla {

struct CudaDriver {
  using DevPtr = unsigned long long;
  int (*init)(unsigned);
  int (*deviceGetCount)(int *);
  int (*deviceGet)(int *, int);
  int (*deviceGetName)(char *, int, int);
  int (*deviceGetAttribute)(int *, int, int);
  int (*deviceComputeCapability)(int *, int *, int);
  int (*primaryCtxRetain)(void **, int);
  int (*ctxSetCurrent)(void *);
  int (*memAlloc)(DevPtr *, size_t);
  int (*memFree)(DevPtr);
  int (*memcpyHtoD)(DevPtr, const void *, size_t);
  int (*memcpyDtoH)(void *, DevPtr, size_t);
  int (*memcpyDtoD)(DevPtr, DevPtr, size_t);
  int (*ctxSynchronize)();
  int (*eventCreate)(void **, unsigned);
  int (*eventRecord)(void *, void *);
  int (*eventSynchronize)(void *);
  int (*eventElapsedTime)(float *, void *, void *);
  int (*memsetD8)(DevPtr, unsigned char, size_t);
  int (*streamCreate)(void **, unsigned);
  int (*streamDestroy)(void *);
  int (*streamSynchronize)(void *);
  int (*streamBeginCapture)(void *, int);
  int (*streamEndCapture)(void *, void **);
  int (*graphInstantiate)(void **, void *, unsigned long long);
  int (*graphLaunch)(void *, void *);
  int (*graphExecDestroy)(void *);
  int (*graphDestroy)(void *);
  int (*getErrorName)(int, const char **);
  int major = 0, minor = 0, sms = 0;
  std::string name;

  /// CUresult's name, for messages.
  std::string errorName(int code) const {
    const char *n = nullptr;
    return getErrorName(code, &n) == 0 && n ? n : std::to_string(code);
  }

  /// The driver with a current context on device 0, or null with the reason.
  static const CudaDriver *get(std::string &why) {
    static CudaDriver d;
    static std::string reason = d.open();
    why = reason;
    return reason.empty() ? &d : nullptr;
  }

private:
  std::string open() {
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (!h)
      return "no CUDA driver (libcuda.so.1)";
    bool ok = true;
    auto sym = [&](auto &fn, const char *symbol) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(
          dlsym(h, symbol));
      ok = ok && fn;
    };
    sym(init, "cuInit");
    sym(deviceGetCount, "cuDeviceGetCount");
    sym(deviceGet, "cuDeviceGet");
    sym(deviceGetName, "cuDeviceGetName");
    sym(deviceGetAttribute, "cuDeviceGetAttribute");
    sym(deviceComputeCapability, "cuDeviceComputeCapability");
    sym(primaryCtxRetain, "cuDevicePrimaryCtxRetain");
    sym(ctxSetCurrent, "cuCtxSetCurrent");
    sym(memAlloc, "cuMemAlloc_v2");
    sym(memFree, "cuMemFree_v2");
    sym(memcpyHtoD, "cuMemcpyHtoD_v2");
    sym(memcpyDtoH, "cuMemcpyDtoH_v2");
    sym(memcpyDtoD, "cuMemcpyDtoD_v2");
    sym(ctxSynchronize, "cuCtxSynchronize");
    sym(eventCreate, "cuEventCreate");
    sym(eventRecord, "cuEventRecord");
    sym(eventSynchronize, "cuEventSynchronize");
    sym(eventElapsedTime, "cuEventElapsedTime");
    sym(memsetD8, "cuMemsetD8_v2");
    sym(streamCreate, "cuStreamCreate");
    sym(streamDestroy, "cuStreamDestroy_v2");
    sym(streamSynchronize, "cuStreamSynchronize");
    sym(streamBeginCapture, "cuStreamBeginCapture_v2");
    sym(streamEndCapture, "cuStreamEndCapture");
    sym(graphInstantiate, "cuGraphInstantiateWithFlags");
    sym(graphLaunch, "cuGraphLaunch");
    sym(graphExecDestroy, "cuGraphExecDestroy");
    sym(graphDestroy, "cuGraphDestroy");
    sym(getErrorName, "cuGetErrorName");
    if (!ok)
      return "incomplete CUDA driver";
    int count = 0;
    if (init(0) != 0 || deviceGetCount(&count) != 0 || count == 0)
      return "no CUDA device";
    int dev;
    void *ctx;
    char buf[256] = {0};
    // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
    const int kMultiprocessorCount = 16;
    if (deviceGet(&dev, 0) != 0 ||
        deviceComputeCapability(&major, &minor, dev) != 0 ||
        deviceGetName(buf, sizeof(buf) - 1, dev) != 0 ||
        deviceGetAttribute(&sms, kMultiprocessorCount, dev) != 0 ||
        primaryCtxRetain(&ctx, dev) != 0 || ctxSetCurrent(ctx) != 0)
      return "cannot make a CUDA context";
    name = buf;
    return "";
  }
};

} // namespace mla

#endif // MLA_GPU_CHECK_CUDADRIVER_H
