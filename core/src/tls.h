#pragma once
// Private. Thread-locals read on every op use the initial-exec TLS model: a direct load instead
// of a call to __tls_get_addr, which cost about 9% of a scalar op's time in a shared library.
// (The flip side: libtapegrad must be linked, not dlopen'ed late into a process whose static
// TLS space is used up; the variables marked are a few bytes.)
#define TG_TLS __attribute__((tls_model("initial-exec")))
