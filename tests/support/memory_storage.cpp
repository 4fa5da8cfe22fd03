#include "support/memory_storage.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "cairn/error.hpp"
#include "storage/atomic_file.hpp"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

struct LockState {
  int shared = 0;
  bool exclusive = false;
};

// A file's content, shared by its hard links (an inode).
struct FileData {
  std::vector<std::byte> bytes;
  int links = 0;
  LockState lock;
};

struct Node;
using NodePtr = std::shared_ptr<Node>;

struct Node {
  enum class Kind { kFile, kDirectory, kSymlink };
  Kind kind = Kind::kDirectory;
  std::shared_ptr<FileData> data;           // files
  std::map<std::string, NodePtr> children;  // folders
  fs::path target;                          // symbolic links
  LockState lock;                           // folders
};

NodePtr make_node(Node::Kind kind) {
  auto node = std::make_shared<Node>();
  node->kind = kind;
  return node;
}

// The names along `path`, the root and empty names (a trailing '/') left out.
std::vector<std::string> components(const fs::path& path) {
  std::vector<std::string> names;
  for (const fs::path& part : path.relative_path()) {
    if (!part.empty()) names.push_back(part.string());
  }
  return names;
}

// A path split into its folder and its last name ("a/b/" as "a" and "b").
struct Split {
  fs::path parent;
  std::string name;
};
Split split(const fs::path& path) {
  fs::path trimmed = path;
  if (trimmed.filename().empty() && trimmed.has_parent_path()) trimmed = trimmed.parent_path();
  return {trimmed.parent_path(), trimmed.filename().string()};
}

struct Walk {
  NodePtr node;   // null when not found
  int error = 0;  // why: ENOENT, ENOTDIR, ELOOP
};

}  // namespace

struct MemoryStorage::Tree {
  std::mutex mutex;
  NodePtr root = make_node(Node::Kind::kDirectory);
  uint64_t capacity = 0;
  uint64_t used = 0;

  // Finds `path`, following the symbolic links met on the way (and at the end when
  // `follow_last`), as the kernel resolves a path.
  Walk walk(const fs::path& path, bool follow_last) const {
    std::vector<std::string> pending = components(path);
    std::reverse(pending.begin(), pending.end());
    std::vector<NodePtr> stack{root};  // the folders from the root down, for ".."
    int links = 0;
    while (!pending.empty()) {
      const std::string name = pending.back();
      pending.pop_back();
      if (name == ".") continue;
      if (stack.back()->kind != Node::Kind::kDirectory) return {nullptr, ENOTDIR};
      if (name == "..") {
        if (stack.size() > 1) stack.pop_back();
        continue;
      }
      const auto found = stack.back()->children.find(name);
      if (found == stack.back()->children.end()) return {nullptr, ENOENT};
      const NodePtr& child = found->second;
      if (child->kind == Node::Kind::kSymlink && (!pending.empty() || follow_last)) {
        if (++links > 40) return {nullptr, ELOOP};
        if (child->target.is_absolute()) stack.resize(1);
        std::vector<std::string> more = components(child->target);
        pending.insert(pending.end(), more.rbegin(), more.rend());
        continue;
      }
      stack.push_back(child);
    }
    return {stack.back(), 0};
  }

  // The folder that is to hold `path`'s last name; IoError(`operation`, `path`) otherwise.
  Node& parent_folder(const fs::path& path, const std::string& operation) const {
    const Walk parent = walk(split(path).parent, /*follow_last=*/true);
    if (parent.error != 0) throw IoError(operation, path, parent.error);
    if (parent.node->kind != Node::Kind::kDirectory) throw IoError(operation, path, ENOTDIR);
    return *parent.node;
  }

  // Forgets an entry: a file's bytes are freed with its last link.
  void unlink(const NodePtr& node) {
    if (node->kind == Node::Kind::kFile && --node->data->links == 0) {
      used -= node->data->bytes.size();
    }
    for (const auto& entry : node->children) unlink(entry.second);
  }

  void claim(uint64_t bytes, const fs::path& path, const std::string& operation) {
    if (bytes > capacity - used) throw IoError(operation, path, ENOSPC);
    used += bytes;
  }
};

namespace {

using Tree = MemoryStorage::Tree;

bool contains(const Node& folder, const Node* node) {
  for (const auto& entry : folder.children) {
    if (entry.second.get() == node || contains(*entry.second, node)) return true;
  }
  return false;
}

class MemoryWritableFile final : public WritableFile {
 public:
  MemoryWritableFile(std::shared_ptr<Tree> tree, fs::path path, std::shared_ptr<FileData> data)
      : tree_(std::move(tree)), path_(std::move(path)), data_(std::move(data)) {}

  void append(std::span<const std::span<const std::byte>> buffers) override {
    const std::lock_guard<std::mutex> guard(tree_->mutex);
    if (closed_) throw IoError("write", path_, EBADF);
    uint64_t total = 0;
    for (const auto& buffer : buffers) total += buffer.size();
    tree_->claim(total, path_, "write");
    for (const auto& buffer : buffers) {
      data_->bytes.insert(data_->bytes.end(), buffer.begin(), buffer.end());
    }
  }
  void sync() override {
    const std::lock_guard<std::mutex> guard(tree_->mutex);
    if (closed_) throw IoError("fsync", path_, EBADF);
  }
  void close() override { closed_ = true; }

 private:
  std::shared_ptr<Tree> tree_;
  fs::path path_;
  std::shared_ptr<FileData> data_;
  bool closed_ = false;
};

class MemoryRegion final : public MappedRegion {
 public:
  explicit MemoryRegion(std::vector<std::byte> bytes) : bytes_(std::move(bytes)) {}
  std::span<const std::byte> bytes() const noexcept override { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

class MemoryReadableFile final : public ReadableFile {
 public:
  MemoryReadableFile(std::shared_ptr<Tree> tree, fs::path path, std::shared_ptr<FileData> data)
      : tree_(std::move(tree)), path_(std::move(path)), data_(std::move(data)),
        size_(data_->bytes.size()) {}

  uint64_t size() const override { return size_; }
  void read_at(uint64_t offset, std::span<std::byte> buffer) const override {
    if (buffer.empty()) return;
    const std::lock_guard<std::mutex> guard(tree_->mutex);
    const uint64_t have = data_->bytes.size();
    if (offset > have || buffer.size() > have - offset) {
      throw CorruptDataError(path_, "unexpected end of file at byte " +
                                        std::to_string(std::max(offset, have)));
    }
    std::memcpy(buffer.data(), data_->bytes.data() + offset, buffer.size());
  }
  std::shared_ptr<const MappedRegion> map() const override {
    const std::lock_guard<std::mutex> guard(tree_->mutex);
    const auto end = data_->bytes.begin() +
                     static_cast<std::ptrdiff_t>(std::min<uint64_t>(size_, data_->bytes.size()));
    return std::make_shared<MemoryRegion>(std::vector<std::byte>(data_->bytes.begin(), end));
  }

 private:
  std::shared_ptr<Tree> tree_;
  fs::path path_;
  std::shared_ptr<FileData> data_;
  uint64_t size_;
};

class MemoryFileLock final : public FileLock {
 public:
  MemoryFileLock(std::shared_ptr<Tree> tree, fs::path path, NodePtr node, LockMode mode)
      : tree_(std::move(tree)), path_(std::move(path)), node_(std::move(node)), mode_(mode) {}
  ~MemoryFileLock() override {
    const std::lock_guard<std::mutex> guard(tree_->mutex);
    LockState& lock = state(*node_);
    if (mode_ == LockMode::kExclusive) lock.exclusive = false;
    if (mode_ == LockMode::kShared) --lock.shared;
  }

  // The state of the lock of `node`'s file (shared by its hard links), or of a folder.
  static LockState& state(Node& node) {
    return node.kind == Node::Kind::kFile ? node.data->lock : node.lock;
  }

  bool still_at_path() const override {
    const std::lock_guard<std::mutex> guard(tree_->mutex);
    const Walk found = tree_->walk(path_, /*follow_last=*/false);
    if (found.node == nullptr) return false;
    if (node_->kind == Node::Kind::kFile) return found.node->data == node_->data;
    return found.node == node_;
  }

  void write_note(std::string_view note) override {
    const std::lock_guard<std::mutex> guard(tree_->mutex);
    if (node_->kind != Node::Kind::kFile) throw IoError("write lock file", path_, EISDIR);
    std::vector<std::byte>& bytes = node_->data->bytes;
    tree_->used -= bytes.size();
    bytes.clear();
    tree_->claim(note.size(), path_, "write lock file");
    const auto* begin = reinterpret_cast<const std::byte*>(note.data());
    bytes.assign(begin, begin + note.size());
  }

 private:
  std::shared_ptr<Tree> tree_;
  fs::path path_;
  NodePtr node_;
  LockMode mode_;
};

}  // namespace

MemoryStorage::MemoryStorage(uint64_t capacity) : tree_(std::make_shared<Tree>()) {
  tree_->capacity = capacity;
}

MemoryStorage::~MemoryStorage() = default;

std::unique_ptr<WritableFile> MemoryStorage::create_file(const fs::path& path) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  Node& parent = tree_->parent_folder(path, "create");
  const std::string name = split(path).name;
  if (!storage::is_plain_name(name) || parent.children.contains(name)) {
    throw IoError("create", path, EEXIST);
  }
  NodePtr node = make_node(Node::Kind::kFile);
  node->data = std::make_shared<FileData>();
  node->data->links = 1;
  parent.children[name] = node;
  return std::make_unique<MemoryWritableFile>(tree_, path, node->data);
}

std::unique_ptr<ReadableFile> MemoryStorage::open_file(const fs::path& path) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const Walk found = tree_->walk(path, /*follow_last=*/true);
  if (found.error != 0) throw IoError("open", path, found.error);
  if (found.node->kind != Node::Kind::kFile) throw IoError("open", path, "not a regular file");
  return std::make_unique<MemoryReadableFile>(tree_, path, found.node->data);
}

void MemoryStorage::create_directories(const fs::path& path) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  fs::path prefix = path.root_path();
  for (const std::string& name : components(path)) {
    prefix /= name;
    const Walk found = tree_->walk(prefix, /*follow_last=*/true);
    if (found.error == 0) {
      if (found.node->kind != Node::Kind::kDirectory) throw IoError("mkdir", path, EEXIST);
      continue;
    }
    Node& parent = tree_->parent_folder(prefix, "mkdir");
    // Missing, or a symbolic link that leads nowhere (mkdir refuses to make it).
    if (parent.children.contains(name)) throw IoError("mkdir", path, EEXIST);
    parent.children[name] = make_node(Node::Kind::kDirectory);
  }
}

std::vector<DirEntry> MemoryStorage::list(const fs::path& dir) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const Walk found = tree_->walk(dir, /*follow_last=*/true);
  if (found.error != 0) throw IoError("list", dir, found.error);
  if (found.node->kind != Node::Kind::kDirectory) throw IoError("list", dir, ENOTDIR);
  std::vector<DirEntry> entries;
  for (const auto& [name, node] : found.node->children) {
    entries.push_back({name, node->kind == Node::Kind::kDirectory});
  }
  return entries;
}

bool MemoryStorage::exists(const fs::path& path) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  return tree_->walk(path, /*follow_last=*/false).node != nullptr;
}

void MemoryStorage::rename(const fs::path& from, const fs::path& to) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const std::string operation = "rename " + from.string() + " to";
  Node& source_folder = tree_->parent_folder(from, operation);
  Node& target_folder = tree_->parent_folder(to, operation);
  const std::string source_name = split(from).name;
  const std::string target_name = split(to).name;
  const auto source = source_folder.children.find(source_name);
  if (source == source_folder.children.end()) throw IoError(operation, to, ENOENT);
  const NodePtr moving = source->second;
  const bool moving_folder = moving->kind == Node::Kind::kDirectory;
  if (moving_folder && (&target_folder == moving.get() || contains(*moving, &target_folder))) {
    throw IoError(operation, to, EINVAL);  // into itself
  }
  const auto target = target_folder.children.find(target_name);
  if (target != target_folder.children.end()) {
    const NodePtr& replaced = target->second;
    if (replaced == moving) return;
    const bool replaced_folder = replaced->kind == Node::Kind::kDirectory;
    if (moving_folder && !replaced_folder) throw IoError(operation, to, ENOTDIR);
    if (!moving_folder && replaced_folder) throw IoError(operation, to, EISDIR);
    if (replaced_folder && !replaced->children.empty()) throw IoError(operation, to, ENOTEMPTY);
    tree_->unlink(replaced);
  }
  source_folder.children.erase(source_name);
  target_folder.children[target_name] = moving;
}

void MemoryStorage::sync_directory(const fs::path& dir) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const Walk found = tree_->walk(dir, /*follow_last=*/true);
  if (found.error != 0) throw IoError("open directory", dir, found.error);
  if (found.node->kind != Node::Kind::kDirectory) throw IoError("open directory", dir, ENOTDIR);
}

void MemoryStorage::remove_owned(const fs::path& path) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  // The same guards, in the same order, as the local storage's.
  const std::string name = path.filename().string();
  if (!storage::is_plain_name(name)) {
    throw IoError("refusing to delete", path, "not a plain name inside a folder");
  }
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  const bool temporary = storage::is_own_temporary(name);
  const Walk folder = tree_->walk(parent, /*follow_last=*/temporary);
  if (folder.error == ENOENT) return;
  if (folder.error == ENOTDIR ||
      (folder.node != nullptr && folder.node->kind != Node::Kind::kDirectory)) {
    throw IoError("refusing to delete", path,
                  parent.string() + " is a symbolic link or not a folder, not cairn's own");
  }
  if (folder.error != 0) throw IoError("open directory", parent, folder.error);
  auto& children = folder.node->children;
  if (!temporary) {
    const auto marker = children.find(kOwnerMarker);
    if (marker == children.end() || marker->second->kind != Node::Kind::kFile) {
      throw IoError("refusing to delete", path,
                    parent.string() + " was not created by cairn (it holds no " + kOwnerMarker +
                        " marker)");
    }
  }
  const auto entry = children.find(name);
  if (entry == children.end()) return;
  tree_->unlink(entry->second);  // a symbolic link goes itself; what it leads to stays
  children.erase(entry);
}

void MemoryStorage::hard_link(const fs::path& existing, const fs::path& link) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const std::string operation = "link " + existing.string() + " as";
  const Walk found = tree_->walk(existing, /*follow_last=*/false);  // as link(2) on Linux
  if (found.error != 0) throw IoError(operation, link, found.error);
  if (found.node->kind == Node::Kind::kDirectory) throw IoError(operation, link, EPERM);
  Node& parent = tree_->parent_folder(link, operation);
  const std::string name = split(link).name;
  if (parent.children.contains(name)) throw IoError(operation, link, EEXIST);
  NodePtr node = make_node(found.node->kind);
  node->data = found.node->data;
  node->target = found.node->target;
  if (node->data != nullptr) ++node->data->links;
  parent.children[name] = node;
}

void MemoryStorage::create_symlink(const fs::path& target, const fs::path& link) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const std::string operation = "symlink " + target.string() + " as";
  Node& parent = tree_->parent_folder(link, operation);
  const std::string name = split(link).name;
  if (parent.children.contains(name)) throw IoError(operation, link, EEXIST);
  NodePtr node = make_node(Node::Kind::kSymlink);
  node->target = target;
  parent.children[name] = node;
}

fs::path MemoryStorage::read_symlink(const fs::path& link) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const Walk found = tree_->walk(link, /*follow_last=*/false);
  if (found.error != 0) throw IoError("readlink", link, found.error);
  if (found.node->kind != Node::Kind::kSymlink) throw IoError("readlink", link, EINVAL);
  return found.node->target;
}

uint64_t MemoryStorage::available_bytes(const fs::path& path) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const Walk found = tree_->walk(path, /*follow_last=*/true);
  if (found.error != 0) throw IoError("statvfs", path, found.error);
  return tree_->capacity - tree_->used;
}

LockAttempt MemoryStorage::try_lock(const fs::path& path, LockMode mode, LockTarget target) {
  const std::lock_guard<std::mutex> guard(tree_->mutex);
  const bool lock_file = target == LockTarget::kLockFile;
  const std::string operation = lock_file ? "open lock file" : "open";
  Walk found = tree_->walk(path, /*follow_last=*/false);
  if (found.error == ENOENT && !lock_file) return {};
  if (found.error == ENOENT) {
    Node& parent = tree_->parent_folder(path, operation);
    NodePtr node = make_node(Node::Kind::kFile);
    node->data = std::make_shared<FileData>();
    node->data->links = 1;
    parent.children[split(path).name] = node;
    found.node = node;
    found.error = 0;
  }
  if (found.error != 0) throw IoError(operation, path, found.error);
  const NodePtr node = found.node;
  if (node->kind == Node::Kind::kSymlink) {
    throw IoError(operation, path, lock_file ? "it is a symbolic link, not cairn's lock file"
                                             : "it is a symbolic link");
  }
  if (lock_file && (node->kind != Node::Kind::kFile || node->data->links != 1)) {
    throw IoError(operation, path,
                  "it is not a regular file with a single link, not cairn's lock file");
  }
  LockState& state = MemoryFileLock::state(*node);
  const bool busy = state.exclusive || (mode == LockMode::kExclusive && state.shared > 0);
  if (busy) {
    std::string note;
    if (node->kind == Node::Kind::kFile) {
      const auto& bytes = node->data->bytes;
      note.assign(reinterpret_cast<const char*>(bytes.data()), std::min<size_t>(bytes.size(), 64));
    }
    return {nullptr, true, note};
  }
  if (mode == LockMode::kExclusive) state.exclusive = true;
  if (mode == LockMode::kShared) ++state.shared;
  return {std::make_unique<MemoryFileLock>(tree_, path, node, mode), false, {}};
}

}  // namespace cairn::testing
