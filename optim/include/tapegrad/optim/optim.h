#pragma once
/// \file optim.h
/// The optimizers, learning-rate schedulers and gradient clipping, in one include.
#include "tapegrad/optim/adagrad.h"
#include "tapegrad/optim/adam.h"
#include "tapegrad/optim/clip.h"
#include "tapegrad/optim/compile_step.h"
#include "tapegrad/optim/optimizer.h"
#include "tapegrad/optim/rmsprop.h"
#include "tapegrad/optim/scheduler.h"
#include "tapegrad/optim/sgd.h"
