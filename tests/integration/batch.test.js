'use strict';
// Batch operations: StartBatchOperation over a list query or a list of executions (gRPC, the
// HTTP API and `eon workflow terminate|cancel --query`), DescribeBatchOperation's counts, and the
// refusals (missing fields, unsupported operations, a query matching more than a batch takes).

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { temporal } = require('@temporalio/proto');

const { EonServer, connectClient, eonTest, getFreePort, runCli, startWorker, uniqueId } = require('./harness');

async function startWaiting(client, taskQueue, prefix, n) {
  const handles = [];
  for (let i = 0; i < n; i += 1) {
    handles.push(await client.workflow.start('waitForSignal', { taskQueue, workflowId: `${prefix}-${i}` }));
  }
  return handles;
}

describe('batch operations', () => {
  eonTest('terminate and cancel by query from the CLI, by executions over HTTP', async (t, scope) => {
    const uiPort = await getFreePort();
    const server = scope.track(await EonServer.start({ extraArgs: ['--ui-port', String(uiPort)] }));
    const { client, connection } = await connectClient(server);
    scope.add(() => connection.close());
    const taskQueue = uniqueId('batch');
    scope.track(await startWorker(server, { taskQueue }));
    const env = { TEMPORAL_ADDRESS: server.address };

    // Terminate by query: only the workflows it matches.
    const doomed = await startWaiting(client, taskQueue, uniqueId('doomed'), 3);
    const spared = await startWaiting(client, taskQueue, uniqueId('spared'), 1);
    const query = `WorkflowId IN (${doomed.map((h) => `'${h.workflowId}'`).join(', ')})`;
    const refused = await runCli(['workflow', 'terminate', '--query', query], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--yes/);
    const done = await runCli(['workflow', 'terminate', '--query', query, '--reason', 'batch test', '--yes'], env);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /Terminated 3 of 3 workflows \(0 failed; batch job [0-9a-f-]{36}\)/);
    for (const handle of doomed) {
      assert.equal((await handle.describe()).status.name, 'TERMINATED');
      const { events } = await handle.fetchHistory();
      assert.equal(events.at(-1).workflowExecutionTerminatedEventAttributes.reason, 'batch test');
    }
    assert.equal((await spared[0].describe()).status.name, 'RUNNING');
    const jobId = /batch job ([0-9a-f-]{36})/.exec(done.stdout)[1];
    const job = await connection.workflowService.describeBatchOperation({ namespace: 'default', jobId });
    assert.equal(Number(job.totalOperationCount), 3);
    assert.equal(Number(job.completeOperationCount), 3);
    assert.equal(job.reason, 'batch test');
    assert.equal(job.query, query);
    const listed = await connection.workflowService.listBatchOperations({ namespace: 'default' });
    assert.ok(listed.operationInfo.some((info) => info.jobId === jobId));

    // Cancel by query, as JSON.
    const cancelled = await runCli(['workflow', 'cancel', '--query', `WorkflowId = '${spared[0].workflowId}'`, '--yes', '-o', 'json'], env);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.equal(JSON.parse(cancelled.stdout).completeOperationCount, '1');
    const { events } = await spared[0].fetchHistory();
    assert.ok(events.some((e) => e.workflowExecutionCancelRequestedEventAttributes), 'no cancel request in the history');

    // Over HTTP, with a list of executions (what the UI sends for the rows it selected).
    const chosen = await startWaiting(client, taskQueue, uniqueId('chosen'), 2);
    const api = `http://127.0.0.1:${uiPort}/api/v1/namespaces/default`;
    const httpJob = uniqueId('job');
    const started = await fetch(`${api}/batch-operations/${httpJob}`, {
      method: 'POST',
      body: JSON.stringify({
        executions: chosen.map((h) => ({ workflowId: h.workflowId, runId: h.firstExecutionRunId })),
        reason: 'chosen in a list', terminationOperation: { identity: 'http' },
      }),
    });
    assert.equal(started.status, 200, await started.text());
    const described = await (await fetch(`${api}/batch-operations/${httpJob}`)).json();
    assert.equal(described.state, 'BATCH_OPERATION_STATE_COMPLETED');
    assert.equal(described.operationType, 'BATCH_OPERATION_TYPE_TERMINATE');
    assert.equal(described.completeOperationCount, '2');
    for (const handle of chosen) assert.equal((await handle.describe()).status.name, 'TERMINATED');

    // Terminating them again: each one fails (already closed), counted, not an error.
    const again = await fetch(`${api}/batch-operations/${httpJob}-again`, {
      method: 'POST',
      body: JSON.stringify({ executions: chosen.map((h) => ({ workflowId: h.workflowId })), reason: 'again', terminationOperation: {} }),
    });
    assert.equal(again.status, 200);
    const againJob = await (await fetch(`${api}/batch-operations/${httpJob}-again`)).json();
    assert.equal(againJob.failureOperationCount, '2');

    // Refusals, each naming what is wrong.
    const bad = async (body, status, pattern) => {
      const response = await fetch(`${api}/batch-operations/${uniqueId('bad')}`, { method: 'POST', body: JSON.stringify(body) });
      const answer = await response.json();
      assert.equal(response.status, status, JSON.stringify(answer));
      assert.match(answer.message, pattern);
    };
    await bad({ visibilityQuery: query, terminationOperation: {} }, 400, /Reason/);
    await bad({ reason: 'r', terminationOperation: {} }, 400, /VisibilityQuery/);
    await bad({ reason: 'r', visibilityQuery: query }, 400, /operation is not set/);
    await bad({ reason: 'r', visibilityQuery: query, deletionOperation: {} }, 501, /terminate, cancel or signal/);
    await bad({ reason: 'r', visibilityQuery: 'WorkflowId = ', terminationOperation: {} }, 400, /.+/);
    const duplicate = await fetch(`${api}/batch-operations/${httpJob}`, {
      method: 'POST', body: JSON.stringify({ executions: [{ workflowId: 'x' }], reason: 'r', terminationOperation: {} }),
    });
    assert.equal(duplicate.status, 409);
  });

  eonTest('batch records survive kill -9 and a restart', async (t, scope) => {
    const server = scope.track(await EonServer.start({ db: true }));
    const first = await connectClient(server);
    const taskQueue = uniqueId('kept');
    const targets = await startWaiting(first.client, taskQueue, uniqueId('kept'), 2);
    const jobId = uniqueId('job');
    await first.connection.workflowService.startBatchOperation({
      namespace: 'default', jobId, reason: 'kept through a restart',
      executions: targets.map((h) => ({ workflowId: h.workflowId })),
      terminationOperation: { identity: 'batch-test' },
    });
    await first.connection.close();
    await server.kill9();
    await server.restart();
    const { connection } = await connectClient(server);
    scope.add(() => connection.close());
    const job = await connection.workflowService.describeBatchOperation({ namespace: 'default', jobId });
    assert.equal(job.state, temporal.api.enums.v1.BatchOperationState.BATCH_OPERATION_STATE_COMPLETED);
    assert.equal(Number(job.totalOperationCount), 2);
    assert.equal(Number(job.completeOperationCount), 2);
    assert.equal(job.reason, 'kept through a restart');
    const listed = await connection.workflowService.listBatchOperations({ namespace: 'default' });
    assert.deepEqual(listed.operationInfo.map((info) => info.jobId), [jobId]);
    // A job it never ran is still unknown.
    await assert.rejects(connection.workflowService.describeBatchOperation({ namespace: 'default', jobId: `${jobId}-x` }), /not found/);
  });

  eonTest('a query that matches more than a batch takes is refused before anything changes', async (t, scope) => {
    const server = scope.track(await EonServer.start());
    const { client, connection } = await connectClient(server);
    scope.add(() => connection.close());
    // No worker: the workflows stay running. 1001 starts over one connection.
    const taskQueue = uniqueId('many');
    const prefix = uniqueId('many');
    for (let i = 0; i < 1001; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, 1001 - i) }, (_, j) =>
        client.workflow.start('waitForSignal', { taskQueue, workflowId: `${prefix}-${i + j}` })));
    }
    // Visibility follows the starts through the outbox: wait until the listing sees all 1001, or
    // the batch could be given fewer (on a loaded machine, or on PostgreSQL, it lags a little).
    const running = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`;
    for (let seen = 0; seen < 1001;) {
      seen = Number((await connection.workflowService.countWorkflowExecutions({ namespace: 'default', query: running })).count);
      if (seen < 1001) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const result = await runCli(['workflow', 'terminate', '--query', `TaskQueue = '${taskQueue}'`, '--yes'], { TEMPORAL_ADDRESS: server.address });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /matches 1001 workflows; a batch takes at most 1000/);
    const count = await connection.workflowService.countWorkflowExecutions({ namespace: 'default', query: `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'` });
    assert.equal(Number(count.count), 1001);
  }, { timeout: 180_000 });
});
