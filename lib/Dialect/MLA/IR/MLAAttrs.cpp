//===- MLAAttrs.cpp - mla dialect attributes --------------------*- C++ -*-===//

#include "mla/Dialect/MLA/IR/MLAAttrs.h"
#include "mla/Dialect/MLA/IR/MLADialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/TypeSwitch.h"
#include <cmath>

using namespace mlir;
using namespace mlir::mla;

#include "mla/Dialect/MLA/IR/MLAEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "mla/Dialect/MLA/IR/MLAAttrs.cpp.inc"

void MLADialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "mla/Dialect/MLA/IR/MLAAttrs.cpp.inc"
      >();
}

LogicalResult LayerConfigAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, int64_t hiddenSize,
    int64_t numHeads, int64_t numKVHeads, std::optional<int64_t> qLoraRank,
    std::optional<int64_t> kvLoraRank, std::optional<int64_t> qkNopeHeadDim,
    std::optional<int64_t> qkRopeHeadDim, std::optional<int64_t> vHeadDim,
    std::optional<int64_t> headDim, llvm::APFloat ropeThetaAP,
    RopeStyle ropeStyle) {
  auto positive = [&](StringRef name, int64_t v) -> LogicalResult {
    if (v > 0)
      return success();
    return emitError() << "layer_config: " << name << " must be positive, got "
                       << v;
  };
  auto positiveIfSet = [&](StringRef name,
                           std::optional<int64_t> v) -> LogicalResult {
    return v ? positive(name, *v) : success();
  };
  if (failed(positive("hidden_size", hiddenSize)) ||
      failed(positive("num_attention_heads", numHeads)) ||
      failed(positive("num_key_value_heads", numKVHeads)) ||
      failed(positiveIfSet("q_lora_rank", qLoraRank)) ||
      failed(positiveIfSet("kv_lora_rank", kvLoraRank)) ||
      failed(positiveIfSet("qk_nope_head_dim", qkNopeHeadDim)) ||
      failed(positiveIfSet("v_head_dim", vHeadDim)) ||
      failed(positiveIfSet("head_dim", headDim)))
    return failure();
  if (numHeads % numKVHeads != 0)
    return emitError() << "layer_config: num_attention_heads (" << numHeads
                       << ") must be a multiple of num_key_value_heads ("
                       << numKVHeads << ")";
  double ropeTheta = ropeThetaAP.convertToDouble();
  if (!std::isfinite(ropeTheta) || ropeTheta <= 0)
    return emitError() << "layer_config: rope_theta must be positive and "
                          "finite, got "
                       << ropeTheta;
  if (kvLoraRank) {
    if (!qkNopeHeadDim || !qkRopeHeadDim || !vHeadDim)
      return emitError() << "layer_config: an MLA layer (kv_lora_rank set) "
                            "needs qk_nope_head_dim, qk_rope_head_dim and "
                            "v_head_dim";
    if (headDim)
      return emitError() << "layer_config: head_dim is for standard "
                            "attention; an MLA layer uses qk_nope_head_dim, "
                            "qk_rope_head_dim and v_head_dim";
    if (*qkRopeHeadDim < 0 || *qkRopeHeadDim % 2 != 0)
      return emitError() << "layer_config: qk_rope_head_dim must be even and "
                            "non-negative, got "
                         << *qkRopeHeadDim;
    return success();
  }
  if (!headDim)
    return emitError() << "layer_config: set kv_lora_rank (MLA) or head_dim "
                          "(standard attention)";
  if (qLoraRank || qkNopeHeadDim || qkRopeHeadDim || vHeadDim)
    return emitError() << "layer_config: q_lora_rank, qk_nope_head_dim, "
                          "qk_rope_head_dim and v_head_dim need kv_lora_rank";
  if (*headDim % 2 != 0)
    return emitError() << "layer_config: head_dim must be even for rotary "
                          "embedding, got "
                       << *headDim;
  return success();
}

int64_t LayerConfigAttr::getQueryKeyHeadDim() const {
  if (isLatent())
    return *getQkNopeHeadDim() + *getQkRopeHeadDim();
  return *getHeadDim();
}

int64_t LayerConfigAttr::getValueHeadDim() const {
  return isLatent() ? *getVHeadDim() : *getHeadDim();
}

int64_t LayerConfigAttr::getCacheValuesPerToken() const {
  if (isLatent())
    return *getKvLoraRank() + *getQkRopeHeadDim();
  return 2 * getNumKeyValueHeads() * *getHeadDim();
}

int64_t LayerConfigAttr::getMHACacheValuesPerToken() const {
  // MLA layers compare against the MHA of the DeepSeek-V2 paper, whose head
  // dim is hidden_size / num_heads; standard layers keep their own head_dim.
  if (isLatent())
    return 2 * getHiddenSize();
  return 2 * getNumAttentionHeads() * *getHeadDim();
}

double LayerConfigAttr::getDefaultSoftmaxScale() const {
  return 1.0 / std::sqrt(static_cast<double>(getQueryKeyHeadDim()));
}

LayerConfigAttr mlir::mla::getEnclosingLayerConfig(Operation *op) {
  for (Operation *p = op; p; p = p->getParentOp())
    if (auto cfg = p->getAttrOfType<LayerConfigAttr>(
            MLADialect::getLayerAttrName()))
      return cfg;
  return {};
}

LogicalResult DecodeVariantAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, KeySource keys,
    CacheScales scales, int64_t scaleGroup, ValueWidth value,
    std::optional<int64_t> window) {
  if (scaleGroup <= 0)
    return emitError() << "scale_group must be positive, got " << scaleGroup;
  if (scaleGroup != 128 && scales != CacheScales::row_groups)
    return emitError() << "scale_group (" << scaleGroup
                       << ") applies to scales = row_groups only";
  if (window && *window <= 0)
    return emitError() << "window must be positive, got " << *window;
  return success();
}
