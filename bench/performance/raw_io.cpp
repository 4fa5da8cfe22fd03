#include "raw_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>

#include "measure.hpp"

namespace bench {

void write_and_fsync(const std::vector<cairn::Tensor>& tensors, const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("open " + path.string() + ": " + std::strerror(errno));
  for (const cairn::Tensor& tensor : tensors) {
    const std::byte* data = tensor.data().data();
    size_t left = tensor.nbytes();
    while (left > 0) {
      const ssize_t done = ::write(fd, data, std::min<size_t>(left, size_t{1} << 20));
      if (done < 0 && errno == EINTR) continue;
      if (done < 0) throw std::runtime_error("write " + path.string() + ": " + std::strerror(errno));
      data += done;
      left -= static_cast<size_t>(done);
    }
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    throw std::runtime_error("fsync " + path.string() + ": " + std::strerror(errno));
  }
}

double dd_write(const std::filesystem::path& source, const std::filesystem::path& destination) {
  return run_child({"dd", "if=" + source.string(), "of=" + destination.string(), "bs=1M",
                    "conv=fsync", "status=none"})
      .seconds;
}

double dd_read(const std::filesystem::path& path) {
  return run_child({"dd", "if=" + path.string(), "of=/dev/null", "bs=1M", "status=none"}).seconds;
}

namespace {

std::optional<double> fio(const std::vector<std::string>& options) {
  if (!on_path("fio")) {
    std::fprintf(stderr, "fio is not installed (Debian package fio): its rows are left out\n");
    return std::nullopt;
  }
  std::vector<std::string> argv = {"fio", "--output-format=terse", "--bs=1M"};
  argv.insert(argv.end(), options.begin(), options.end());
  try {
    return run_child(argv).seconds;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fio refused (%s): its row is left out\n", error.what());
    return std::nullopt;
  }
}

}  // namespace

std::optional<double> fio_write(const std::filesystem::path& path, uint64_t bytes, bool direct) {
  std::vector<std::string> options = {"--name=write", "--filename=" + path.string(), "--rw=write",
                                      "--size=" + std::to_string(bytes), "--end_fsync=1"};
  if (direct) {
    options.insert(options.end(), {"--direct=1", "--ioengine=io_uring", "--iodepth=32"});
  } else {
    options.insert(options.end(), {"--ioengine=psync"});
  }
  return fio(options);
}

std::optional<double> fio_read(const std::filesystem::path& path, uint64_t bytes) {
  return fio({"--name=read", "--filename=" + path.string(), "--rw=read", "--ioengine=psync",
              "--size=" + std::to_string(bytes)});
}

namespace {

void touch_range(std::byte* data, size_t size) {
  volatile std::byte* bytes = data;
  for (size_t offset = 0; offset < size; offset += 4096) bytes[offset] = bytes[offset];
}

}  // namespace

void touch_pages(const std::vector<cairn::Tensor>& tensors) {
  for (const cairn::Tensor& tensor : tensors) {
    if (std::byte* data = tensor.writable_data()) touch_range(data, tensor.nbytes());
  }
}

void touch_pages(std::vector<std::byte>& memory) { touch_range(memory.data(), memory.size()); }

void copy_all(const std::vector<cairn::Tensor>& tensors, std::vector<std::byte>& destination) {
  std::byte* out = destination.data();
  for (const cairn::Tensor& tensor : tensors) {
    std::memcpy(out, tensor.data().data(), tensor.nbytes());
    out += tensor.nbytes();
  }
}

}  // namespace bench
