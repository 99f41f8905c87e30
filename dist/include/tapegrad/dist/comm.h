#pragma once
/// \file comm.h
/// The processes of a data-parallel job (ranks) and the collectives between them, over MPI.
///
/// A job is started by an MPI launcher (`mpirun -np 2 prog`); each process calls init() once, and
/// every rank must then call the same collectives in the same order. MPI errors come back as
/// tg::Error naming the rank and the call, never as a silent hang: a program that catches one
/// should end the job with abort(), as tapegrad-train does. Built without MPI (available() false),
/// the job is this process alone: size() is 1 and every collective is the identity. So is it in a
/// process no launcher started, before init(); one of a launched job must call init() first.
#include <cstdint>
#include <string>
#include <vector>

#include "tapegrad/core/tensor.h"

namespace tapegrad::dist {

/// True if tapegrad was built with MPI (the CMake option TAPEGRAD_MPI, on where MPI is found).
bool available();
/// True if an MPI launcher (mpirun, mpiexec, srun) started this process: its environment names a
/// rank. A program can use this to run as a plain process, without MPI, when started directly.
bool launched();
/// The number of processes the launcher says the job has (1 if not launched by one); known
/// before init().
int launched_size();

/// Initialises MPI for this process (MPI_Init_thread, funneled: only the thread that called init
/// makes MPI calls). Throws if MPI was initialised already, or if the job has several processes
/// but tapegrad was built without MPI. Errors of later MPI calls are returned to tapegrad, which
/// throws them as tg::Error.
void init(int* argc = nullptr, char*** argv = nullptr);
/// Finalises MPI (a no-op if init() was not called, or finalize() already was).
void finalize();
/// True between init() and finalize().
bool initialized();
/// This process's rank, 0 to size() - 1 (0 before init()).
int rank();
/// The number of ranks in the job (1 before init()).
int size();
/// True on rank 0, the rank that writes files and prints progress by convention.
inline bool is_main() { return rank() == 0; }

/// Initialises in the constructor and finalises in the destructor. If the destructor runs while
/// an exception propagates (a rank failed), it aborts the whole job instead of finalising, since
/// the other ranks may be waiting in a collective this rank will never reach.
class Environment {
 public:
  /// Calls init(argc, argv).
  Environment(int* argc = nullptr, char*** argv = nullptr);
  /// Calls finalize(), or abort() while an exception propagates.
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

 private:
  int uncaught_;
};

/// Ends every rank of the job: prints "rank R: message" to stderr and calls MPI_Abort with `code`
/// (exits the process with `code` when MPI is not initialised). Use it where a rank fails: the
/// others would otherwise wait for it in their next collective.
[[noreturn]] void abort(const std::string& message, int code = 1);

/// Waits until every rank has called barrier().
void barrier();

/// Overwrites `t` on every rank with rank `root`'s values. `t` must have the same shape and dtype
/// on every rank: checked first (one small all_gather), otherwise every rank throws the same
/// tg::Error naming the ranks, shapes and dtypes. For a whole model use broadcast_state.
void broadcast(Tensor& t, int root = 0);
/// Rank `root`'s bytes on every rank (the others' `bytes` are replaced, whatever their size).
void broadcast(std::vector<uint8_t>& bytes, int root = 0);

/// Sums `t` elementwise across ranks, in place, on every rank. `t` must have the same shape and
/// dtype on every rank: checked before the exchange (one all_gather of four integers), otherwise
/// every rank throws the same tg::Error naming the ranks, shapes and dtypes.
void all_reduce_sum(Tensor& t);
/// The elementwise sum of `values` across ranks, on every rank (same length everywhere; throws
/// naming the ranks if not).
std::vector<double> all_reduce_sum(const std::vector<double>& values);
/// `value` of every rank, indexed by rank, on every rank (for metrics and checks).
std::vector<double> all_gather(double value);
/// `text` of every rank, indexed by rank, on every rank (any lengths).
std::vector<std::string> all_gather(const std::string& text);

}  // namespace tapegrad::dist
