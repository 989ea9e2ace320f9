// What the queue processors run: the outbox tasks of the history engine. An interface, so the
// processors' retry and parking can be tested with a handler that fails on purpose.
#pragma once

#include <functional>

#include "common/status.h"
#include "persistence/store.h"

namespace eon::history {

class TaskHandler {
 public:
  virtual ~TaskHandler() = default;
  // Runs a transfer task. OK means handed over: `on_settled` is called once the task may be
  // deleted (maybe later, from another thread). An error means retry later.
  virtual Status ProcessTransferTask(const persistence::StoredTask& task,
                                     std::function<void()> on_settled) = 0;
  // Runs a due timer task. OK means done; an error means retry later.
  virtual Status ProcessTimerTask(const persistence::StoredTask& task) = 0;
};

}  // namespace eon::history
