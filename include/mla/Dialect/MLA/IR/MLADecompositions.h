//===- MLADecompositions.h - pieces of the ops' decompositions ---*- C++ -*-===//

#ifndef MLA_DIALECT_MLA_IR_MLADECOMPOSITIONS_H
#define MLA_DIALECT_MLA_IR_MLADECOMPOSITIONS_H

#include "mlir/Dialect/Utils/StructuredOpsUtils.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"

namespace mlir::mla {

/// A linalg.generic contraction of `lhs` and `rhs` with `maps` (lhs, rhs,
/// result) and `iters`: products summed in f32, then rounded once to
/// `resultType`'s element type. `dynSizes` are the result's dynamic sizes.
Value buildF32Contraction(OpBuilder &b, Location loc, Value lhs, Value rhs,
                          ArrayRef<AffineMap> maps,
                          ArrayRef<utils::IteratorType> iters,
                          RankedTensorType resultType,
                          ArrayRef<Value> dynSizes = {});

} // namespace mlir::mla

#endif // MLA_DIALECT_MLA_IR_MLADECOMPOSITIONS_H
