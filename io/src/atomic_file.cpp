// Durable whole-file writes: a temporary beside the target, fsync, rename(2), fsync of the
// directory. The temporary's name carries the writer's process id, so that a later write can
// tell the leftovers of a killed writer from the file of a writer still running.
#include "tapegrad/io/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "log.h"
#include "tapegrad/core/error.h"

#include <spdlog/spdlog.h>

namespace tapegrad::io {

namespace fs = std::filesystem;

namespace {
WriteObserver& observer() {
  static WriteObserver o;
  return o;
}
void observe(std::string_view step, uint64_t bytes) {
  if (observer()) observer()(step, bytes);
}

std::string sys_error(const std::string& what) { return what + ": " + std::strerror(errno); }

fs::path directory_of(const std::string& path) {
  fs::path dir = fs::path(path).parent_path();
  return dir.empty() ? fs::path(".") : dir;
}

// The process's umask, without changing it (umask(2) can only be read by setting it, which would
// race with other threads creating files): Linux reports it in /proc/self/status.
mode_t current_umask() {
  if (FILE* f = std::fopen("/proc/self/status", "r")) {
    char line[256];
    unsigned mask = 0;
    bool found = false;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "Umask: %o", &mask) == 1) {
        found = true;
        break;
      }
    std::fclose(f);
    if (found) return static_cast<mode_t>(mask);
  }
  return 022;
}

// A symlink is written through: the file it names is replaced, and the link stays a link (as
// editors and torch.save do), instead of becoming a regular file that leaves its target stale.
std::string through_links(const std::string& path) {
  std::error_code ec;
  if (!fs::is_symlink(fs::symlink_status(path, ec))) return path;
  const fs::path target = fs::weakly_canonical(path, ec);
  return ec ? path : target.string();
}

void sync_directory(const std::string& path, const std::string& op) {
  const fs::path dir = directory_of(path);
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw Error(op + ": " + sys_error(path + " written, but cannot open its directory to fsync"));
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  // Some file systems cannot fsync a directory (EINVAL); there the rename is as durable as it gets.
  if (rc != 0 && err != EINVAL) {
    errno = err;
    throw Error(op + ": " + sys_error(path + " written, but fsync of its directory failed"));
  }
}
}  // namespace

void set_write_observer(WriteObserver o) { observer() = std::move(o); }

void remove_stale_temporaries(const std::string& path) {
  const std::string prefix = fs::path(path).filename().string() + ".tmp.";
  std::error_code ec;
  for (fs::directory_iterator it(directory_of(path), ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = name.substr(prefix.size());
    const size_t dot = rest.find('.');
    if (dot == std::string::npos || dot == 0 || rest.find_first_not_of("0123456789") != dot) continue;
    pid_t pid = 0;
    try {
      pid = static_cast<pid_t>(std::stol(rest.substr(0, dot)));
    } catch (const std::exception&) {
      continue;  // more digits than any process id: not one of ours
    }
    if (pid > 0 && pid != ::getpid() && ::kill(pid, 0) != 0 && errno == ESRCH) {
      fs::remove(it->path(), ec);
      logger()->info("removed {}, left by a write that was killed", it->path().string());
    }
  }
}

std::string temp_path_beside(const std::string& path, const std::string& suffix) {
  static std::atomic<unsigned> counter{0};
  remove_stale_temporaries(path);  // those of writers killed mid-way, such as an interrupted plot
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++) + suffix;
}

void commit_file(const std::string& from, const std::string& to, const std::string& op) {
  observe("rename", 0);
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    const std::string msg = sys_error("cannot rename " + from + " to " + to);
    ::unlink(from.c_str());
    throw Error(op + ": " + msg);
  }
  observe("sync directory", 0);
  sync_directory(to, op);
  observe("done", 0);
}

AtomicFile::AtomicFile(std::string path, std::string op) : path_(through_links(path)), op_(std::move(op)) {
  remove_stale_temporaries(path_);
  tmp_ = path_ + ".tmp." + std::to_string(::getpid()) + ".XXXXXX";
  fd_ = ::mkstemp(tmp_.data());
  if (fd_ < 0) throw Error(op_ + ": " + sys_error("cannot create a temporary file next to " + path_));
  struct stat st;
  // An existing file keeps its permissions; a new one gets what open(2) would give it.
  const mode_t mode = ::stat(path_.c_str(), &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
  if (::fchmod(fd_, mode) != 0) {
    const std::string msg = sys_error("fchmod " + tmp_);
    ::close(fd_);
    ::unlink(tmp_.c_str());
    throw Error(op_ + ": " + msg);
  }
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  if (committed_) throw Error(op_ + ": " + path_ + " was already committed");
  const auto* p = static_cast<const unsigned char*>(data);
  const size_t piece = observer() ? size_t{4096} : size_t{1} << 30;
  while (n > 0) {
    observe("write", written_);
    const ssize_t w = ::write(fd_, p, std::min(n, piece));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw Error(op_ + ": " + sys_error("write to " + tmp_ + " failed"));
    }
    p += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

void AtomicFile::commit() {
  if (committed_) throw Error(op_ + ": " + path_ + " was already committed");
  observe("fsync", written_);
  if (::fsync(fd_) != 0) throw Error(op_ + ": " + sys_error("fsync " + tmp_));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw Error(op_ + ": " + sys_error("close " + tmp_));
  committed_ = true;  // commit_file removes the temporary itself if the rename fails
  commit_file(tmp_, path_, op_);
}

void write_file_atomic(const std::string& path, std::string_view contents, const std::string& op) {
  AtomicFile f(path, op);
  f.write(contents.data(), contents.size());
  f.commit();
}

}  // namespace tapegrad::io
