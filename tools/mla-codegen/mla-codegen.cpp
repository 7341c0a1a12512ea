//===- mla-codegen.cpp - decode kernels with a C ABI ------------*- C++ -*-===//
//
// Generates the decode-attention kernel of the DESIGN's contract for one
// configuration, given as options (or taken from a dialect file), and writes
// DIR/NAME.h, DIR/libNAME.so and DIR/NAME.json (the ABI, machine-readable;
// both described by include/mla/Runtime/KernelABI.h). --emit=mlir prints the
// IR after each stage.
//
//===----------------------------------------------------------------------===//

#include "mla/Conversion/MLAToCPU/DecodeKernel.h"
#include "mla/Conversion/MLAToGPU/DecodeKernelGPU.h"
#include "mla/Conversion/Passes.h"
#include "mla/Conversion/Pipelines.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"
#include "mla/InitAll.h"
#include "mla/Runtime/KernelABI.h"
#include "mla/Target/CPU/CPUTarget.h"
#include "mla/Target/CPU/KernelEntry.h"
#include "mla/Target/CPU/LayerEntry.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Parser/Parser.h"
#include "mlir/Support/FileUtilities.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/ToolOutputFile.h"
#include "llvm/Support/raw_ostream.h"

#include <dlfcn.h>

using namespace mlir;
using namespace mlir::mla;
namespace cl = llvm::cl;

namespace {
cl::OptionCategory category("mla-codegen options");
cl::opt<std::string> inputFile(cl::Positional, cl::init(""),
                               cl::desc("[dialect file]"), cl::cat(category));
cl::opt<std::string> target("target", cl::init("cpu"),
                            cl::desc("cpu, sm_80, sm_86, sm_89 or sm_90a "
                                     "(sm_86 and sm_89: 99 KB of shared "
                                     "memory a CTA)"),
                            cl::cat(category));
cl::opt<std::string> cudaPath("cuda-path", cl::init(MLA_CUDA_PATH),
                              cl::desc("CUDA toolkit, whose ptxas assembles "
                                       "the PTX"),
                              cl::cat(category));
cl::opt<int64_t> numHeads("num-heads", cl::init(0),
                          cl::desc("query heads H"), cl::cat(category));
cl::opt<int64_t> kvLoraRank("kv-lora-rank", cl::init(0),
                            cl::desc("latent dim d_c"), cl::cat(category));
cl::opt<int64_t> ropeDim("qk-rope-head-dim", cl::init(0),
                         cl::desc("rope dim d_r"), cl::cat(category));
cl::opt<int64_t> numKvHeads(
    "num-kv-heads", cl::init(0),
    cl::desc("KV heads G of separate paged key and value caches (GQA; MQA "
             "with 1, MHA with --num-heads; 0: one latent cache)"),
    cl::cat(category));
cl::opt<int64_t> headDim("head-dim", cl::init(0),
                         cl::desc("head dim of the key and value caches "
                                  "(with --num-kv-heads)"),
                         cl::cat(category));
cl::opt<int64_t> qLen("q-len", cl::init(1), cl::desc("new tokens per step"),
                      cl::cat(category));
cl::opt<int64_t> blockSize("block-size", cl::init(64),
                           cl::desc("tokens per cache page"),
                           cl::cat(category));
cl::opt<std::string> dtype("dtype", cl::init("bf16"),
                           cl::desc("f32, bf16 or f16"), cl::cat(category));
cl::opt<bool> causal("causal", cl::init(true),
                     cl::desc("causal mask among the q_len new tokens"),
                     cl::cat(category));
cl::opt<int64_t> window("window", cl::init(0),
                        cl::desc("sliding window: query i at position p sees "
                                 "no position before p - window + 1 "
                                 "(0: none)"),
                        cl::cat(category));
cl::opt<int64_t> topK(
    "topk", cl::init(0),
    cl::desc("sparse decode: each query attends to the cache rows of its "
             "index row of topk slots (indices [batch, q_len, topk] in place "
             "of the block table, -1 for no token; not causal); 0: pages"),
    cl::cat(category));
cl::opt<std::string> cacheScales(
    "cache-scales", cl::init("none"),
    cl::desc("the latent cache's encoding: none (the query's type), "
             "per_tensor (rows of d_c + d_r e4m3 codes, one scale for the "
             "cache, the kernel's kv_scale argument) or row_groups (fp8 rows "
             "with group scales: d_c e4m3 values, d_c / scale-group f32 "
             "scales, d_r bf16 rope values; FlashMLA's 656-byte row at "
             "512/64)"),
    cl::cat(category));
cl::opt<int64_t> scaleGroup("scale-group", cl::init(128),
                            cl::desc("values per scale of row_groups"),
                            cl::cat(category));
cl::opt<bool> sinks("sinks", cl::init(false),
                    cl::desc("per-head sink logits (an argument after "
                             "seq_lens) join each row's softmax denominator"),
                    cl::cat(category));
cl::opt<std::string> kernelName("name", cl::init("mla_decode"),
                                cl::desc("C symbol of the kernel"),
                                cl::cat(category));
cl::opt<std::string> outputDir("o", cl::init("."),
                               cl::desc("output directory"),
                               cl::cat(category));
cl::opt<std::string> emit("emit", cl::init("lib"),
                          cl::desc("lib: header and shared library; mlir: "
                                   "the IR after each stage"),
                          cl::cat(category));
cl::opt<int64_t> tensorParallel(
    "tensor-parallel", cl::init(1),
    cl::desc("with a dialect file: generate the kernel for heads / N (the "
             "heads of one GPU of N); a rank's layer function comes from "
             "its own dialect file (python -m mla.layer --tensor-parallel "
             "N)"),
    cl::cat(category));
cl::opt<bool> emitLayer("layer", cl::init(true),
                        cl::desc("with a dialect file, --target=cpu and "
                                 "--tensor-parallel=1: also emit the "
                                 "whole-layer decode step NAME_layer "
                                 "(default: on; --layer=false skips it)"),
                        cl::cat(category));
cl::opt<std::string> mcpu("mcpu", cl::init("native"),
                          cl::desc("CPU to compile for"), cl::cat(category));
cl::opt<bool> useAMX(
    "amx", cl::init(true),
    cl::desc("--target=cpu, bf16: also the partial kernel on AMX tiles where "
             "the CPU has AMX-BF16, called at run time on hosts that grant "
             "it (MLA_CPU_AMX=0 turns it off); --amx=false: the vector "
             "kernels only"),
    cl::cat(category));
cl::opt<int64_t> vectorWidth("vector-width", cl::init(0),
                             cl::desc("f32 lanes (default: the CPU's)"),
                             cl::cat(category));
// Tiling overrides, for tuning; 0 keeps the derived value.
cl::opt<int64_t> tileTokens("tile-tokens", cl::init(0), cl::Hidden,
                            cl::desc("tokens per softmax step"),
                            cl::cat(category));
cl::list<int64_t> tileBlocks("tile-blocks", cl::CommaSeparated, cl::Hidden,
                             cl::desc("rows-per-group,score-rows,"
                                      "score-tokens,pv-rows,pv-vectors"),
                             cl::cat(category));
// Where the runtime is: by default next to this executable (an installed
// prefix: PREFIX/lib, PREFIX/include), else in the build and source trees it
// was built from.
cl::opt<std::string> includeDir("include-dir", cl::init(""),
                                cl::desc("directory holding "
                                         "mla/Runtime/KernelABI.h"),
                                cl::cat(category));
cl::opt<std::string> runtimeLibDir(
    "runtime-lib-dir", cl::init(""),
    cl::desc("directory holding libmla_cpu_runtime.so and "
             "libmla_cuda_runtime.so, which kernel libraries link against"),
    cl::cat(category));
cl::opt<std::string> cxx("cxx", cl::init(MLA_CXX),
                         cl::desc("C++ compiler driver that links the library"),
                         cl::cat(category));

bool isGPU() {
  return target == "sm_80" || target == "sm_86" || target == "sm_89" ||
         target == "sm_90a";
}

/// Where the runtime's pieces are: the options, else an installed prefix
/// around this executable (PREFIX/bin/mla-codegen), else the build and source
/// trees it was built from.
struct RuntimePaths {
  std::string runtimeLib; // libmla_{cpu,cuda}_runtime.so
  std::string include;    // mla/Runtime/KernelABI.h (the layer's wrapper)
};
const RuntimePaths &paths() {
  static const RuntimePaths p = [] {
    std::string exe = llvm::sys::fs::getMainExecutable(
        nullptr, reinterpret_cast<void *>(&paths));
    StringRef prefix =
        llvm::sys::path::parent_path(llvm::sys::path::parent_path(exe));
    auto under = [&](StringRef rel) {
      SmallString<256> path(prefix);
      llvm::sys::path::append(path, rel);
      return std::string(path);
    };
    auto choose = [&](const std::string &option, StringRef rel,
                      StringRef probe, const char *built) {
      if (!option.empty())
        return option;
      SmallString<256> probed(under(rel));
      llvm::sys::path::append(probed, probe);
      return llvm::sys::fs::exists(probed) ? under(rel) : std::string(built);
    };
    RuntimePaths r;
    // The build tree puts the runtime in build/lib, next to build/bin, as an
    // install puts it in PREFIX/lib.
    r.runtimeLib = runtimeLibDir.empty() ? under("lib") : runtimeLibDir;
    r.include = choose(includeDir, "include", "mla/Runtime/KernelABI.h",
                       MLA_INCLUDE_DIR);
    return r;
  }();
  return p;
}

/// Why `name` cannot name a kernel library's symbols and macros (NAME,
/// NAME_layer, NAME_OK, ...), or an empty string: a C or C++ keyword, a
/// reserved identifier, a macro of the standard headers, or a symbol some
/// loaded library (libc, libm, libstdc++, ...) already defines, which the
/// kernel would replace in every program that loads it.
std::string reservedName(StringRef name) {
  static const char *const keywords[] = {
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand",
      "bitor", "bool", "break", "case", "catch", "char", "char16_t",
      "char32_t", "class", "compl", "const", "const_cast", "constexpr",
      "continue", "decltype", "default", "delete", "do", "double",
      "dynamic_cast", "else", "enum", "explicit", "export", "extern",
      "false", "float", "for", "friend", "goto", "if", "inline", "int",
      "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
      "nullptr", "operator", "or", "or_eq", "private", "protected", "public",
      "register", "reinterpret_cast", "restrict", "return", "short",
      "signed", "sizeof", "static", "static_assert", "static_cast",
      "struct", "switch", "template", "this", "thread_local", "throw",
      "true", "try", "typedef", "typeid", "typename", "union", "unsigned",
      "using", "virtual", "void", "volatile", "wchar_t", "while", "xor",
      "xor_eq", "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex",
      "_Generic", "_Imaginary", "_Noreturn", "_Static_assert",
      "_Thread_local"};
  static const char *const macros[] = {
      "assert", "errno", "offsetof", "setjmp", "va_start", "va_arg",
      "va_end", "va_copy", "stdin", "stdout", "stderr", "NULL", "EOF",
      "complex", "imaginary", "I", "noreturn", "alignas", "alignof",
      "static_assert", "thread_local", "bool"};
  for (const char *k : keywords)
    if (name == k)
      return "is a C or C++ keyword";
  for (const char *m : macros)
    if (name == m)
      return "is a macro of the C standard headers";
  if (name.starts_with("__") ||
      (name.size() > 1 && name[0] == '_' && llvm::isUpper(name[1])))
    return "is an identifier reserved for the implementation";
  // NAME_OK, NAME_ERR_..., NAME_NUM_HEADS: <unistd.h> defines F_OK, R_OK,
  // W_OK and X_OK.
  std::string upper = name.upper();
  if (upper == "F" || upper == "R" || upper == "W" || upper == "X")
    return "makes the macro " + upper + "_OK of <unistd.h>";
  for (const char *suffix :
       {"", "_checked", "_num_splits", "_layer", "_layer_prepare_weights"}) {
    std::string symbol = (name + suffix).str();
    if (::dlsym(RTLD_DEFAULT, symbol.c_str()))
      return "makes the symbol " + symbol +
             ", which a loaded library (libc, libm, libstdc++, LLVM, ...) "
             "already defines";
  }
  return "";
}

bool isIdentifier(StringRef s) {
  if (s.empty() || !(llvm::isAlpha(s[0]) || s[0] == '_'))
    return false;
  return llvm::all_of(s, [](char c) { return llvm::isAlnum(c) || c == '_'; });
}

/// The kernel asked for by the options.
FailureOr<DecodeParams> requestFromOptions(MLIRContext &ctx) {
  DecodeParams r;
  r.heads = numHeads;
  r.qLen = qLen;
  r.dc = kvLoraRank;
  r.dr = ropeDim;
  r.blockSize = blockSize;
  r.causal = causal;
  if (window != 0)
    r.window = window;
  r.sinks = sinks;
  if (cacheScales == "row_groups") {
    r.scales = CacheScales::row_groups;
    r.scaleGroup = scaleGroup;
  } else if (cacheScales == "per_tensor") {
    r.scales = CacheScales::per_tensor;
  } else if (cacheScales != "none") {
    llvm::errs() << "mla-codegen: --cache-scales=" << cacheScales
                 << " is not supported (expected none, per_tensor or "
                    "row_groups)\n";
    return failure();
  }
  // Token indices say what each query sees: not causal unless asked.
  if (topK != 0) {
    r.keys = KeySource::indices;
    r.topk = topK;
    if (!causal.getNumOccurrences())
      r.causal = false;
  }
  // Head caches: --num-kv-heads and --head-dim in place of the latent dims.
  if (numKvHeads != 0 || headDim.getNumOccurrences()) {
    if (kvLoraRank.getNumOccurrences() || ropeDim.getNumOccurrences()) {
      llvm::errs() << "mla-codegen: --kv-lora-rank and --qk-rope-head-dim "
                      "describe a latent cache; head caches take "
                      "--num-kv-heads and --head-dim\n";
      return failure();
    }
    if (numKvHeads <= 0) {
      llvm::errs() << "mla-codegen: --num-kv-heads=" << numKvHeads.getValue()
                   << " must be positive with --head-dim\n";
      return failure();
    }
    r.headCaches = true;
    r.kvHeads = numKvHeads;
    r.dc = headDim;
    r.dr = 0;
  }
  // Sizes are bounded before anything is computed from them.
  auto refuse = [&](StringRef what, const Twine &v, const Twine &why) {
    static const llvm::StringMap<const char *> flags = {
        {"num_heads", "--num-heads"}, {"q_len", "--q-len"},
        {"block_size", "--block-size"}, {"kv_lora_rank", "--kv-lora-rank"},
        {"qk_rope_head_dim", "--qk-rope-head-dim"}, {"window", "--window"},
        {"num_kv_heads", "--num-kv-heads"}, {"head_dim", "--head-dim"},
        {"topk", "--topk"}};
    llvm::errs() << "mla-codegen: " << flags.lookup(what) << "=" << v << " "
                 << why << "\n";
    return failure();
  };
  if (failed(r.verifyBounds(refuse)))
    return failure();
  if (dtype == "f32")
    r.elemType = Float32Type::get(&ctx);
  else if (dtype == "bf16")
    r.elemType = BFloat16Type::get(&ctx);
  else if (dtype == "f16")
    r.elemType = Float16Type::get(&ctx);
  else {
    llvm::errs() << "mla-codegen: --dtype=" << dtype
                 << " is not supported (expected f32, bf16 or f16)\n";
    return failure();
  }
  return r;
}

/// The kernel of a dialect file's one mla.decode_attention, for
/// heads / --tensor-parallel heads.
FailureOr<DecodeParams> requestFromFile(MLIRContext &ctx, ModuleOp module) {
  SmallVector<DecodeAttentionOp> ops;
  module.walk([&](DecodeAttentionOp op) { ops.push_back(op); });
  if (ops.size() != 1) {
    module.emitError() << "mla-codegen: expected one mla.decode_attention in "
                       << inputFile << ", found " << ops.size();
    return failure();
  }
  DecodeAttentionOp op = ops.front();
  int64_t heads = op.getNumHeads();
  if (tensorParallel < 1 || heads % tensorParallel != 0) {
    op.emitError() << "mla-codegen: --tensor-parallel=" << tensorParallel.getValue()
                   << " does not divide the layer's " << heads << " heads";
    return failure();
  }
  DecodeParams r = DecodeParams::of(op);
  if (r.headCaches && r.kvHeads % tensorParallel != 0) {
    op.emitError() << "mla-codegen: --tensor-parallel="
                   << tensorParallel.getValue()
                   << " does not divide the layer's " << r.kvHeads
                   << " KV heads";
    return failure();
  }
  r.heads = heads / tensorParallel;
  if (r.headCaches)
    r.kvHeads /= tensorParallel;
  return r;
}

/// The contract as IR: one function around mla.decode_attention.
OwningOpRef<ModuleOp> buildContractModule(MLIRContext &ctx, const DecodeParams &r) {
  OpBuilder b(&ctx);
  Location loc = b.getUnknownLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  int64_t dyn = ShapedType::kDynamic, width = r.dc + r.dr;
  auto qTy = RankedTensorType::get({dyn, r.qLen, r.heads, width}, r.elemType);
  auto cacheTy =
      r.headCaches ? RankedTensorType::get({dyn, r.blockSize, r.kvHeads, width},
                                           r.elemType)
      : r.fp8Rows() ? RankedTensorType::get({dyn, r.blockSize, r.fp8RowBytes()},
                                            b.getI8Type())
      : r.fp8Tensor()
          ? RankedTensorType::get({dyn, r.blockSize, width},
                                  b.getType<Float8E4M3FNType>())
          : RankedTensorType::get({dyn, r.blockSize, width}, r.elemType);
  auto btTy = r.sparse() ? RankedTensorType::get({dyn, r.qLen, r.topk},
                                                 b.getI32Type())
                         : RankedTensorType::get({dyn, dyn}, b.getI32Type());
  auto lensTy = RankedTensorType::get({dyn}, b.getI32Type());
  auto outTy = RankedTensorType::get({dyn, r.qLen, r.heads, r.dc}, r.elemType);
  auto lseTy = RankedTensorType::get({dyn, r.heads, r.qLen}, b.getF32Type());
  SmallVector<Type> argTypes = {qTy, cacheTy, btTy, lensTy, b.getF32Type()};
  if (r.sinks)
    argTypes.push_back(RankedTensorType::get({r.heads}, b.getF32Type()));
  // Head caches: the value cache last; one fp8 scale: the scale last.
  if (r.headCaches)
    argTypes.push_back(cacheTy);
  if (r.fp8Tensor())
    argTypes.push_back(RankedTensorType::get({}, b.getF32Type()));
  auto fn = func::FuncOp::create(b, loc, kernelName,
                                 b.getFunctionType(argTypes, {outTy, lseTy}));
  Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);
  // The kernel takes its scale at run time; the op's attribute documents the
  // default 1/sqrt(d_c + d_r) of an absorbed layer.
  float scale = 1.0f / std::sqrt(float(width));
  DecodeVariantAttr variant;
  if (r.window || r.sparse() || r.fp8Cache())
    variant = DecodeVariantAttr::get(&ctx, r.keys, r.scales, r.scaleGroup,
                                     ValueWidth::latent, r.window);
  Value values = r.headCaches ? body->getArguments().back() : Value();
  auto op = DecodeAttentionOp::create(
      b, loc, outTy, lseTy, body->getArgument(0), body->getArgument(1), values,
      body->getArgument(2), body->getArgument(3),
      r.sinks ? body->getArgument(5) : Value(),
      r.fp8Tensor() ? body->getArguments().back() : Value(),
      b.getF32FloatAttr(scale), r.causal ? b.getUnitAttr() : UnitAttr(),
      variant);
  func::ReturnOp::create(b, loc, op.getResults());
  return module;
}

/// "f32", "bf16" or "f16": the kernel's element type as NAME.h and NAME.json
/// spell it.
std::string dtypeName(Type t) {
  std::string s;
  llvm::raw_string_ostream os(s);
  t.print(os);
  return s;
}

/// The ABI's fixed dimensions of a kernel (and of its layer, if any).
mla_abi::Sizes abiSizes(const DecodeParams &r,
                        const cpu::LayerEntry *layer = nullptr) {
  mla_abi::Sizes s;
  s.qLen = r.qLen;
  s.numHeads = r.heads;
  s.kvLoraRank = r.dc;
  s.ropeDim = r.dr;
  s.blockSize = r.blockSize;
  s.hiddenSize = layer ? layer->sizes.hiddenSize : 0;
  s.numKvHeads = r.headCaches ? r.kvHeads : 0;
  s.topK = r.topk;
  s.cacheRowBytes = r.fp8Rows() ? r.fp8RowBytes() : 0;
  s.indexHeadDim = layer ? layer->sizes.indexHeadDim : 0;
  return s;
}

/// The decode entry's (or NAME_checked's) arguments: the ABI's table of the
/// library's kind, with an fp8 cache in place of kv_cache (and, with one
/// scale, kv_scale after softmax_scale).
std::vector<mla_abi::Arg> decodeArgs(const DecodeParams &r, bool checked) {
  mla_abi::ArgList table =
      checked ? mla_abi::checkedKernelArgs(r.sinks, r.headCaches, r.sparse())
              : mla_abi::kernelArgs(r.sinks, r.headCaches, r.sparse());
  std::vector<mla_abi::Arg> args(table.begin(), table.end());
  for (size_t i = 0; i < args.size(); ++i) {
    StringRef name = args[i].name;
    if (name == "kv_cache" && r.fp8Rows())
      args[i] = mla_abi::kFP8RowsCache;
    if (name == "kv_cache" && r.fp8Tensor())
      args[i] = mla_abi::kFP8TensorCache;
    if (name == "softmax_scale" && r.fp8Tensor())
      args.insert(args.begin() + ++i, mla_abi::kKvScaleArg);
  }
  return args;
}
mla_abi::ArgList argList(const std::vector<mla_abi::Arg> &args) {
  return {args.data(), args.size()};
}

/// What decides the codes that this library's functions return.
mla_abi::Library abiLibrary(const DecodeParams &r, bool tensorCores,
                            bool withLayer) {
  return {isGPU() ? mla_abi::kGPUKernel : mla_abi::kCPUKernel, r.causal,
          tensorCores, withLayer};
}

/// The #define of each code that a function of `lib` returns.
std::string returnCodeMacros(StringRef upper, const mla_abi::Library &lib) {
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "/* Return codes. Nothing is written when one is nonzero. */\n";
  for (const mla_abi::ReturnCodeInfo &c : mla_abi::kReturnCodes) {
    if (!mla_abi::libraryReturns(c, lib))
      continue;
    std::string define =
        "#define " + upper.str() + "_" + c.name + " " + std::to_string(c.value);
    os << llvm::left_justify(define, std::max<size_t>(define.size() + 1, 40))
       << "/* " << c.meaning << " */\n";
  }
  return s;
}

std::string header(const DecodeParams &r, StringRef kernelInfo,
                   const mla_abi::Library &lib) {
  std::string name = kernelName, upper = StringRef(name).upper();
  std::string dtype = dtypeName(r.elemType);
  mla_abi::Sizes sizes = abiSizes(r);
  std::string s;
  llvm::raw_string_ostream os(s);
  os << "/* Generated by mla-codegen: " << (r.headCaches ? "GQA" : "MLA")
     << " decode attention for "
     << (isGPU() ? target.getValue() : std::string("the CPU")) << ". */\n";
  if (!kernelInfo.empty())
    os << "/* " << kernelInfo << " */\n";
  os
     << "#ifndef " << upper << "_H\n#define " << upper << "_H\n\n"
     << "#include <stdint.h>\n\n"
     << "#define " << upper << "_NUM_HEADS " << r.heads << "\n"
     << "#define " << upper << "_Q_LEN " << r.qLen << "\n"
     << "#define " << upper << "_KV_LORA_RANK " << r.dc << "\n"
     << "#define " << upper << "_QK_ROPE_HEAD_DIM " << r.dr << "\n"
     << "#define " << upper << "_BLOCK_SIZE " << r.blockSize << "\n"
     << "#define " << upper << "_CAUSAL " << (r.causal ? 1 : 0) << "\n"
     << "#define " << upper << "_WINDOW " << r.window.value_or(0) << "\n"
     << "#define " << upper << "_SINKS " << (r.sinks ? 1 : 0) << "\n";
  if (r.sparse())
    os << "#define " << upper << "_TOPK " << r.topk << "\n";
  if (r.fp8Rows())
    os << "#define " << upper << "_CACHE_SCALES \"row_groups\"\n"
       << "#define " << upper << "_SCALE_GROUP " << r.scaleGroup << "\n"
       << "#define " << upper << "_CACHE_ROW_BYTES " << r.fp8RowBytes()
       << "\n";
  if (r.fp8Tensor())
    os << "#define " << upper << "_CACHE_SCALES \"per_tensor\"\n";
  if (r.headCaches)
    os << "#define " << upper << "_NUM_KV_HEADS " << r.kvHeads << "\n"
       << "#define " << upper << "_HEAD_DIM " << r.dc << "\n";
  os
     << "#define " << upper << "_DTYPE \"" << dtype << "\"\n\n"
     << returnCodeMacros(upper, lib) << "\n"
     << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << (r.headCaches
             ? "/* Decode attention over paged key and value caches of " +
                   std::to_string(r.kvHeads) +
                   " KV heads (query head h reads KV head h / " +
                   std::to_string(r.headsPerKvHead()) + ").\n"
             : std::string("/* Decode attention over a paged latent cache "
                           "(FlashMLA semantics).\n"));
  for (const mla_abi::Arg &a : decodeArgs(r, /*checked=*/false))
    os << " *   " << mla_abi::describe(a, sizes, dtype.c_str()) << "\n";
  // Token indices: the semantics, then what each target checks.
  if (r.sparse())
    os << " * Query i of sequence b sees the cache rows of slots 0 .. "
          "seq_lens[b] - 1\n"
          " * of its index row indices[b, i], except slots of -1; one that "
          "sees none\n"
          " * gets zeros and lse = -inf. A row is counted once per slot "
          "naming it.\n"
       << (isGPU()
               ? " * On token indices ERR_MAX_BLOCKS means topk is not the "
                 "generated one.\n"
                 " * seq_lens and indices are device memory, not checked: "
                 "counts above topk\n"
                 " * are clamped to it, any negative index is an empty slot, "
                 "and an index past\n"
                 " * the cache is read out of bounds"
               : " * On token indices the codes mean: ERR_MAX_BLOCKS, topk is "
                 "not the\n"
                 " * generated one; ERR_SEQ_LEN, a seq_len < 0 or above topk; "
                 "ERR_BLOCK_ID,\n"
                 " * an index below -1 in a valid slot (NAME_checked: or at or "
                 "past num_blocks\n"
                 " * * block_size). Indices past the cache cannot be checked "
                 "by NAME");
  else
    os << " * Query i sees positions 0 .. seq_len - " << r.qLen << " + i"
       << (r.causal ? "" : " (not causal: all seq_len positions)");
  if (r.window)
    os << ",\n * from seq_len - " << r.qLen << " + i - " << *r.window - 1
       << " on (a sliding window of " << *r.window << ")";
  os << ".\n";
  if (r.fp8Rows())
    os << " * Each tile's fp8 rows are dequantized (e4m3 * group scale, "
          "bf16 rope)\n"
          " * to the query's type as they are read; the math is that of a "
          "cache of\n"
          " * that type.\n";
  if (r.fp8Tensor())
    os << " * The cache holds e4m3 codes, rope included; the kernels read "
          "them\n"
          " * unscaled (exact in the query's type), score with softmax_scale "
          "*\n"
          " * kv_scale and multiply the outputs by kv_scale: the math of a "
          "cache of\n"
          " * e4m3 * kv_scale. ERR_SCALE: kv_scale is not finite and "
          "positive.\n";
  if (r.sinks)
    os << " * sinks[h] joins the softmax denominator of head h's rows and their\n"
          " * lse (a row that sees nothing: zeros, lse = sinks[h]).\n";
  os << (isGPU()
             ? " * All pointers are device pointers; stream is a CUstream "
               "(NULL:\n"
               " * the default stream). f32 accumulation; bf16/f16 on tensor "
               "cores\n"
               " * (q and kv_cache 16-byte aligned), f32 without.\n"
               " * The cubin is loaded into the current context at the\n"
               " * first call; split partials take a workspace per call, "
               "allocated\n"
               " * on `stream` from the context's memory pool (calls on "
               "several\n"
               " * streams and CUDA graph capture are safe; without memory "
               "pools,\n"
               " * one buffer per kernel that concurrent streams must not "
               "share).\n" +
                   std::string(
                       r.sparse()
                           ? " * MLA_GPU_NUM_SPLITS overrides the KV split "
                             "count "
                             "(at most\n * 256 and topk). */\n"
                           : " * seq_lens are not checked on the host (device "
                             "memory); lengths\n"
                             " * past max_blocks_per_seq * block_size are "
                             "clamped.\n"
                             " * MLA_GPU_NUM_SPLITS overrides the KV split "
                             "count "
                             "(at most\n"
                             " * 256 and max_blocks_per_seq * block_size). "
                             "*/\n")
             : " * f32 accumulation; threads from LLVM's OpenMP runtime\n"
               " * (OMP_NUM_THREADS). KV splits are planned per sequence from "
               "its length;\n"
               " * MLA_CPU_NUM_SPLITS forces one count on every sequence (at "
               "most 256\n"
               " * and the longest sequence's length).\n"
               " * Thread-safe: calls from several threads at once each use "
               "their\n"
               " * own split scratch (kept per thread, reused across calls).\n"
               " * stream must be NULL on the CPU. */\n")
     << mla_abi::declaration(name, argList(decodeArgs(r, /*checked=*/false)))
     << "\n\n";
  if (!isGPU())
    os << "/* " << name
       << " with the cache's page count: page ids at or beyond num_blocks\n"
       << " * in used slots are refused (" << upper
       << "_ERR_BLOCK_ID) before any is read,\n"
       << " * num_blocks < 0 is " << upper << "_ERR_MAX_BLOCKS. */\n"
       << mla_abi::declaration(name + "_checked",
                               argList(decodeArgs(r, /*checked=*/true)))
       << "\n\n";
  os << "/* The KV splits a call uses for these sizes. */\n"
     << mla_abi::declaration(name + "_num_splits",
                             isGPU() ? mla_abi::kNumSplitsArgsGPU
                                     : mla_abi::kNumSplitsArgsCPU)
     << "\n\n"
     << "#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return s;
}

LogicalResult writeFile(StringRef path, StringRef text) {
  std::string err;
  auto out = openOutputFile(path, &err);
  if (!out) {
    llvm::errs() << "mla-codegen: " << err << "\n";
    return failure();
  }
  out->os() << text;
  out->keep();
  return success();
}


/// One line on the generated partial kernel, for the header.
std::string kernelInfo(const GPUDecodeConfig &c) {
  const char *kind = c.kind == GPUKernelKind::SIMT  ? "SIMT (no tensor cores)"
                     : c.kind == GPUKernelKind::MMA ? "mma.sync m16n8k16"
                                                    : "wgmma + TMA";
  return std::string("partial kernel: ") + kind + ", " +
         std::to_string(c.threads()) + " threads, " +
         std::to_string(c.rowsPerGroup) + " query rows and " +
         std::to_string(c.tileTokens) + "-token tiles a CTA, " +
         std::to_string(c.dynamicSharedBytes) +
         " bytes of dynamic shared memory";
}

/// One line on the CPU partial kernel, for the header.
std::string kernelInfo(const CPUDecodeConfig &c) {
  std::string s = "partial kernel: " + std::to_string(c.rowsPerGroup) +
                  " query rows and " + std::to_string(c.tileTokens) +
                  "-token tiles a work item; ";
  if (c.pvDot)
    s += "P V in bf16 dot products (P rounded to bf16); ";
  if (c.amx)
    s += "on hosts with AMX-BF16 the AMX kernel (" +
         std::to_string(CPUDecodeConfig::kAMXTileTokens) +
         "-token tiles; P rounded to bf16 for P V), unless MLA_CPU_AMX=0; ";
  switch (c.prefetch) {
  case CPUDecodeConfig::Prefetch::Never:
    return s + "it does not prefetch";
  case CPUDecodeConfig::Prefetch::OutOfCache:
    return s + "it prefetches the next tile when a call's cache exceeds half "
               "the L3 (MLA_CPU_PREFETCH=0/1 overrides)";
  case CPUDecodeConfig::Prefetch::Always:
    return s + "it prefetches the next tile on every call "
               "(MLA_CPU_PREFETCH=0 turns that off)";
  }
  llvm_unreachable("unknown prefetch policy");
}

/// NAME.json's kernel entry for the CPU: the form and tiling of the header's
/// kernel line.
llvm::json::Object kernelJSON(const CPUDecodeConfig &c) {
  const char *prefetch = "never";
  if (c.prefetch == CPUDecodeConfig::Prefetch::OutOfCache)
    prefetch = "out_of_cache";
  else if (c.prefetch == CPUDecodeConfig::Prefetch::Always)
    prefetch = "always";
  return llvm::json::Object{{"form", "cpu_vector"},
                            {"vector_width", c.vectorWidth},
                            {"bf16_dot", c.bf16Dot},
                            {"pv_dot", c.pvDot},
                            {"amx", c.amx},
                            {"rows_per_group", c.rowsPerGroup},
                            {"tile_tokens", c.tileTokens},
                            {"prefetch", prefetch},
                            {"description", kernelInfo(c)}};
}

/// NAME.json's kernel entry for a GPU target.
llvm::json::Object kernelJSON(const GPUDecodeConfig &c) {
  const char *form = c.kind == GPUKernelKind::SIMT  ? "simt"
                     : c.kind == GPUKernelKind::MMA ? "mma_sync"
                                                    : "wgmma_tma";
  return llvm::json::Object{{"form", form},
                            {"threads", c.threads()},
                            {"rows_per_group", c.rowsPerGroup},
                            {"tile_tokens", c.tileTokens},
                            {"dynamic_shared_bytes", c.dynamicSharedBytes},
                            {"tma_box_rows", c.tmaBoxRows},
                            {"description", kernelInfo(c)}};
}

/// An argument table as NAME.json lists it: every entry has the same keys,
/// null where one does not apply (shape and dims are for arrays; a shape
/// holds the fixed dimensions as numbers and the runtime ones by name).
llvm::json::Array argsJSON(mla_abi::ArgList args, const mla_abi::Sizes &sizes,
                           StringRef dtype) {
  llvm::json::Array out;
  std::string elem = dtype.str();
  for (const mla_abi::Arg &a : args) {
    llvm::json::Value shape = nullptr, dims = nullptr;
    if (a.kind == mla_abi::ArgKind::Array) {
      llvm::json::Array s, d;
      for (int i = 0; i < a.rank; ++i) {
        int64_t n = mla_abi::fixedSize(a.shape[i], sizes);
        const char *dimName = mla_abi::dimName(a.shape[i]);
        s.push_back(n < 0 ? llvm::json::Value(dimName) : llvm::json::Value(n));
        d.push_back(dimName);
      }
      shape = std::move(s);
      dims = std::move(d);
    }
    // A json::Value borrows a const char *: copy the element type's name.
    llvm::json::Value dt = nullptr;
    if (a.dtype != mla_abi::DType::None)
      dt = std::string(mla_abi::dtypeName(a.dtype, elem.c_str()));
    out.push_back(llvm::json::Object{
        {"name", a.name},
        {"c_type", a.cType},
        {"kind", mla_abi::kindName(a.kind)},
        {"direction", mla_abi::directionName(a.direction)},
        {"dtype", std::move(dt)},
        {"shape", std::move(shape)},
        {"dims", std::move(dims)},
        {"meaning", a.meaning}});
  }
  return out;
}

/// The codes that a function returns (`returns`), with NAME.h's macros.
llvm::json::Array
returnCodesJSON(StringRef upper,
                function_ref<bool(const mla_abi::ReturnCodeInfo &)> returns) {
  llvm::json::Array out;
  for (const mla_abi::ReturnCodeInfo &c : mla_abi::kReturnCodes)
    if (returns(c))
      out.push_back(llvm::json::Object{
          {"value", c.value},
          {"name", c.name},
          {"macro", (upper + "_" + c.name).str()},
          {"meaning", c.meaning}});
  return out;
}

/// NAME.json's layer entry: the C function, its weights in order, its codes.
llvm::json::Value layerJSON(const cpu::LayerEntry &layer) {
  std::string dtype = dtypeName(layer.elemType);
  llvm::json::Array weights;
  unsigned first = layer.weights.size() - layer.numPrepared;
  for (auto [i, w] : llvm::enumerate(layer.weights)) {
    llvm::json::Object o{{"index", int64_t(i)},
                         {"shape", llvm::json::Array(w.getShape())},
                         {"dtype", dtypeName(w.getElementType())},
                         {"prepared", i >= first}};
    if (!layer.weightNames[i].empty())
      o["name"] = layer.weightNames[i];
    weights.push_back(std::move(o));
  }
  // Merged weights: computed once by the prepare function from `inputs`
  // (indices into weights) into the caller's buffers for `outputs`.
  llvm::json::Value prepare = nullptr;
  if (layer.numPrepared) {
    llvm::json::Array inputs, outputs;
    for (unsigned i : layer.prepareInputs)
      inputs.push_back(int64_t(i));
    for (unsigned i = first; i < layer.weights.size(); ++i)
      outputs.push_back(int64_t(i));
    prepare = llvm::json::Object{
        {"symbol", kernelName + "_layer_prepare_weights"},
        {"returns", "int32_t"},
        {"inputs", std::move(inputs)},
        {"outputs", std::move(outputs)}};
  }
  return llvm::json::Object{
      {"symbol", kernelName + "_layer"},
      {"prepare_weights", std::move(prepare)},
      {"returns", "int32_t"},
      {"args", argsJSON(layer.argList(), layer.sizes, dtype)},
      {"weights", std::move(weights)},
      {"return_codes", returnCodesJSON(StringRef(kernelName).upper(),
                                       [&](const mla_abi::ReturnCodeInfo &c) {
                                         return mla_abi::layerReturns(
                                             c, layer.kvScale);
                                       })}};
}

/// NAME.json: the library's ABI for programs (the Python package) that load
/// it, from the same tables as NAME.h. Keys are stable; new ones may be
/// added.
std::string abiJSON(const DecodeParams &r, llvm::json::Object kernel,
                    const mla_abi::Library &lib,
                    const cpu::LayerEntry *layer = nullptr) {
  std::string name = kernelName, upper = StringRef(name).upper();
  std::string dtype = dtypeName(r.elemType);
  mla_abi::Sizes sizes = abiSizes(r, layer);
  llvm::json::Object dims;
  for (mla_abi::Dim d : mla_abi::kDims)
    if (int64_t n = mla_abi::fixedSize(d, sizes); n >= 0)
      dims[mla_abi::dimName(d)] =
          n > 0 ? llvm::json::Value(n) : llvm::json::Value(nullptr);
  llvm::json::Object numSplits{
      {"symbol", name + "_num_splits"},
      {"returns", "int32_t"},
      {"args", argsJSON(isGPU() ? mla_abi::kNumSplitsArgsGPU
                                : mla_abi::kNumSplitsArgsCPU,
                        sizes, dtype)},
      {"env", isGPU() ? "MLA_GPU_NUM_SPLITS" : "MLA_CPU_NUM_SPLITS"}};
  llvm::json::Object params{{"num_heads", r.heads},
                            {"q_len", r.qLen},
                            {"kv_lora_rank", r.dc},
                            {"qk_rope_head_dim", r.dr},
                            {"block_size", r.blockSize},
                            {"dtype", dtype},
                            {"causal", r.causal},
                            {"window", r.window ? llvm::json::Value(*r.window)
                                                : llvm::json::Value(nullptr)},
                            {"sinks", r.sinks}};
  if (r.headCaches) {
    params["num_kv_heads"] = r.kvHeads;
    params["head_dim"] = r.dc;
  }
  if (r.sparse())
    params["topk"] = r.topk;
  if (r.fp8Rows()) {
    params["cache_scales"] = "row_groups";
    params["scale_group"] = r.scaleGroup;
    params["cache_row_bytes"] = r.fp8RowBytes();
  }
  if (r.fp8Tensor())
    params["cache_scales"] = "per_tensor";
  // A kernel from a dialect file: the layer's scale (YaRN's mscale included),
  // which callers pass as softmax_scale.
  if (r.layerScale)
    params["softmax_scale"] = *r.layerScale;
  llvm::json::Object root{
      {"abi_version", mla_abi::kVersion},
      {"symbol", name},
      {"target", target.getValue()},
      {"header", name + ".h"},
      {"library", "lib" + name + ".so"},
      {"memory", isGPU() ? "device" : "host"},
      {"params", std::move(params)},
      {"dims", std::move(dims)},
      {"kernel", std::move(kernel)},
      {"returns", "int32_t"},
      {"args", argsJSON(argList(decodeArgs(r, /*checked=*/false)), sizes,
                        dtype)},
      {"return_codes", returnCodesJSON(upper,
                                       [&](const mla_abi::ReturnCodeInfo &c) {
                                         return mla_abi::kernelReturns(c, lib);
                                       })},
      {"num_splits", std::move(numSplits)},
      {"checked",
       isGPU() ? llvm::json::Value(nullptr)
               : llvm::json::Object{
                     {"symbol", name + "_checked"},
                     {"returns", "int32_t"},
                     {"args", argsJSON(argList(decodeArgs(
                                           r, /*checked=*/true)),
                                       sizes, dtype)}}},
      {"layer", layer ? layerJSON(*layer) : llvm::json::Value(nullptr)}};
  std::string s;
  llvm::raw_string_ostream os(s);
  os << llvm::formatv("{0:2}", llvm::json::Value(std::move(root))) << "\n";
  return s;
}

/// The kernels of the contract: `lowering` (convert-mla-to-cpu or
/// convert-mla-to-gpu with launch=none) on the contract module, whose
/// function around mla.decode_attention then goes, leaving the kernels for
/// the runtime to launch.
FailureOr<OwningOpRef<ModuleOp>> kernelsOf(MLIRContext &ctx,
                                           const DecodeParams &r,
                                           std::unique_ptr<Pass> lowering,
                                           bool printIR, StringRef stage) {
  OwningOpRef<ModuleOp> module = buildContractModule(ctx, r);
  if (printIR)
    llvm::outs() << "// -----// mla.decode_attention (the contract) //----- //\n"
                 << *module << "\n";
  PassManager pm(&ctx);
  pm.addPass(std::move(lowering));
  if (failed(pm.run(*module)))
    return failure();
  if (auto contract = module->lookupSymbol<func::FuncOp>(kernelName))
    contract.erase();
  if (printIR)
    llvm::outs() << "// -----// " << stage << " //----- //\n" << *module
                 << "\n";
  return module;
}

/// --target=sm_80|sm_90a: the f32 kernels through NVVM to PTX (MLIR's
/// gpu-module-to-binary), a cubin (ptxas, whose resource report is kept in
/// NAME.ptxas.log), and the host library on the CUDA driver API.
/// The files of one generation, written into a fresh directory inside the
/// output directory and moved into it only when all of them exist and the
/// library passed its check: a failure leaves the output directory as it
/// was, never a new NAME.h beside an old libNAME.so.
class Staging {
public:
  LogicalResult create() {
    if (std::error_code ec = llvm::sys::fs::create_directories(outputDir)) {
      llvm::errs() << "mla-codegen: cannot create " << outputDir << ": "
                   << ec.message() << "\n";
      return failure();
    }
    // Absolute: a relative model would be made in the system's temp dir.
    SmallString<256> prefix(outputDir);
    llvm::sys::fs::make_absolute(prefix);
    llvm::sys::path::append(prefix, "." + kernelName + ".tmp");
    SmallString<256> made;
    if (std::error_code ec =
            llvm::sys::fs::createUniqueDirectory(prefix, made)) {
      llvm::errs() << "mla-codegen: cannot create a directory in "
                   << outputDir << ": " << ec.message() << "\n";
      return failure();
    }
    dir = std::string(made);
    return success();
  }
  ~Staging() {
    if (!dir.empty())
      llvm::sys::fs::remove_directories(dir);
  }
  std::string path(const Twine &file) const {
    SmallString<256> p(dir);
    llvm::sys::path::append(p, file);
    return std::string(p);
  }
  /// Moves `files` into the output directory, in order (NAME.json, which
  /// says a library is there, last).
  LogicalResult commit(ArrayRef<std::string> files) {
    for (const std::string &f : files) {
      SmallString<256> to(outputDir);
      llvm::sys::path::append(to, f);
      if (std::error_code ec = llvm::sys::fs::rename(path(f), to)) {
        llvm::errs() << "mla-codegen: cannot move " << f << " into "
                     << outputDir << ": " << ec.message() << "\n";
        return failure();
      }
    }
    return success();
  }

private:
  std::string dir;
};

/// Runs mla-kernel-check (next to this program) on the staged NAME.json: the
/// library loads with every symbol resolved and its kernel answers a tiny
/// problem correctly, in a separate process.
LogicalResult checkLibrary(const Staging &stage) {
  std::string self =
      llvm::sys::fs::getMainExecutable(nullptr, (void *)&checkLibrary);
  SmallString<256> checker(llvm::sys::path::parent_path(self));
  llvm::sys::path::append(checker, "mla-kernel-check");
  std::string err, log;
  if (failed(cpu::runCompiler(checker, {stage.path(kernelName + ".json")},
                              err, &log))) {
    llvm::errs() << "mla-codegen: the generated library failed its check, "
                    "so nothing was written to "
                 << outputDir << ": " << err << "\n";
    return failure();
  }
  return success();
}

LogicalResult runGPU(MLIRContext &ctx, const DecodeParams &r) {
  // The configuration the pass below derives too: it describes the kernels
  // in NAME.h, NAME.json and the host library.
  FailureOr<GPUDecodeConfig> config = GPUDecodeConfig::get(
      r, target, [&]() { return mlir::emitError(UnknownLoc::get(&ctx)); });
  if (failed(config))
    return failure();
  bool printIR = emit == "mlir";
  ConvertMLAToGPUPassOptions options;
  options.kernelName = kernelName;
  options.arch = target;
  options.tma = true;
  options.launch = "none";
  FailureOr<OwningOpRef<ModuleOp>> kernelsOr =
      kernelsOf(ctx, r, createConvertMLAToGPUPass(options), printIR,
                "kernels: gpu, scf, memref");
  if (failed(kernelsOr))
    return failure();
  OwningOpRef<ModuleOp> kernels = std::move(*kernelsOr);
  PassManager pm(&ctx);
  buildGPUKernelsToNVVMPipeline(pm, target);
  if (failed(pm.run(*kernels)))
    return failure();
  if (printIR)
    llvm::outs() << "// -----// NVVM //----- //\n" << *kernels << "\n";
  PassManager toBinary(&ctx);
  if (failed(parsePassPipeline("gpu-module-to-binary{format=isa}", toBinary)) ||
      failed(toBinary.run(*kernels)))
    return failure();
  std::string ptx;
  kernels->walk([&](gpu::BinaryOp bin) {
    for (Attribute a : bin.getObjects())
      if (auto obj = dyn_cast<gpu::ObjectAttr>(a))
        ptx = obj.getObject().getValue().str();
  });
  if (ptx.empty()) {
    llvm::errs() << "mla-codegen: no PTX came out of gpu-module-to-binary\n";
    return failure();
  }
  if (printIR) {
    llvm::outs() << "// -----// PTX //----- //\n" << ptx << "\n";
    return success();
  }

  Staging stage;
  if (failed(stage.create()))
    return failure();
  auto path = [&](const Twine &file) { return stage.path(file); };
  mla_abi::Library lib = abiLibrary(r, config->kind != GPUKernelKind::SIMT,
                                    /*withLayer=*/false);
  std::string ptxPath = path(kernelName + ".ptx"),
              cubinPath = path(kernelName + ".cubin"),
              logPath = path(kernelName + ".ptxas.log"),
              objPath = path(kernelName + "_host.o"),
              libPath = path("lib" + kernelName + ".so");
  if (failed(writeFile(ptxPath, ptx)))
    return failure();
  std::string err, report;
  SmallString<256> ptxas(cudaPath);
  llvm::sys::path::append(ptxas, "bin", "ptxas");
  if (failed(cpu::runCompiler(ptxas,
                              {"-arch=" + target.getValue(), "-O3", "-v",
                               ptxPath, "-o", cubinPath},
                              err, &report))) {
    llvm::errs() << "mla-codegen: ptxas failed: " << err << "\n";
    return failure();
  }
  auto cubin = llvm::MemoryBuffer::getFile(cubinPath, /*IsText=*/false);
  if (!cubin) {
    llvm::errs() << "mla-codegen: cannot read " << cubinPath << "\n";
    return failure();
  }
  if (failed(writeFile(logPath, report)) ||
      failed(writeFile(path(kernelName + ".h"),
                       header(r, kernelInfo(*config), lib))))
    return failure();
  // The host library: the cubin, its description and the entry points in
  // one object for this CPU, linked against the prebuilt CUDA host runtime.
  FailureOr<cpu::HostTarget> host = cpu::getHostTarget(mcpu);
  if (failed(host)) {
    llvm::errs() << "mla-codegen: unknown CPU '" << mcpu << "'\n";
    return failure();
  }
  OwningOpRef<ModuleOp> hostModule = ModuleOp::create(UnknownLoc::get(&ctx));
  cpu::addCUDAKernelEntry(*hostModule, *config, kernelName,
                          (*cubin)->getBuffer());
  if (failed(cpu::emitObjectFile(*hostModule, *host, objPath)))
    return failure();
  std::string libDir = paths().runtimeLib, err2;
  if (failed(cpu::runCompiler(cxx,
                              {"-shared", "-fPIC", objPath, "-o", libPath,
                               "-L" + libDir, "-lmla_cuda_runtime",
                               "-Wl,-rpath," + libDir},
                              err2))) {
    llvm::errs() << "mla-codegen: linking " << libPath << " failed: " << err2
                 << "\n";
    return failure();
  }
  llvm::sys::fs::remove(objPath);
  // The library needs a CUDA driver to load: it is checked by the GPU tests
  // on a machine with one, not here.
  if (failed(writeFile(path(kernelName + ".json"),
                       abiJSON(r, kernelJSON(*config), lib))))
    return failure();
  return stage.commit({kernelName + ".ptx", kernelName + ".cubin",
                       kernelName + ".ptxas.log", "lib" + kernelName + ".so",
                       kernelName + ".h", kernelName + ".json"});
}

LogicalResult run(MLIRContext &ctx) {
  if (target != "cpu" && !isGPU()) {
    llvm::errs() << "mla-codegen: --target=" << target
                 << " is not supported (expected cpu, sm_80, sm_86, sm_89 or "
                    "sm_90a)\n";
    return failure();
  }
  if (!isIdentifier(kernelName)) {
    llvm::errs() << "mla-codegen: --name=" << kernelName
                 << " is not a C identifier\n";
    return failure();
  }
  if (std::string why = reservedName(kernelName); !why.empty()) {
    llvm::errs() << "mla-codegen: --name=" << kernelName << " " << why
                 << "; choose another name\n";
    return failure();
  }
  if (emit != "lib" && emit != "mlir") {
    llvm::errs() << "mla-codegen: --emit=" << emit
                 << " is not supported (expected lib or mlir)\n";
    return failure();
  }

  FailureOr<DecodeParams> request = failure();
  OwningOpRef<ModuleOp> input;
  if (!inputFile.empty()) {
    llvm::SourceMgr sm;
    std::string err;
    auto file = openInputFile(inputFile, &err);
    if (!file) {
      llvm::errs() << "mla-codegen: " << err << "\n";
      return failure();
    }
    sm.AddNewSourceBuffer(std::move(file), llvm::SMLoc());
    input = parseSourceFile<ModuleOp>(sm, &ctx);
    if (!input)
      return failure();
    // The inference form: absorbed weights, one fused attention op.
    PassManager pm(&ctx);
    if (failed(parsePassPipeline("mla-absorb-weights, "
                                 "mla-fuse-decode-attention, canonicalize",
                                 pm)) ||
        failed(pm.run(*input)))
      return failure();
    if (emit == "mlir")
      llvm::outs() << "// -----// absorbed and fused //----- //\n" << *input
                   << "\n";
    request = requestFromFile(ctx, *input);
  } else {
    request = requestFromOptions(ctx);
  }
  if (failed(request))
    return failure();

  if (isGPU())
    return runGPU(ctx, *request);

  FailureOr<cpu::HostTarget> host = cpu::getHostTarget(mcpu);
  if (failed(host)) {
    llvm::errs() << "mla-codegen: unknown CPU '" << mcpu << "'\n";
    return failure();
  }
  int64_t lanes = vectorWidth ? vectorWidth.getValue() : host->vectorWidth;
  auto emitError = [&]() { return mlir::emitError(UnknownLoc::get(&ctx)); };
  // The configuration the pass below derives too: it describes the kernels
  // in NAME.h, NAME.json and the runtime's mla_cpu_kernel.
  bool bf16Dot = host->bf16Dot && !vectorWidth;
  bool amx = host->amx && useAMX && !vectorWidth;
  FailureOr<CPUDecodeConfig> config =
      CPUDecodeConfig::get(*request, lanes, bf16Dot, emitError, amx);
  if (failed(config) ||
      failed(config->overrideTiling(tileTokens, tileBlocks, emitError)))
    return failure();
  bool printIR = emit == "mlir";
  ConvertMLAToCPUPassOptions options;
  options.kernelName = kernelName;
  options.vectorWidth = lanes;
  options.bf16Dot = bf16Dot;
  options.amx = amx;
  options.prefetch = true; // the runtime chooses per call
  options.launch = "none";
  options.tileTokens = tileTokens;
  options.tileBlocks.assign(tileBlocks.begin(), tileBlocks.end());
  FailureOr<OwningOpRef<ModuleOp>> kernelsOr =
      kernelsOf(ctx, *request, createConvertMLAToCPUPass(options), printIR,
                "kernels: scf, vector, memref");
  if (failed(kernelsOr))
    return failure();
  OwningOpRef<ModuleOp> kernels = std::move(*kernelsOr);
  if (failed(cpu::lowerToLLVMDialect(*kernels, host->bf16Dot)) ||
      failed(cpu::addKernelEntry(*kernels, *config, kernelName)))
    return failure();

  // The whole-layer decode step, from a dialect file.
  std::optional<cpu::LayerEntry> layer;
  // The layer of one rank takes that rank's weights: its dialect file is
  // the shard (python -m mla.layer --tensor-parallel N), generated at N = 1.
  if (input && emitLayer.getNumOccurrences() && emitLayer &&
      tensorParallel > 1) {
    llvm::errs() << "mla-codegen: --layer with --tensor-parallel="
                 << tensorParallel.getValue()
                 << ": the layer of one rank is generated from that rank's "
                    "dialect file (python -m mla.layer CONFIG --tensor-parallel "
                 << tensorParallel.getValue() << ") at --tensor-parallel=1\n";
    return failure();
  }
  if (input && emitLayer && tensorParallel == 1) {
    FailureOr<cpu::LayerEntry> entry =
        cpu::buildLayerEntry(*input, kernelName, lanes);
    if (failed(entry))
      return failure();
    layer = *entry;
    if (printIR)
      llvm::outs() << "// -----// layer: loops and buffers //----- //\n"
                   << *input << "\n";
    if (failed(cpu::lowerToLLVMDialect(*input, host->bf16Dot)))
      return failure();
    cpu::routeLayerAllocations(*input, kernelName);
  }
  if (printIR) {
    llvm::outs() << "// -----// LLVM dialect //----- //\n" << *kernels << "\n";
    return success();
  }

  Staging stage;
  if (failed(stage.create()))
    return failure();
  std::string obj = stage.path(kernelName + ".o"),
              lib = stage.path("lib" + kernelName + ".so"),
              hdr = stage.path(kernelName + ".h"),
              json = stage.path(kernelName + ".json");
  mla_abi::Library abiLib =
      abiLibrary(*request, /*tensorCores=*/false, layer.has_value());
  std::string headerText = header(*request, kernelInfo(*config), abiLib);
  std::string layerObj = stage.path(kernelName + "_layer.o"),
              layerSrc = stage.path(kernelName + "_layer.cpp");
  if (layer) {
    size_t at = headerText.rfind("#ifdef __cplusplus\n}");
    headerText.insert(at, layer->header);
    if (failed(cpu::emitObjectFile(*input, *host, layerObj)) ||
        failed(writeFile(layerSrc, layer->source)))
      return failure();
  }
  if (failed(cpu::emitObjectFile(*kernels, *host, obj)) ||
      failed(writeFile(hdr, headerText)))
    return failure();

  // The kernels and their entry points (addKernelEntry) are all in the
  // object: the library is linked against the prebuilt runtime, with no C++
  // compiled unless a layer function's wrapper is.
  std::string libDir = paths().runtimeLib;
  std::vector<std::string> args = {"-shared",
                                   "-fPIC",
                                   std::string(obj),
                                   "-o",
                                   std::string(lib),
                                   "-L" + libDir,
                                   "-lmla_cpu_runtime",
                                   "-Wl,-rpath," + libDir};
  if (layer) {
    args.push_back("-O2");
    args.push_back("-std=c++17");
    args.push_back("-I" + paths().include);
    args.push_back("-Wl,-rpath," MLA_OPENMP_LIBDIR);
    args.push_back(std::string(layerSrc));
    args.push_back(std::string(layerObj));
    args.push_back("-lm");
    // memref.copy of strided views lowers to MLIR's runtime memrefCopy.
    args.push_back("-L" MLA_OPENMP_LIBDIR);
    args.push_back("-lmlir_c_runner_utils");
  }
  std::string err;
  if (failed(cpu::runCompiler(cxx, args, err))) {
    llvm::errs() << "mla-codegen: linking " << lib << " failed: " << err
                 << "\n";
    return failure();
  }
  llvm::sys::fs::remove(obj);
  if (layer) {
    llvm::sys::fs::remove(layerObj);
    llvm::sys::fs::remove(layerSrc);
  }
  if (failed(writeFile(json, abiJSON(*request, kernelJSON(*config), abiLib,
                                      layer ? &*layer : nullptr))) ||
      failed(checkLibrary(stage)))
    return failure();
  return stage.commit({"lib" + kernelName + ".so", kernelName + ".h",
                       kernelName + ".json"});
}
} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "MLA decode-kernel generator\n");
  DialectRegistry registry;
  registerAllDialects(registry);
  registerAllPasses();
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();
  return failed(run(ctx)) ? 1 : 0;
}
