'use strict';
// Happy paths: workflows with activities, workflow failure, activity retries.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { Context } = require('@temporalio/activity');
const { ApplicationFailure, WorkflowFailedError } = require('@temporalio/client');

const { countEvents, eonTest, eventTypes, sharedEnv, uniqueId } = require('./harness');

const activities = {
  async greet(name) {
    return `Hello, ${name}!`;
  },
  async shout(text) {
    return text.toUpperCase();
  },
  async flaky(failuresBeforeSuccess) {
    const { attempt } = Context.current().info;
    if (attempt <= failuresBeforeSuccess) {
      throw new Error(`flaky failure on attempt ${attempt}`);
    }
    return { result: 'recovered', attempt };
  },
};

describe('basic workflows', () => {
  const env = sharedEnv({ activities });

  const run = (workflow, args) =>
    env.client.workflow.execute(workflow, { taskQueue: env.taskQueue, workflowId: uniqueId(workflow), args });

  eonTest('greet workflow returns the activity result and records the expected history', async () => {
    const handle = await env.client.workflow.start('greet', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('greet'),
      args: ['Eon'],
    });
    assert.equal(await handle.result(), 'Hello, Eon!');

    const description = await handle.describe();
    assert.equal(description.status.name, 'COMPLETED');
    assert.equal(description.type, 'greet');
    assert.equal(description.taskQueue, env.taskQueue);

    const history = await handle.fetchHistory();
    assert.deepEqual(eventTypes(history), [
      'WORKFLOW_EXECUTION_STARTED',
      'WORKFLOW_TASK_SCHEDULED',
      'WORKFLOW_TASK_STARTED',
      'WORKFLOW_TASK_COMPLETED',
      'ACTIVITY_TASK_SCHEDULED',
      'ACTIVITY_TASK_STARTED',
      'ACTIVITY_TASK_COMPLETED',
      'WORKFLOW_TASK_SCHEDULED',
      'WORKFLOW_TASK_STARTED',
      'WORKFLOW_TASK_COMPLETED',
      'WORKFLOW_EXECUTION_COMPLETED',
    ]);
    assert.deepEqual(
      history.events.map((ev) => Number(ev.eventId)),
      history.events.map((_, i) => i + 1),
      'event ids must be 1, 2, 3, ...',
    );
  });

  eonTest('execute returns exactly the workflow result', async () => {
    assert.equal(await run('greet', ['Temporal']), 'Hello, Temporal!');
  });

  eonTest('two activities in sequence', async () => {
    assert.deepEqual(await run('twoSequential', ['seq']), ['Hello, seq!', 'HELLO, SEQ!']);
  });

  eonTest('three activities in parallel', async () => {
    const handle = await env.client.workflow.start('threeParallel', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parallel'),
      args: [['a', 'b', 'c']],
    });
    assert.deepEqual(await handle.result(), ['Hello, a!', 'Hello, b!', 'Hello, c!']);
    const history = await handle.fetchHistory();
    assert.equal(countEvents(history, 'ACTIVITY_TASK_SCHEDULED'), 3);
    assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 3);
  });

  eonTest('a workflow that throws a non-retryable ApplicationFailure fails', async () => {
    const message = 'this workflow fails on purpose';
    const handle = await env.client.workflow.start('failing', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('failing'),
      args: [message],
    });
    const err = await handle.result().then(
      () => assert.fail('result() should have rejected'),
      (e) => e,
    );
    assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${err?.stack ?? err}`);
    assert.ok(err.cause instanceof ApplicationFailure, `expected ApplicationFailure cause, got ${err.cause}`);
    assert.equal(err.cause.message, message);
    assert.equal(err.cause.type, 'IntegrationTestFailure');
    assert.equal(err.cause.nonRetryable, true);
    assert.deepEqual(err.cause.details, [{ answer: 42 }]);

    assert.equal((await handle.describe()).status.name, 'FAILED');
    const types = eventTypes(await handle.fetchHistory());
    assert.equal(types.at(-1), 'WORKFLOW_EXECUTION_FAILED');
  });

  eonTest('execute rejects with WorkflowFailedError for a failing workflow', async () => {
    await assert.rejects(run('failing', ['boom']), (err) => {
      assert.ok(err instanceof WorkflowFailedError);
      assert.ok(err.cause instanceof ApplicationFailure);
      assert.equal(err.cause.message, 'boom');
      return true;
    });
  });

  eonTest('the server retries a failing activity until it succeeds', async () => {
    const handle = await env.client.workflow.start('retrying', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('retrying'),
      args: [2], // fail attempts 1 and 2, succeed on attempt 3
    });
    assert.deepEqual(await handle.result(), { result: 'recovered', attempt: 3 });

    // Retries are not recorded as separate events: one scheduled/started/completed triple,
    // with the started event carrying the final attempt number.
    const history = await handle.fetchHistory();
    assert.equal(countEvents(history, 'ACTIVITY_TASK_SCHEDULED'), 1);
    assert.equal(countEvents(history, 'ACTIVITY_TASK_STARTED'), 1);
    assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1);
    assert.equal(countEvents(history, 'ACTIVITY_TASK_FAILED'), 0);
    const started = history.events.find((ev) => ev.activityTaskStartedEventAttributes);
    assert.equal(started.activityTaskStartedEventAttributes.attempt, 3);
    assert.match(
      started.activityTaskStartedEventAttributes.lastFailure?.message ?? '',
      /flaky failure on attempt 2/,
    );
  });
});
