#include "cairn/state.hpp"

#include <bit>
#include <string>

#include "cairn/error.hpp"

namespace cairn {

std::string_view kind_name(State::Kind kind) noexcept {
  switch (kind) {
    case State::Kind::Null: return "null";
    case State::Kind::Bool: return "bool";
    case State::Kind::Int: return "int";
    case State::Kind::Double: return "double";
    case State::Kind::String: return "string";
    case State::Kind::List: return "list";
    case State::Kind::Map: return "map";
    case State::Kind::Tensor: return "tensor";
  }
  return "?";
}

State State::list() {
  State state;
  state.value_ = List{};
  return state;
}

State State::map() {
  State state;
  state.value_ = MapData{};
  return state;
}

void State::throw_unsigned_overflow(uint64_t value) {
  throw InvalidArgumentError("integer " + std::to_string(value) +
                             " does not fit in a State int (int64)");
}

void State::throw_wrong_kind(std::string_view wanted) const {
  throw InvalidArgumentError("State holds a " + std::string(kind_name(kind())) + ", not a " +
                             std::string(wanted));
}

bool State::as_bool() const {
  if (!is_bool()) throw_wrong_kind("bool");
  return std::get<bool>(value_);
}

int64_t State::as_int() const {
  if (!is_int()) throw_wrong_kind("int");
  return std::get<int64_t>(value_);
}

double State::as_double() const {
  if (!is_double()) throw_wrong_kind("double");
  return std::get<double>(value_);
}

const std::string& State::as_string() const {
  if (!is_string()) throw_wrong_kind("string");
  return std::get<std::string>(value_);
}

const Tensor& State::as_tensor() const {
  if (!is_tensor()) throw_wrong_kind("tensor");
  return std::get<Tensor>(value_);
}

// ---- maps ----

size_t State::MapData::find(std::string_view key) const {
  auto it = index.find(key);
  return it == index.end() ? entries.size() : it->second;
}

State::MapData& State::map_data() {
  if (!is_map()) throw_wrong_kind("map");
  return std::get<MapData>(value_);
}

const State::MapData& State::map_data() const {
  if (!is_map()) throw_wrong_kind("map");
  return std::get<MapData>(value_);
}

State& State::operator[](std::string_view key) {
  if (is_null()) value_ = MapData{};
  MapData& data = map_data();
  size_t position = data.find(key);
  if (position == data.entries.size()) {
    data.entries.emplace_back(std::string(key), State());
    data.index.emplace(std::string(key), position);
  }
  return data.entries[position].second;
}

const State& State::at(std::string_view key) const {
  const MapData& data = map_data();
  size_t position = data.find(key);
  if (position == data.entries.size()) {
    throw InvalidArgumentError("State map has no key '" + std::string(key) + "'");
  }
  return data.entries[position].second;
}

State& State::at(std::string_view key) {
  return const_cast<State&>(static_cast<const State&>(*this).at(key));
}

bool State::contains(std::string_view key) const {
  const MapData& data = map_data();
  return data.find(key) != data.entries.size();
}

const std::vector<State::Entry>& State::items() const { return map_data().entries; }

bool State::erase(std::string_view key) {
  MapData& data = map_data();
  size_t position = data.find(key);
  if (position == data.entries.size()) return false;
  data.index.erase(data.index.find(key));
  data.entries.erase(data.entries.begin() + static_cast<std::ptrdiff_t>(position));
  for (size_t i = position; i < data.entries.size(); ++i) data.index[data.entries[i].first] = i;
  return true;
}

// ---- lists ----

State::List& State::list_data() {
  if (!is_list()) throw_wrong_kind("list");
  return std::get<List>(value_);
}

const State::List& State::list_data() const {
  if (!is_list()) throw_wrong_kind("list");
  return std::get<List>(value_);
}

void State::push_back(State value) {
  if (is_null()) value_ = List{};
  list_data().push_back(std::move(value));
}

const State& State::at(size_t index) const {
  const List& list = list_data();
  if (index >= list.size()) {
    throw InvalidArgumentError("State list index " + std::to_string(index) +
                               " out of range (size " + std::to_string(list.size()) + ")");
  }
  return list[index];
}

State& State::at(size_t index) {
  return const_cast<State&>(static_cast<const State&>(*this).at(index));
}

void State::throw_negative_index() { throw InvalidArgumentError("negative State list index"); }

const State::List& State::elements() const { return list_data(); }

size_t State::size() const {
  switch (kind()) {
    case Kind::Null: return 0;
    case Kind::List: return list_data().size();
    case Kind::Map: return map_data().entries.size();
    default: throw_wrong_kind("map or list");
  }
}

bool operator==(const State& a, const State& b) noexcept {
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case State::Kind::Null: return true;
    case State::Kind::Bool: return std::get<bool>(a.value_) == std::get<bool>(b.value_);
    case State::Kind::Int: return std::get<int64_t>(a.value_) == std::get<int64_t>(b.value_);
    case State::Kind::Double:
      return std::bit_cast<uint64_t>(std::get<double>(a.value_)) ==
             std::bit_cast<uint64_t>(std::get<double>(b.value_));
    case State::Kind::String:
      return std::get<std::string>(a.value_) == std::get<std::string>(b.value_);
    case State::Kind::List: return std::get<State::List>(a.value_) == std::get<State::List>(b.value_);
    case State::Kind::Map:
      return std::get<State::MapData>(a.value_).entries ==
             std::get<State::MapData>(b.value_).entries;
    case State::Kind::Tensor: return std::get<Tensor>(a.value_) == std::get<Tensor>(b.value_);
  }
  return false;
}

}  // namespace cairn
