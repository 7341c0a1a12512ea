/*===- CPUKernel.h - a generated CPU kernel, as the runtime sees it -*- C -*-===
 *
 * Every libNAME.so that mla-codegen writes for the CPU holds a constant
 * `mla_cpu_kernel` describing its kernels, and its entry points NAME and
 * NAME_num_splits call the prebuilt runtime library (libmla_cpu_runtime)
 * with it: the argument checks, the split count and the threads are compiled
 * once, with the project, instead of once per kernel. The entry symbols
 * carry the layout's version, so a library and a runtime of different
 * layouts do not load together.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MLA_RUNTIME_CPUKERNEL_H
#define MLA_RUNTIME_CPUKERNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fields are 64-bit so that the generated constant has no padding. */
typedef struct mla_cpu_kernel {
  int64_t num_heads, q_len, kv_lora_rank, qk_rope_head_dim, block_size;
  int64_t causal;         /* 0 or 1 */
  int64_t elem_bytes;     /* 4 (f32) or 2 (bf16, f16) */
  int64_t rows_per_group; /* query rows of one work item */
  int64_t prefetch;       /* 0: no prefetching kernel; 1: used when a call's
                             cache exceeds half the L3; 2: on every call */
  int64_t window;         /* a sliding window of positions; 0: none */
  int64_t sinks;          /* 1: the combine takes per-head sink logits */
  int64_t num_kv_heads;   /* head caches (GQA/MQA/MHA): their KV heads, and
                             kv_lora_rank is the head dim; 0: a latent cache */
  int64_t topk;           /* token indices (sparse decode): the slots of each
                             query's index row, which block_table holds
                             [batch, q_len, topk]; 0: a block table */
  int64_t kv_scale;       /* 1: an fp8 cache with one scale; the partial
                             kernels take softmax_scale * kv_scale and the
                             combine kv_scale, after the split count */
  /* The kernels' C interfaces (_mlir_ciface_NAME_partial, ...), each taking
     its memref arguments as pointers to 1-D descriptors. partial_amx (or
     NULL): the partial kernel on AMX tiles, called where the CPU has
     AMX-BF16 and Linux grants the tile state, unless MLA_CPU_AMX=0. */
  void *partial, *partial_prefetch, *partial_amx, *combine;
} mla_cpu_kernel;

/* The contract's NAME(...) for kernel `k` (see NAME.h), with the value cache
   after the key cache (NULL for a latent cache, whose rows hold both) and
   the sinks after seq_lens (NULL for a library without) and the cache's
   fp8 scale after softmax_scale (1 for a library without). */
int32_t mla_cpu_decode_v6(const mla_cpu_kernel *k, const void *q,
                          const void *kv_cache, const void *v_cache,
                          const int32_t *block_table, const int32_t *seq_lens,
                          const float *sinks, void *out, float *lse,
                          int32_t batch, int32_t max_blocks_per_seq,
                          float softmax_scale, float kv_scale, void *stream);

/* NAME_checked(...) for kernel `k`: page ids checked against num_blocks,
   then NAME(...). */
int32_t mla_cpu_decode_checked_v6(
    const mla_cpu_kernel *k, const void *q, const void *kv_cache,
    const void *v_cache, int32_t num_blocks, const int32_t *block_table,
    const int32_t *seq_lens, const float *sinks, void *out, float *lse,
    int32_t batch, int32_t max_blocks_per_seq, float softmax_scale,
    float kv_scale, void *stream);

/* NAME_num_splits(...) for kernel `k`. */
int32_t mla_cpu_num_splits_v6(const mla_cpu_kernel *k, int32_t batch,
                              int32_t max_seq_len, int32_t threads);

#ifdef __cplusplus
}
#endif

#endif /* MLA_RUNTIME_CPUKERNEL_H */
