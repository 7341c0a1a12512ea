//===- Baselines.cpp - Reference decode-attention implementations ---------===//

#include "Baselines.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>
#include <type_traits>

#include <cblas.h>

// Declared by OpenBLAS's cblas.h, but not by other CBLAS headers that may be
// first on the include path; OpenBLAS is what we link either way.
extern "C" void openblas_set_num_threads(int numThreads);
extern "C" char *openblas_get_config(void);

using namespace mla::bench;

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

/// Positions before the end (exclusive) of a sequence of \p seqLen tokens
/// are visible to query \p i of \p qLen (DESIGN.md: causal for qLen > 1),
/// from shape.firstVisible on (a window).
int64_t visibleEnd(const AttentionShape &shape, int64_t seqLen, int64_t i) {
  int64_t visible = shape.causal() ? seqLen - shape.qLen + i + 1 : seqLen;
  return std::max<int64_t>(0, std::min(visible, seqLen));
}

int64_t maxSeqLen(const AttentionInputs &in) {
  int64_t result = 0;
  for (int32_t len : in.seqLens)
    result = std::max<int64_t>(result, len);
  return result;
}

void toFloat(const float *src, float *dst, size_t count) {
  std::copy(src, src + count, dst);
}
void toFloat(const uint16_t *src, float *dst, size_t count) {
  for (size_t i = 0; i < count; ++i)
    dst[i] = bf16ToFloat(src[i]);
}

template <typename T>
void naiveTyped(const AttentionInputs &in, T *out, float *lse) {
  const AttentionShape &shape = in.shape;
  const T *q = in.q.as<T>();
  const T *cache = in.cache.as<T>();
  const int64_t headDim = shape.headDim(), dc = shape.dc;
  const int64_t numHeads = shape.numHeads, qLen = shape.qLen;
  const int64_t blockSize = shape.blockSize;
  const int64_t maxBlocks = shape.maxBlocksPerSeq();
  const float scale = in.softmaxScale;
  const int64_t scoreCapacity = std::max<int64_t>(1, maxSeqLen(in));

#pragma omp parallel
  {
    std::vector<float> query(static_cast<size_t>(headDim));
    std::vector<float> acc(static_cast<size_t>(dc));
    std::vector<float> scores(static_cast<size_t>(scoreCapacity));
#pragma omp for collapse(2) schedule(static)
    for (int64_t b = 0; b < shape.batch; ++b) {
      for (int64_t h = 0; h < numHeads; ++h) {
        const int32_t *pages = in.blockTable.data() + b * maxBlocks;
        const int64_t seqLen = in.seqLens[size_t(b)];
        for (int64_t i = 0; i < qLen; ++i) {
          const int64_t end = visibleEnd(shape, seqLen, i);
          const int64_t first = std::min(end, shape.firstVisible(seqLen, i));
          const int64_t visible = end - first;
          const size_t rowIndex = size_t((b * qLen + i) * numHeads + h);
          const size_t lseIndex = size_t((b * numHeads + h) * qLen + i);
          T *outRow = out + rowIndex * size_t(dc);
          if (visible == 0) {
            for (int64_t d = 0; d < dc; ++d)
              storeElem(outRow, size_t(d), 0.0f);
            lse[lseIndex] = kNegInf;
            continue;
          }
          for (int64_t d = 0; d < headDim; ++d)
            query[size_t(d)] = loadElem(q, rowIndex * size_t(headDim) + d);

          // Token first + t.
          auto cacheRow = [&](int64_t t) {
            t += first;
            return cache + (size_t(pages[t / blockSize]) * blockSize +
                            size_t(t % blockSize)) *
                               size_t(headDim);
          };
          float maxScore = kNegInf;
          for (int64_t t = 0; t < visible; ++t) {
            const T *row = cacheRow(t);
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int64_t d = 0; d < headDim; ++d)
              dot += query[size_t(d)] * loadElem(row, size_t(d));
            scores[size_t(t)] = dot * scale;
            maxScore = std::max(maxScore, scores[size_t(t)]);
          }
          float sum = 0.0f;
          for (int64_t t = 0; t < visible; ++t) {
            scores[size_t(t)] = std::exp(scores[size_t(t)] - maxScore);
            sum += scores[size_t(t)];
          }
          std::fill(acc.begin(), acc.end(), 0.0f);
          for (int64_t t = 0; t < visible; ++t) {
            const T *row = cacheRow(t);
            const float p = scores[size_t(t)];
            float *accData = acc.data();
#pragma omp simd
            for (int64_t d = 0; d < dc; ++d)
              accData[d] += p * loadElem(row, size_t(d));
          }
          const float inv = 1.0f / sum;
          for (int64_t d = 0; d < dc; ++d)
            storeElem(outRow, size_t(d), acc[size_t(d)] * inv);
          lse[lseIndex] = maxScore + std::log(sum);
        }
      }
    }
  }
}
} // namespace

void mla::bench::runNaive(const AttentionInputs &in,
                          AttentionOutputs &outputs) {
  if (in.type == ElemType::F32)
    naiveTyped(in, static_cast<float *>(outputs.out()), outputs.lse());
  else
    naiveTyped(in, static_cast<uint16_t *>(outputs.out()), outputs.lse());
}

OpenBlasAttention::OpenBlasAttention(const AttentionShape &shape)
    : maxSeqLen(shape.maxBlocksPerSeq() * shape.blockSize),
      keys(size_t(maxSeqLen * shape.headDim())),
      queries(size_t(shape.qLen * shape.numHeads * shape.headDim())),
      scores(size_t(shape.qLen * shape.numHeads * maxSeqLen)),
      values(size_t(shape.qLen * shape.numHeads * shape.dc)) {}

void OpenBlasAttention::run(const AttentionInputs &in,
                            AttentionOutputs &outputs) {
  if (in.type == ElemType::F32)
    runTyped(in, static_cast<float *>(outputs.out()), outputs.lse());
  else
    runTyped(in, static_cast<uint16_t *>(outputs.out()), outputs.lse());
}

template <typename T>
void OpenBlasAttention::runTyped(const AttentionInputs &in, T *out,
                                 float *lse) {
  const AttentionShape &shape = in.shape;
  const int64_t headDim = shape.headDim(), dc = shape.dc;
  const int64_t numHeads = shape.numHeads, qLen = shape.qLen;
  const int64_t blockSize = shape.blockSize;
  const int64_t maxBlocks = shape.maxBlocksPerSeq();
  const int64_t rows = qLen * numHeads; // Query rows of one sequence.
  const T *cache = in.cache.as<T>();
  constexpr bool isF32 = std::is_same<T, float>::value;

  for (int64_t b = 0; b < shape.batch; ++b) {
    const int64_t seqLen = in.seqLens[size_t(b)];
    assert(seqLen <= maxSeqLen && "workspace sized for a shorter sequence");
    const int32_t *pages = in.blockTable.data() + b * maxBlocks;
    T *outSeq = out + size_t(b * rows * dc);

    // The rows of Q are (query i, head h) pairs in the order of q and out.
    const T *qSeq = in.q.as<T>() + size_t(b * rows * headDim);
    const float *qRows;
    if constexpr (isF32) {
      qRows = qSeq;
    } else {
      toFloat(qSeq, queries.data(), size_t(rows * headDim));
      qRows = queries.data();
    }

    // Gather the pages that hold positions some query sees (from the page
    // of the first query's window start) into contiguous rows of K: token
    // base + t is row t.
    const int64_t base =
        shape.firstVisible(seqLen, 0) / blockSize * blockSize;
    const int64_t span = seqLen - base;
    for (int64_t t0 = base; t0 < seqLen; t0 += blockSize) {
      int64_t count = std::min(blockSize, seqLen - t0);
      const T *page =
          cache + size_t(pages[t0 / blockSize]) * size_t(blockSize * headDim);
      toFloat(page, keys.data() + (t0 - base) * headDim,
              size_t(count * headDim));
    }

    // S = scale * Q K^T, [rows, span].
    if (span > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(rows),
                  int(span), int(headDim), in.softmaxScale, qRows,
                  int(headDim), keys.data(), int(headDim), 0.0f, scores.data(),
                  int(span));

    // Mask, softmax; P is normalised here so the second GEMM yields O.
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r / numHeads, h = r % numHeads;
      const int64_t end = visibleEnd(shape, seqLen, i) - base;
      const int64_t first =
          std::min(end, shape.firstVisible(seqLen, i) - base);
      const int64_t visible = end - first;
      float *row = scores.data() + r * span;
      float maxScore = kNegInf;
      for (int64_t t = first; t < end; ++t)
        maxScore = std::max(maxScore, row[t]);
      float sum = 0.0f;
      for (int64_t t = first; t < end; ++t) {
        row[t] = std::exp(row[t] - maxScore);
        sum += row[t];
      }
      const float inv = visible ? 1.0f / sum : 0.0f;
      for (int64_t t = first; t < end; ++t)
        row[t] *= inv;
      std::fill(row, row + first, 0.0f);
      std::fill(row + end, row + span, 0.0f);
      lse[(b * numHeads + h) * qLen + i] =
          visible ? maxScore + std::log(sum) : kNegInf;
    }

    // O = P K[:, :dc], [rows, dc].
    float *oRows;
    if constexpr (isF32)
      oRows = outSeq;
    else
      oRows = values.data();
    if (span > 0)
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(dc),
                  int(span), 1.0f, scores.data(), int(span), keys.data(),
                  int(headDim), 0.0f, oRows, int(dc));
    else
      std::fill(oRows, oRows + rows * dc, 0.0f);
    if constexpr (!isF32) {
      for (int64_t e = 0; e < rows * dc; ++e)
        storeElem(outSeq, size_t(e), oRows[e]);
    }
  }
}

void mla::bench::setBlasThreads(int numThreads) {
  openblas_set_num_threads(numThreads);
}

std::string mla::bench::blasDescription() {
  const char *config = openblas_get_config();
  return config ? config : "OpenBLAS (unknown configuration)";
}
