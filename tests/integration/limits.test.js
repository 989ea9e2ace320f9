'use strict';
// Limits with clear outcomes (set low here with start-dev flags): history length, payload size,
// pending activities. Never a hang, never a crash.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');
const { TerminatedFailure, WorkflowFailedError } = require('@temporalio/client');
const { temporal } = require('@temporalio/proto');

const { EonServer, connectClient, eonTest, eventTypes, startWorker, uniqueId } = require('./harness');

const Cause = temporal.api.enums.v1.WorkflowTaskFailedCause;

async function firstWorkflowTaskFailure(handle) {
  for (let i = 0; i < 100; i += 1) {
    const history = await handle.fetchHistory();
    const failed = history.events.find((e) => e.workflowTaskFailedEventAttributes);
    if (failed) return failed.workflowTaskFailedEventAttributes;
    await sleep(100);
  }
  assert.fail('no workflow task failed');
}

describe('limits', () => {
  eonTest('a workflow whose history passes the count limit is terminated', async (t, scope) => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--history-count-limit', '60'] }));
    const { client } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('limits');
    scope.track(await startWorker(server, { taskQueue }));
    const handle = await client.workflow.start('manySleeps', { taskQueue, workflowId: uniqueId('long'), args: [100] });
    await assert.rejects(handle.result(), (err) => {
      assert.ok(err instanceof WorkflowFailedError, `got ${err?.stack ?? err}`);
      assert.ok(err.cause instanceof TerminatedFailure);
      return true;
    });
    const history = await handle.fetchHistory();
    const last = history.events.at(-1);
    assert.equal(last.workflowExecutionTerminatedEventAttributes.reason, 'Workflow history count exceeds limit.');
    assert.ok(history.events.length <= 62, `history has ${history.events.length} events`);
    assert.equal((await handle.describe()).status.name, 'TERMINATED');
  });

  eonTest('payloads over the size limit are refused with a clear error', async (t, scope) => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--payload-size-limit', '2000'] }));
    const { client } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('payloads');
    scope.track(
      await startWorker(server, { taskQueue, activities: { big: async () => 'x'.repeat(5000) } }),
    );
    const big = 'y'.repeat(5000);

    // A start request: INVALID_ARGUMENT naming the limit.
    await assert.rejects(
      client.workflow.start('returnValue', { taskQueue, workflowId: uniqueId('big-input'), args: [big] }),
      (err) => {
        assert.match(err.message + (err.cause?.message ?? ''), /exceeds the payload size limit of 2000 bytes/);
        return true;
      },
    );

    // An activity result: the activity fails, not retried.
    const activity = await client.workflow.execute('runActivity', {
      taskQueue,
      workflowId: uniqueId('big-result'),
      args: ['big', [], { startToCloseTimeout: '10s' }],
    });
    assert.ok(activity.error, `expected the activity to fail, got ${JSON.stringify(activity)}`);
    assert.match(JSON.stringify(activity.error), /exceeds size limit/);

    // A workflow result: the workflow task fails with PAYLOADS_TOO_LARGE.
    const handle = await client.workflow.start('bigResult', {
      taskQueue,
      workflowId: uniqueId('big-output'),
      args: [5000],
    });
    const failure = await firstWorkflowTaskFailure(handle);
    assert.equal(failure.cause, Cause.WORKFLOW_TASK_FAILED_CAUSE_PAYLOADS_TOO_LARGE);
    assert.match(failure.failure.message, /exceeds the payload size limit/);
    await handle.terminate();
  });

  eonTest('more pending activities than the limit fail the workflow task', async (t, scope) => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--pending-activities-limit', '3'] }));
    const { client } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('pending');
    scope.track(await startWorker(server, { taskQueue, activities: { greet: async (n) => n } }));
    const handle = await client.workflow.start('threeParallel', {
      taskQueue,
      workflowId: uniqueId('wide'),
      args: [['a', 'b', 'c', 'd', 'e']],
    });
    const failure = await firstWorkflowTaskFailure(handle);
    assert.equal(failure.cause, Cause.WORKFLOW_TASK_FAILED_CAUSE_PENDING_ACTIVITIES_LIMIT_EXCEEDED);
    assert.ok(!eventTypes(await handle.fetchHistory()).includes('ACTIVITY_TASK_SCHEDULED'));
    await handle.terminate();
  });
});
