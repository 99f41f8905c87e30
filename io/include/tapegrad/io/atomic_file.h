#pragma once
/// \file atomic_file.h
/// Writing a whole file so that readers, and a later run after a crash, see the old contents or
/// the new, never a torn file: write a temporary beside it, fsync, rename over it, fsync the
/// directory. Every file tapegrad writes goes through here.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace tapegrad::io {

/// A file being written in place of `path`. Nothing is visible at `path` until commit(); if the
/// object is destroyed first (an exception, a return), the temporary file is removed.
class AtomicFile {
 public:
  /// Creates the temporary file beside `path`, with `path`'s permissions, or for a new file those
  /// the umask leaves of 0666. A symlink at `path` is written through: its target is replaced
  /// and the link stays. `op` names the caller in error messages ("save_safetensors").
  AtomicFile(std::string path, std::string op);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends `n` bytes; throws tg::Error naming the op and the file on a failed write.
  void write(const void* data, size_t n);
  /// Makes the new contents durable and visible at the target path: fsync, rename, and fsync of
  /// the directory (which only file systems that cannot sync a directory may skip).
  void commit();
  /// Bytes written so far.
  uint64_t size() const { return written_; }

 private:
  std::string path_, op_, tmp_;
  int fd_ = -1;
  uint64_t written_ = 0;
  bool committed_ = false;
};

/// Writes `contents` to `path` through an AtomicFile.
void write_file_atomic(const std::string& path, std::string_view contents, const std::string& op = "write_file_atomic");

/// A fresh temporary name beside `path`, for programs that write the file themselves (gnuplot):
/// `suffix` stays at the end so that they see the extension they expect. Publish it with
/// commit_file(); the temporaries of killed processes are removed by later writes of `path`.
std::string temp_path_beside(const std::string& path, const std::string& suffix = "");

/// Renames `from` over `to` and fsyncs the directory; throws tg::Error naming `op` on failure
/// (and removes `from`).
void commit_file(const std::string& from, const std::string& to, const std::string& op = "commit_file");

/// Removes the temporary files beside `path` that writers killed before their commit left behind
/// (their process id is in the name; files of live processes are kept). Called by every write.
void remove_stale_temporaries(const std::string& path);

/// For tests of crash safety: called at each step of every atomic write in this process, with
/// the step ("write", "fsync", "rename", "sync directory", "done") and the bytes written so far.
/// While one is set, data is written in pieces of at most 4096 bytes, each preceded by a call,
/// so a test can stop the process at a chosen byte offset. Pass an empty function to remove it.
using WriteObserver = std::function<void(std::string_view step, uint64_t bytes_written)>;
/// Sets the observer (see WriteObserver).
void set_write_observer(WriteObserver observer);

}  // namespace tapegrad::io
