'use strict';
// QueryWorkflow: queries reach a worker through the workflow task queue (the sticky queue first)
// and its answer comes back; unknown query types, reject conditions, no worker.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { QueryNotRegisteredError } = require('@temporalio/client');
const { temporal } = require('@temporalio/proto');

const { EonServer, connectClient, eonTest, sharedEnv, startWorker, uniqueId } = require('./harness');

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
    const { QueryRejectCondition, WorkflowExecutionStatus } = temporal.api.enums.v1;
    const query = (condition) =>
      env.connection.workflowService.queryWorkflow({
        namespace: 'default',
        execution: { workflowId: handle.workflowId },
        query: { queryType: 'state' },
        queryRejectCondition: condition,
      });
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
