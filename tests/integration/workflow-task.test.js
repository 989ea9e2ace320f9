'use strict';
// Workflow task failures and timeouts: a workflow whose code keeps failing is retried by the
// server without its history growing (Temporal's transient workflow tasks).

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');

const { eonTest, eventTypes, sharedEnv, uniqueId } = require('./harness');

describe('workflow tasks', () => {
  const env = sharedEnv({ activities: {} });

  eonTest('a failing workflow task is retried, and only its first failure is recorded', async () => {
    const handle = await env.client.workflow.start('broken', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('broken'),
      // The SDK reports only the first failure; later attempts end by this timeout.
      workflowTaskTimeout: '1s',
    });
    let description;
    for (let i = 0; i < 100; i += 1) {
      description = await handle.describe();
      const attempt = description.raw.pendingWorkflowTask?.attempt ?? 0;
      if (attempt >= 3) break;
      await sleep(100);
    }
    assert.equal(description.status.name, 'RUNNING');
    assert.ok(
      description.raw.pendingWorkflowTask.attempt >= 3,
      `expected attempt >= 3, got ${description.raw.pendingWorkflowTask.attempt}`,
    );
    const history = await handle.fetchHistory();
    assert.deepEqual(eventTypes(history).slice(0, 4), [
      'WORKFLOW_EXECUTION_STARTED',
      'WORKFLOW_TASK_SCHEDULED',
      'WORKFLOW_TASK_STARTED',
      'WORKFLOW_TASK_FAILED',
    ]);
    // Later attempts add nothing but, while one runs, its made-up Scheduled/Started pair.
    const failed = history.events.filter((e) => eventTypes({ events: [e] })[0] === 'WORKFLOW_TASK_FAILED');
    assert.equal(failed.length, 1);
    assert.match(failed[0].workflowTaskFailedEventAttributes.failure.message, /bug in workflow code/);
    assert.ok(history.events.length <= 6, `history grew to ${history.events.length} events`);
    await handle.terminate('done looking');
    const after = await handle.fetchHistory();
    assert.equal(eventTypes(after).at(-1), 'WORKFLOW_EXECUTION_TERMINATED');
    assert.ok(after.events.length <= 6, `history grew to ${after.events.length} events`);
  });
});
