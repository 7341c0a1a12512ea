//===- Reference.h - naive double-precision MLA reference -------*- C++ -*-===//
//
// The math of DESIGN.md ("The math", "Kernel contract") written as plainly as
// possible in double precision, with no dependency beyond the C++ standard
// library. Generated kernels are compared against these functions, so they
// favour obviousness over speed: no absorption, no tiling, no online softmax.
//
// Conventions: every array is row-major and contiguous; weights are stored
// [in, out] (y = x W) and per-head weights [H, in, out].
//
//===----------------------------------------------------------------------===//

#ifndef MLA_REFERENCE_REFERENCE_H
#define MLA_REFERENCE_REFERENCE_H

#include <cstdint>

namespace mla {
namespace ref {

//===----------------------------------------------------------------------===//
// Decode attention over a paged latent cache (the kernel contract)
//===----------------------------------------------------------------------===//

struct DecodeShape {
  int64_t heads, dc, dr, qLen, blockSize;
  bool causal;
  /// A sliding window of `window` positions (0: none): query i, at position
  /// p = seqLen - qLen + i, sees no position before p - window + 1.
  int64_t window = 0;
  /// Per-head logits [heads] that join each row's softmax denominator (and
  /// its lse) without a value; null: none.
  const float *sinks = nullptr;
};

/// The DESIGN's kernel contract computed naively in double.
///   q          [batch, qLen, heads, dc+dr]
///   kvCache    [numBlocks, blockSize, dc+dr]
///   blockTable [batch, maxBlocksPerSeq]
///   seqLens    [batch]
///   out        [batch, qLen, heads, dc]
///   lse        [batch, heads, qLen]   (may be null when not wanted)
/// Query i of sequence b sees cache positions 0 .. seqLens[b]-qLen+i when
/// causal, all seqLens[b] otherwise, from firstVisiblePosition on (the
/// window). A query with no visible position gets zeros in out and -inf in
/// lse (the sink's logit with sinks). Scores = scale * (q . row) over all dc+dr
/// values; out = sum_j softmax_j * row_j[0:dc]; lse = log(sum_j exp(score_j))
/// (natural log of the scaled scores).
/// Precondition: seqLens[b] <= maxBlocksPerSeq * blockSize and every page id
/// the visible positions need is a valid block of kvCache.
void decodeAttention(const DecodeShape &s, const float *q, const float *kvCache,
                     const int32_t *blockTable, const int32_t *seqLens,
                     int64_t batch, int64_t maxBlocksPerSeq, double scale,
                     double *out, double *lse);

/// The same contract on head caches (GQA/MQA/MHA): `s.dc` is the head dim
/// and `s.dr` 0; kCache and vCache [numBlocks, blockSize, kvHeads, dc]; head
/// h reads KV head h / (heads / kvHeads), its scores over the key row and
/// its output from the value row.
void decodeAttentionHeads(const DecodeShape &s, int64_t kvHeads,
                          const float *q, const float *kCache,
                          const float *vCache, const int32_t *blockTable,
                          const int32_t *seqLens, int64_t batch,
                          int64_t maxBlocksPerSeq, double scale, double *out,
                          double *lse);

/// Sparse decode (token indices, FlashMLA's sparse decode): query i of
/// sequence b attends to the cache rows indices[b, i, j] (page * blockSize
/// + offset, in units of rows of kvCache [*, dc+dr]) of the slots
/// j < validSlots[b] whose index is not negative, a row once per slot that
/// names it; no causal mask or window (`s.causal`, `s.window` unused).
/// Scores, out and lse as in decodeAttention; a query with no valid slot
/// gets zeros and -inf (the sink's logit with sinks).
///   indices    [batch, qLen, topk]
///   validSlots [batch], each in 0 .. topk
void decodeAttentionSparse(const DecodeShape &s, const float *q,
                           const float *kvCache, const int32_t *indices,
                           const int32_t *validSlots, int64_t batch,
                           int64_t topk, double scale, double *out,
                           double *lse);

/// Number of cache positions query `queryIdx` (0-based among the qLen new
/// tokens) of a sequence of `seqLen` tokens may attend to; 0 if none.
int64_t visiblePositions(int64_t seqLen, int64_t qLen, int64_t queryIdx,
                         bool causal);

/// The first cache position that query `queryIdx` of a sequence of `seqLen`
/// tokens sees under a sliding window of `window` positions (0: none).
int64_t firstVisiblePosition(int64_t seqLen, int64_t qLen, int64_t queryIdx,
                             int64_t window);
/// Index of the cache row (in units of rows, i.e. page * blockSize + offset)
/// that holds position `pos` of sequence `b`.
int64_t cacheRowIndex(const int32_t *blockTable, int64_t maxBlocksPerSeq,
                      int64_t blockSize, int64_t b, int64_t pos);

//===----------------------------------------------------------------------===//
// bf16
//===----------------------------------------------------------------------===//

/// float -> bf16 bits, rounding to nearest, ties to even. NaN stays a (quiet)
/// NaN of the same sign; overflow rounds to infinity as IEEE rounding does.
uint16_t floatToBF16(float x);
/// bf16 bits -> float (exact).
float bf16ToFloat(uint16_t b);
/// The float nearest to x that bf16 can hold: bf16ToFloat(floatToBF16(x)).
float roundToBF16(float x);

/// float -> IEEE binary16 (f16) bits, to nearest, ties to even, subnormals
/// kept; at or above 65520 in magnitude, infinity; NaN a quiet NaN.
uint16_t floatToF16(float x);
/// f16 bits -> float (exact).
float f16ToFloat(uint16_t h);
/// The float nearest to x that f16 can hold.
float roundToF16(float x);

//===----------------------------------------------------------------------===//
// fp8 (e4m3fn) and the row_groups cache encoding
//===----------------------------------------------------------------------===//

/// e4m3fn bits -> float (exact): sign, 4 exponent bits (bias 7), 3 mantissa
/// bits; exponent 0 is subnormal (m / 8 * 2^-6), s1111111 is NaN, no inf.
float fp8E4M3ToFloat(uint8_t b);
/// float -> e4m3fn bits, rounding to nearest, ties to even, saturating at
/// +-448 (the largest finite value); NaN stays NaN.
uint8_t floatToFP8E4M3(float x);

/// The bytes of one cache row in the row_groups encoding (FlashMLA's "FP8
/// with scale" row, 656 bytes at 512/64): row[0:dc] as e4m3 values, each
/// group of `group` values with the f32 scale amax / 448 (1 for an all-zero
/// group) so that value = e4m3 * scale, the dc / group scales after them,
/// then row[dc:dc+dr] as bf16. `bytes` holds dc + 4 dc / group + 2 dr.
void encodeFP8Row(const float *row, int64_t dc, int64_t dr, int64_t group,
                  uint8_t *bytes);
/// The values such a row holds: e4m3 * scale, then the bf16 values.
void decodeFP8Row(const uint8_t *bytes, int64_t dc, int64_t dr, int64_t group,
                  float *row);

//===----------------------------------------------------------------------===//
// Layer pieces
//===----------------------------------------------------------------------===//

/// y[out] = x[in] W, W stored [in, out].
void vecMat(const double *x, const float *w, int64_t in, int64_t out,
            double *y);

/// RMSNorm: y = x * gamma / sqrt(mean(x^2) + eps). A null gamma means the
/// norm is absent (the DESIGN makes it optional) and y = x. y may alias x.
void rmsNorm(const double *x, const float *gamma, int64_t n, double eps,
             double *y);

/// Rotates x[0:d] in place for position `pos`. Pair i in [0, d/2) uses the
/// angle pos * theta^(-2i/d); interleaved pairs are (x[2i], x[2i+1]),
/// rotate-half pairs (x[i], x[i+d/2]); (x0, x1) -> (x0 cos - x1 sin,
/// x0 sin + x1 cos). d must be even.
void applyRope(double *x, int64_t d, double pos, double theta,
               bool interleaved);

/// DeepSeek's YaRN attention factor: 0.1 * mscale * ln(factor) + 1 for
/// factor > 1, else 1.
double yarnMscale(double factor, double mscale);

/// Softmax scale of the DESIGN: mscale^2 / sqrt(qkNopeHeadDim + dr).
double softmaxScale(int64_t qkNopeHeadDim, int64_t dr, double mscale = 1.0);

//===----------------------------------------------------------------------===//
// Training-form MLA layer decode step
//===----------------------------------------------------------------------===//

struct LayerShape {
  int64_t hidden, heads, qLoraRank /*0 = none*/, dc, dr, dNope, dV;
  double ropeTheta;
  bool ropeInterleaved;
  double rmsEps;
  int64_t qLen, blockSize;
};

/// All row-major float. qIn = qLoraRank if set, else hidden. A null qNorm or
/// kvNorm skips that RMSNorm; wDQ must be null exactly when qLoraRank == 0.
struct LayerWeights {
  const float *wDQ /*[hidden, qLoraRank] or null*/,
      *qNorm /*[qLoraRank] or null*/, *wUQ /*[H, qIn, dNope]*/,
      *wQR /*[H, qIn, dr]*/, *wDKV /*[hidden, dc]*/, *kvNorm /*[dc]*/,
      *wKR /*[hidden, dr]*/, *wUK /*[H, dc, dNope]*/, *wUV /*[H, dc, dV]*/,
      *wO /*[H*dV, hidden]*/;
};

/// The cache row [rmsnorm(h W_DKV) ; rope(h W_KR, pos)] of one token:
/// x [hidden] -> row [dc + dr].
void latentCacheRow(const LayerShape &s, const LayerWeights &w, const double *x,
                    double pos, double *row);

/// The per-head queries of one token: x [hidden] -> qNope [H, dNope] and
/// qRope [H, dr] (rotated for `pos`).
void layerQuery(const LayerShape &s, const LayerWeights &w, const double *x,
                double pos, double *qNope, double *qRope);

/// One decode step of the training form (DeepSeek-V2 sec 3.1), in double.
///   h          [batch, qLen, hidden]
///   positions  [batch, qLen]   RoPE positions of the new tokens
///   kvCache    [numBlocks, blockSize, dc+dr], updated IN PLACE: token s of
///              sequence b (cache position p = seqLens[b]-qLen+s) gets its
///              latentCacheRow, rounded to float, at row p % blockSize of
///              page blockTable[b, p / blockSize]
///   out        [batch, qLen, hidden]
/// Then per head, over cached positions j < seqLens[b] as read back from the
/// cache: k_h = [c_kv_j W_UK,h ; k_rope_j], v_h = c_kv_j W_UV,h;
/// o_h = causal softmax(q_h k_h^T * scale) v_h (query i sees positions
/// <= seqLens[b]-qLen+i); out = concat_h(o_h) W_O.
/// Precondition: qLen <= seqLens[b] <= maxBlocksPerSeq * blockSize.
void layerDecodeStep(const LayerShape &s, const LayerWeights &w, const float *h,
                     const int32_t *positions, float *kvCache,
                     const int32_t *blockTable, const int32_t *seqLens,
                     int64_t batch, int64_t maxBlocksPerSeq, double scale,
                     double *out);

} // namespace ref
} // namespace mla

#endif // MLA_REFERENCE_REFERENCE_H
