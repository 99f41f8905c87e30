#pragma once
/// \file io.h
/// Saving and loading tensors: safetensors files and training checkpoints.
#include "tapegrad/io/safetensors.h"
#include "tapegrad/io/atomic_file.h"
#include "tapegrad/io/checkpoint.h"
#include "tapegrad/io/torch.h"
