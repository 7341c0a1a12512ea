//===- CPUTarget.cpp - from the LLVM dialect to a shared library -*- C++ -*-===//

#include "mla/Target/CPU/CPUTarget.h"
#include "mla/Conversion/Pipelines.h"

#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"

#include "llvm/IR/LLVMContext.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/SubtargetFeature.h"

using namespace mlir;
using namespace mlir::mla;

FailureOr<cpu::HostTarget> cpu::getHostTarget(StringRef cpuName) {
  llvm::InitializeNativeTarget();
  llvm::InitializeNativeTargetAsmPrinter();
  HostTarget t;
  t.triple = llvm::sys::getProcessTriple();
  if (cpuName.empty() || cpuName == "native") {
    t.cpu = llvm::sys::getHostCPUName().str();
    llvm::SubtargetFeatures features;
    for (const auto &f : llvm::sys::getHostCPUFeatures())
      features.AddFeature(f.first(), f.second);
    t.features = features.getString();
  } else {
    t.cpu = cpuName.str();
  }
  // Ask LLVM what the chosen CPU supports, so that an override is honoured.
  std::string err;
  const llvm::Target *target =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(t.triple), err);
  if (!target)
    return failure();
  std::unique_ptr<llvm::TargetMachine> tm(target->createTargetMachine(
      llvm::Triple(t.triple), t.cpu, t.features, {}, llvm::Reloc::PIC_));
  if (!tm)
    return failure();
  const llvm::MCSubtargetInfo *sti = tm->getMCSubtargetInfo();
  if (sti->checkFeatures("+avx512f"))
    t.vectorWidth = 16;
  else if (sti->checkFeatures("+avx"))
    t.vectorWidth = 8;
  else
    t.vectorWidth = 4;
  t.bf16Dot = sti->checkFeatures("+avx512bf16");
  t.amx = sti->checkFeatures("+amx-tile,+amx-bf16");
  return t;
}

LogicalResult cpu::lowerToLLVMDialect(ModuleOp module, bool nativeBF16) {
  PassManager pm(module.getContext());
  buildCPUKernelsToLLVMPipeline(pm, nativeBF16);
  return pm.run(module);
}

LogicalResult cpu::emitObjectFile(ModuleOp module, const HostTarget &target,
                                  StringRef path, std::string *llvmIR) {
  registerBuiltinDialectTranslation(*module.getContext());
  registerLLVMDialectTranslation(*module.getContext());
  llvm::LLVMContext llvmCtx;
  std::unique_ptr<llvm::Module> llvmModule =
      translateModuleToLLVMIR(module, llvmCtx, "mla");
  if (!llvmModule)
    return module.emitError("translation to LLVM IR failed");

  std::string err;
  const llvm::Target *llvmTarget =
      llvm::TargetRegistry::lookupTarget(llvm::Triple(target.triple), err);
  if (!llvmTarget)
    return module.emitError("no LLVM target for ") << target.triple << ": "
                                                    << err;
  llvm::TargetOptions opts;
  opts.AllowFPOpFusion = llvm::FPOpFusion::Fast;
  std::unique_ptr<llvm::TargetMachine> tm(llvmTarget->createTargetMachine(
      llvm::Triple(target.triple), target.cpu, target.features, opts,
      llvm::Reloc::PIC_, std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  llvmModule->setDataLayout(tm->createDataLayout());
  llvmModule->setTargetTriple(llvm::Triple(target.triple));
  for (llvm::Function &f : *llvmModule) {
    if (f.isDeclaration())
      continue;
    f.addFnAttr("target-cpu", target.cpu);
    if (!target.features.empty())
      f.addFnAttr("target-features", target.features);
  }

  // The new pass manager's O3 pipeline, as clang -O3 runs it.
  {
    llvm::LoopAnalysisManager lam;
    llvm::FunctionAnalysisManager fam;
    llvm::CGSCCAnalysisManager cgam;
    llvm::ModuleAnalysisManager mam;
    llvm::PassBuilder pb(tm.get());
    pb.registerModuleAnalyses(mam);
    pb.registerCGSCCAnalyses(cgam);
    pb.registerFunctionAnalyses(fam);
    pb.registerLoopAnalyses(lam);
    pb.crossRegisterProxies(lam, fam, cgam, mam);
    llvm::ModulePassManager mpm =
        pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
    mpm.run(*llvmModule, mam);
  }
  if (llvmIR) {
    llvm::raw_string_ostream os(*llvmIR);
    llvmModule->print(os, nullptr);
  }

  std::error_code ec;
  llvm::raw_fd_ostream out(path, ec, llvm::sys::fs::OF_None);
  if (ec)
    return module.emitError("cannot write ") << path << ": " << ec.message();
  llvm::legacy::PassManager codegen;
  if (tm->addPassesToEmitFile(codegen, out, nullptr,
                              llvm::CodeGenFileType::ObjectFile))
    return module.emitError("the target cannot emit object files");
  codegen.run(*llvmModule);
  return success();
}

LogicalResult cpu::runCompiler(StringRef compiler, ArrayRef<std::string> args,
                               std::string &error, std::string *output) {
  SmallVector<StringRef> argv{compiler};
  for (const std::string &a : args)
    argv.push_back(a);
  SmallString<128> log;
  if (std::error_code ec =
          llvm::sys::fs::createTemporaryFile("mla-cc", "log", log)) {
    error = "cannot create a temporary file: " + ec.message();
    return failure();
  }
  std::optional<StringRef> redirects[] = {std::nullopt, StringRef(log),
                                          StringRef(log)};
  std::string execErr;
  int rc = llvm::sys::ExecuteAndWait(compiler, argv, std::nullopt, redirects,
                                     0, 0, &execErr);
  auto text = llvm::MemoryBuffer::getFile(log);
  llvm::sys::fs::remove(log);
  if (output && text)
    *output = (*text)->getBuffer().str();
  if (rc == 0)
    return success();
  error = (compiler + " failed (" + (execErr.empty() ? "exit " + std::to_string(rc) : execErr) + ")").str();
  if (text)
    error += ":\n" + (*text)->getBuffer().str();
  return failure();
}
