// Tensor elements as doubles, for statistics and diffs. Formats: IEEE binary16 (F16), bfloat16
// (the top half of a binary32), and the OCP 8-bit floats F8_E4M3 (bias 7, no infinities,
// S.1111.111 is NaN) and F8_E5M2 (bias 15, the top byte of a binary16).
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "cairn/error.hpp"
#include "cairn/inspect.hpp"

namespace cairn {
namespace {

template <typename T>
T load(const std::byte* bytes) {
  T value;
  std::memcpy(&value, bytes, sizeof(T));
  return value;
}

double half_to_double(uint16_t bits) {
  const int sign = (bits >> 15) != 0 ? -1 : 1;
  const int exponent = (bits >> 10) & 0x1f;
  const int mantissa = bits & 0x3ff;
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);  // zero and subnormals
  if (exponent == 31) {
    return mantissa != 0 ? std::numeric_limits<double>::quiet_NaN()
                         : sign * std::numeric_limits<double>::infinity();
  }
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

double e4m3_to_double(uint8_t bits) {
  const int sign = (bits >> 7) != 0 ? -1 : 1;
  const int exponent = (bits >> 3) & 0xf;
  const int mantissa = bits & 0x7;
  if (exponent == 15 && mantissa == 7) return std::numeric_limits<double>::quiet_NaN();
  if (exponent == 0) return sign * std::ldexp(mantissa, -9);
  return sign * std::ldexp(8 + mantissa, exponent - 10);
}

}  // namespace

double element_as_double(const Tensor& tensor, size_t index) {
  const size_t width = dtype_size(tensor.dtype());
  if (index >= tensor.nbytes() / width) throw InvalidArgumentError("element index out of range");
  const std::byte* at = tensor.data().data() + index * width;
  switch (tensor.dtype()) {
    case DType::BOOL: return load<uint8_t>(at) != 0 ? 1.0 : 0.0;
    case DType::U8: return load<uint8_t>(at);
    case DType::I8: return load<int8_t>(at);
    case DType::U16: return load<uint16_t>(at);
    case DType::I16: return load<int16_t>(at);
    case DType::U32: return load<uint32_t>(at);
    case DType::I32: return load<int32_t>(at);
    case DType::U64: return static_cast<double>(load<uint64_t>(at));
    case DType::I64: return static_cast<double>(load<int64_t>(at));
    case DType::F16: return half_to_double(load<uint16_t>(at));
    case DType::BF16: return std::bit_cast<float>(uint32_t{load<uint16_t>(at)} << 16);
    case DType::F32: return load<float>(at);
    case DType::F64: return load<double>(at);
    case DType::F8_E4M3: return e4m3_to_double(load<uint8_t>(at));
    case DType::F8_E5M2: return half_to_double(static_cast<uint16_t>(load<uint8_t>(at) << 8));
  }
  return 0;
}

TensorStats tensor_stats(const Tensor& tensor) {
  TensorStats stats;
  const size_t count = tensor.nbytes() / dtype_size(tensor.dtype());
  double sum = 0;
  for (size_t i = 0; i < count; ++i) {
    const double value = element_as_double(tensor, i);
    if (std::isnan(value)) {
      ++stats.nan;
    } else if (std::isinf(value)) {
      ++stats.inf;
    } else {
      if (stats.finite == 0 || value < stats.min) stats.min = value;
      if (stats.finite == 0 || value > stats.max) stats.max = value;
      sum += value;
      ++stats.finite;
    }
  }
  if (stats.finite > 0) stats.mean = sum / static_cast<double>(stats.finite);
  return stats;
}

}  // namespace cairn
