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
  // The handler's answer: called exactly once, maybe before the call returns, maybe later from
  // another thread (the store's committer, once the task's change is durable). It must not wait
  // on the engine or write to the store on the caller's thread.
  using Done = std::function<void(Status)>;
  // Runs a transfer task. OK means handed over: `on_settled` is called once the task may be
  // deleted (maybe later, from another thread). An error means retry later.
  virtual void ProcessTransferTask(const persistence::StoredTask& task,
                                   std::function<void()> on_settled, Done done) = 0;
  // Runs a due timer task. OK means done; an error means retry later.
  virtual void ProcessTimerTask(const persistence::StoredTask& task, Done done) = 0;
  // Runs a transfer task here and now if that needs no wait at all (no lock to wait for, no
  // store read or write on this thread), and returns true: as ProcessTransferTask answering OK.
  // Otherwise returns false having done nothing, and the task goes to ProcessTransferTask on
  // the task pool. Called where committed tasks come out (mostly the store's committer thread).
  virtual bool TryDispatchWithoutWaiting(const persistence::StoredTask& task,
                                         std::function<void()> on_settled) {
    (void)task, (void)on_settled;
    return false;
  }
};

}  // namespace eon::history
