#pragma once
// Which BLAS this process actually calls, read from the process itself: libtorch calls BLAS through
// libblas.so.3, which the dynamic loader may resolve to Debian's reference BLAS or to OpenBLAS
// (alternatives, LD_LIBRARY_PATH), and a libtorch ratio means nothing without it. The report
// (performance_report.py) refuses libtorch ratios unless the kind found here is an optimized one.
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>

namespace bench {

/// The BLAS that an unqualified call to sgemm_ reaches in this process.
struct LoadedBlas {
  std::string kind;     ///< "OpenBLAS", "MKL", "BLIS", "reference", "none" or "unknown"
  std::string library;  ///< the file that defines sgemm_, symlinks resolved
  std::string detail;   ///< the library's own configuration string where it has one
  std::string mapped;   ///< every mapped file whose name contains "blas" or "mkl", comma-separated
};

inline std::string real_path(const std::string& p) {
  char* r = ::realpath(p.c_str(), nullptr);
  if (!r) return p;
  std::string s(r);
  std::free(r);
  return s;
}

inline LoadedBlas loaded_blas() {
  LoadedBlas b;
  // /proc/self/maps: a second BLAS loaded beside the one that answers sgemm_ shows up here.
  std::ifstream maps("/proc/self/maps");
  std::set<std::string> files;
  for (std::string line; std::getline(maps, line);) {
    const auto slash = line.find('/');
    if (slash == std::string::npos) continue;
    const std::string path = line.substr(slash);
    const std::string base = path.substr(path.rfind('/') + 1);
    if (base.find("blas") != std::string::npos || base.find("mkl") != std::string::npos) files.insert(path);
  }
  for (const auto& f : files) b.mapped += (b.mapped.empty() ? "" : ", ") + f;

  void* sgemm = dlsym(RTLD_DEFAULT, "sgemm_");
  Dl_info info{};
  if (!sgemm || !dladdr(sgemm, &info) || !info.dli_fname) {
    b.kind = "none";
    return b;
  }
  b.library = real_path(info.dli_fname);
  // Ask the library that defines sgemm_ (through its own handle) who it is.
  void* h = dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
  auto sym = [&](const char* name) { return h ? dlsym(h, name) : nullptr; };
  if (auto cfg = reinterpret_cast<char* (*)()>(sym("openblas_get_config"))) {
    b.kind = "OpenBLAS";
    b.detail = cfg();
  } else if (sym("mkl_get_version_string") || sym("MKL_Get_Version_String")) {
    b.kind = "MKL";
  } else if (auto v = reinterpret_cast<const char* (*)()>(sym("bli_info_get_version_str"))) {
    b.kind = "BLIS";
    b.detail = v();
  } else if (b.library.find("/blas/libblas.so") != std::string::npos) {
    // Debian's libblas3 (Netlib's reference Fortran) installs here and exports no identification.
    b.kind = "reference";
  } else {
    b.kind = "unknown";
  }
  if (h) dlclose(h);
  return b;
}

/// One line for logs: kind, library and detail.
inline std::string describe(const LoadedBlas& b) {
  std::string s = b.kind;
  if (!b.library.empty()) s += " (" + b.library + (b.detail.empty() ? "" : ": " + b.detail) + ")";
  return s;
}

/// Records the BLAS in the results through `add(key, value)` (benchmark::AddCustomContext: the
/// JSON's "context", which the report reads) and says it on stderr, so a run shows it at once.
template <class Add>
void record_blas(Add add) {
  const LoadedBlas b = loaded_blas();
  add("libtorch_blas", b.kind);
  add("libtorch_blas_library", b.library);
  add("libtorch_blas_detail", b.detail);
  add("blas_mapped", b.mapped);
  std::fprintf(stderr, "libtorch's BLAS in this process: %s\n", describe(b).c_str());
}

}  // namespace bench
