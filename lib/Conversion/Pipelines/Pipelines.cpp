//===- Pipelines.cpp - the named lowering pipelines -------------*- C++ -*-===//

#include "mla/Conversion/Pipelines.h"
#include "mla/Conversion/Passes.h"
#include "mla/Dialect/MLA/Transforms/Passes.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;
using namespace mlir::mla;

/// Adds upstream passes by their textual names: what the pipelines use is
/// then written once, readable, and checked when the pipeline is built.
static void addPasses(OpPassManager &pm, StringRef pipeline) {
  if (failed(parsePassPipeline(pipeline, pm, llvm::errs())))
    llvm::report_fatal_error("mla: a built-in pipeline does not parse");
}

void mla::buildCPUKernelsToLLVMPipeline(OpPassManager &pm, bool nativeBF16) {
  pm.addPass(createMLAApproximateMathPass());
  if (!nativeBF16)
    pm.addPass(createMLAExpandBF16Pass());
  addPasses(pm, "canonicalize, cse, convert-bufferization-to-memref, "
                "convert-vector-to-scf, expand-strided-metadata, lower-affine, "
                "convert-scf-to-cf, convert-math-to-llvm, "
                "convert-vector-to-llvm{enable-x86vector enable-amx}, "
                "finalize-memref-to-llvm, convert-arith-to-llvm, "
                "convert-ub-to-llvm, "
                "convert-func-to-llvm, convert-cf-to-llvm, "
                "reconcile-unrealized-casts");
}

void mla::buildLowerToCPUPipeline(OpPassManager &pm,
                                  const CPUPipelineOptions &options) {
  pm.addPass(createMLADecomposePass());
  ConvertMLAToCPUPassOptions cpu;
  cpu.kernelName = options.kernelName;
  cpu.vectorWidth = options.vectorWidth;
  cpu.numSplits = options.numSplits;
  cpu.bf16Dot = options.bf16Dot;
  cpu.prefetch = options.prefetch;
  pm.addPass(createConvertMLAToCPUPass(cpu));
  addPasses(pm, "canonicalize, cse, "
                "one-shot-bufferize{bufferize-function-boundaries "
                "function-boundary-type-conversion=identity-layout-map}, "
                "buffer-deallocation-pipeline, convert-linalg-to-loops, "
                "canonicalize, cse");
  buildCPUKernelsToLLVMPipeline(pm, options.nativeBF16);
}

void mla::buildGPUKernelsToNVVMPipeline(OpPassManager &pm, StringRef arch) {
  addPasses(pm, ("nvvm-attach-target{chip=" + arch +
                 " features=+ptx80 O=3}, gpu.module(convert-scf-to-cf, "
                 "convert-gpu-to-nvvm, mla-nvvm-tensor-map-params, "
                 "convert-nvvm-to-llvm, canonicalize, "
                 "cse, reconcile-unrealized-casts)")
                    .str());
}

void mla::buildLowerToNVVMPipeline(OpPassManager &pm,
                                   const NVVMPipelineOptions &options) {
  ConvertMLAToGPUPassOptions gpu;
  gpu.arch = options.arch;
  gpu.kernelName = options.kernelName;
  gpu.numSplits = options.numSplits;
  gpu.tma = options.tma;
  pm.addPass(createConvertMLAToGPUPass(gpu));
  buildGPUKernelsToNVVMPipeline(pm, options.arch);
}

namespace {
struct NativeBF16Option : public PassPipelineOptions<NativeBF16Option> {
  Option<bool> nativeBF16{
      *this, "native-bf16",
      llvm::cl::desc("The target converts f32 to bf16 itself (AVX512-BF16)"),
      llvm::cl::init(false)};
};
struct ArchOption : public PassPipelineOptions<ArchOption> {
  Option<std::string> arch{*this, "arch", llvm::cl::desc("sm_80, sm_86, sm_89 or sm_90a"),
                           llvm::cl::init("sm_80")};
};
} // namespace

void mla::registerMLAPipelines() {
  PassPipelineRegistration<NativeBF16Option>(
      "mla-lower-cpu-kernels-to-llvm",
      "The CPU decode kernels (scf, vector, memref, math) to the LLVM dialect",
      [](OpPassManager &pm, const NativeBF16Option &o) {
        buildCPUKernelsToLLVMPipeline(pm, o.nativeBF16);
      });
  PassPipelineRegistration<CPUPipelineOptions>(
      "mla-lower-to-cpu",
      "mla ops on tensors to the LLVM dialect, the attention through the CPU "
      "decode kernels",
      buildLowerToCPUPipeline);
  PassPipelineRegistration<ArchOption>(
      "mla-lower-gpu-kernels-to-nvvm",
      "Every gpu.module to NVVM (PTX 8.0, O3) for the given arch",
      [](OpPassManager &pm, const ArchOption &o) {
        buildGPUKernelsToNVVMPipeline(pm, o.arch);
      });
  PassPipelineRegistration<NVVMPipelineOptions>(
      "mla-lower-to-nvvm",
      "mla.decode_attention to GPU kernels and their launches, the kernels "
      "to NVVM",
      buildLowerToNVVMPipeline);
}
