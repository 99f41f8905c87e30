#include "schedule.h"

#include <stdexcept>

#include "options.h"

namespace tg = tapegrad;

namespace tapegrad_train {

std::unique_ptr<tg::optim::LRScheduler> make_lr_scheduler(const std::string& schedule, tg::optim::Optimizer& optimizer,
                                                          double lr, int64_t epochs, int64_t epochs_done) {
  if (schedule == "constant") return nullptr;  // the optimizer keeps --lr: the MLP's runs as they always were
  if (schedule != "cosine")
    throw std::invalid_argument("--lr-schedule is '" + schedule + "', expected constant or cosine");
  auto scheduler = std::make_unique<tg::optim::CosineAnnealingLR>(optimizer, epochs);
  // The constructor took the optimizer's current lr as its base, which after a restore is the one
  // the checkpoint saved (already the next epoch's): the base is the run's --lr, and the position
  // the epochs done, whatever the optimizer holds.
  scheduler->load_state_dict({{"base_lr", tg::tensor(lr, tg::Dtype::f64)},
                              {"last_epoch", tg::tensor(static_cast<double>(epochs_done), tg::Dtype::f64)}});
  return scheduler;
}

}  // namespace tapegrad_train
