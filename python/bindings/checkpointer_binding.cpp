// _core.Checkpointer: cairn::Checkpointer with the GIL released while it reads and writes. The
// trainer is a Python callable returning the normalized (model_state, training_state) pair; it
// is called, with the GIL, only when the checkpointer has decided to save.
#include <pybind11/functional.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include "bindings.hpp"
#include "cairn/checkpointer.hpp"
#include "cairn/error.hpp"
#include "python_logger.hpp"
#include "python_text.hpp"
#include "state_conversion.hpp"

namespace py = pybind11;

namespace cairn::python {
namespace {

class CallbackTrainer final : public Trainer {
 public:
  explicit CallbackTrainer(py::function get_state) : get_state_(std::move(get_state)) {}
  ~CallbackTrainer() override {
    py::gil_scoped_acquire locked;  // the arrays are Python objects
    keep_.clear();
    get_state_ = py::function();
  }

  CheckpointState get_checkpoint_state() override {
    py::gil_scoped_acquire locked;
    py::object pair = get_state_();
    if (!py::isinstance<py::tuple>(pair) || py::len(pair) != 2) {
      throw InvalidArgumentError(
          "the trainer's checkpoint state must be a (model_state, training_state) pair");
    }
    auto items = pair.cast<py::tuple>();
    CheckpointState state;
    state.model_state = to_state(items[0], keep_);
    state.training_state = to_state(items[1], keep_);
    return state;
  }

 private:
  py::function get_state_;
  std::vector<py::object> keep_;  // arrays the State views, alive until the save is done
};

// Deleting a Checkpointer waits for an asynchronous save in flight, whose log lines need the
// GIL: delete it with the GIL released.
struct ReleasingDeleter {
  void operator()(Checkpointer* checkpointer) const {
    py::gil_scoped_release unlocked;
    delete checkpointer;
  }
};
using CheckpointerHolder = std::unique_ptr<Checkpointer, ReleasingDeleter>;

CheckpointerHolder make_checkpointer(
    const std::filesystem::path& serialization_dir,
    std::optional<double> keep_serialized_model_every_num_seconds,
    std::optional<int> num_serialized_models_to_keep, std::optional<double> model_save_interval,
    std::optional<int> keep_best_k, const std::string& metric, const std::string& mode,
    std::optional<int> keep_every_n_epochs, bool async_save,
    std::optional<uint64_t> async_staging_bytes) {
  CheckpointerOptions options;
  options.serialization_dir = serialization_dir;
  options.keep_serialized_model_every_num_seconds = keep_serialized_model_every_num_seconds;
  options.num_serialized_models_to_keep = num_serialized_models_to_keep;
  options.model_save_interval = model_save_interval;
  options.keep_best_k = keep_best_k;
  options.metric = metric;
  const std::optional<MetricMode> parsed = metric_mode_from_name(mode);
  if (!parsed) throw InvalidArgumentError("mode must be \"min\" or \"max\", not \"" + mode + "\"");
  options.mode = *parsed;
  options.keep_every_n_epochs = keep_every_n_epochs;
  options.async_save = async_save;
  options.async_staging_bytes = async_staging_bytes;
  options.logger = python_logger();
  // Restored tensors view private copy-on-write mappings, so the arrays and torch tensors made of
  // them are writable (see state_conversion.hpp); writing is the same as through local_storage().
  options.storage = &copy_on_write_local_storage();
  return CheckpointerHolder(new Checkpointer(std::move(options)));
}

py::object last_restored(const Checkpointer& checkpointer) {
  const std::optional<CheckpointInfo> info = checkpointer.last_restored();
  return info ? py::object(info_to_dict(*info)) : py::object(py::none());
}

}  // namespace

py::dict info_to_dict(const CheckpointInfo& info) {
  py::dict dict;
  dict["name"] = info.name;
  dict["dir"] = path_text(info.paths.dir);
  dict["model_path"] = path_text(info.paths.model);
  dict["training_state_path"] = path_text(info.paths.training_state);
  dict["seq"] = info.seq;
  dict["epoch"] = info.epoch;
  dict["batches_this_epoch"] = info.batches_this_epoch ? py::object(py::int_(*info.batches_this_epoch)) : py::none();
  dict["save_time"] = info.save_time;
  dict["size_bytes"] = info.size_bytes;
  dict["is_best"] = info.is_best;
  dict["permanent"] = info.permanent;
  dict["metrics"] = info.metrics;
  dict["shard_files"] = info.shard_files;
  return dict;
}

void bind_checkpointer(py::module_& module) {
  py::class_<Checkpointer, CheckpointerHolder>(module, "Checkpointer")
      .def(py::init(&make_checkpointer), py::arg("serialization_dir"),
           py::arg("keep_serialized_model_every_num_seconds"),
           py::arg("num_serialized_models_to_keep"), py::arg("model_save_interval"),
           py::arg("keep_best_k"), py::arg("metric"), py::arg("mode"),
           py::arg("keep_every_n_epochs"), py::arg("async_save"), py::arg("async_staging_bytes"))
      .def("maybe_save_checkpoint",
           [](Checkpointer& self, py::function get_state, int64_t epoch, int64_t batches) {
             CallbackTrainer trainer(std::move(get_state));
             py::gil_scoped_release unlocked;
             return self.maybe_save_checkpoint(trainer, epoch, batches);
           })
      .def("save_checkpoint",
           [](Checkpointer& self, int64_t epoch, py::function get_state, bool is_best,
              const Metrics& metrics) {
             CallbackTrainer trainer(std::move(get_state));
             py::gil_scoped_release unlocked;
             self.save_checkpoint(epoch, trainer, is_best, metrics);
           })
      .def("save_checkpoint_inside_epoch",
           [](Checkpointer& self, py::function get_state, int64_t epoch, int64_t batches,
              bool is_best, const Metrics& metrics) {
             CallbackTrainer trainer(std::move(get_state));
             py::gil_scoped_release unlocked;
             self.save_checkpoint_inside_epoch(trainer, epoch, batches, is_best, metrics);
           },
           py::arg("get_state"), py::arg("epoch"), py::arg("batches"),
           py::arg("is_best") = false, py::arg("metrics") = Metrics{})
      .def("find_latest_checkpoint",
           [](const Checkpointer& self) -> std::optional<std::pair<std::string, std::string>> {
             std::optional<CheckpointPaths> paths;
             {
               py::gil_scoped_release unlocked;
               paths = self.find_latest_checkpoint();
             }
             if (!paths) return std::nullopt;
             return std::pair{paths->model.string(), paths->training_state.string()};
           })
      .def("restore_checkpoint",
           [](Checkpointer& self) {
             CheckpointState state;
             {
               py::gil_scoped_release unlocked;
               state = self.restore_checkpoint();
             }
             const std::filesystem::path& source = self.options().serialization_dir;
             return py::make_tuple(from_state(state.model_state, source),
                                   from_state(state.training_state, source));
           })
      .def("restore_checkpoint_into",
           // (model targets, training targets) -> (model_state, training_state, info): the
           // targets' arrays that can take the bytes are overwritten in place and come back as
           // cairn._convert.IN_PLACE; both states are None when there is no checkpoint.
           [](Checkpointer& self, py::handle model_targets, py::handle training_targets) {
             std::vector<py::object> keep;  // the targets' buffers, exported until we return
             const CheckpointState into(to_targets(model_targets, keep),
                                        to_targets(training_targets, keep));
             InPlace in_place;
             collect_targets(into.model_state, in_place);
             collect_targets(into.training_state, in_place);
             CheckpointState state;
             {
               py::gil_scoped_release unlocked;
               state = self.restore_checkpoint_into(into);
             }
             const std::filesystem::path& source = self.options().serialization_dir;
             return py::make_tuple(from_state(state.model_state, source, &in_place),
                                   from_state(state.training_state, source, &in_place),
                                   last_restored(self));
           })
      .def("restore_shards",
           // {path: (offsets, shape)} -> (model_state, training_state, {path: (global_shape,
           // offsets)}, info), a path being a tuple of keys; both states are None when there is
           // no checkpoint.
           [](Checkpointer& self, const std::map<StatePath, std::pair<std::vector<int64_t>,
                                                                       std::vector<int64_t>>>& boxes) {
             SliceRequest slices;
             for (const auto& box : boxes) slices[box.first] = {box.second.first, box.second.second};
             CheckpointState state;
             {
               py::gil_scoped_release unlocked;
               state = self.restore_shards(slices);
             }
             const std::filesystem::path& source = self.options().serialization_dir;
             py::dict placed;
             for (const auto& shard : state.shards) {
               py::tuple path(shard.first.size());
               for (size_t i = 0; i < shard.first.size(); ++i) {
                 path[i] = file_text(shard.first[i], source, "a tensor's name");
               }
               placed[path] = py::make_tuple(py::tuple(py::cast(shard.second.global_shape)),
                                             py::tuple(py::cast(shard.second.offsets)));
             }
             return py::make_tuple(from_state(state.model_state, source),
                                   from_state(state.training_state, source), placed,
                                   last_restored(self));
           })
      .def("last_restored", &last_restored)
      .def("best_model_state",
           [](Checkpointer& self) {
             State state;
             {
               py::gil_scoped_release unlocked;
               state = self.best_model_state();
             }
             return from_state(state, self.options().serialization_dir);
           })
      .def("list_checkpoints",
           [](const Checkpointer& self) {
             std::vector<CheckpointInfo> infos;
             {
               py::gil_scoped_release unlocked;  // waits for an asynchronous save, which logs
               infos = self.list_checkpoints();
             }
             py::list listed;
             for (const CheckpointInfo& info : infos) listed.append(info_to_dict(info));
             return listed;
           })
      .def("explain_retention",
           [](const Checkpointer& self) {
             std::vector<RetentionDecision> explained;
             {
               py::gil_scoped_release unlocked;
               explained = self.explain_retention();
             }
             py::list decisions;
             for (const RetentionDecision& decision : explained) {
               decisions.append(py::make_tuple(decision.name, decision.keep, decision.reason));
             }
             return decisions;
           })
      .def("wait", [](Checkpointer& self) {
        py::gil_scoped_release unlocked;
        self.wait();
      });
}

}  // namespace cairn::python
