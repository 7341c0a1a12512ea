//===- InitAll.cpp - registration shared by the mla tools -------*- C++ -*-===//
//
// The one file that includes InitAllDialects/InitAllPasses (25-45 s each to
// compile), so the tools stay a few lines.
//
//===----------------------------------------------------------------------===//

#include "mla/InitAll.h"
#include "mla/Dialect/MLA/IR/MLADialect.h"
#include "mla/Conversion/Passes.h"
#include "mla/Conversion/Pipelines.h"
#include "mla/Dialect/MLA/Transforms/Passes.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/InitAllDialects.h"
#include "mlir/InitAllExtensions.h"
#include "mlir/InitAllPasses.h"
#include "mlir/Target/LLVMIR/Dialect/All.h"

void mlir::mla::registerAllDialects(DialectRegistry &registry) {
  registry.insert<MLADialect>();
  mlir::registerAllDialects(registry);
  mlir::registerAllExtensions(registry);
  // gpu-module-to-binary and the CPU object emission translate to LLVM IR.
  mlir::registerAllToLLVMIRTranslations(registry);
}

void mlir::mla::registerAllPasses() {
  mlir::registerAllPasses();
  mlir::mla::registerMLAPasses();
  mlir::mla::registerMLAConversionPasses();
  mlir::mla::registerMLAPipelines();
}
