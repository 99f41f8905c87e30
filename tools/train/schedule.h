#pragma once
/// \file schedule.h
/// The learning rate of each epoch, as --lr-schedule says.
#include <cstdint>
#include <memory>
#include <string>

#include <tapegrad/tapegrad.h>

namespace tapegrad_train {

/// The scheduler of `schedule` (see lr_schedule_name_list) for `optimizer`, positioned at epoch
/// `epochs_done` of a run of `epochs`, having set the optimizer's learning rate for that epoch;
/// step() it after each epoch. "constant" gives nullptr and leaves the optimizer alone; "cosine"
/// gives a CosineAnnealingLR from `lr` to 0 over `epochs`. The position comes from the epoch count
/// alone, so call it after restoring a checkpoint into `optimizer`: a resumed run then trains each
/// epoch at the learning rate an uninterrupted one would have. Throws std::invalid_argument for an
/// unknown schedule.
std::unique_ptr<tapegrad::optim::LRScheduler> make_lr_scheduler(const std::string& schedule,
                                                                tapegrad::optim::Optimizer& optimizer, double lr,
                                                                int64_t epochs, int64_t epochs_done);

}  // namespace tapegrad_train
