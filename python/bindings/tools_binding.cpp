// _core.verify_path, list_directory, explain_directory, prune_directory: the directory tools of
// cairn/inspect.hpp, which the `cairn` command is built on. The GIL is released while they read
// and delete; results come as tuples and dicts that cairn/tools.py makes into dataclasses.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "bindings.hpp"
#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "python_text.hpp"

namespace py = pybind11;

namespace cairn::python {
namespace {

// -> report_tuple. `progress(done, total)` runs with the GIL (taken back for each call) on the
// verifying thread; an exception it raises ends the verify.
py::tuple verify_binding(const std::filesystem::path& path, const py::object& progress) {
  const ProgressCallback report_progress = progress_of(progress);
  VerifyReport report;
  {
    py::gil_scoped_release unlocked;
    report = verify_path(path, report_progress);
  }
  return report_tuple(report);
}

// -> ([info], [(info, problem)], latest, [(path, kind)], writer_pid); infos as info_to_dict.
py::tuple list_binding(const std::filesystem::path& serialization_dir) {
  DirectoryListing listing;
  {
    py::gil_scoped_release unlocked;
    listing = list_directory(serialization_dir);
  }
  py::list checkpoints, damaged, others;
  for (const CheckpointInfo& info : listing.checkpoints) checkpoints.append(info_to_dict(info));
  for (const DamagedCheckpoint& entry : listing.damaged) {
    damaged.append(py::make_tuple(info_to_dict(entry.info), message_text(entry.problem)));
  }
  for (const ForeignEntry& entry : listing.others) {
    others.append(py::make_tuple(path_text(entry.path), entry.kind));
  }
  return py::make_tuple(checkpoints, damaged, listing.latest, others, listing.writer_pid);
}

RetentionOverrides overrides_of(std::optional<int> num_serialized_models_to_keep,
                                std::optional<double> keep_serialized_model_every_num_seconds,
                                std::optional<int> keep_best_k, std::optional<std::string> metric,
                                const std::optional<std::string>& mode,
                                std::optional<int> keep_every_n_epochs) {
  RetentionOverrides overrides;
  overrides.num_serialized_models_to_keep = num_serialized_models_to_keep;
  overrides.keep_serialized_model_every_num_seconds = keep_serialized_model_every_num_seconds;
  overrides.keep_best_k = keep_best_k;
  overrides.metric = std::move(metric);
  if (mode) {
    overrides.mode = metric_mode_from_name(*mode);
    if (!overrides.mode) {
      throw InvalidArgumentError("mode must be \"min\" or \"max\", not \"" + *mode + "\"");
    }
  }
  overrides.keep_every_n_epochs = keep_every_n_epochs;
  return overrides;
}

// -> [(name, keep, reason)], as Checkpointer.explain_retention gives them: explain_directory,
// or prune_directory when `prune`. A bad option is reported without a path: name the directory.
py::list apply_retention(const std::filesystem::path& dir, bool prune, bool dry_run,
                         std::optional<int> keep_last, std::optional<double> keep_every,
                         std::optional<int> keep_best_k, std::optional<std::string> metric,
                         const std::optional<std::string>& mode,
                         std::optional<int> keep_every_n_epochs) {
  std::vector<RetentionDecision> decisions;
  try {
    const RetentionOverrides overrides = overrides_of(keep_last, keep_every, keep_best_k,
                                                      std::move(metric), mode, keep_every_n_epochs);
    py::gil_scoped_release unlocked;
    decisions = prune ? prune_directory(dir, overrides, dry_run) : explain_directory(dir, overrides);
  } catch (const InvalidArgumentError& error) {
    if (!error.path().empty()) throw;
    throw InvalidArgumentError(dir.string() + ": " + error.what(), dir);
  }
  py::list listed;
  for (const RetentionDecision& decision : decisions) {
    listed.append(py::make_tuple(decision.name, decision.keep, message_text(decision.reason)));
  }
  return listed;
}

}  // namespace

ProgressCallback progress_of(const py::object& progress) {
  if (progress.is_none()) return {};
  return [&progress](uint64_t done, uint64_t total) {
    py::gil_scoped_acquire locked;
    progress(done, total);
  };
}

py::tuple report_tuple(const VerifyReport& report) {
  py::list problems;
  for (const Problem& problem : report.problems) {
    problems.append(py::make_tuple(path_text(problem.file), message_text(problem.tensor),
                                   message_text(problem.what)));
  }
  return py::make_tuple(problems, report.files, report.tensors, report.bytes);
}

void bind_tools(py::module_& module) {
  module.def("verify_path", &verify_binding, py::arg("path"), py::arg("progress"));
  module.def("list_directory", &list_binding, py::arg("serialization_dir"));
  // The retention overrides, in this order: num_serialized_models_to_keep,
  // keep_serialized_model_every_num_seconds, keep_best_k, metric, mode, keep_every_n_epochs.
  module.def("explain_directory",
             [](const std::filesystem::path& dir, std::optional<int> keep_last,
                std::optional<double> keep_every, std::optional<int> keep_best_k,
                std::optional<std::string> metric, std::optional<std::string> mode,
                std::optional<int> keep_every_n_epochs) {
               return apply_retention(dir, false, false, keep_last, keep_every, keep_best_k,
                                      std::move(metric), mode, keep_every_n_epochs);
             });
  module.def("prune_directory",
             [](const std::filesystem::path& dir, std::optional<int> keep_last,
                std::optional<double> keep_every, std::optional<int> keep_best_k,
                std::optional<std::string> metric, std::optional<std::string> mode,
                std::optional<int> keep_every_n_epochs, bool dry_run) {
               return apply_retention(dir, true, dry_run, keep_last, keep_every, keep_best_k,
                                      std::move(metric), mode, keep_every_n_epochs);
             });
}

}  // namespace cairn::python
