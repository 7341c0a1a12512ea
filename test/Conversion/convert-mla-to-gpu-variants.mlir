// Token indices (sparse decode), fp8 rows with group scales and e4m3 codes
// with one scale on the GPU: all take the mma.sync kernel (also on sm_90a:
// their tiles are gathered row by row or dequantized, which TMA boxes are
// not) or, in f32, the SIMT kernel.
// RUN: mla-opt %s -split-input-file --convert-mla-to-gpu="kernel-name=k num-splits=2 arch=sm_90a" | FileCheck %s
// RUN: mla-opt %s -split-input-file --convert-mla-to-gpu="kernel-name=k num-splits=2 arch=sm_80" | FileCheck %s --check-prefix=INT
// RUN: mla-opt %s -split-input-file --pass-pipeline="builtin.module(mla-lower-to-nvvm{arch=sm_80}, gpu-module-to-binary{format=isa})" | FileCheck %s --check-prefixes=PTX,PTX80
// RUN: mla-opt %s -split-input-file --pass-pipeline="builtin.module(mla-lower-to-nvvm{arch=sm_90a}, gpu-module-to-binary{format=isa})" | FileCheck %s --check-prefixes=PTX,PTX90

// A group per query token (its index row is the group's set of keys): 2
// groups for q_len 2 of 4 heads. A tile's token j is slot ts + j of the
// row, clamped into it (63); a slot at or past the split's end or of a
// negative index holds no token (-1): its row is copied as zeros, cp.async
// with a source size of 0.
// CHECK-LABEL: func.func @indices
// CHECK: gpu.launch_func @k_kernels::@partial blocks in (%c2, %c2{{.*}}, %{{.*}}) threads in
// CHECK: gpu.func @partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xbf16>, %[[IDX:.+]]: memref<?xi32>, %{{.*}}: memref<?xi32>,
// CHECK-NOT: nvgpu.tma
// CHECK: %[[C63:.+]] = arith.constant 63 : index
// CHECK-NEXT: %[[SLOT:.+]] = arith.minsi %{{.*}}, %[[C63]] : index
// CHECK-NEXT: %[[AT:.+]] = arith.addi %{{.*}}, %[[SLOT]] : index
// CHECK-NEXT: %[[ID32:.+]] = memref.load %[[IDX]][%[[AT]]] : memref<?xi32>
// CHECK-NEXT: %[[ID:.+]] = arith.index_cast %[[ID32]] : i32 to index
// CHECK-NEXT: %[[INSPLIT:.+]] = arith.cmpi slt, %{{.*}}, %{{.*}} : index
// CHECK: %[[NONNEG:.+]] = arith.cmpi sge, %[[ID]], %{{.*}} : index
// CHECK-NEXT: %[[VALID:.+]] = arith.andi %[[INSPLIT]], %[[NONNEG]] : i1
// CHECK: %[[ROW:.+]] = arith.select %[[VALID]], %[[ID]], %c-1{{.*}} : index
// CHECK: %[[HOLDS:.+]] = arith.cmpi sge, %[[ROW]], %{{.*}} : index
// CHECK: %[[SIZE:.+]] = arith.select %[[HOLDS]], %c16_i32{{.*}}, %c0_i32{{.*}} : i32
// CHECK: nvvm.cp.async.shared.global %{{.*}}, %{{.*}}, 16, cache =  cg, %[[SIZE]] : !llvm.ptr<3>, !llvm.ptr<1>, i32
// CHECK: nvvm.mma.sync
// PTX-LABEL: .entry partial(
// PTX: cp.async.cg.shared.global [%rd{{[0-9]+}}{{.*}}], [%rd{{[0-9]+}}{{.*}}], 16, %r{{[0-9]+}};
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @indices(%q: tensor<?x2x4x48xbf16>, %c: tensor<?x16x48xbf16>, %idx: tensor<?x2x64xi32>, %l: tensor<?xi32>) -> tensor<?x2x4x32xbf16> {
  %o, %lse = mla.decode_attention %q, %c[%idx, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices>} : tensor<?x2x4x48xbf16>, tensor<?x16x48xbf16>[tensor<?x2x64xi32>, tensor<?xi32>] -> tensor<?x2x4x32xbf16>, tensor<?x4x2xf32>
  return %o : tensor<?x2x4x32xbf16>
}

// -----

// fp8 rows of d_c 32 (groups of 16: 2 f32 scales) and d_r 16 (bf16): 72
// bytes. The cache is bytes; a latent chunk's 8 codes are two aligned
// words, decoded, scaled by the group's scale (the word after the d_c
// codes) in f32 and stored to the tile as 16 bytes of bf16. sm_90a decodes
// two codes an instruction (cvt.rn.f16x2.e4m3x2, the low byte to the low
// half); sm_80 by integer ops (the exponent rebiased by 120).
// CHECK-LABEL: func.func @fp8_rows
// CHECK: gpu.func @partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi8>,
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: %[[SCALE:.+]] = llvm.bitcast %{{.*}} : i32 to f32
// CHECK: %[[WORD:.+]] = llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: %[[LOW:.+]] = arith.trunci %[[WORD]] : i32 to i16
// CHECK-NEXT: llvm.bitcast %[[LOW]] : i16 to vector<2xi8>
// CHECK: %[[SHIFTED:.+]] = arith.shrui %[[WORD]], %c16_i32{{.*}} : i32
// CHECK-NEXT: %[[HALF:.+]] = arith.trunci %[[SHIFTED]] : i32 to i16
// CHECK-NEXT: %[[PAIR:.+]] = llvm.bitcast %[[HALF]] : i16 to vector<2xi8>
// CHECK-NEXT: %[[H:.+]] = nvvm.convert.f8x2.to.f16x2 %[[PAIR]] : vector<2xi8>(f8E4M3FN) -> vector<2xf16>
// CHECK: llvm.extractelement %[[H]]
// CHECK: arith.extf %{{.*}} : f16 to f32
// CHECK: arith.mulf %{{.*}}, %[[SCALE]] : f32
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// CHECK: nvvm.mma.sync
// INT-LABEL: func.func @fp8_rows
// INT: gpu.func @partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xi8>,
// INT-NOT: nvvm.convert.f8x2
// INT: %[[SCALE:.+]] = llvm.bitcast %{{.*}} : i32 to f32
// INT: arith.shrui
// INT: arith.trunci %{{.*}} : i32 to i8
// INT: arith.constant 1006632960 : i32
// INT: arith.mulf %{{.*}}, %[[SCALE]] : f32
// INT: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// PTX-LABEL: .entry partial(
// PTX80-NOT: e4m3x2
// PTX90: cvt.rn.f16x2.e4m3x2
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @fp8_rows(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x72xi8>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xbf16> {
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 16>} : tensor<?x1x4x48xbf16>, tensor<?x16x72xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

// f16 queries: the codes are scaled and rounded to f16, and each rope word
// (two bf16 values) is widened (the low value shifted up, the high one
// masked) and rounded to f16 too.
// CHECK-LABEL: func.func @fp8_rows_f16
// CHECK: gpu.func @partial(%{{.*}}: memref<?xf16>, %{{.*}}: memref<?xi8>,
// CHECK: arith.mulf %{{.*}}, %{{.*}} : f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// CHECK: } else {
// CHECK: %[[ROPE:.+]] = llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: %[[LO:.+]] = arith.shli %[[ROPE]], %c16_i32{{.*}} : i32
// CHECK: llvm.bitcast %[[LO]] : i32 to f32
// CHECK: %[[HI:.+]] = arith.andi %[[ROPE]], %c-65536_i32{{.*}} : i32
// CHECK: llvm.bitcast %[[HI]] : i32 to f32
// CHECK: arith.truncf %{{.*}} : f32 to f16
// PTX-LABEL: .entry partial(
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32
func.func @fp8_rows_f16(%q: tensor<?x1x4x48xf16>, %c: tensor<?x16x72xi8>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x32xf16> {
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 16>} : tensor<?x1x4x48xf16>, tensor<?x16x72xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xf16>
}

// -----

// f32 queries over fp8 rows and token indices: the SIMT kernel reads each
// code as a byte and each scale as four, and loads zeros for a slot
// without a token.
// CHECK-LABEL: func.func @fp8_sparse_f32
// CHECK: gpu.func @partial(%{{.*}}: memref<?xf32>, %[[KV:.+]]: memref<?xi8>, %{{.*}}: memref<?xi32>,
// CHECK: scf.if %{{.*}} -> (f32) {
// CHECK: memref.load %[[KV]][%{{.*}}] : memref<?xi8>
// CHECK: arith.constant 1006632960 : i32
// CHECK: } else {
// CHECK: scf.yield %cst{{.*}} : f32
// PTX-LABEL: .entry partial(
// PTX-NOT: mma
// PTX: ld.global.b8
func.func @fp8_sparse_f32(%q: tensor<?x1x4x96xf32>, %c: tensor<?x16x136xi8>, %idx: tensor<?x1x40xi32>, %l: tensor<?xi32>) -> tensor<?x1x4x64xf32> {
  %o, %lse = mla.decode_attention %q, %c[%idx, %l] {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices, scales = row_groups, scale_group = 32>} : tensor<?x1x4x96xf32>, tensor<?x16x136xi8>[tensor<?x1x40xi32>, tensor<?xi32>] -> tensor<?x1x4x64xf32>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x64xf32>
}

// -----

// e4m3 codes with one scale (scales = per_tensor), rope included: every
// chunk is 8 codes, decoded and stored unscaled (no scale word is read, no
// multiply: the codes are exact in bf16), with no latent/rope branch. The
// launch passes the partial kernel scale * cache_scale and the combine the
// scale, which divides by each row's total in place of 1.
// CHECK-LABEL: func.func @fp8_tensor
// CHECK: %[[KV:.+]] = tensor.extract %{{.*}}[] : tensor<f32>
// CHECK: %[[SCORE:.+]] = arith.mulf %{{.*}}, %[[KV]] : f32
// CHECK: gpu.launch_func @k_kernels::@partial {{.*}} args({{.*}} : memref<?xbf16>, %{{.*}} : memref<?xf8E4M3FN>, {{.*}}, %[[SCORE]] : f32)
// CHECK: gpu.launch_func @k_kernels::@combine {{.*}}, %[[KV]] : f32)
// CHECK: gpu.func @partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xf8E4M3FN>,
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK: llvm.load %{{.*}} {alignment = 4 : i64} : !llvm.ptr<1> -> i32
// CHECK-NOT: scf.if
// CHECK: nvvm.convert.f8x2.to.f16x2
// CHECK: %[[WIDE:.+]] = arith.extf %{{.*}} : f16 to f32
// CHECK-NOT: arith.mulf
// CHECK: arith.truncf %[[WIDE]] : f32 to bf16
// CHECK: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// CHECK: gpu.func @combine(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %[[VS:.+]]: f32)
// CHECK: arith.divf %[[VS]], %{{.*}} : f32
// INT-LABEL: func.func @fp8_tensor
// INT: gpu.func @partial(%{{.*}}: memref<?xbf16>, %{{.*}}: memref<?xf8E4M3FN>,
// INT-NOT: nvvm.convert.f8x2
// INT: arith.trunci %{{.*}} : i32 to i8
// INT: arith.constant 1006632960 : i32
// INT: llvm.store %{{.*}}, %{{.*}} {alignment = 16 : i64} : vector<4xi32>, !llvm.ptr<3>
// PTX-LABEL: .entry partial(
// PTX80-NOT: e4m3x2
// PTX90: cvt.rn.f16x2.e4m3x2
// PTX: mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32
func.func @fp8_tensor(%q: tensor<?x1x4x48xbf16>, %c: tensor<?x16x48xf8E4M3FN>, %bt: tensor<?x?xi32>, %l: tensor<?xi32>, %s: tensor<f32>) -> tensor<?x1x4x32xbf16> {
  %o, %lse = mla.decode_attention %q, %c[%bt, %l] cache_scale(%s : tensor<f32>) {scale = 0.25 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<?x1x4x48xbf16>, tensor<?x16x48xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x4x32xbf16>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x32xbf16>
}

// -----

// f32 queries over e4m3 codes with one scale, token indices and sinks: the
// SIMT kernel reads each code as an f8E4M3FN element, its bits as a byte;
// the combine takes the scale before the sinks.
// CHECK-LABEL: func.func @fp8_tensor_sparse_sinks_f32
// CHECK: gpu.func @partial(%{{.*}}: memref<?xf32>, %[[KV:.+]]: memref<?xf8E4M3FN>, %{{.*}}: memref<?xi32>,
// CHECK: %[[CODE:.+]] = memref.load %[[KV]][%{{.*}}] : memref<?xf8E4M3FN>
// CHECK-NEXT: arith.bitcast %[[CODE]] : f8E4M3FN to i8
// CHECK: gpu.func @combine(%{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xf32>, %{{.*}}: index, %{{.*}}: f32, %{{.*}}: memref<?xf32>)
// PTX-LABEL: .entry partial(
// PTX-NOT: mma
// PTX: ld.global.b8
func.func @fp8_tensor_sparse_sinks_f32(%q: tensor<?x1x4x96xf32>, %c: tensor<?x16x96xf8E4M3FN>, %idx: tensor<?x1x40xi32>, %l: tensor<?xi32>, %sk: tensor<4xf32>, %s: tensor<f32>) -> tensor<?x1x4x64xf32> {
  %o, %lse = mla.decode_attention %q, %c[%idx, %l] sinks(%sk : tensor<4xf32>) cache_scale(%s : tensor<f32>) {scale = 0.25 : f32, variant = #mla.decode_variant<keys = indices, scales = per_tensor>} : tensor<?x1x4x96xf32>, tensor<?x16x96xf8E4M3FN>[tensor<?x1x40xi32>, tensor<?xi32>] -> tensor<?x1x4x64xf32>, tensor<?x4x1xf32>
  return %o : tensor<?x1x4x64xf32>
}
