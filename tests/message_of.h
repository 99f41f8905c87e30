#pragma once
// The message of the tg::Error that f throws, for tests of error text: "(no error)" when it throws
// nothing, and a marked message when it throws another exception type (the library throws only
// tg::Error, so that is a finding too).
#include <exception>
#include <functional>
#include <string>

#include <tapegrad/tapegrad.h>

inline std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tapegrad::Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("(not a tg::Error) ") + e.what();
  }
  return "(no error)";
}
