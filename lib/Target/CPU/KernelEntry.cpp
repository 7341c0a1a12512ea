//===- KernelEntry.cpp - the C entry of a generated kernel ------*- C++ -*-===//
//
// The entry points of a kernel library are two calls, written here in the
// LLVM dialect, of a runtime that is built once with the project
// (lib/Runtime/CPU/CPURuntime.cpp, lib/Runtime/CUDA/CUDARuntime.cpp) with a
// constant description of the library's kernels: no C++ is compiled per
// kernel.
//
//===----------------------------------------------------------------------===//

#include "mla/Target/CPU/KernelEntry.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/Builders.h"

#include <optional>

using namespace mlir;
using namespace mlir::mla;

namespace {
/// One pointer field of a kernel description: the address of a symbol of
/// the module, or null.
using PointerField = std::optional<std::string>;

/// Adds `name`_kernel, a constant struct of the i64 `fields` then the
/// pointer fields, and the entry points `name`(args...) and
/// `name`_num_splits(batch, max_seq_len, threads or SMs), each returning
/// `runtime`(&`name`_kernel, args...), to `module`.
/// `heads`: a library on head caches, whose entries take v_cache after the
/// keys (the runtime takes it there, NULL for a latent cache). `kvScale`: a
/// library whose fp8 cache has one scale, whose entries take kv_scale after
/// softmax_scale (the runtime takes it there, 1 for other libraries).
void addRuntimeEntry(ModuleOp module, StringRef name, ArrayRef<int64_t> fields,
                     ArrayRef<PointerField> pointers, bool sinks, bool heads,
                     bool kvScale, StringRef decodeFn, StringRef splitsFn,
                     StringRef checkedFn = "") {
  MLIRContext *ctx = module.getContext();
  Location loc = module.getLoc();
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(module.getBody());
  Type ptr = LLVM::LLVMPointerType::get(ctx), i32 = b.getI32Type(),
       i64 = b.getI64Type(), f32 = b.getF32Type();

  SmallVector<Type> fieldTypes(fields.size(), i64);
  fieldTypes.append(pointers.size(), ptr);
  auto descTy = LLVM::LLVMStructType::getLiteral(ctx, fieldTypes);
  std::string descName = (name + "_kernel").str();
  auto global = LLVM::GlobalOp::create(b, loc, descTy, /*isConstant=*/true,
                                       LLVM::Linkage::Internal, descName,
                                       Attribute());
  {
    OpBuilder::InsertionGuard guard(b);
    b.createBlock(&global.getInitializerRegion());
    Value desc = LLVM::PoisonOp::create(b, loc, descTy);
    int64_t pos = 0;
    for (int64_t v : fields)
      desc = LLVM::InsertValueOp::create(
          b, loc, desc, LLVM::ConstantOp::create(b, loc, i64, v), pos++);
    for (const PointerField &sym : pointers) {
      Value p = sym ? LLVM::AddressOfOp::create(b, loc, ptr, *sym).getResult()
                    : LLVM::ZeroOp::create(b, loc, ptr).getResult();
      desc = LLVM::InsertValueOp::create(b, loc, desc, p, pos++);
    }
    LLVM::ReturnOp::create(b, loc, desc);
  }

  // `entry`(args...) { return runtime(&`name`_kernel, args...); }, with a
  // null pointer (or, at `oneAt`, the float 1) inserted as each of the
  // runtime's arguments `nullAt` (ascending positions in the runtime's
  // arguments after the description).
  auto forward = [&](StringRef entry, StringRef runtime, ArrayRef<Type> args,
                     ArrayRef<unsigned> nullAt = {},
                     std::optional<unsigned> oneAt = std::nullopt) {
    auto constantAt = [&](unsigned at) { return at == oneAt ? f32 : ptr; };
    SmallVector<Type> runtimeArgs = {ptr};
    runtimeArgs.append(args.begin(), args.end());
    for (unsigned at : nullAt)
      runtimeArgs.insert(runtimeArgs.begin() + 1 + at, constantAt(at));
    auto runtimeTy = LLVM::LLVMFunctionType::get(i32, runtimeArgs);
    if (!module.lookupSymbol(runtime))
      LLVM::LLVMFuncOp::create(b, loc, runtime, runtimeTy);
    auto fn = LLVM::LLVMFuncOp::create(
        b, loc, entry, LLVM::LLVMFunctionType::get(i32, args));
    OpBuilder::InsertionGuard guard(b);
    Block *body = fn.addEntryBlock(b);
    b.setInsertionPointToStart(body);
    SmallVector<Value> operands = {
        LLVM::AddressOfOp::create(b, loc, ptr, descName)};
    operands.append(body->args_begin(), body->args_end());
    for (unsigned at : nullAt)
      operands.insert(operands.begin() + 1 + at,
                      at == oneAt ? LLVM::ConstantOp::create(
                                        b, loc, f32, b.getF32FloatAttr(1.0f))
                                        .getResult()
                                  : LLVM::ZeroOp::create(b, loc, ptr));
    Value r = LLVM::CallOp::create(b, loc, runtimeTy, runtime, operands)
                  .getResult();
    LLVM::ReturnOp::create(b, loc, r);
  };
  // The contract's signature (KernelABI.h's kernelArgs(sinks, heads)): the
  // runtime takes the value cache after the keys, the sinks after seq_lens
  // and kv_scale after softmax_scale; null (1) where the library has none.
  SmallVector<Type> decodeArgs = {ptr, ptr, ptr, ptr, ptr,
                                  ptr, i32, i32, f32, ptr};
  SmallVector<unsigned> nullAt, checkedNullAt;
  const unsigned values = 2, sinksAt = 5, kvScaleAt = 11;
  if (heads)
    decodeArgs.insert(decodeArgs.begin() + values, ptr);
  else
    nullAt.push_back(values);
  if (sinks)
    decodeArgs.insert(decodeArgs.begin() + sinksAt, ptr);
  else
    nullAt.push_back(sinksAt);
  // kv_scale after softmax_scale, the entry's second argument from the end.
  if (kvScale)
    decodeArgs.insert(decodeArgs.end() - 1, f32);
  else
    nullAt.push_back(kvScaleAt);
  forward(name, decodeFn, decodeArgs, nullAt, kvScaleAt);
  // NAME_num_splits(batch, max_seq_len, threads or SMs).
  forward((name + "_num_splits").str(), splitsFn, {i32, i32, i32});
  // NAME_checked: the decode entry with num_blocks after the caches.
  if (!checkedFn.empty()) {
    // After the caches: in the entry's arguments and in the runtime's.
    SmallVector<Type> checkedArgs(decodeArgs);
    checkedArgs.insert(checkedArgs.begin() + (heads ? 3 : 2), i32);
    const unsigned runtimeNumBlocksAt = 3;
    for (unsigned at : nullAt)
      checkedNullAt.push_back(at >= runtimeNumBlocksAt ? at + 1 : at);
    forward((name + "_checked").str(), checkedFn, checkedArgs, checkedNullAt,
            kvScaleAt + 1);
  }
}
} // namespace

LogicalResult cpu::addKernelEntry(ModuleOp module,
                                  const CPUDecodeConfig &config,
                                  StringRef name) {
  auto kernel = [&](StringRef suffix) -> FailureOr<std::string> {
    std::string sym = ("_mlir_ciface_" + name + suffix).str();
    if (!module.lookupSymbol<LLVM::LLVMFuncOp>(sym))
      return module.emitError("mla-codegen: the kernel module has no ") << sym;
    return sym;
  };
  FailureOr<std::string> partial = kernel("_partial"),
                         combine = kernel("_combine");
  if (failed(partial) || failed(combine))
    return failure();
  PointerField prefetch;
  if (config.prefetch != CPUDecodeConfig::Prefetch::Never) {
    FailureOr<std::string> p = kernel("_partial_prefetch");
    if (failed(p))
      return failure();
    prefetch = *p;
  }
  PointerField amx;
  if (config.amx) {
    FailureOr<std::string> p = kernel("_partial_amx");
    if (failed(p))
      return failure();
    amx = *p;
  }
  // mla_cpu_kernel (CPUKernel.h): fourteen i64, four pointers.
  addRuntimeEntry(
      module, name,
      {config.heads, config.qLen, config.dc, config.dr, config.blockSize,
       config.causal ? 1 : 0, config.elemType.getIntOrFloatBitWidth() / 8,
       config.rowsPerGroup, int64_t(config.prefetch), config.window.value_or(0),
       config.sinks ? 1 : 0, config.headCaches ? config.kvHeads : 0,
       config.topk, config.fp8Tensor() ? 1 : 0},
      {*partial, prefetch, amx, *combine}, config.sinks, config.headCaches,
      config.fp8Tensor(), "mla_cpu_decode_v6", "mla_cpu_num_splits_v6",
      "mla_cpu_decode_checked_v6");
  return success();
}

void cpu::addCUDAKernelEntry(ModuleOp module, const GPUDecodeConfig &config,
                             StringRef name, StringRef cubin) {
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  std::string cubinName = (name + "_cubin").str();
  LLVM::GlobalOp::create(
      b, module.getLoc(),
      LLVM::LLVMArrayType::get(b.getI8Type(), cubin.size()),
      /*isConstant=*/true, LLVM::Linkage::Internal, cubinName,
      b.getStringAttr(cubin), /*alignment=*/16);
  // mla_cuda_kernel (CUDAKernel.h): eighteen i64, the cubin.
  addRuntimeEntry(
      module, name,
      {config.heads, config.qLen, config.dc, config.dr, config.blockSize,
       config.rowsPerGroup, config.threads(), config.dynamicSharedBytes,
       config.kind != GPUKernelKind::SIMT ? 1 : 0,
       config.elemType.getIntOrFloatBitWidth() / 8,
       config.elemType.isBF16() ? 1 : 0, config.tmaBoxRows,
       config.sinks ? 1 : 0, config.headCaches ? config.kvHeads : 0,
       config.sparse() ? config.topk : 0,
       config.fp8Rows() ? config.fp8RowBytes() : 0, config.fp8Tensor() ? 1 : 0,
       int64_t(cubin.size())},
      {cubinName}, config.sinks, config.headCaches, config.fp8Tensor(),
      "mla_cuda_decode_v5", "mla_cuda_num_splits_v5");
}
