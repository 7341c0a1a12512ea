//===- Device.cpp - host and CUDA memory, the kernel's entry --------------===//

#include "Device.h"

#include "mla/Runtime/KernelABI.h"

#include <cstdlib>
#include <cstring>
#include <dlfcn.h>

namespace mla::gpucheck {
namespace {

class HostDevice final : public Device {
public:
  void *alloc(size_t bytes) override {
    // The ABI's 64-byte alignment, and a whole number of alignments.
    return std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
  }
  void release(void *p) override { std::free(p); }
  bool upload(void *dst, const void *src, size_t n) override {
    std::memcpy(dst, src, n);
    return true;
  }
  bool download(void *dst, const void *src, size_t n) override {
    std::memcpy(dst, src, n);
    return true;
  }
  bool fill(void *dst, uint8_t byte, size_t n) override {
    std::memset(dst, byte, n);
    return true;
  }
  std::string sync(void *) override { return ""; }
};

class CudaDevice final : public Device {
public:
  explicit CudaDevice(const CudaDriver &cu) : cu(cu) {}
  static CudaDriver::DevPtr dev(const void *p) {
    return CudaDriver::DevPtr(uintptr_t(p));
  }
  void *alloc(size_t bytes) override {
    CudaDriver::DevPtr p = 0;
    return cu.memAlloc(&p, std::max<size_t>(bytes, 1)) ? nullptr
                                                       : (void *)uintptr_t(p);
  }
  void release(void *p) override { cu.memFree(dev(p)); }
  bool upload(void *dst, const void *src, size_t n) override {
    return cu.memcpyHtoD(dev(dst), src, n) == 0;
  }
  bool download(void *dst, const void *src, size_t n) override {
    return cu.memcpyDtoH(dst, dev(src), n) == 0;
  }
  bool fill(void *dst, uint8_t byte, size_t n) override {
    // cuMemsetD8 runs on the legacy stream, which a non-blocking stream's
    // kernel does not wait for.
    return cu.memsetD8(dev(dst), byte, n) == 0 && cu.ctxSynchronize() == 0;
  }
  std::string sync(void *stream) override {
    int r = stream ? cu.streamSynchronize(stream) : cu.ctxSynchronize();
    return r ? cu.errorName(r) : "";
  }
  const CudaDriver *cuda() const override { return &cu; }

private:
  const CudaDriver &cu;
};

} // namespace

std::unique_ptr<Device> Device::host() {
  return std::make_unique<HostDevice>();
}
std::unique_ptr<Device> Device::gpu(const CudaDriver &cu) {
  return std::make_unique<CudaDevice>(cu);
}

std::string Kernel::load(const std::string &bundle, const Spec &spec) {
  std::string path =
      bundle + "/kernels/" + spec.name + "/lib" + spec.name + ".so";
  void *lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    return std::string("cannot load ") + dlerror();
  fn = dlsym(lib, spec.name.c_str());
  if (!fn)
    return "no symbol " + spec.name + " in " + path;
  heads = spec.kvHeads > 0;
  sinks = spec.sinks;
  kvScale = spec.fp8Tensor();
  return "";
}

int32_t Kernel::operator()(const CallArgs &a) const {
  if (kvScale && sinks)
    return reinterpret_cast<mla_abi::ScaledSinksKernelFn>(fn)(
        a.q, a.kCache, a.blockTable, a.seqLens, a.sinks, a.out, a.lse, a.batch,
        a.maxBlocks, a.scale, a.kvScale, a.stream);
  if (kvScale)
    return reinterpret_cast<mla_abi::ScaledKernelFn>(fn)(
        a.q, a.kCache, a.blockTable, a.seqLens, a.out, a.lse, a.batch,
        a.maxBlocks, a.scale, a.kvScale, a.stream);
  if (heads && sinks)
    return reinterpret_cast<mla_abi::HeadsSinksKernelFn>(fn)(
        a.q, a.kCache, a.vCache, a.blockTable, a.seqLens, a.sinks, a.out, a.lse,
        a.batch, a.maxBlocks, a.scale, a.stream);
  if (heads)
    return reinterpret_cast<mla_abi::HeadsKernelFn>(fn)(
        a.q, a.kCache, a.vCache, a.blockTable, a.seqLens, a.out, a.lse, a.batch,
        a.maxBlocks, a.scale, a.stream);
  if (sinks)
    return reinterpret_cast<mla_abi::SinksKernelFn>(fn)(
        a.q, a.kCache, a.blockTable, a.seqLens, a.sinks, a.out, a.lse, a.batch,
        a.maxBlocks, a.scale, a.stream);
  return reinterpret_cast<mla_abi::KernelFn>(fn)(
      a.q, a.kCache, a.blockTable, a.seqLens, a.out, a.lse, a.batch,
      a.maxBlocks, a.scale, a.stream);
}

} // namespace mla::gpucheck
