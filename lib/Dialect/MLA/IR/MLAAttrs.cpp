//===- MLAAttrs.cpp - mla dialect attributes --------------------*- C++ -*-===//

#include "mla/Dialect/MLA/IR/MLAAttrs.h"
#include "mla/Dialect/MLA/IR/MLADialect.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include <algorithm>
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
    RopeStyle ropeStyle, std::optional<int64_t> indexHeads,
    std::optional<int64_t> indexHeadDim, std::optional<int64_t> indexTopK) {
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
      failed(positiveIfSet("head_dim", headDim)) ||
      failed(positiveIfSet("index_n_heads", indexHeads)) ||
      failed(positiveIfSet("index_head_dim", indexHeadDim)) ||
      failed(positiveIfSet("index_topk", indexTopK)))
    return failure();
  if (indexHeads || indexHeadDim || indexTopK) {
    if (!indexHeads || !indexHeadDim || !indexTopK)
      return emitError() << "layer_config: an indexer needs index_n_heads, "
                            "index_head_dim and index_topk";
    if (!kvLoraRank || !qLoraRank)
      return emitError() << "layer_config: an indexer needs an MLA layer "
                            "with q_lora_rank (its queries come from the "
                            "query latent)";
    if (qkRopeHeadDim && *indexHeadDim <= *qkRopeHeadDim)
      return emitError() << "layer_config: index_head_dim (" << *indexHeadDim
                         << ") must exceed qk_rope_head_dim (" << *qkRopeHeadDim
                         << "), which it rotates";
  }
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
  // DeepSeek-V3.2 caches its indexer's keys too.
  if (isLatent())
    return *getKvLoraRank() + *getQkRopeHeadDim() +
           getIndexHeadDim().value_or(0);
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

//===----------------------------------------------------------------------===//
// RopeScalingAttr
//===----------------------------------------------------------------------===//

FailureOr<DenseF64ArrayAttr> mla::parseF64Array(AsmParser &parser) {
  SmallVector<double> values;
  if (failed(parser.parseCommaSeparatedList(
          AsmParser::Delimiter::Square, [&]() -> ParseResult {
            double v;
            if (parser.parseFloat(v))
              return failure();
            values.push_back(v);
            return success();
          })))
    return failure();
  return DenseF64ArrayAttr::get(parser.getContext(), values);
}

void mla::printF64Array(AsmPrinter &printer, DenseF64ArrayAttr values) {
  printer << '[';
  llvm::interleaveComma(values.asArrayRef(), printer,
                        [&](double v) { printer.printFloat(APFloat(v)); });
  printer << ']';
}

namespace {
/// YaRN's attention-scale term m(s, a) = 1 + 0.1 a ln s (1 for s <= 1).
double yarnMscale(double scale, double a) {
  return scale <= 1.0 ? 1.0 : 0.1 * a * std::log(scale) + 1.0;
}
} // namespace

LogicalResult RopeScalingAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, RopeScalingType type,
    APFloat factorAP, int64_t originalMax, APFloat attentionFactorAP,
    APFloat betaFastAP, APFloat betaSlowAP, APFloat mscaleAP,
    APFloat mscaleAllDimAP, DenseF64ArrayAttr shortAttr,
    DenseF64ArrayAttr longAttr, APFloat lowFreqFactorAP,
    APFloat highFreqFactorAP) {
  double factor = factorAP.convertToDouble(),
         attentionFactor = attentionFactorAP.convertToDouble(),
         betaFast = betaFastAP.convertToDouble(),
         betaSlow = betaSlowAP.convertToDouble(),
         mscale = mscaleAP.convertToDouble(),
         mscaleAllDim = mscaleAllDimAP.convertToDouble(),
         lowFreqFactor = lowFreqFactorAP.convertToDouble(),
         highFreqFactor = highFreqFactorAP.convertToDouble();
  ArrayRef<double> shortFactor, longFactor;
  if (shortAttr)
    shortFactor = shortAttr.asArrayRef();
  if (longAttr)
    longFactor = longAttr.asArrayRef();
  StringRef kind = stringifyRopeScalingType(type);
  auto positive = [&](StringRef name, double v) -> LogicalResult {
    if (std::isfinite(v) && v > 0)
      return success();
    return emitError() << "rope_scaling: " << name
                       << " must be positive and finite, got " << v;
  };
  // A parameter that the type does not read is an error, not ignored.
  auto unused = [&](StringRef name, bool isSet) -> LogicalResult {
    if (!isSet)
      return success();
    return emitError() << "rope_scaling: " << name << " is not a parameter of "
                       << kind << " scaling";
  };
  bool yarn = type == RopeScalingType::yarn;
  bool longrope = type == RopeScalingType::longrope;
  bool llama3 = type == RopeScalingType::llama3;
  if (failed(positive("factor", factor)) ||
      failed(unused("beta_fast", !yarn && betaFast != 32.0)) ||
      failed(unused("beta_slow", !yarn && betaSlow != 1.0)) ||
      failed(unused("mscale", !yarn && mscale != 0.0)) ||
      failed(unused("mscale_all_dim", !yarn && mscaleAllDim != 0.0)) ||
      failed(unused("short_factor", !longrope && !shortFactor.empty())) ||
      failed(unused("long_factor", !longrope && !longFactor.empty())) ||
      failed(unused("low_freq_factor", !llama3 && lowFreqFactor != 1.0)) ||
      failed(unused("high_freq_factor", !llama3 && highFreqFactor != 4.0)) ||
      failed(unused("attention_factor", (type == RopeScalingType::linear ||
                                         llama3) &&
                                            attentionFactor != 0.0)) ||
      failed(unused("original_max_position_embeddings",
                    type == RopeScalingType::linear && originalMax != 0)))
    return failure();
  if (type != RopeScalingType::linear && originalMax <= 0)
    return emitError() << "rope_scaling: " << kind
                       << " needs original_max_position_embeddings > 0, got "
                       << originalMax;
  if (!std::isfinite(attentionFactor) || attentionFactor < 0)
    return emitError() << "rope_scaling: attention_factor must be finite and "
                          "non-negative (0: derived), got "
                       << attentionFactor;
  if (yarn) {
    if (failed(positive("beta_fast", betaFast)) ||
        failed(positive("beta_slow", betaSlow)))
      return failure();
    if (!std::isfinite(mscale) || mscale < 0 || !std::isfinite(mscaleAllDim) ||
        mscaleAllDim < 0)
      return emitError() << "rope_scaling: mscale and mscale_all_dim must be "
                            "finite and non-negative (0: unset)";
  }
  if (longrope) {
    if (shortFactor.empty() || shortFactor.size() != longFactor.size())
      return emitError() << "rope_scaling: longrope needs short_factor and "
                            "long_factor of one length (a value per pair), "
                            "got "
                         << shortFactor.size() << " and " << longFactor.size();
    for (double v : llvm::concat<const double>(shortFactor, longFactor))
      if (failed(positive("every short_factor and long_factor value", v)))
        return failure();
  }
  if (llama3) {
    if (failed(positive("low_freq_factor", lowFreqFactor)) ||
        failed(positive("high_freq_factor", highFreqFactor)))
      return failure();
    if (lowFreqFactor >= highFreqFactor)
      return emitError() << "rope_scaling: low_freq_factor (" << lowFreqFactor
                         << ") must be below high_freq_factor ("
                         << highFreqFactor << ")";
  }
  return success();
}

double RopeScalingAttr::getCosSinFactor() const {
  double given = getAttentionFactor().convertToDouble();
  if (given != 0.0)
    return given;
  double factor = this->factor();
  switch (getRopeType()) {
  case RopeScalingType::yarn:
    if (double m = getMscale().convertToDouble(),
        all = getMscaleAllDim().convertToDouble();
        m != 0.0 && all != 0.0)
      return yarnMscale(factor, m) / yarnMscale(factor, all);
    return yarnMscale(factor, 1.0);
  case RopeScalingType::longrope:
    if (factor <= 1.0)
      return 1.0;
    return std::sqrt(1.0 + std::log(factor) /
                               std::log(double(
                                   getOriginalMaxPositionEmbeddings())));
  case RopeScalingType::linear:
  case RopeScalingType::llama3:
    return 1.0;
  }
  llvm_unreachable("unknown rope scaling type");
}

SmallVector<double> RopeScalingAttr::getInverseFrequencies(
    double theta, int64_t d, bool longFactors) const {
  int64_t pairs = d / 2;
  SmallVector<double> base(pairs);
  for (int64_t i = 0; i < pairs; ++i)
    base[i] = std::pow(theta, -2.0 * double(i) / double(d));
  double factor = this->factor();
  double context = double(getOriginalMaxPositionEmbeddings());
  double lowFreq = getLowFreqFactor().convertToDouble(),
         highFreq = getHighFreqFactor().convertToDouble();
  SmallVector<double> out(pairs);
  switch (getRopeType()) {
  case RopeScalingType::linear:
    for (int64_t i = 0; i < pairs; ++i)
      out[i] = base[i] / factor;
    break;
  case RopeScalingType::yarn: {
    // The pair index at which a frequency makes `rotations` turns in the
    // original context, floored/ceiled to whole pairs and clamped.
    auto correction = [&](double rotations) {
      return double(d) * std::log(context / (rotations * 2.0 * M_PI)) /
             (2.0 * std::log(theta));
    };
    double low = std::max(
        std::floor(correction(getBetaFast().convertToDouble())), 0.0);
    double high = std::min(
        std::ceil(correction(getBetaSlow().convertToDouble())),
                           double(d - 1));
    if (low == high)
      high += 0.001;
    for (int64_t i = 0; i < pairs; ++i) {
      double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
      double extrapolation = 1.0 - ramp;
      out[i] = base[i] / factor * (1.0 - extrapolation) +
               base[i] * extrapolation;
    }
    break;
  }
  case RopeScalingType::longrope: {
    ArrayRef<double> ext = (longFactors ? getLongFactor() : getShortFactor())
                               .asArrayRef();
    for (int64_t i = 0; i < pairs; ++i)
      out[i] = base[i] / ext[i];
    break;
  }
  case RopeScalingType::llama3: {
    double lowWavelen = context / lowFreq;
    double highWavelen = context / highFreq;
    for (int64_t i = 0; i < pairs; ++i) {
      double wavelen = 2.0 * M_PI / base[i];
      if (wavelen < highWavelen) {
        out[i] = base[i];
      } else if (wavelen > lowWavelen) {
        out[i] = base[i] / factor;
      } else {
        double smooth =
            (context / wavelen - lowFreq) / (highFreq - lowFreq);
        out[i] = (1.0 - smooth) * base[i] / factor + smooth * base[i];
      }
    }
    break;
  }
  }
  return out;
}
