//===- LayerEntry.h - a decode-step layer function for the CPU --*- C++ -*-===//

#ifndef MLA_TARGET_CPU_LAYERENTRY_H
#define MLA_TARGET_CPU_LAYERENTRY_H

#include "mla/Runtime/KernelABI.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <string>
#include <vector>

namespace mlir::mla::cpu {

/// The C side of a generated layer function, `<name>_layer` with the
/// arguments of mla_abi::layerArgs(heads).
struct LayerEntry {
  std::string source; // C++ wrapper: checks arguments, calls the layer
  std::string header; // its documented declaration
  mla_abi::Sizes sizes;  // the layer's fixed dimensions
  bool heads = false;    // head caches (k_cache, v_cache): layerArgs(true)
  // DeepSeek-V3.2's indexer (kv_cache, index_cache): layerArgs(false, true),
  // attention over the top indexTopK positions.
  bool indexer = false;
  int64_t indexTopK = 0;
  // A latent cache of e4m3 codes with one scale: the layer function's
  // argument after seq_lens is the scale (a 0-D f32 tensor in the IR, the C
  // entry's kv_scale).
  bool kvScale = false;
  // The C arguments: mla_abi::layerArgs(heads, indexer), with fp8 rows
  // (mla_abi::kFP8RowsLayerCache) or codes (kFP8TensorLayerCache, then
  // kKvScaleArg after seq_lens) in place of kv_cache when the layer keeps
  // its cache so.
  std::vector<mla_abi::Arg> args;
  mla_abi::ArgList argList() const { return {args.data(), args.size()}; }
  /// The IR function's arguments before the weights: the arrays, and the
  /// scale with kvScale.
  unsigned firstWeight = 0;
  Type elemType;         // of hidden, kv_cache, out and the weights
  SmallVector<RankedTensorType> weights; // in the order of `weights`
  // Each weight's name (the dialect file's `mla.name` argument attribute, or
  // the merged weight's `mla.absorbed` name; empty when it has none).
  SmallVector<std::string> weightNames;
  // Weights merged by mla-absorb-weights come last: `<name>_layer_prepare_
  // weights` computes them from the weights at `prepareInputs` (indices into
  // `weights`), once, into the caller's buffers.
  unsigned numPrepared = 0;
  SmallVector<unsigned> prepareInputs;
};

/// Turns the absorbed, fused layer of `module` (as `python -m mla.layer`
/// writes it, after mla-absorb-weights and mla-fuse-decode-attention) into
/// `<name>_layer_impl` on memrefs and loops (the cache updated in place, the
/// output an out-parameter), ready for lowerToLLVMDialect, and returns the C
/// entry `<name>_layer` around it. The wrapper includes
/// "mla/Runtime/KernelABI.h" for its return codes.
FailureOr<LayerEntry> buildLayerEntry(ModuleOp module, StringRef name,
                                      int64_t vectorWidth);

/// In the layer's module lowered to the LLVM dialect, routes the heap
/// allocations of the generated code (malloc, aligned_alloc) through
/// `<name>_layer_malloc` / `<name>_layer_aligned_alloc`, which the entry's
/// wrapper defines: an allocation that fails returns ERR_ALLOC from the
/// entry instead of a null pointer the code would write through.
void routeLayerAllocations(ModuleOp llvmModule, StringRef name);

} // namespace mlir::mla::cpu

#endif // MLA_TARGET_CPU_LAYERENTRY_H
