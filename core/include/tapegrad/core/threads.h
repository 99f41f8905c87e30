#pragma once
/// \file threads.h
/// How many threads the matrix products use.

namespace tapegrad {

/// Sets the number of threads each large matrix product may use, in every thread of the process
/// (default 1; products under about 8 million multiply-adds always use one). Results are
/// bit-identical run after run for a given count, but differ in the last bits between counts
/// (the GEMM blocks the sums differently).
void set_num_threads(int n);

/// The number of threads matrix products use.
int num_threads();


}  // namespace tapegrad
