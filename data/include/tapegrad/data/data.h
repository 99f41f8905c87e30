#pragma once
/// \file data.h
/// Datasets for tapegrad: the IDX reader, MNIST-format loading and the mini-batch DataLoader.
#include "tapegrad/data/idx.h"
#include "tapegrad/data/loader.h"
#include "tapegrad/data/mnist.h"
