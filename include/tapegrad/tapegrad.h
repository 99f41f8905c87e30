#pragma once
/// \file tapegrad.h
/// Everything tapegrad offers, in one include. Users write `namespace tg = tapegrad;`.
/// (The op registry, for checking your own functions like the built-in ops, is the separate
/// testing header tapegrad/autograd/testing.h.)
#include "tapegrad/core/dtype.h"
#include "tapegrad/core/error.h"
#include "tapegrad/core/generator.h"
#include "tapegrad/core/memory.h"
#include "tapegrad/core/shape.h"
#include "tapegrad/core/tensor.h"
#include "tapegrad/core/threads.h"
#include "tapegrad/autograd/anomaly.h"
#include "tapegrad/autograd/autocast.h"
#include "tapegrad/autograd/compile.h"
#include "tapegrad/autograd/function.h"
#include "tapegrad/autograd/gemm_paths.h"
#include "tapegrad/autograd/grad.h"
#include "tapegrad/autograd/gradcheck.h"
#include "tapegrad/autograd/ops.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/nn/nn.h"
#include "tapegrad/optim/optim.h"
#include "tapegrad/data/data.h"
#include "tapegrad/io/io.h"
#include "tapegrad/dist/dist.h"
