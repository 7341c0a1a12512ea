//===- HostCPU.h - what the host CPU grants this process ---------*- C++
//-*-===//
//
// Header-only: asked at run time by the CPU kernels' runtime (which calls a
// library's AMX partial kernel only where it may) and by mla-bench (its AMX
// peak), so that both agree on when tile code can run.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_RUNTIME_HOSTCPU_H
#define MLA_RUNTIME_HOSTCPU_H

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace mla_runtime {

/// Whether this process may run AMX tile code: the CPU has AMX-TILE and
/// AMX-BF16 (CPUID leaf 7, EDX bits 24 and 22), the OS saves the tile state
/// (XCR0 bits 17-18, with OSXSAVE), and Linux grants it to the process
/// (arch_prctl ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA; without it the
/// first tile instruction faults). Asked once per process.
inline bool amxGranted() {
  static const bool granted = [] {
#if defined(__x86_64__) && defined(SYS_arch_prctl)
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) ||
        !(d & (1u << 22)))
      return false;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)))
      return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17))
      return false;
    constexpr long kReqXcompPerm = 0x1023, kXTileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXTileData) == 0;
#else
    return false;
#endif
  }();
  return granted;
}

} // namespace mla_runtime

#endif // MLA_RUNTIME_HOSTCPU_H
