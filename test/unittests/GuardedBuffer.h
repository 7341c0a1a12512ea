//===- GuardedBuffer.h - buffers that fault one byte out of bounds -*- C++ -*-===//
//
// The kernels' inputs and outputs placed against an inaccessible page, so that
// a read or write one byte past a buffer's end (or before its start) stops
// the test with SIGSEGV instead of passing unnoticed: the generated code is
// not instrumented by the sanitizers, so this is how its bounds are checked.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_TEST_UNITTESTS_GUARDEDBUFFER_H
#define MLA_TEST_UNITTESTS_GUARDEDBUFFER_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

namespace mla::test {

class GuardedBuffer {
public:
  /// Which side of the buffer touches the guard page.
  enum class Side { Head, Tail };

  GuardedBuffer(const void *src, size_t bytes, Side side) : bytes(bytes) {
    const size_t page = size_t(sysconf(_SC_PAGESIZE));
    const size_t dataPages = (bytes + page - 1) / page;
    length = (dataPages + 1) * page;
    void *m = mmap(nullptr, length, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
      throw std::runtime_error("mmap failed");
    map = static_cast<uint8_t *>(m);
    uint8_t *guard = side == Side::Head ? map : map + dataPages * page;
    if (mprotect(guard, page, PROT_NONE) != 0)
      throw std::runtime_error("mprotect failed");
    ptr = side == Side::Head ? map + page : guard - bytes;
    if (src && bytes)
      std::memcpy(ptr, src, bytes);
  }
  template <typename T>
  GuardedBuffer(const std::vector<T> &v, Side side)
      : GuardedBuffer(v.data(), v.size() * sizeof(T), side) {}
  GuardedBuffer(const GuardedBuffer &) = delete;
  GuardedBuffer &operator=(const GuardedBuffer &) = delete;
  ~GuardedBuffer() { munmap(map, length); }

  template <typename T = void> T *as() { return reinterpret_cast<T *>(ptr); }
  /// The contents as a vector of T.
  template <typename T> std::vector<T> read() const {
    std::vector<T> v(bytes / sizeof(T));
    std::memcpy(v.data(), ptr, v.size() * sizeof(T));
    return v;
  }

private:
  uint8_t *map = nullptr, *ptr = nullptr;
  size_t bytes = 0, length = 0;
};

} // namespace mla::test

#endif // MLA_TEST_UNITTESTS_GUARDEDBUFFER_H
