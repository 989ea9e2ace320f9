'use strict';
// The raw WorkflowService calls the SDK relies on, exercised directly: namespaces, paged
// history, the history long poll, bad input, and RPCs Eon does not implement yet.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { temporal } = require('@temporalio/proto');

const { eonTest, eventTypes, sharedEnv, startWorker, uniqueId } = require('./harness');

const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;
const GRPC_INVALID_ARGUMENT = 3;
const GRPC_UNIMPLEMENTED = 12;

async function grpcError(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the call to fail');
}

describe('workflow service API', () => {
  const env = sharedEnv({ activities: { greet: async (name) => `Hello, ${name}!` } });
  const service = () => env.connection.workflowService;

  eonTest('GetSystemInfo advertises the capabilities the SDKs check', async () => {
    const info = await service().getSystemInfo({});
    assert.equal(info.capabilities.sdkMetadata, true);
    assert.equal(info.capabilities.encodedFailureAttributes, true);
    assert.equal(info.capabilities.activityFailureIncludeHeartbeat, true);
    assert.ok(info.serverVersion.length > 0);
  });

  eonTest('DescribeNamespace advertises the namespace capabilities Eon implements', async () => {
    const { capabilities } = (await service().describeNamespace({ namespace: 'default' })).namespaceInfo;
    assert.equal(capabilities.syncUpdate, true);
    assert.equal(capabilities.asyncUpdate, true);
    assert.equal(capabilities.workerPollCompleteOnShutdown, true);
    assert.ok(!capabilities.eagerWorkflowStart, 'eager workflow start is not implemented');
    assert.ok(!capabilities.workerHeartbeats, 'worker heartbeats are not implemented');
  });

  // With worker_poll_complete_on_shutdown the SDK waits for its polls instead of cancelling
  // them: ShutdownWorker must answer them, or the shutdown hangs for a whole long poll.
  eonTest('a worker shuts down promptly: ShutdownWorker answers its open polls', async (t, scope) => {
    const worker = scope.track(await startWorker(env.server, { taskQueue: uniqueId('bye') }));
    await new Promise((resolve) => setTimeout(resolve, 500)); // its polls are parked by now
    const began = Date.now();
    await worker.shutdown();
    const took = Date.now() - began;
    assert.ok(took < 10_000, `shutdown took ${took} ms`);
  });

  eonTest('RegisterNamespace, DescribeNamespace and ListNamespaces', async () => {
    const name = uniqueId('ns');
    await service().registerNamespace({
      namespace: name,
      description: 'made by a test',
      workflowExecutionRetentionPeriod: { seconds: 3 * 86400 },
    });
    const described = await service().describeNamespace({ namespace: name });
    assert.equal(described.namespaceInfo.name, name);
    assert.equal(described.namespaceInfo.description, 'made by a test');
    assert.equal(
      described.namespaceInfo.state,
      temporal.api.enums.v1.NamespaceState.NAMESPACE_STATE_REGISTERED,
    );
    assert.equal(Number(described.config.workflowExecutionRetentionTtl.seconds), 3 * 86400);
    const byId = await service().describeNamespace({ id: described.namespaceInfo.id });
    assert.equal(byId.namespaceInfo.name, name);

    const listed = await service().listNamespaces({});
    const names = listed.namespaces.map((n) => n.namespaceInfo.name);
    assert.ok(names.includes('default'), `default missing from ${names}`);
    assert.ok(names.includes(name), `${name} missing from ${names}`);

    const again = await grpcError(service().registerNamespace({ namespace: name }));
    assert.equal(again.code, GRPC_ALREADY_EXISTS);
    const bad = await grpcError(service().registerNamespace({ namespace: 'no spaces allowed' }));
    assert.equal(bad.code, GRPC_INVALID_ARGUMENT);
    assert.match(bad.details ?? bad.message, /no spaces allowed/);
  });

  // Temporal pages both listings: page_size is honoured, next_page_token leads through the rest,
  // and a token Eon did not write is refused.
  eonTest('ListNamespaces and ListBatchOperations honour page_size and next_page_token', async () => {
    const prefix = uniqueId('paged-ns');
    for (let i = 0; i < 3; i += 1) await service().registerNamespace({ namespace: `${prefix}-${i}` });
    const everyName = (await service().listNamespaces({ pageSize: 1000 })).namespaces.map((n) => n.namespaceInfo.name);
    assert.ok(everyName.length >= 4, everyName.join(' '));
    const paged = [];
    let token;
    let pages = 0;
    do {
      const page = await service().listNamespaces({ pageSize: 2, nextPageToken: token });
      assert.ok(page.namespaces.length >= 1 && page.namespaces.length <= 2, `a page of ${page.namespaces.length}`);
      paged.push(...page.namespaces.map((n) => n.namespaceInfo.name));
      token = page.nextPageToken?.length ? page.nextPageToken : undefined;
      pages += 1;
    } while (token && pages < 100);
    assert.deepEqual(paged, everyName);
    assert.equal(pages, Math.ceil(everyName.length / 2));
    const badNs = await grpcError(service().listNamespaces({ pageSize: 2, nextPageToken: Buffer.from('2\0junk') }));
    assert.equal(badNs.code, GRPC_INVALID_ARGUMENT);
    assert.match(badNs.details ?? badNs.message, /invalid next_page_token/);

    // Batch operations of one namespace, newest first, three pages of one.
    const namespace = `${prefix}-0`;
    const jobIds = [];
    for (let i = 0; i < 3; i += 1) {
      const jobId = uniqueId(`job-${i}`);
      await service().startBatchOperation({
        namespace, jobId, reason: 'paging',
        executions: [{ workflowId: uniqueId('absent') }],
        terminationOperation: { identity: 'api-test' },
      });
      jobIds.push(jobId);
    }
    const listedJobs = [];
    token = undefined;
    pages = 0;
    do {
      const page = await service().listBatchOperations({ namespace, pageSize: 1, nextPageToken: token });
      assert.equal(page.operationInfo.length, 1);
      listedJobs.push(page.operationInfo[0].jobId);
      token = page.nextPageToken?.length ? page.nextPageToken : undefined;
      pages += 1;
    } while (token && pages < 10);
    assert.deepEqual(listedJobs, [...jobIds].reverse());
    const whole = await service().listBatchOperations({ namespace });
    assert.deepEqual(whole.operationInfo.map((o) => o.jobId), [...jobIds].reverse());
    assert.equal(whole.nextPageToken?.length ?? 0, 0);
    const badJobs = await grpcError(service().listBatchOperations({ namespace, nextPageToken: Buffer.from('-1') }));
    assert.equal(badJobs.code, GRPC_INVALID_ARGUMENT);
    assert.match(badJobs.details ?? badJobs.message, /invalid next_page_token/);
  });

  eonTest('history pages follow next_page_token and add up to the whole history', async () => {
    const workflowId = uniqueId('paged');
    await env.client.workflow.execute('threeParallel', {
      taskQueue: env.taskQueue,
      workflowId,
      args: [['a', 'b', 'c']],
    });
    const whole = await env.client.workflow.getHandle(workflowId).fetchHistory();
    const paged = [];
    let nextPageToken;
    let pages = 0;
    do {
      const page = await service().getWorkflowExecutionHistory({
        namespace: 'default',
        execution: { workflowId },
        maximumPageSize: 4,
        nextPageToken,
      });
      assert.ok(page.history.events.length <= 4, 'a page is larger than maximum_page_size');
      paged.push(...page.history.events);
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
      pages += 1;
      assert.ok(pages < 100, 'paging does not end');
    } while (nextPageToken);
    assert.ok(pages > 1, 'expected more than one page');
    assert.deepEqual(eventTypes({ events: paged }), eventTypes(whole));
    assert.deepEqual(paged.map((e) => Number(e.eventId)), whole.events.map((e) => Number(e.eventId)));
  });

  eonTest('a history long poll waits for the next event instead of answering at once', async () => {
    // No worker polls this queue: the workflow stays at its first workflow task.
    const workflowId = uniqueId('waiting');
    const handle = await env.client.workflow.start('greet', {
      taskQueue: uniqueId('nobody'),
      workflowId,
      args: ['x'],
    });
    // What exists answers at once, with a token to wait for what comes next.
    const first = await service().getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
      waitNewEvent: true,
    });
    assert.equal(first.history.events.length, 2);
    assert.ok(first.nextPageToken?.length > 0, 'a waiting reader needs a token to go on from');
    const began = Date.now();
    const waiting = service().getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId },
      waitNewEvent: true,
      nextPageToken: first.nextPageToken,
    });
    await new Promise((resolve) => setTimeout(resolve, 500));
    await handle.terminate('wake the long poll');
    const next = await waiting;
    assert.ok(Date.now() - began >= 450, 'the long poll answered before anything happened');
    assert.deepEqual(eventTypes(next.history), ['WORKFLOW_EXECUTION_TERMINATED']);
  });

  eonTest(
      'a close-event long poll answers with the close event alone, as a later read does',
      async () => {
        // The waiting answer is made from the commit that closed the run; a read after the close
        // comes from the database. The two must be the same.
        const workflowId = uniqueId('close-wait');
        const handle = await env.client.workflow.start('greet', {
          taskQueue: uniqueId('nobody'),
          workflowId,
          args: ['x'],
        });
        const closeRequest = {
          namespace: 'default',
          execution: {workflowId},
          waitNewEvent: true,
          historyEventFilterType:
              temporal.api.enums.v1.HistoryEventFilterType.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
        };
        const waiting = service().getWorkflowExecutionHistory(closeRequest);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await handle.terminate('close it while a reader waits');
        const waited = await waiting;
        assert.deepEqual(eventTypes(waited.history), ['WORKFLOW_EXECUTION_TERMINATED']);
        assert.ok(!waited.nextPageToken?.length, 'the closed run has nothing more to wait for');
        const read = await service().getWorkflowExecutionHistory(closeRequest);
        assert.deepEqual(waited.history.toJSON(), read.history.toJSON());
      });

  eonTest('bad input gets INVALID_ARGUMENT or NOT_FOUND with a message, never a crash', async () => {
    const noId = await grpcError(
      service().startWorkflowExecution({
        namespace: 'default',
        workflowType: { name: 'greet' },
        taskQueue: { name: 'q' },
        requestId: uniqueId('req'),
      }),
    );
    assert.equal(noId.code, GRPC_INVALID_ARGUMENT);
    assert.match(noId.details ?? noId.message, /WorkflowId/);

    const noQueue = await grpcError(
      service().startWorkflowExecution({
        namespace: 'default',
        workflowId: uniqueId('wf'),
        workflowType: { name: 'greet' },
        requestId: uniqueId('req'),
      }),
    );
    assert.equal(noQueue.code, GRPC_INVALID_ARGUMENT);
    assert.match(noQueue.details ?? noQueue.message, /TaskQueue/);

    const badToken = await grpcError(
      service().respondActivityTaskCompleted({ namespace: 'default', taskToken: Buffer.from('garbage') }),
    );
    assert.equal(badToken.code, GRPC_INVALID_ARGUMENT);
    const noToken = await grpcError(service().respondWorkflowTaskCompleted({ namespace: 'default' }));
    assert.equal(noToken.code, GRPC_INVALID_ARGUMENT);

    const missing = await grpcError(
      service().getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId: uniqueId('none') } }),
    );
    assert.equal(missing.code, GRPC_NOT_FOUND);

    // The server is still serving.
    assert.ok((await service().getSystemInfo({})).serverVersion);
  });

  eonTest('an RPC Eon does not implement yet answers UNIMPLEMENTED with its name', async () => {
    const err = await grpcError(
      service().stopBatchOperation({ namespace: 'default', jobId: 'j', reason: 'r' }),
    );
    assert.equal(err.code, GRPC_UNIMPLEMENTED);
    assert.match(err.details ?? err.message, /StopBatchOperation/);
  });
});
