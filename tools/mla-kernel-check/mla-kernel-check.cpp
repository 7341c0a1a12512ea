//===- mla-kernel-check.cpp - load a generated CPU library, call it once --===//
//
// mla-codegen runs this on the library it just linked, in a separate
// process, before reporting success: the library must load with every
// symbol resolved (RTLD_NOW), export what NAME.json lists, and its decode
// kernel must return 0 and the right values on a tiny problem with a known
// answer (zero queries and cache: out = 0, lse = ln(visible positions), the
// window's included; with sinks, all 0, ln(visible positions + 1)), on a
// latent cache or on head caches, with a block table or token indices
// (each query's index row naming the sequence's rows, then -1), as
// NAME.json's params say.
// A crash here is a failed generation, not a crash of the caller's program.
//
//===----------------------------------------------------------------------===//

#include "mla/Runtime/KernelABI.h"

#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <dlfcn.h>
#include <string>
#include <vector>

namespace {

int fail(const llvm::Twine &why) {
  llvm::errs() << "mla-kernel-check: " << why << "\n";
  return 1;
}

int64_t param(const llvm::json::Object &params, llvm::StringRef key) {
  std::optional<int64_t> v = params.getInteger(key);
  return v ? *v : -1;
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  if (argc != 2)
    return fail("usage: mla-kernel-check NAME.json (beside libNAME.so)");
  std::string jsonPath = argv[1];
  auto text = llvm::MemoryBuffer::getFile(jsonPath);
  if (!text)
    return fail("cannot read " + jsonPath);
  llvm::Expected<llvm::json::Value> parsed =
      llvm::json::parse((*text)->getBuffer());
  if (!parsed)
    return fail(jsonPath + ": " + llvm::toString(parsed.takeError()));
  const llvm::json::Object *root = parsed->getAsObject();
  const llvm::json::Object *params = root ? root->getObject("params") : nullptr;
  if (!params)
    return fail(jsonPath + ": no params");
  std::string dir = jsonPath.substr(0, jsonPath.find_last_of('/') + 1);
  std::string lib = dir + root->getString("library").value_or("").str();

  void *handle = ::dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle)
    return fail(llvm::Twine("the library does not load: ") + ::dlerror());
  std::vector<std::string> symbols;
  symbols.push_back(root->getString("symbol").value_or("").str());
  if (const llvm::json::Object *splits = root->getObject("num_splits"))
    symbols.push_back(splits->getString("symbol").value_or("").str());
  std::string checkedSymbol;
  if (const llvm::json::Object *checked = root->getObject("checked")) {
    checkedSymbol = checked->getString("symbol").value_or("").str();
    symbols.push_back(checkedSymbol);
  }
  if (const llvm::json::Object *layer = root->getObject("layer")) {
    symbols.push_back(layer->getString("symbol").value_or("").str());
    if (const llvm::json::Object *prep = layer->getObject("prepare_weights"))
      symbols.push_back(prep->getString("symbol").value_or("").str());
  }
  for (const std::string &s : symbols)
    if (!::dlsym(handle, s.c_str()))
      return fail("the library does not export " + s);

  int64_t heads = param(*params, "num_heads"), qLen = param(*params, "q_len"),
          dc = param(*params, "kv_lora_rank"),
          dr = param(*params, "qk_rope_head_dim"),
          blockSize = param(*params, "block_size");
  bool causal = params->getBoolean("causal").value_or(true);
  int64_t window = params->getInteger("window").value_or(0);
  // With sinks, all 0: each row's denominator gains exp(0 - 0) = 1.
  bool withSinks = params->getBoolean("sinks").value_or(false);
  // Head caches: separate key and value caches of num_kv_heads heads.
  int64_t kvHeads = params->getInteger("num_kv_heads").value_or(0);
  // Token indices: index rows of topk slots in place of the block table.
  int64_t topk = params->getInteger("topk").value_or(0);
  // e4m3 codes with one scale: kv_scale after softmax_scale (zero codes
  // are zeros whatever the scale).
  bool kvScale = params->getString("cache_scales").value_or("") == "per_tensor";
  std::string dtype = params->getString("dtype").value_or("").str();
  int64_t elem = dtype == "f32" ? 4 : 2;
  if (heads <= 0 || qLen <= 0 || dc <= 0 || dr < 0 || blockSize <= 0 ||
      kvHeads < 0 || topk < 0)
    return fail(jsonPath + ": params out of range");

  // One sequence of q_len + 3 tokens over enough pages (token indices: of
  // at most topk tokens, which every query's index row names).
  int32_t seqLen = int32_t(topk > 0 ? std::min(qLen + 3, topk) : qLen + 3);
  int32_t pages = int32_t((seqLen + blockSize - 1) / blockSize);
  int64_t width = dc + dr;
  std::vector<uint8_t> q(size_t(qLen * heads * width * elem), 0),
      cache(size_t(pages * blockSize * std::max<int64_t>(kvHeads, 1) *
                   width * elem),
            0),
      values(kvHeads > 0 ? cache.size() : 0, 0),
      out(size_t(qLen * heads * dc * elem), 0xff);
  std::vector<float> lse(size_t(heads * qLen), -1.0f);
  std::vector<int32_t> table(static_cast<size_t>(pages));
  for (int32_t p = 0; p < pages; ++p)
    table[p] = p;
  // Token indices: query i's row names rows 0 .. seqLen - 1, then -1; all
  // topk slots are valid, and the call's max_blocks_per_seq is topk.
  int32_t lens = seqLen, columns = pages;
  if (topk > 0) {
    table.assign(size_t(qLen * topk), -1);
    for (int64_t i = 0; i < qLen; ++i)
      for (int32_t j = 0; j < seqLen; ++j)
        table[i * topk + j] = j;
    lens = int32_t(topk);
    columns = int32_t(topk);
  }
  std::vector<float> sinks(size_t(heads), 0.0f);
  void *decodeSym = ::dlsym(handle, symbols[0].c_str());
  // The entry of this library's signature (KernelABI.h's kernelArgs).
  auto decode = [&]() -> int32_t {
    if (kvHeads > 0)
      return withSinks
                 ? reinterpret_cast<mla_abi::HeadsSinksKernelFn>(decodeSym)(
                       q.data(), cache.data(), values.data(), table.data(),
                       &lens, sinks.data(), out.data(), lse.data(), 1, columns,
                       1.0f, nullptr)
                 : reinterpret_cast<mla_abi::HeadsKernelFn>(decodeSym)(
                       q.data(), cache.data(), values.data(), table.data(),
                       &lens, out.data(), lse.data(), 1, columns, 1.0f,
                       nullptr);
    if (kvScale)
      return withSinks
                 ? reinterpret_cast<mla_abi::ScaledSinksKernelFn>(decodeSym)(
                       q.data(), cache.data(), table.data(), &lens,
                       sinks.data(), out.data(), lse.data(), 1, columns, 1.0f,
                       0.5f, nullptr)
                 : reinterpret_cast<mla_abi::ScaledKernelFn>(decodeSym)(
                       q.data(), cache.data(), table.data(), &lens, out.data(),
                       lse.data(), 1, columns, 1.0f, 0.5f, nullptr);
    return withSinks
               ? reinterpret_cast<mla_abi::SinksKernelFn>(decodeSym)(
                     q.data(), cache.data(), table.data(), &lens,
                     sinks.data(), out.data(), lse.data(), 1, columns, 1.0f,
                     nullptr)
               : reinterpret_cast<mla_abi::KernelFn>(decodeSym)(
                     q.data(), cache.data(), table.data(), &lens, out.data(),
                     lse.data(), 1, columns, 1.0f, nullptr);
  };
  int32_t rc = decode();
  if (rc != 0)
    return fail("the kernel returned " + llvm::Twine(rc) +
                " on a valid one-sequence call");
  for (uint8_t b : out)
    if (b != 0)
      return fail("the kernel's out is not 0 for zero inputs");
  for (int64_t h = 0; h < heads; ++h)
    for (int64_t i = 0; i < qLen; ++i) {
      int64_t end = causal && topk == 0 ? seqLen - qLen + i + 1 : seqLen;
      int64_t start =
          window > 0 ? std::max<int64_t>(0, seqLen - qLen + i - window + 1) : 0;
      int64_t visible = end - std::min(start, end) + (withSinks ? 1 : 0);
      float want = std::log(float(visible)), got = lse[h * qLen + i];
      if (!(std::fabs(got - want) <= 1e-4f * std::fabs(want) + 1e-5f))
        return fail("lse[" + llvm::Twine(h) + ", " + llvm::Twine(i) + "] is " +
                    std::to_string(got) + ", expected ln(" +
                    llvm::Twine(visible) + ")");
    }
  // The checked entry: the same call passes with the cache's page count
  // and is refused with one page fewer (a page id beyond the cache).
  if (!checkedSymbol.empty()) {
    void *checkedSym = ::dlsym(handle, checkedSymbol.c_str());
    auto checked = [&](int32_t numBlocks) -> int32_t {
      if (kvHeads > 0)
        return withSinks
                   ? reinterpret_cast<mla_abi::HeadsSinksCheckedKernelFn>(
                         checkedSym)(q.data(), cache.data(), values.data(),
                                     numBlocks, table.data(), &lens,
                                     sinks.data(), out.data(), lse.data(), 1,
                                     columns, 1.0f, nullptr)
                   : reinterpret_cast<mla_abi::HeadsCheckedKernelFn>(
                         checkedSym)(q.data(), cache.data(), values.data(),
                                     numBlocks, table.data(), &lens,
                                     out.data(), lse.data(), 1, columns, 1.0f,
                                     nullptr);
      if (kvScale)
        return withSinks
                   ? reinterpret_cast<mla_abi::ScaledSinksCheckedKernelFn>(
                         checkedSym)(q.data(), cache.data(), numBlocks,
                                     table.data(), &lens, sinks.data(),
                                     out.data(), lse.data(), 1, columns, 1.0f,
                                     0.5f, nullptr)
                   : reinterpret_cast<mla_abi::ScaledCheckedKernelFn>(
                         checkedSym)(q.data(), cache.data(), numBlocks,
                                     table.data(), &lens, out.data(),
                                     lse.data(), 1, columns, 1.0f, 0.5f,
                                     nullptr);
      return withSinks
                 ? reinterpret_cast<mla_abi::SinksCheckedKernelFn>(checkedSym)(
                       q.data(), cache.data(), numBlocks, table.data(), &lens,
                       sinks.data(), out.data(), lse.data(), 1, columns, 1.0f,
                       nullptr)
                 : reinterpret_cast<mla_abi::CheckedKernelFn>(checkedSym)(
                       q.data(), cache.data(), numBlocks, table.data(), &lens,
                       out.data(), lse.data(), 1, columns, 1.0f, nullptr);
    };
    if (int32_t rc = checked(pages))
      return fail(checkedSymbol + " returned " + llvm::Twine(rc) +
                  " on a valid call");
    if (checked(pages - 1) != 7)
      return fail(checkedSymbol + " did not refuse a page beyond the cache");
  }
  return 0;
}
