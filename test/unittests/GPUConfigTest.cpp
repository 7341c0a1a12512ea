//===- GPUConfigTest.cpp - the GPU kernels' form and tiling choices -------===//
//
// GPUDecodeConfig::get over a grid: which partial kernel each storage type,
// architecture and page size gets, and the invariants the kernels rely on
// (whole 16-element k-steps and 16-column slices, at most 256 accumulator
// columns a warp or warpgroup, shared memory within the architecture's
// limit, TMA boxes of whole 8-row swizzle groups dividing page and tile).
//
//===----------------------------------------------------------------------===//

#include "mla/Conversion/MLAToGPU/DecodeKernelGPU.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"

#include "gtest/gtest.h"

#include <numeric>
#include <string>

using namespace mlir;
using namespace mlir::mla;

namespace {

struct Request {
  DecodeParams params;
  std::string arch;
};

/// Runs GPUDecodeConfig::get, collecting its error message.
FailureOr<GPUDecodeConfig> configure(MLIRContext &ctx, const Request &r,
                                     std::string &error,
                                     bool allowTMA = true) {
  ScopedDiagnosticHandler handler(&ctx, [&](Diagnostic &d) {
    error = d.str();
    return success();
  });
  return GPUDecodeConfig::get(
      r.params, r.arch, [&] { return emitError(UnknownLoc::get(&ctx)); },
      allowTMA);
}

DecodeParams params(MLIRContext &ctx, int64_t heads, int64_t qLen, int64_t dc,
                    int64_t dr, int64_t blockSize, Type elem) {
  DecodeParams p;
  p.heads = heads;
  p.qLen = qLen;
  p.dc = dc;
  p.dr = dr;
  p.blockSize = blockSize;
  p.elemType = elem;
  return p;
}

TEST(GPUConfigTest, FormAndInvariantsOverTheGrid) {
  MLIRContext ctx;
  Builder b(&ctx);
  int checked = 0;
  for (Type elem : {b.getF32Type(), b.getBF16Type(), b.getF16Type()})
    for (const char *arch : {"sm_80", "sm_90a", "sm_86"})
      for (int64_t dc : {64, 128, 256, 512})
        for (int64_t dr : {0, 32, 64})
          for (int64_t heads : {1, 3, 16, 40, 64, 128})
            for (int64_t qLen : {1, 2, 4})
              for (int64_t bs : {1, 16, 64}) {
                Request r{params(ctx, heads, qLen, dc, dr, bs, elem), arch};
                std::string error;
                FailureOr<GPUDecodeConfig> c = configure(ctx, r, error);
                ASSERT_TRUE(succeeded(c)) << error;
                ++checked;
                const int64_t rows = heads * qLen;
                EXPECT_GE(c->numGroups() * c->rowsPerGroup, rows);
                EXPECT_LE(c->threads(), 1024);
                if (elem.isF32()) {
                  EXPECT_EQ(c->kind, GPUKernelKind::SIMT);
                  continue;
                }
                bool tma = std::string(arch) == "sm_90a" && bs % 8 == 0;
                EXPECT_EQ(c->kind,
                          tma ? GPUKernelKind::WGMMA : GPUKernelKind::MMA)
                    << arch << " bs " << bs;
                int64_t cols = dc / c->colSplits;
                EXPECT_EQ(dc % c->colSplits, 0);
                EXPECT_LE(cols, 256) << "accumulator columns";
                EXPECT_EQ((dc + dr) % 16, 0);
                if (c->kind == GPUKernelKind::MMA) {
                  EXPECT_EQ(cols % 16, 0) << "ldmatrix.x4.trans pairs";
                  EXPECT_EQ(c->rowsPerGroup, 16 * c->mTiles);
                  EXPECT_EQ(c->warps, c->mTiles * c->colSplits);
                  // sm_86/sm_89 give a CTA 99 KB.
                  EXPECT_LE(c->dynamicSharedBytes,
                            (std::string(arch) == "sm_86" ? 99 : 160) * 1024);
                  // Queries and two tiles of padded rows fit what was asked.
                  int64_t eb = 2;
                  EXPECT_GE(c->dynamicSharedBytes,
                            (c->rowsPerGroup + 2 * c->tileTokens) *
                                c->paddedWidth() * eb);
                  // Fewer than 64 rows: no m-tile is all padding.
                  if (rows < 64)
                    EXPECT_EQ(c->mTiles, (rows + 15) / 16);
                } else {
                  EXPECT_EQ(cols % 64, 0) << "whole 64-column boxes";
                  EXPECT_EQ(c->rowsPerGroup, 64);
                  EXPECT_EQ(c->warps, 4 * c->colSplits);
                  EXPECT_EQ(c->tmaBoxRows % 8, 0);
                  EXPECT_EQ(bs % c->tmaBoxRows, 0);
                  EXPECT_EQ(c->tileTokens % c->tmaBoxRows, 0);
                  EXPECT_EQ(((dc + dr) / 16) % c->colSplits, 0)
                      << "the same k-steps for every warpgroup";
                  EXPECT_LE(c->dynamicSharedBytes, 227 * 1024);
                }
                // Without host tensor maps sm_90a keeps mma.sync.
                std::string err2;
                FailureOr<GPUDecodeConfig> noTMA =
                    configure(ctx, r, err2, /*allowTMA=*/false);
                ASSERT_TRUE(succeeded(noTMA)) << err2;
                EXPECT_EQ(noTMA->kind, GPUKernelKind::MMA);
              }
  EXPECT_EQ(checked, 3 * 3 * 4 * 3 * 6 * 3 * 3);
}

TEST(GPUConfigTest, RefusalsNameTheValue) {
  MLIRContext ctx;
  Builder b(&ctx);
  struct Case {
    Request r;
    const char *expected;
  } cases[] = {
      {{params(ctx, 16, 1, 512, 64, 64, b.getBF16Type()), "sm_75"},
       "for 'sm_75' (expected sm_80, sm_86, sm_89 or sm_90a)"},
      // Fits sm_80's 160 KB, not the 99 KB of sm_86.
      {{params(ctx, 16, 1, 1536, 0, 64, b.getBF16Type()), "sm_86"},
       "must fit 99 KB of shared memory on sm_86"},
      {{params(ctx, 16, 1, 40, 0, 64, b.getBF16Type()), "sm_80"},
       "kv_lora_rank = 40 (must be a positive multiple of the 16-element "
       "k-step"},
      {{params(ctx, 16, 1, 512, 8, 64, b.getBF16Type()), "sm_90a"},
       "qk_rope_head_dim = 8"},
      {{params(ctx, 16, 1, 48, 0, 64, b.getF32Type()), "sm_80"},
       "kv_lora_rank = 48 (must be a positive multiple of the 32 lanes"},
      {{params(ctx, 0, 1, 512, 64, 64, b.getBF16Type()), "sm_80"},
       "num_heads = 0"},
      {{params(ctx, 16, 1, 4096, 0, 64, b.getBF16Type()), "sm_80"},
       "kv_lora_rank = 4096, qk_rope_head_dim = 0"},
      {{params(ctx, 16, 1, 1024, 64, 64, b.getF32Type()), "sm_90a"},
       "a 16-row f32 tile must fit 48 KB"},
  };
  for (const Case &c : cases) {
    std::string error;
    EXPECT_TRUE(failed(configure(ctx, c.r, error))) << c.expected;
    EXPECT_NE(error.find(c.expected), std::string::npos)
        << "got: " << error << "\nexpected: " << c.expected;
  }
}

} // namespace
