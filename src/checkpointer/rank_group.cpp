#include "checkpointer/rank_group.hpp"

#include "cairn/error.hpp"
#include "core/forced_unwind.hpp"

namespace cairn::checkpointer {

namespace {

// Each rank's outcome of a step: it succeeded with a message, or failed with a reason.
struct Outcome {
  bool ok = false;
  std::string text;  // the message, or the failure's reason
};

void put(MessageWriter& out, const Outcome& outcome) {
  put(out, outcome.ok);
  put(out, outcome.text);
}
void take(MessageReader& in, Outcome& outcome) {
  take(in, outcome.ok);
  take(in, outcome.text);
}

}  // namespace

std::vector<std::string> RankGroup::gather_outcomes(
    std::string_view what, const std::function<std::string()>& step) const {
  Outcome mine;
  std::exception_ptr own_error;
  try {
    mine = {true, step()};
  }
  CAIRN_RETHROW_FORCED_UNWIND
  catch (const std::exception& error) {
    own_error = std::current_exception();
    mine = {false, error.what()};
  } catch (...) {
    own_error = std::current_exception();
    mine = {false, "an unknown exception"};
  }
  const std::vector<std::string> gathered = coordinator_.all_gather(encode(mine), what);
  if (own_error) std::rethrow_exception(own_error);
  std::vector<std::string> messages;
  std::string failures;
  for (size_t rank = 0; rank < gathered.size(); ++rank) {
    Outcome outcome = decode<Outcome>(gathered[rank], what);
    if (outcome.ok) {
      messages.push_back(std::move(outcome.text));
    } else {
      failures += (failures.empty() ? "" : "; ") + std::string("rank ") + std::to_string(rank) +
                  ": " + outcome.text;
    }
  }
  if (!failures.empty()) {
    throw RankError(std::string(what) + " failed on another rank (" + failures + ")",
                    serialization_dir_);
  }
  return messages;
}

}  // namespace cairn::checkpointer
