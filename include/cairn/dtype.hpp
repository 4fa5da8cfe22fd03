// Element types: exactly the dtypes of the safetensors format, with their safetensors names.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace cairn {

enum class DType {
  BOOL, U8, I8, U16, I16, U32, I32, U64, I64, F16, BF16, F32, F64, F8_E4M3, F8_E5M2,
};

inline constexpr DType kAllDTypes[] = {
    DType::BOOL, DType::U8,  DType::I8,   DType::U16, DType::I16,     DType::U32,
    DType::I32,  DType::U64, DType::I64,  DType::F16, DType::BF16,    DType::F32,
    DType::F64,  DType::F8_E4M3, DType::F8_E5M2,
};

// Bytes per element.
std::size_t dtype_size(DType dtype) noexcept;
// The safetensors name: "BOOL", "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_name(DType dtype) noexcept;
// Inverse of dtype_name; nullopt for a name safetensors does not define.
std::optional<DType> dtype_from_name(std::string_view name) noexcept;
bool is_floating(DType dtype) noexcept;

}  // namespace cairn
