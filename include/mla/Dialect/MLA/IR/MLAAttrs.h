//===- MLAAttrs.h - mla dialect attributes ----------------------*- C++ -*-===//

#ifndef MLA_DIALECT_MLA_IR_MLAATTRS_H
#define MLA_DIALECT_MLA_IR_MLAATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/APFloat.h"
#include <optional>

#include "mla/Dialect/MLA/IR/MLAEnums.h.inc"

namespace mlir::mla {
/// `[a, b, ...]` of doubles, printed to parse back exactly.
FailureOr<DenseF64ArrayAttr> parseF64Array(AsmParser &parser);
void printF64Array(AsmPrinter &printer, DenseF64ArrayAttr values);
} // namespace mlir::mla

#define GET_ATTRDEF_CLASSES
#include "mla/Dialect/MLA/IR/MLAAttrs.h.inc"

namespace mlir::mla {
/// The layer config of the function (or other op) enclosing `op` through the
/// `mla.layer` attribute, or null.
LayerConfigAttr getEnclosingLayerConfig(Operation *op);
} // namespace mlir::mla

#endif // MLA_DIALECT_MLA_IR_MLAATTRS_H
