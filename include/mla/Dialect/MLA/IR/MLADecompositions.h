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

/// The f32 values of e4m3fn codes (`bytes`: i8 or a vector of i8), exactly,
/// by integer ops (neither the CPUs nor LLVM have an e4m3 type): normals
/// rebiased, subnormals m * 2^-9, s1111111 NaN. Shared by the fp8-row
/// decompositions and the CPU and GPU kernels.
Value buildE4M3ToF32(OpBuilder &b, Location loc, Value bytes);

} // namespace mlir::mla

#endif // MLA_DIALECT_MLA_IR_MLADECOMPOSITIONS_H
