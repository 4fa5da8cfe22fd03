// The ranks of one Checkpointer and the two collectives its protocols are made of. Every rank
// makes the same calls in the same order; rank 0 decides, and every rank learns each step's
// outcome before the next, so that all ranks succeed or fail together (docs/sharding.md).
#pragma once

#include <exception>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "cairn/coordinator.hpp"
#include "checkpointer/rank_messages.hpp"

namespace cairn::checkpointer {

class RankGroup {
 public:
  RankGroup(Coordinator& coordinator, std::filesystem::path serialization_dir)
      : coordinator_(coordinator), serialization_dir_(std::move(serialization_dir)) {}

  int rank() const { return coordinator_.rank(); }
  int size() const { return coordinator_.size(); }
  bool leader() const { return rank() == 0; }

  // Runs `step` on this rank, then shares every rank's outcome: returns each rank's message,
  // indexed by rank, when all succeeded; otherwise rethrows this rank's own error, or throws
  // RankError naming the ranks that failed and why. `what` names the step in errors. Alone, it
  // runs `step` and returns its message as it is (nothing is encoded).
  template <typename Message>
  std::vector<Message> on_every_rank(std::string_view what,
                                     const std::function<Message()>& step) const {
    if (size() == 1) return {step()};
    std::vector<std::string> outcomes =
        gather_outcomes(what, [&] { return encode(step()); });
    std::vector<Message> messages;
    messages.reserve(outcomes.size());
    for (const std::string& outcome : outcomes) messages.push_back(decode<Message>(outcome, what));
    return messages;
  }

  // Rank 0's `leaders`, on every rank (the other ranks' argument is ignored).
  template <typename Message>
  Message agree(const Message& leaders, std::string_view what) const {
    if (size() == 1) return leaders;
    const std::string mine = leader() ? encode(leaders) : encode(Message{});
    return decode<Message>(coordinator_.all_gather(mine, what)[0], what);
  }

 private:
  // The collective under on_every_rank: each rank's encoded message, or the failures.
  std::vector<std::string> gather_outcomes(std::string_view what,
                                           const std::function<std::string()>& step) const;

  Coordinator& coordinator_;
  std::filesystem::path serialization_dir_;  // named by RankError
};

}  // namespace cairn::checkpointer
