#include "cairn/coordinator.hpp"

namespace cairn {
namespace {

class SingleProcess final : public Coordinator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::vector<std::string> all_gather(const std::string& mine, std::string_view) override {
    return {mine};
  }
};

}  // namespace

Coordinator& single_process_coordinator() {
  static SingleProcess instance;
  return instance;
}

}  // namespace cairn
