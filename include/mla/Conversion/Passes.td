//===- Passes.td - mla conversion passes -------------------*- tablegen -*-===//

#ifndef MLA_CONVERSION_PASSES_TD
#define MLA_CONVERSION_PASSES_TD

include "mlir/Pass/PassBase.td"

def ConvertMLAToCPUPass : Pass<"convert-mla-to-cpu", "ModuleOp"> {
  let summary = "Lower mla.decode_attention to CPU flash-decoding kernels";
  let description = [{
    Generates `<kernel-name>_partial` and `<kernel-name>_combine` (scf,
    vector, memref, math; register-blocked QK^T and PV with FMAs, online
    softmax, split-KV partials and their combine) for each distinct
    mla.decode_attention configuration, and replaces the op by its buffers
    (bufferization.to_buffer / to_tensor) and calls of the kernels over
    (sequence, row group, split), with `num-splits` splits. Buffers are
    allocated with memref.alloc and freed by the buffer-deallocation pipeline
    run after bufferization. The threaded C
    entry that mla-codegen links around the same kernels is the other user.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::func::FuncDialect", "::mlir::math::MathDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect",
    "::mlir::vector::VectorDialect", "::mlir::x86vector::X86VectorDialect",
    "::mlir::amx::AMXDialect"];
  let options = [
    Option<"kernelName", "kernel-name", "std::string", "\"mla_decode\"",
           "Prefix of the generated kernel functions">,
    Option<"vectorWidth", "vector-width", "int64_t", "8",
           "f32 lanes of the target's vectors">,
    Option<"numSplits", "num-splits", "int64_t", "1",
           "KV splits per sequence">,
    Option<"bf16Dot", "bf16-dot", "bool", "false",
           "QK^T of bf16 storage with AVX512-BF16 dot products (vdpbf16ps)">,
    Option<"amx", "amx", "bool", "false",
           "Also emit <kernel-name>_partial_amx, the partial kernel on AMX "
           "tiles, for bf16 with 8 or more rows per KV head (groups then "
           "take up to 128 rows); mla-codegen's libraries call it on hosts "
           "with AMX-BF16, the loops launch never">,
    Option<"prefetch", "prefetch", "bool", "false",
           "Also emit <kernel-name>_partial_prefetch (the partial kernel that "
           "prefetches the next tile) and "
           "launch it; mla-codegen's libraries choose it per call">,
    Option<"launch", "launch", "std::string", "\"loops\"",
           "loops: replace the op by calls of the kernels over (sequence, "
           "group, split); none: only emit the kernels, leaving the op (for "
           "a host runtime that launches them, as mla-codegen's libraries "
           "do)">,
    Option<"tileTokens", "tile-tokens", "int64_t", "0",
           "Tuning: tokens per softmax step (0: derived)">,
    ListOption<"tileBlocks", "tile-blocks", "int64_t",
               "Tuning: rows-per-group, score-rows, score-tokens, pv-rows, "
               "pv-vectors (empty: derived)">
  ];
}

def ConvertMLAToGPUPass : Pass<"convert-mla-to-gpu", "ModuleOp"> {
  let summary = "Lower mla.decode_attention to GPU flash-decoding kernels";
  let description = [{
    Generates `gpu.module @<kernel-name>_kernels` with the kernels of each
    distinct mla.decode_attention configuration: a split-KV partial kernel
    (grid: splits x row groups x batch) and a combine kernel (grid: rows x
    batch, one warp). f32 storage gets the SIMT partial kernel (128
    threads, a 16-row cache tile, warp-reduced scores, online softmax);
    bf16/f16 storage the tensor-core one (warps over 16-row m-tiles and
    output column splits, queries in dynamic shared memory, 16-byte
    cp.async into a double-buffered tile, ldmatrix and mma.sync m16n8k16
    with f32 accumulation for QK^T and PV). The op is
    replaced by its buffers and two gpu.launch_func, with `num-splits`
    splits. mla-codegen --target=sm_80|sm_90a compiles the same gpu.module
    to PTX and a cubin and launches it through its own CUDA driver API host
    library.
  }];
  let dependentDialects = [
    "::mlir::arith::ArithDialect", "::mlir::bufferization::BufferizationDialect",
    "::mlir::gpu::GPUDialect", "::mlir::LLVM::LLVMDialect",
    "::mlir::math::MathDialect", "::mlir::NVVM::NVVMDialect",
    "::mlir::nvgpu::NVGPUDialect",
    "::mlir::memref::MemRefDialect", "::mlir::scf::SCFDialect"];
  let options = [
    Option<"kernelName", "kernel-name", "std::string", "\"mla_decode\"",
           "Prefix of the generated gpu.module">,
    Option<"numSplits", "num-splits", "int64_t", "1",
           "KV splits per sequence">,
    Option<"arch", "arch", "std::string", "\"sm_80\"",
           "Target architecture (sm_80, sm_86, sm_89 or sm_90a)">,
    Option<"tma", "tma", "bool", "false",
           "On sm_90a, the wgmma + TMA kernel for bf16/f16 where it applies "
           "(pages of 8 or more rows, d_c a multiple of 64), its two tensor "
           "maps created on the host with nvgpu.tma.create.descriptor; "
           "otherwise mma.sync">,
    Option<"launch", "launch", "std::string", "\"launches\"",
           "launches: replace the op by gpu.launch_func of the kernels; "
           "none: only emit the gpu.module, leaving the op (for a host "
           "runtime, as mla-codegen's libraries do; the wgmma kernel then "
           "takes its tensor maps by value, mla.tensor_map_params)">
  ];
}

def MLAApproximateMathPass : Pass<"mla-approximate-math", "ModuleOp"> {
  let summary = "math.exp, log, ... as polynomials that vectorize on the CPU";
  let description = [{
    Applies MLIR's polynomial approximations of the math dialect (the
    patterns of populateMathPolynomialApproximationPatterns, without the
    AVX2-only rsqrt) to the whole module, so that the CPU kernels' vector
    exp and log become vector arithmetic rather than scalar libm calls. Part
    of the `mla-lower-to-cpu` and `mla-lower-cpu-kernels-to-llvm` pipelines.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect",
                           "::mlir::math::MathDialect",
                           "::mlir::vector::VectorDialect"];
}

def MLAExpandBF16Pass : Pass<"mla-expand-bf16", "ModuleOp"> {
  let summary = "f32 -> bf16 conversions as integer ops, for CPUs without "
                "AVX512-BF16";
  let description = [{
    Rewrites every arith.truncf from f32 to bf16 (scalar or vector) into
    integer arithmetic without a select: round to nearest even, NaNs kept
    quiet. Without AVX512-BF16, LLVM's x86 backend lowers the conversion,
    and any select of bf16 values (which LLVM forms from arith-expand's NaN
    select), through f32 and a call of __truncsfbf2, which GCC 12's libgcc
    does not have: the kernel library would not load. Part of
    mla-lower-cpu-kernels-to-llvm unless the target converts natively
    (`native-bf16`).
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

def MLANVVMTensorMapParamsPass : Pass<"mla-nvvm-tensor-map-params"> {
  let summary = "The trailing CUtensorMap parameters of NVVM kernels as "
                "__grid_constant__ parameters";
  let description = [{
    On every `llvm.func` with `nvvm.kernel` and `mla.tensor_map_params = N`,
    makes the last N parameters (pointers) what CUDA makes of a
    `const __grid_constant__ CUtensorMap` parameter: 128 bytes passed by
    value (`llvm.byval = !llvm.array<128 x i8>`), 64-byte aligned, and
    `nvvm.grid_constant`, so that the kernel addresses the parameter itself
    (cvta.param) rather than a copy. The launch then carries the maps: no
    per-call copy to device memory, no stale map, nothing that a CUDA graph
    cannot capture. Runs after convert-gpu-to-nvvm, which does not carry
    `llvm.byval` from gpu.func arguments (and NVVM accepts grid_constant only
    on an nvvm.kernel); removes the marker.
  }];
  let dependentDialects = ["::mlir::LLVM::LLVMDialect",
                           "::mlir::NVVM::NVVMDialect"];
}

#endif // MLA_CONVERSION_PASSES_TD
