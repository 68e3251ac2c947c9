#include "partition/units.hpp"

#include <gtest/gtest.h>

#include "partition/dtype.hpp"

namespace trainmem {
namespace {

TEST(Units, CheckedArithmeticThrowsInsteadOfWrapping) {
  const Bytes big(UINT64_MAX - 1);
  EXPECT_THROW(big + Bytes(2), OverflowError);
  EXPECT_THROW(Bytes(1ULL << 40) * (1ULL << 40), OverflowError);
  EXPECT_THROW(Bytes(1) - Bytes(2), OverflowError);
  EXPECT_EQ((Bytes(3) * 4 + Bytes(1)).value, 13u);
}

TEST(Units, HundredTrillionParametersAtTwentyBytes) {
  // 1e14 parameters * 20 bytes = 2e15 bytes: far below 2^64 (1.8e19), must be exact.
  const ElementCount n(100'000'000'000'000ULL);
  EXPECT_EQ((bytes_of(n, Dtype::fp32) * 5).value, 2'000'000'000'000'000ULL);
}

TEST(Dtype, BytesRoundUpForSubByteTypes) {
  EXPECT_EQ(bytes_of(ElementCount(3), Dtype::int4).value, 2u);  // 12 bits -> 2 bytes
  EXPECT_EQ(bytes_of(ElementCount(3), Dtype::bf16).value, 6u);
  EXPECT_EQ(bytes_of(ElementCount(3), Dtype::fp32).value, 12u);
  EXPECT_EQ(parse_dtype("nf4"), Dtype::nf4);
  EXPECT_FALSE(parse_dtype("fp64").has_value());
}

}  // namespace
}  // namespace trainmem
