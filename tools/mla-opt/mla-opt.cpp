//===- mla-opt.cpp - mlir-opt with the mla dialect and passes ---*- C++ -*-===//

#include "mla/InitAll.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

namespace mlir::mla {
void registerTestPasses();
} // namespace mlir::mla

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  mlir::mla::registerAllDialects(registry);
  mlir::mla::registerAllPasses();
  mlir::mla::registerTestPasses();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "MLA optimizer driver\n", registry));
}
