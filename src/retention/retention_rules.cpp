#include "retention/retention_rules.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>

#include "cairn/text.hpp"
#include "checkpoint/layout.hpp"

namespace cairn::checkpoint {
namespace {

const std::string kKeepAll = "keeping every checkpoint (no limit on their number)";

std::string seconds_text(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.0f s", seconds);
  return text;
}

CheckpointName name_of(const std::string& name) {
  return parse_checkpoint_name(name).value_or(CheckpointName{});  // the ledger checked them
}

std::string joined(const std::vector<std::string>& parts) {
  std::string text;
  for (const std::string& part : parts) text += (text.empty() ? "" : "; ") + part;
  return text;
}

// Why each checkpoint is kept (any reason keeps it) or, for the others, what each policy said.
struct Reasons {
  std::map<std::string, std::vector<std::string>> keep;
  std::map<std::string, std::vector<std::string>> against;
};

// Whether a checkpoint's reasons are wanted (all of them, or only those whose fate is decided).
using Wanted = std::function<bool(const std::string&)>;

// Ranks every entry (the best k are the best among all), recording reasons for the wanted ones.
void rank_best(const RetentionPolicy& policy, const std::vector<const LedgerEntry*>& entries,
               const Wanted& wanted, Reasons& reasons) {
  struct Ranked {
    const LedgerEntry* entry;
    double value;
    int64_t seq;
  };
  std::vector<Ranked> ranked;
  for (const LedgerEntry* entry : entries) {
    auto found = entry->metrics.find(policy.metric);
    if (found == entry->metrics.end() || !std::isfinite(found->second)) {
      if (wanted(entry->name)) reasons.against[entry->name].push_back("no " + policy.metric + " value");
      continue;
    }
    ranked.push_back({entry, found->second, name_of(entry->name).seq});
  }
  const bool larger_is_better = policy.mode == MetricMode::Max;
  std::sort(ranked.begin(), ranked.end(), [&](const Ranked& a, const Ranked& b) {
    if (a.value != b.value) return larger_is_better ? a.value > b.value : a.value < b.value;
    return a.seq > b.seq;  // ties keep the newer
  });
  const size_t k = static_cast<size_t>(*policy.keep_best_k);
  const std::string by = " by " + policy.metric + " (" + metric_mode_name(policy.mode) + ") = ";
  for (size_t i = 0; i < ranked.size(); ++i) {
    const std::string& name = ranked[i].entry->name;
    if (!wanted(name)) continue;
    if (i < k) {
      reasons.keep[name].push_back("best " + std::to_string(i + 1) + " of " + std::to_string(k) +
                                   by + format_value(ranked[i].value));
    } else {
      reasons.against[name].push_back(policy.metric + " = " + format_value(ranked[i].value) +
                                      " is not among the best " + std::to_string(k));
    }
  }
}

bool kept_by_epoch(const RetentionPolicy& policy, const CheckpointName& name) {
  return policy.every_n_on() && !name.batches_this_epoch && name.epoch % *policy.keep_every_n_epochs == 0;
}

void keep_every_nth_epoch(const RetentionPolicy& policy,
                          const std::vector<const LedgerEntry*>& entries, Reasons& reasons) {
  const int64_t n = *policy.keep_every_n_epochs;
  for (const LedgerEntry* entry : entries) {
    const CheckpointName name = name_of(entry->name);
    if (kept_by_epoch(policy, name)) {
      reasons.keep[entry->name].push_back("end of epoch " + std::to_string(name.epoch) +
                                          ", a multiple of " + std::to_string(n));
    }
  }
}

}  // namespace

RetentionOutcome apply_retention(Ledger& ledger, const RetentionPolicy& policy,
                                 const std::optional<std::string>& newest_valid,
                                 Explain explain) {
  RetentionOutcome outcome;
  Reasons reasons;
  const bool everything = explain == Explain::Everything;
  const bool limited = policy.keep_last && *policy.keep_last >= 0;
  const std::string window =
      limited ? "the last " + std::to_string(*policy.keep_last) : std::string();

  // Retained checkpoints are decided again. Explaining only the changes, those the
  // every-n-th-epoch policy keeps stay where they are: that policy reads the name alone, so they
  // stay retained whatever else happens (and a long list of them is not moved at every save).
  std::vector<LedgerEntry> candidates;
  if (!everything && policy.every_n_on()) {
    const auto others = std::stable_partition(
        ledger.retained.begin(), ledger.retained.end(),
        [&](const LedgerEntry& entry) { return kept_by_epoch(policy, name_of(entry.name)); });
    candidates.assign(std::make_move_iterator(others), std::make_move_iterator(ledger.retained.end()));
    ledger.retained.erase(others, ledger.retained.end());
  } else {
    candidates = std::move(ledger.retained);
    ledger.retained.clear();
  }

  // The AllenNLP pair: the last-N queue, and one kept for good every K seconds.
  while (limited && ledger.queue.size() > static_cast<size_t>(*policy.keep_last)) {
    LedgerEntry oldest = std::move(ledger.queue.front());
    ledger.queue.erase(ledger.queue.begin());
    outcome.changed.push_back(oldest.name);
    const double since = oldest.save_time - ledger.reference_time;
    if (policy.keep_every_seconds && since > *policy.keep_every_seconds) {
      reasons.keep[oldest.name].push_back("for good, one every " +
                                          seconds_text(*policy.keep_every_seconds) + " (" +
                                          seconds_text(since) + " after the previous one)");
      ledger.reference_time = oldest.save_time;
      ledger.permanent.push_back(std::move(oldest));
      continue;
    }
    if (policy.keep_every_seconds) {
      reasons.against[oldest.name].push_back("only " + seconds_text(since) +
                                             " after the last one kept for good");
    }
    candidates.push_back(std::move(oldest));
  }
  if (everything) {
    for (const LedgerEntry& entry : ledger.queue) {
      reasons.keep[entry.name].push_back(limited ? "one of " + window : kKeepAll);
    }
    for (const LedgerEntry& entry : ledger.permanent) {
      if (reasons.keep[entry.name].empty()) {
        reasons.keep[entry.name].push_back(
            policy.keep_every_seconds
                ? "for good, one every " + seconds_text(*policy.keep_every_seconds)
                : std::string("for good (by an earlier keep-every-seconds option)"));
      }
    }
  }
  for (const LedgerEntry& entry : candidates) {
    if (!limited) reasons.keep[entry.name].push_back(kKeepAll);  // N turned off since
  }

  // The policies decided again at every save. Only candidates can be doomed; explaining only
  // the changes, the others are looked at just where best-k must rank the candidates among them.
  std::vector<const LedgerEntry*> decided;
  for (const LedgerEntry& entry : candidates) decided.push_back(&entry);
  std::set<std::string> candidate_names;
  for (const LedgerEntry& entry : candidates) candidate_names.insert(entry.name);
  const Wanted wanted = [&](const std::string& name) {
    return everything || candidate_names.contains(name);
  };
  if (everything) {
    std::vector<const LedgerEntry*> kept = ledger.kept();
    decided.insert(decided.end(), kept.begin(), kept.end());
  }
  if (policy.best_k_on() && (everything || !candidates.empty())) {
    std::vector<const LedgerEntry*> everyone = ledger.kept();
    for (const LedgerEntry& entry : candidates) everyone.push_back(&entry);
    rank_best(policy, everyone, wanted, reasons);
  }
  if (policy.every_n_on()) keep_every_nth_epoch(policy, decided, reasons);
  // What a restore would use stays (only named when no other policy keeps it).
  if (newest_valid && !(limited && *policy.keep_last == 0) && wanted(*newest_valid) &&
      reasons.keep[*newest_valid].empty()) {
    reasons.keep[*newest_valid].push_back("the newest valid checkpoint");
  }

  std::vector<std::string> doomed_now;
  std::vector<LedgerEntry> retained_now;
  for (LedgerEntry& entry : candidates) {
    if (!reasons.keep[entry.name].empty()) {
      retained_now.push_back(std::move(entry));
      continue;
    }
    if (std::find(outcome.changed.begin(), outcome.changed.end(), entry.name) ==
        outcome.changed.end()) {
      outcome.changed.push_back(entry.name);  // retained until now
    }
    doomed_now.push_back(entry.name);
    ledger.doomed.push_back(entry.name);
  }
  // Back in save order: the few decided now merge into those that stayed.
  const auto by_seq = [](const LedgerEntry& a, const LedgerEntry& b) {
    return name_of(a.name).seq < name_of(b.name).seq;
  };
  std::sort(retained_now.begin(), retained_now.end(), by_seq);
  const size_t stayed = ledger.retained.size();
  ledger.retained.insert(ledger.retained.end(), std::make_move_iterator(retained_now.begin()),
                         std::make_move_iterator(retained_now.end()));
  const auto middle = ledger.retained.begin() + static_cast<std::ptrdiff_t>(stayed);
  if (stayed > 0 && middle != ledger.retained.end() && by_seq(*middle, *(middle - 1))) {
    std::inplace_merge(ledger.retained.begin(), middle, ledger.retained.end(), by_seq);
  }

  auto is_doomed_now = [&](const std::string& name) {
    return std::find(doomed_now.begin(), doomed_now.end(), name) != doomed_now.end();
  };
  auto kept_decision = [&](const std::string& name) {
    outcome.decisions.push_back({name, true, "kept: " + joined(reasons.keep[name])});
  };
  if (everything) {
    for (const LedgerEntry* entry : ledger.kept()) kept_decision(entry->name);
  } else {
    for (const std::string& name : outcome.changed) {
      if (!is_doomed_now(name)) kept_decision(name);
    }
  }
  for (const std::string& name : ledger.doomed) {
    const bool now = is_doomed_now(name);
    std::string reason = now ? "deleted: outside " + window + ", no policy keeps it"
                             : "deleted: decided at an earlier save, not yet removed";
    if (now && !reasons.against[name].empty()) reason += " (" + joined(reasons.against[name]) + ")";
    outcome.decisions.push_back({name, false, std::move(reason)});
  }
  std::sort(outcome.decisions.begin(), outcome.decisions.end(),
            [](const RetentionDecision& a, const RetentionDecision& b) {
              return name_of(a.name).seq < name_of(b.name).seq;
            });
  return outcome;
}

}  // namespace cairn::checkpoint
