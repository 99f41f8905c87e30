#pragma once
/// \file tapegrad.h
/// Everything tapegrad offers, in one include. Users write `namespace tg = tapegrad;`.
#include "tapegrad/autograd/anomaly.h"
#include "tapegrad/autograd/dtype.h"
#include "tapegrad/autograd/error.h"
#include "tapegrad/autograd/function.h"
#include "tapegrad/autograd/generator.h"
#include "tapegrad/autograd/gradcheck.h"
#include "tapegrad/autograd/memory.h"
#include "tapegrad/autograd/ops.h"
#include "tapegrad/autograd/registry.h"
#include "tapegrad/autograd/shape.h"
#include "tapegrad/autograd/tape.h"
#include "tapegrad/autograd/tensor.h"
#include "tapegrad/autograd/threads.h"
#include "tapegrad/nn/nn.h"
#include "tapegrad/data/data.h"
#include "tapegrad/io/io.h"
