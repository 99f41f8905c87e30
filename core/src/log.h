#pragma once
/// \file log.h
/// The library's logger (spdlog). Its level comes from the environment variable
/// TAPEGRAD_LOG_LEVEL (trace, debug, info, warn, error, off; default warn).
#include <memory>

namespace spdlog {
class logger;
}

namespace tapegrad {

/// The logger every part of the library writes to (named "tapegrad", to stderr).
std::shared_ptr<spdlog::logger> logger();

}  // namespace tapegrad
