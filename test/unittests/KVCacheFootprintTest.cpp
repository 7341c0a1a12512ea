//===- KVCacheFootprintTest.cpp - footprint arithmetic ----------*- C++ -*-===//
//
// The standard worked figures: a Llama-3-70B layer at batch 8, 1000 tokens,
// 80 layers, 16-bit (20.97 GB MHA, 2.62 GB with 8 KV heads) and DeepSeek-V2's
// 576 / 14336 ~ 1/25 of MHA.
//
//===----------------------------------------------------------------------===//

#include "mla/Dialect/MLA/IR/MLADialect.h"
#include "mla/Dialect/MLA/Transforms/KVCacheReport.h"

#include "mlir/IR/MLIRContext.h"
#include "gtest/gtest.h"

using namespace mlir;
using namespace mlir::mla;

namespace {
class KVCacheFootprintTest : public ::testing::Test {
protected:
  KVCacheFootprintTest() { ctx.loadDialect<MLADialect>(); }

  LayerConfigAttr standard(int64_t hidden, int64_t heads, int64_t kvHeads,
                           int64_t headDim) {
    return LayerConfigAttr::get(
        &ctx, hidden, heads, kvHeads, std::nullopt, std::nullopt, std::nullopt,
        std::nullopt, std::nullopt, headDim, llvm::APFloat(500000.0),
        RopeStyle::rotate_half, std::nullopt, std::nullopt, std::nullopt);
  }
  LayerConfigAttr latent(int64_t hidden, int64_t heads, int64_t dc,
                         int64_t dr) {
    return LayerConfigAttr::get(&ctx, hidden, heads, heads, 1536, dc, 128, dr,
                                128, std::nullopt, llvm::APFloat(10000.0),
                                RopeStyle::interleaved, std::nullopt,
                                std::nullopt, std::nullopt);
  }
  MLIRContext ctx;
};

TEST_F(KVCacheFootprintTest, Llama3_70BMHAAndGQA) {
  KVCacheFootprint mha =
      *computeKVCacheFootprint(standard(8192, 64, 64, 128), 2, 8, 1000, 80);
  EXPECT_EQ(mha.bytesPerToken, 2 * 64 * 128 * 2);
  EXPECT_EQ(mha.totalBytes, 20971520000);
  EXPECT_NEAR(mha.totalBytes / 1e9, 20.97, 0.005);
  EXPECT_DOUBLE_EQ(mha.ratioToMHA(), 1.0);

  KVCacheFootprint gqa =
      *computeKVCacheFootprint(standard(8192, 64, 8, 128), 2, 8, 1000, 80);
  EXPECT_EQ(gqa.valuesPerToken, 2 * 8 * 128);
  EXPECT_EQ(gqa.totalBytes, 2621440000);
  EXPECT_NEAR(gqa.totalBytes / 1e9, 2.62, 0.005);
  EXPECT_EQ(gqa.mhaTotalBytes, mha.totalBytes);
  EXPECT_DOUBLE_EQ(gqa.ratioToMHA(), 1.0 / 8);
}

TEST_F(KVCacheFootprintTest, MQAIsTwoHeadDims) {
  KVCacheFootprint mqa =
      *computeKVCacheFootprint(standard(4096, 32, 1, 128), 4, 1, 1, 1);
  EXPECT_EQ(mqa.valuesPerToken, 2 * 128);
  EXPECT_EQ(mqa.bytesPerToken, 2 * 128 * 4);
}

TEST_F(KVCacheFootprintTest, DeepSeekV2IsAbout1Over25OfMHA) {
  KVCacheFootprint f =
      *computeKVCacheFootprint(latent(7168, 128, 512, 64), 2, 1, 1, 1);
  EXPECT_EQ(f.valuesPerToken, 576);
  EXPECT_EQ(f.mhaValuesPerToken, 14336);
  EXPECT_NEAR(1.0 / f.ratioToMHA(), 24.9, 0.05);
}

TEST_F(KVCacheFootprintTest, ElementSizes) {
  EXPECT_EQ(getCacheElementBytes("f32"), 4);
  EXPECT_EQ(getCacheElementBytes("bf16"), 2);
  EXPECT_EQ(getCacheElementBytes("f16"), 2);
  EXPECT_EQ(getCacheElementBytes("fp8"), 1);
  EXPECT_EQ(getCacheElementBytes("i8"), std::nullopt);
}

TEST_F(KVCacheFootprintTest, ConfigDerivedDims) {
  LayerConfigAttr v3 = latent(7168, 128, 512, 64);
  EXPECT_TRUE(v3.isLatent());
  EXPECT_EQ(v3.getQueryKeyHeadDim(), 192);
  EXPECT_EQ(v3.getValueHeadDim(), 128);
  EXPECT_NEAR(v3.getDefaultSoftmaxScale(), 1.0 / std::sqrt(192.0), 1e-15);
  LayerConfigAttr llama = standard(8192, 64, 8, 128);
  EXPECT_FALSE(llama.isLatent());
  EXPECT_EQ(llama.getQueryKeyHeadDim(), 128);
}
} // namespace

TEST_F(KVCacheFootprintTest, OverflowIsNotATotal) {
  // 2^62 tokens of 576 two-byte values: past int64, reported as no total
  // rather than a wrapped (negative or small) one.
  EXPECT_FALSE(computeKVCacheFootprint(latent(7168, 128, 512, 64), 2,
                                       int64_t(1) << 31, int64_t(1) << 31, 1)
                   .has_value());
  EXPECT_FALSE(computeKVCacheFootprint(latent(7168, 128, 512, 64), 2,
                                       INT64_MAX, 1, 1)
                   .has_value());
  // The largest that fits still does.
  EXPECT_TRUE(computeKVCacheFootprint(latent(7168, 128, 512, 64), 1,
                                      INT64_MAX / (2 * 7168), 1, 1)
                  .has_value());
}
