//===- InitAll.h - registration shared by the mla tools ---------*- C++ -*-===//

#ifndef MLA_INITALL_H
#define MLA_INITALL_H

namespace mlir {
class DialectRegistry;
namespace mla {
/// Registers the mla dialect beside every upstream dialect and extension, so
/// that the tools accept whatever mlir-opt accepts.
void registerAllDialects(DialectRegistry &registry);
/// Registers the mla passes and every upstream pass and pipeline.
void registerAllPasses();
} // namespace mla
} // namespace mlir

#endif // MLA_INITALL_H
