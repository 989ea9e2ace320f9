'use strict';
// Workflow task failures and timeouts: a workflow whose code keeps failing is retried by the
// server without its history growing (Temporal's transient workflow tasks).

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');

const { EonServer, connectClient, eonTest, eventTypes, sharedEnv, startWorker, uniqueId } = require('./harness');
const { temporal } = require('@temporalio/proto');

const STICKY = temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_STICKY;
const NORMAL = temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL;

function scheduledQueues(history) {
  return history.events
    .filter((e) => e.workflowTaskScheduledEventAttributes)
    .map((e) => e.workflowTaskScheduledEventAttributes.taskQueue);
}

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

describe('sticky execution', () => {
  eonTest('after the first task, the worker gets the workflow on its sticky queue', async (t, scope) => {
    const server = scope.track(await EonServer.start());
    const { client } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('sticky');
    scope.track(await startWorker(server, { taskQueue, activities: { greet: async (n) => `Hello, ${n}!` } }));
    const handle = await client.workflow.start('greet', { taskQueue, workflowId: uniqueId('wf'), args: ['x'] });
    assert.equal(await handle.result(), 'Hello, x!');
    const queues = scheduledQueues(await handle.fetchHistory());
    assert.equal(queues.length, 2);
    assert.equal(queues[0].kind, NORMAL);
    assert.equal(queues[0].name, taskQueue);
    assert.equal(queues[1].kind, STICKY, 'the second workflow task should go to the sticky queue');
    assert.equal(queues[1].normalName, taskQueue);
    assert.notEqual(queues[1].name, taskQueue);
  });

  eonTest('when the sticky worker shuts down, the next task goes to another worker at once', async (t, scope) => {
    const server = scope.track(await EonServer.start());
    const { client } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('handover');
    const first = await startWorker(server, { taskQueue });
    const handle = await client.workflow.start('waitForSignal', { taskQueue, workflowId: uniqueId('wf') });
    // The first worker runs the first task and becomes the sticky worker.
    for (let i = 0; i < 100 && scheduledQueues(await handle.fetchHistory()).length < 1; i += 1) await sleep(50);
    for (let i = 0; i < 100; i += 1) {
      const types = eventTypes(await handle.fetchHistory());
      if (types.includes('WORKFLOW_TASK_COMPLETED')) break;
      await sleep(50);
    }
    await first.shutdown();
    scope.track(await startWorker(server, { taskQueue }));
    const began = Date.now();
    await handle.signal('unblock', 'second worker');
    assert.equal(await handle.result(), 'second worker');
    const seconds = (Date.now() - began) / 1000;
    // Not the sticky schedule-to-start timeout (5 s) or more: the gone worker was known.
    assert.ok(seconds < 4, `the handover took ${seconds} s`);
    const types = eventTypes(await handle.fetchHistory());
    assert.ok(!types.includes('WORKFLOW_TASK_TIMED_OUT'), `unexpected timeout in ${types}`);
  });
});
