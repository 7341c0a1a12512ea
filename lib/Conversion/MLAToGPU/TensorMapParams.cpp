//===- TensorMapParams.cpp - mla-nvvm-tensor-map-params pass ----*- C++ -*-===//
//
// The wgmma kernel's TMA descriptors as `const __grid_constant__ CUtensorMap`
// parameters (see Passes.td).
//
//===----------------------------------------------------------------------===//

#include "mla/Conversion/Passes.h"
#include "mla/Dialect/MLA/IR/MLADialect.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

namespace mlir::mla {
#define GEN_PASS_DEF_MLANVVMTENSORMAPPARAMSPASS
#include "mla/Conversion/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;

namespace {
/// sizeof(CUtensorMap) and its alignment (cuda.h).
constexpr int64_t kTensorMapBytes = 128, kTensorMapAlign = 64;

struct MLANVVMTensorMapParamsPass
    : public mla::impl::MLANVVMTensorMapParamsPassBase<
          MLANVVMTensorMapParamsPass> {
  void runOnOperation() override {
    StringRef marker = mla::MLADialect::getTensorMapParamsAttrName();
    WalkResult result = getOperation()->walk([&](LLVM::LLVMFuncOp fn) {
      auto count = fn->getAttrOfType<IntegerAttr>(marker);
      if (!count)
        return WalkResult::advance();
      fn->removeAttr(marker);
      if (!fn->hasAttr(NVVM::NVVMDialect::getKernelFuncAttrName())) {
        fn.emitError() << "'" << marker << "' on a function that is not an "
                       << "NVVM kernel";
        return WalkResult::interrupt();
      }
      unsigned total = fn.getNumArguments();
      Builder b(fn.getContext());
      auto mapType = LLVM::LLVMArrayType::get(b.getI8Type(), kTensorMapBytes);
      for (unsigned i = total - unsigned(count.getInt()); i < total; ++i) {
        if (!isa<LLVM::LLVMPointerType>(fn.getArgument(i).getType())) {
          fn.emitError() << "tensor map parameter " << i << " is not a pointer";
          return WalkResult::interrupt();
        }
        fn.setArgAttr(i, LLVM::LLVMDialect::getByValAttrName(),
                      TypeAttr::get(mapType));
        fn.setArgAttr(i, LLVM::LLVMDialect::getAlignAttrName(),
                      b.getI64IntegerAttr(kTensorMapAlign));
        fn.setArgAttr(i, NVVM::NVVMDialect::getGridConstantAttrName(),
                      b.getUnitAttr());
      }
      return WalkResult::advance();
    });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};
} // namespace
