//===- MLADialect.cpp - mla dialect -----------------------------*- C++ -*-===//

#include "mla/Dialect/MLA/IR/MLADialect.h"
#include "mla/Dialect/MLA/IR/MLAAttrs.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::mla;

#include "mla/Dialect/MLA/IR/MLADialect.cpp.inc"

void MLADialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "mla/Dialect/MLA/IR/MLAOps.cpp.inc"
      >();
  registerAttributes();
}

LogicalResult MLADialect::verifyOperationAttribute(Operation *op,
                                                   NamedAttribute attr) {
  if (attr.getName() == getLayerAttrName()) {
    if (!isa<LayerConfigAttr>(attr.getValue()))
      return op->emitError() << "'" << getLayerAttrName()
                             << "' must be a #mla.layer_config attribute, got "
                             << attr.getValue();
    return success();
  }
  if (attr.getName() == getTensorMapParamsAttrName()) {
    auto count = dyn_cast<IntegerAttr>(attr.getValue());
    auto fn = dyn_cast<FunctionOpInterface>(op);
    if (!fn)
      return op->emitError() << "'" << getTensorMapParamsAttrName()
                             << "' must be on a function";
    if (!count || count.getInt() < 0 ||
        count.getInt() > int64_t(fn.getNumArguments()))
      return op->emitError()
             << "'" << getTensorMapParamsAttrName()
             << "' must be an integer between 0 and the function's "
             << fn.getNumArguments() << " arguments, got " << attr.getValue();
    return success();
  }
  return op->emitError() << "unknown mla dialect attribute '"
                         << attr.getName().getValue() << "'";
}
