//===- KernelLoader.cpp - Generate and dlopen decode kernels --------------===//

#include "KernelLoader.h"

#include <cerrno>
#include <cstring>
#include <fstream>
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
} // namespace

KernelConfig KernelConfig::forShape(const AttentionShape &shape,
                                    ElemType type) {
  return {shape.numHeads, shape.dc,        shape.dr,
          shape.qLen,     shape.blockSize, type};
}

std::string KernelConfig::symbolName() const {
  return "mla_decode_h" + std::to_string(numHeads) + "_dc" +
         std::to_string(dc) + "_dr" + std::to_string(dr) + "_q" +
         std::to_string(qLen) + "_bs" + std::to_string(blockSize) + "_" +
         elemTypeName(type);
}

KernelLoader::KernelLoader(std::string codegenPath, std::string workDir)
    : codegenPath(std::move(codegenPath)), workDir(std::move(workDir)) {}

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
  std::string name = config.symbolName();
  auto it = kernels.find(name);
  if (it == kernels.end())
    it = kernels.emplace(name, generateAndLoad(config)).first;
  return it->second;
}

LoadedKernel KernelLoader::generateAndLoad(const KernelConfig &config) {
  LoadedKernel result;
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
      "--kv-lora-rank=" + std::to_string(config.dc),
      "--qk-rope-head-dim=" + std::to_string(config.dr),
      "--q-len=" + std::to_string(config.qLen),
      "--block-size=" + std::to_string(config.blockSize),
      std::string("--dtype=") + elemTypeName(config.type),
      "--name=" + name,
      "-o",
      workDir};
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

  result.libraryPath = workDir + "/lib" + name + ".so";
  if (!isFile(result.libraryPath)) {
    result.error = "mla-codegen succeeded but wrote no " + result.libraryPath;
    return result;
  }
  // RTLD_LOCAL: each configuration's library is independent; the OpenMP
  // runtime it needs resolves to the one already loaded by the bench.
  void *handle = ::dlopen(result.libraryPath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char *why = ::dlerror();
    result.error = std::string("dlopen: ") + (why ? why : "unknown error");
    return result;
  }
  handles.push_back(handle);
  void *symbol = ::dlsym(handle, name.c_str());
  if (!symbol) {
    result.error = "no symbol " + name + " in " + result.libraryPath;
    return result;
  }
  result.fn = reinterpret_cast<DecodeAttentionFn>(symbol);
  return result;
}
