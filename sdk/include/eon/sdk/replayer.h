// The replayer: runs workflow code against a saved history, to check that a code change is
// still deterministic before it is deployed.
//
//   eon::sdk::Replayer replayer;
//   replayer.register_workflow("Subscription", Subscription);
//   auto history = eon::sdk::Replayer::HistoryFromJson(text).value();  // `eon workflow show
//   auto ok = replayer.replay(history);                                 //  --output json`
//   if (!ok.ok()) std::cerr << ok.error().message;  // "nondeterminism: ..."
//
// The code sees the execution's own info(): the workflow id is the caller's, or the one the
// started event records (Temporal servers since 1.21 and eon record it); the run id, type,
// task queue, parent, attempt and timeouts come from the history. Many histories at once:
//
//   std::vector<eon::sdk::WorkflowHistory> histories = ...;   // or Replayer::Fetch(client, id)
//   for (const auto& report : replayer.replay_all(histories))
//     if (!report.result.ok()) std::cerr << report.workflow_id << ": " << ...;
//
// A history whose code makes other decisions than it recorded fails with FAILED_PRECONDITION
// and a message that names the command the code produced and the event the history has.
#pragma once

#include <string>
#include <vector>

#include "eon/sdk/client.h"
#include "eon/sdk/registry.h"

namespace eon::sdk {

// A history with the execution it belongs to.
struct WorkflowHistory {
  std::string workflow_id{};  // "": the one the started event records
  std::string ns = "default";
  History history{};
};

// One history's outcome in replay_all().
struct ReplayReport {
  std::string workflow_id{};  // as replayed (the caller's or the history's)
  std::string run_id{};
  Result<void> result;
};

class Replayer {
 public:
  explicit Replayer(DataConverter converter = {}) : converter_(std::move(converter)) {}

  template <typename F>
  void register_workflow(const std::string& name, F fn) {
    registry_.register_workflow(name, std::move(fn));
  }
  template <typename W>
  void register_workflow(const std::string& name) {
    registry_.template register_workflow<W>(name);
  }
  // Local activities are not run on replay; their recorded results are used.

  // OK when the code replays the whole history; FAILED_PRECONDITION for nondeterminism;
  // INVALID_ARGUMENT for a history that is empty, does not start with WorkflowExecutionStarted,
  // names an unregistered workflow type, or records no workflow id when none is given; the
  // workflow's own failure (a bug) as INTERNAL.
  Result<void> replay(const History& history, const std::string& workflow_id = "") const;
  Result<void> replay(const WorkflowHistory& history) const;
  // Replays each history on its own and reports every one (in the order given).
  std::vector<ReplayReport> replay_all(const std::vector<WorkflowHistory>& histories) const;

  // The history of a workflow (its current run, or `run_id`), fetched through `client`, with
  // its id and the client's namespace.
  static Result<WorkflowHistory> Fetch(const Client& client, const std::string& workflow_id,
                                       const std::string& run_id = "");

  // Reads a history as JSON: the output of `eon workflow show --output json` or of
  // `temporal workflow show --output json`, or a GetWorkflowExecutionHistory response.
  static Result<History> HistoryFromJson(const std::string& json);

 private:
  Registry registry_;
  DataConverter converter_;
};

}  // namespace eon::sdk
