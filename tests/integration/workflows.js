'use strict';
// Workflow definitions used by the integration tests.
//
// This file is bundled by the Temporal worker (webpack) and executed inside the
// workflow sandbox, so it may only import @temporalio/workflow and must stay
// deterministic. Activity implementations live in the test files themselves.

const { proxyActivities, ApplicationFailure } = require('@temporalio/workflow');

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

module.exports = { greet, twoSequential, threeParallel, failing, retrying, slowThenQuick, broken };
