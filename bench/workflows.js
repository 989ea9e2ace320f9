'use strict';
// Workflow definitions for the benchmarks. Bundled by the Temporal worker (webpack) and run
// inside the workflow sandbox: only @temporalio/workflow may be imported, and it must stay
// deterministic. The activity implementation lives in workflow-cost.js.

const { proxyActivities } = require('@temporalio/workflow');

const acts = proxyActivities({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 5 },
});

/** Calls activity `greet(name)` once and returns its result. */
async function greet(name) {
  return await acts.greet(name);
}

module.exports = { greet };
