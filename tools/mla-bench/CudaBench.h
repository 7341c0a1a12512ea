//===- CudaBench.h - mla-bench --target=cuda ---------------------*- C++ -*-===//

#ifndef MLA_BENCH_CUDABENCH_H
#define MLA_BENCH_CUDABENCH_H

namespace mla {
/// Runs the GPU benchmark (see CudaBench.cpp); prints "not available" and
/// returns 0 without a CUDA driver and device.
int runCudaBench(int argc, char **argv);
} // namespace mla

#endif // MLA_BENCH_CUDABENCH_H
