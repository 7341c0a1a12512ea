//===- BufferUtils.h - operand buffers for the generated kernels -*- C++ -*-===//

#ifndef MLA_CONVERSION_BUFFERUTILS_H
#define MLA_CONVERSION_BUFFERUTILS_H

#include "mlir/Dialect/Bufferization/IR/Bufferization.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

namespace mlir::mla {

/// The kernels take flat memref<?xT>: a tensor's buffer (read-only, identity
/// layout) or a memref, collapsed to 1-D; identity layouts are contiguous.
inline Value flatBuffer(ImplicitLocOpBuilder &b, Value v) {
  auto shaped = cast<ShapedType>(v.getType());
  Value m = v;
  if (isa<RankedTensorType>(shaped))
    m = bufferization::ToBufferOp::create(
        b, MemRefType::get(shaped.getShape(), shaped.getElementType()), v,
        /*read_only=*/true);
  ReassociationIndices all;
  for (int64_t d = 0; d < shaped.getRank(); ++d)
    all.push_back(d);
  Value flat = memref::CollapseShapeOp::create(
      b, m, ArrayRef<ReassociationIndices>{all});
  // A static shape (sinks [H]) is cast to the kernels' dynamic one.
  auto flatTy = cast<MemRefType>(flat.getType());
  if (flatTy.hasStaticShape())
    flat = memref::CastOp::create(
        b, MemRefType::get({ShapedType::kDynamic}, flatTy.getElementType()),
        flat);
  return flat;
}

} // namespace mlir::mla

#endif // MLA_CONVERSION_BUFFERUTILS_H
