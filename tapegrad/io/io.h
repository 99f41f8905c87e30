#pragma once
/// \file io.h
/// Saving and loading tensors: safetensors files and training checkpoints.
#include "tapegrad/io/safetensors.h"
