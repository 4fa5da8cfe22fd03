#include "torch_contender.hpp"

#include "measure.hpp"
#include "names.hpp"

#ifdef CAIRN_BENCH_WITH_TORCH
#include <torch/torch.h>

#include "cairn/torch.hpp"
#endif

namespace bench {

#ifdef CAIRN_BENCH_WITH_TORCH
bool torch_cpp_round(const std::filesystem::path& dir, const Workload& workload,
                     const Materialized& state, Results& results) {
  const std::filesystem::path file = dir / ("torch-" + workload.key + ".pt");
  std::vector<torch::Tensor> tensors;  // views of the same memory cairn saves
  for (const cairn::Tensor& tensor : state.tensors()) tensors.push_back(cairn::view_as_torch(tensor));
  record(results.row(workload.key, names::kTorchCppSave, "touched", workload.bytes()), [&] {
    torch::serialize::OutputArchive archive;
    for (size_t i = 0; i < tensors.size(); ++i) archive.write(workload.tensors[i].name, tensors[i]);
    archive.save_to(file.string());
    fsync_path(file);
    fsync_path(dir);
  });
  record(results.row(workload.key, names::kTorchCppLoad, "new", workload.bytes()), [&] {
    torch::serialize::InputArchive archive;
    archive.load_from(file.string());
    double sum = 0;
    for (const TensorSpec& spec : workload.tensors) {
      torch::Tensor loaded;
      archive.read(spec.name, loaded);
      sum += loaded.view(-1)[0].item<float>();  // the tensor is whole in memory already
    }
    if (sum != sum) std::fprintf(stderr, "(NaN in the loaded state)\n");
  });
  std::filesystem::remove(file);
  return true;
}
#else
bool torch_cpp_round(const std::filesystem::path&, const Workload&, const Materialized&, Results&) {
  return false;
}
#endif

}  // namespace bench
