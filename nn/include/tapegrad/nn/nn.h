#pragma once
/// \file nn.h
/// Layers, containers, losses and initialisers: everything in tapegrad::nn, in one include.
#include "tapegrad/nn/activation.h"
#include "tapegrad/nn/batchnorm.h"
#include "tapegrad/nn/conv.h"
#include "tapegrad/nn/dropout.h"
#include "tapegrad/nn/embedding.h"
#include "tapegrad/nn/init.h"
#include "tapegrad/nn/linear.h"
#include "tapegrad/nn/loss.h"
#include "tapegrad/nn/module.h"
#include "tapegrad/nn/pool.h"
#include "tapegrad/nn/rnn.h"
#include "tapegrad/nn/select.h"
#include "tapegrad/nn/sequential.h"
#include "tapegrad/nn/unflatten.h"
