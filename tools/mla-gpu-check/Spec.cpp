//===- Spec.cpp - manifest lines ------------------------------------------===//

#include "Spec.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace mla::gpucheck {
namespace {

bool parseInt(const std::string &s, int64_t &v) {
  char *end = nullptr;
  long long x = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || *end)
    return false;
  v = x;
  return true;
}

bool parseList(const std::string &s, std::vector<int64_t> &out) {
  out.clear();
  for (const std::string &item : splitList(s)) {
    int64_t v;
    if (!parseInt(item, v) || v <= 0)
      return false;
    out.push_back(v);
  }
  return true;
}

} // namespace

std::vector<std::string> splitList(const std::string &s) {
  std::vector<std::string> out;
  for (size_t at = 0; at <= s.size();) {
    size_t comma = std::min(s.find(',', at), s.size());
    out.push_back(s.substr(at, comma - at));
    at = comma + 1;
  }
  return out;
}

bool parseSpec(const std::string &line, Spec &spec, std::string &error) {
  std::stringstream in(line);
  if (!(in >> spec.phase >> spec.name) ||
      (spec.phase != "check" && spec.phase != "bench")) {
    error = "expected `check|bench NAME OPTIONS...`";
    return false;
  }
  std::string word;
  bool fp8 = false;
  while (in >> word) {
    size_t eq = word.find('=');
    std::string key = word.substr(0, eq),
                value = eq == std::string::npos ? "" : word.substr(eq + 1);
    int64_t v = 0;
    bool ok = true;
    auto integer = [&](int64_t &field, int64_t min) {
      ok = parseInt(value, v) && v >= min;
      if (ok)
        field = v;
    };
    auto flag = [&](bool &field) {
      ok = value.empty() || value == "true" || value == "false";
      field = value != "false";
    };
    if (key == "--target")
      spec.target = value;
    else if (key == "--num-heads")
      integer(spec.heads, 1);
    else if (key == "--kv-lora-rank" || key == "--head-dim")
      integer(spec.dc, 1);
    else if (key == "--qk-rope-head-dim")
      integer(spec.dr, 0);
    else if (key == "--num-kv-heads")
      integer(spec.kvHeads, 1);
    else if (key == "--q-len")
      integer(spec.qLen, 1);
    else if (key == "--block-size")
      integer(spec.blockSize, 1);
    else if (key == "--window")
      integer(spec.window, 0);
    else if (key == "--topk")
      integer(spec.topk, 0);
    else if (key == "--scale-group")
      integer(spec.scaleGroup, 1);
    else if (key == "--cache-scales") {
      ok = value == "row_groups" || value == "per_tensor" || value == "none";
      fp8 = value == "row_groups";
      spec.kvScale = value == "per_tensor" ? Spec::kKvScale : 0;
    } else if (key == "--dtype") {
      ok = value == "bf16" || value == "f16" || value == "f32";
      spec.bf16 = value != "f32";
      spec.f16 = value == "f16";
    } else if (key == "--causal")
      flag(spec.causal);
    else if (key == "--sinks")
      flag(spec.sinks);
    else if (key == "--bench-batch")
      ok = parseList(value, spec.benchBatch);
    else if (key == "--bench-seq-len")
      ok = parseList(value, spec.benchSeqLen);
    else if (key != "--name" && key != "--mcpu")
      ok = false;
    if (!ok) {
      error = "bad option `" + word + "`";
      return false;
    }
  }
  // A scale group describes fp8 rows only.
  if (!fp8)
    spec.scaleGroup = 0;
  if (fp8 &&
      (spec.scaleGroup == 0 || spec.dc % spec.scaleGroup || spec.kvHeads)) {
    error = "--cache-scales=row_groups needs a latent cache and a "
            "--scale-group that divides --kv-lora-rank";
    return false;
  }
  if (spec.fp8Tensor() && spec.kvHeads) {
    error = "--cache-scales=per_tensor needs a latent cache";
    return false;
  }
  if (spec.topk && (spec.kvHeads || spec.causal || spec.window)) {
    error = "--topk takes a latent cache, --causal=false and no window";
    return false;
  }
  if (spec.target.empty() || spec.heads == 0 || spec.dc == 0) {
    error = "needs --target, --num-heads and --kv-lora-rank or --head-dim";
    return false;
  }
  if (spec.kvHeads && spec.heads % spec.kvHeads) {
    error = "--num-heads is not a multiple of --num-kv-heads";
    return false;
  }
  if (spec.phase == "bench" &&
      (spec.benchBatch.empty() || spec.benchSeqLen.empty() || spec.kvHeads ||
       ((spec.fp8Rows() || spec.fp8Tensor()) && !spec.topk))) {
    error = "a bench entry needs --bench-batch and --bench-seq-len (latent "
            "caches; fp8 caches with token indices)";
    return false;
  }
  return true;
}

} // namespace mla::gpucheck
