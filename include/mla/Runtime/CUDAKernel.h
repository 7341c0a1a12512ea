/*===- CUDAKernel.h - a generated GPU kernel, as the runtime sees it -*- C -*-===
 *
 * A libNAME.so that mla-codegen writes for sm_80/sm_90a holds its cubin and
 * a constant `mla_cuda_kernel` describing it; NAME and NAME_num_splits call
 * the prebuilt host runtime (libmla_cuda_runtime, on the CUDA driver API)
 * with it, which loads the cubin into the current context, checks the
 * arguments, encodes the wgmma kernel's tensor maps and launches. The entry
 * symbols carry the layout's version.
 *
 *===----------------------------------------------------------------------===*/

#ifndef MLA_RUNTIME_CUDAKERNEL_H
#define MLA_RUNTIME_CUDAKERNEL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Fields are 64-bit so that the generated constant has no padding. */
typedef struct mla_cuda_kernel {
  int64_t num_heads, q_len, kv_lora_rank, qk_rope_head_dim, block_size;
  int64_t rows_per_group; /* query rows of one CTA of the partial kernel */
  int64_t threads;        /* of the partial kernel */
  int64_t shared_bytes;   /* its dynamic shared memory */
  int64_t tensor_cores;   /* 1: q and kv_cache must be 16-byte aligned */
  int64_t elem_bytes;     /* 4 (f32) or 2 */
  int64_t elem_bf16;      /* 1: bf16, else f16 when 2 bytes */
  int64_t tma_box_rows;   /* the wgmma kernel's cache rows per TMA box; 0:
                             the kernel takes no tensor maps */
  int64_t sinks;          /* 1: the combine takes per-head sink logits */
  int64_t num_kv_heads;   /* head caches (GQA/MQA/MHA): their KV heads, and
                             kv_lora_rank is the head dim; 0: a latent cache */
  int64_t topk;           /* token indices: the slots of an index row (the
                             block table is indices [batch, q_len, topk]);
                             0: pages */
  int64_t cache_row_bytes; /* fp8 rows with group scales: a cache row's
                              bytes; 0: rows of elem_bytes elements */
  int64_t kv_scale;        /* 1: an fp8 cache with one scale (rows of
                              e4m3 codes): the partial kernel takes
                              softmax_scale * kv_scale, the combine kv_scale
                              after the split count */
  int64_t cubin_size;
  const void *cubin;
} mla_cuda_kernel;

/* The contract's NAME(...) for kernel `k`, with the value cache after the
   key cache (NULL for a latent cache), the sinks after seq_lens (NULL for a
   library without) and the cache's fp8 scale after softmax_scale (1 for a
   library without). */
int32_t mla_cuda_decode_v5(const mla_cuda_kernel *k, const void *q,
                           const void *kv_cache, const void *v_cache,
                           const int32_t *block_table, const int32_t *seq_lens,
                           const float *sinks, void *out, float *lse,
                           int32_t batch, int32_t max_blocks_per_seq,
                           float softmax_scale, float kv_scale, void *stream);

int32_t mla_cuda_num_splits_v5(const mla_cuda_kernel *k, int32_t batch,
                               int32_t max_seq_len, int32_t sms);

#ifdef __cplusplus
}
#endif

#endif /* MLA_RUNTIME_CUDAKERNEL_H */
