// fp8 rows with group scales (scales = row_groups) through the named CPU
// pipeline, run: one cached token whose 256 e4m3 values are every finite
// code (0x00 .. 0x7E, 0x80 .. 0xFE, then two 0x00) with a scale of 1, and a
// zero query, so that the output is the dequantized row itself: each code's
// exact value, subnormals (2^-9 .. 7/8 2^-6) and +-448 included (-0 adds
// to the zero accumulator as +0).
// RUN: mla-opt %s --mla-lower-to-cpu="kernel-name=k vector-width=4 num-splits=1" \
// RUN: | mlir-runner -e main -entry-point-result=void \
// RUN:   -shared-libs=%mlir_c_runner_utils \
// RUN: | FileCheck %s --check-prefix=VAL
// RUN: mla-opt %s --convert-mla-to-cpu="kernel-name=k vector-width=4 num-splits=1" | FileCheck %s

// The cache is bytes; a vector of 4 codes becomes f32 by integer ops (the
// exponent rebiased by 120 for normals, m * 2^-9 for subnormals, NaN for
// s1111111, the sign or-ed back), times its group's f32 scale, loaded from
// the row's bytes after the d_c values.
// CHECK-LABEL: func.func @k_partial(
// CHECK-SAME: %{{.*}}: memref<?xf32>, %[[KV:.+]]: memref<?xi8>,
// CHECK: %[[BYTES:.+]] = vector.load %[[KV]][%{{.*}}] : memref<?xi8>, vector<4xi8>
// CHECK: %[[SCALE:.+]] = vector.load %[[KV]][%{{.*}}] : memref<?xi8>, vector<4xi8>
// CHECK: %[[S:.+]] = vector.bitcast %[[SCALE]] : vector<4xi8> to vector<1xf32>
// CHECK: arith.extui %[[BYTES]] : vector<4xi8> to vector<4xi32>
// CHECK: arith.uitofp %{{.*}} : vector<4xi32> to vector<4xf32>
// CHECK: arith.cmpi ult
// CHECK: arith.cmpi eq
// CHECK: %[[VALUES:.+]] = arith.bitcast %{{.*}} : vector<4xi32> to vector<4xf32>
// CHECK: arith.mulf %[[VALUES]], %{{.*}} : vector<4xf32>

func.func @attend(%q: tensor<?x1x1x256xf32>, %cache: tensor<?x1x260xi8>,
                  %bt: tensor<?x?xi32>, %lens: tensor<?xi32>)
    -> (tensor<?x1x1x256xf32>, tensor<?x1x1xf32>) {
  %out, %lse = mla.decode_attention %q, %cache[%bt, %lens] {scale = 1.0 : f32, variant = #mla.decode_variant<scales = row_groups, scale_group = 256>} : tensor<?x1x1x256xf32>, tensor<?x1x260xi8>[tensor<?x?xi32>, tensor<?xi32>] -> tensor<?x1x1x256xf32>, tensor<?x1x1xf32>
  return %out, %lse : tensor<?x1x1x256xf32>, tensor<?x1x1xf32>
}

// VAL: ( 0, 0.00195312, 0.00390625, 0.00585938, 0.0078125, 0.00976562, 0.0117188, 0.0136719, 0.015625, 0.0175781, 0.0195312, 0.0214844, 0.0234375, 0.0253906, 0.0273438, 0.0292969 )
// VAL: ( 0.03125, 0.0351562, 0.0390625, 0.0429688, 0.046875, 0.0507812, 0.0546875, 0.0585938, 0.0625, 0.0703125, 0.078125, 0.0859375, 0.09375, 0.101562, 0.109375, 0.117188 )
// VAL: ( 0.125, 0.140625, 0.15625, 0.171875, 0.1875, 0.203125, 0.21875, 0.234375, 0.25, 0.28125, 0.3125, 0.34375, 0.375, 0.40625, 0.4375, 0.46875 )
// VAL: ( 0.5, 0.5625, 0.625, 0.6875, 0.75, 0.8125, 0.875, 0.9375, 1, 1.125, 1.25, 1.375, 1.5, 1.625, 1.75, 1.875 )
// VAL: ( 2, 2.25, 2.5, 2.75, 3, 3.25, 3.5, 3.75, 4, 4.5, 5, 5.5, 6, 6.5, 7, 7.5 )
// VAL: ( 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 20, 22, 24, 26, 28, 30 )
// VAL: ( 32, 36, 40, 44, 48, 52, 56, 60, 64, 72, 80, 88, 96, 104, 112, 120 )
// VAL: ( 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 0 )
// VAL: ( -0.00195312, -0.00390625, -0.00585938, -0.0078125, -0.00976562, -0.0117188, -0.0136719, -0.015625, -0.0175781, -0.0195312, -0.0214844, -0.0234375, -0.0253906, -0.0273438, -0.0292969, -0.03125 )
// VAL: ( -0.0351562, -0.0390625, -0.0429688, -0.046875, -0.0507812, -0.0546875, -0.0585938, -0.0625, -0.0703125, -0.078125, -0.0859375, -0.09375, -0.101562, -0.109375, -0.117188, -0.125 )
// VAL: ( -0.140625, -0.15625, -0.171875, -0.1875, -0.203125, -0.21875, -0.234375, -0.25, -0.28125, -0.3125, -0.34375, -0.375, -0.40625, -0.4375, -0.46875, -0.5 )
// VAL: ( -0.5625, -0.625, -0.6875, -0.75, -0.8125, -0.875, -0.9375, -1, -1.125, -1.25, -1.375, -1.5, -1.625, -1.75, -1.875, -2 )
// VAL: ( -2.25, -2.5, -2.75, -3, -3.25, -3.5, -3.75, -4, -4.5, -5, -5.5, -6, -6.5, -7, -7.5, -8 )
// VAL: ( -9, -10, -11, -12, -13, -14, -15, -16, -18, -20, -22, -24, -26, -28, -30, -32 )
// VAL: ( -36, -40, -44, -48, -52, -56, -60, -64, -72, -80, -88, -96, -104, -112, -120, -128 )
// VAL: ( -144, -160, -176, -192, -208, -224, -240, -256, -288, -320, -352, -384, -416, -448, 0, 0 )
func.func @main() {
  %q = arith.constant dense<0.0> : tensor<1x1x1x256xf32>
  %cache = arith.constant dense<[[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, -128, -127, -126, -125, -124, -123, -122, -121, -120, -119, -118, -117, -116, -115, -114, -113, -112, -111, -110, -109, -108, -107, -106, -105, -104, -103, -102, -101, -100, -99, -98, -97, -96, -95, -94, -93, -92, -91, -90, -89, -88, -87, -86, -85, -84, -83, -82, -81, -80, -79, -78, -77, -76, -75, -74, -73, -72, -71, -70, -69, -68, -67, -66, -65, -64, -63, -62, -61, -60, -59, -58, -57, -56, -55, -54, -53, -52, -51, -50, -49, -48, -47, -46, -45, -44, -43, -42, -41, -40, -39, -38, -37, -36, -35, -34, -33, -32, -31, -30, -29, -28, -27, -26, -25, -24, -23, -22, -21, -20, -19, -18, -17, -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, 0, 0, 0, 0, -128, 63]]]> : tensor<1x1x260xi8>
  %bt = arith.constant dense<[[0]]> : tensor<1x1xi32>
  %lens = arith.constant dense<[1]> : tensor<1xi32>
  %qd = tensor.cast %q : tensor<1x1x1x256xf32> to tensor<?x1x1x256xf32>
  %cd = tensor.cast %cache : tensor<1x1x260xi8> to tensor<?x1x260xi8>
  %btd = tensor.cast %bt : tensor<1x1xi32> to tensor<?x?xi32>
  %ld = tensor.cast %lens : tensor<1xi32> to tensor<?xi32>
  %out, %lse = func.call @attend(%qd, %cd, %btd, %ld) : (tensor<?x1x1x256xf32>, tensor<?x1x260xi8>, tensor<?x?xi32>, tensor<?xi32>) -> (tensor<?x1x1x256xf32>, tensor<?x1x1xf32>)
  %c0 = arith.constant 0 : index
  %c16 = arith.constant 16 : index
  %c256 = arith.constant 256 : index
  %pad = arith.constant 0.0 : f32
  scf.for %i = %c0 to %c256 step %c16 {
    %v = vector.transfer_read %out[%c0, %c0, %c0, %i], %pad {in_bounds = [true]} : tensor<?x1x1x256xf32>, vector<16xf32>
    vector.print %v : vector<16xf32>
  }
  return
}
