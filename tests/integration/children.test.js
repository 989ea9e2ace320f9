'use strict';
// Child workflows, as the parent sees them (events, results, failures) and as the child sees
// its parent; parent close policies; signals to other workflows.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');

const { EonServer, connectClient, eonTest, eventTypes, sharedEnv, startWorker, uniqueId } = require('./harness');

describe('child workflows', () => {
  const env = sharedEnv({ activities: { greet: async (name) => `Hello, ${name}!` } });

  eonTest('a child runs and its result comes back to the parent', async () => {
    const parent = await env.client.workflow.start('parentOf', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parent'),
      args: ['greet', ['child']],
    });
    assert.deepEqual(await parent.result(), { result: 'Hello, child!' });
    const types = eventTypes(await parent.fetchHistory());
    const childEvents = types.filter((t) => t.includes('CHILD'));
    assert.deepEqual(childEvents, [
      'START_CHILD_WORKFLOW_EXECUTION_INITIATED',
      'CHILD_WORKFLOW_EXECUTION_STARTED',
      'CHILD_WORKFLOW_EXECUTION_COMPLETED',
    ]);
    const history = await parent.fetchHistory();
    const started = history.events.find((e) => e.childWorkflowExecutionStartedEventAttributes);
    const childId = started.childWorkflowExecutionStartedEventAttributes.workflowExecution.workflowId;
    const childHistory = await env.client.workflow.getHandle(childId).fetchHistory();
    const childStart = childHistory.events[0].workflowExecutionStartedEventAttributes;
    assert.equal(childStart.parentWorkflowExecution.workflowId, parent.workflowId);
    assert.equal(childStart.parentWorkflowNamespace, 'default');
    assert.equal(Number(childStart.parentInitiatedEventId), Number(history.events.find((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).eventId));
  });

  eonTest('a failing child fails the parent\'s child call with ChildWorkflowFailure', async () => {
    const parent = await env.client.workflow.start('parentOf', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parent'),
      args: ['failing', ['child is broken']],
    });
    const outcome = await parent.result();
    assert.equal(outcome.error, 'ChildWorkflowFailure');
    assert.match(outcome.message, /child is broken/);
    assert.ok(eventTypes(await parent.fetchHistory()).includes('CHILD_WORKFLOW_EXECUTION_FAILED'));
  });

  eonTest('starting a child whose id is taken fails with WorkflowExecutionAlreadyStartedError', async () => {
    const childId = uniqueId('taken');
    const holder = await env.client.workflow.start('waitForSignal', { taskQueue: env.taskQueue, workflowId: childId });
    const parent = await env.client.workflow.start('parentOf', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parent'),
      args: ['greet', ['x'], { workflowId: childId }],
    });
    const outcome = await parent.result();
    assert.equal(outcome.error, 'WorkflowExecutionAlreadyStartedError');
    assert.ok(eventTypes(await parent.fetchHistory()).includes('START_CHILD_WORKFLOW_EXECUTION_FAILED'));
    await holder.terminate();
  });

  eonTest('a parent signals its child through an external workflow handle', async () => {
    const childId = uniqueId('child');
    const parent = await env.client.workflow.start('parentSignalsChild', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parent'),
      args: [childId],
    });
    assert.equal(await parent.result(), 'from parent');
    const types = eventTypes(await parent.fetchHistory());
    assert.ok(types.includes('SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED'));
    assert.ok(types.includes('EXTERNAL_WORKFLOW_EXECUTION_SIGNALED'));
    const childHistory = await env.client.workflow.getHandle(childId).fetchHistory();
    const signaled = childHistory.events.find((e) => e.workflowExecutionSignaledEventAttributes);
    assert.equal(signaled.workflowExecutionSignaledEventAttributes.externalWorkflowExecution.workflowId, parent.workflowId);
  });

  eonTest('a parent cancels its child through an external handle', async () => {
    const childId = uniqueId('child');
    const parent = await env.client.workflow.start('parentCancelsChild', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parent'),
      args: [childId],
    });
    assert.deepEqual(await parent.result(), { ended: 'ChildWorkflowFailure', cause: 'CancelledFailure' });
    const types = eventTypes(await parent.fetchHistory());
    assert.ok(types.includes('REQUEST_CANCEL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED'));
    assert.ok(types.includes('EXTERNAL_WORKFLOW_EXECUTION_CANCEL_REQUESTED'));
    assert.ok(types.includes('CHILD_WORKFLOW_EXECUTION_CANCELED'));
    assert.equal((await env.client.workflow.getHandle(childId).describe()).status.name, 'CANCELLED');
  });

  eonTest('a child terminated from outside, or timed out, is reported to its parent', async () => {
    const terminatedId = uniqueId('child');
    const parent = await env.client.workflow.start('parentOf', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parent'),
      args: ['sleeper', [3_600_000], { workflowId: terminatedId }],
    });
    const child = env.client.workflow.getHandle(terminatedId);
    for (let i = 0; i < 100; i += 1) {
      try {
        if ((await child.describe()).status.name === 'RUNNING') break;
      } catch {
        // not started yet
      }
      await sleep(50);
    }
    await child.terminate('from outside');
    const outcome = await parent.result();
    assert.equal(outcome.error, 'ChildWorkflowFailure');
    assert.equal(outcome.cause, 'TerminatedFailure');
    assert.ok(eventTypes(await parent.fetchHistory()).includes('CHILD_WORKFLOW_EXECUTION_TERMINATED'));

    const timedOut = await env.client.workflow.start('parentOf', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('parent'),
      args: ['sleeper', [3_600_000], { workflowRunTimeout: '1s' }],
    });
    const late = await timedOut.result();
    assert.equal(late.error, 'ChildWorkflowFailure');
    assert.equal(late.cause, 'TimeoutFailure');
    assert.ok(eventTypes(await timedOut.fetchHistory()).includes('CHILD_WORKFLOW_EXECUTION_TIMED_OUT'));
  });

  for (const [policy, status] of [
    ['TERMINATE', 'TERMINATED'],
    ['REQUEST_CANCEL', 'CANCELLED'],
    ['ABANDON', 'RUNNING'],
  ]) {
    eonTest(`parent close policy ${policy}: the child ends up ${status}`, async () => {
      const childId = uniqueId('child');
      const parent = await env.client.workflow.start('parentLeavesChild', {
        taskQueue: env.taskQueue,
        workflowId: uniqueId('parent'),
        args: [childId, policy],
      });
      assert.equal(await parent.result(), 'parent done');
      const child = env.client.workflow.getHandle(childId);
      let description;
      for (let i = 0; i < 100; i += 1) {
        description = await child.describe();
        if (description.status.name === status && (status !== 'RUNNING' || i > 10)) break;
        await sleep(50);
      }
      assert.equal(description.status.name, status);
      if (status === 'RUNNING') await child.terminate();
    });
  }
});

describe('child workflows and crashes', () => {
  eonTest('kill -9 while a child runs: the parent still gets its result, each event once', async (t, scope) => {
    const server = scope.track(await EonServer.start({ db: true }));
    const taskQueue = uniqueId('crash-child');
    scope.track(await startWorker(server, { taskQueue }));
    const { client } = await connectClient(server);
    const childId = uniqueId('child');
    const parent = await client.workflow.start('parentWaitsForSleeper', {
      taskQueue,
      workflowId: uniqueId('parent'),
      args: [childId, 2000],
    });
    // Wait until the child runs, then crash.
    for (let i = 0; i < 100; i += 1) {
      const types = eventTypes(await parent.fetchHistory());
      if (types.includes('CHILD_WORKFLOW_EXECUTION_STARTED')) break;
      await sleep(50);
    }
    const described = await parent.describe();
    assert.equal(described.raw.pendingChildren.length, 1);
    assert.equal(described.raw.pendingChildren[0].workflowId, childId);
    const child = await client.workflow.getHandle(childId).describe();
    assert.equal(child.raw.workflowExecutionInfo.parentExecution.workflowId, parent.workflowId);
    assert.equal(child.raw.workflowExecutionInfo.rootExecution.workflowId, parent.workflowId);
    await server.kill9();
    await sleep(500);
    await server.restart();
    const after = scope.track(await connectClient(server));
    const again = after.client.workflow.getHandle(parent.workflowId);
    assert.equal(await again.result(), 2000);
    const types = eventTypes(await again.fetchHistory());
    for (const type of ['START_CHILD_WORKFLOW_EXECUTION_INITIATED', 'CHILD_WORKFLOW_EXECUTION_STARTED', 'CHILD_WORKFLOW_EXECUTION_COMPLETED']) {
      assert.equal(types.filter((x) => x === type).length, 1, `${type} in ${types}`);
    }
  });
});
