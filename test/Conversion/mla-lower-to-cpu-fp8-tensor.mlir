// e4m3 codes with one scale for the cache (scales = per_tensor) through
// the named CPU pipeline, run: one cached token whose 256 codes are every
// finite code (0x00 .. 0x7E, 0x80 .. 0xFE, then two 0x00), a cache_scale of
// 2 and a zero query, so that the output is the row's values, each code's
// exact value times 2 (subnormals and +-448 included), and lse = ln 1.
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=1" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=4 num-splits=1" | FileCheck %s

// The launch reads the scale once: the partial kernel scores with
// scale * cache_scale, and the combine multiplies the outputs by it.
// CHECK-LABEL: func.func @attend(
// CHECK: %[[SCALE:.+]] = arith.constant 1.000000e+00 : f32
// CHECK: %[[KV:.+]] = tensor.extract %{{.*}}[] : tensor<f32>
// CHECK: %[[SCORE:.+]] = arith.mulf %[[SCALE]], %[[KV]] : f32
// CHECK: func.call @k_partial({{.*}}, %[[SCORE]]) : (memref<?xf32>, memref<?xf8E4M3FN>,
// CHECK: func.call @k_combine({{.*}}, %[[KV]]) : ({{.*}}, f32) -> ()

// The partial kernel reads the codes as bytes, unscaled: no scale is loaded
// from the cache.
// CHECK-LABEL: func.func @k_partial(
// CHECK-SAME: %{{.*}}: memref<?xf32>, %[[CACHE:.+]]: memref<?xf8E4M3FN>,
// CHECK: %[[CODES:.+]] = vector.load %[[CACHE]][%{{.*}}] : memref<?xf8E4M3FN>, vector<4xf8E4M3FN>
// CHECK-NEXT: %[[BYTES:.+]] = arith.bitcast %[[CODES]] : vector<4xf8E4M3FN> to vector<4xi8>
// CHECK: arith.extui %[[BYTES]] : vector<4xi8> to vector<4xi32>
// CHECK-NOT: vector.bitcast {{.*}} to vector<1xf32>
// CHECK-LABEL: func.func @k_combine(
// CHECK-SAME: %[[VS:[^:]+]]: f32)
// CHECK: arith.divf %[[VS]], %{{.*}} : f32

func.func @attend(%q: tensor<?x1x1x256xf32>, %cache: tensor<?x1x256xf8E4M3FN>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>, %s: tensor<f32>)
    -> (tensor<?x1x1x256xf32>, tensor<?x1x1xf32>) {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] cache_scale(%s : tensor<f32>) {scale = 1.0 : f32, variant = #mla.decode_variant<scales = per_tensor>} : tensor<?x1x1x256xf32>, tensor<?x1x256xf8E4M3FN>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x1x256xf32>, tensor<?x1x1xf32>
  return %out, %lse : tensor<?x1x1x256xf32>, tensor<?x1x1xf32>
}

// VAL: ( 0, 0.00390625, 0.0078125, 0.0117188, 0.015625, 0.0195312, 0.0234375, 0.0273438, 0.03125, 0.0351562, 0.0390625, 0.0429688, 0.046875, 0.0507812, 0.0546875, 0.0585938 )
// VAL: ( 0.0625, 0.0703125, 0.078125, 0.0859375, 0.09375, 0.101562, 0.109375, 0.117188, 0.125, 0.140625, 0.15625, 0.171875, 0.1875, 0.203125, 0.21875, 0.234375 )
// VAL: ( 0.25, 0.28125, 0.3125, 0.34375, 0.375, 0.40625, 0.4375, 0.46875, 0.5, 0.5625, 0.625, 0.6875, 0.75, 0.8125, 0.875, 0.9375 )
// VAL: ( 1, 1.125, 1.25, 1.375, 1.5, 1.625, 1.75, 1.875, 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75 )
// VAL: ( 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5, 8, 9, 10, 11, 12, 13, 14, 15 )
// VAL: ( 16, 18, 20, 22, 24, 26, 28, 30, 32, 36, 40, 44, 48, 52, 56, 60 )
// VAL: ( 64, 72, 80, 88, 96, 104, 112, 120, 128, 144, 160, 176, 192, 208, 224, 240 )
// VAL: ( 256, 288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 832, 896, 0 )
// VAL: ( -0.00390625, -0.0078125, -0.0117188, -0.015625, -0.0195312, -0.0234375, -0.0273438, -0.03125, -0.0351562, -0.0390625, -0.0429688, -0.046875, -0.0507812, -0.0546875, -0.0585938, -0.0625 )
// VAL: ( -0.0703125, -0.078125, -0.0859375, -0.09375, -0.101562, -0.109375, -0.117188, -0.125, -0.140625, -0.15625, -0.171875, -0.1875, -0.203125, -0.21875, -0.234375, -0.25 )
// VAL: ( -0.28125, -0.3125, -0.34375, -0.375, -0.40625, -0.4375, -0.46875, -0.5, -0.5625, -0.625, -0.6875, -0.75, -0.8125, -0.875, -0.9375, -1 )
// VAL: ( -1.125, -1.25, -1.375, -1.5, -1.625, -1.75, -1.875, -2, -2.25, -2.5, -2.75, -3, -3.25, -3.5, -3.75, -4 )
// VAL: ( -4.5, -5, -5.5, -6, -6.5, -7, -7.5, -8, -9, -10, -11, -12, -13, -14, -15, -16 )
// VAL: ( -18, -20, -22, -24, -26, -28, -30, -32, -36, -40, -44, -48, -52, -56, -60, -64 )
// VAL: ( -72, -80, -88, -96, -104, -112, -120, -128, -144, -160, -176, -192, -208, -224, -240, -256 )
// VAL: ( -288, -320, -352, -384, -416, -448, -480, -512, -576, -640, -704, -768, -832, -896, 0, 0 )
// VAL: ( 0 )
func.func @main() {
  %q = arith.constant dense<0.0> : tensor<1x1x1x256xf32>
  %cache = arith.constant dense<"0x000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F202122232425262728292A2B2C2D2E2F303132333435363738393A3B3C3D3E3F404142434445464748494A4B4C4D4E4F505152535455565758595A5B5C5D5E5F606162636465666768696A6B6C6D6E6F707172737475767778797A7B7C7D7E808182838485868788898A8B8C8D8E8F909192939495969798999A9B9C9D9E9FA0A1A2A3A4A5A6A7A8A9AAABACADAEAFB0B1B2B3B4B5B6B7B8B9BABBBCBDBEBFC0C1C2C3C4C5C6C7C8C9CACBCCCDCECFD0D1D2D3D4D5D6D7D8D9DADBDCDDDEDFE0E1E2E3E4E5E6E7E8E9EAEBECEDEEEFF0F1F2F3F4F5F6F7F8F9FAFBFCFDFE0000"> : tensor<1x1x256xf8E4M3FN>
  %bt = arith.constant dense<[[0]]> : tensor<1x1xi32>
  %lens = arith.constant dense<[1]> : tensor<1xi32>
  %s = arith.constant dense<2.0> : tensor<f32>
  %qd = tensor.cast %q : tensor<1x1x1x256xf32> to tensor<?x1x1x256xf32>
  %cd = tensor.cast %cache : tensor<1x1x256xf8E4M3FN> to tensor<?x1x256xf8E4M3FN>
  %btd = tensor.cast %bt : tensor<1x1xi32> to tensor<?x?xi32>
  %ld = tensor.cast %lens : tensor<1xi32> to tensor<?xi32>
  %out, %lse = func.call @attend(%qd, %cd, %btd, %ld, %s) : (tensor<?x1x1x256xf32>, tensor<?x1x256xf8E4M3FN>, tensor<?x?xi32>, tensor<?xi32>, tensor<f32>) -> (tensor<?x1x1x256xf32>, tensor<?x1x1xf32>)
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c256 = arith.constant 256 : index
  %pad = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c256 step %c16 {
    %v = vector.transfer_read %out[%c0, %c0, %c0, %i], %pad {in_bounds = [true]} : tensor<?x1x1x256xf32>, vector<16xf32>
    vector.print %v : vector<16xf32>
  }
  %lv = vector.transfer_read %lse[%c0, %c0, %c0], %pad {in_bounds = [true]} : tensor<?x1x1xf32>, vector<1xf32>
  vector.print %lv : vector<1xf32>
  return
}
