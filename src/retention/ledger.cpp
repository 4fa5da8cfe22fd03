#include "retention/ledger.hpp"

#include <algorithm>

namespace cairn::checkpoint {

bool Ledger::owns(const std::string& name) const {
  auto has = [&](const std::vector<LedgerEntry>& entries) {
    return std::any_of(entries.begin(), entries.end(),
                       [&](const LedgerEntry& entry) { return entry.name == name; });
  };
  return has(queue) || has(permanent) || has(retained) || has(pending) ||
         std::find(doomed.begin(), doomed.end(), name) != doomed.end();
}

std::vector<const LedgerEntry*> Ledger::kept() const {
  std::vector<const LedgerEntry*> all;
  for (const auto* list : {&queue, &permanent, &retained}) {
    for (const LedgerEntry& entry : *list) all.push_back(&entry);
  }
  return all;
}

}  // namespace cairn::checkpoint
