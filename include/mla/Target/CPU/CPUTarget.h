//===- CPUTarget.h - from the LLVM dialect to a shared library --*- C++ -*-===//

#ifndef MLA_TARGET_CPU_CPUTARGET_H
#define MLA_TARGET_CPU_CPUTARGET_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::mla::cpu {

/// The CPU kernels are compiled for: the host unless overridden.
struct HostTarget {
  std::string triple, cpu, features;
  /// f32 lanes of the widest vector registers the target has.
  int64_t vectorWidth = 8;
  /// AVX512-BF16 dot products (vdpbf16ps).
  bool bf16Dot = false;
  /// AMX tiles with bf16 products (tdpbf16ps).
  bool amx = false;
};

/// The host's triple, CPU name and features; `cpu` overrides the CPU name
/// (its features then come from LLVM's knowledge of that CPU).
FailureOr<HostTarget> getHostTarget(StringRef cpu = "");

/// Lowers the kernels (func/scf/vector/memref/arith/math) to the LLVM
/// dialect with the mla-lower-cpu-kernels-to-llvm pipeline: math ops as
/// vectorizable polynomials; f32 -> bf16 conversions inline unless the
/// target has them (`nativeBF16`, AVX512-BF16), since a libgcc without
/// __truncsfbf2 would leave the library unloadable.
LogicalResult lowerToLLVMDialect(ModuleOp module, bool nativeBF16 = false);

/// Translates an LLVM-dialect module to LLVM IR, optimizes it at O3 for
/// `target` and writes an object file. `llvmIR`, if given, receives the
/// optimized IR.
LogicalResult emitObjectFile(ModuleOp module, const HostTarget &target,
                             StringRef path, std::string *llvmIR = nullptr);

/// Runs `compiler` (a compiler driver, ptxas, ...) with `args`; on failure
/// returns its exit status and output in `error`. `output`, if given,
/// receives what it printed.
LogicalResult runCompiler(StringRef compiler, ArrayRef<std::string> args,
                          std::string &error, std::string *output = nullptr);

} // namespace mlir::mla::cpu

#endif // MLA_TARGET_CPU_CPUTARGET_H
