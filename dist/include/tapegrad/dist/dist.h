#pragma once
/// \file dist.h
/// Data-parallel training across processes over MPI (docs/distributed.md): the ranks and their
/// collectives, and keeping a model's replicas in step.
#include "tapegrad/dist/comm.h"
#include "tapegrad/dist/data_parallel.h"
