// verify_path: every check cairn can make of a file, a checkpoint or a directory, collecting
// every problem instead of stopping at the first.
#include <algorithm>
#include <cerrno>
#include <map>

#include "cairn/checkpoint_folder.hpp"
#include "cairn/error.hpp"
#include "cairn/inspect.hpp"
#include "cairn/safetensors.hpp"
#include "checkpoint/best_model.hpp"
#include "checkpoint/layout.hpp"
#include "retention/ledger_file.hpp"
#include "checkpoint/manifest.hpp"
#include "checkpoint/shard_layouts.hpp"
#include "checkpoint/shard_pieces.hpp"
#include "format/checksum.hpp"

namespace cairn {
namespace {

namespace fs = std::filesystem;

// The reason of a CorruptDataError without the "<path>: " its message starts with.
std::string reason_of(const Error& error) {
  std::string message = error.what();
  const std::string prefix = error.path().string() + ": ";
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

class Verifier {
 public:
  Verifier(Storage& storage, const ProgressCallback& progress, uint64_t total)
      : storage_(storage), progress_(progress), total_(total) {}

  VerifyReport report;

  void problem(const fs::path& file, const std::string& tensor, const std::string& what) {
    report.problems.push_back({file, tensor, what});
  }

  // A safetensors file on its own: header, digest, every tensor's checksum.
  void check_safetensors(const fs::path& path) {
    ++report.files;
    try {
      auto file = SafetensorsFile::open(path, {}, storage_);
      for (const TensorInfo& info : file.tensors()) {
        ++report.tensors;
        try {
          file.tensor(info.name);
        } catch (const CorruptDataError& error) {
          std::string reason = reason_of(error);
          const std::string named = "tensor '" + info.name + "' ";
          if (reason.starts_with(named)) reason = reason.substr(named.size());
          problem(path, info.name, reason);
        }
        advance(info.end - info.begin);
      }
      if (file.has_tree()) {  // the tree must decode too; tensors were checked above
        SafetensorsFile::open(path, {.verify_checksums = false}, storage_).state();
      }
    } catch (const CorruptDataError& error) {
      problem(path, "", reason_of(error));
    } catch (const IoError& error) {
      problem(path, "", error.what());
    }
  }

  // A checkpoint folder, or a best-versions folder (model only): its manifest must open, then
  // CheckpointFolder::verify checks the rest.
  void check_checkpoint(const fs::path& dir) {
    std::optional<CheckpointFolder> folder;
    try {
      folder = CheckpointFolder::open(dir, storage_);
    } catch (const CorruptDataError& error) {
      problem(error.path(), "", reason_of(error));
      return;
    } catch (const IoError& error) {
      problem(dir / checkpoint::kManifestFile, "", error.what());
      return;
    }
    const uint64_t before = report.bytes;
    const VerifyReport part = folder->verify([this, before](uint64_t done, uint64_t) {
      if (progress_) progress_(before + done, total_);
    });
    report.problems.insert(report.problems.end(), part.problems.begin(), part.problems.end());
    report.files += part.files;
    report.tensors += part.tensors;
    report.bytes += part.bytes;
  }

  // What CheckpointFolder::verify checks of an opened folder (`manifest` is its manifest).
  void check_folder(const fs::path& dir, const checkpoint::Manifest& manifest) {
    const fs::path manifest_path = dir / checkpoint::kManifestFile;
    if (auto name = checkpoint::parse_checkpoint_name(dir.filename().string());
        name && (name->seq != manifest.seq || name->epoch != manifest.epoch ||
                 name->batches_this_epoch != manifest.batches_this_epoch)) {
      problem(manifest_path, "", "manifest does not match the folder's name");
    }
    if (auto layout = checkpoint::layout_problem(manifest.sharded)) {
      problem(manifest_path, "", "manifest: " + *layout);
    }
    for (const DirEntry& entry : storage_.list(dir)) {
      bool listed = entry.name == checkpoint::kManifestFile;
      for (const auto& file : manifest.files) listed = listed || file.name == entry.name;
      if (!listed) problem(dir / entry.name, "", "not listed in the manifest");
    }
    for (const checkpoint::ManifestFile& entry : manifest.files) check_listed_file(dir, entry);
    check_pieces(dir, manifest);
  }

  // The pieces a sharded manifest names are in its files with the dtype and shape it says.
  void check_pieces(const fs::path& dir, const checkpoint::Manifest& manifest) {
    if (manifest.sharded.empty()) return;
    std::vector<SafetensorsFile> files;
    files.reserve(manifest.files.size());
    std::map<std::string, const SafetensorsFile*> by_name;
    try {
      for (const auto& entry : manifest.files) {
        files.push_back(SafetensorsFile::open(dir / entry.name, {.verify_checksums = false}, storage_));
        by_name[entry.name] = &files.back();
      }
    } catch (const Error&) {  // NOLINT(bugprone-empty-catch): check_listed_file reported it
      return;
    }
    if (auto pieces = checkpoint::pieces_problem(manifest.sharded, by_name)) {
      problem(dir / checkpoint::kManifestFile, "", "manifest: " + *pieces);
    }
  }

  void check_directory(const fs::path& dir) {
    const fs::path checkpoints = dir / checkpoint::kCheckpointsDir;
    std::optional<checkpoint::Ledger> ledger;
    try {
      ledger = checkpoint::read_ledger(storage_, dir);
    } catch (const CorruptDataError& error) {
      problem(dir / checkpoint::kLedgerFile, "", reason_of(error));
    }
    if (storage_.exists(checkpoints)) {
      std::vector<DirEntry> entries = storage_.list(checkpoints);
      std::sort(entries.begin(), entries.end(),  // names sort in save order
                [](const DirEntry& a, const DirEntry& b) { return a.name < b.name; });
      for (const DirEntry& entry : entries) {
        if (entry.is_directory && checkpoint::parse_checkpoint_name(entry.name)) {
          check_unless_deleted(checkpoints / entry.name);
        }
      }
    }
    if (ledger) check_ledger_entries_exist(dir, *ledger);
    // A writer may swing `best` while we look: one retry with the new target.
    for (int attempt = 0; attempt < 2; ++attempt) {
      try {
        auto best = checkpoint::best_folder(storage_, dir);
        if (!best || check_unless_deleted(*best)) break;
      } catch (const CorruptDataError& error) {
        problem(dir / checkpoint::kBestLink, "", reason_of(error));
        break;
      }
    }
  }

 private:
  // Checks a checkpoint folder of a directory a writer may be pruning: a folder deleted while
  // we looked is gone, not broken. Returns false when it was deleted.
  bool check_unless_deleted(const fs::path& folder) {
    const size_t before = report.problems.size();
    try {
      check_checkpoint(folder);
    } catch (const IoError& error) {
      if (error.error_code() != ENOENT) throw;
    }
    if (storage_.exists(folder)) return true;
    report.problems.resize(before);
    return false;
  }

  // Checkpoints the ledger records must exist. A writer records a deletion before it deletes,
  // so a folder found missing that a later read of the ledger still records is really missing;
  // one the writer retired in between is not.
  void check_ledger_entries_exist(const fs::path& dir, const checkpoint::Ledger& first_read) {
    const fs::path checkpoints = dir / checkpoint::kCheckpointsDir;
    auto recorded = [](const checkpoint::Ledger& ledger) {
      std::vector<std::string> names;
      for (const checkpoint::LedgerEntry* entry : ledger.kept()) names.push_back(entry->name);
      return names;
    };
    std::vector<std::string> missing;
    for (const std::string& name : recorded(first_read)) {
      if (!storage_.exists(checkpoints / name)) missing.push_back(name);
    }
    if (missing.empty()) return;
    std::optional<checkpoint::Ledger> later;
    try {
      later = checkpoint::read_ledger(storage_, dir);
    } catch (const CorruptDataError&) {  // NOLINT(bugprone-empty-catch): reported already
    }
    if (!later) return;
    const std::vector<std::string> still = recorded(*later);
    for (const std::string& name : missing) {
      if (std::find(still.begin(), still.end(), name) != still.end()) {
        problem(checkpoints / name, "", "recorded in the ledger but missing");
      }
    }
  }

 public:

 private:
  void advance(uint64_t bytes) {
    report.bytes += bytes;
    if (progress_) progress_(report.bytes, total_);
  }

  // A file a manifest lists: present, of the listed size, with the listed XXH3; if the hash
  // differs, the per-tensor checks say where.
  void check_listed_file(const fs::path& dir, const checkpoint::ManifestFile& entry) {
    const fs::path path = dir / entry.name;
    std::unique_ptr<ReadableFile> file;
    try {
      file = storage_.open_file(path);
    } catch (const IoError& error) {
      problem(path, "", error.error_code() == ENOENT ? "missing (incomplete checkpoint)"
                                                     : error.what());
      return;
    }
    if (file->size() != entry.size) {
      problem(path, "", "is " + std::to_string(file->size()) + " bytes, the manifest says " +
                            std::to_string(entry.size));
    }
    format::Xxh3Stream hash;
    std::vector<std::byte> buffer(4 << 20);
    for (uint64_t offset = 0; offset < file->size();) {
      const size_t chunk = static_cast<size_t>(std::min<uint64_t>(buffer.size(), file->size() - offset));
      file->read_at(offset, std::span(buffer).first(chunk));
      hash.update(std::span<const std::byte>(buffer).first(chunk));
      offset += chunk;
      advance(chunk);
    }
    if (hash.digest() == entry.xxh3) {
      ++report.files;
      try {  // exactly the bytes written; still, the header must parse
        auto opened = SafetensorsFile::open(path, {.verify_checksums = false}, storage_);
        report.tensors += opened.tensors().size();
      } catch (const CorruptDataError& error) {
        problem(path, "", reason_of(error));
      }
      return;
    }
    const size_t before = report.problems.size();
    check_safetensors(path);
    if (report.problems.size() == before) {
      problem(path, "", "whole-file XXH3 differs from the manifest");
    }
  }

  Storage& storage_;
  const ProgressCallback& progress_;
  uint64_t total_;
};

uint64_t bytes_below(const fs::path& path) {
  std::error_code error;
  if (fs::is_regular_file(path, error)) return fs::file_size(path, error);
  uint64_t total = 0;
  for (fs::recursive_directory_iterator it(path, error), end; !error && it != end;
       it.increment(error)) {
    if (it->is_regular_file(error)) total += it->file_size(error);
  }
  return total;
}

}  // namespace

VerifyReport CheckpointFolder::verify(const ProgressCallback& progress) const {
  Verifier verifier(*storage_, progress, size_bytes());
  verifier.check_folder(path_, *manifest_);
  return verifier.report;
}

VerifyReport verify_path(const fs::path& path, const ProgressCallback& progress,
                         Storage& storage) {
  std::error_code error;
  auto status = fs::status(path, error);
  if (error) throw IoError("verify", path, error.value());
  Verifier verifier(storage, progress, progress ? bytes_below(path) : 0);
  if (fs::is_regular_file(status)) {
    verifier.check_safetensors(path);
  } else if (fs::is_directory(status) && storage.exists(path / checkpoint::kManifestFile)) {
    verifier.check_checkpoint(path);
  } else if (fs::is_directory(status)) {
    verifier.check_directory(path);
  } else {
    throw InvalidArgumentError(path.string() + " is not a file or a directory", path);
  }
  return verifier.report;
}

}  // namespace cairn
