#include "log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

namespace tapegrad {

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> log = [] {
    auto l = spdlog::get("tapegrad");
    if (!l) l = spdlog::stderr_color_mt("tapegrad");
    const char* level = std::getenv("TAPEGRAD_LOG_LEVEL");
    l->set_level(level ? spdlog::level::from_str(level) : spdlog::level::warn);
    return l;
  }();
  return log;
}

}  // namespace tapegrad
