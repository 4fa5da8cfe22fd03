// _core.CheckpointFolder: cairn/checkpoint_folder.hpp, one committed checkpoint folder opened on
// its own. Read through copy_on_write_local_storage(), so the arrays load() hands out are
// writable (state_conversion.hpp); the GIL is released while it reads. cairn/tools.py wraps it.
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "bindings.hpp"
#include "cairn/checkpoint_folder.hpp"
#include "python_text.hpp"
#include "state_conversion.hpp"

namespace py = pybind11;

namespace cairn::python {
namespace {

const char* role_name(CheckpointFileRole role) {
  switch (role) {
    case CheckpointFileRole::Model: return "model";
    case CheckpointFileRole::TrainingState: return "training_state";
    case CheckpointFileRole::Shard: return "shard";
  }
  return "?";
}

CheckpointFolder open_folder(const std::filesystem::path& path) {
  py::gil_scoped_release unlocked;
  return CheckpointFolder::open(path, copy_on_write_local_storage());
}

// What the manifest says, as the dict cairn.tools.CheckpointFolder reads; files as
// [(name, path, role, size)].
py::dict facts(const CheckpointFolder& folder) {
  py::dict dict;
  dict["path"] = path_text(folder.path());
  dict["name"] = path_text(folder.name());
  dict["seq"] = folder.seq();
  dict["epoch"] = folder.epoch();
  dict["batches_this_epoch"] = folder.batches_this_epoch();
  dict["save_time"] = folder.save_time();
  dict["metrics"] = folder.metrics();
  dict["is_best_version"] = folder.is_best_version();
  dict["size_bytes"] = folder.size_bytes();
  dict["shard_files"] = folder.shard_files();
  py::list files;
  for (const CheckpointFile& file : folder.files()) {
    files.append(py::make_tuple(path_text(file.name), path_text(file.path), role_name(file.role),
                                file.size));
  }
  dict["files"] = files;
  return dict;
}

}  // namespace

void bind_checkpoint_folder(py::module_& module) {
  py::class_<CheckpointFolder>(module, "CheckpointFolder")
      .def(py::init(&open_folder), py::arg("path"))
      .def("facts", &facts)
      .def("verify",
           // -> report_tuple; progress as for verify_path.
           [](const CheckpointFolder& self, const py::object& progress) {
             const ProgressCallback report_progress = progress_of(progress);
             VerifyReport report;
             {
               py::gil_scoped_release unlocked;
               report = self.verify(report_progress);
             }
             return report_tuple(report);
           },
           py::arg("progress"))
      .def("load",
           // -> (model_state, training_state); training_state is None for a best version.
           [](const CheckpointFolder& self) {
             CheckpointState state;
             {
               py::gil_scoped_release unlocked;
               state = self.load();
             }
             return py::make_tuple(
                 from_state(state.model_state, self.path()),
                 self.is_best_version() ? py::none() : from_state(state.training_state, self.path()));
           });
}

}  // namespace cairn::python
