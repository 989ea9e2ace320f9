// eon_sim_tests: the deterministic simulator (DESIGN.md section 11).
//
// One seed drives everything: history and matching over SQLite (in memory, committing on the
// simulated thread) behind a FaultStore, on a SimEnv; a client that starts workflows, signals
// them and asks some to cancel; workflow workers that decide each workflow from its full history
// (a plan of activities, timers and signal waits chosen by the seed); activity workers that
// complete, fail or drop their tasks. Meanwhile writes fail and are slow, and the process
// crashes (between two writes, losing or landing the unsynced one) and is rebuilt over the same
// database. Then the faults stop and the run goes on until every workflow has closed.
//
// Checked after every run: every workflow closed, the way it was acknowledged (completed or
// canceled); event ids contiguous from 1, one start and one close event; every acknowledged
// signal recorded exactly once; every acknowledged activity completion recorded, and no
// activity closed twice; the run id an acknowledged start answered is the run. Every eighth
// seed runs twice and the two runs' digests (every event of every workflow, the step count and
// the faults) must be equal.
//
//   build/eon_sim_tests                    runs EON_SIM_SEEDS seeds (default 400) from
//                                          EON_SIM_FIRST_SEED (default 1)
//   EON_SIM_SEED=1234 build/eon_sim_tests  replays one seed, with the engine's warnings logged
//
// Exit status 1 when any seed fails; each failure prints its seed and the command that replays it.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/ids.h"
#include "common/log.h"
#include "common/sim_env.h"
#include "history/history_engine.h"
#include "matching/local_matching.h"
#include "matching/matching_engine.h"
#include "persistence/fault_store.h"
#include "persistence/sqlite_store.h"

namespace eon::sim {
namespace {

using namespace std::chrono_literals;
namespace wfs = temporal::api::workflowservice::v1;
namespace enums = temporal::api::enums::v1;
namespace hist = temporal::api::history::v1;
namespace command = temporal::api::command::v1;
namespace common = temporal::api::common::v1;

constexpr char kNamespace[] = "sim-namespace-id";
constexpr char kQueue[] = "sim-queue";
constexpr int kWorkflowPollers = 2;
constexpr int kActivityPollers = 3;
constexpr Duration kChaosDuration = 10min;  // virtual time with faults and crashes
constexpr Duration kSettleDuration = 3h;    // virtual time after, for every workflow to close
constexpr uint64_t kStepsMax = 2'000'000;   // a run that takes more is a failure (livelock)

common::Payloads Payload(const std::string& text) {
  common::Payloads payloads;
  auto* p = payloads.add_payloads();
  (*p->mutable_metadata())["encoding"] = "json/plain";
  p->set_data("\"" + text + "\"");
  return payloads;
}

std::string PayloadText(const common::Payloads& payloads) {
  if (payloads.payloads_size() == 0) return "";
  const std::string& data = payloads.payloads(0).data();
  return data.size() >= 2 ? data.substr(1, data.size() - 2) : data;
}

// One step of a workflow's plan.
struct Step {
  enum Kind { kActivity, kTimer, kSignal } kind = kActivity;
  Duration timer{};  // for kTimer
};

struct Workflow {
  std::string id;
  std::string request_id;
  std::vector<Step> plan;
  bool cancel = false;  // the client asks to cancel it at cancel_at
  TimePoint cancel_at{};
  std::string acked_run_id;  // "" until a start was acknowledged
  bool cancel_acked = false;
  std::set<int> signals_acked;  // plan indexes of kSignal steps whose signal was acknowledged
  std::set<int> signals_moot;   // the workflow was closed when the signal went
  bool complete_acked = false;  // a CompleteWorkflowExecution command was acknowledged
  bool cancel_command_acked = false;
};

// An activity completion the engine acknowledged.
struct AckedCompletion {
  std::string workflow_id;
  std::string run_id;
  int64_t scheduled_event_id = 0;
  std::string result;
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed)
      : seed_(seed), start_(TimePoint(1'800'000'000s)), env_(seed, start_) {}

  // Runs the seed. Returns "" or what went wrong.
  std::string Run() {
    persistence::SqliteOptions options;
    options.committer_thread = false;
    options.shard_count = 4;
    auto opened = persistence::SqliteStore::Open(options);
    if (!opened.ok()) return "cannot open the store: " + opened.status().message();
    sqlite_ = std::move(*opened);
    faults_ = std::make_unique<persistence::FaultStore>(
        *sqlite_, [this] { return env_.Random(); }, [this](Duration d) { env_.Sleep(d); },
        [this] { alive_ = false; });
    MakeWorkflows();
    persistence::FaultOptions fault_options;
    fault_options.write_failure_per_mille = static_cast<int>(env_.Uniform(100));
    fault_options.write_delay_per_mille = static_cast<int>(env_.Uniform(200));
    faults_->set_options(fault_options);
    crashes_max_ = static_cast<int>(env_.Uniform(6));
    Boot();
    const TimePoint chaos_end = env_.now() + kChaosDuration;
    while (env_.now() < chaos_end && env_.steps() < kStepsMax) {
      if (!alive_ && !restarting_) Crash();
      if (!env_.Step()) break;
      if (verbose_ && env_.steps() % 100000 == 0)
        std::cout << "step " << env_.steps() << " alive " << alive_ << " restarting " << restarting_
                  << " generation " << generation_ << " pending " << env_.pending() << "\n";
      if (!alive_ && !restarting_) Crash();
      if (alive_ && crashes_ < crashes_max_ && env_.Uniform(300) == 0) {
        // The process dies between two writes: one of the next few.
        faults_->CrashAfterWrites(static_cast<int64_t>(env_.Uniform(5)));
        ++crashes_;
      }
    }
    // The faults end, and the process restarts once more.
    faults_->set_options({});
    faults_->CrashAfterWrites(-1);
    if (alive_) faults_->CrashAfterWrites(0);
    chaos_over_ = true;
    const TimePoint settle_end = env_.now() + kSettleDuration;
    for (uint64_t i = 0; env_.now() < settle_end && env_.steps() < kStepsMax; ++i) {
      if (!alive_ && !restarting_) Crash();
      if (i % 64 == 0 && AllClosed()) break;
      if (!env_.Step()) break;
    }
    if (!alive_ && !restarting_) Crash();
    // Let the outbox finish (visibility, deletes of done tasks) before the checks read.
    for (int i = 0; i < 500 && env_.pending() > 0 && alive_; ++i) {
      if (env_.now() > settle_end + 1h) break;
      env_.Step();
    }
    if (env_.steps() >= kStepsMax)
      return "the run took more than " + std::to_string(kStepsMax) + " steps (a livelock?)";
    std::string failure = Check();
    Shutdown();
    return failure;
  }

  std::string digest() const { return std::to_string(digest_); }
  // What the run did, in one line.
  std::string Summary() const {
    const auto& f = faults_->stats();
    std::ostringstream out;
    out << workflows_.size() << " workflows, " << env_.steps() << " steps, "
        << std::chrono::duration_cast<std::chrono::seconds>(env_.now() - start_).count()
        << " virtual s; writes " << f.writes << " landed, " << f.writes_failed << " failed, "
        << f.writes_delayed << " slow; " << f.crashes << " crashes (" << f.tails_lost
        << " tails lost, " << f.tails_landed << " landed); " << acked_completions_.size()
        << " activity completions acknowledged";
    return out.str();
  }

 private:
  void MakeWorkflows() {
    const int count = 3 + static_cast<int>(env_.Uniform(8));
    for (int i = 0; i < count; ++i) {
      Workflow w;
      w.id = "wf-" + std::to_string(i);
      w.request_id = "start-" + std::to_string(i);
      const int steps = 1 + static_cast<int>(env_.Uniform(6));
      for (int s = 0; s < steps; ++s) {
        Step step;
        switch (env_.Uniform(3)) {
          case 0:
            step.kind = Step::kActivity;
            break;
          case 1:
            step.kind = Step::kTimer;
            step.timer = std::chrono::seconds(1 + env_.Uniform(60));
            break;
          default:
            step.kind = Step::kSignal;
            break;
        }
        w.plan.push_back(step);
      }
      if (env_.Chance(200)) {
        w.cancel = true;
        w.cancel_at = env_.now() + std::chrono::seconds(env_.Uniform(120));
      }
      workflows_.push_back(std::move(w));
    }
  }

  // A new process over the same database (the first one, or after a crash).
  void Boot() {
    restarting_ = false;
    faults_->Restart();
    alive_ = true;
    ++generation_;
    executor_ = env_.NewExecutor("tasks", 4);
    matching::MatchingOptions matching_options;
    matching_options.clock = &env_.clock();
    matching_options.steady_now = [this] { return env_.SteadyNow(); };
    matching_options.long_poll_max = 20s;
    matching_ = std::make_unique<matching::MatchingEngine>(*faults_, env_.deadlines(),
                                                           std::move(matching_options));
    Status recovered = matching_->Recover();
    history::EngineOptions engine_options;
    local_matching_ = std::make_unique<matching::LocalMatching>(*matching_, *executor_);
    history_ = std::make_unique<history::HistoryEngine>(*faults_, env_, *local_matching_,
                                                        *executor_, engine_options);
    local_matching_->SetHistory(*history_);
    Status started = recovered.ok() ? history_->Start() : recovered;
    if (!started.ok()) {
      // As a process that fails to start: it exits and is started again.
      alive_ = false;
      return;
    }
    // After the faults, an operator runs again what the outbox parked meanwhile.
    if (chaos_over_) history_->RetryParkedTasks({});
    ArmActors();
  }

  // The process dies: every closure of it is gone, its objects are torn down without running
  // anything more, and it is started again a little later. The client and workers (other
  // processes) lose what they were doing and start over.
  void Crash() {
    alive_ = false;
    restarting_ = true;
    ++generation_;
    env_.DropAll();
    if (history_) history_->Stop();
    history_.reset();
    local_matching_.reset();
    matching_.reset();
    executor_.reset();
    env_.DropAll();  // what the teardown posted
    // Failing to start leaves alive_ false: the run loop tears it down and starts it again.
    env_.PostAt(env_.now() + std::chrono::milliseconds(100 + env_.Uniform(5000)),
                [this] { Boot(); });
  }

  void Shutdown() {
    ++generation_;
    alive_ = false;
    env_.DropAll();
    if (history_) history_->Stop();
    history_.reset();
    local_matching_.reset();
    matching_.reset();
    executor_.reset();
    env_.DropAll();
  }

  // The client and the workers (re)start with a new process.
  void ArmActors() {
    env_.PostAt(env_.now() + 1s, [this] { ClientTick(); });
    env_.PostAt(env_.now() + 1s, [this] { ResendTick(); });
    for (int i = 0; i < kWorkflowPollers; ++i) {
      env_.PostAt(env_.now() + 1s, [this, i] { PollWorkflowTask(i); });
    }
    for (int i = 0; i < kActivityPollers; ++i) {
      env_.PostAt(env_.now() + 1s, [this, i] { PollActivityTask(i); });
    }
  }

  bool Usable() const { return alive_ && history_ && matching_; }

  // ---- the client ----

  void ClientTick() {
    const uint64_t generation = generation_;
    if (Usable()) {
      Workflow& w = workflows_[env_.Uniform(workflows_.size())];
      if (w.acked_run_id.empty()) {
        StartWorkflow(w);
      } else if (w.cancel && !w.cancel_acked && env_.now() >= w.cancel_at) {
        RequestCancel(w);
      } else {
        for (size_t s = 0; s < w.plan.size(); ++s) {
          if (w.plan[s].kind != Step::kSignal) continue;
          if (w.signals_acked.count(s) || w.signals_moot.count(s)) continue;
          Signal(w, static_cast<int>(s));
          break;
        }
      }
    }
    if (generation != generation_) return;  // the process crashed meanwhile: re-armed
    env_.PostAt(env_.now() + std::chrono::milliseconds(env_.Uniform(3000)),
                [this] { ClientTick(); });
  }

  void StartWorkflow(Workflow& w) {
    wfs::StartWorkflowExecutionRequest request;
    request.set_workflow_id(w.id);
    request.mutable_workflow_type()->set_name("SimWorkflow");
    request.mutable_task_queue()->set_name(kQueue);
    request.set_identity("sim-client");
    request.set_request_id(w.request_id);
    *request.mutable_workflow_task_timeout() = ToProtoDuration(5s);
    // Asynchronous, as the frontend makes it: a start whose guess that the id has no current
    // run was wrong is made again on the task pool, which this thread runs.
    const uint64_t generation = generation_;
    history_->StartWorkflowExecutionAsync(
        kNamespace, request,
        [this, generation, workflow_id = w.id](Result<history::StartResult> started) {
          if (generation != generation_ || !alive_ || !started.ok()) return;
          if (!started->started && started->run_id.empty()) return;
          if (Workflow* w = FindWorkflow(workflow_id)) w->acked_run_id = started->run_id;
        });
  }

  void Signal(Workflow& w, int step) {
    wfs::SignalWorkflowExecutionRequest request;
    request.mutable_workflow_execution()->set_workflow_id(w.id);
    request.set_signal_name("s" + std::to_string(step));
    *request.mutable_input() = Payload(w.id + "/s" + std::to_string(step));
    request.set_identity("sim-client");
    request.set_request_id(w.id + "-signal-" + std::to_string(step));
    Status signalled = history_->SignalWorkflowExecution(kNamespace, request);
    if (!alive_) return;
    if (signalled.ok()) {
      w.signals_acked.insert(step);
    } else if (signalled.code() == StatusCode::NOT_FOUND) {
      w.signals_moot.insert(step);  // closed (canceled) before the signal
    }
  }

  void RequestCancel(Workflow& w) {
    wfs::RequestCancelWorkflowExecutionRequest request;
    request.mutable_workflow_execution()->set_workflow_id(w.id);
    request.set_identity("sim-client");
    request.set_request_id(w.id + "-cancel");
    Status requested = history_->RequestCancelWorkflowExecution(kNamespace, request);
    if (!alive_) return;
    if (requested.ok() || requested.code() == StatusCode::NOT_FOUND) w.cancel_acked = true;
  }

  // ---- workflow workers ----

  // A worker's poll, through matching's handshake (as the frontend sends it).
  matching::PollRequest PollRequestFor(eon::v1::TaskQueueKind kind, const std::string& identity) {
    matching::PollRequest request;
    request.queue = {kNamespace, kQueue, kind};
    request.namespace_name = "sim";
    request.poller = {identity, ""};
    request.poll_request_id = NewUuid();
    request.deadline = env_.SteadyNow() + 20s;
    return request;
  }

  void PollWorkflowTask(int poller) {
    const uint64_t generation = generation_;
    if (!Usable()) return;  // re-armed at the restart
    // The answer may come on the store's continuation: the worker goes on in its own closure.
    local_matching_->PollWorkflowTaskQueue(
        PollRequestFor(eon::v1::TASK_QUEUE_KIND_WORKFLOW, "wf-worker-" + std::to_string(poller)),
        [this, generation, poller](Result<wfs::PollWorkflowTaskQueueResponse> response) {
          if (generation != generation_) return;
          env_.Post([this, generation, poller, response = std::move(response)] {
            if (generation != generation_) return;
            if (!response.ok()) {
              env_.PostAt(env_.now() + 1s, [this, poller] { PollWorkflowTask(poller); });
              return;
            }
            if (response->task_token().empty()) return PollWorkflowTask(poller);  // timed out
            env_.PostAt(env_.now() + std::chrono::milliseconds(env_.Uniform(500)),
                        [this, generation, poller, response] {
                          if (generation != generation_) return;
                          DecideWorkflowTask(poller, *response);
                        });
          });
        });
  }

  Workflow* FindWorkflow(const std::string& id) {
    for (auto& w : workflows_) {
      if (w.id == id) return &w;
    }
    return nullptr;
  }

  // The workflow's code: what to do next, read from its whole history.
  void DecideWorkflowTask(int poller, const wfs::PollWorkflowTaskQueueResponse& task) {
    const uint64_t generation = generation_;
    Workflow* w = FindWorkflow(task.workflow_execution().workflow_id());
    if (w == nullptr || env_.Chance(50)) {
      // A worker that dies with the task: it times out and is scheduled again.
      return PollWorkflowTask(poller);
    }
    std::map<std::string, int64_t> scheduled;  // activity id -> scheduled event id
    std::set<int64_t> activity_closed;
    std::set<std::string> timers_started, timers_fired, signals;
    bool cancel_requested = false;
    for (const auto& e : task.history().events()) {
      switch (e.event_type()) {
        case enums::EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
          scheduled[e.activity_task_scheduled_event_attributes().activity_id()] = e.event_id();
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
          activity_closed.insert(e.activity_task_completed_event_attributes().scheduled_event_id());
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED:
          activity_closed.insert(e.activity_task_failed_event_attributes().scheduled_event_id());
          break;
        case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
          activity_closed.insert(e.activity_task_timed_out_event_attributes().scheduled_event_id());
          break;
        case enums::EVENT_TYPE_TIMER_STARTED:
          timers_started.insert(e.timer_started_event_attributes().timer_id());
          break;
        case enums::EVENT_TYPE_TIMER_FIRED:
          timers_fired.insert(e.timer_fired_event_attributes().timer_id());
          break;
        case enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
          signals.insert(e.workflow_execution_signaled_event_attributes().signal_name());
          break;
        case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED:
          cancel_requested = true;
          break;
        default:
          break;
      }
    }
    std::vector<command::Command> commands;
    bool completing = false, canceling = false;
    if (cancel_requested) {
      command::Command c;
      c.set_command_type(enums::COMMAND_TYPE_CANCEL_WORKFLOW_EXECUTION);
      c.mutable_cancel_workflow_execution_command_attributes();
      commands.push_back(std::move(c));
      canceling = true;
    } else {
      bool blocked = false;
      for (size_t s = 0; s < w->plan.size() && !blocked; ++s) {
        const Step& step = w->plan[s];
        const std::string name = std::to_string(s);
        switch (step.kind) {
          case Step::kActivity: {
            auto it = scheduled.find("a" + name);
            if (it == scheduled.end()) {
              command::Command c;
              c.set_command_type(enums::COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK);
              auto* a = c.mutable_schedule_activity_task_command_attributes();
              a->set_activity_id("a" + name);
              a->mutable_activity_type()->set_name("SimActivity");
              *a->mutable_input() = Payload(w->id + "/a" + name);
              *a->mutable_start_to_close_timeout() = ToProtoDuration(5s);
              auto* retry = a->mutable_retry_policy();
              *retry->mutable_initial_interval() = ToProtoDuration(1s);
              retry->set_backoff_coefficient(2.0);
              retry->set_maximum_attempts(4);
              commands.push_back(std::move(c));
              blocked = true;
            } else if (!activity_closed.count(it->second)) {
              blocked = true;
            }
            break;
          }
          case Step::kTimer:
            if (!timers_started.count("t" + name)) {
              command::Command c;
              c.set_command_type(enums::COMMAND_TYPE_START_TIMER);
              auto* a = c.mutable_start_timer_command_attributes();
              a->set_timer_id("t" + name);
              *a->mutable_start_to_fire_timeout() = ToProtoDuration(step.timer);
              commands.push_back(std::move(c));
              blocked = true;
            } else if (!timers_fired.count("t" + name)) {
              blocked = true;
            }
            break;
          case Step::kSignal:
            if (!signals.count("s" + name)) blocked = true;
            break;
        }
      }
      if (!blocked) {
        command::Command c;
        c.set_command_type(enums::COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION);
        *c.mutable_complete_workflow_execution_command_attributes()->mutable_result() =
            Payload(w->id + "/done");
        commands.push_back(std::move(c));
        completing = true;
      }
    }
    eon::v1::TaskToken token;
    if (!token.ParseFromString(task.task_token())) {
      failures_.push_back("a workflow task token does not parse");
      return;
    }
    wfs::RespondWorkflowTaskCompletedRequest request;
    request.set_task_token(task.task_token());
    request.set_identity("wf-worker-" + std::to_string(poller));
    for (auto& c : commands) *request.add_commands() = std::move(c);
    const std::string workflow_id = w->id;
    history_->RespondWorkflowTaskCompletedAsync(
        token, request,
        [this, generation, poller, workflow_id, completing, canceling, token,
         request](Result<wfs::RespondWorkflowTaskCompletedResponse> response) {
          if (generation != generation_) return;
          Workflow* w = FindWorkflow(workflow_id);
          if (!alive_) {
            // The worker heard nothing: it sends the same completion to the next process.
            resends_.push_back([this, token, request] {
              history_->RespondWorkflowTaskCompletedAsync(
                  token, request, [](Result<wfs::RespondWorkflowTaskCompletedResponse>) {});
            });
          }
          if (response.ok() && w && alive_) {
            // Acknowledged; the engine may still have failed the task (an event came in while
            // it ran), which the checks tell from the history.
            if (completing) w->complete_acked = true;
            if (canceling) w->cancel_command_acked = true;
          }
          env_.Post([this, generation, poller] {
            if (generation == generation_) PollWorkflowTask(poller);
          });
        });
  }

  // ---- activity workers ----

  void PollActivityTask(int poller) {
    const uint64_t generation = generation_;
    if (!Usable()) return;
    local_matching_->PollActivityTaskQueue(
        PollRequestFor(eon::v1::TASK_QUEUE_KIND_ACTIVITY, "act-worker-" + std::to_string(poller)),
        [this, generation, poller](Result<wfs::PollActivityTaskQueueResponse> response) {
          if (generation != generation_) return;
          env_.Post([this, generation, poller, response = std::move(response)] {
            if (generation != generation_) return;
            if (!response.ok()) {
              env_.PostAt(env_.now() + 1s, [this, poller] { PollActivityTask(poller); });
              return;
            }
            if (response->task_token().empty()) return PollActivityTask(poller);  // timed out
            RunActivity(poller, *response);
          });
        });
  }

  void RunActivity(int poller, const wfs::PollActivityTaskQueueResponse& task) {
    const uint64_t generation = generation_;
    // Takes a while; sometimes longer than its 5 s start-to-close timeout.
    const Duration took = std::chrono::milliseconds(env_.Chance(100) ? 6'000 + env_.Uniform(3'000)
                                                                     : env_.Uniform(3'000));
    const int fate = static_cast<int>(env_.Uniform(100));
    env_.PostAt(env_.now() + std::chrono::duration_cast<TimePoint::duration>(took),
                [this, generation, poller, task, fate] {
                  if (generation != generation_) return;
                  FinishActivity(poller, task, fate);
                });
    // The poller takes the next task meanwhile.
    PollActivityTask(poller);
  }

  void FinishActivity(int poller, const wfs::PollActivityTaskQueueResponse& task, int fate) {
    const uint64_t generation = generation_;
    eon::v1::TaskToken token;
    if (!token.ParseFromString(task.task_token())) {
      failures_.push_back("an activity task token does not parse");
      return;
    }
    const std::string identity = "act-worker-" + std::to_string(poller);
    if (fate < 10) return;  // the worker died with it: the timeout retries it
    if (fate < 30) {
      temporal::api::failure::v1::Failure failure;
      failure.set_message("simulated failure");
      failure.mutable_application_failure_info()->set_type("SimError");
      history_->RespondActivityTaskFailed(token, failure, nullptr, identity).ok();
      return;
    }
    const std::string result = task.workflow_execution().workflow_id() + "/" + task.activity_id() +
                               "/attempt-" + std::to_string(task.attempt());
    AckedCompletion completion{task.workflow_execution().workflow_id(),
                               task.workflow_execution().run_id(), token.scheduled_event_id(),
                               result};
    // One in ten answers is lost on the way back, so the worker sends the completion again.
    const bool answer_lost = env_.Chance(100);
    SendCompletion(token, completion, identity, answer_lost, 3);
  }

  // Sends an activity completion; one that was not answered (the process crashed, the store
  // failed, the answer was lost) is sent again later, up to `resends` times, by ResendTick.
  void SendCompletion(const eon::v1::TaskToken& token, const AckedCompletion& completion,
                      const std::string& identity, bool answer_lost, int resends) {
    const uint64_t generation = generation_;
    history_->RespondActivityTaskCompletedAsync(
        token, Payload(completion.result), identity,
        [this, generation, token, completion, identity, answer_lost, resends](Status status) {
          if (generation != generation_) return;
          if (status.ok() && alive_ && !answer_lost) {
            acked_completions_.push_back(completion);
            return;
          }
          if (status.ok() && alive_) acked_completions_.push_back(completion);
          if (resends > 0 && (!alive_ || answer_lost || status.code() == StatusCode::UNAVAILABLE ||
                              status.code() == StatusCode::RESOURCE_EXHAUSTED)) {
            resends_.push_back([this, token, completion, identity, resends] {
              SendCompletion(token, completion, identity, false, resends - 1);
            });
          }
        });
  }

  // Workers send again what was not answered, to whichever process runs now.
  void ResendTick() {
    const uint64_t generation = generation_;
    if (Usable() && !resends_.empty()) {
      auto resend = std::move(resends_.front());
      resends_.erase(resends_.begin());
      resend();
    }
    if (generation != generation_) return;
    env_.PostAt(env_.now() + std::chrono::milliseconds(500 + env_.Uniform(1500)),
                [this] { ResendTick(); });
  }

  // ---- the end ----

  bool AllClosed() {
    for (const auto& w : workflows_) {
      if (w.acked_run_id.empty()) return false;
      auto stored = sqlite_->GetExecution({kNamespace, w.id, w.acked_run_id});
      if (!stored.ok()) return false;
      if (stored->state.status() == enums::WORKFLOW_EXECUTION_STATUS_RUNNING) return false;
    }
    return true;
  }

  static std::string Deterministic(const google::protobuf::Message& message) {
    std::string out;
    google::protobuf::io::StringOutputStream stream(&out);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    message.SerializeToCodedStream(&coded);
    coded.Trim();
    return out;
  }

  void Mix(const std::string& bytes) {
    for (unsigned char c : bytes) {
      digest_ ^= c;
      digest_ *= 1099511628211ULL;
    }
  }

  std::string Check() {
    std::ostringstream problems;
    for (const auto& f : failures_) problems << f << "\n";
    Mix(std::to_string(env_.steps()));
    const auto& fs = faults_->stats();
    Mix(std::to_string(fs.writes) + "/" + std::to_string(fs.writes_failed) + "/" +
        std::to_string(fs.crashes));
    for (const auto& w : workflows_) {
      if (w.acked_run_id.empty()) {
        problems << w.id << ": no start was ever acknowledged\n";
        continue;
      }
      auto current = sqlite_->GetCurrentExecution(kNamespace, w.id);
      if (!current.ok() || current->run_id != w.acked_run_id) {
        problems << w.id << ": the acknowledged run " << w.acked_run_id
                 << " is not the workflow's current run\n";
      }
      std::vector<hist::HistoryEvent> events;
      int64_t next = 1;
      while (next != 0) {
        auto page = sqlite_->ReadHistory(kNamespace, w.acked_run_id, next, 1000);
        if (!page.ok()) {
          problems << w.id << ": cannot read its history: " << page.status().message() << "\n";
          break;
        }
        for (auto& e : page->events) events.push_back(std::move(e));
        next = page->next_event_id;
        if (page->events.empty()) break;
      }
      std::ostringstream types;
      for (const auto& e : events) {
        types << enums::EventType_Name(e.event_type()).substr(11) << " ";
        Mix(Deterministic(e));
      }
      const std::string where = w.id + " (history: " + types.str() + ")";
      if (verbose_) std::cout << "  " << where << "\n";
      for (size_t i = 0; i < events.size(); ++i) {
        if (events[i].event_id() != static_cast<int64_t>(i + 1)) {
          problems << where << ": event " << i + 1 << " has id " << events[i].event_id() << "\n";
          break;
        }
      }
      if (events.empty() ||
          events[0].event_type() != enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED) {
        problems << where << ": does not begin with WorkflowExecutionStarted\n";
        continue;
      }
      int closes = 0, starts = 0;
      enums::EventType close = enums::EVENT_TYPE_UNSPECIFIED;
      std::map<int64_t, int> activity_closes;
      std::map<int64_t, std::string> completed_results;
      std::map<std::string, int> signals;
      for (const auto& e : events) {
        switch (e.event_type()) {
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            ++starts;
            break;
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            ++closes;
            close = e.event_type();
            break;
          case enums::EVENT_TYPE_ACTIVITY_TASK_COMPLETED: {
            const auto& a = e.activity_task_completed_event_attributes();
            ++activity_closes[a.scheduled_event_id()];
            completed_results[a.scheduled_event_id()] = PayloadText(a.result());
            break;
          }
          case enums::EVENT_TYPE_ACTIVITY_TASK_FAILED:
            ++activity_closes[e.activity_task_failed_event_attributes().scheduled_event_id()];
            break;
          case enums::EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
            ++activity_closes[e.activity_task_timed_out_event_attributes().scheduled_event_id()];
            break;
          case enums::EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            ++signals[PayloadText(e.workflow_execution_signaled_event_attributes().input())];
            break;
          default:
            break;
        }
      }
      if (starts != 1) problems << where << ": " << starts << " start events\n";
      if (closes != 1) {
        problems << where << ": " << closes << " close events (it never closed?)\n";
      } else if (events.back().event_type() != close) {
        problems << where << ": events after the close event\n";
      }
      if (w.complete_acked && !w.cancel &&
          close != enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) {
        problems << where << ": a completion was acknowledged but it closed otherwise\n";
      }
      if (!w.cancel && close != enums::EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED && closes == 1) {
        problems << where << ": never asked to cancel, but did not complete\n";
      }
      for (const auto& [scheduled, count] : activity_closes) {
        if (count > 1) {
          problems << where << ": activity scheduled at event " << scheduled << " closed " << count
                   << " times\n";
        }
      }
      for (int s : w.signals_acked) {
        const std::string input = w.id + "/s" + std::to_string(s);
        if (signals[input] != 1) {
          problems << where << ": acknowledged signal " << input << " recorded " << signals[input]
                   << " times\n";
        }
      }
      for (const auto& [input, count] : signals) {
        if (count > 1)
          problems << where << ": signal " << input << " recorded " << count << " times\n";
      }
      for (const auto& c : acked_completions_) {
        if (c.workflow_id != w.id || c.run_id != w.acked_run_id) continue;
        auto it = completed_results.find(c.scheduled_event_id);
        if (it == completed_results.end()) {
          problems << where << ": the acknowledged completion " << c.result
                   << " of the activity scheduled at event " << c.scheduled_event_id
                   << " is not in the history\n";
        } else if (it->second != c.result) {
          problems << where << ": the activity scheduled at event " << c.scheduled_event_id
                   << " completed with " << it->second << ", but " << c.result
                   << " was acknowledged\n";
        }
      }
    }
    return problems.str();
  }

  const uint64_t seed_;
  const TimePoint start_;
  SimEnv env_;
  std::unique_ptr<persistence::SqliteStore> sqlite_;
  std::unique_ptr<persistence::FaultStore> faults_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<matching::MatchingEngine> matching_;
  std::unique_ptr<matching::LocalMatching> local_matching_;
  std::unique_ptr<history::HistoryEngine> history_;
  bool alive_ = false;       // the process runs (false from the crash point on)
  bool restarting_ = false;  // torn down, a Boot is posted
  bool chaos_over_ = false;
  bool verbose_ = std::getenv("EON_SIM_SEED") != nullptr;
  uint64_t generation_ = 0;  // bumped at every crash: answers to an older one are lost
  int crashes_ = 0;
  int crashes_max_ = 0;
  std::vector<Workflow> workflows_;
  std::vector<AckedCompletion> acked_completions_;
  std::vector<std::function<void()>> resends_;  // calls whose answer was not heard
  std::vector<std::string> failures_;
  uint64_t digest_ = 14695981039346656037ULL;
};

struct Outcome {
  std::string failure;
  std::string digest;
  std::string summary;
};

Outcome RunSeed(uint64_t seed) {
  Simulation simulation(seed);
  Outcome outcome;
  outcome.failure = simulation.Run();
  outcome.digest = simulation.digest();
  outcome.summary = simulation.Summary();
  return outcome;
}

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return std::strtoull(value, nullptr, 10);
}

}  // namespace
}  // namespace eon::sim

int main() {
  using eon::sim::EnvNumber;
  const char* one = std::getenv("EON_SIM_SEED");
  const bool replay = one != nullptr && *one != '\0';
  eon::log::SetLevel(replay ? eon::log::Level::kWarn : eon::log::Level::kNone);
  const uint64_t first = replay ? EnvNumber("EON_SIM_SEED", 1) : EnvNumber("EON_SIM_FIRST_SEED", 1);
  const uint64_t count = replay ? 1 : EnvNumber("EON_SIM_SEEDS", 400);
  int failed = 0;
  const auto began = std::chrono::steady_clock::now();
  for (uint64_t seed = first; seed < first + count; ++seed) {
    auto outcome = eon::sim::RunSeed(seed);
    if (outcome.failure.empty() && (replay || seed % 8 == 0)) {
      auto again = eon::sim::RunSeed(seed);
      if (again.digest != outcome.digest) {
        outcome.failure = "the same seed gave two different runs (digests " + outcome.digest +
                          " and " + again.digest + ")\n";
      }
    }
    if (!outcome.failure.empty()) {
      ++failed;
      std::cout << "seed " << seed << " FAILED (" << outcome.summary << "):\n"
                << outcome.failure << "replay: EON_SIM_SEED=" << seed << " build/eon_sim_tests\n";
    } else if (replay) {
      std::cout << "seed " << seed << " passed (digest " << outcome.digest
                << "): " << outcome.summary << "\n";
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
  std::cout << "simulation: " << count - failed << " of " << count << " seeds passed in " << seconds
            << " s\n";
  return failed == 0 ? 0 : 1;
}
