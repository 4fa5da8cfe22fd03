// State: a tree of named tensors and plain values, the C++ analogue of Python's Dict[str, Any].
//
// A State is one of: null, bool, int64, double, string, list of State, map of State (string keys,
// insertion order kept), or Tensor. It is a value type: copies are deep for the tree and cheap for
// tensors (which share their immutable bytes). Moving is cheap. Wrong-type access throws
// InvalidArgumentError. A State is not synchronized: share it between threads read-only.
#pragma once

#include <concepts>
#include <cstdint>
#include <unordered_map>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "cairn/tensor.hpp"

namespace cairn {

class State {
 public:
  enum class Kind { Null, Bool, Int, Double, String, List, Map, Tensor };
  using List = std::vector<State>;
  using Entry = std::pair<std::string, State>;

  State() noexcept = default;
  State(bool value) : value_(value) {}
  // Any integer type becomes an int64 (State(3) is an int, not a double). Unsigned values above
  // INT64_MAX throw InvalidArgumentError.
  template <std::integral T>
    requires(!std::same_as<T, bool>)
  State(T value) : value_(checked_int64(value)) {}
  State(double value) : value_(value) {}
  State(std::string value) : value_(std::move(value)) {}
  State(std::string_view value) : value_(std::string(value)) {}
  State(const char* value) : value_(std::string(value)) {}  // a string, never a bool
  State(Tensor value) : value_(std::move(value)) {}

  static State list();
  static State map();

  Kind kind() const noexcept { return static_cast<Kind>(value_.index()); }
  bool is_null() const noexcept { return kind() == Kind::Null; }
  bool is_bool() const noexcept { return kind() == Kind::Bool; }
  bool is_int() const noexcept { return kind() == Kind::Int; }
  bool is_double() const noexcept { return kind() == Kind::Double; }
  bool is_string() const noexcept { return kind() == Kind::String; }
  bool is_list() const noexcept { return kind() == Kind::List; }
  bool is_map() const noexcept { return kind() == Kind::Map; }
  bool is_tensor() const noexcept { return kind() == Kind::Tensor; }

  bool as_bool() const;
  int64_t as_int() const;
  double as_double() const;
  const std::string& as_string() const;
  const Tensor& as_tensor() const;

  // Maps. operator[] inserts a null value for a missing key (a null State becomes a map first);
  // at() throws InvalidArgumentError for a missing key. As with std::vector, a reference into a
  // map or list is invalidated when an entry is added to that same map or list:
  //   State& a = s["a"]; s["b"] = 1;  // `a` now dangles; write s["a"] again instead
  State& operator[](std::string_view key);
  State& operator[](const char* key) { return (*this)[std::string_view(key)]; }
  const State& at(std::string_view key) const;
  State& at(std::string_view key);
  bool contains(std::string_view key) const;
  const std::vector<Entry>& items() const;  // in insertion order
  // Removes `key` if present; returns whether it was.
  bool erase(std::string_view key);

  // Lists. push_back turns a null State into a list first. Indexing out of range throws
  // InvalidArgumentError.
  void push_back(State value);
  template <std::integral I>
    requires(!std::same_as<I, bool>)
  State& operator[](I index) {
    if constexpr (std::is_signed_v<I>) {
      if (index < 0) throw_negative_index();
    }
    return at(static_cast<size_t>(index));
  }
  const State& at(size_t index) const;
  State& at(size_t index);
  const List& elements() const;

  // Number of entries of a map or list; 0 for null. Throws for scalars and tensors.
  size_t size() const;

  // Deep equality. Doubles compare by bit pattern, so NaN == NaN and -0.0 != 0.0: equal States
  // serialize to equal bytes.
  friend bool operator==(const State& a, const State& b) noexcept;

 private:
  struct MapData {
    std::vector<Entry> entries;
    struct KeyHash {
      using is_transparent = void;
      size_t operator()(std::string_view key) const noexcept {
        return std::hash<std::string_view>{}(key);
      }
    };
    // key -> position in entries
    std::unordered_map<std::string, size_t, KeyHash, std::equal_to<>> index;
    // Position of `key` in entries, or entries.size() when absent.
    size_t find(std::string_view key) const;
  };

  template <std::integral T>
  static int64_t checked_int64(T value) {
    if constexpr (std::is_unsigned_v<T> && sizeof(T) >= sizeof(int64_t)) {
      if (value > static_cast<T>(INT64_MAX)) throw_unsigned_overflow(static_cast<uint64_t>(value));
    }
    return static_cast<int64_t>(value);
  }
  [[noreturn]] static void throw_unsigned_overflow(uint64_t value);
  [[noreturn]] static void throw_negative_index();
  [[noreturn]] void throw_wrong_kind(std::string_view wanted) const;
  MapData& map_data();
  const MapData& map_data() const;
  List& list_data();
  const List& list_data() const;

  std::variant<std::monostate, bool, int64_t, double, std::string, List, MapData, Tensor> value_;
};

std::string_view kind_name(State::Kind kind) noexcept;

}  // namespace cairn
