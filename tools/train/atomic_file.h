#pragma once
/// \file atomic_file.h
/// Writing a whole file so that readers see the old contents or the new, never a torn one.
#include <string>
#include <string_view>

namespace tapegrad_train {

/// Writes `contents` to a temporary file beside `path`, fsyncs it and renames it over `path`.
/// On failure removes the temporary file, leaves `path` as it was, and throws std::runtime_error
/// naming the path and the system error. (tapegrad::io does this for safetensors only.)
void write_file_atomic(const std::string& path, std::string_view contents);

/// A unique temporary name beside `path`, for tools that write the file themselves (gnuplot);
/// `suffix` is kept at the end so that the tool sees the extension it expects.
std::string temp_path_beside(const std::string& path, const std::string& suffix = "");

/// Renames `from` over `to` and fsyncs the directory; throws std::runtime_error on failure.
void commit_file(const std::string& from, const std::string& to);

}  // namespace tapegrad_train
