#include "atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace tapegrad_train {
namespace {

std::runtime_error sys_error(const std::string& what, const std::string& path) {
  return std::runtime_error(what + " '" + path + "': " + std::strerror(errno));
}

void fsync_directory_of(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;  // the rename is done; a directory we cannot open cannot be synced
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

std::string temp_path_beside(const std::string& path, const std::string& suffix) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + suffix;
}

void commit_file(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    auto err = sys_error("cannot rename '" + from + "' to", to);
    std::remove(from.c_str());
    throw err;
  }
  fsync_directory_of(to);
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  const std::string tmp = temp_path_beside(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw sys_error("cannot create", tmp);
  const char* p = contents.data();
  size_t left = contents.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto err = sys_error("cannot write", tmp);
      ::close(fd);
      std::remove(tmp.c_str());
      throw err;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  const bool closed = ::close(fd) == 0;
  if (!synced || !closed) {
    auto err = sys_error("cannot flush", tmp);
    std::remove(tmp.c_str());
    throw err;
  }
  commit_file(tmp, path);
}

}  // namespace tapegrad_train
