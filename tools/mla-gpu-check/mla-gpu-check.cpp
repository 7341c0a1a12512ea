//===- mla-gpu-check.cpp - check and time a bundle of generated kernels ---===//
//
// The runner for bare GPU machines (issue 15): it needs the CUDA driver
// (opened with dlopen), the bundle's libNAME.so files and
// libmla_cuda_runtime.so, and nothing of MLIR, LLVM, OpenBLAS or OpenMP.
// scripts/gpu-check.sh builds the bundle where the compiler is and runs it
// where the GPU is.
//
// Each kernel runs in a child process, in its own process group (with the
// bench's Python): a kernel that hangs is killed after --kernel-timeout
// seconds and reported by name, a crash is reported with its signal, and the
// run goes on. The parent never touches CUDA (a forked child cannot use a
// context its parent made). A phase stops starting kernels after
// its --phase-time seconds, and kills those still running --grace seconds
// later (TIMEOUT); those it did not run are reported, and all fail the run.
// So a run ends within the sum of its phases' times and graces.
// Exit codes: 0 all passed, 1 a failure, 2 bad usage or bundle, 77 no device
// (ctest's skip).
//
//===----------------------------------------------------------------------===//

#include "Check.h"
#include "CudaDriver.h"

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

using namespace mla::gpucheck;

namespace {

struct Options {
  std::string bundle, filter, logDir, torchScript;
  std::vector<std::string> phases{"check", "bench"};
  int jobs = 0;
  double kernelTimeout = 120;
  /// What a kernel still running at the end of its phase's time may take.
  double grace = 30;
  /// Seconds for each phase, in the order of `phases` (one value: all).
  std::vector<double> phaseTimes{150};
  /// FLOP/s of PyTorch's bf16 matmul, measured before the bench; 0: none.
  double matmulPeak = 0;
  bool host = false, probe = false, torch = true;
};

void usage() {
  std::fprintf(
      stderr,
      "usage: mla-gpu-check --bundle=DIR [--phase=check,bench] "
      "[--filter=TEXT]\n"
      "         [--jobs=N] [--kernel-timeout=S] [--phase-time=S[,S]] "
      "[--grace=S]\n"
      "         [--host] [--no-torch]\n"
      "       mla-gpu-check --probe    (prints the device's kernel target)\n");
}

bool parseOptions(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    size_t eq = a.find('=');
    std::string key = a.substr(0, eq),
                value = eq == std::string::npos ? "" : a.substr(eq + 1);
    if (key == "--bundle")
      o.bundle = value;
    else if (key == "--phase") {
      o.phases = splitList(value);
      for (const std::string &p : o.phases)
        if (p != "check" && p != "bench")
          return false;
    } else if (key == "--filter")
      o.filter = value;
    else if (key == "--jobs")
      o.jobs = std::atoi(value.c_str());
    else if (key == "--kernel-timeout")
      o.kernelTimeout = std::atof(value.c_str());
    else if (key == "--grace")
      o.grace = std::atof(value.c_str());
    else if (key == "--phase-time") {
      o.phaseTimes.clear();
      for (const std::string &t : splitList(value)) {
        o.phaseTimes.push_back(std::atof(t.c_str()));
        if (o.phaseTimes.back() <= 0)
          return false;
      }
    } else if (a == "--host")
      o.host = true;
    else if (a == "--probe")
      o.probe = true;
    else if (a == "--no-torch")
      o.torch = false;
    else
      return false;
  }
  return o.probe ||
         (!o.bundle.empty() && o.kernelTimeout > 0 && o.grace >= 0 &&
          o.jobs >= 0 &&
          (o.phaseTimes.size() == 1 || o.phaseTimes.size() == o.phases.size()));
}

/// The target of the device's kernels, or "" with the reason.
std::string targetOf(const mla::CudaDriver &cu) {
  // 8.6 / 8.7 / 8.9 have 99 KB of shared memory a CTA: their own kernels.
  if (cu.major >= 9)
    return "sm_90a";
  return cu.minor == 0 ? "sm_80" : "sm_86";
}

/// Probes the device in a child, so that this process stays free of CUDA.
std::string probeInChild(std::string &why) {
  int fds[2];
  if (pipe(fds))
    return why = "pipe failed", "";
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    std::string reason;
    const mla::CudaDriver *cu = mla::CudaDriver::get(reason);
    std::string msg = cu ? targetOf(*cu) + " " + cu->name + " (sm_" +
                               std::to_string(cu->major) +
                               std::to_string(cu->minor) + ", " +
                               std::to_string(cu->sms) + " SMs)"
                         : "! " + reason;
    (void)!write(fds[1], msg.data(), msg.size());
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[256];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    msg.append(buf, n);
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (msg.empty() || msg[0] == '!') {
    why = msg.size() > 2 ? msg.substr(2) : "the probe failed";
    return "";
  }
  why = msg.substr(msg.find(' ') + 1);
  return msg.substr(0, msg.find(' '));
}

struct Child {
  pid_t pid;
  const Spec *spec;
  std::chrono::steady_clock::time_point start;
  std::string log;
  bool killed = false; // by the watchdog
};

/// Runs `spec`'s phase in this (child) process; its exit status.
int runChild(const Options &o, const Spec &spec) {
  std::unique_ptr<Device> dev;
  if (spec.onHost())
    dev = Device::host();
  else {
    std::string why;
    const mla::CudaDriver *cu = mla::CudaDriver::get(why);
    if (!cu) {
      std::printf("  FAIL: %s\n", why.c_str());
      return 1;
    }
    dev = Device::gpu(*cu);
  }
  int failures = spec.phase == "check" ? runCheck(o.bundle, spec, *dev)
                                       : runBench(o.bundle, spec, *dev,
                                                  o.torchScript, o.matmulPeak);
  std::fflush(stdout);
  return failures ? 1 : 0;
}

void printFile(const std::string &path) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line))
    std::printf("%s\n", line.c_str());
}

/// Runs every spec of a phase in children, `jobs` at a time; the number of
/// kernels that did not pass.
int runPhase(const Options &o, const std::string &phase, double phaseTime,
             const std::vector<const Spec *> &specs) {
  using Clock = std::chrono::steady_clock;
  auto seconds = [](Clock::duration d) {
    return std::chrono::duration<double>(d).count();
  };
  const Clock::time_point phaseStart = Clock::now();
  // The check's children mostly compute the reference on the host.
  int jobs = o.jobs ? o.jobs : (phase == "bench" || o.host ? 1 : 8);
  size_t next = 0;
  int passed = 0, failed = 0, notRun = 0;
  std::map<pid_t, Child> running;
  while (next < specs.size() || !running.empty()) {
    double elapsed = seconds(Clock::now() - phaseStart);
    bool late = elapsed > phaseTime;
    while (!late && next < specs.size() && int(running.size()) < jobs) {
      const Spec &spec = *specs[next++];
      Child c{0, &spec, Clock::now(),
              o.logDir + "/" + phase + "." + spec.name + ".log"};
      std::fflush(nullptr);
      c.pid = fork();
      if (c.pid < 0) {
        std::printf("FAIL     %s (fork: %s)\n", spec.name.c_str(),
                    strerror(errno));
        ++failed;
        continue;
      }
      if (c.pid == 0) {
        // Its own process group: the watchdog kills what it started too
        // (the bench's Python).
        setpgid(0, 0);
        if (!std::freopen(c.log.c_str(), "w", stdout))
          _exit(3);
        dup2(fileno(stdout), STDERR_FILENO);
        _exit(runChild(o, spec));
      }
      setpgid(c.pid, c.pid); // either side may run first
      running[c.pid] = c;
    }
    for (; late && next < specs.size(); ++next, ++notRun)
      std::printf("NOT RUN  %s (the phase's %.0f s were spent)\n",
                  specs[next]->name.c_str(), phaseTime);
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      for (auto &[p, c] : running)
        if (seconds(Clock::now() - c.start) > o.kernelTimeout ||
            elapsed > phaseTime + o.grace) {
          c.killed = true; // reported as TIMEOUT when reaped
          kill(-p, SIGKILL);
        }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    auto it = running.find(pid);
    if (it == running.end())
      continue;
    Child c = it->second;
    running.erase(it);
    double t = seconds(Clock::now() - c.start);
    bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    std::string what = ok ? "PASS" : "FAIL";
    if (WIFSIGNALED(status))
      what = c.killed
                 ? "TIMEOUT"
                 : "CRASH (" + std::string(strsignal(WTERMSIG(status))) + ")";
    std::printf("%-8s %s (%.1f s)\n", what.c_str(), c.spec->name.c_str(), t);
    if (!ok || phase == "bench")
      printFile(c.log);
    std::fflush(stdout);
    (ok ? passed : failed) += 1;
  }
  std::printf("== %s: %d passed, %d failed, %d not run, %.0f s\n\n",
              phase.c_str(), passed, failed, notRun,
              seconds(Clock::now() - phaseStart));
  return failed + notRun;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  if (!parseOptions(argc, argv, o)) {
    usage();
    return 2;
  }
  if (o.probe) {
    std::string why;
    std::string target = probeInChild(why);
    if (target.empty()) {
      std::printf("no device: %s\n", why.c_str());
      return 77;
    }
    std::printf("%s\n", target.c_str());
    return 0;
  }
  std::ifstream manifest(o.bundle + "/manifest.txt");
  if (!manifest) {
    std::fprintf(stderr, "mla-gpu-check: no %s/manifest.txt\n",
                 o.bundle.c_str());
    return 2;
  }
  std::vector<Spec> specs;
  std::string line;
  for (int n = 1; std::getline(manifest, line); ++n) {
    if (line.empty() || line[0] == '#')
      continue;
    Spec s;
    std::string error;
    if (!parseSpec(line, s, error)) {
      std::fprintf(stderr, "mla-gpu-check: manifest.txt:%d: %s\n", n,
                   error.c_str());
      return 2;
    }
    std::string lib = o.bundle + "/kernels/" + s.name + "/lib" + s.name + ".so";
    if (access(lib.c_str(), R_OK) != 0) {
      std::fprintf(stderr, "mla-gpu-check: manifest.txt:%d: no %s\n", n,
                   lib.c_str());
      return 2;
    }
    specs.push_back(s);
  }
  std::string why;
  std::string target = o.host ? "cpu" : probeInChild(why);
  if (target.empty()) {
    std::printf("mla-gpu-check: %zu kernels in the bundle; no GPU (%s), "
                "nothing checked\n",
                specs.size(), why.c_str());
    return 77;
  }
  char logTemplate[] = "/tmp/mla-gpu-check.XXXXXX";
  if (!mkdtemp(logTemplate)) {
    std::fprintf(stderr, "mla-gpu-check: cannot make a log directory\n");
    return 2;
  }
  o.logDir = logTemplate;
  if (o.torch && !o.host &&
      std::system("python3 -c 'import torch; assert torch.cuda.is_available()'"
                  " >/dev/null 2>&1") == 0)
    o.torchScript = o.bundle + "/torch_mla.py";
  std::printf("mla-gpu-check: %s, kernels for %s; PyTorch: %s; logs in %s\n",
              o.host ? "host memory, CPU kernels" : why.c_str(), target.c_str(),
              o.torchScript.empty() ? "not used" : "torch_mla.py",
              o.logDir.c_str());
  // PyTorch's bf16 matmul throughput: the bench rows' tensor peak.
  if (!o.torchScript.empty()) {
    std::fflush(stdout);
    std::string cmd = "python3 " + o.torchScript + " --peak 2>/dev/null";
    if (std::FILE *p = popen(cmd.c_str(), "r")) {
      char line[256] = {0};
      if (std::fgets(line, sizeof line, p)) {
        std::printf("%s", line);
        if (const char *at = std::strstr(line, ": "))
          o.matmulPeak = std::atof(at + 2) * 1e12;
      }
      pclose(p);
    }
    if (o.matmulPeak <= 0)
      std::printf("  (the matmul peak was not measured)\n");
  }
  std::printf("\n");
  int failures = 0;
  for (const std::string &phase : o.phases) {
    std::vector<const Spec *> selected;
    for (const Spec &s : specs)
      if (s.phase == phase && s.target == target &&
          s.name.find(o.filter) != std::string::npos)
        selected.push_back(&s);
    std::printf("== %s: %zu kernels for %s\n", phase.c_str(), selected.size(),
                target.c_str());
    if (phase == "bench" && o.host) {
      std::printf("== bench: GPU only, skipped\n\n");
      continue;
    }
    size_t n = &phase - o.phases.data();
    failures += runPhase(
        o, phase, o.phaseTimes[o.phaseTimes.size() == 1 ? 0 : n], selected);
  }
  std::printf("mla-gpu-check: %s\n", failures ? "FAILED" : "all passed");
  return failures ? 1 : 0;
}
