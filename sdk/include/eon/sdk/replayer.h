// The replayer: runs workflow code against a saved history, to check that a code change is
// still deterministic before it is deployed.
//
//   eon::sdk::Replayer replayer;
//   replayer.register_workflow("Subscription", Subscription);
//   auto history = eon::sdk::Replayer::HistoryFromJson(text).value();  // `eon workflow show
//   auto ok = replayer.replay(history);                                 //  --output json`
//   if (!ok.ok()) std::cerr << ok.error().message;  // "nondeterminism: ..."
//
// A history whose code makes other decisions than it recorded fails with FAILED_PRECONDITION
// and a message that names the command the code produced and the event the history has.
#pragma once

#include <string>

#include "eon/sdk/client.h"
#include "eon/sdk/registry.h"

namespace eon::sdk {

class Replayer {
 public:
  explicit Replayer(DataConverter converter = {}) : converter_(std::move(converter)) {}

  template <typename F>
  void register_workflow(const std::string& name, F fn) {
    registry_.register_workflow(name, std::move(fn));
  }
  // Local activities are not run on replay; their recorded results are used.

  // OK when the code replays the whole history; FAILED_PRECONDITION for nondeterminism;
  // INVALID_ARGUMENT for a history that is empty, does not start with WorkflowExecutionStarted,
  // or names an unregistered workflow type; the workflow's own failure (a bug) as INTERNAL.
  Result<void> replay(const History& history) const;

  // Reads a history as JSON: the output of `eon workflow show --output json` or of
  // `temporal workflow show --output json`, or a GetWorkflowExecutionHistory response.
  static Result<History> HistoryFromJson(const std::string& json);

 private:
  Registry registry_;
  DataConverter converter_;
};

}  // namespace eon::sdk
