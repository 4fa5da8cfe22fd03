#include "cairn/dtype.hpp"

namespace cairn {
namespace {

struct DTypeInfo {
  std::string_view name;
  std::size_t size;
  bool floating;
};

constexpr DTypeInfo info(DType dtype) noexcept {
  switch (dtype) {
    case DType::BOOL: return {"BOOL", 1, false};
    case DType::U8: return {"U8", 1, false};
    case DType::I8: return {"I8", 1, false};
    case DType::U16: return {"U16", 2, false};
    case DType::I16: return {"I16", 2, false};
    case DType::U32: return {"U32", 4, false};
    case DType::I32: return {"I32", 4, false};
    case DType::U64: return {"U64", 8, false};
    case DType::I64: return {"I64", 8, false};
    case DType::F16: return {"F16", 2, true};
    case DType::BF16: return {"BF16", 2, true};
    case DType::F32: return {"F32", 4, true};
    case DType::F64: return {"F64", 8, true};
    case DType::F8_E4M3: return {"F8_E4M3", 1, true};
    case DType::F8_E5M2: return {"F8_E5M2", 1, true};
  }
  return {"?", 1, false};
}

}  // namespace

std::size_t dtype_size(DType dtype) noexcept { return info(dtype).size; }
std::string_view dtype_name(DType dtype) noexcept { return info(dtype).name; }
bool is_floating(DType dtype) noexcept { return info(dtype).floating; }

std::optional<DType> dtype_from_name(std::string_view name) noexcept {
  for (DType dtype : kAllDTypes) {
    if (info(dtype).name == name) return dtype;
  }
  return std::nullopt;
}

}  // namespace cairn
