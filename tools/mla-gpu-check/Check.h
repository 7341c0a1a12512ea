//===- Check.h - the correctness phase --------------------------*- C++ -*-===//

#ifndef MLA_GPU_CHECK_CHECK_H
#define MLA_GPU_CHECK_CHECK_H

#include "Device.h"
#include "Spec.h"

#include <string>

namespace mla::gpucheck {

/// Checks the kernel of `spec` in `bundle` against the double reference,
/// printing one line per check; returns the number that failed.
int runCheck(const std::string &bundle, const Spec &spec, Device &dev);

/// Times the kernel of a bench entry on FlashMLA's grid (GPU only), printing
/// one row per batch and sequence length, with the fraction of `matmulPeak`
/// (FLOP/s; 0: not measured); returns the number of failures.
int runBench(const std::string &bundle, const Spec &spec, Device &dev,
             const std::string &torchScript, double matmulPeak);

} // namespace mla::gpucheck

#endif // MLA_GPU_CHECK_CHECK_H
