//===- MLADialect.cpp - mla dialect -----------------------------*- C++ -*-===//

#include "mla/Dialect/MLA/IR/MLADialect.h"
#include "mla/Dialect/MLA/IR/MLAAttrs.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
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
  return op->emitError() << "unknown mla dialect attribute '"
                         << attr.getName().getValue() << "'";
}
