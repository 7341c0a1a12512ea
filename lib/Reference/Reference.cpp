//===- Reference.cpp - naive double-precision MLA reference ---------------===//
//
// Straight loops in double over the formulas of DESIGN.md. Nothing here is
// shared with the compiler, so a bug in one does not hide in the other.
//
//===----------------------------------------------------------------------===//

#include "mla/Reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

using namespace mla::ref;

namespace {
/// Turns scores[0:n] into softmax probabilities in place and returns the
/// log-sum-exp of the original scores. Subtracting the maximum first keeps
/// exp from overflowing on large scores; n == 0 gives -inf.
double softmaxInPlace(double *scores, int64_t n,
                      std::optional<double> sink = std::nullopt) {
  if (n <= 0 && !sink)
    return -std::numeric_limits<double>::infinity();
  double maxScore = n > 0 ? *std::max_element(scores, scores + n) : *sink;
  if (sink)
    maxScore = std::max(maxScore, *sink);
  double sum = sink ? std::exp(*sink - maxScore) : 0.0;
  for (int64_t j = 0; j < n; ++j) {
    scores[j] = std::exp(scores[j] - maxScore);
    sum += scores[j];
  }
  for (int64_t j = 0; j < n; ++j)
    scores[j] /= sum;
  return maxScore + std::log(sum);
}

/// The cache row of position `pos` of sequence `b` (const or mutable cache).
template <typename T>
T *cacheRow(T *kvCache, int64_t rowLen, const int32_t *blockTable,
            int64_t maxBlocksPerSeq, int64_t blockSize, int64_t b,
            int64_t pos) {
  return kvCache +
         cacheRowIndex(blockTable, maxBlocksPerSeq, blockSize, b, pos) * rowLen;
}
} // namespace

//===----------------------------------------------------------------------===//
// Decode attention
//===----------------------------------------------------------------------===//

int64_t mla::ref::visiblePositions(int64_t seqLen, int64_t qLen,
                                   int64_t queryIdx, bool causal) {
  int64_t n = causal ? seqLen - qLen + queryIdx + 1 : seqLen;
  return std::max<int64_t>(0, std::min(n, seqLen));
}

int64_t mla::ref::firstVisiblePosition(int64_t seqLen, int64_t qLen,
                                       int64_t queryIdx, int64_t window) {
  if (window <= 0)
    return 0;
  return std::max<int64_t>(0, seqLen - qLen + queryIdx - window + 1);
}

int64_t mla::ref::cacheRowIndex(const int32_t *blockTable,
                                int64_t maxBlocksPerSeq, int64_t blockSize,
                                int64_t b, int64_t pos) {
  int64_t page = blockTable[b * maxBlocksPerSeq + pos / blockSize];
  return page * blockSize + pos % blockSize;
}

namespace {
/// One query row `qv` of head `hd` against n rows: scores scale * (q . key
/// j) over d_c + d_r values, their softmax (with the head's sink), o = sum
/// p_j value_j[0:dc]; returns the lse. `keyAt(j)` and `valueAt(j)` give the
/// rows; `p` is scratch.
template <typename KeyAt, typename ValueAt>
double attendRow(const DecodeShape &s, const float *qv, int64_t hd, int64_t n,
                 double scale, KeyAt keyAt, ValueAt valueAt,
                 std::vector<double> &p, double *o) {
  const int64_t rowLen = s.dc + s.dr;
  p.assign(n, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const float *row = keyAt(j);
    double dot = 0.0;
    for (int64_t k = 0; k < rowLen; ++k)
      dot += double(qv[k]) * double(row[k]);
    p[j] = scale * dot;
  }
  double l = softmaxInPlace(
      p.data(), n, s.sinks ? std::optional<double>(s.sinks[hd]) : std::nullopt);
  std::fill(o, o + s.dc, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const float *row = valueAt(j);
    for (int64_t k = 0; k < s.dc; ++k)
      o[k] += p[j] * double(row[k]);
  }
  return l;
}

/// The contract's loops, with the key and the value of head `hd` at position
/// `pos` of sequence `b` from `keyRow(b, pos, hd)` and `valueRow(...)`.
template <typename KeyRow, typename ValueRow>
void decodeLoops(const DecodeShape &s, const float *q, int64_t batch,
                 const int32_t *seqLens, double scale, double *out,
                 double *lse, KeyRow keyRow, ValueRow valueRow) {
  const int64_t rowLen = s.dc + s.dr;
  std::vector<double> p;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t seqLen = seqLens[b];
    for (int64_t i = 0; i < s.qLen; ++i) {
      // Positions first .. end - 1.
      const int64_t end = visiblePositions(seqLen, s.qLen, i, s.causal);
      const int64_t first = std::min(
          end, firstVisiblePosition(seqLen, s.qLen, i, s.window));
      for (int64_t hd = 0; hd < s.heads; ++hd) {
        const float *qv = q + ((b * s.qLen + i) * s.heads + hd) * rowLen;
        double l = attendRow(
            s, qv, hd, end - first, scale,
            [&](int64_t j) { return keyRow(b, first + j, hd); },
            [&](int64_t j) { return valueRow(b, first + j, hd); }, p,
            out + ((b * s.qLen + i) * s.heads + hd) * s.dc);
        if (lse)
          lse[(b * s.heads + hd) * s.qLen + i] = l;
      }
    }
  }
}
} // namespace

void mla::ref::decodeAttention(const DecodeShape &s, const float *q,
                               const float *kvCache, const int32_t *blockTable,
                               const int32_t *seqLens, int64_t batch,
                               int64_t maxBlocksPerSeq, double scale,
                               double *out, double *lse) {
  // Every head reads the whole row as its key and its first d_c values as
  // its value.
  auto row = [&](int64_t b, int64_t pos, int64_t) {
    return cacheRow(kvCache, s.dc + s.dr, blockTable, maxBlocksPerSeq,
                    s.blockSize, b, pos);
  };
  decodeLoops(s, q, batch, seqLens, scale, out, lse, row, row);
}

void mla::ref::decodeAttentionSparse(const DecodeShape &s, const float *q,
                                     const float *kvCache,
                                     const int32_t *indices,
                                     const int32_t *validSlots, int64_t batch,
                                     int64_t topk, double scale, double *out,
                                     double *lse) {
  const int64_t rowLen = s.dc + s.dr;
  std::vector<double> p;
  std::vector<const float *> rows;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < s.qLen; ++i) {
      const int32_t *slots = indices + (b * s.qLen + i) * topk;
      rows.clear();
      for (int64_t j = 0; j < validSlots[b]; ++j)
        if (slots[j] >= 0)
          rows.push_back(kvCache + int64_t(slots[j]) * rowLen);
      const int64_t n = rows.size();
      auto rowAt = [&](int64_t j) { return rows[j]; };
      for (int64_t hd = 0; hd < s.heads; ++hd) {
        const float *qv = q + ((b * s.qLen + i) * s.heads + hd) * rowLen;
        double l =
            attendRow(s, qv, hd, n, scale, rowAt, rowAt, p,
                      out + ((b * s.qLen + i) * s.heads + hd) * s.dc);
        if (lse)
          lse[(b * s.heads + hd) * s.qLen + i] = l;
      }
    }
}

void mla::ref::decodeAttentionHeads(const DecodeShape &s, int64_t kvHeads,
                                    const float *q, const float *kCache,
                                    const float *vCache,
                                    const int32_t *blockTable,
                                    const int32_t *seqLens, int64_t batch,
                                    int64_t maxBlocksPerSeq, double scale,
                                    double *out, double *lse) {
  const int64_t d = s.dc, perKvHead = s.heads / kvHeads;
  auto at = [&](const float *cache, int64_t b, int64_t pos, int64_t hd) {
    int64_t row = cacheRowIndex(blockTable, maxBlocksPerSeq, s.blockSize, b,
                                pos);
    return cache + (row * kvHeads + hd / perKvHead) * d;
  };
  decodeLoops(
      s, q, batch, seqLens, scale, out, lse,
      [&](int64_t b, int64_t pos, int64_t hd) { return at(kCache, b, pos, hd); },
      [&](int64_t b, int64_t pos, int64_t hd) { return at(vCache, b, pos, hd); });
}

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

uint16_t mla::ref::floatToBF16(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  // Rounding could carry a NaN's payload into the exponent and make it inf,
  // so NaN maps to the canonical quiet NaN with its sign.
  if (std::isnan(x))
    return uint16_t(((bits >> 16) & 0x8000u) | 0x7FC0u);
  // Round to nearest even: add 0x7FFF plus the lowest kept bit, then
  // truncate. A carry into the exponent is the correct rounding (up to inf).
  uint32_t lsb = (bits >> 16) & 1u;
  bits += 0x7FFFu + lsb;
  return uint16_t(bits >> 16);
}

float mla::ref::bf16ToFloat(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float x;
  std::memcpy(&x, &bits, sizeof(x));
  return x;
}

float mla::ref::roundToBF16(float x) { return bf16ToFloat(floatToBF16(x)); }

uint16_t mla::ref::floatToF16(float x) {
  uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x))
    return sign | 0x7E00;
  // In double every step below is exact but the one rounding (nearbyint,
  // to nearest even in the default mode).
  double a = std::fabs(double(x));
  if (a >= 65520.0)
    return sign | 0x7C00;
  if (a < 0x1p-14) // subnormal: a multiple of 2^-24 (1024 rounds to 2^-14)
    return sign | uint16_t(std::nearbyint(a * 0x1p24));
  int k;
  std::frexp(a, &k); // a = f 2^k, f in [0.5, 1): the exponent is k - 1
  int e = k - 1;
  double m = std::nearbyint((std::ldexp(a, -e) - 1.0) * 1024.0);
  if (m == 1024.0) {
    m = 0;
    ++e;
  }
  return sign | uint16_t((e + 15) << 10) | uint16_t(m);
}

float mla::ref::f16ToFloat(uint16_t h) {
  double sign = (h & 0x8000) ? -1.0 : 1.0;
  int e = (h >> 10) & 0x1F, m = h & 0x3FF;
  if (e == 0x1F)
    return float(m ? std::numeric_limits<double>::quiet_NaN()
                   : sign * std::numeric_limits<double>::infinity());
  if (e == 0)
    return float(sign * std::ldexp(double(m), -24));
  return float(sign * std::ldexp(1.0 + m / 1024.0, e - 15));
}

float mla::ref::roundToF16(float x) { return f16ToFloat(floatToF16(x)); }

//===----------------------------------------------------------------------===//
// fp8 (e4m3fn)
//===----------------------------------------------------------------------===//

float mla::ref::fp8E4M3ToFloat(uint8_t b) {
  int sign = b >> 7, e = (b >> 3) & 0xF, m = b & 7;
  if (e == 0xF && m == 7)
    return std::numeric_limits<float>::quiet_NaN();
  double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  return float(sign ? -v : v);
}

uint8_t mla::ref::floatToFP8E4M3(float x) {
  uint8_t sign = std::signbit(x) ? 0x80 : 0;
  if (std::isnan(x))
    return sign | 0x7F;
  double a = std::fabs(double(x));
  // Codes 0 .. 126 are the finite magnitudes in increasing order.
  int lo = 0, hi = 126;
  if (a >= fp8E4M3ToFloat(126))
    return sign | 126;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    (fp8E4M3ToFloat(uint8_t(mid)) <= a ? lo : hi) = mid;
  }
  double dlo = a - fp8E4M3ToFloat(uint8_t(lo)),
         dhi = fp8E4M3ToFloat(uint8_t(hi)) - a;
  // Ties go to the even code (the mantissa's last bit is the code's).
  int code = dlo < dhi ? lo : dhi < dlo ? hi : (lo % 2 == 0 ? lo : hi);
  return sign | uint8_t(code);
}

void mla::ref::encodeFP8Row(const float *row, int64_t dc, int64_t dr,
                            int64_t group, uint8_t *bytes) {
  uint8_t *scales = bytes + dc;
  for (int64_t g = 0; g < dc / group; ++g) {
    float amax = 0.0f;
    for (int64_t k = g * group; k < (g + 1) * group; ++k)
      amax = std::max(amax, std::fabs(row[k]));
    float scale = amax > 0.0f ? amax / 448.0f : 1.0f;
    std::memcpy(scales + 4 * g, &scale, 4);
    for (int64_t k = g * group; k < (g + 1) * group; ++k)
      bytes[k] = floatToFP8E4M3(row[k] / scale);
  }
  uint8_t *rope = scales + 4 * (dc / group);
  for (int64_t k = 0; k < dr; ++k) {
    uint16_t h = floatToBF16(row[dc + k]);
    std::memcpy(rope + 2 * k, &h, 2);
  }
}

void mla::ref::decodeFP8Row(const uint8_t *bytes, int64_t dc, int64_t dr,
                            int64_t group, float *row) {
  const uint8_t *scales = bytes + dc;
  for (int64_t k = 0; k < dc; ++k) {
    float scale;
    std::memcpy(&scale, scales + 4 * (k / group), 4);
    row[k] = fp8E4M3ToFloat(bytes[k]) * scale;
  }
  const uint8_t *rope = scales + 4 * (dc / group);
  for (int64_t k = 0; k < dr; ++k) {
    uint16_t h;
    std::memcpy(&h, rope + 2 * k, 2);
    row[dc + k] = bf16ToFloat(h);
  }
}

//===----------------------------------------------------------------------===//
// Layer pieces
//===----------------------------------------------------------------------===//

void mla::ref::vecMat(const double *x, const float *w, int64_t in, int64_t out,
                      double *y) {
  std::fill(y, y + out, 0.0);
  for (int64_t i = 0; i < in; ++i)
    for (int64_t o = 0; o < out; ++o)
      y[o] += x[i] * double(w[i * out + o]);
}

void mla::ref::rmsNorm(const double *x, const float *gamma, int64_t n,
                       double eps, double *y) {
  if (!gamma) {
    std::copy(x, x + n, y);
    return;
  }
  double sumSq = 0.0;
  for (int64_t i = 0; i < n; ++i)
    sumSq += x[i] * x[i];
  double inv = 1.0 / std::sqrt(sumSq / double(n) + eps);
  for (int64_t i = 0; i < n; ++i)
    y[i] = x[i] * inv * double(gamma[i]);
}

void mla::ref::applyRope(double *x, int64_t d, double pos, double theta,
                         bool interleaved) {
  const int64_t half = d / 2;
  for (int64_t i = 0; i < half; ++i) {
    double angle = pos * std::pow(theta, -2.0 * double(i) / double(d));
    double c = std::cos(angle), sn = std::sin(angle);
    double &x0 = interleaved ? x[2 * i] : x[i];
    double &x1 = interleaved ? x[2 * i + 1] : x[i + half];
    double r0 = x0 * c - x1 * sn;
    double r1 = x0 * sn + x1 * c;
    x0 = r0;
    x1 = r1;
  }
}

double mla::ref::yarnMscale(double factor, double mscale) {
  return factor <= 1.0 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

double mla::ref::softmaxScale(int64_t qkNopeHeadDim, int64_t dr,
                              double mscale) {
  return mscale * mscale / std::sqrt(double(qkNopeHeadDim + dr));
}

//===----------------------------------------------------------------------===//
// Layer decode step
//===----------------------------------------------------------------------===//

void mla::ref::latentCacheRow(const LayerShape &s, const LayerWeights &w,
                              const double *x, double pos, double *row) {
  vecMat(x, w.wDKV, s.hidden, s.dc, row);
  rmsNorm(row, w.kvNorm, s.dc, s.rmsEps, row);
  vecMat(x, w.wKR, s.hidden, s.dr, row + s.dc);
  applyRope(row + s.dc, s.dr, pos, s.ropeTheta, s.ropeInterleaved);
}

void mla::ref::layerQuery(const LayerShape &s, const LayerWeights &w,
                          const double *x, double pos, double *qNope,
                          double *qRope) {
  const int64_t qIn = s.qLoraRank > 0 ? s.qLoraRank : s.hidden;
  std::vector<double> cq(x, x + s.hidden);
  if (s.qLoraRank > 0) {
    cq.assign(qIn, 0.0);
    vecMat(x, w.wDQ, s.hidden, qIn, cq.data());
    rmsNorm(cq.data(), w.qNorm, qIn, s.rmsEps, cq.data());
  }
  for (int64_t hd = 0; hd < s.heads; ++hd) {
    vecMat(cq.data(), w.wUQ + hd * qIn * s.dNope, qIn, s.dNope,
           qNope + hd * s.dNope);
    double *qr = qRope + hd * s.dr;
    vecMat(cq.data(), w.wQR + hd * qIn * s.dr, qIn, s.dr, qr);
    applyRope(qr, s.dr, pos, s.ropeTheta, s.ropeInterleaved);
  }
}

void mla::ref::layerDecodeStep(const LayerShape &s, const LayerWeights &w,
                               const float *h, const int32_t *positions,
                               float *kvCache, const int32_t *blockTable,
                               const int32_t *seqLens, int64_t batch,
                               int64_t maxBlocksPerSeq, double scale,
                               double *out) {
  const int64_t rowLen = s.dc + s.dr;
  const int64_t H = s.heads;
  std::vector<double> x(s.hidden), row(rowLen);
  std::vector<double> qNope(s.qLen * H * s.dNope), qRope(s.qLen * H * s.dr);
  std::vector<double> concat(s.qLen * H * s.dV);

  for (int64_t b = 0; b < batch; ++b) {
    const int64_t seqLen = seqLens[b];

    // Append the new tokens first: later queries attend to earlier new
    // tokens, exactly through what the cache holds (float-rounded).
    for (int64_t t = 0; t < s.qLen; ++t) {
      const float *ht = h + (b * s.qLen + t) * s.hidden;
      std::copy(ht, ht + s.hidden, x.begin());
      const double pos = positions[b * s.qLen + t];
      layerQuery(s, w, x.data(), pos, qNope.data() + t * H * s.dNope,
                 qRope.data() + t * H * s.dr);
      const int64_t p = seqLen - s.qLen + t;
      if (p < 0) // Violated precondition: never write outside the cache.
        continue;
      latentCacheRow(s, w, x.data(), pos, row.data());
      float *dst = cacheRow(kvCache, rowLen, blockTable, maxBlocksPerSeq,
                            s.blockSize, b, p);
      for (int64_t k = 0; k < rowLen; ++k)
        dst[k] = float(row[k]);
    }

    // Training form per head: materialise k_h and v_h for every cached
    // position, then plain softmax attention.
    std::vector<double> kNope(seqLen * s.dNope), kRope(seqLen * s.dr),
        v(seqLen * s.dV), ckv(s.dc), scores;
    for (int64_t hd = 0; hd < H; ++hd) {
      const float *wUK = w.wUK + hd * s.dc * s.dNope;
      const float *wUV = w.wUV + hd * s.dc * s.dV;
      for (int64_t j = 0; j < seqLen; ++j) {
        const float *src = cacheRow(kvCache, rowLen, blockTable,
                                    maxBlocksPerSeq, s.blockSize, b, j);
        std::copy(src, src + s.dc, ckv.begin());
        vecMat(ckv.data(), wUK, s.dc, s.dNope, kNope.data() + j * s.dNope);
        vecMat(ckv.data(), wUV, s.dc, s.dV, v.data() + j * s.dV);
        std::copy(src + s.dc, src + rowLen, kRope.begin() + j * s.dr);
      }
      for (int64_t t = 0; t < s.qLen; ++t) {
        const double *qn = qNope.data() + (t * H + hd) * s.dNope;
        const double *qr = qRope.data() + (t * H + hd) * s.dr;
        const int64_t n = visiblePositions(seqLen, s.qLen, t, /*causal=*/true);
        scores.assign(n, 0.0);
        for (int64_t j = 0; j < n; ++j) {
          double dot = 0.0;
          for (int64_t k = 0; k < s.dNope; ++k)
            dot += qn[k] * kNope[j * s.dNope + k];
          for (int64_t k = 0; k < s.dr; ++k)
            dot += qr[k] * kRope[j * s.dr + k];
          scores[j] = scale * dot;
        }
        softmaxInPlace(scores.data(), n);
        double *o = concat.data() + (t * H + hd) * s.dV;
        std::fill(o, o + s.dV, 0.0);
        for (int64_t j = 0; j < n; ++j)
          for (int64_t k = 0; k < s.dV; ++k)
            o[k] += scores[j] * v[j * s.dV + k];
      }
    }

    for (int64_t t = 0; t < s.qLen; ++t)
      vecMat(concat.data() + t * H * s.dV, w.wO, H * s.dV, s.hidden,
             out + (b * s.qLen + t) * s.hidden);
  }
}
