#pragma once
/// \file threads.h
/// How many threads the matrix products use.

namespace tapegrad {

/// Sets the number of threads each matrix product may use (default 1). Results do not depend
/// on it: every output element is computed by one thread in the same order.
void set_num_threads(int n);

/// The number of threads matrix products use.
int num_threads();

namespace detail {
void apply_num_threads(int n);
}

}  // namespace tapegrad
