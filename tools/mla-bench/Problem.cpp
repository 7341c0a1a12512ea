//===- Problem.cpp - Decode-attention problem for mla-bench ---------------===//

#include "Problem.h"

#include "mla/Reference/Reference.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <numeric>
#include <utility>

using namespace mla::bench;

namespace {
/// SplitMix64: fast and good enough for benchmark data, and identical on
/// every platform (unlike std::uniform_real_distribution).
class Rng {
public:
  explicit Rng(uint64_t seed) : state(seed) {}
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  /// Uniform in [-1, 1).
  float nextSigned() { return float(next() >> 40) * 0x1p-23f - 1.0f; }
  uint64_t nextBelow(uint64_t bound) { return next() % bound; }

private:
  uint64_t state;
};

void fillUniform(AlignedBuffer &buf, int64_t count, ElemType type, Rng &rng) {
  buf.resize(size_t(count) * elemSize(type));
  if (type == ElemType::F32) {
    float *data = buf.as<float>();
    for (int64_t i = 0; i < count; ++i)
      data[i] = rng.nextSigned();
    return;
  }
  uint16_t *data = buf.as<uint16_t>();
  for (int64_t i = 0; i < count; ++i)
    data[i] = floatToBf16(rng.nextSigned());
}
} // namespace

void AlignedBuffer::FreeDeleter::operator()(void *ptr) const { std::free(ptr); }

void AlignedBuffer::resize(size_t bytes) {
  // aligned_alloc needs a multiple of the alignment.
  size_t rounded = (bytes + 63) / 64 * 64;
  storage.reset(rounded ? std::aligned_alloc(64, rounded) : nullptr);
  if (rounded && !storage)
    std::abort();
  numBytes = bytes;
}

AttentionInputs AttentionInputs::create(const AttentionShape &shape,
                                        ElemType type, uint64_t seed,
                                        const std::vector<int32_t> &seqLens) {
  AttentionInputs in;
  in.shape = shape;
  in.type = type;
  in.softmaxScale = 1.0f / std::sqrt(float(shape.headDim()));
  Rng rng(seed);
  fillUniform(in.q, shape.qElems(), type, rng);
  fillUniform(in.cache, shape.cacheElems(), type, rng);

  // Pages in random order so that a kernel cannot get away with assuming
  // contiguous sequences.
  std::vector<int32_t> pages(size_t(shape.numBlocks()));
  std::iota(pages.begin(), pages.end(), 0);
  for (size_t i = pages.size(); i > 1; --i)
    std::swap(pages[i - 1], pages[rng.nextBelow(i)]);
  in.blockTable = std::move(pages);
  if (!seqLens.empty())
    in.seqLens = seqLens;
  else if (!shape.lens.empty())
    in.seqLens = shape.lens;
  else
    in.seqLens.assign(size_t(shape.batch), int32_t(shape.seqLen));
  return in;
}

AttentionOutputs::AttentionOutputs(const AttentionShape &shape, ElemType type)
    : type(type), outElems(size_t(shape.outElems())),
      lseElems(size_t(shape.lseElems())),
      outBuf(outElems * elemSize(type) + kGuardBytes),
      lseBuf(lseElems * sizeof(float) + kGuardBytes) {
  poison();
}

void AttentionOutputs::poison() {
  // 0xff bytes are NaN in both f32 and bf16, and the guard pattern.
  std::memset(outBuf.data(), 0xff, outBuf.size());
  std::memset(lseBuf.data(), 0xff, lseBuf.size());
}

bool AttentionOutputs::guardsIntact() const {
  auto intact = [](const AlignedBuffer &buf, size_t payload) {
    const auto *bytes = buf.as<unsigned char>();
    for (size_t i = payload; i < buf.size(); ++i)
      if (bytes[i] != 0xff)
        return false;
    return true;
  };
  return intact(outBuf, outElems * elemSize(type)) &&
         intact(lseBuf, lseElems * sizeof(float));
}

std::vector<float> AttentionOutputs::outAsFloat() const {
  std::vector<float> result(outElems);
  if (type == ElemType::F32) {
    std::memcpy(result.data(), outBuf.data(), outElems * sizeof(float));
    return result;
  }
  const uint16_t *data = outBuf.as<uint16_t>();
  for (size_t i = 0; i < outElems; ++i)
    result[i] = bf16ToFloat(data[i]);
  return result;
}

ReferenceOutputs mla::bench::computeReference(const AttentionInputs &in) {
  const AttentionShape &shape = in.shape;
  const int64_t rowLen = shape.headDim(), dc = shape.dc, qLen = shape.qLen;
  const int64_t numHeads = shape.numHeads, maxBlocks = shape.maxBlocksPerSeq();

  // The reference reads float; bf16 widens exactly.
  std::vector<float> wideQ, wideCache;
  const float *q = in.q.as<float>(), *cache = in.cache.as<float>();
  if (in.type == ElemType::BF16) {
    auto widen = [](const AlignedBuffer &buf, int64_t count,
                    std::vector<float> &wide) {
      wide.resize(size_t(count));
      const uint16_t *src = buf.as<uint16_t>();
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < count; ++i)
        wide[size_t(i)] = mla::ref::bf16ToFloat(src[i]);
    };
    widen(in.q, shape.qElems(), wideQ);
    widen(in.cache, shape.cacheElems(), wideCache);
    q = wideQ.data();
    cache = wideCache.data();
  }

  ReferenceOutputs ref;
  ref.out.resize(size_t(shape.outElems()));
  ref.lse.resize(size_t(shape.lseElems()));
  // One sequence and one head per call (batch 1, heads 1), so that the
  // double loops use every core; the slices are copied in and out of the
  // contract's layouts.
  mla::ref::DecodeShape one{/*heads=*/1,     shape.dc,
                            shape.dr,        qLen,
                            shape.blockSize, shape.causal()};
  one.window = shape.window;
  const double scale = double(in.softmaxScale);
#pragma omp parallel
  {
    std::vector<float> qSlice(size_t(qLen * rowLen));
    std::vector<double> outSlice(size_t(qLen * dc));
    std::vector<double> lseSlice(static_cast<size_t>(qLen));
#pragma omp for collapse(2) schedule(dynamic)
    for (int64_t b = 0; b < shape.batch; ++b) {
      for (int64_t h = 0; h < numHeads; ++h) {
        for (int64_t i = 0; i < qLen; ++i)
          std::memcpy(&qSlice[size_t(i * rowLen)],
                      q + ((b * qLen + i) * numHeads + h) * rowLen,
                      size_t(rowLen) * sizeof(float));
        mla::ref::decodeAttention(one, qSlice.data(), cache,
                                  in.blockTable.data() + b * maxBlocks,
                                  in.seqLens.data() + b, /*batch=*/1, maxBlocks,
                                  scale, outSlice.data(), lseSlice.data());
        for (int64_t i = 0; i < qLen; ++i) {
          std::copy(&outSlice[size_t(i * dc)], &outSlice[size_t((i + 1) * dc)],
                    &ref.out[size_t(((b * qLen + i) * numHeads + h) * dc)]);
          ref.lse[size_t((b * numHeads + h) * qLen + i)] = lseSlice[size_t(i)];
        }
      }
    }
  }
  return ref;
}

ErrorStats mla::bench::maxAbsError(const AttentionOutputs &outputs,
                                   const ReferenceOutputs &reference) {
  const double inf = std::numeric_limits<double>::infinity();
  ErrorStats err;
  std::vector<float> out = outputs.outAsFloat();
  if (out.size() != reference.out.size() ||
      outputs.lseCount() != reference.lse.size())
    return {inf, inf};
  for (size_t i = 0; i < out.size(); ++i) {
    double d = std::fabs(double(out[i]) - reference.out[i]);
    err.out = std::max(err.out, std::isfinite(d) ? d : inf);
  }
  for (size_t i = 0; i < reference.lse.size(); ++i) {
    double got = outputs.lse()[i], want = reference.lse[i];
    double d;
    if (std::isfinite(want))
      d = std::isfinite(got) ? std::fabs(got - want) : inf;
    else
      d = got == want ? 0.0 : inf; // -inf for no visible position.
    err.lse = std::max(err.lse, d);
  }
  return err;
}
