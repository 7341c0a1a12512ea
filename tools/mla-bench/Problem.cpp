//===- Problem.cpp - Decode-attention problem for mla-bench ---------------===//

#include "Problem.h"

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
  if (seqLens.empty())
    in.seqLens.assign(size_t(shape.batch), int32_t(shape.seqLen));
  else
    in.seqLens = seqLens;
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

double mla::bench::maxAbsDifference(const AttentionOutputs &a,
                                    const AttentionOutputs &b) {
  const double inf = std::numeric_limits<double>::infinity();
  auto diff = [&](float x, float y) -> double {
    if (std::isnan(x) || std::isnan(y))
      return inf;
    if (std::isinf(x) || std::isinf(y))
      return x == y ? 0.0 : inf;
    return std::fabs(double(x) - double(y));
  };
  double worst = 0.0;
  std::vector<float> outA = a.outAsFloat(), outB = b.outAsFloat();
  if (outA.size() != outB.size() || a.lseCount() != b.lseCount())
    return inf;
  for (size_t i = 0; i < outA.size(); ++i)
    worst = std::max(worst, diff(outA[i], outB[i]));
  for (size_t i = 0; i < a.lseCount(); ++i)
    worst = std::max(worst, diff(a.lse()[i], b.lse()[i]));
  return worst;
}
