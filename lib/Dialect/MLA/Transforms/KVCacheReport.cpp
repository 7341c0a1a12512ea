//===- KVCacheReport.cpp - mla-kv-cache-report pass -------------*- C++ -*-===//

#include "mla/Dialect/MLA/Transforms/KVCacheReport.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"
#include "mla/Dialect/MLA/Transforms/Passes.h"

#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/CheckedArithmetic.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::mla {
#define GEN_PASS_DEF_MLAKVCACHEREPORTPASS
#include "mla/Dialect/MLA/Transforms/Passes.h.inc"
} // namespace mlir::mla

using namespace mlir;
using namespace mlir::mla;

std::optional<int64_t> mlir::mla::getCacheElementBytes(StringRef dtype) {
  return llvm::StringSwitch<std::optional<int64_t>>(dtype)
      .Case("f32", 4)
      .Cases({"f16", "bf16"}, 2)
      .Case("fp8", 1)
      .Default(std::nullopt);
}

std::optional<KVCacheFootprint>
mlir::mla::computeKVCacheFootprint(LayerConfigAttr config, int64_t elementBytes,
                                   int64_t batch, int64_t context,
                                   int64_t layers) {
  // Each product checked: a value may come from an option or a dialect file.
  auto mul = [](std::optional<int64_t> a,
                std::optional<int64_t> b) -> std::optional<int64_t> {
    if (!a || !b)
      return std::nullopt;
    return llvm::checkedMul(*a, *b);
  };
  auto add = [](std::optional<int64_t> a,
                std::optional<int64_t> b) -> std::optional<int64_t> {
    if (!a || !b)
      return std::nullopt;
    return llvm::checkedAdd(*a, *b);
  };
  std::optional<int64_t> values, mhaValues;
  if (config.isLatent()) {
    // DeepSeek-V3.2 caches its indexer's keys beside the latents.
    values = add(add(*config.getKvLoraRank(), *config.getQkRopeHeadDim()),
                 config.getIndexHeadDim().value_or(0));
    mhaValues = mul(2, config.getHiddenSize());
  } else {
    values = mul(mul(2, config.getNumKeyValueHeads()), *config.getHeadDim());
    mhaValues =
        mul(mul(2, config.getNumAttentionHeads()), *config.getHeadDim());
  }
  std::optional<int64_t> tokens = mul(mul(batch, context), layers);
  std::optional<int64_t> bytes = mul(values, elementBytes),
                         mhaBytes = mul(mhaValues, elementBytes),
                         total = mul(bytes, tokens),
                         mhaTotal = mul(mhaBytes, tokens);
  if (!total || !mhaTotal)
    return std::nullopt;
  return KVCacheFootprint{*values, *mhaValues, *bytes,
                          *mhaBytes, *total,   *mhaTotal};
}

namespace {
/// The element type name of the layer's attention query, if it has one.
std::optional<std::string> findLayerDType(Operation *layer) {
  std::optional<std::string> name;
  layer->walk([&](AttentionOp attn) {
    Type t = attn.getQuery().getType().getElementType();
    std::string s;
    llvm::raw_string_ostream os(s);
    t.print(os);
    name = s;
    return WalkResult::interrupt();
  });
  return name;
}

std::string layerName(Operation *op) {
  if (auto sym = op->getAttrOfType<StringAttr>(SymbolTable::getSymbolAttrName()))
    return ("@" + sym.getValue()).str();
  std::string s;
  llvm::raw_string_ostream os(s);
  op->getLoc().print(os);
  return s;
}

std::string attentionKind(LayerConfigAttr cfg) {
  if (cfg.isLatent())
    return "MLA";
  int64_t g = cfg.getNumKeyValueHeads();
  if (g == cfg.getNumAttentionHeads())
    return "MHA";
  return g == 1 ? "MQA" : "GQA";
}

struct MLAKVCacheReportPass
    : public mla::impl::MLAKVCacheReportPassBase<MLAKVCacheReportPass> {
  using Base::Base;

  void runOnOperation() override {
    if (batch < 0 || context < 0 || layers < 0) {
      // Reported at the module's location without dumping the module.
      emitError(getOperation().getLoc())
          << "mla-kv-cache-report: batch, context and layers must be "
             "non-negative, got "
          << static_cast<int64_t>(batch) << ", "
          << static_cast<int64_t>(context) << ", "
          << static_cast<int64_t>(layers);
      return signalPassFailure();
    }
    if (!dtype.empty() && !getCacheElementBytes(dtype)) {
      emitError(getOperation().getLoc())
          << "mla-kv-cache-report: unknown dtype '" << dtype
          << "' (expected f32, f16, bf16 or fp8)";
      return signalPassFailure();
    }
    bool failedAny = false;
    getOperation().walk([&](Operation *op) {
      if (auto cfg = op->getAttrOfType<LayerConfigAttr>(
              MLADialect::getLayerAttrName()))
        failedAny |= failed(report(op, cfg));
    });
    getOperation().walk([&](AttentionOp attn) {
      if (!getEnclosingLayerConfig(attn))
        attn.emitWarning() << "mla-kv-cache-report: attention outside an op "
                              "with an 'mla.layer' config is not reported";
    });
    if (failedAny)
      signalPassFailure();
    markAllAnalysesPreserved();
  }

  LogicalResult report(Operation *layer, LayerConfigAttr cfg) {
    std::string ty = dtype;
    if (ty.empty())
      ty = findLayerDType(layer).value_or("");
    std::optional<int64_t> bytes = getCacheElementBytes(ty);
    if (!bytes)
      return layer->emitError()
             << "mla-kv-cache-report: cannot size cache elements of type '"
             << ty << "'; pass dtype=f32|f16|bf16|fp8";
    std::optional<KVCacheFootprint> fp =
        computeKVCacheFootprint(cfg, *bytes, batch, context, layers);
    if (!fp)
      return layer->emitError()
             << "mla-kv-cache-report: the footprint of batch "
             << static_cast<int64_t>(batch) << ", context "
             << static_cast<int64_t>(context) << ", "
             << static_cast<int64_t>(layers) << " layers does not fit in 64 bits (over 9.2e18 bytes)";
    const KVCacheFootprint &f = *fp;
    // Flushed per layer so that the report and diagnostics interleave in
    // order when both go to one pipe.
    llvm::raw_ostream &os = llvm::outs();
    os << "kv-cache report: " << layerName(layer) << "\n";
    os << "  attention: " << attentionKind(cfg) << ", "
       << cfg.getNumAttentionHeads() << " heads, "
       << cfg.getNumKeyValueHeads() << " kv heads";
    if (cfg.isLatent()) {
      os << ", kv_lora_rank " << *cfg.getKvLoraRank() << ", qk_rope_head_dim "
         << *cfg.getQkRopeHeadDim();
      if (cfg.hasIndexer())
        os << ", index_head_dim " << *cfg.getIndexHeadDim()
           << " (indexer keys)";
    } else
      os << ", head_dim " << *cfg.getHeadDim();
    os << ", dtype " << ty << " (" << *bytes << " bytes)\n";
    os << "  per token per layer: " << f.valuesPerToken << " values, "
       << f.bytesPerToken << " bytes\n";
    os << "  mha with the same heads: " << f.mhaValuesPerToken << " values, "
       << f.mhaBytesPerToken << " bytes\n";
    os << "  ratio to mha: " << llvm::format("%.4f", f.ratioToMHA())
       << " (1/" << llvm::format("%.1f", 1.0 / f.ratioToMHA()) << ")\n";
    os << "  total for batch " << batch << ", context " << context << ", "
       << layers << " layers: " << f.totalBytes << " bytes ("
       << llvm::format("%.2f", f.totalBytes / 1e9) << " GB); mha "
       << f.mhaTotalBytes << " bytes ("
       << llvm::format("%.2f", f.mhaTotalBytes / 1e9) << " GB)\n";
    os.flush();
    return success();
  }
};
} // namespace
