//===- KVCacheReport.h - KV-cache footprint of a layer ----------*- C++ -*-===//

#ifndef MLA_DIALECT_MLA_TRANSFORMS_KVCACHEREPORT_H
#define MLA_DIALECT_MLA_TRANSFORMS_KVCACHEREPORT_H

#include "mla/Dialect/MLA/IR/MLAAttrs.h"
#include "llvm/ADT/StringRef.h"
#include <cstdint>
#include <optional>

namespace mlir::mla {

/// KV-cache footprint of one layer, and of a whole model serving a batch.
struct KVCacheFootprint {
  int64_t valuesPerToken;    // per token per layer
  int64_t mhaValuesPerToken; // MHA with the same heads
  int64_t bytesPerToken;
  int64_t mhaBytesPerToken;
  int64_t totalBytes;    // bytesPerToken * batch * context * layers
  int64_t mhaTotalBytes; // the same for MHA
  double ratioToMHA() const {
    return static_cast<double>(valuesPerToken) / mhaValuesPerToken;
  }
};

/// Bytes of one cache element of `dtype` (f32, f16, bf16, fp8), or nullopt.
std::optional<int64_t> getCacheElementBytes(llvm::StringRef dtype);

/// The footprint of `config` with `elementBytes`-byte values, or nullopt
/// when a count or total does not fit in 64 bits (every product is checked).
std::optional<KVCacheFootprint>
computeKVCacheFootprint(LayerConfigAttr config, int64_t elementBytes,
                        int64_t batch, int64_t context, int64_t layers);

} // namespace mlir::mla

#endif // MLA_DIALECT_MLA_TRANSFORMS_KVCACHEREPORT_H
