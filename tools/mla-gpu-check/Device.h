//===- Device.h - where a kernel's buffers live -----------------*- C++ -*-===//
//
// The runner checks GPU kernels on device memory and, to test the runner
// itself on machines without a GPU, CPU kernels (the same C ABI) on host
// memory. Both sit behind this interface; the kernel's entry is called the
// same way on either.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_GPU_CHECK_DEVICE_H
#define MLA_GPU_CHECK_DEVICE_H

#include "CudaDriver.h"
#include "Spec.h"

#include <cstdint>
#include <memory>
#include <string>

namespace mla::gpucheck {

class Device {
public:
  virtual ~Device() = default;
  /// Null when out of memory.
  virtual void *alloc(size_t bytes) = 0;
  virtual void release(void *p) = 0;
  virtual bool upload(void *dst, const void *src, size_t bytes) = 0;
  virtual bool download(void *dst, const void *src, size_t bytes) = 0;
  virtual bool fill(void *dst, uint8_t byte, size_t bytes) = 0;
  /// Waits for everything on `stream` (null: all work); "" or the error.
  virtual std::string sync(void *stream) = 0;
  /// The CUDA driver, or null on the host.
  virtual const CudaDriver *cuda() const { return nullptr; }

  static std::unique_ptr<Device> host();
  static std::unique_ptr<Device> gpu(const CudaDriver &cu);
};

/// A device allocation freed with its owner.
class Buffer {
public:
  Buffer() = default;
  Buffer(Device &d, size_t bytes) : device(&d), ptr(d.alloc(bytes)) {}
  Buffer(Buffer &&o) noexcept : device(o.device), ptr(o.ptr) {
    o.ptr = nullptr;
  }
  Buffer &operator=(Buffer &&o) noexcept {
    std::swap(device, o.device);
    std::swap(ptr, o.ptr);
    return *this;
  }
  ~Buffer() {
    if (ptr)
      device->release(ptr);
  }
  void *get() const { return ptr; }
  char *bytes() const { return static_cast<char *>(ptr); }

private:
  Device *device = nullptr;
  void *ptr = nullptr;
};

/// The arguments of one call of the contract's NAME(...).
struct CallArgs {
  const void *q = nullptr, *kCache = nullptr, *vCache = nullptr;
  const int32_t *blockTable = nullptr, *seqLens = nullptr;
  const float *sinks = nullptr;
  void *out = nullptr;
  float *lse = nullptr;
  int32_t batch = 0, maxBlocks = 0;
  float scale = 1;
  /// The cache's one fp8 scale (--cache-scales=per_tensor kernels).
  float kvScale = 1;
  void *stream = nullptr;
};

/// A loaded libNAME.so's entry, called with the signature its options give.
class Kernel {
public:
  /// Loads DIR/NAME/libNAME.so; "" or why not.
  std::string load(const std::string &bundle, const Spec &spec);
  int32_t operator()(const CallArgs &a) const;

private:
  void *fn = nullptr;
  bool heads = false, sinks = false, kvScale = false;
};

} // namespace mla::gpucheck

#endif // MLA_GPU_CHECK_DEVICE_H
