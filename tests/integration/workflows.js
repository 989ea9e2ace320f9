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
  proxyActivities,
  proxyLocalActivities,
} = require('@temporalio/workflow');

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

module.exports = {
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
};
