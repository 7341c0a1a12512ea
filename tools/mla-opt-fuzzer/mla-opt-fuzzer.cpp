//===- mla-opt-fuzzer.cpp - libFuzzer target over mla-opt's front end -----===//
//
// Each input is a dialect file: parsed, verified, then run through the mla
// passes that take any layer (decompose, absorb, fuse, the KV-cache report)
// on a copy. Any outcome but a diagnostic (a crash, a sanitizer report, an
// assertion) is a bug. Seeds: examples/ and test/**/*.mlir.
//
//===----------------------------------------------------------------------===//

#include "mla/Dialect/MLA/IR/MLADialect.h"
#include "mla/Dialect/MLA/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/raw_ostream.h"

#include <cstddef>
#include <cstdint>
#include <memory>

using namespace mlir;

namespace {
/// One context for the whole run: registering dialects per input would
/// dominate the time. Only mla and func parse (what dialect files hold), so
/// that the fuzzer explores our parsers and verifiers, not upstream's; the
/// passes load what they create. Diagnostics are swallowed (they are the
/// expected outcome for most mutated inputs).
MLIRContext &context() {
  static MLIRContext *ctx = [] {
    DialectRegistry registry;
    registry.insert<mla::MLADialect, func::FuncDialect>();
    auto *c = new MLIRContext(registry);
    c->loadAllAvailableDialects();
    c->disableMultithreading();
    c->getDiagEngine().registerHandler([](Diagnostic &) { return success(); });
    return c;
  }();
  return *ctx;
}

// Passes that apply to any module of mla ops; the kernel lowerings are
// covered by their own tests.
constexpr const char *kPipelines[] = {
    "builtin.module(mla-decompose)",
    ("builtin.module(func.func(canonicalize), mla-absorb-weights, "
     "mla-fuse-decode-attention)"),
    "builtin.module(mla-kv-cache-report{batch=8 context=4096 layers=61})",
};
} // namespace

extern "C" int LLVMFuzzerInitialize(int *, char ***) {
  mla::registerMLAPasses();
  registerCanonicalizerPass();
  (void)context();
  // The report prints to stdout; keep the fuzzer's output readable.
  llvm::outs().SetUnbuffered();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  MLIRContext &ctx = context();
  llvm::SourceMgr sourceMgr;
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(
          llvm::StringRef(reinterpret_cast<const char *>(data), size),
          "input"),
      llvm::SMLoc());
  OwningOpRef<ModuleOp> module = parseSourceFile<ModuleOp>(sourceMgr, &ctx);
  if (!module || failed(verify(*module)))
    return 0;
  for (const char *pipeline : kPipelines) {
    OwningOpRef<ModuleOp> copy = module->clone();
    PassManager pm(&ctx);
    if (failed(parsePassPipeline(pipeline, pm)))
      return 0;
    (void)pm.run(*copy);
  }
  return 0;
}
