#include <gtest/gtest.h>

#include <cstring>

#include "cairn/cairn.hpp"

namespace cairn {
namespace {

TEST(DType, NamesAndSizesMatchSafetensors) {
  EXPECT_EQ(dtype_name(DType::BF16), "BF16");
  EXPECT_EQ(dtype_name(DType::F8_E4M3), "F8_E4M3");
  EXPECT_EQ(dtype_size(DType::BOOL), 1u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::U32), 4u);
  EXPECT_EQ(dtype_size(DType::I64), 8u);
  EXPECT_EQ(std::size(kAllDTypes), 15u);
  for (DType dtype : kAllDTypes) EXPECT_EQ(dtype_from_name(dtype_name(dtype)), dtype);
  EXPECT_FALSE(dtype_from_name("F36").has_value());
  EXPECT_FALSE(dtype_from_name("f32").has_value());
}

TEST(Tensor, OwningTensorChecksSizeAgainstShape) {
  Tensor tensor(DType::F32, {2, 3}, std::vector<std::byte>(24));
  EXPECT_EQ(tensor.nbytes(), 24u);
  EXPECT_EQ(tensor.numel(), 6);
  EXPECT_TRUE(tensor.owns_data());
  EXPECT_THROW(Tensor(DType::F32, {2, 3}, std::vector<std::byte>(23)), InvalidArgumentError);
  EXPECT_THROW(Tensor(DType::F32, {-1}, {}), InvalidArgumentError);
}

TEST(Tensor, ScalarAndZeroSize) {
  Tensor scalar(DType::F64, {}, std::vector<std::byte>(8));
  EXPECT_EQ(scalar.numel(), 1);
  Tensor empty(DType::F64, {0, 5}, {});
  EXPECT_EQ(empty.nbytes(), 0u);
  EXPECT_EQ(empty.numel(), 0);
}

TEST(Tensor, OverflowingShapeIsRejected) {
  EXPECT_THROW(tensor_nbytes(DType::F64, std::vector<int64_t>{1LL << 31, 1LL << 31, 1LL << 3}),
               InvalidArgumentError);
}

TEST(Tensor, ViewBorrowsAndCopiesShareBytes) {
  float values[4] = {1, 2, 3, 4};
  Tensor view = Tensor::view(DType::F32, {4}, values, sizeof(values));
  EXPECT_FALSE(view.owns_data());
  EXPECT_EQ(view.data().data(), reinterpret_cast<const std::byte*>(values));
  Tensor copy = view;  // a copy of a view still views
  EXPECT_EQ(copy.data().data(), view.data().data());
  Tensor owned = view.to_owned();
  EXPECT_TRUE(owned.owns_data());
  EXPECT_NE(owned.data().data(), view.data().data());
  EXPECT_EQ(owned, view);
  values[0] = 5;
  EXPECT_NE(owned, view);
  EXPECT_THROW(Tensor::view(DType::F32, {5}, values, sizeof(values)), InvalidArgumentError);
}

TEST(Tensor, EqualityComparesDtypeShapeAndBytes) {
  std::vector<std::byte> bytes(8, std::byte{1});
  Tensor a(DType::I32, {2}, bytes);
  EXPECT_EQ(a, Tensor(DType::I32, {2}, bytes));
  EXPECT_NE(a, Tensor(DType::U32, {2}, bytes));
  EXPECT_NE(a, Tensor(DType::I32, {1, 2}, bytes));
  bytes[7] = std::byte{2};
  EXPECT_NE(a, Tensor(DType::I32, {2}, bytes));
}

}  // namespace
}  // namespace cairn
