//===- KernelLoader.cpp - Generate and dlopen decode kernels --------------===//

#include "KernelLoader.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

using namespace mla::bench;

namespace {
bool isExecutableFile(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

bool isFile(const std::string &path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

/// The last non-empty line of a log, for one-line failure messages.
std::string lastLine(const std::string &path) {
  std::ifstream log(path);
  std::string line, last;
  while (std::getline(log, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      last = line;
  return last;
}

/// Runs \p argv with stdout and stderr sent to \p logPath; returns the exit
/// status, or -1 with \p error set when the process could not run.
int runProcess(const std::vector<std::string> &argv, const std::string &logPath,
               std::string &error) {
  std::vector<char *> args;
  for (const std::string &arg : argv)
    args.push_back(const_cast<char *>(arg.c_str()));
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, logPath.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    error = std::string("cannot run ") + argv[0] + ": " + std::strerror(rc);
    return -1;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      error = std::string("waitpid: ") + std::strerror(errno);
      return -1;
    }
  }
  if (WIFSIGNALED(status)) {
    error = argv[0] + " killed by signal " + std::to_string(WTERMSIG(status));
    return -1;
  }
  return WEXITSTATUS(status);
}

/// Compares the #defines of the header mla-codegen writes next to a library
/// (DIR/SYMBOL.h: SYMBOL_NUM_HEADS 16, SYMBOL_DTYPE "bf16", ...) with
/// \p config. Returns what disagrees, or "" when all agree or there is no
/// such header to read.
std::string checkHeader(const std::string &libraryPath,
                        const std::string &symbol, const KernelConfig &config,
                        std::string &headerPath) {
  size_t slash = libraryPath.rfind('/');
  headerPath = (slash == std::string::npos ? std::string(".")
                                           : libraryPath.substr(0, slash)) +
               "/" + symbol + ".h";
  std::ifstream header(headerPath);
  if (!header)
    return "";
  std::string prefix;
  for (char c : symbol)
    prefix += char(std::toupper(static_cast<unsigned char>(c)));
  prefix += "_";
  // Option name, value in the header's spelling.
  std::map<std::string, std::pair<std::string, std::string>> expected = {
      {"NUM_HEADS", {"--heads", std::to_string(config.numHeads)}},
      {"Q_LEN", {"--q-len", std::to_string(config.qLen)}},
      {"KV_LORA_RANK", {"--dc", std::to_string(config.dc)}},
      {"QK_ROPE_HEAD_DIM", {"--dr", std::to_string(config.dr)}},
      {"BLOCK_SIZE", {"--block-size", std::to_string(config.blockSize)}},
      {"DTYPE",
       {"--dtype", std::string("\"") + elemTypeName(config.type) + "\""}},
      {"WINDOW", {"--window", std::to_string(config.window)}}};
  // The bench (like the contract's default) masks causally when q_len > 1,
  // except sparse rows.
  if (config.qLen > 1 && !config.topk)
    expected["CAUSAL"] = {"causal (q_len > 1)", "1"};
  if (config.topk)
    expected["TOPK"] = {"--topk", std::to_string(config.topk)};
  if (config.fp8)
    expected["CACHE_SCALES"] = {"--cache-scales", "\"row_groups\""};
  if (config.fp8Tensor)
    expected["CACHE_SCALES"] = {"--cache-scales", "\"per_tensor\""};
  std::string line, mismatches;
  while (std::getline(header, line)) {
    std::istringstream words(line);
    std::string directive, name, value;
    if (!(words >> directive >> name >> value) || directive != "#define" ||
        name.compare(0, prefix.size(), prefix) != 0)
      continue;
    auto it = expected.find(name.substr(prefix.size()));
    if (it == expected.end())
      continue;
    if (value != it->second.second)
      mismatches += std::string(mismatches.empty() ? "" : ", ") + name + " " +
                    value + " but " + it->second.first + " " +
                    it->second.second;
  }
  return mismatches;
}
} // namespace

KernelConfig KernelConfig::forShape(const AttentionShape &shape,
                                    ElemType type) {
  return {shape.numHeads,  shape.dc,  shape.dr,       shape.qLen,
          shape.blockSize, type,      shape.window,   shape.kvHeads,
          shape.topk,      shape.fp8, shape.fp8Tensor};
}

bool KernelConfig::operator==(const KernelConfig &other) const {
  return numHeads == other.numHeads && dc == other.dc && dr == other.dr &&
         qLen == other.qLen && blockSize == other.blockSize &&
         type == other.type && window == other.window &&
         kvHeads == other.kvHeads && topk == other.topk && fp8 == other.fp8 &&
         fp8Tensor == other.fp8Tensor;
}

std::string KernelConfig::describe() const {
  return "H=" + std::to_string(numHeads) + " dc=" + std::to_string(dc) +
         " dr=" + std::to_string(dr) + " q_len=" + std::to_string(qLen) +
         " block_size=" + std::to_string(blockSize) + " " + elemTypeName(type) +
         (window ? " window=" + std::to_string(window) : "") +
         (kvHeads ? " kv_heads=" + std::to_string(kvHeads) : "") +
         (topk ? " topk=" + std::to_string(topk) : "") +
         (fp8 ? " fp8 rows" : "") + (fp8Tensor ? " fp8 codes, one scale" : "");
}

std::string KernelConfig::symbolName() const {
  return "mla_decode_h" + std::to_string(numHeads) + "_dc" +
         std::to_string(dc) + "_dr" + std::to_string(dr) + "_q" +
         std::to_string(qLen) + "_bs" + std::to_string(blockSize) + "_" +
         elemTypeName(type) + (window ? "_w" + std::to_string(window) : "") +
         (kvHeads ? "_kv" + std::to_string(kvHeads) : "") +
         (topk ? "_topk" + std::to_string(topk) : "") + (fp8 ? "_fp8" : "") +
         (fp8Tensor ? "_fp8t" : "");
}

KernelLoader::KernelLoader(std::string codegenPath, std::string workDir)
    : codegenPath(std::move(codegenPath)), workDir(std::move(workDir)) {}

std::unique_ptr<KernelLoader>
KernelLoader::prebuilt(const std::string &libraryPath,
                       const std::string &symbol, const KernelConfig &config) {
  std::unique_ptr<KernelLoader> loader(new KernelLoader("", ""));
  loader->isPrebuilt = true;
  loader->prebuiltConfig = config;
  std::string headerPath;
  std::string mismatches = checkHeader(libraryPath, symbol, config, headerPath);
  if (!mismatches.empty()) {
    LoadedKernel &kernel = loader->prebuiltKernel;
    kernel.libraryPath = libraryPath;
    kernel.symbol = symbol;
    kernel.error = libraryPath + " was generated for other dims (" +
                   headerPath + ": " + mismatches + ")";
  } else if (!isFile(libraryPath)) {
    loader->prebuiltKernel.libraryPath = libraryPath;
    loader->prebuiltKernel.symbol = symbol;
    loader->prebuiltKernel.error = "no kernel library " + libraryPath;
  } else {
    loader->prebuiltKernel = loader->load(libraryPath, symbol);
  }
  loader->mismatch.libraryPath = libraryPath;
  loader->mismatch.symbol = symbol;
  loader->mismatch.error =
      libraryPath + " is used only for " + config.describe();
  return loader;
}

KernelLoader::~KernelLoader() {
  for (void *handle : handles)
    ::dlclose(handle);
}

std::string KernelLoader::defaultCodegenPath() {
  char buf[4096];
  ssize_t len = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (len <= 0)
    return "mla-codegen";
  std::string self(buf, size_t(len));
  size_t slash = self.rfind('/');
  return (slash == std::string::npos ? std::string(".")
                                     : self.substr(0, slash)) +
         "/mla-codegen";
}

const LoadedKernel &KernelLoader::get(const KernelConfig &config) {
  if (isPrebuilt)
    return config == prebuiltConfig ? prebuiltKernel : mismatch;
  std::string name = config.symbolName();
  auto it = kernels.find(name);
  if (it == kernels.end())
    it = kernels.emplace(name, generateAndLoad(config)).first;
  return it->second;
}

LoadedKernel KernelLoader::generateAndLoad(const KernelConfig &config) {
  LoadedKernel result;
  result.symbol = config.symbolName();
  if (!isExecutableFile(codegenPath)) {
    result.error = "no mla-codegen at " + codegenPath;
    return result;
  }
  if (workDir.empty()) {
    result.error = "no work directory";
    return result;
  }
  const std::string name = config.symbolName();
  const std::string logPath = workDir + "/" + name + ".log";
  std::vector<std::string> argv = {
      codegenPath,
      "--target=cpu",
      "--num-heads=" + std::to_string(config.numHeads),
      "--q-len=" + std::to_string(config.qLen),
      "--block-size=" + std::to_string(config.blockSize),
      std::string("--dtype=") + elemTypeName(config.type),
      "--window=" + std::to_string(config.window),
      "--name=" + name,
      "-o",
      workDir};
  // The cache: a latent one, or key and value caches of KV heads.
  if (config.kvHeads) {
    argv.insert(argv.begin() + 3,
                {"--num-kv-heads=" + std::to_string(config.kvHeads),
                 "--head-dim=" + std::to_string(config.dc)});
  } else {
    argv.insert(argv.begin() + 3,
                {"--kv-lora-rank=" + std::to_string(config.dc),
                 "--qk-rope-head-dim=" + std::to_string(config.dr)});
  }
  if (config.topk)
    argv.push_back("--topk=" + std::to_string(config.topk));
  if (config.fp8)
    argv.push_back("--cache-scales=row_groups");
  if (config.fp8Tensor)
    argv.push_back("--cache-scales=per_tensor");
  int status = runProcess(argv, logPath, result.error);
  if (status < 0)
    return result;
  if (status != 0) {
    std::string detail = lastLine(logPath);
    result.error = "mla-codegen exited with " + std::to_string(status) +
                   (detail.empty() ? "" : ": " + detail) + " (log: " + logPath +
                   ")";
    return result;
  }

  std::string libraryPath = workDir + "/lib" + name + ".so";
  if (!isFile(libraryPath)) {
    result.error = "mla-codegen succeeded but wrote no " + libraryPath;
    result.libraryPath = libraryPath;
    return result;
  }
  return load(libraryPath, name);
}

LoadedKernel KernelLoader::load(const std::string &libraryPath,
                                const std::string &symbol) {
  LoadedKernel result;
  result.libraryPath = libraryPath;
  result.symbol = symbol;
  // RTLD_LOCAL: each configuration's library is independent; the OpenMP
  // runtime it needs resolves to the one already loaded by the bench.
  void *handle = ::dlopen(libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = ::dlerror();
    result.error = std::string("dlopen: ") + (why ? why : "unknown error");
    return result;
  }
  handles.push_back(handle);
  void *fn = ::dlsym(handle, symbol.c_str());
  if (!fn) {
    result.error = "no symbol " + symbol + " in " + libraryPath;
    return result;
  }
  result.fn = reinterpret_cast<DecodeAttentionFn>(fn);
  return result;
}
