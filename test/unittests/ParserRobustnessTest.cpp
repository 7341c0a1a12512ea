//===- ParserRobustnessTest.cpp - bad input never crashes -------*- C++ -*-===//
//
// Every prefix of a valid layer, and a set of malformed variants, must parse
// or fail with a diagnostic; none may crash or pass verification wrongly.
//
//===----------------------------------------------------------------------===//

#include "mla/InitAll.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Parser/Parser.h"
#include "gtest/gtest.h"

using namespace mlir;

namespace {
constexpr const char *kLayer = R"mlir(
func.func @layer(%h: tensor<?x1x64xf32>, %pos: tensor<?x1xi32>,
                 %cache: tensor<8x16x40xf32>, %bt: tensor<?x4xi32>,
                 %lens: tensor<?xi32>, %w_dkv: tensor<64x32xf32>,
                 %g: tensor<32xf32>, %w_kr: tensor<64x8xf32>,
                 %w_uq: tensor<4x64x16xf32>, %w_qr: tensor<4x64x8xf32>,
                 %w_uk: tensor<4x32x16xf32>, %w_uv: tensor<4x32x16xf32>,
                 %w_o: tensor<64x64xf32>)
    -> (tensor<?x1x64xf32>, tensor<8x16x40xf32>)
    attributes {mla.layer = #mla.layer_config<hidden_size = 64,
      num_attention_heads = 4, num_key_value_heads = 4, kv_lora_rank = 32,
      qk_nope_head_dim = 16, qk_rope_head_dim = 8, v_head_dim = 16,
      rope_theta = 10000.0, rope_style = interleaved>} {
  %c = mla.linear %h, %w_dkv : tensor<?x1x64xf32>, tensor<64x32xf32> -> tensor<?x1x32xf32>
  %cn = mla.rms_norm %c, %g : tensor<?x1x32xf32>, tensor<32xf32>
  %kr0 = mla.linear %h, %w_kr : tensor<?x1x64xf32>, tensor<64x8xf32> -> tensor<?x1x8xf32>
  %kr = mla.rope %kr0, %pos {theta = 10000.0, style = #mla.rope_style<interleaved>} : tensor<?x1x8xf32>, tensor<?x1xi32>
  %qn = mla.head_proj %h, %w_uq : tensor<?x1x64xf32>, tensor<4x64x16xf32> -> tensor<?x1x4x16xf32>
  %qr0 = mla.head_proj %h, %w_qr : tensor<?x1x64xf32>, tensor<4x64x8xf32> -> tensor<?x1x4x8xf32>
  %qr = mla.rope %qr0, %pos {theta = 10000.0, style = #mla.rope_style<interleaved>} : tensor<?x1x4x8xf32>, tensor<?x1xi32>
  %cache2 = mla.kv_cache_append %cn, %kr into %cache[%bt, %lens] : tensor<?x1x32xf32>, tensor<?x1x8xf32> into tensor<8x16x40xf32>[tensor<?x4xi32>, tensor<?xi32>]
  %ca, %ka = mla.kv_cache_gather %cache2[%bt] : tensor<8x16x40xf32>[tensor<?x4xi32>] -> tensor<?x64x32xf32>, tensor<?x64x8xf32>
  %k = mla.head_proj %ca, %w_uk : tensor<?x64x32xf32>, tensor<4x32x16xf32> -> tensor<?x64x4x16xf32>
  %v = mla.head_proj %ca, %w_uv : tensor<?x64x32xf32>, tensor<4x32x16xf32> -> tensor<?x64x4x16xf32>
  %o = mla.attention %qn, %k, %v rope(%qr, %ka) kv_lens(%lens) {scale = 0.2 : f32, causal} : tensor<?x1x4x16xf32>, tensor<?x64x4x16xf32>, tensor<?x64x4x16xf32> rope(tensor<?x1x4x8xf32>, tensor<?x64x8xf32>) kv_lens(tensor<?xi32>) -> tensor<?x1x4x16xf32>
  %out = mla.out_proj %o, %w_o : tensor<?x1x4x16xf32>, tensor<64x64xf32> -> tensor<?x1x64xf32>
  return %out, %cache2 : tensor<?x1x64xf32>, tensor<8x16x40xf32>
}
)mlir";

class ParserRobustnessTest : public ::testing::Test {
protected:
  ParserRobustnessTest() : ctx(makeRegistry()) {
    ctx.loadAllAvailableDialects();
  }
  static DialectRegistry makeRegistry() {
    DialectRegistry r;
    mla::registerAllDialects(r);
    return r;
  }
  /// Parses and verifies; returns whether it succeeded and counts errors.
  bool parse(llvm::StringRef src, int &errors) {
    errors = 0;
    ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
      if (d.getSeverity() == DiagnosticSeverity::Error)
        ++errors;
      return success();
    });
    OwningOpRef<ModuleOp> m = parseSourceString<ModuleOp>(src, &ctx);
    return m && succeeded(verify(*m));
  }
  MLIRContext ctx;
};

TEST_F(ParserRobustnessTest, ValidLayerParses) {
  int errors;
  EXPECT_TRUE(parse(kLayer, errors));
  EXPECT_EQ(errors, 0);
}

TEST_F(ParserRobustnessTest, EveryTruncationFailsWithADiagnostic) {
  std::string src(kLayer);
  // Every proper prefix that starts the function is an unfinished layer.
  size_t start = src.find("func.func") + 1;
  for (size_t n = start; n + 2 < src.size(); n += 7) {
    int errors;
    // A copy: MLIR's lexer needs the buffer to end in a NUL (a view into
    // src read on past the prefix; ASan caught it).
    std::string prefix = src.substr(0, n);
    EXPECT_FALSE(parse(prefix, errors))
        << "a truncation at " << n << " parsed";
    EXPECT_GT(errors, 0) << "no diagnostic for a truncation at " << n;
  }
}

TEST_F(ParserRobustnessTest, CorruptedDimsFailWithADiagnostic) {
  std::string src(kLayer);
  // Replace each occurrence of a size in turn by 0, 3 and an unmatched size.
  const char *from = "x32x";
  int checked = 0;
  for (size_t pos = src.find(from); pos != std::string::npos;
       pos = src.find(from, pos + 1)) {
    for (const char *to : {"x0x", "x3x", "x31x"}) {
      std::string bad = src;
      bad.replace(pos, 4, to);
      int errors;
      EXPECT_FALSE(parse(bad, errors)) << bad.substr(pos > 40 ? pos - 40 : 0, 80);
      EXPECT_GT(errors, 0);
      ++checked;
    }
  }
  EXPECT_GT(checked, 10);
}
} // namespace
