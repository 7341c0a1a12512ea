//===- Pipelines.h - the named lowering pipelines ---------------*- C++ -*-===//
//
// The pipelines from the mla dialect to the LLVM dialect (CPU) and to NVVM
// (GPU), registered by name so that mla-opt reaches what mla-codegen emits
// and mla-codegen runs the same passes instead of its own copy of them.
//
//===----------------------------------------------------------------------===//

#ifndef MLA_CONVERSION_PIPELINES_H
#define MLA_CONVERSION_PIPELINES_H

#include "mlir/Pass/PassOptions.h"

#include <string>

namespace mlir {
class OpPassManager;
namespace mla {

struct CPUPipelineOptions : public PassPipelineOptions<CPUPipelineOptions> {
  Option<std::string> kernelName{*this, "kernel-name",
                                 llvm::cl::desc("Prefix of the kernels"),
                                 llvm::cl::init("mla_decode")};
  Option<int64_t> vectorWidth{*this, "vector-width",
                              llvm::cl::desc("f32 lanes of the vectors"),
                              llvm::cl::init(8)};
  Option<int64_t> numSplits{*this, "num-splits",
                            llvm::cl::desc("KV splits per sequence"),
                            llvm::cl::init(1)};
  Option<bool> bf16Dot{*this, "bf16-dot",
                       llvm::cl::desc("QK^T of bf16 with vdpbf16ps"),
                       llvm::cl::init(false)};
  Option<bool> prefetch{
      *this, "prefetch",
      llvm::cl::desc("Launch the partial kernel that prefetches the next tile"),
      llvm::cl::init(false)};
  Option<bool> nativeBF16{
      *this, "native-bf16",
      llvm::cl::desc("The target converts f32 to bf16 itself (AVX512-BF16); "
                     "otherwise the conversion is lowered to integer ops"),
      llvm::cl::init(false)};
};

struct NVVMPipelineOptions : public PassPipelineOptions<NVVMPipelineOptions> {
  Option<std::string> arch{*this, "arch",
                           llvm::cl::desc("sm_80, sm_86, sm_89 or sm_90a"),
                           llvm::cl::init("sm_80")};
  Option<std::string> kernelName{*this, "kernel-name",
                                 llvm::cl::desc("Prefix of the gpu.module"),
                                 llvm::cl::init("mla_decode")};
  Option<int64_t> numSplits{*this, "num-splits",
                            llvm::cl::desc("KV splits per sequence"),
                            llvm::cl::init(1)};
  Option<bool> tma{*this, "tma",
                   llvm::cl::desc("The wgmma + TMA kernel on sm_90a"),
                   llvm::cl::init(false)};
};

/// mla-lower-cpu-kernels-to-llvm: scf/vector/memref/math kernels (what
/// convert-mla-to-cpu emits, once bufferized) to the LLVM dialect. Unless
/// `nativeBF16`, f32 -> bf16 conversions become integer ops
/// (mla-expand-bf16) rather than calls of __truncsfbf2, which GCC 12's
/// libgcc lacks.
void buildCPUKernelsToLLVMPipeline(OpPassManager &pm, bool nativeBF16);

/// mla-lower-to-cpu: a module of mla ops on tensors (a layer, or a function
/// around mla.decode_attention) to the LLVM dialect: the other mla ops
/// decomposed, the attention lowered to the CPU kernels, bufferized, then
/// mla-lower-cpu-kernels-to-llvm.
void buildLowerToCPUPipeline(OpPassManager &pm,
                             const CPUPipelineOptions &options);

/// mla-lower-gpu-kernels-to-nvvm: every gpu.module to NVVM for `arch`
/// (PTX 8.0, -O3), ready for gpu-module-to-binary.
void buildGPUKernelsToNVVMPipeline(OpPassManager &pm, StringRef arch);

/// mla-lower-to-nvvm: mla.decode_attention to the GPU kernels and their
/// launches (convert-mla-to-gpu), the kernels to NVVM.
void buildLowerToNVVMPipeline(OpPassManager &pm,
                              const NVVMPipelineOptions &options);

/// Registers the pipelines above under their names.
void registerMLAPipelines();

} // namespace mla
} // namespace mlir

#endif // MLA_CONVERSION_PIPELINES_H
