// The durable file writer: permissions from the umask, symlinks written through, temporaries of
// killed writers removed by the next write.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <tapegrad/tapegrad.h>

namespace fs = std::filesystem;
namespace tio = tapegrad::io;

namespace {
// One folder per test process (ctest runs the tests of this file in parallel processes).
fs::path temp_dir_name() {
  std::string name = "tapegrad-atomic-";  // appended, not summed: GCC 12 misreads "literal" + std::string
  name += std::to_string(getpid());
  return fs::temp_directory_path() / name;
}
struct TempDir {
  fs::path path = temp_dir_name();
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};
std::string read(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
mode_t mode_of(const fs::path& p) {
  struct stat st;
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 0777;
}
}  // namespace

TEST(IoAtomicFile, ANewFileGetsThePermissionsTheUmaskAllows) {
  TempDir d;
  const struct {
    mode_t mask;
    const char* name;
  } cases[] = {{022, "f022"}, {077, "f077"}, {002, "f002"}};
  for (const auto& [mask, name] : cases) {
    const mode_t old = ::umask(mask);
    const fs::path p = d.path / name;
    tio::write_file_atomic(p.string(), "x");
    ::umask(old);
    EXPECT_EQ(mode_of(p), 0666 & ~mask) << "umask " << std::oct << mask;
  }
}

TEST(IoAtomicFile, AnExistingFileKeepsItsPermissions) {
  TempDir d;
  const fs::path p = d.path / "kept";
  tio::write_file_atomic(p.string(), "one");
  ::chmod(p.c_str(), 0640);
  tio::write_file_atomic(p.string(), "two");
  EXPECT_EQ(mode_of(p), 0640u);
  EXPECT_EQ(read(p), "two");
}

TEST(IoAtomicFile, ASymlinkIsWrittenThroughAndStaysALink) {
  TempDir d;
  const fs::path target = d.path / "real.safetensors", link = d.path / "latest.safetensors";
  tio::write_file_atomic(target.string(), "old");
  fs::create_symlink(target.filename(), link);  // relative, as `ln -s` is usually used
  tio::save_safetensors(link.string(), {{"w", tapegrad::ones({2})}});
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(link)));
  EXPECT_EQ(tio::load_safetensors(target.string()).at(0).first, "w") << "the target was not replaced";
}

TEST(IoAtomicFile, TemporariesOfKilledWritersAreRemovedByTheNextWrite) {
  TempDir d;
  const fs::path p = d.path / "curves.png";
  // What an interrupted plot leaves: a temporary named after a process that no longer exists
  // (pid 2^22 + 1 is above Linux's pid_max limit), and one with an absurd pid.
  const fs::path stale = d.path / "curves.png.tmp.4194305.0.png";
  const fs::path absurd = d.path / "curves.png.tmp.99999999999999999999.a";
  std::ofstream(stale) << "partial";
  std::ofstream(absurd) << "?";
  const std::string tmp = tio::temp_path_beside(p.string(), ".png");
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(absurd)) << "not one of ours: an id no process can have";
  std::ofstream(tmp) << "png";
  tio::commit_file(tmp, p.string());
  EXPECT_EQ(read(p), "png");
  tio::write_file_atomic(p.string(), "again");  // and the writer does not trip over the absurd name
  EXPECT_EQ(read(p), "again");
}
