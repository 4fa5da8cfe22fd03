// cairn diff A B: how two checkpoints or files differ, like diff: exit 0 when equal, 1 when not.
#include <cmath>
#include <cstdio>
#include <map>

#include "command.hpp"

namespace cairn::cli {
namespace {

struct DiffOptions {
  std::filesystem::path a, b;
  bool json = false;
};

struct ValueDiff {
  uint64_t differing = 0;  // elements that differ (NaN equals NaN)
  double max_abs = 0;      // over elements where both are finite
  double max_rel = 0;      // |a - b| / max(|a|, |b|)
};

ValueDiff compare_values(const Tensor& a, const Tensor& b) {
  ValueDiff diff;
  const size_t count = a.nbytes() / dtype_size(a.dtype());
  for (size_t i = 0; i < count; ++i) {
    const double x = element_as_double(a, i), y = element_as_double(b, i);
    if (x == y || (std::isnan(x) && std::isnan(y))) continue;
    ++diff.differing;
    if (std::isfinite(x) && std::isfinite(y)) {
      const double abs = std::fabs(x - y);
      diff.max_abs = std::max(diff.max_abs, abs);
      diff.max_rel = std::max(diff.max_rel, abs / std::max(std::fabs(x), std::fabs(y)));
    }
  }
  return diff;
}

// Every leaf of every stored part, keyed by "part.path".
std::map<std::string, const State*> leaves_of(const std::vector<StoredState>& stored,
                                              std::vector<std::string>& order) {
  std::map<std::string, const State*> leaves;
  for (const StoredState& part : stored) {
    std::vector<Leaf> list;
    collect_leaves(part.state, part.part, list);
    for (const Leaf& leaf : list) {
      order.push_back(leaf.path);
      leaves[leaf.path] = leaf.value;
    }
  }
  return leaves;
}

int run_diff(const DiffOptions& options) {
  const std::vector<StoredState> a_stored = load_stored(options.a);
  const std::vector<StoredState> b_stored = load_stored(options.b);
  std::vector<std::string> a_order, b_order;
  const auto a = leaves_of(a_stored, a_order);
  const auto b = leaves_of(b_stored, b_order);

  nlohmann::ordered_json changes = nlohmann::ordered_json::array();
  auto report = [&](const std::string& kind, const std::string& name, const std::string& text,
                    nlohmann::ordered_json details) {
    details["change"] = kind;
    details["name"] = name;
    changes.push_back(details);
    // `text` is made of printable parts: dtypes, shapes, numbers, scalar_text.
    if (!options.json) {
      std::printf("%s %s%s\n", kind == "added" ? "+" : kind == "removed" ? "-" : "~",
                  printable(name).c_str(), text.c_str());
    }
  };
  for (const std::string& name : a_order) {
    if (!b.contains(name)) report("removed", name, "", nlohmann::ordered_json::object());
  }
  for (const std::string& name : b_order) {
    if (!a.contains(name)) {
      report("added", name, "", nlohmann::ordered_json::object());
      continue;
    }
    const State& x = *a.at(name);
    const State& y = *b.at(name);
    if (x.is_tensor() && y.is_tensor()) {
      const Tensor& s = x.as_tensor();
      const Tensor& t = y.as_tensor();
      if (s.dtype() != t.dtype() || s.shape() != t.shape()) {
        report("changed", name,
               ": " + std::string(dtype_name(s.dtype())) + " " + format_shape(s.shape()) + " -> " +
                   std::string(dtype_name(t.dtype())) + " " + format_shape(t.shape()),
               {{"from", {{"dtype", dtype_name(s.dtype())}, {"shape", s.shape()}}},
                {"to", {{"dtype", dtype_name(t.dtype())}, {"shape", t.shape()}}}});
      } else if (!(s == t)) {
        const ValueDiff diff = compare_values(s, t);
        char text[160];
        std::snprintf(text, sizeof(text), ": %llu element(s) differ, max abs diff %.6g, max rel diff %.6g",
                      static_cast<unsigned long long>(diff.differing), diff.max_abs, diff.max_rel);
        report("values", name, text,
               {{"differing_elements", diff.differing}, {"max_abs_diff", diff.max_abs},
                {"max_rel_diff", diff.max_rel}});
      }
    } else if (!(x == y)) {
      report("changed", name, ": " + scalar_text(x) + " -> " + scalar_text(y),
             {{"from", scalar_json(x)}, {"to", scalar_json(y)}});
    }
  }
  if (options.json) {
    print_json({{"a", options.a.string()}, {"b", options.b.string()},
                {"equal", changes.empty()}, {"changes", changes}});
  } else if (changes.empty()) {
    std::printf("no differences\n");
  }
  return changes.empty() ? kExitGood : kExitBadData;
}

}  // namespace

void add_diff_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<DiffOptions>();
  CLI::App* diff = app.add_subcommand(
      "diff", "Compare two checkpoints or safetensors files: tensors added (+), removed (-), "
              "changed in dtype or shape or in value (~, with max abs and rel diff), and other "
              "values that differ. Exit status 0 when equal, 1 when different.\n\n"
              "Example:\n  cairn diff runs/a/checkpoints/ckpt-0000000003-epoch1-end "
              "runs/b/checkpoints/ckpt-0000000003-epoch1-end");
  diff->add_option("A", options->a, "Checkpoint folder or .safetensors file")->required()->check(CLI::ExistingPath);
  diff->add_option("B", options->b, "Checkpoint folder or .safetensors file")->required()->check(CLI::ExistingPath);
  diff->add_flag("--json", options->json, "Print JSON (fields in docs/cli.md)");
  diff->callback([options, &exit_code] { exit_code = run_diff(*options); });
}

}  // namespace cairn::cli
