//===- ReferenceTest.cpp - the double reference checked by hand -*- C++ -*-===//
//
// The reference is what generated kernels are judged by, so it is itself
// checked against values worked out by hand: softmax of one and two tokens,
// causal masking, empty sequences, paging, bf16 rounding, RoPE, RMSNorm and
// the training-form layer step (also against the absorbed form).
//
//===----------------------------------------------------------------------===//

#include "mla/Reference/Reference.h"

#include "gtest/gtest.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

using namespace mla::ref;

namespace {
std::vector<float> randomFloats(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float &x : v)
    x = dist(gen);
  return v;
}

const double kInf = std::numeric_limits<double>::infinity();
} // namespace

//===----------------------------------------------------------------------===//
// decodeAttention
//===----------------------------------------------------------------------===//

// One visible token: softmax is 1, so out is that row's c_kv part and lse is
// the single scaled score.
TEST(ReferenceDecodeTest, OneTokenGivesItsRow) {
  // heads 2, dc 3, dr 1, qLen 1, blockSize 4, causal.
  DecodeShape s{2, 3, 1, 1, 4, true};
  std::vector<float> cache(2 * 4 * 4, 100.0f); // Unused rows must not leak in.
  const float row[] = {1, 2, 3, 4};
  std::copy(row, row + 4, cache.begin() + (1 * 4 + 0) * 4); // page 1, row 0
  // head 0: 1*1 + 4*1 = 5; head 1: 2 + 3 - 4 = 1.
  std::vector<float> q = {1, 0, 0, 1, 0, 1, 1, -1};
  int32_t blockTable[] = {1, 0};
  int32_t seqLens[] = {1};
  std::vector<double> out(2 * 3), lse(2);
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 2, 0.5,
                  out.data(), lse.data());
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 3; ++k)
      EXPECT_DOUBLE_EQ(out[h * 3 + k], row[k]);
  EXPECT_DOUBLE_EQ(lse[0], 2.5);
  EXPECT_DOUBLE_EQ(lse[1], 0.5);
}

// Scores 0 and ln 3 give weights 1/4 and 3/4, lse = ln(1 + 3) = ln 4.
TEST(ReferenceDecodeTest, TwoTokensKnownScores) {
  DecodeShape s{1, 2, 1, 1, 2, true};
  std::vector<float> cache = {2, 0, 0, /**/ 0, 4, float(std::log(3.0))};
  std::vector<float> q = {0, 0, 1};
  int32_t blockTable[] = {0};
  int32_t seqLens[] = {2};
  std::vector<double> out(2), lse(1);
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 1, 1.0,
                  out.data(), lse.data());
  // 0.25 * [2, 0] + 0.75 * [0, 4]; ln 3 is held as a float, hence 1e-7.
  EXPECT_NEAR(out[0], 0.5, 1e-7);
  EXPECT_NEAR(out[1], 3.0, 1e-7);
  EXPECT_NEAR(lse[0], std::log(4.0), 1e-7);
}

// qLen = 2 over three cached tokens: query 0 sees rows 0..1, query 1 all.
// Head 0 has zero scores (plain averages); head 1 scores the last row ln 2.
TEST(ReferenceDecodeTest, CausalMaskHidesLaterTokens) {
  DecodeShape s{2, 2, 1, 2, 4, true};
  const double ln2 = std::log(2.0);
  std::vector<float> cache = {1, 2, 0, /**/ 3, 4, 0, /**/ 8, 10, float(ln2)};
  cache.resize(4 * 3, 0.0f);
  std::vector<float> q(2 * 2 * 3, 0.0f);
  q[(0 * 2 + 1) * 3 + 2] = 1; // query 0, head 1, rope column
  q[(1 * 2 + 1) * 3 + 2] = 1; // query 1, head 1, rope column
  int32_t blockTable[] = {0};
  int32_t seqLens[] = {3};
  std::vector<double> out(2 * 2 * 2), lse(2 * 2);
  auto o = [&](int i, int h, int k) { return out[(i * 2 + h) * 2 + k]; };
  auto l = [&](int h, int i) { return lse[h * 2 + i]; }; // [batch, H, qLen]

  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 1, 1.0,
                  out.data(), lse.data());
  // Query 0: mean of rows 0, 1 for both heads (row 2 is masked).
  EXPECT_DOUBLE_EQ(o(0, 0, 0), 2.0);
  EXPECT_DOUBLE_EQ(o(0, 0, 1), 3.0);
  EXPECT_DOUBLE_EQ(o(0, 1, 0), 2.0);
  EXPECT_DOUBLE_EQ(o(0, 1, 1), 3.0);
  EXPECT_NEAR(l(0, 0), ln2, 1e-12);
  EXPECT_NEAR(l(1, 0), ln2, 1e-12);
  // Query 1, head 0: mean of all three; head 1: weights 1/4, 1/4, 1/2.
  EXPECT_NEAR(o(1, 0, 0), 4.0, 1e-12);
  EXPECT_NEAR(o(1, 0, 1), 16.0 / 3.0, 1e-12);
  EXPECT_NEAR(o(1, 1, 0), 0.25 + 0.75 + 4.0, 1e-7);
  EXPECT_NEAR(o(1, 1, 1), 0.5 + 1.0 + 5.0, 1e-7);
  EXPECT_NEAR(l(0, 1), std::log(3.0), 1e-12);
  EXPECT_NEAR(l(1, 1), std::log(4.0), 1e-7);

  // Not causal: query 0 sees the third row too.
  s.causal = false;
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 1, 1.0,
                  out.data(), lse.data());
  EXPECT_NEAR(o(0, 0, 0), 4.0, 1e-12);
  EXPECT_NEAR(o(0, 1, 1), 6.5, 1e-7);
  EXPECT_NEAR(l(0, 0), std::log(3.0), 1e-12);
}

// A window of 2 over the causal example's three rows: query 0 (position 1)
// sees rows 0..1, query 1 (position 2) rows 1..2; head 0's zero scores
// average them. Not causal, query 0 sees rows 0..2 (the window only cuts
// the past).
TEST(ReferenceDecodeTest, WindowHidesOlderTokens) {
  DecodeShape s{2, 2, 1, 2, 4, true};
  s.window = 2;
  const double ln2 = std::log(2.0);
  std::vector<float> cache = {1, 2, 0, /**/ 3, 4, 0, /**/ 8, 10, float(ln2)};
  cache.resize(4 * 3, 0.0f);
  std::vector<float> q(2 * 2 * 3, 0.0f);
  q[(1 * 2 + 1) * 3 + 2] = 1; // query 1, head 1, rope column
  int32_t blockTable[] = {0};
  int32_t seqLens[] = {3};
  std::vector<double> out(2 * 2 * 2), lse(2 * 2);
  auto o = [&](int i, int h, int k) { return out[(i * 2 + h) * 2 + k]; };
  auto l = [&](int h, int i) { return lse[h * 2 + i]; };
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 1, 1.0,
                  out.data(), lse.data());
  EXPECT_DOUBLE_EQ(o(0, 0, 0), 2.0);
  EXPECT_DOUBLE_EQ(o(0, 0, 1), 3.0);
  EXPECT_DOUBLE_EQ(o(1, 0, 0), 5.5);
  EXPECT_DOUBLE_EQ(o(1, 0, 1), 7.0);
  // Head 1 of query 1: scores 0 and ln 2 over rows 1, 2: weights 1/3, 2/3.
  EXPECT_NEAR(o(1, 1, 0), 1.0 + 16.0 / 3.0, 1e-7);
  EXPECT_NEAR(l(1, 1), std::log(3.0), 1e-7);
  EXPECT_NEAR(l(0, 0), ln2, 1e-12);
  s.causal = false;
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 1, 1.0,
                  out.data(), lse.data());
  EXPECT_NEAR(o(0, 0, 0), 4.0, 1e-12);
  EXPECT_NEAR(o(1, 0, 0), 5.5, 1e-12);
  EXPECT_EQ(firstVisiblePosition(10, 3, 0, 4), 4);
  EXPECT_EQ(firstVisiblePosition(10, 3, 2, 4), 6);
  EXPECT_EQ(firstVisiblePosition(2, 3, 0, 4), 0);
  EXPECT_EQ(firstVisiblePosition(10, 3, 0, 0), 0);
}

// A sink logit joins the denominator without a value: one row of score 0
// and a sink of ln 3 give the row weight 1/4 and lse ln 4; with nothing
// visible, zeros and lse = the sink.
TEST(ReferenceDecodeTest, SinkJoinsTheDenominator) {
  DecodeShape s{1, 2, 1, 1, 2, true};
  float sink = float(std::log(3.0));
  s.sinks = &sink;
  std::vector<float> cache = {4, 8, 0, /**/ 0, 0, 0};
  std::vector<float> q = {0, 0, 1};
  int32_t blockTable[] = {0};
  int32_t seqLens[] = {1};
  std::vector<double> out(2), lse(1);
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 1, 1.0,
                  out.data(), lse.data());
  EXPECT_NEAR(out[0], 1.0, 1e-7);
  EXPECT_NEAR(out[1], 2.0, 1e-7);
  EXPECT_NEAR(lse[0], std::log(4.0), 1e-7);
  seqLens[0] = 0;
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 1, 1, 1.0,
                  out.data(), lse.data());
  EXPECT_EQ(out[0], 0.0);
  EXPECT_EQ(out[1], 0.0);
  EXPECT_DOUBLE_EQ(lse[0], double(sink));
}

// Nothing visible -> zeros and -inf, never NaN: an empty sequence, and the
// first query of a causal qLen = 2 step over a single cached token.
TEST(ReferenceDecodeTest, NoVisiblePositionGivesZerosAndMinusInf) {
  DecodeShape s{1, 2, 0, 2, 2, true};
  std::vector<float> cache = {5, 7, 0, 0};
  std::vector<float> q = {1, 1, 1, 1, /**/ 1, 1, 1, 1};
  int32_t blockTable[] = {0, 0};
  int32_t seqLens[] = {0, 1};
  std::vector<double> out(2 * 2 * 2, 42.0), lse(2 * 2, 42.0);
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 2, 1, 1.0,
                  out.data(), lse.data());
  for (double x : out)
    EXPECT_FALSE(std::isnan(x));
  for (int k = 0; k < 4; ++k) // Sequence 0, both queries.
    EXPECT_EQ(out[k], 0.0);
  EXPECT_EQ(lse[0], -kInf);
  EXPECT_EQ(lse[1], -kInf);
  // Sequence 1: query 0 sees nothing, query 1 sees row 0 (score 12).
  EXPECT_EQ(out[4], 0.0);
  EXPECT_EQ(out[5], 0.0);
  EXPECT_EQ(out[6], 5.0);
  EXPECT_EQ(out[7], 7.0);
  EXPECT_EQ(lse[2], -kInf);
  EXPECT_DOUBLE_EQ(lse[3], 12.0);

  // Same with a null lse: out is still written.
  std::fill(out.begin(), out.end(), 42.0);
  decodeAttention(s, q.data(), cache.data(), blockTable, seqLens, 2, 1, 1.0,
                  out.data(), nullptr);
  EXPECT_EQ(out[0], 0.0);
  EXPECT_EQ(out[7], 7.0);
}

// The same tokens laid out contiguously (one page per sequence) and paged
// with blockSize 1 and 16 through shuffled block tables give identical
// results: summation runs over positions in the same order.
TEST(ReferenceDecodeTest, PagingDoesNotChangeTheResult) {
  const int64_t heads = 4, dc = 8, dr = 4, qLen = 2, rowLen = dc + dr;
  const int64_t batch = 3, maxLen = 48;
  const int32_t seqLens[] = {37, 2, 16};
  std::vector<float> tokens = randomFloats(batch * maxLen * rowLen, 1);
  std::vector<float> q = randomFloats(batch * qLen * heads * rowLen, 2);
  const double scale = 1.0 / std::sqrt(double(rowLen));

  auto run = [&](int64_t blockSize, unsigned shuffleSeed,
                 std::vector<double> &out, std::vector<double> &lse) {
    const int64_t maxBlocks = maxLen / blockSize;
    const int64_t numBlocks = batch * maxBlocks + 3; // A few spare pages.
    std::vector<int32_t> pages(numBlocks);
    for (int64_t i = 0; i < numBlocks; ++i)
      pages[i] = int32_t(i);
    std::shuffle(pages.begin(), pages.end(), std::mt19937(shuffleSeed));
    std::vector<int32_t> table(batch * maxBlocks);
    std::copy(pages.begin(), pages.begin() + table.size(), table.begin());
    std::vector<float> cache(numBlocks * blockSize * rowLen, 1e6f);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t p = 0; p < seqLens[b]; ++p) {
        int64_t r = cacheRowIndex(table.data(), maxBlocks, blockSize, b, p);
        const float *src = tokens.data() + (b * maxLen + p) * rowLen;
        std::copy(src, src + rowLen, cache.begin() + r * rowLen);
      }
    DecodeShape s{heads, dc, dr, qLen, blockSize, true};
    out.assign(batch * qLen * heads * dc, 0.0);
    lse.assign(batch * heads * qLen, 0.0);
    decodeAttention(s, q.data(), cache.data(), table.data(), seqLens, batch,
                    maxBlocks, scale, out.data(), lse.data());
  };

  std::vector<double> outC, lseC, out1, lse1, out16, lse16;
  run(maxLen, 0, outC, lseC);
  run(1, 3, out1, lse1);
  run(16, 4, out16, lse16);
  for (size_t i = 0; i < outC.size(); ++i) {
    EXPECT_DOUBLE_EQ(out1[i], outC[i]) << i;
    EXPECT_DOUBLE_EQ(out16[i], outC[i]) << i;
  }
  for (size_t i = 0; i < lseC.size(); ++i) {
    EXPECT_TRUE(std::isfinite(lseC[i]));
    EXPECT_DOUBLE_EQ(lse1[i], lseC[i]) << i;
    EXPECT_DOUBLE_EQ(lse16[i], lseC[i]) << i;
  }
}

TEST(ReferenceDecodeTest, VisiblePositions) {
  EXPECT_EQ(visiblePositions(10, 1, 0, true), 10);
  EXPECT_EQ(visiblePositions(10, 3, 0, true), 8);
  EXPECT_EQ(visiblePositions(10, 3, 2, true), 10);
  EXPECT_EQ(visiblePositions(10, 3, 0, false), 10);
  EXPECT_EQ(visiblePositions(1, 3, 0, true), 0);
  EXPECT_EQ(visiblePositions(0, 1, 0, false), 0);
}

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

TEST(ReferenceBF16Test, RoundTripOfRepresentableValues) {
  EXPECT_EQ(floatToBF16(1.0f), 0x3F80);
  EXPECT_EQ(floatToBF16(-2.0f), 0xC000);
  EXPECT_EQ(floatToBF16(0.0f), 0x0000);
  EXPECT_EQ(floatToBF16(-0.0f), 0x8000);
  for (float x : {1.0f, -2.0f, 0.5f, 3.140625f, 1.0e-3f, 65536.0f}) {
    float r = roundToBF16(x);
    EXPECT_EQ(bf16ToFloat(floatToBF16(r)), r);
  }
  EXPECT_EQ(bf16ToFloat(0x4049), 3.140625f); // 1.5703125 * 2
}

// bf16 keeps 7 mantissa bits, so 1 + 2^-8 lies halfway between 1 (even) and
// 1 + 2^-7 (odd), and 1 + 3 * 2^-8 halfway between 1 + 2^-7 (odd) and
// 1 + 2^-6 (even).
TEST(ReferenceBF16Test, RoundsToNearestEven) {
  EXPECT_EQ(floatToBF16(1.0f + 0x1p-8f), 0x3F80);            // tie -> even
  EXPECT_EQ(floatToBF16(1.0f + 3 * 0x1p-8f), 0x3F82);        // tie -> even
  EXPECT_EQ(floatToBF16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81); // above half
  EXPECT_EQ(floatToBF16(1.0f + 0x1p-8f - 0x1p-20f), 0x3F80); // below half
  EXPECT_EQ(floatToBF16(-(1.0f + 3 * 0x1p-8f)), 0xBF82);
  EXPECT_EQ(floatToBF16(FLT_MAX), 0x7F80); // Rounds up to +inf.
  EXPECT_EQ(floatToBF16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(floatToBF16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_TRUE(std::isnan(
      bf16ToFloat(floatToBF16(std::numeric_limits<float>::quiet_NaN()))));
}

// f16: every non-NaN code converts to a float and back to itself; f16 keeps
// 10 mantissa bits, so 1 + 2^-11 is a tie (to 1, even), as is 2^-25 between
// 0 and the smallest subnormal.
TEST(ReferenceF16Test, RoundTripAndRoundsToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float x = f16ToFloat(uint16_t(h));
    if (std::isnan(x))
      continue;
    ASSERT_EQ(floatToF16(x), h) << h;
  }
  EXPECT_EQ(f16ToFloat(0x3C00), 1.0f);
  EXPECT_EQ(f16ToFloat(0x7BFF), 65504.0f);
  EXPECT_EQ(f16ToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(floatToF16(1.0f + 0x1p-11f), 0x3C00);
  EXPECT_EQ(floatToF16(1.0f + 3 * 0x1p-11f), 0x3C02);
  EXPECT_EQ(floatToF16(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  EXPECT_EQ(floatToF16(0x1p-25f), 0x0000);
  EXPECT_EQ(floatToF16(3 * 0x1p-25f), 0x0002);
  EXPECT_EQ(floatToF16(-0x1p-14f * (1023.75f / 1024)), 0x8400); // rounds up
                                                                // to normal
  EXPECT_EQ(floatToF16(65519.0f), 0x7BFF);
  EXPECT_EQ(floatToF16(65520.0f), 0x7C00);
  EXPECT_EQ(floatToF16(-1e9f), 0xFC00);
  EXPECT_TRUE(std::isnan(
      f16ToFloat(floatToF16(std::numeric_limits<float>::quiet_NaN()))));
}

//===----------------------------------------------------------------------===//
// fp8 (e4m3fn) and the row_groups encoding
//===----------------------------------------------------------------------===//

TEST(ReferenceFP8Test, KnownCodes) {
  EXPECT_EQ(fp8E4M3ToFloat(0x38), 1.0f);       // 0 0111 000
  EXPECT_EQ(fp8E4M3ToFloat(0xC0), -2.0f);      // 1 1000 000
  EXPECT_EQ(fp8E4M3ToFloat(0x7E), 448.0f);     // the largest finite value
  EXPECT_EQ(fp8E4M3ToFloat(0x08), 0x1p-6f);    // the smallest normal
  EXPECT_EQ(fp8E4M3ToFloat(0x07), 0x1.cp-7f);  // the largest subnormal, 7/8 2^-6
  EXPECT_EQ(fp8E4M3ToFloat(0x01), 0x1p-9f);    // the smallest subnormal
  EXPECT_EQ(fp8E4M3ToFloat(0x80), -0.0f);
  EXPECT_TRUE(std::signbit(fp8E4M3ToFloat(0x80)));
  EXPECT_TRUE(std::isnan(fp8E4M3ToFloat(0x7F)));
  EXPECT_TRUE(std::isnan(fp8E4M3ToFloat(0xFF)));
}

TEST(ReferenceFP8Test, EveryCodeRoundTrips) {
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7F) == 0x7F)
      continue;
    EXPECT_EQ(floatToFP8E4M3(fp8E4M3ToFloat(uint8_t(code))), code) << code;
  }
}

TEST(ReferenceFP8Test, RoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(floatToFP8E4M3(1.0625f), 0x38);  // tie between 1 and 1.125 -> even
  EXPECT_EQ(floatToFP8E4M3(1.1875f), 0x3A);  // tie between 1.125 and 1.25 -> even
  EXPECT_EQ(floatToFP8E4M3(1.07f), 0x39);    // above half
  EXPECT_EQ(floatToFP8E4M3(-1.05f), 0xB8);   // below half
  EXPECT_EQ(floatToFP8E4M3(0x1p-10f), 0x00); // tie between 0 and 2^-9 -> even
  EXPECT_EQ(floatToFP8E4M3(1000.0f), 0x7E);  // saturates at 448
  EXPECT_EQ(floatToFP8E4M3(-std::numeric_limits<float>::infinity()), 0xFE);
  EXPECT_EQ(floatToFP8E4M3(std::numeric_limits<float>::quiet_NaN()) & 0x7F,
            0x7F);
}

// A row of 8 values in groups of 4 and 2 rope values: each group's scale is
// its amax / 448, so its largest value is exact; the rest within half an
// e4m3 step (2^-4 relative); rope values are bf16.
TEST(ReferenceFP8Test, RowEncoding) {
  const float row[] = {1.0f, -0.5f, 0.25f, 0.3f, 0.0f, 0.0f, 0.0f, 0.0f,
                       1.5f, -3.0f};
  uint8_t bytes[8 + 4 * 2 + 2 * 2];
  encodeFP8Row(row, 8, 2, 4, bytes);
  float scale0, scale1;
  std::memcpy(&scale0, bytes + 8, 4);
  std::memcpy(&scale1, bytes + 12, 4);
  EXPECT_EQ(scale0, 1.0f / 448.0f);
  EXPECT_EQ(scale1, 1.0f); // an all-zero group
  EXPECT_EQ(bytes[0], 0x7E);
  float back[10];
  decodeFP8Row(bytes, 8, 2, 4, back);
  for (int k = 0; k < 8; ++k)
    EXPECT_NEAR(back[k], row[k], std::fabs(row[k]) * 0x1p-4f) << k;
  EXPECT_FLOAT_EQ(back[0], 1.0f);
  EXPECT_EQ(back[8], 1.5f);
  EXPECT_EQ(back[9], -3.0f);
}

//===----------------------------------------------------------------------===//
// Layer pieces
//===----------------------------------------------------------------------===//

// d = 4, theta = 100, pos = 1: pair 0 turns by 1 rad, pair 1 by 100^-0.5 =
// 0.1 rad. cos 1 = 0.5403023058681398, sin 1 = 0.8414709848078965,
// cos 0.1 = 0.9950041652780258, sin 0.1 = 0.09983341664682815.
TEST(ReferenceLayerPiecesTest, RopeInterleaved) {
  double x[] = {1, 2, 3, 4};
  applyRope(x, 4, 1.0, 100.0, /*interleaved=*/true);
  EXPECT_NEAR(x[0], -1.1426396637476532, 1e-12); // 1 cos1 - 2 sin1
  EXPECT_NEAR(x[1], 1.922075596544176, 1e-12);   // 1 sin1 + 2 cos1
  EXPECT_NEAR(x[2], 2.585678829246765, 1e-12);   // 3 cos.1 - 4 sin.1
  EXPECT_NEAR(x[3], 4.279516911052588, 1e-12);   // 3 sin.1 + 4 cos.1
}

TEST(ReferenceLayerPiecesTest, RopeRotateHalf) {
  double x[] = {1, 2, 3, 4};
  applyRope(x, 4, 1.0, 100.0, /*interleaved=*/false);
  EXPECT_NEAR(x[0], -1.9841106485555495, 1e-12); // 1 cos1 - 3 sin1
  EXPECT_NEAR(x[1], 1.590674663968739, 1e-12);   // 2 cos.1 - 4 sin.1
  EXPECT_NEAR(x[2], 2.4623779024123156, 1e-12);  // 1 sin1 + 3 cos1
  EXPECT_NEAR(x[3], 4.17968349440576, 1e-12);    // 2 sin.1 + 4 cos.1
}

TEST(ReferenceLayerPiecesTest, RopeAtPositionZeroIsIdentity) {
  for (bool interleaved : {true, false}) {
    double x[] = {1, -2, 3, 0.5, 7, 8};
    applyRope(x, 6, 0.0, 10000.0, interleaved);
    EXPECT_EQ(x[0], 1);
    EXPECT_EQ(x[1], -2);
    EXPECT_EQ(x[3], 0.5);
    EXPECT_EQ(x[5], 8);
  }
}

// [3, 4]: mean square 12.5; with eps 3.5 the root is exactly 4.
TEST(ReferenceLayerPiecesTest, RmsNorm) {
  const double x[] = {3, 4};
  const float gamma[] = {1, 2};
  double y[2];
  rmsNorm(x, gamma, 2, 3.5, y);
  EXPECT_DOUBLE_EQ(y[0], 0.75);
  EXPECT_DOUBLE_EQ(y[1], 2.0);
  rmsNorm(x, gamma, 2, 0.0, y);
  EXPECT_NEAR(y[0], 3 / std::sqrt(12.5), 1e-15);
  EXPECT_NEAR(y[1], 8 / std::sqrt(12.5), 1e-15);
  rmsNorm(x, nullptr, 2, 0.0, y); // No norm.
  EXPECT_EQ(y[0], 3.0);
  EXPECT_EQ(y[1], 4.0);
}

TEST(ReferenceLayerPiecesTest, VecMatAndScales) {
  const double x[] = {1, 2};
  const float w[] = {1, 2, 3, /**/ 4, 5, 6}; // [2, 3]
  double y[3];
  vecMat(x, w, 2, 3, y);
  EXPECT_EQ(y[0], 9.0);
  EXPECT_EQ(y[1], 12.0);
  EXPECT_EQ(y[2], 15.0);
  EXPECT_DOUBLE_EQ(softmaxScale(128, 64), 1.0 / std::sqrt(192.0));
  EXPECT_EQ(yarnMscale(1.0, 0.707), 1.0);
  // DeepSeek-V3: factor 40, mscale_all_dim 1 -> 0.1 ln 40 + 1.
  EXPECT_NEAR(yarnMscale(40.0, 1.0), 1.3688879454113936, 1e-12);
}

//===----------------------------------------------------------------------===//
// layerDecodeStep
//===----------------------------------------------------------------------===//

namespace {
// Rotate-half RoPE with theta 10000 and pages of 4 tokens.
LayerShape makeShape(int64_t hidden, int64_t heads, int64_t qLoraRank,
                     int64_t dc, int64_t dr, int64_t dNope, int64_t dV,
                     double rmsEps, int64_t qLen) {
  LayerShape s;
  s.hidden = hidden;
  s.heads = heads;
  s.qLoraRank = qLoraRank;
  s.dc = dc;
  s.dr = dr;
  s.dNope = dNope;
  s.dV = dV;
  s.ropeTheta = 10000.0;
  s.ropeInterleaved = false;
  s.rmsEps = rmsEps;
  s.qLen = qLen;
  s.blockSize = 4;
  return s;
}

// Tiny layer: hidden 2, two heads, q lora 3, dc 2, dr 2, dNope 1, dV 1.
struct TinyLayer {
  LayerShape shape = makeShape(/*hidden=*/2, /*heads=*/2, /*qLoraRank=*/3,
                               /*dc=*/2, /*dr=*/2, /*dNope=*/1, /*dV=*/1,
                               /*rmsEps=*/3.5, /*qLen=*/1);
  // q side: arbitrary, a single visible token makes the output independent
  // of the query.
  std::vector<float> wDQ = randomFloats(2 * 3, 11), qNorm = {1, 1, 1},
                     wUQ = randomFloats(2 * 3 * 1, 12),
                     wQR = randomFloats(2 * 3 * 2, 13);
  std::vector<float> wDKV = {1, 0, 0, 1}; // identity
  std::vector<float> kvNorm = {1, 1};
  std::vector<float> wKR = {1, 0, 0, 1}; // identity
  std::vector<float> wUK = randomFloats(2 * 2 * 1, 14);
  std::vector<float> wUV = {1, 2, /**/ -1, 4};   // [H, dc, dV]
  std::vector<float> wO = {1, 0.5f, /**/ 2, -1}; // [H*dV, hidden]
  LayerWeights weights() const {
    return {wDQ.data(),    qNorm.data(), wUQ.data(), wQR.data(), wDKV.data(),
            kvNorm.data(), wKR.data(),   wUK.data(), wUV.data(), wO.data()};
  }
};
} // namespace

// One new token that is the only cached one: softmax = 1, so o_h = v_h =
// c_kv W_UV,h. h = [3, 4] -> c_kv = rmsnorm([3, 4], eps 3.5) = [0.75, 1];
// v_0 = 0.75 + 2 = 2.75, v_1 = -0.75 + 4 = 3.25;
// out = [2.75, 3.25] W_O = [2.75 + 6.5, 1.375 - 3.25] = [9.25, -1.875].
TEST(ReferenceLayerTest, SingleTokenOutputIsValueThroughWO) {
  TinyLayer t;
  const float h[] = {3, 4};
  const int32_t positions[] = {0};
  const int32_t blockTable[] = {2, 0};
  const int32_t seqLens[] = {1};
  std::vector<float> cache(3 * 4 * 4, -7.0f);
  std::vector<float> before = cache;
  double out[2];
  layerDecodeStep(t.shape, t.weights(), h, positions, cache.data(), blockTable,
                  seqLens, 1, 2, softmaxScale(1, 2), out);
  EXPECT_DOUBLE_EQ(out[0], 9.25);
  EXPECT_DOUBLE_EQ(out[1], -1.875);

  // Position 0 -> page blockTable[0] = 2, row 0: [c_kv ; k_rope unrotated].
  const float expected[] = {0.75f, 1.0f, 3.0f, 4.0f};
  for (int64_t i = 0; i < int64_t(cache.size()); ++i) {
    if (i >= 2 * 16 && i < 2 * 16 + 4)
      EXPECT_EQ(cache[i], expected[i - 32]) << i;
    else
      EXPECT_EQ(cache[i], before[i]) << i; // Nothing else is touched.
  }
}

// The new token of a longer sequence lands at position seqLen - 1: with
// seqLen 6 and blockSize 4 that is row 1 of page blockTable[b, 1], with its
// k_rope rotated for its RoPE position.
TEST(ReferenceLayerTest, WritesCacheRowAtPageAndOffset) {
  TinyLayer t;
  const float h[] = {3, 4, /**/ 3, 4};
  const int32_t positions[] = {0, 5};
  const int32_t blockTable[] = {3, 1, /**/ 0, 2};
  const int32_t seqLens[] = {1, 6};
  std::vector<float> cache = randomFloats(4 * 4 * 4, 21);
  std::vector<float> before = cache;
  double out[4];
  layerDecodeStep(t.shape, t.weights(), h, positions, cache.data(), blockTable,
                  seqLens, 2, 2, softmaxScale(1, 2), out);
  const int64_t row0 = 3 * 4 + 0; // seq 0, position 0
  const int64_t row1 = 2 * 4 + 1; // seq 1, position 5
  const float expected0[] = {0.75f, 1.0f, 3.0f, 4.0f};
  const float expected1[] = {0.75f, 1.0f,
                             float(3 * std::cos(5.0) - 4 * std::sin(5.0)),
                             float(3 * std::sin(5.0) + 4 * std::cos(5.0))};
  for (int64_t r = 0; r < 16; ++r)
    for (int64_t k = 0; k < 4; ++k) {
      float got = cache[r * 4 + k];
      if (r == row0)
        EXPECT_EQ(got, expected0[k]);
      else if (r == row1)
        EXPECT_FLOAT_EQ(got, expected1[k]);
      else
        EXPECT_EQ(got, before[r * 4 + k]) << r << "," << k;
    }
  EXPECT_DOUBLE_EQ(out[0], 9.25);
  EXPECT_DOUBLE_EQ(out[1], -1.875);
}

// The training form equals the absorbed form of the DESIGN:
// q_lat_h = q_nope_h W_UK,h^T, attention over the latent cache through
// decodeAttention, o_h = o_lat_h W_UV,h, out = concat_h(o_h) W_O.
TEST(ReferenceLayerTest, TrainingFormMatchesAbsorbedForm) {
  LayerShape s = makeShape(/*hidden=*/16, /*heads=*/3, /*qLoraRank=*/8,
                           /*dc=*/6, /*dr=*/4, /*dNope=*/5, /*dV=*/7,
                           /*rmsEps=*/1e-6, /*qLen=*/2);
  const int64_t H = s.heads, qIn = s.qLoraRank, rowLen = s.dc + s.dr;
  const int64_t batch = 2, maxBlocks = 3, numBlocks = 7;
  std::vector<float> wDQ = randomFloats(s.hidden * qIn, 31),
                     qNorm = randomFloats(qIn, 32),
                     wUQ = randomFloats(H * qIn * s.dNope, 33),
                     wQR = randomFloats(H * qIn * s.dr, 34),
                     wDKV = randomFloats(s.hidden * s.dc, 35),
                     kvNorm = randomFloats(s.dc, 36),
                     wKR = randomFloats(s.hidden * s.dr, 37),
                     wUK = randomFloats(H * s.dc * s.dNope, 38),
                     wUV = randomFloats(H * s.dc * s.dV, 39),
                     wO = randomFloats(H * s.dV * s.hidden, 40);
  LayerWeights w{wDQ.data(),  qNorm.data(),  wUQ.data(), wQR.data(),
                 wDKV.data(), kvNorm.data(), wKR.data(), wUK.data(),
                 wUV.data(),  wO.data()};
  std::vector<float> h = randomFloats(batch * s.qLen * s.hidden, 41);
  const int32_t seqLens[] = {9, 2};
  const int32_t positions[] = {7, 8, /**/ 0, 1};
  const int32_t blockTable[] = {4, 0, 6, /**/ 2, 5, 1};
  std::vector<float> cache = randomFloats(numBlocks * 4 * rowLen, 42);
  const double scale = softmaxScale(s.dNope, s.dr);

  std::vector<double> out(batch * s.qLen * s.hidden);
  layerDecodeStep(s, w, h.data(), positions, cache.data(), blockTable, seqLens,
                  batch, maxBlocks, scale, out.data());

  // Absorbed form over the cache the step just wrote.
  std::vector<float> qLat(batch * s.qLen * H * rowLen);
  std::vector<double> x(s.hidden), qNope(H * s.dNope), qRope(H * s.dr);
  for (int64_t bt = 0; bt < batch * s.qLen; ++bt) {
    std::copy(h.begin() + bt * s.hidden, h.begin() + (bt + 1) * s.hidden,
              x.begin());
    layerQuery(s, w, x.data(), positions[bt], qNope.data(), qRope.data());
    for (int64_t hd = 0; hd < H; ++hd) {
      float *ql = qLat.data() + (bt * H + hd) * rowLen;
      for (int64_t c = 0; c < s.dc; ++c) {
        double acc = 0.0;
        for (int64_t k = 0; k < s.dNope; ++k)
          acc += qNope[hd * s.dNope + k] * wUK[(hd * s.dc + c) * s.dNope + k];
        ql[c] = float(acc);
      }
      for (int64_t k = 0; k < s.dr; ++k)
        ql[s.dc + k] = float(qRope[hd * s.dr + k]);
    }
  }
  DecodeShape ds{H, s.dc, s.dr, s.qLen, s.blockSize, true};
  std::vector<double> oLat(batch * s.qLen * H * s.dc);
  decodeAttention(ds, qLat.data(), cache.data(), blockTable, seqLens, batch,
                  maxBlocks, scale, oLat.data(), nullptr);
  std::vector<double> concat(H * s.dV), expected(s.hidden);
  for (int64_t bt = 0; bt < batch * s.qLen; ++bt) {
    for (int64_t hd = 0; hd < H; ++hd)
      vecMat(oLat.data() + (bt * H + hd) * s.dc, wUV.data() + hd * s.dc * s.dV,
             s.dc, s.dV, concat.data() + hd * s.dV);
    vecMat(concat.data(), wO.data(), H * s.dV, s.hidden, expected.data());
    for (int64_t k = 0; k < s.hidden; ++k) // q_lat is rounded to float.
      EXPECT_NEAR(out[bt * s.hidden + k], expected[k], 1e-5) << bt << "," << k;
  }
}
