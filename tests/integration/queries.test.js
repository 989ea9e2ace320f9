'use strict';
// QueryWorkflow: queries reach a worker through the workflow task queue (the sticky queue first)
// and its answer comes back; unknown query types, reject conditions, no worker.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { QueryNotRegisteredError } = require('@temporalio/client');
const { temporal } = require('@temporalio/proto');

const { EonServer, connectClient, eonTest, sharedEnv, startWorker, uniqueId } = require('./harness');

const { QueryRejectCondition, WorkflowExecutionStatus } = temporal.api.enums.v1;

/** QueryWorkflow of the 'state' query with a reject condition, through the raw service. */
function queryWithCondition(connection, workflowId, condition) {
  return connection.workflowService.queryWorkflow({
    namespace: 'default',
    execution: { workflowId },
    query: { queryType: 'state' },
    queryRejectCondition: condition,
  });
}

describe('queries', () => {
  const env = sharedEnv({ activities: {} });

  eonTest('a running workflow answers queries with its live state', async () => {
    const handle = await env.client.workflow.start('queryable', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('q'),
      args: [3],
    });
    assert.deepEqual(await handle.query('state'), { count: 0, target: 3 });
    await handle.signal('advance');
    await handle.signal('advance');
    // Signals are applied by workflow tasks; the query sees them once those ran.
    let state;
    for (let i = 0; i < 50; i += 1) {
      state = await handle.query('state');
      if (state.count === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(state, { count: 2, target: 3 });
    await handle.signal('advance');
    assert.equal(await handle.result(), 3);
    // A closed workflow is replayed to answer.
    assert.deepEqual(await handle.query('state'), { count: 3, target: 3 });
  });

  // Consistent queries: a query sees every event accepted before it, because it rides on the
  // workflow task that carries them (never dispatched on its own while one is pending).
  eonTest('a query right after a signal always sees the signal', async () => {
    const handle = await env.client.workflow.start('queryable', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('q'),
      args: [1000],
    });
    for (let i = 1; i <= 30; i += 1) {
      await handle.signal('advance');
      assert.deepEqual(await handle.query('state'), { count: i, target: 1000 }, `query ${i} missed its signal`);
    }
    await handle.terminate();
  });

  eonTest('a query sent while the first workflow task is pending or running is answered', async () => {
    for (let i = 0; i < 10; i += 1) {
      const handle = await env.client.workflow.start('queryable', {
        taskQueue: env.taskQueue,
        workflowId: uniqueId('q'),
        args: [1],
      });
      // No wait: the first workflow task has not completed (it may not have started).
      assert.deepEqual(await handle.query('state'), { count: 0, target: 1 });
      await handle.terminate();
    }
  });

  eonTest('reject conditions: a terminated workflow is not completed cleanly; a running one is open', async () => {
    const handle = await env.client.workflow.start('queryable', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('q'),
      args: [5],
    });
    const query = (condition) => queryWithCondition(env.connection, handle.workflowId, condition);
    const open = await query(QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_OPEN);
    assert.equal(open.queryRejected, null);
    assert.equal(open.queryResult.payloads.length, 1);
    await handle.terminate();
    const rejected = await query(QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY);
    assert.equal(rejected.queryRejected?.status, WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED);
    // Without a condition a closed workflow is replayed to answer.
    assert.deepEqual(await handle.query('state'), { count: 0, target: 5 });
  });

  eonTest('an unknown query type gives QueryNotRegisteredError', async () => {
    const handle = await env.client.workflow.start('queryable', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('q'),
      args: [1],
    });
    await assert.rejects(handle.query('no-such-query'), (err) => {
      assert.ok(err instanceof QueryNotRegisteredError, `got ${err?.stack ?? err}`);
      assert.match(err.message, /no-such-query/);
      return true;
    });
    await handle.terminate();
  });

  eonTest('the NOT_OPEN reject condition rejects a query of a closed workflow', async () => {
    const handle = await env.client.workflow.start('queryable', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('q'),
      args: [0],
    });
    await handle.result();
    const query = (condition) => queryWithCondition(env.connection, handle.workflowId, condition);
    const rejected = await query(QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_OPEN);
    assert.equal(rejected.queryRejected?.status, WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED);
    // Completed cleanly: NOT_COMPLETED_CLEANLY lets the query through.
    const answered = await query(QueryRejectCondition.QUERY_REJECT_CONDITION_NOT_COMPLETED_CLEANLY);
    assert.equal(answered.queryRejected, null);
    assert.ok(answered.queryResult.payloads.length === 1);
  });
});

describe('queries without a worker', () => {
  eonTest('a query waits for a worker until the caller gives up', async (t, scope) => {
    const server = scope.track(await EonServer.start());
    const { client, connection } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('nobody');
    const handle = await client.workflow.start('queryable', { taskQueue, workflowId: uniqueId('q'), args: [1] });
    const began = Date.now();
    await assert.rejects(connection.withDeadline(Date.now() + 1500, () => handle.query('state')));
    const waited = Date.now() - began;
    assert.ok(waited >= 1400, `gave up after ${waited} ms, before the deadline`);
    // A worker that comes later answers a new query.
    scope.track(await startWorker(server, { taskQueue }));
    assert.deepEqual(await handle.query('state'), { count: 0, target: 1 });
  });
});

describe('queries before the first workflow task', () => {
  eonTest('a query waits for the first workflow task and is answered by it', async (t, scope) => {
    const server = scope.track(await EonServer.start());
    const { client } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('later');
    const handle = await client.workflow.start('queryable', { taskQueue, workflowId: uniqueId('q'), args: [2] });
    await handle.signal('advance');
    // Held until a workflow task carries it: not "no query handler" from a task of its own.
    const answer = handle.query('state');
    await new Promise((resolve) => setTimeout(resolve, 300));
    scope.track(await startWorker(server, { taskQueue }));
    assert.deepEqual(await answer, { count: 1, target: 2 });
  });

  eonTest('a held query lost by a server restart is retried by the client and answered', async (t, scope) => {
    const server = scope.track(await EonServer.start({ db: true }));
    const { client, connection } = scope.track(await connectClient(server));
    const taskQueue = uniqueId('restart');
    const handle = await client.workflow.start('queryable', { taskQueue, workflowId: uniqueId('q'), args: [1] });
    // Held in the server's memory only (no workflow task has run yet).
    const answer = connection.withDeadline(Date.now() + 30_000, () => handle.query('state'));
    const settled = answer.then(
      (value) => ({ value }),
      (error) => ({ error }),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    await server.kill9();
    await server.restart();
    scope.track(await startWorker(server, { taskQueue }));
    const began = Date.now();
    const outcome = await settled;
    // The connection broke (UNAVAILABLE, retried by the client): it asked again and was answered.
    assert.equal(outcome.error, undefined, `the query failed: ${outcome.error?.stack ?? outcome.error}`);
    assert.deepEqual(outcome.value, { count: 0, target: 1 });
    assert.ok(Date.now() - began < 25_000, 'the answer came only near the deadline');
  });
});
