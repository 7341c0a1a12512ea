//===- DecodeParams.h - what every decode kernel is generated for -*- C++ -*-===//

#ifndef MLA_CONVERSION_DECODEPARAMS_H
#define MLA_CONVERSION_DECODEPARAMS_H

#include "mla/Dialect/MLA/IR/MLAOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Types.h"
#include "mlir/Support/LLVM.h"

#include <string>

namespace mlir::mla {

/// The fixed parameters of the kernel contract (DESIGN.md).
struct DecodeParams {
  int64_t heads = 0, qLen = 0, dc = 0, dr = 0, blockSize = 0;
  Type elemType; // f32, bf16 or f16 storage of q, cache and out
  bool causal = true;

  /// The parameters of an mla.decode_attention op.
  static DecodeParams of(DecodeAttentionOp op) {
    DecodeParams p;
    p.heads = op.getNumHeads();
    p.qLen = op.getQueryLen();
    p.dc = op.getLatentDim();
    p.dr = op.getRopeDim();
    p.blockSize = op.getBlockSize();
    p.elemType = op.getQuery().getType().getElementType();
    p.causal = op.getCausal();
    return p;
  }

  int64_t rows() const { return heads * qLen; }
  int64_t rowWidth() const { return dc + dr; }

  /// Checks what every target needs: positive heads, q_len and block size,
  /// f32/bf16/f16 storage, and d_c, d_r multiples of the target's `granule`
  /// (described as `granuleName`). A refused value is named, with why.
  LogicalResult verify(StringRef target, int64_t granule,
                       StringRef granuleName,
                       function_ref<InFlightDiagnostic()> emitError) const {
    auto refuse = [&](StringRef what, int64_t v, const Twine &why) {
      emitError() << "cannot generate a " << target
                  << " decode kernel: " << what << " = " << v << " (" << why
                  << ")";
      return failure();
    };
    if (heads <= 0)
      return refuse("num_heads", heads, "must be positive");
    if (qLen <= 0)
      return refuse("q_len", qLen, "must be positive");
    if (blockSize <= 0)
      return refuse("block_size", blockSize, "must be positive");
    if (dc <= 0 || dc % granule != 0)
      return refuse("kv_lora_rank", dc,
                    "must be a positive multiple of the " + granuleName);
    if (dr < 0 || dr % granule != 0)
      return refuse("qk_rope_head_dim", dr,
                    "must be 0 or a multiple of the " + granuleName);
    if (!elemType ||
        !(elemType.isF32() || elemType.isBF16() || elemType.isF16())) {
      emitError() << "cannot generate a " << target
                  << " decode kernel: element type " << elemType
                  << " (expected f32, bf16 or f16)";
      return failure();
    }
    return success();
  }
};

} // namespace mlir::mla

#endif // MLA_CONVERSION_DECODEPARAMS_H
