'use strict';
// Workflow definitions used by the integration tests.
//
// This file is bundled by the Temporal worker (webpack) and executed inside the
// workflow sandbox, so it may only import @temporalio/workflow and must stay
// deterministic. Activity implementations live in the test files themselves.

const {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  TimeoutFailure,
  condition,
  continueAsNew,
  defineSignal,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} = require('@temporalio/workflow');
const { defineQuery, defineUpdate, executeChild, startChild, getExternalWorkflowHandle } = require('@temporalio/workflow');

const acts = proxyActivities({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 5 },
});

/** Calls activity `greet(name)` and returns its result. */
async function greet(name) {
  return await acts.greet(name);
}

/** Calls two activities one after the other; the second one uses the first one's result. */
async function twoSequential(name) {
  const first = await acts.greet(name);
  const second = await acts.shout(first);
  return [first, second];
}

/** Runs three activities concurrently. */
async function threeParallel(names) {
  return await Promise.all(names.map((n) => acts.greet(n)));
}

/** Fails the workflow execution (not just the task) with a non-retryable ApplicationFailure. */
async function failing(message) {
  throw ApplicationFailure.nonRetryable(message, 'IntegrationTestFailure', { answer: 42 });
}

/** Calls an activity that fails on its first attempts; the server must schedule the retries. */
async function retrying(failuresBeforeSuccess) {
  return await acts.flaky(failuresBeforeSuccess);
}

/** Calls a slow activity, then a quick one, and joins their results. */
async function slowThenQuick(x) {
  const slow = await acts.slowActivity(x);
  const quick = await acts.quickActivity(x);
  return `${slow}|${quick}`;
}

/** Has a bug: a plain Error fails the workflow task (not the workflow), on every attempt. */
async function broken() {
  throw new Error('bug in workflow code');
}

/**
 * A plain-data picture of an error and its causes, so that a test can check the failure chain
 * the workflow saw (the instanceof checks run here, in the workflow).
 */
function describeError(err) {
  if (err === undefined || err === null) return undefined;
  return {
    name: err.name,
    message: err.message,
    isActivityFailure: err instanceof ActivityFailure,
    isApplicationFailure: err instanceof ApplicationFailure,
    isTimeoutFailure: err instanceof TimeoutFailure,
    isCancelledFailure: err instanceof CancelledFailure,
    retryState: err.retryState,
    activityType: err.activityType,
    timeoutType: err.timeoutType,
    lastHeartbeatDetails: err.lastHeartbeatDetails,
    type: err.type,
    nonRetryable: err.nonRetryable,
    details: err.details,
    cause: describeError(err.cause),
  };
}

/**
 * Calls activity `name(...args)` with the given proxyActivities options (plain JSON) and returns
 * { result } or { error: describeError(err) }.
 */
async function runActivity(name, args, options) {
  try {
    return { result: await proxyActivities(options)[name](...args) };
  } catch (err) {
    return { error: describeError(err) };
  }
}

/** Like runActivity, as a local activity (proxyLocalActivities). */
async function runLocalActivity(name, args, options) {
  try {
    return { result: await proxyLocalActivities(options)[name](...args) };
  } catch (err) {
    return { error: describeError(err) };
  }
}

/**
 * Starts activity `name(...args)` in its own CancellationScope, then runs activity
 * `gate(...gateArgs)` on the workflow's task queue and, when the gate returns, cancels the scope.
 * Returns { result } or { error } for the first activity, as runActivity does.
 * (The gate stands in for a signal or a timer: the test decides when it returns.)
 */
async function cancelActivity(name, args, options, gateArgs) {
  const scope = new CancellationScope();
  const outcome = scope.run(() => proxyActivities(options)[name](...args)).then(
    (result) => ({ result }),
    (err) => ({ error: describeError(err) }),
  );
  await proxyActivities({ startToCloseTimeout: '1m' }).gate(...gateArgs);
  scope.cancel();
  return await outcome;
}

// ---------------------------------------------------------------------------
// workflow features run by the server: timers, signals, cancellation, continue-as-new,
// retries, cron, markers and properties (workflows.test.js)

const clusterActs = proxyActivities({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 1 },
});

/**
 * cluster.test.js's load: a durable timer of `sleepMs` first when above 0, then one activity
 * `greet(name)` with a short start-to-close timeout (a completion lost with a killed node is
 * retried soon).
 */
async function clusterGreet(name, sleepMs) {
  if (sleepMs > 0) await sleep(sleepMs);
  return await clusterActs.greet(name);
}

/** Returns its argument at once (no commands but the completion). */
async function returnValue(value) {
  return value;
}

/** Sleeps `ms` milliseconds on a durable timer and returns `ms`. */
async function sleeper(ms) {
  await sleep(ms);
  return ms;
}

/** Starts timers of the given durations (ms) at once; returns the durations in the order they fired. */
async function timersInOrder(durations) {
  const fired = [];
  await Promise.all(durations.map((d) => sleep(d).then(() => fired.push(d))));
  return fired;
}

const stopSignal = defineSignal('stop');

/** Starts a 1 h timer in a cancellable scope and cancels that scope when signal 'stop' arrives. */
async function cancelTimerOnSignal() {
  let stopped = false;
  setHandler(stopSignal, () => {
    stopped = true;
  });
  const scope = new CancellationScope();
  const timer = scope.run(() => sleep('1h'));
  await condition(() => stopped);
  scope.cancel();
  try {
    await timer;
    return 'timer fired';
  } catch (err) {
    if (isCancellation(err)) return 'timer cancelled';
    throw err;
  }
}

const unblockSignal = defineSignal('unblock');

/** Waits for signal 'unblock' and returns its argument. */
async function waitForSignal() {
  let received;
  setHandler(unblockSignal, (value) => {
    received = { value };
  });
  await condition(() => received !== undefined);
  return received.value;
}

const addSignal = defineSignal('add');

/** Collects the arguments of 'add' signals until it has `count` of them; returns them in arrival order. */
async function collectSignals(count) {
  const values = [];
  setHandler(addSignal, (value) => {
    values.push(value);
  });
  await condition(() => values.length >= count);
  return values;
}

/**
 * Awaits a 1 h timer. When the workflow is cancelled, runs activity cleanup(tag) in a
 * non-cancellable scope and completes with its result.
 */
async function cleanupOnCancel(tag) {
  try {
    await sleep('1h');
    return 'slept';
  } catch (err) {
    if (!isCancellation(err)) throw err;
    return await CancellationScope.nonCancellable(() => acts.cleanup(tag));
  }
}

/** Continues as new with n - 1 until n is 0, then returns 'done'. */
async function countdown(n) {
  if (n > 0) await continueAsNew(n - 1);
  return 'done';
}

/** Fails with a retryable ApplicationFailure until workflowInfo().attempt reaches succeedOnAttempt. */
async function failUntilAttempt(succeedOnAttempt) {
  const { attempt } = workflowInfo();
  if (attempt < succeedOnAttempt) {
    throw ApplicationFailure.retryable(`attempt ${attempt} fails`, 'FlakyWorkflow');
  }
  return { attempt };
}

/** A cron workflow: returns 1 + the count returned by the previous run (workflowInfo().lastResult). */
async function cronCounter() {
  const info = workflowInfo();
  const previous = info.lastResult?.count ?? 0;
  return { count: previous + 1, cronSchedule: info.cronSchedule };
}

/** Returns whether patched('my-patch') is true (it is, on first execution). */
async function patchedWorkflow() {
  return patched('my-patch') ? 'patched' : 'not patched';
}

/**
 * Draws uuid4() and Math.random() values, hands them to activity echo, waits for signal
 * 'unblock', then returns the values (as computed by this execution, which may be a replay).
 */
async function randomAcrossReplay() {
  const drawn = { uuid: uuid4(), random: Math.random() };
  const echoed = await acts.echo(drawn);
  let unblocked = false;
  setHandler(unblockSignal, () => {
    unblocked = true;
  });
  await condition(() => unblocked);
  return { drawn, echoed, later: { uuid: uuid4(), random: Math.random() } };
}

/** Upserts search attribute CustomKeywordField=['x'] and memo {k: 'v'}, then returns. */
async function upsertProperties() {
  upsertSearchAttributes({ CustomKeywordField: ['x'] });
  upsertMemo({ k: 'v' });
  return 'upserted';
}

const stateQuery = defineQuery('state');
const advanceSignal = defineSignal('advance');

/** Counts 'advance' signals until `target`; its 'state' query answers the count so far. */
async function queryable(target) {
  let count = 0;
  setHandler(stateQuery, () => ({ count, target }));
  setHandler(advanceSignal, () => {
    count += 1;
  });
  await condition(() => count >= target);
  return count;
}

/** Runs `childType` as a child with `args`, returning its result (or the error's class/message). */
async function parentOf(childType, args, options = {}) {
  try {
    return { result: await executeChild(childType, { args, ...options }) };
  } catch (err) {
    return { error: err.constructor.name, cause: err.cause?.constructor?.name, message: err.cause?.message ?? err.message };
  }
}

/** Starts a child that waits for a signal, signals it, and returns the child's result. */
async function parentSignalsChild(childId) {
  const child = await startChild('waitForSignal', { workflowId: childId });
  await getExternalWorkflowHandle(childId).signal('unblock', 'from parent');
  return await child.result();
}

/** Starts a long child and completes at once: the parent close policy applies to the child. */
async function parentLeavesChild(childId, policy) {
  await startChild('sleeper', { workflowId: childId, args: [3_600_000], parentClosePolicy: policy });
  return 'parent done';
}

const addUpdate = defineUpdate('add');
const slowAddUpdate = defineUpdate('slowAdd');
const finishSignal = defineSignal('finish');

/** A counter changed by updates: 'add' (validated: no negatives) and 'slowAdd' (sleeps first). */
async function counter() {
  let total = 0;
  let finished = false;
  setHandler(
    addUpdate,
    (n) => {
      total += n;
      return total;
    },
    {
      validator: (n) => {
        if (n < 0) throw new Error(`cannot add ${n}`);
      },
    },
  );
  setHandler(slowAddUpdate, async (n, ms) => {
    await sleep(ms);
    total += n;
    return total;
  });
  setHandler(finishSignal, () => {
    finished = true;
  });
  await condition(() => finished);
  return total;
}

// Workflows for the ported update features (update-edges.test.js).

/**
 * update/async_accepted: 'doMaybeWait(wait)' waits for the 'unblock' signal and returns 123, or
 * without `wait` fails the update; 'finish' ends the workflow.
 */
async function asyncAccepted() {
  let finished = false;
  let proceed = false;
  setHandler(defineUpdate('doMaybeWait'), async (wait) => {
    if (!wait) throw ApplicationFailure.create({ message: 'Dying on purpose' });
    await condition(() => proceed);
    proceed = false;
    return 123;
  });
  setHandler(unblockSignal, () => {
    proceed = true;
  });
  setHandler(finishSignal, () => {
    finished = true;
  });
  await condition(() => finished);
  return 'Hello, World!';
}

/**
 * continue_as_new/updates_do_not_block_continue_as_new, the run after continue-as-new: the
 * 'whichRun' update answers the run id it was handled on; the run returns its own id once it got
 * the update. (The run before is driven by hand through the raw API.)
 */
async function updatedAfterContinue() {
  let received = false;
  setHandler(defineUpdate('whichRun'), () => {
    received = true;
    return workflowInfo().runId;
  });
  await condition(() => received);
  return workflowInfo().runId;
}

/** update/self: an activity updates this very workflow, which then completes. */
async function updatesItself() {
  let done = false;
  setHandler(defineUpdate('updateMe'), () => {
    done = true;
  });
  await proxyActivities({ startToCloseTimeout: '10s' }).selfUpdate();
  await condition(() => done);
  return 'Hello, World!';
}

/**
 * update/task_failure: 'doUpdate' throws a plain Error (which fails the workflow task, so the
 * update is delivered again) until the 'stopFailingTasks' signal came, then fails the update with
 * an ApplicationFailure; 'throwOrDone(true)' is rejected by its validator, 'throwOrDone(false)'
 * ends the workflow.
 */
async function updateTaskFailure() {
  let done = false;
  let failTasks = true;
  setHandler(defineSignal('stopFailingTasks'), () => {
    failTasks = false;
  });
  setHandler(defineUpdate('doUpdate'), () => {
    if (failTasks) throw new Error("I'll fail task");
    throw ApplicationFailure.create({ message: "I'll fail update" });
  });
  setHandler(
    defineUpdate('throwOrDone'),
    () => {
      done = true;
    },
    {
      validator: (doThrow) => {
        if (doThrow) throw new Error('This will fail validation, not task');
      },
    },
  );
  await condition(() => done);
  return 'Hello, World!';
}

/**
 * update/worker_restart: the 'doActivities' update runs the 'blocks' activity, which the test
 * holds until the worker was replaced; then the workflow completes.
 */
async function updateRunsActivity() {
  let done = false;
  setHandler(defineUpdate('doActivities'), async () => {
    await proxyActivities({
      startToCloseTimeout: '1m',
      retry: { initialInterval: '200ms', backoffCoefficient: 1 },
    }).blocks();
    done = true;
  });
  await condition(() => done);
  return 'Hello, World!';
}

/** Sleeps 1 ms `n` times in a row (a history that grows by a few events each time). */
async function manySleeps(n) {
  for (let i = 0; i < n; i += 1) await sleep(1);
  return n;
}

/** Returns a string of `size` characters (for payload limits). */
async function bigResult(size) {
  return 'z'.repeat(size);
}

/** Starts a long child, cancels it through an external handle, returns how the child ended. */
async function parentCancelsChild(childId) {
  const child = await startChild('sleeper', { workflowId: childId, args: [3_600_000] });
  await getExternalWorkflowHandle(childId).cancel();
  try {
    await child.result();
    return { ended: 'completed' };
  } catch (err) {
    return { ended: err.constructor.name, cause: err.cause?.constructor?.name };
  }
}

/** Waits for a child that sleeps `ms` and returns its result (for crash tests). */
async function parentWaitsForSleeper(childId, ms) {
  return await executeChild('sleeper', { workflowId: childId, args: [ms] });
}

/** Upserts CustomKeywordField = value, then waits (for visibility tests). */
async function upsertAndWait(value) {
  upsertSearchAttributes({ CustomKeywordField: [value] });
  await condition(() => false);
}

// ---------------------------------------------------------------------------
// interoperability with the C++ SDK (sdk-interop.test.js)

/**
 * Calls activity `cppDescribe(name, count)`, which a C++ worker runs on `cppTaskQueue`, and
 * returns its result as it came.
 */
async function tsCallsCpp(name, count, cppTaskQueue) {
  const { cppDescribe } = proxyActivities({
    taskQueue: cppTaskQueue,
    startToCloseTimeout: '10s',
    retry: { initialInterval: '100ms', backoffCoefficient: 2, maximumAttempts: 3 },
  });
  return await cppDescribe(name, count);
}

/**
 * Runs two activities, then collects the arguments of two 'add' signals; returns both. The reset
 * tests reset it to its first workflow task, so it runs again from the start.
 */
async function activitiesThenSignals(name) {
  const signals = [];
  setHandler(addSignal, (value) => {
    signals.push(value);
  });
  const first = await acts.greet(name);
  const second = await acts.shout(first);
  await condition(() => signals.length >= 2);
  return { activities: [first, second], signals, runId: workflowInfo().runId };
}

module.exports = {
  clusterGreet,
  tsCallsCpp,
  activitiesThenSignals,
  upsertAndWait,
  parentCancelsChild,
  parentWaitsForSleeper,
  bigResult,
  manySleeps,
  counter,
  parentOf,
  parentSignalsChild,
  parentLeavesChild,
  queryable,
  greet,
  twoSequential,
  threeParallel,
  failing,
  retrying,
  slowThenQuick,
  broken,
  runActivity,
  runLocalActivity,
  cancelActivity,
  returnValue,
  sleeper,
  timersInOrder,
  cancelTimerOnSignal,
  waitForSignal,
  collectSignals,
  cleanupOnCancel,
  countdown,
  failUntilAttempt,
  cronCounter,
  patchedWorkflow,
  randomAcrossReplay,
  upsertProperties,
  asyncAccepted,
  updatedAfterContinue,
  updatesItself,
  updateTaskFailure,
  updateRunsActivity,
};
