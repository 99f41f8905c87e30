#include "plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <tapegrad/io/atomic_file.h>

extern char** environ;

namespace tapegrad_train {
namespace {

// A gnuplot single-quoted string: only the quote itself needs escaping, by doubling it.
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += (c == '\'') ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// Runs argv[0] (searched in PATH) with stdin and stdout on /dev/null and stderr to `err_path`.
// Returns the exit status, or -errno if it could not be started.
int run(const std::vector<std::string>& args, const std::string& err_path) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return -rc;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -errno;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

std::string gnuplot_script(const std::string& csv_path, const std::string& png_path, const std::string& title) {
  std::ostringstream s;
  s << "# Loss and accuracy curves of a tapegrad-train run. Rerun with: gnuplot curves.gp\n"
    << "if (!exists(\"outfile\")) outfile = " << quoted(png_path) << "\n"
    << "datafile = " << quoted(csv_path) << "\n"
    << "set terminal pngcairo size 1200,480 font 'sans,11'\n"
    << "set output outfile\n"
    << "set datafile separator ','\n"
    << "set key autotitle columnhead\n"
    << "set grid\n"
    << "set xlabel 'epoch'\n"
    << "set xtics 1\n"
    << "set multiplot layout 1,2 title " << quoted(title) << "\n"
    << "set title 'loss (cross-entropy)'\n"
    << "set ylabel 'loss'\n"
    << "plot datafile using 1:2 with linespoints lw 2 pt 7 title 'train', \\\n"
    << "     datafile using 1:4 with linespoints lw 2 pt 5 title 'test'\n"
    << "set title 'accuracy'\n"
    << "set ylabel 'accuracy (%)'\n"
    << "set key bottom right\n"
    << "plot datafile using 1:($3*100) with linespoints lw 2 pt 7 title 'train', \\\n"
    << "     datafile using 1:($5*100) with linespoints lw 2 pt 5 title 'test'\n"
    << "unset multiplot\n";
  return s.str();
}

PlotResult render_plot(const std::string& csv_path, const std::string& png_path, const std::string& script_path,
                       const std::string& title) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const std::string csv_abs = fs::absolute(csv_path, ec).string();
  const std::string png_abs = fs::absolute(png_path, ec).string();
  try {
    tapegrad::io::write_file_atomic(script_path, gnuplot_script(csv_abs, png_abs, title));
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
  const std::string tmp_png = tapegrad::io::temp_path_beside(png_path, ".png");
  const std::string err_path = tapegrad::io::temp_path_beside(png_path, ".log");
  const int rc = run({"gnuplot", "-e", "outfile=" + quoted(tmp_png), script_path}, err_path);
  const std::string err = read_text(err_path);
  fs::remove(err_path, ec);
  if (rc == -ENOENT) return {false, "gnuplot not found in PATH (on Debian: apt-get install gnuplot-nox)"};
  if (rc < 0) return {false, std::string("cannot start gnuplot: ") + std::strerror(-rc)};
  if (rc != 0 || !fs::exists(tmp_png)) {
    fs::remove(tmp_png, ec);
    return {false, "gnuplot failed (exit " + std::to_string(rc) + ")" + (err.empty() ? "" : ": " + err)};
  }
  try {
    tapegrad::io::commit_file(tmp_png, png_path);
  } catch (const std::exception& e) {
    return {false, e.what()};
  }
  return {true, ""};
}

}  // namespace tapegrad_train
