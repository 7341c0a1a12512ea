//===- KernelEntry.h - the C entry of a generated CPU kernel ----*- C++ -*-===//

#ifndef MLA_TARGET_CPU_KERNELENTRY_H
#define MLA_TARGET_CPU_KERNELENTRY_H

#include "mla/Conversion/MLAToCPU/DecodeKernel.h"
#include "mla/Conversion/MLAToGPU/DecodeKernelGPU.h"

#include "mlir/IR/BuiltinOps.h"

namespace mlir::mla::cpu {

/// Adds to `module`, whose kernels `name`_partial[_prefetch] and
/// `name`_combine have been lowered to the LLVM dialect (with their C
/// interfaces), the contract's entry points `name` and `name`_num_splits:
/// calls of the prebuilt runtime (libmla_cpu_runtime, CPUKernel.h) with a
/// constant `mla_cpu_kernel` describing the kernels of `config`.
LogicalResult addKernelEntry(ModuleOp module, const CPUDecodeConfig &config,
                             StringRef name);

/// Adds to `module` (the LLVM dialect, compiled for the host) the cubin of
/// the GPU kernels of `config` and the entry points `name` and
/// `name`_num_splits: calls of the prebuilt CUDA host runtime
/// (libmla_cuda_runtime, CUDAKernel.h) with a constant `mla_cuda_kernel`.
void addCUDAKernelEntry(ModuleOp module, const GPUDecodeConfig &config,
                        StringRef name, StringRef cubin);

} // namespace mlir::mla::cpu

#endif // MLA_TARGET_CPU_KERNELENTRY_H
