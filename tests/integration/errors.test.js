'use strict';
// Error paths of the client API. No worker is needed: a started workflow simply stays
// RUNNING while nobody polls its task queue.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const {
  Client,
  NamespaceNotFoundError,
  TerminatedFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} = require('@temporalio/client');

const { eonTest, eventTypes, sharedEnv, uniqueId } = require('./harness');

/** Resolves with the error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the promise to reject');
}

describe('client errors', () => {
  const env = sharedEnv();

  const start = (workflowId, workflowType = 'greet') =>
    env.client.workflow.start(workflowType, { taskQueue: env.taskQueue, workflowId, args: ['x'] });

  eonTest('starting a running workflow id again fails with WorkflowExecutionAlreadyStartedError', async () => {
    const workflowId = uniqueId('dup');
    const first = await start(workflowId);
    const err = await rejection(start(workflowId));
    assert.ok(
      err instanceof WorkflowExecutionAlreadyStartedError,
      `expected WorkflowExecutionAlreadyStartedError, got ${err?.stack ?? err}`,
    );
    assert.equal(err.workflowId, workflowId);
    assert.equal(err.workflowType, 'greet');
    // The first run is untouched.
    const description = await first.describe();
    assert.equal(description.status.name, 'RUNNING');
    assert.equal(description.runId, first.firstExecutionRunId);
  });

  eonTest('a client on an unknown namespace gets NamespaceNotFoundError', async () => {
    const client = new Client({ connection: env.connection, namespace: 'no-such-namespace' });
    const err = await rejection(
      client.workflow.start('greet', { taskQueue: env.taskQueue, workflowId: uniqueId('ns'), args: ['x'] }),
    );
    assert.ok(err instanceof NamespaceNotFoundError, `expected NamespaceNotFoundError, got ${err?.stack ?? err}`);
    assert.equal(err.namespace, 'no-such-namespace');
    assert.match(err.message, /no-such-namespace/);
  });

  eonTest('terminating a running workflow', async () => {
    const handle = await start(uniqueId('terminate'));
    await handle.terminate('terminated by the integration test');

    assert.equal((await handle.describe()).status.name, 'TERMINATED');
    const err = await rejection(handle.result());
    assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${err?.stack ?? err}`);
    assert.ok(err.cause instanceof TerminatedFailure, `expected TerminatedFailure cause, got ${err.cause}`);
    assert.equal(err.cause.message, 'terminated by the integration test');

    const types = eventTypes(await handle.fetchHistory());
    assert.equal(types[0], 'WORKFLOW_EXECUTION_STARTED');
    assert.equal(types.at(-1), 'WORKFLOW_EXECUTION_TERMINATED');

    // A closed workflow cannot be terminated again.
    assert.ok((await rejection(handle.terminate('again'))) instanceof WorkflowNotFoundError);
  });

  eonTest('a workflow of a type no worker knows still starts', async () => {
    const handle = await start(uniqueId('unknown-type'), 'noWorkerKnowsThisWorkflowType');
    assert.equal(typeof handle.firstExecutionRunId, 'string');
    assert.ok(handle.firstExecutionRunId.length > 0);
    const description = await handle.describe();
    assert.equal(description.status.name, 'RUNNING');
    assert.equal(description.type, 'noWorkerKnowsThisWorkflowType');
    assert.equal(description.workflowId, handle.workflowId);
  });

  eonTest('describing a workflow that does not exist fails with WorkflowNotFoundError', async () => {
    const handle = env.client.workflow.getHandle('does-not-exist');
    const err = await rejection(handle.describe());
    assert.ok(err instanceof WorkflowNotFoundError, `expected WorkflowNotFoundError, got ${err?.stack ?? err}`);
    assert.equal(err.workflowId, 'does-not-exist');
  });
});
