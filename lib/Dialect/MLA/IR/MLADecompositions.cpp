//===- MLADecompositions.cpp - the ops as linalg/tensor/scf -----*- C++ -*-===//
//
// Each op's semantics as upstream ops on tensors (linalg.AggregatedOpInterface,
// as IREE keeps its attention decompositions on the op). Contractions
// accumulate in f32 and round once at the end; RoPE angles are computed in
// f64 so that long positions keep their precision.
//
//===----------------------------------------------------------------------===//

#include "mla/Dialect/MLA/IR/MLADecompositions.h"
#include "mla/Dialect/MLA/IR/MLAOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

#include <limits>

using namespace mlir;
using namespace mlir::mla;
using utils::IteratorType;

namespace {

/// The sizes of `type`, taking dynamic ones from `(source, dim)` pairs.
SmallVector<Value> dynamicSizes(OpBuilder &b, Location loc,
                                RankedTensorType type,
                                ArrayRef<std::pair<Value, int64_t>> sources) {
  SmallVector<Value> sizes;
  for (int64_t d = 0; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      sizes.push_back(tensor::DimOp::create(b, loc, sources[d].first,
                                            sources[d].second));
  return sizes;
}

Value castTo(OpBuilder &b, Location loc, Type t, Value v) {
  if (v.getType() == t)
    return v;
  if (cast<FloatType>(t).getWidth() > cast<FloatType>(v.getType()).getWidth())
    return arith::ExtFOp::create(b, loc, t, v);
  return arith::TruncFOp::create(b, loc, t, v);
}

AffineMap map(MLIRContext *ctx, unsigned dims, ArrayRef<unsigned> results) {
  SmallVector<AffineExpr> exprs;
  for (unsigned r : results)
    exprs.push_back(getAffineDimExpr(r, ctx));
  return AffineMap::get(dims, 0, exprs, ctx);
}

SmallVector<IteratorType> iterators(unsigned parallel, unsigned reduction) {
  SmallVector<IteratorType> it(parallel, IteratorType::parallel);
  it.append(reduction, IteratorType::reduction);
  return it;
}

Value indexCast(OpBuilder &b, Location loc, Value v) {
  return arith::IndexCastOp::create(b, loc, b.getIndexType(), v);
}

Value i32c(OpBuilder &b, Location loc, int64_t v) {
  return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(int32_t(v)));
}

Value f32c(OpBuilder &b, Location loc, float v) {
  return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
}

/// The e4m3fn code (i8) of an f32: nearest, ties to even, saturating at
/// +-448, NaN as s1111111 (what mla.fp8.to_e4m3 and mla::ref compute).
/// Integer ops, so that no target needs an fp8 type.
Value encodeE4M3(OpBuilder &b, Location loc, Value y) {
  Type i32 = b.getI32Type();
  Value bits = arith::BitcastOp::create(b, loc, i32, y);
  Value neg = arith::CmpIOp::create(b, loc, arith::CmpIPredicate::slt, bits,
                                    i32c(b, loc, 0));
  Value isNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, y, y);
  Value a = arith::MinimumFOp::create(b, loc, math::AbsFOp::create(b, loc, y),
                                      f32c(b, loc, 448.0f));
  // Normal codes: the f32 rounded to 3 mantissa bits (a carry moves into
  // the exponent), rebiased from 127 to 7.
  Value abits = arith::BitcastOp::create(b, loc, i32, a);
  Value lsb = arith::AndIOp::create(
      b, loc, arith::ShRUIOp::create(b, loc, abits, i32c(b, loc, 20)),
      i32c(b, loc, 1));
  Value rounded = arith::ShRUIOp::create(
      b, loc,
      arith::AddIOp::create(
          b, loc, arith::AddIOp::create(b, loc, abits, i32c(b, loc, 0x7FFFF)),
          lsb),
      i32c(b, loc, 20));
  Value normal = arith::SubIOp::create(b, loc, rounded, i32c(b, loc, 960));
  // Below 2^-6: multiples of 2^-9.
  Value sub = arith::FPToUIOp::create(
      b, loc, i32,
      math::RoundEvenOp::create(
          b, loc, arith::MulFOp::create(b, loc, a, f32c(b, loc, 512.0f))));
  Value isSub = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::OLT, a,
                                      f32c(b, loc, 0.015625f));
  Value code = arith::SelectOp::create(b, loc, isSub, sub, normal);
  code = arith::SelectOp::create(b, loc, isNaN, i32c(b, loc, 0x7F), code);
  code = arith::OrIOp::create(b, loc, code,
                              arith::SelectOp::create(b, loc, neg,
                                                      i32c(b, loc, 0x80),
                                                      i32c(b, loc, 0)));
  return arith::TruncIOp::create(b, loc, b.getI8Type(), code);
}

/// Byte `k` (0 = least significant) of an i32.
Value byteOf(OpBuilder &b, Location loc, Value v, Value k) {
  Value shift = arith::MulIOp::create(b, loc, k, i32c(b, loc, 8));
  return arith::TruncIOp::create(b, loc, b.getI8Type(),
                                 arith::ShRUIOp::create(b, loc, v, shift));
}

/// The i32 of `n` little-endian bytes read by `byte(i)`.
Value fromBytes(OpBuilder &b, Location loc, int n,
                function_ref<Value(int)> byte) {
  Value v = i32c(b, loc, 0);
  for (int i = 0; i < n; ++i)
    v = arith::OrIOp::create(
        b, loc, v,
        arith::ShLIOp::create(
            b, loc, arith::ExtUIOp::create(b, loc, b.getI32Type(), byte(i)),
            i32c(b, loc, 8 * i)));
  return v;
}

/// The bf16 bits (in an i32) of a float: rounded to nearest even from f32,
/// NaN as 0x7FC0 (what mla.fp8.encode_rows writes).
Value bf16Bits(OpBuilder &b, Location loc, Value x) {
  Type bf16 = b.getBF16Type();
  Value isNaN = arith::CmpFOp::create(b, loc, arith::CmpFPredicate::UNO, x, x);
  if (x.getType() != bf16)
    x = arith::TruncFOp::create(b, loc, bf16,
                                castTo(b, loc, b.getF32Type(), x));
  Value bits = arith::ExtUIOp::create(
      b, loc, b.getI32Type(),
      arith::BitcastOp::create(b, loc, b.getI16Type(), x));
  return arith::SelectOp::create(b, loc, isNaN, i32c(b, loc, 0x7FC0), bits);
}
} // namespace


Value mlir::mla::buildF32Contraction(OpBuilder &b, Location loc, Value lhs,
                                     Value rhs, ArrayRef<AffineMap> maps,
                                     ArrayRef<IteratorType> iters,
                                     RankedTensorType resultType,
                                     ArrayRef<Value> dynSizes) {
  Type f32 = b.getF32Type();
  auto accType = resultType.clone(f32);
  Value init = tensor::EmptyOp::create(b, loc, accType, dynSizes);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  init = linalg::FillOp::create(b, loc, zero, init).getResult(0);
  Value acc =
      linalg::GenericOp::create(
          b, loc, TypeRange{accType}, ValueRange{lhs, rhs}, ValueRange{init},
          maps, iters, "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value p = arith::MulFOp::create(nb, nl, castTo(nb, nl, f32, a[0]),
                                            castTo(nb, nl, f32, a[1]));
            linalg::YieldOp::create(
                nb, nl, ValueRange{arith::AddFOp::create(nb, nl, a[2], p)});
          })
          .getResult(0);
  Type et = resultType.getElementType();
  if (et == f32)
    return acc;
  Value out = tensor::EmptyOp::create(b, loc, resultType, dynSizes);
  AffineMap id = b.getMultiDimIdentityMap(resultType.getRank());
  return linalg::GenericOp::create(
             b, loc, TypeRange{resultType}, ValueRange{acc}, ValueRange{out},
             ArrayRef<AffineMap>{id, id},
             SmallVector<IteratorType>(resultType.getRank(),
                                       IteratorType::parallel),
             "", "",
             [&](OpBuilder &nb, Location nl, ValueRange a) {
               linalg::YieldOp::create(nb, nl,
                                       ValueRange{castTo(nb, nl, et, a[0])});
             })
      .getResult(0);
}

FailureOr<SmallVector<Value>> LinearOp::decomposeOperation(OpBuilder &b) {
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto res = getResult().getType();
  unsigned r = res.getRank(); // dims: leading..., n, k
  SmallVector<unsigned> lhs, out;
  for (unsigned d = 0; d + 1 < r; ++d) {
    lhs.push_back(d);
    out.push_back(d);
  }
  lhs.push_back(r);
  out.push_back(r - 1);
  SmallVector<std::pair<Value, int64_t>> src;
  for (unsigned d = 0; d + 1 < r; ++d)
    src.push_back({getInput(), d});
  src.push_back({getWeight(), 1});
  return SmallVector<Value>{buildF32Contraction(
      b, loc, getInput(), getWeight(),
      {map(ctx, r + 1, lhs), map(ctx, r + 1, {r, r - 1}), map(ctx, r + 1, out)},
      iterators(r, 1), res, dynamicSizes(b, loc, res, src))};
}

FailureOr<SmallVector<Value>> HeadProjOp::decomposeOperation(OpBuilder &b) {
  // (b, s, h, n, k): out[b,s,h,n] += in[b,s,k] * w[h,k,n]
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto res = getResult().getType();
  return SmallVector<Value>{buildF32Contraction(
      b, loc, getInput(), getWeight(),
      {map(ctx, 5, {0, 1, 4}), map(ctx, 5, {2, 4, 3}),
       map(ctx, 5, {0, 1, 2, 3})},
      iterators(4, 1), res,
      dynamicSizes(b, loc, res,
                   {{getInput(), 0}, {getInput(), 1}, {getWeight(), 0},
                    {getWeight(), 2}}))};
}

FailureOr<SmallVector<Value>> HeadLinearOp::decomposeOperation(OpBuilder &b) {
  // (b, s, h, n, k): out[b,s,h,n] += in[b,s,h,k] * w[h,k,n] (or w[h,n,k])
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto res = getResult().getType();
  AffineMap w = getTransposeWeight() ? map(ctx, 5, {2, 3, 4})
                                     : map(ctx, 5, {2, 4, 3});
  return SmallVector<Value>{buildF32Contraction(
      b, loc, getInput(), getWeight(),
      {map(ctx, 5, {0, 1, 2, 4}), w, map(ctx, 5, {0, 1, 2, 3})},
      iterators(4, 1), res,
      dynamicSizes(b, loc, res,
                   {{getInput(), 0}, {getInput(), 1}, {getInput(), 2},
                    {getResult(), 3}}))};
}

FailureOr<SmallVector<Value>> OutProjOp::decomposeOperation(OpBuilder &b) {
  // (b, s, n, h, k): out[b,s,n] += in[b,s,h,k] * w3[h,k,n], w3 = w as [H,K,D]
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto in = getInput().getType();
  auto res = getResult().getType();
  int64_t heads = in.getDimSize(2), k = in.getDimSize(3),
          d = res.getDimSize(2);
  auto w3Type = RankedTensorType::get({heads, k, d}, in.getElementType());
  Value w3 = tensor::ExpandShapeOp::create(
      b, loc, w3Type, getWeight(),
      ArrayRef<ReassociationIndices>{{0, 1}, {2}});
  return SmallVector<Value>{buildF32Contraction(
      b, loc, getInput(), w3,
      {map(ctx, 5, {0, 1, 3, 4}), map(ctx, 5, {3, 4, 2}),
       map(ctx, 5, {0, 1, 2})},
      iterators(3, 2), res,
      dynamicSizes(b, loc, res,
                   {{getInput(), 0}, {getInput(), 1}, {getWeight(), 1}}))};
}

Value mlir::mla::buildE4M3ToF32(OpBuilder &b, Location loc, Value bytes) {
  auto vecTy = dyn_cast<VectorType>(bytes.getType());
  auto like = [&](Type elem) -> Type {
    return vecTy ? Type(VectorType::get(vecTy.getShape(), elem)) : elem;
  };
  Type i32 = like(b.getI32Type()), f32 = like(b.getF32Type());
  auto splat = [&](Type ty, TypedAttr v) -> Value {
    if (auto shaped = dyn_cast<ShapedType>(ty))
      return arith::ConstantOp::create(b, loc,
                                       DenseElementsAttr::get(shaped, v));
    return arith::ConstantOp::create(b, loc, v);
  };
  auto c = [&](int32_t v) { return splat(i32, b.getI32IntegerAttr(v)); };
  // e4m3fn: s eeee mmm, bias 7, no infinities, s 1111 111 NaN.
  Value x = arith::ExtUIOp::create(b, loc, i32, bytes);
  Value mag = arith::AndIOp::create(b, loc, x, c(0x7f));
  Value sign = arith::ShLIOp::create(
      b, loc, arith::AndIOp::create(b, loc, x, c(0x80)), c(24));
  // Normal: the exponent rebiased by 127 - 7, the mantissa's 3 bits on top.
  Value normal = arith::AddIOp::create(
      b, loc, arith::ShLIOp::create(b, loc, mag, c(20)), c(120 << 23));
  // Subnormal (exponent 0): m * 2^-9, exact in f32.
  Value sub = arith::BitcastOp::create(
      b, loc, i32,
      arith::MulFOp::create(b, loc, arith::UIToFPOp::create(b, loc, f32, mag),
                            splat(f32, b.getF32FloatAttr(1.0f / 512.0f))));
  Value isSub =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::ult, mag, c(8));
  Value isNaN =
      arith::CmpIOp::create(b, loc, arith::CmpIPredicate::eq, mag, c(0x7f));
  Value bits = arith::SelectOp::create(b, loc, isSub, sub, normal);
  bits = arith::SelectOp::create(b, loc, isNaN, c(0x7fc00000), bits);
  return arith::BitcastOp::create(b, loc, f32,
                                  arith::OrIOp::create(b, loc, bits, sign));
}

FailureOr<SmallVector<Value>> RMSNormOp::decomposeOperation(OpBuilder &b) {
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto ty = getResult().getType();
  unsigned r = ty.getRank();
  int64_t n = ty.getDimSize(r - 1);
  Type f32 = b.getF32Type();
  SmallVector<std::pair<Value, int64_t>> src;
  for (unsigned d = 0; d < r; ++d)
    src.push_back({getInput(), d});
  SmallVector<Value> sizes = dynamicSizes(b, loc, ty, src);
  // Mean of squares over the last dimension.
  SmallVector<int64_t> rowShape(ty.getShape().drop_back());
  auto rowType = RankedTensorType::get(rowShape, f32);
  Value rowInit = tensor::EmptyOp::create(b, loc, rowType, sizes);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  rowInit = linalg::FillOp::create(b, loc, zero, rowInit).getResult(0);
  SmallVector<unsigned> all, lead;
  for (unsigned d = 0; d < r; ++d)
    all.push_back(d);
  lead.assign(all.begin(), all.end() - 1);
  Value sumSq =
      linalg::GenericOp::create(
          b, loc, TypeRange{rowType}, ValueRange{getInput()},
          ValueRange{rowInit}, {map(ctx, r, all), map(ctx, r, lead)},
          iterators(r - 1, 1), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value x = castTo(nb, nl, f32, a[0]);
            Value sq = arith::MulFOp::create(nb, nl, x, x);
            linalg::YieldOp::create(
                nb, nl, ValueRange{arith::AddFOp::create(nb, nl, a[1], sq)});
          })
          .getResult(0);
  Value init = tensor::EmptyOp::create(b, loc, ty, sizes);
  Value invN = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f / n));
  Value eps = arith::ConstantOp::create(b, loc, getEpsilonAttr());
  Value out =
      linalg::GenericOp::create(
          b, loc, TypeRange{ty}, ValueRange{getInput(), sumSq, getGamma()},
          ValueRange{init},
          {map(ctx, r, all), map(ctx, r, lead), map(ctx, r, {r - 1}),
           map(ctx, r, all)},
          iterators(r, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value ms = arith::AddFOp::create(
                nb, nl, arith::MulFOp::create(nb, nl, a[1], invN), eps);
            Value inv = math::RsqrtOp::create(nb, nl, ms);
            Value y = arith::MulFOp::create(
                nb, nl,
                arith::MulFOp::create(nb, nl, castTo(nb, nl, f32, a[0]), inv),
                castTo(nb, nl, f32, a[2]));
            linalg::YieldOp::create(
                nb, nl, ValueRange{castTo(nb, nl, ty.getElementType(), y)});
          })
          .getResult(0);
  return SmallVector<Value>{out};
}

FailureOr<SmallVector<Value>>
PositionScaleOp::decomposeOperation(OpBuilder &b) {
  // y = x * (1 + beta * log1p(floor(pos / L))), the factor in f32 (as the
  // reference model computes it) and applied in the element type.
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto ty = getResult().getType();
  unsigned r = ty.getRank();
  Type f32 = b.getF32Type(), et = ty.getElementType();
  SmallVector<std::pair<Value, int64_t>> src;
  for (unsigned i = 0; i < r; ++i)
    src.push_back({getInput(), i});
  Value init = tensor::EmptyOp::create(b, loc, ty, dynamicSizes(b, loc, ty, src));
  SmallVector<unsigned> all;
  for (unsigned i = 0; i < r; ++i)
    all.push_back(i);
  int64_t context = getOriginalMaxPositionEmbeddings();
  float beta = getBeta().convertToDouble();
  Value out =
      linalg::GenericOp::create(
          b, loc, TypeRange{ty}, ValueRange{getInput(), getPositions()},
          ValueRange{init}, {map(ctx, r, all), map(ctx, r, {0, 1}),
                             map(ctx, r, all)},
          iterators(r, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Type pt = a[1].getType();
            Value windows = arith::FloorDivSIOp::create(
                nb, nl, a[1],
                arith::ConstantOp::create(nb, nl,
                                          nb.getIntegerAttr(pt, context)));
            Value wf = arith::SIToFPOp::create(nb, nl, f32, windows);
            Value log = math::Log1pOp::create(nb, nl, wf);
            Value betaC =
                arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(beta));
            Value scaled = arith::MulFOp::create(nb, nl, log, betaC);
            Value one =
                arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(1.0f));
            Value factor = arith::AddFOp::create(nb, nl, scaled, one);
            Value y = arith::MulFOp::create(nb, nl, a[0],
                                            castTo(nb, nl, et, factor));
            linalg::YieldOp::create(nb, nl, ValueRange{y});
          })
          .getResult(0);
  return SmallVector<Value>{out};
}

FailureOr<SmallVector<Value>> RopeOp::decomposeOperation(OpBuilder &b) {
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto ty = getResult().getType();
  unsigned r = ty.getRank();
  int64_t d = ty.getDimSize(r - 1), half = d / 2;
  bool interleaved = getStyle() == RopeStyle::interleaved;
  Type f64 = b.getF64Type();
  Type et = ty.getElementType();
  Value x = getInput();
  SmallVector<std::pair<Value, int64_t>> src;
  for (unsigned i = 0; i < r; ++i)
    src.push_back({x, i});
  Value init = tensor::EmptyOp::create(b, loc, ty, dynamicSizes(b, loc, ty, src));
  SmallVector<unsigned> all;
  for (unsigned i = 0; i < r; ++i)
    all.push_back(i);
  double theta = getTheta().convertToDouble(), logTheta = std::log(theta);
  // With a scaling, the frequencies are a table of the d/2 pairs (two for
  // longrope, chosen by position) and cos/sin carry the attention factor.
  RopeScalingAttr scaling = getScalingAttr();
  auto table = [&](bool longFactors) {
    SmallVector<double> f =
        scaling.getInverseFrequencies(theta, d, longFactors);
    auto t = RankedTensorType::get({half}, f64);
    return arith::ConstantOp::create(
        b, loc, DenseElementsAttr::get(t, ArrayRef<double>(f)));
  };
  Value shortTable, longTable;
  if (scaling) {
    shortTable = table(false);
    if (scaling.getRopeType() == RopeScalingType::longrope)
      longTable = table(true);
  }
  double cosSinFactor = scaling ? scaling.getCosSinFactor() : 1.0;
  Value out =
      linalg::GenericOp::create(
          b, loc, TypeRange{ty}, ValueRange{getPositions()}, ValueRange{init},
          {map(ctx, r, {0, 1}), map(ctx, r, all)}, iterators(r, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            auto cst = [&](int64_t v) {
              return arith::ConstantIndexOp::create(nb, nl, v);
            };
            SmallVector<Value> idx;
            for (unsigned i = 0; i < r; ++i)
              idx.push_back(linalg::IndexOp::create(nb, nl, i));
            Value j = idx.back();
            // Pair index i, which element of the pair j is, and its partner.
            Value pair, second, partner;
            if (interleaved) {
              pair = arith::DivUIOp::create(nb, nl, j, cst(2));
              second = arith::CmpIOp::create(
                  nb, nl, arith::CmpIPredicate::eq,
                  arith::RemUIOp::create(nb, nl, j, cst(2)), cst(1));
              Value up = arith::AddIOp::create(nb, nl, j, cst(1));
              Value down = arith::SubIOp::create(nb, nl, j, cst(1));
              partner = arith::SelectOp::create(nb, nl, second, down, up);
            } else {
              second = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sge,
                                             j, cst(half));
              pair = arith::SelectOp::create(
                  nb, nl, second, arith::SubIOp::create(nb, nl, j, cst(half)),
                  j);
              // One op a statement: argument order is the compiler's.
              Value up = arith::AddIOp::create(nb, nl, j, cst(half));
              Value down = arith::SubIOp::create(nb, nl, j, cst(half));
              partner = arith::SelectOp::create(nb, nl, second, down, up);
            }
            // angle = pos * theta^(-2i/d) (or the scaling's table), in f64.
            Value freq;
            if (shortTable) {
              freq = tensor::ExtractOp::create(nb, nl, shortTable, pair);
              if (longTable) {
                Value origMax = arith::ConstantOp::create(
                    nb, nl,
                    nb.getIntegerAttr(
                        a[0].getType(),
                        scaling.getOriginalMaxPositionEmbeddings()));
                Value isLong = arith::CmpIOp::create(
                    nb, nl, arith::CmpIPredicate::sge, a[0], origMax);
                freq = arith::SelectOp::create(
                    nb, nl, isLong,
                    tensor::ExtractOp::create(nb, nl, longTable, pair), freq);
              }
            } else {
              Value pairF = arith::SIToFPOp::create(
                  nb, nl, f64,
                  arith::IndexCastOp::create(nb, nl, nb.getI64Type(), pair));
              freq = math::ExpOp::create(
                  nb, nl,
                  arith::MulFOp::create(
                      nb, nl, pairF,
                      arith::ConstantOp::create(
                          nb, nl, nb.getF64FloatAttr(-2.0 * logTheta / d))));
            }
            Value pos = arith::SIToFPOp::create(nb, nl, f64, a[0]);
            Value angle = arith::MulFOp::create(nb, nl, pos, freq);
            Value c = math::CosOp::create(nb, nl, angle);
            Value s = math::SinOp::create(nb, nl, angle);
            if (cosSinFactor != 1.0) {
              Value m = arith::ConstantOp::create(
                  nb, nl, nb.getF64FloatAttr(cosSinFactor));
              c = arith::MulFOp::create(nb, nl, c, m);
              s = arith::MulFOp::create(nb, nl, s, m);
            }
            // The conjugate rotation: by -a, sin a negated.
            if (getConjugate())
              s = arith::NegFOp::create(nb, nl, s);
            SmallVector<Value> pidx(idx);
            pidx.back() = partner;
            Value self = castTo(nb, nl, f64, tensor::ExtractOp::create(nb, nl, x, idx));
            Value other =
                castTo(nb, nl, f64, tensor::ExtractOp::create(nb, nl, x, pidx));
            // first: x0 c - x1 s; second: x1 c + x0 s (self = x1, other = x0).
            Value sc = arith::MulFOp::create(nb, nl, self, c);
            Value os = arith::MulFOp::create(nb, nl, other, s);
            Value diff = arith::SubFOp::create(nb, nl, sc, os);
            Value sum = arith::AddFOp::create(nb, nl, sc, os);
            Value y = arith::SelectOp::create(nb, nl, second, sum, diff);
            linalg::YieldOp::create(nb, nl, ValueRange{castTo(nb, nl, et, y)});
          })
          .getResult(0);
  return SmallVector<Value>{out};
}

/// The fp8 row bytes [B, S, d_c + 4 d_c / G + 2 d_r] i8 of latent
/// [B, S, d_c] and key_rope [B, S, d_r]: each group's scale (its amax / 448,
/// 1 for an all-zero group), the e4m3 codes of value / scale, the scales'
/// bytes, the rope values' bf16 bytes (mla.fp8.encode_rows).
static Value encodeFP8Rows(OpBuilder &b, Location loc, Value latent,
                           Value keyRope, int64_t group) {
  MLIRContext *ctx = b.getContext();
  auto latentTy = cast<RankedTensorType>(latent.getType());
  int64_t dc = latentTy.getDimSize(2),
          dr = cast<RankedTensorType>(keyRope.getType()).getDimSize(2),
          ng = dc / group, width = dc + 4 * ng + 2 * dr;
  Type f32 = b.getF32Type(), i8 = b.getI8Type();
  auto sizesOf = [&](RankedTensorType ty) {
    return dynamicSizes(b, loc, ty, {{latent, 0}, {latent, 1}, {latent, 2}});
  };
  auto scalesTy = RankedTensorType::get(
      {latentTy.getDimSize(0), latentTy.getDimSize(1), ng}, f32);
  Value amaxInit = tensor::EmptyOp::create(b, loc, scalesTy, sizesOf(scalesTy));
  Value amax =
      linalg::FillOp::create(b, loc, f32c(b, loc, 0.0f), amaxInit).getResult(0);
  // (b, s, n, g) over latent viewed as [B, S, d_c / G, G].
  Value grouped = tensor::ExpandShapeOp::create(
      b, loc,
      RankedTensorType::get(
          {latentTy.getDimSize(0), latentTy.getDimSize(1), ng, group},
          latentTy.getElementType()),
      latent, ArrayRef<ReassociationIndices>{{0}, {1}, {2, 3}});
  amax =
      linalg::GenericOp::create(
          b, loc, TypeRange{scalesTy}, ValueRange{grouped}, ValueRange{amax},
          ArrayRef<AffineMap>{b.getMultiDimIdentityMap(4),
                              map(ctx, 4, {0, 1, 2})},
          iterators(3, 1), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value x = math::AbsFOp::create(nb, nl, castTo(nb, nl, f32, a[0]));
            linalg::YieldOp::create(
                nb, nl, ValueRange{arith::MaximumFOp::create(nb, nl, a[1], x)});
          })
          .getResult(0);
  AffineMap id3 = b.getMultiDimIdentityMap(3);
  Value scales =
      linalg::GenericOp::create(
          b, loc, TypeRange{scalesTy}, ValueRange{amax},
          ValueRange{
              tensor::EmptyOp::create(b, loc, scalesTy, sizesOf(scalesTy))},
          ArrayRef<AffineMap>{id3, id3}, iterators(3, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value positive = arith::CmpFOp::create(
                nb, nl, arith::CmpFPredicate::OGT, a[0], f32c(nb, nl, 0.0f));
            Value sc =
                arith::DivFOp::create(nb, nl, a[0], f32c(nb, nl, 448.0f));
            linalg::YieldOp::create(
                nb, nl,
                ValueRange{arith::SelectOp::create(nb, nl, positive, sc,
                                                   f32c(nb, nl, 1.0f))});
          })
          .getResult(0);
  auto bytesTy = RankedTensorType::get(
      {latentTy.getDimSize(0), latentTy.getDimSize(1), width}, i8);
  return linalg::GenericOp::create(
             b, loc, TypeRange{bytesTy}, ValueRange{},
             ValueRange{
                 tensor::EmptyOp::create(b, loc, bytesTy, sizesOf(bytesTy))},
             ArrayRef<AffineMap>{id3}, iterators(3, 0), "", "",
             [&](OpBuilder &nb, Location nl, ValueRange) {
               auto c = [&](int64_t v) -> Value {
                 return arith::ConstantIndexOp::create(nb, nl, v);
               };
               auto i32 = [&](Value v) -> Value {
                 return arith::IndexCastOp::create(nb, nl, nb.getI32Type(), v);
               };
               auto clamp = [&](Value v, int64_t hi) -> Value {
                 return arith::MinSIOp::create(
                     nb, nl, arith::MaxSIOp::create(nb, nl, v, c(0)), c(hi));
               };
               Value bi = linalg::IndexOp::create(nb, nl, 0);
               Value si = linalg::IndexOp::create(nb, nl, 1);
               Value j = linalg::IndexOp::create(nb, nl, 2);
               // The code of value j (< d_c).
               Value jl = clamp(j, dc - 1);
               Value gi = arith::DivUIOp::create(nb, nl, jl, c(group));
               Value x = castTo(nb, nl, f32,
                                tensor::ExtractOp::create(
                                    nb, nl, latent, ValueRange{bi, si, jl}));
               Value sc = tensor::ExtractOp::create(nb, nl, scales,
                                                    ValueRange{bi, si, gi});
               Value code =
                   encodeE4M3(nb, nl, arith::DivFOp::create(nb, nl, x, sc));
               // A byte of scale (j - d_c) / 4.
               Value js =
                   clamp(arith::SubIOp::create(nb, nl, j, c(dc)), 4 * ng - 1);
               Value scaleBits = arith::BitcastOp::create(
                   nb, nl, nb.getI32Type(),
                   tensor::ExtractOp::create(
                       nb, nl, scales,
                       ValueRange{bi, si,
                                  arith::DivUIOp::create(nb, nl, js, c(4))}));
               Value scaleByte =
                   byteOf(nb, nl, scaleBits,
                          i32(arith::RemUIOp::create(nb, nl, js, c(4))));
               Value out = arith::SelectOp::create(
                   nb, nl,
                   arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ult, j,
                                         c(dc)),
                   code, scaleByte);
               if (dr > 0) {
                 // A byte of rope value (j - d_c - 4 ng) / 2, in bf16.
                 Value jr =
                     clamp(arith::SubIOp::create(nb, nl, j, c(dc + 4 * ng)),
                           2 * dr - 1);
                 Value r = tensor::ExtractOp::create(
                     nb, nl, keyRope,
                     ValueRange{bi, si,
                                arith::DivUIOp::create(nb, nl, jr, c(2))});
                 Value ropeByte =
                     byteOf(nb, nl, bf16Bits(nb, nl, r),
                            i32(arith::RemUIOp::create(nb, nl, jr, c(2))));
                 out = arith::SelectOp::create(
                     nb, nl,
                     arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ult, j,
                                           c(dc + 4 * ng)),
                     out, ropeByte);
               }
               linalg::YieldOp::create(nb, nl, ValueRange{out});
             })
      .getResult(0);
}

/// The f8E4M3FN codes of x / scale for every value of `x` (an f32 scale):
/// the per-tensor encoding of mla.kv_cache_append.
static Value encodePerTensor(OpBuilder &b, Location loc, Value x, Value scale) {
  auto xTy = cast<RankedTensorType>(x.getType());
  auto codesTy = xTy.clone(b.getType<Float8E4M3FNType>());
  SmallVector<std::pair<Value, int64_t>> dims;
  for (int64_t d = 0; d < xTy.getRank(); ++d)
    dims.push_back({x, d});
  Value init = tensor::EmptyOp::create(b, loc, codesTy,
                                       dynamicSizes(b, loc, codesTy, dims));
  AffineMap id = b.getMultiDimIdentityMap(xTy.getRank());
  return linalg::GenericOp::create(
             b, loc, TypeRange{codesTy}, ValueRange{x}, ValueRange{init},
             ArrayRef<AffineMap>{id, id}, iterators(xTy.getRank(), 0), "", "",
             [&](OpBuilder &nb, Location nl, ValueRange a) {
               Value v = castTo(nb, nl, nb.getF32Type(), a[0]);
               Value code =
                   encodeE4M3(nb, nl, arith::DivFOp::create(nb, nl, v, scale));
               linalg::YieldOp::create(
                   nb, nl,
                   ValueRange{arith::BitcastOp::create(
                       nb, nl, nb.getType<Float8E4M3FNType>(), code)});
             })
      .getResult(0);
}

FailureOr<SmallVector<Value>>
KVCacheAppendOp::decomposeOperation(OpBuilder &b) {
  // for b, s: p = lens[b] - S + s; cache[bt[b, p / BS], p % BS, :] =
  // [latent[b, s] ; key_rope[b, s]]
  // A head cache takes each token's [G, D] rows whole (no key_rope). With
  // one scale the e4m3 codes of the new values are written instead.
  Location loc = getLoc();
  auto latentTy = getLatent().getType();
  auto cacheTy = getCache().getType();
  const bool heads = cacheTy.getRank() == 4;
  int64_t dc = heads ? latentTy.getDimSize(3) : latentTy.getDimSize(2),
          dr = heads ? 0 : getKeyRope().getType().getDimSize(2),
          bs = cacheTy.getDimSize(1);
  auto cst = [&](int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); };
  Value zero = cst(0), one = cst(1);
  Value batch = tensor::DimOp::create(b, loc, getLatent(), 0);
  Value tokens = tensor::DimOp::create(b, loc, getLatent(), 1);
  Type et = latentTy.getElementType();
  // fp8 rows: each new token's row bytes, then written whole.
  Value rowBytes;
  if (std::optional<int64_t> group = getScaleGroup())
    rowBytes = encodeFP8Rows(b, loc, getLatent(), getKeyRope(), *group);
  // One scale: the new values' e4m3 codes, written like plain values.
  Value latent = getLatent(), keyRope = getKeyRope();
  if (Value cacheScale = getCacheScale()) {
    Value scale = tensor::ExtractOp::create(b, loc, cacheScale, ValueRange{});
    latent = encodePerTensor(b, loc, latent, scale);
    if (dr > 0)
      keyRope = encodePerTensor(b, loc, keyRope, scale);
    et = b.getType<Float8E4M3FNType>();
  }
  auto outer = scf::ForOp::create(
      b, loc, zero, batch, one, ValueRange{getCache()},
      [&](OpBuilder &ob, Location ol, Value bi, ValueRange oargs) {
        Value len = indexCast(
            ob, ol, tensor::ExtractOp::create(ob, ol, getSeqLens(), bi));
        Value first = arith::SubIOp::create(ob, ol, len, tokens);
        auto inner = scf::ForOp::create(
            ob, ol, zero, tokens, one, oargs,
            [&](OpBuilder &ib, Location il, Value si, ValueRange iargs) {
              Value p = arith::AddIOp::create(ib, il, first, si);
              Value page = indexCast(
                  ib, il,
                  tensor::ExtractOp::create(
                      ib, il, getBlockTable(),
                      ValueRange{bi, arith::DivUIOp::create(
                                         ib, il, p, cst(bs))}));
              Value row = arith::RemUIOp::create(ib, il, p, cst(bs));
              Value cache = iargs[0];
              // [b, s, (G,) off : off + width] of the cache row.
              auto slice = [&](Value src, int64_t width, int64_t off) {
                OpFoldResult z = ib.getIndexAttr(0), o = ib.getIndexAttr(1),
                             w = ib.getIndexAttr(width);
                SmallVector<int64_t> rowShape = {1, 1, width};
                SmallVector<OpFoldResult> srcAt = {bi, si, z},
                                          dstAt = {page, row,
                                                   ib.getIndexAttr(off)},
                                          sizes = {o, o, w},
                                          ones = {o, o, o};
                if (heads) {
                  int64_t g = latentTy.getDimSize(2);
                  rowShape.insert(rowShape.begin() + 2, g);
                  srcAt.insert(srcAt.begin() + 2, z);
                  dstAt.insert(dstAt.begin() + 2, z);
                  sizes.insert(sizes.begin() + 2, ib.getIndexAttr(g));
                  ones.push_back(o);
                }
                auto rowTy = RankedTensorType::get(rowShape, et);
                Value piece = tensor::ExtractSliceOp::create(
                    ib, il, rowTy, src, srcAt, sizes, ones);
                cache = tensor::InsertSliceOp::create(ib, il, piece, cache,
                                                      dstAt, sizes, ones);
              };
              if (rowBytes) {
                et = b.getI8Type();
                slice(rowBytes, cacheTy.getDimSize(2), 0);
              } else {
                slice(latent, dc, 0);
                if (dr > 0)
                  slice(keyRope, dr, dc);
              }
              scf::YieldOp::create(ib, il, ValueRange{cache});
            });
        scf::YieldOp::create(ob, ol, inner.getResults());
      });
  return SmallVector<Value>{outer.getResult(0)};
}

FailureOr<SmallVector<Value>> LayerNormOp::decomposeOperation(OpBuilder &b) {
  // Two passes in f32: the mean, then the variance around it (rather than
  // E[x^2] - mean^2, which cancels for rows far from zero).
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  auto ty = getResult().getType();
  unsigned r = ty.getRank();
  int64_t n = ty.getDimSize(r - 1);
  Type f32 = b.getF32Type(), et = ty.getElementType();
  SmallVector<std::pair<Value, int64_t>> src;
  for (unsigned d = 0; d < r; ++d)
    src.push_back({getInput(), d});
  SmallVector<Value> sizes = dynamicSizes(b, loc, ty, src);
  auto rowType = RankedTensorType::get(ty.getShape().drop_back(), f32);
  SmallVector<unsigned> all, lead;
  for (unsigned d = 0; d < r; ++d)
    all.push_back(d);
  lead.assign(all.begin(), all.end() - 1);
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value invN = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(1.0f / n));
  // sum over the last dimension of f(x, mean) (mean absent in pass one).
  auto rowSum =
      [&](Value mean,
          function_ref<Value(OpBuilder &, Location, Value, Value)> f) {
        Value init = tensor::EmptyOp::create(b, loc, rowType, sizes);
        init = linalg::FillOp::create(b, loc, zero, init).getResult(0);
        SmallVector<Value> ins = {getInput()};
        SmallVector<AffineMap> maps = {map(ctx, r, all)};
        if (mean) {
          ins.push_back(mean);
          maps.push_back(map(ctx, r, lead));
        }
        maps.push_back(map(ctx, r, lead));
        Value sum =
            linalg::GenericOp::create(
                b, loc, TypeRange{rowType}, ins, ValueRange{init}, maps,
                iterators(r - 1, 1), "", "",
                [&](OpBuilder &nb, Location nl, ValueRange a) {
                  Value x = castTo(nb, nl, f32, a[0]);
                  Value term = f(nb, nl, x, mean ? a[1] : Value());
                  linalg::YieldOp::create(nb, nl,
                                          ValueRange{arith::AddFOp::create(
                                              nb, nl, a.back(), term)});
                })
                .getResult(0);
        // The mean of f.
        Value out = tensor::EmptyOp::create(b, loc, rowType, sizes);
        AffineMap id = b.getMultiDimIdentityMap(r - 1);
        return linalg::GenericOp::create(
                   b, loc, TypeRange{rowType}, ValueRange{sum}, ValueRange{out},
                   ArrayRef<AffineMap>{id, id}, iterators(r - 1, 0), "", "",
                   [&](OpBuilder &nb, Location nl, ValueRange a) {
                     linalg::YieldOp::create(
                         nb, nl,
                         ValueRange{arith::MulFOp::create(nb, nl, a[0], invN)});
                   })
            .getResult(0);
      };
  Value mean =
      rowSum(Value(), [](OpBuilder &, Location, Value x, Value) { return x; });
  Value var = rowSum(mean, [](OpBuilder &nb, Location nl, Value x, Value m) {
    Value d = arith::SubFOp::create(nb, nl, x, m);
    return arith::MulFOp::create(nb, nl, d, d).getResult();
  });
  Value init = tensor::EmptyOp::create(b, loc, ty, sizes);
  Value eps = arith::ConstantOp::create(b, loc, getEpsilonAttr());
  Value out =
      linalg::GenericOp::create(
          b, loc, TypeRange{ty},
          ValueRange{getInput(), mean, var, getGamma(), getBeta()},
          ValueRange{init},
          {map(ctx, r, all), map(ctx, r, lead), map(ctx, r, lead),
           map(ctx, r, {r - 1}), map(ctx, r, {r - 1}), map(ctx, r, all)},
          iterators(r, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value inv = math::RsqrtOp::create(
                nb, nl, arith::AddFOp::create(nb, nl, a[2], eps));
            Value centred =
                arith::SubFOp::create(nb, nl, castTo(nb, nl, f32, a[0]), a[1]);
            Value y = arith::AddFOp::create(
                nb, nl,
                arith::MulFOp::create(
                    nb, nl, arith::MulFOp::create(nb, nl, centred, inv),
                    castTo(nb, nl, f32, a[3])),
                castTo(nb, nl, f32, a[4]));
            linalg::YieldOp::create(nb, nl, ValueRange{castTo(nb, nl, et, y)});
          })
          .getResult(0);
  return SmallVector<Value>{out};
}

FailureOr<SmallVector<Value>> IndexScoreOp::decomposeOperation(OpBuilder &b) {
  // dots[b, s, h, t] = q . k (+ q_rope . k_rope) in f32; then
  // score[b, s, t] = scale * sum_h w[b, s, h] relu(dots[b, s, h, t]), or
  // -inf where t is not visible.
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  Type f32 = b.getF32Type();
  auto qTy = getQuery().getType();
  auto resTy = getResult().getType();
  int64_t h = qTy.getDimSize(2);
  auto dotsTy = RankedTensorType::get(
      {resTy.getDimSize(0), resTy.getDimSize(1), h, resTy.getDimSize(2)}, f32);
  SmallVector<Value> dotSizes = dynamicSizes(
      b, loc, dotsTy,
      {{getQuery(), 0}, {getQuery(), 1}, {getQuery(), 2}, {getKey(), 1}});
  // (b, s, h, t, d): q[b, s, h, d] k[b, t, d] -> dots[b, s, h, t].
  SmallVector<AffineMap> dotMaps = {map(ctx, 5, {0, 1, 2, 4}),
                                    map(ctx, 5, {0, 3, 4}),
                                    map(ctx, 5, {0, 1, 2, 3})};
  Value dots = buildF32Contraction(b, loc, getQuery(), getKey(), dotMaps,
                                   iterators(4, 1), dotsTy, dotSizes);
  Value ropeDots;
  if (getQueryRope())
    ropeDots = buildF32Contraction(b, loc, getQueryRope(), getKeyRope(),
                                   dotMaps, iterators(4, 1), dotsTy, dotSizes);
  SmallVector<Value> resSizes = dynamicSizes(
      b, loc, resTy, {{getQuery(), 0}, {getQuery(), 1}, {getKey(), 1}});
  Value zero = arith::ConstantOp::create(b, loc, b.getF32FloatAttr(0.0f));
  Value sumInit = tensor::EmptyOp::create(b, loc, resTy, resSizes);
  sumInit = linalg::FillOp::create(b, loc, zero, sumInit).getResult(0);
  // (b, s, t, h): the weighted ReLU summed over the heads.
  SmallVector<Value> ins = {dots};
  SmallVector<AffineMap> maps = {map(ctx, 4, {0, 1, 3, 2})};
  if (ropeDots) {
    ins.push_back(ropeDots);
    maps.push_back(map(ctx, 4, {0, 1, 3, 2}));
  }
  ins.push_back(getWeights());
  maps.push_back(map(ctx, 4, {0, 1, 3}));
  maps.push_back(map(ctx, 4, {0, 1, 2}));
  Value sum =
      linalg::GenericOp::create(
          b, loc, TypeRange{resTy}, ins, ValueRange{sumInit}, maps,
          iterators(3, 1), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value d = a[0];
            if (ropeDots)
              d = arith::AddFOp::create(nb, nl, d, a[1]);
            Value relu = arith::MaximumFOp::create(
                nb, nl, d,
                arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(0.0f)));
            Value w = castTo(nb, nl, f32, a[a.size() - 2]);
            Value acc = arith::AddFOp::create(
                nb, nl, a.back(), arith::MulFOp::create(nb, nl, w, relu));
            linalg::YieldOp::create(nb, nl, ValueRange{acc});
          })
          .getResult(0);
  // Scale and mask: t visible when t < l[b] (and t <= l[b] - S + s).
  Value tokens = tensor::DimOp::create(b, loc, getQuery(), 1);
  Value keys = tensor::DimOp::create(b, loc, getKey(), 1);
  Value out = tensor::EmptyOp::create(b, loc, resTy, resSizes);
  AffineMap id = b.getMultiDimIdentityMap(3);
  SmallVector<Value> maskIns = {sum};
  SmallVector<AffineMap> maskMaps = {id};
  if (getKvLens()) {
    maskIns.push_back(getKvLens());
    maskMaps.push_back(map(ctx, 3, {0}));
  }
  maskMaps.push_back(id);
  float scale = getScale().convertToDouble();
  bool causal = getCausal();
  Value masked =
      linalg::GenericOp::create(
          b, loc, TypeRange{resTy}, maskIns, ValueRange{out}, maskMaps,
          iterators(3, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value len = getKvLens() ? indexCast(nb, nl, a[1]) : keys;
            Value s = linalg::IndexOp::create(nb, nl, 1);
            Value t = linalg::IndexOp::create(nb, nl, 2);
            Value visible = arith::CmpIOp::create(
                nb, nl, arith::CmpIPredicate::slt, t, len);
            if (causal) {
              // t <= l - S + s, i.e. t + S < l + s + 1.
              Value lhs = arith::AddIOp::create(nb, nl, t, tokens);
              Value rhs = arith::AddIOp::create(
                  nb, nl, arith::AddIOp::create(nb, nl, len, s),
                  arith::ConstantIndexOp::create(nb, nl, 1));
              visible = arith::AndIOp::create(
                  nb, nl, visible,
                  arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, lhs,
                                        rhs));
            }
            Value scaled = arith::MulFOp::create(
                nb, nl, a[0],
                arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(scale)));
            Value ninf = arith::ConstantOp::create(
                nb, nl,
                nb.getF32FloatAttr(-std::numeric_limits<float>::infinity()));
            linalg::YieldOp::create(nb, nl,
                                    ValueRange{arith::SelectOp::create(
                                        nb, nl, visible, scaled, ninf)});
          })
          .getResult(0);
  return SmallVector<Value>{masked};
}

FailureOr<SmallVector<Value>> TopKOp::decomposeOperation(OpBuilder &b) {
  // A selection, then an order: O(32 T + k^2) a row rather than the T^2 of
  // ranking every position.
  //  1. key[t]: the score's bits as an unsigned integer ordered like the
  //     scores (-0 as +0), 0 for a score that cannot be chosen (-inf, NaN);
  //  2. thr: the k-th largest key, built bit by bit from the top (a bit
  //     stays when at least k keys reach it); 0 when fewer than k are set;
  //  3. in position order, every key above thr, then keys equal to it while
  //     fewer than k are taken: the chosen positions, lower first among
  //     equal scores;
  //  4. each chosen position's rank among them (score, then position) and
  //     the position of each rank.
  Location loc = getLoc();
  MLIRContext *ctx = b.getContext();
  Type i32 = b.getI32Type();
  Value scores = getScores();
  auto sTy = getScores().getType();
  auto resTy = getResult().getType();
  const int64_t k = getK();
  auto ci32 = [](OpBuilder &nb, Location nl, int64_t v) -> Value {
    return arith::ConstantOp::create(nb, nl, nb.getI32IntegerAttr(v));
  };
  auto cidx = [](OpBuilder &nb, Location nl, int64_t v) -> Value {
    return arith::ConstantIndexOp::create(nb, nl, v);
  };
  auto filled = [&](RankedTensorType ty, ArrayRef<Value> sizes,
                    int64_t v) -> Value {
    Value e = tensor::EmptyOp::create(b, loc, ty, sizes);
    return linalg::FillOp::create(b, loc, ci32(b, loc, v), e).getResult(0);
  };
  auto keysTy = RankedTensorType::get(sTy.getShape(), i32);
  auto rowTy = RankedTensorType::get(sTy.getShape().drop_back(), i32);
  SmallVector<Value> keySizes =
      dynamicSizes(b, loc, keysTy, {{scores, 0}, {scores, 1}, {scores, 2}});
  SmallVector<Value> rowSizes =
      dynamicSizes(b, loc, rowTy, {{scores, 0}, {scores, 1}});
  SmallVector<Value> resSizes =
      dynamicSizes(b, loc, resTy, {{scores, 0}, {scores, 1}, {scores, 2}});
  AffineMap id3 = b.getMultiDimIdentityMap(3), id2 = map(ctx, 3, {0, 1});

  // 1. Keys.
  Value keys =
      linalg::GenericOp::create(
          b, loc, TypeRange{keysTy}, ValueRange{scores},
          ValueRange{tensor::EmptyOp::create(b, loc, keysTy, keySizes)},
          ArrayRef<AffineMap>{id3, id3}, iterators(3, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value x = a[0];
            Value valid = arith::CmpFOp::create(
                nb, nl, arith::CmpFPredicate::OGT, x,
                arith::ConstantOp::create(
                    nb, nl,
                    nb.getF32FloatAttr(
                        -std::numeric_limits<float>::infinity())));
            Value isZero = arith::CmpFOp::create(
                nb, nl, arith::CmpFPredicate::OEQ, x,
                arith::ConstantOp::create(nb, nl, nb.getF32FloatAttr(0.0f)));
            Value bits = arith::SelectOp::create(
                nb, nl, isZero, ci32(nb, nl, 0),
                arith::BitcastOp::create(nb, nl, i32, x));
            Value neg = arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt,
                                              bits, ci32(nb, nl, 0));
            Value key = arith::SelectOp::create(
                nb, nl, neg,
                arith::XOrIOp::create(nb, nl, bits, ci32(nb, nl, -1)),
                arith::OrIOp::create(nb, nl, bits,
                                     ci32(nb, nl, int32_t(0x80000000u))));
            linalg::YieldOp::create(nb, nl,
                                    ValueRange{arith::SelectOp::create(
                                        nb, nl, valid, key, ci32(nb, nl, 0))});
          })
          .getResult(0);

  // Per row: the number of keys that `pred(key, row value)` holds for.
  auto countKeys =
      [&](OpBuilder &ob, Location ol, Value row,
          function_ref<Value(OpBuilder &, Location, Value, Value)> pred)
      -> Value {
    Value init = tensor::EmptyOp::create(ob, ol, rowTy, rowSizes);
    init = linalg::FillOp::create(ob, ol, ci32(ob, ol, 0), init).getResult(0);
    return linalg::GenericOp::create(
               ob, ol, TypeRange{rowTy}, ValueRange{keys, row},
               ValueRange{init}, ArrayRef<AffineMap>{id3, id2, id2},
               iterators(2, 1), "", "",
               [&](OpBuilder &nb, Location nl, ValueRange a) {
                 Value inc = arith::ExtUIOp::create(nb, nl, i32,
                                                    pred(nb, nl, a[0], a[1]));
                 linalg::YieldOp::create(
                     nb, nl,
                     ValueRange{arith::AddIOp::create(nb, nl, a[2], inc)});
               })
        .getResult(0);
  };

  // 2. The threshold, one bit a step from the top.
  Value thr =
      scf::ForOp::create(
          b, loc, cidx(b, loc, 0), cidx(b, loc, 32), cidx(b, loc, 1),
          ValueRange{filled(rowTy, rowSizes, 0)},
          [&](OpBuilder &ob, Location ol, Value i, ValueRange args) {
            Value bit = arith::SubIOp::create(
                ob, ol, ci32(ob, ol, 31),
                arith::IndexCastOp::create(ob, ol, i32, i));
            Value mask = arith::ShLIOp::create(ob, ol, ci32(ob, ol, 1), bit);
            Value count = countKeys(
                ob, ol, args[0],
                [&](OpBuilder &nb, Location nl, Value key, Value t) -> Value {
                  Value cand = arith::OrIOp::create(nb, nl, t, mask);
                  return arith::CmpIOp::create(
                      nb, nl, arith::CmpIPredicate::uge, key, cand);
                });
            // In place (the loop's tensor), as one-shot bufferization wants.
            Value next =
                linalg::GenericOp::create(
                    ob, ol, TypeRange{rowTy}, ValueRange{count},
                    ValueRange{args[0]},
                    SmallVector<AffineMap>(2, ob.getMultiDimIdentityMap(2)),
                    iterators(2, 0), "", "",
                    [&](OpBuilder &nb, Location nl, ValueRange a) {
                      Value enough = arith::CmpIOp::create(
                          nb, nl, arith::CmpIPredicate::sge, a[0],
                          ci32(nb, nl, k));
                      linalg::YieldOp::create(
                          nb, nl,
                          ValueRange{arith::SelectOp::create(
                              nb, nl, enough,
                              arith::OrIOp::create(nb, nl, a[1], mask), a[1])});
                    })
                    .getResult(0);
            scf::YieldOp::create(ob, ol, ValueRange{next});
          })
          .getResult(0);
  Value above = countKeys(
      b, loc, thr, [](OpBuilder &nb, Location nl, Value key, Value t) -> Value {
        return arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::ugt, key, t);
      });

  // 3. The chosen positions, in position order.
  Value zero = cidx(b, loc, 0), one = cidx(b, loc, 1);
  Value batch = tensor::DimOp::create(b, loc, scores, 0);
  Value tokens = tensor::DimOp::create(b, loc, scores, 1);
  Value positions = tensor::DimOp::create(b, loc, scores, 2);
  Value chosen =
      scf::ForOp::create(
          b, loc, zero, batch, one, ValueRange{filled(resTy, resSizes, -1)},
          [&](OpBuilder &ob, Location ol, Value bi, ValueRange bargs) {
            auto rows = scf::ForOp::create(
                ob, ol, zero, tokens, one, bargs,
                [&](OpBuilder &sb, Location sl, Value si, ValueRange sargs) {
                  Value t0 = tensor::ExtractOp::create(sb, sl, thr,
                                                       ValueRange{bi, si});
                  Value need = arith::SubIOp::create(
                      sb, sl, ci32(sb, sl, k),
                      tensor::ExtractOp::create(sb, sl, above,
                                                ValueRange{bi, si}));
                  auto walk = scf::ForOp::create(
                      sb, sl, zero, positions, one,
                      ValueRange{sargs[0], ci32(sb, sl, 0), ci32(sb, sl, 0)},
                      [&](OpBuilder &tb, Location tl, Value ti,
                          ValueRange targs) {
                        Value key = tensor::ExtractOp::create(
                            tb, tl, keys, ValueRange{bi, si, ti});
                        Value isAbove = arith::CmpIOp::create(
                            tb, tl, arith::CmpIPredicate::ugt, key, t0);
                        Value isEq = arith::AndIOp::create(
                            tb, tl,
                            arith::CmpIOp::create(
                                tb, tl, arith::CmpIPredicate::eq, key, t0),
                            arith::CmpIOp::create(tb, tl,
                                                  arith::CmpIPredicate::ne, key,
                                                  ci32(tb, tl, 0)));
                        Value takeEq = arith::AndIOp::create(
                            tb, tl, isEq,
                            arith::CmpIOp::create(tb, tl,
                                                  arith::CmpIPredicate::slt,
                                                  targs[2], need));
                        Value take =
                            arith::OrIOp::create(tb, tl, isAbove, takeEq);
                        auto ifOp = scf::IfOp::create(
                            tb, tl, take,
                            [&](OpBuilder &nb, Location nl) {
                              Value slot = arith::IndexCastOp::create(
                                  nb, nl, nb.getIndexType(), targs[1]);
                              Value sel = tensor::InsertOp::create(
                                  nb, nl,
                                  arith::IndexCastOp::create(nb, nl, i32, ti),
                                  targs[0], ValueRange{bi, si, slot});
                              Value n = arith::AddIOp::create(nb, nl, targs[1],
                                                              ci32(nb, nl, 1));
                              Value eq = arith::AddIOp::create(
                                  nb, nl, targs[2],
                                  arith::ExtUIOp::create(nb, nl, i32, isEq));
                              scf::YieldOp::create(nb, nl,
                                                   ValueRange{sel, n, eq});
                            },
                            [&](OpBuilder &nb, Location nl) {
                              scf::YieldOp::create(nb, nl, targs);
                            });
                        scf::YieldOp::create(tb, tl, ifOp.getResults());
                      });
                  scf::YieldOp::create(sb, sl, walk.getResult(0));
                });
            scf::YieldOp::create(ob, ol, rows.getResults());
          })
          .getResult(0);

  // 4. Order: rank[j] = #{i chosen : score_i > score_j, or equal and
  //    position_i < position_j}; result[r] = the position of rank r.
  auto valsTy = RankedTensorType::get(resTy.getShape(), b.getF32Type());
  Value vals =
      linalg::GenericOp::create(
          b, loc, TypeRange{valsTy}, ValueRange{chosen},
          ValueRange{tensor::EmptyOp::create(b, loc, valsTy, resSizes)},
          ArrayRef<AffineMap>{id3, id3}, iterators(3, 0), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            // Only a chosen slot reads its score (a row may have none, or
            // no positions at all).
            Value p = a[0];
            Value valid = arith::CmpIOp::create(
                nb, nl, arith::CmpIPredicate::sge, p, ci32(nb, nl, 0));
            Value bi = linalg::IndexOp::create(nb, nl, 0);
            Value si = linalg::IndexOp::create(nb, nl, 1);
            auto ifOp = scf::IfOp::create(
                nb, nl, valid,
                [&](OpBuilder &tb, Location tl) {
                  Value v = tensor::ExtractOp::create(
                      tb, tl, scores,
                      ValueRange{bi, si,
                                 arith::IndexCastOp::create(
                                     tb, tl, tb.getIndexType(), p)});
                  scf::YieldOp::create(tb, tl, ValueRange{v});
                },
                [&](OpBuilder &eb, Location el) {
                  scf::YieldOp::create(
                      eb, el,
                      ValueRange{arith::ConstantOp::create(
                          eb, el,
                          eb.getF32FloatAttr(
                              -std::numeric_limits<float>::infinity()))});
                });
            linalg::YieldOp::create(nb, nl, ifOp.getResults());
          })
          .getResult(0);
  // (b, s, j, i)
  Value rank =
      linalg::GenericOp::create(
          b, loc, TypeRange{resTy}, ValueRange{chosen, vals, chosen, vals},
          ValueRange{filled(resTy, resSizes, 0)},
          {map(ctx, 4, {0, 1, 2}), map(ctx, 4, {0, 1, 2}),
           map(ctx, 4, {0, 1, 3}), map(ctx, 4, {0, 1, 3}),
           map(ctx, 4, {0, 1, 2})},
          iterators(3, 1), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value pj = a[0], vj = a[1], pi = a[2], vi = a[3];
            Value validI = arith::CmpIOp::create(
                nb, nl, arith::CmpIPredicate::sge, pi, ci32(nb, nl, 0));
            Value higher = arith::CmpFOp::create(
                nb, nl, arith::CmpFPredicate::OGT, vi, vj);
            Value tie = arith::AndIOp::create(
                nb, nl,
                arith::CmpFOp::create(nb, nl, arith::CmpFPredicate::OEQ, vi,
                                      vj),
                arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::slt, pi,
                                      pj));
            Value beats = arith::AndIOp::create(
                nb, nl, validI, arith::OrIOp::create(nb, nl, higher, tie));
            linalg::YieldOp::create(
                nb, nl,
                ValueRange{arith::AddIOp::create(
                    nb, nl, a[4], arith::ExtUIOp::create(nb, nl, i32, beats))});
          })
          .getResult(0);
  // (b, s, r, j)
  Value result =
      linalg::GenericOp::create(
          b, loc, TypeRange{resTy}, ValueRange{chosen, rank},
          ValueRange{filled(resTy, resSizes, -1)},
          {map(ctx, 4, {0, 1, 3}), map(ctx, 4, {0, 1, 3}),
           map(ctx, 4, {0, 1, 2})},
          iterators(3, 1), "", "",
          [&](OpBuilder &nb, Location nl, ValueRange a) {
            Value r = arith::IndexCastOp::create(
                nb, nl, i32, linalg::IndexOp::create(nb, nl, 2));
            Value hit = arith::AndIOp::create(
                nb, nl,
                arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::sge, a[0],
                                      ci32(nb, nl, 0)),
                arith::CmpIOp::create(nb, nl, arith::CmpIPredicate::eq, a[1],
                                      r));
            Value cand =
                arith::SelectOp::create(nb, nl, hit, a[0], ci32(nb, nl, -1));
            linalg::YieldOp::create(
                nb, nl, ValueRange{arith::MaxSIOp::create(nb, nl, a[2], cand)});
          })
          .getResult(0);
  return SmallVector<Value>{result};
}

FailureOr<SmallVector<Value>>
KVCacheGatherOp::decomposeOperation(OpBuilder &b) {
  // out[b, t, ...] = cache[bt[b, t / BS], t % BS, off + ...], one
  // linalg.generic per result reading the cache with tensor.extract; a page
  // id outside [0, NB) reads zeros rather than out of bounds. fp8 rows:
  // value c is e4m3(byte c) * the f32 of bytes d_c + 4 (c / G) .. + 3, rope
  // value r the bf16 of bytes d_c + 4 d_c / G + 2 r, + 1. One scale (an
  // f8E4M3FN cache): plain addressing, each code decoded times the scale.
  Location loc = getLoc();
  auto cacheTy = getCache().getType();
  const int64_t bs = cacheTy.getDimSize(1);
  const int64_t dc = getLatent().getType().getDimSize(2);
  std::optional<int64_t> group = getScaleGroup();
  Value numBlocks = tensor::DimOp::create(b, loc, getCache(), 0);
  // One scale: every value is e4m3(its code) * scale.
  Value tensorScale;
  if (Value cacheScale = getCacheScale())
    tensorScale = tensor::ExtractOp::create(b, loc, cacheScale, ValueRange{});
  enum class Part { Plain, FP8Latent, FP8Rope };
  auto gather = [&](RankedTensorType ty, int64_t offset, Part part) -> Value {
    unsigned r = ty.getRank();
    SmallVector<Value> sizes;
    // [B, MB * BS, ...] with the rest of a head cache's row shape.
    for (unsigned d = 0; d < r; ++d)
      if (ty.isDynamicDim(d))
        sizes.push_back(
            d == 0 ? tensor::DimOp::create(b, loc, getBlockTable(), 0)
            : d == 1
                ? arith::MulIOp::create(
                      b, loc, tensor::DimOp::create(b, loc, getBlockTable(), 1),
                      arith::ConstantIndexOp::create(b, loc, bs))
                      .getResult()
                : tensor::DimOp::create(b, loc, getCache(), d));
    Value init = tensor::EmptyOp::create(b, loc, ty, sizes);
    AffineMap id = b.getMultiDimIdentityMap(r);
    return linalg::GenericOp::create(
               b, loc, TypeRange{ty}, ValueRange{}, ValueRange{init},
               ArrayRef<AffineMap>{id}, iterators(r, 0), "", "",
               [&](OpBuilder &nb, Location nl, ValueRange) {
                 auto c = [&](int64_t v) -> Value {
                   return arith::ConstantIndexOp::create(nb, nl, v);
                 };
                 Value bi = linalg::IndexOp::create(nb, nl, 0);
                 Value t = linalg::IndexOp::create(nb, nl, 1);
                 Value page = indexCast(
                     nb, nl,
                     tensor::ExtractOp::create(
                         nb, nl, getBlockTable(),
                         ValueRange{bi,
                                    arith::DivUIOp::create(nb, nl, t, c(bs))}));
                 Value notNeg = arith::CmpIOp::create(
                     nb, nl, arith::CmpIPredicate::sge, page, c(0));
                 Value below = arith::CmpIOp::create(
                     nb, nl, arith::CmpIPredicate::slt, page, numBlocks);
                 Value inside = arith::AndIOp::create(nb, nl, notNeg, below);
                 Value safe =
                     arith::SelectOp::create(nb, nl, inside, page, c(0));
                 SmallVector<Value> at = {
                     safe, arith::RemUIOp::create(nb, nl, t, c(bs))};
                 for (unsigned d = 2; d < r; ++d) {
                   Value i = linalg::IndexOp::create(nb, nl, d);
                   at.push_back(d + 1 == r && offset ? arith::AddIOp::create(
                                                           nb, nl, i, c(offset))
                                                           .getResult()
                                                     : i);
                 }
                 // Byte `i` of the row (an index value).
                 auto byteAt = [&](Value i) -> Value {
                   SmallVector<Value> pos = {at[0], at[1], i};
                   return tensor::ExtractOp::create(nb, nl, getCache(), pos);
                 };
                 Value v;
                 if (part == Part::Plain) {
                   v = tensor::ExtractOp::create(nb, nl, getCache(), at);
                   if (tensorScale) {
                     Value code =
                         arith::BitcastOp::create(nb, nl, nb.getI8Type(), v);
                     v = castTo(nb, nl, ty.getElementType(),
                                arith::MulFOp::create(
                                    nb, nl, buildE4M3ToF32(nb, nl, code),
                                    tensorScale));
                   }
                 } else if (part == Part::FP8Latent) {
                   Value col = at.back();
                   Value first = arith::AddIOp::create(
                       nb, nl,
                       arith::MulIOp::create(
                           nb, nl,
                           arith::DivUIOp::create(nb, nl, col, c(*group)),
                           c(4)),
                       c(dc));
                   Value scale = arith::BitcastOp::create(
                       nb, nl, nb.getF32Type(),
                       fromBytes(nb, nl, 4, [&](int k) {
                         return byteAt(
                             arith::AddIOp::create(nb, nl, first, c(k)));
                       }));
                   v = castTo(
                       nb, nl, ty.getElementType(),
                       arith::MulFOp::create(
                           nb, nl, buildE4M3ToF32(nb, nl, byteAt(col)), scale));
                 } else {
                   Value first = arith::AddIOp::create(
                       nb, nl,
                       arith::MulIOp::create(
                           nb, nl, linalg::IndexOp::create(nb, nl, 2), c(2)),
                       c(dc + 4 * (dc / *group)));
                   Value bits = fromBytes(nb, nl, 2, [&](int k) {
                     return byteAt(arith::AddIOp::create(nb, nl, first, c(k)));
                   });
                   Value f = arith::BitcastOp::create(
                       nb, nl, nb.getF32Type(),
                       arith::ShLIOp::create(nb, nl, bits, i32c(nb, nl, 16)));
                   v = castTo(nb, nl, ty.getElementType(), f);
                 }
                 Value zero = arith::ConstantOp::create(
                     nb, nl, nb.getZeroAttr(ty.getElementType()));
                 linalg::YieldOp::create(nb, nl,
                                         ValueRange{arith::SelectOp::create(
                                             nb, nl, inside, v, zero)});
               })
        .getResult(0);
  };
  auto latentTy = getLatent().getType();
  SmallVector<Value> results = {
      gather(latentTy, 0, group ? Part::FP8Latent : Part::Plain)};
  if (Value rope = getKeyRope())
    results.push_back(gather(cast<RankedTensorType>(rope.getType()),
                             group ? 0 : latentTy.getDimSize(2),
                             group ? Part::FP8Rope : Part::Plain));
  return results;
}
