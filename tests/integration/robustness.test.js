'use strict';
// No input crashes or poisons the server (issue 11, inputs 4 to 6): each request below gets a
// clear error or works, the server keeps serving, and after a kill -9 and a restart the database
// still serves every workflow, including the largest and deepest inputs it accepted.
// Raw gRPC requests, so the inputs reach the server exactly as built here.

const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');

// @grpc/grpc-js comes with @temporalio/client (pinned by the lock file).
const grpc = require('@grpc/grpc-js');
const { temporal } = require('@temporalio/proto');
const { EonServer, connectClient, eonTest, runEon, uniqueId } = require('./harness');

const enums = temporal.api.enums.v1;
const GRPC_INVALID_ARGUMENT = 3;

const json = (text) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(text) });
const nestedJson = (depth) => '['.repeat(depth) + ']'.repeat(depth);

function startRequest(taskQueue, extra = {}) {
  return {
    namespace: 'default',
    workflowId: uniqueId('robust'),
    workflowType: { name: 'Robust' },
    taskQueue: { name: taskQueue },
    requestId: randomUUID(),
    ...extra,
  };
}

function failureChain(depth) {
  const root = { message: 'level 1', applicationFailureInfo: { type: 'Deep' } };
  let f = root;
  for (let i = 2; i <= depth; i += 1) {
    f.cause = { message: `level ${i}`, applicationFailureInfo: { type: 'Deep' } };
    f = f.cause;
  }
  return root;
}

// Protobuf wire format by hand, for messages deeper than the SDK's encoder allows.
function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return Buffer.from(out);
}
const field = (number, bytes) => Buffer.concat([varint((number << 3) | 2), varint(bytes.length), Buffer.from(bytes)]);
function encodedFailureChain(depth) {
  let failure = field(1, Buffer.from('root'));
  for (let i = 1; i < depth; i += 1) failure = Buffer.concat([field(1, Buffer.from(`level ${i}`)), field(4, failure)]);
  return failure;
}
function rawUnary(server, method, bytes) {
  const client = new grpc.Client(server.address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(`/temporal.api.workflowservice.v1.WorkflowService/${method}`, (b) => b, (b) => b, bytes, (err, res) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

async function rejectsWith(promise, code, pattern) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.code, code, `expected code ${code}, got ${err?.stack ?? err}`);
    assert.match(err.details ?? err.message, pattern);
    return true;
  });
}

async function alive(server) {
  const { connection } = await connectClient(server);
  try {
    await connection.workflowService.getSystemInfo({});
  } finally {
    await connection.close();
  }
}

// Input 4: a workflow cron schedule of '@every .s' used to end the server (an uncaught
// std::invalid_argument from stod). It and its neighbours get INVALID_ARGUMENT naming the
// schedule; a valid cron workflow started before them is intact after kill -9.
eonTest('malformed cron schedules are refused and the server and its database survive a kill -9 after them', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  const { connection } = await connectClient(server);
  const service = connection.workflowService;
  const taskQueue = uniqueId('robust-cron');
  const good = startRequest(taskQueue, { cronSchedule: '@every 1h' });
  const { runId } = await service.startWorkflowExecution(good);
  for (const cron of ['@every .s', '@every s', '@every 99999999999999999999h', '@every -1s', '@every 1e400s', '* * * * * * * *', '*/0 * * * *']) {
    await rejectsWith(
      service.startWorkflowExecution(startRequest(taskQueue, { cronSchedule: cron })),
      GRPC_INVALID_ARGUMENT,
      /invalid cron schedule/,
    );
  }
  await sleep(500);
  await alive(server);
  await connection.close();

  await server.kill9();
  await server.restart();
  const after = scope.track(await connectClient(server));
  const described = await after.connection.workflowService.describeWorkflowExecution({
    namespace: 'default',
    execution: { workflowId: good.workflowId, runId },
  });
  assert.equal(described.workflowExecutionInfo.status, enums.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING);
  // The refused ones left no trace; the server still takes a valid cron workflow.
  await rejectsWith(
    after.connection.workflowService.startWorkflowExecution(startRequest(taskQueue, { cronSchedule: '@every .s' })),
    GRPC_INVALID_ARGUMENT,
    /invalid cron schedule "@every \.s"/,
  );
  const again = await after.connection.workflowService.startWorkflowExecution(startRequest(taskQueue, { cronSchedule: '@every 2h' }));
  assert.ok(again.runId);
  // Input 3 after the restart too: the namespace still reports its capabilities.
  const { capabilities } = (await after.connection.workflowService.describeNamespace({ namespace: 'default' })).namespaceInfo;
  assert.equal(capabilities.workerPollCompleteOnShutdown, true);
  assert.doesNotMatch(server.output, /terminate called|corrupt/);
});

eonTest('search attributes: unregistered and nested 100,000 deep are refused; the largest accepted inputs survive kill -9', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  const { connection } = await connectClient(server);
  const service = connection.workflowService;
  await connection.operatorService.addSearchAttributes({
    namespace: 'default',
    searchAttributes: { CustomKeywordField: enums.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
  });
  const taskQueue = uniqueId('robust-tq');

  await rejectsWith(
    service.startWorkflowExecution(startRequest(taskQueue, { searchAttributes: { indexedFields: { Unregistered: json('"x"') } } })),
    GRPC_INVALID_ARGUMENT,
    /search attribute Unregistered is not defined/,
  );
  // Input 5: 100,000 deep (200 KB). It used to be acknowledged, then crash the server for good.
  await rejectsWith(
    service.startWorkflowExecution(
      startRequest(taskQueue, { searchAttributes: { indexedFields: { CustomKeywordField: json(nestedJson(100_000)) } } }),
    ),
    GRPC_INVALID_ARGUMENT,
    /is not a valid value for search attribute CustomKeywordField of type Keyword/,
  );
  await rejectsWith(
    service.startWorkflowExecution(startRequest(taskQueue, { searchAttributes: { indexedFields: { WorkflowId: json('"x"') } } })),
    GRPC_INVALID_ARGUMENT,
    /WorkflowId attribute can't be set in SearchAttributes/,
  );

  // The largest and deepest accepted: a search attribute value at its size limit, a memo
  // holding JSON nested 100,000 deep (memos are opaque), an input of 1.5 MB.
  const keyword = 'k'.repeat(2048 - 2);
  const deepMemo = nestedJson(100_000);
  const input = JSON.stringify('i'.repeat(1_500_000));
  const request = startRequest(taskQueue, {
    searchAttributes: { indexedFields: { CustomKeywordField: json(JSON.stringify(keyword)) } },
    memo: { fields: { deep: json(deepMemo) } },
    input: { payloads: [json(input)] },
  });
  const started = await service.startWorkflowExecution(request);
  assert.ok(started.runId);
  await sleep(1000); // the crash came about 300 ms after the answer
  await alive(server);
  await connection.close();

  await server.kill9();
  await server.restart();
  const after = scope.track(await connectClient(server));
  const execution = { workflowId: request.workflowId, runId: started.runId };
  const described = await after.connection.workflowService.describeWorkflowExecution({ namespace: 'default', execution });
  const info = described.workflowExecutionInfo;
  assert.equal(Buffer.from(info.memo.fields.deep.data).toString(), deepMemo);
  assert.equal(JSON.parse(Buffer.from(info.searchAttributes.indexedFields.CustomKeywordField.data).toString()), keyword);
  const history = await after.client.workflow.getHandle(request.workflowId, started.runId).fetchHistory();
  const startedEvent = history.events[0].workflowExecutionStartedEventAttributes;
  assert.equal(Buffer.from(startedEvent.input.payloads[0].data).toString(), input);
  const listed = await after.connection.workflowService.listWorkflowExecutions({
    namespace: 'default',
    query: `CustomKeywordField = '${keyword}'`,
  });
  assert.deepEqual(listed.executions.map((e) => e.execution.workflowId), [request.workflowId]);
});

eonTest('a failure whose cause chain is 98 deep is accepted, stored bounded and read back after kill -9; deeper is refused', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  const first = await connectClient(server);
  const service = first.connection.workflowService;
  const taskQueue = uniqueId('robust-deep');
  const request = startRequest(taskQueue);
  const { runId } = await service.startWorkflowExecution(request);

  // Play the worker by hand: schedule one activity, take it, fail it.
  const wft = await service.pollWorkflowTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, identity: 'test' });
  assert.ok(wft.taskToken?.length, 'no workflow task');
  await service.respondWorkflowTaskCompleted({
    namespace: 'default',
    taskToken: wft.taskToken,
    identity: 'test',
    commands: [
      {
        commandType: enums.CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
        scheduleActivityTaskCommandAttributes: {
          activityId: 'deep',
          activityType: { name: 'Deep' },
          taskQueue: { name: taskQueue },
          startToCloseTimeout: { seconds: 60 },
          // Retried later: the activity stays pending, its last failure in the mutable state.
          retryPolicy: { maximumAttempts: 3, initialInterval: { seconds: 600 } },
        },
      },
    ],
  });
  const activity = await service.pollActivityTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, identity: 'test' });
  assert.ok(activity.taskToken?.length, 'no activity task');
  // Deeper than any request may nest (encoded by hand: the SDK's encoder stops at 100 itself):
  // refused with a message that says so.
  await rejectsWith(
    rawUnary(server, 'RespondActivityTaskFailed', Buffer.concat([
      field(1, activity.taskToken),
      field(2, encodedFailureChain(150)),
      field(4, Buffer.from('default')),
    ])),
    GRPC_INVALID_ARGUMENT,
    /nests messages deeper than 100 levels/,
  );
  // Input 6: 98 deep. It used to be acknowledged and then unreadable after a restart.
  await service.respondActivityTaskFailed({ namespace: 'default', taskToken: activity.taskToken, failure: failureChain(98) });
  await first.connection.close();

  await server.kill9();
  await server.restart();
  const after = scope.track(await connectClient(server));
  const execution = { workflowId: request.workflowId, runId };
  // Describe and history as bytes: the pending activity's last failure nests deeper than the
  // SDK's decoder goes (100 levels), as it would coming from a Temporal server.
  const described = await rawUnary(
    server,
    'DescribeWorkflowExecution',
    temporal.api.workflowservice.v1.DescribeWorkflowExecutionRequest.encode({ namespace: 'default', execution }).finish(),
  );
  // The pending activity keeps its last failure bounded, as Temporal does: a stand-in "Failure
  // exceeds size limit." whose cause is the worker's chain cut to 20 causes
  // (src/history/stored_failure.h).
  const text = described.toString('latin1');
  assert.ok(text.includes('Failure exceeds size limit.'), 'the pending activity lost its last failure');
  assert.ok(text.includes('level 1') && text.includes('level 20'), 'the top of the chain is kept');
  assert.ok(!text.includes('level 98'), 'the stored last failure was not cut to a bounded depth');
  await rawUnary(
    server,
    'GetWorkflowExecutionHistory',
    temporal.api.workflowservice.v1.GetWorkflowExecutionHistoryRequest.encode({ namespace: 'default', execution }).finish(),
  );
  await after.connection.workflowService.terminateWorkflowExecution({ namespace: 'default', workflowExecution: execution, reason: 'done' });
  const closed = await after.connection.workflowService.describeWorkflowExecution({ namespace: 'default', execution });
  assert.equal(closed.workflowExecutionInfo.status, enums.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_TERMINATED);
  assert.doesNotMatch(server.output, /corrupt/);
});

// A failure chain top-down ("level 1" on top), encoded by hand (Failure: message = 1, cause = 4).
function encodedTopDownChain(depth) {
  let failure = field(1, Buffer.from(`level ${depth}`));
  for (let i = depth - 1; i >= 1; i -= 1) failure = Buffer.concat([field(1, Buffer.from(`level ${i}`)), field(4, failure)]);
  return failure;
}
// google.protobuf.Any keeps its proto field names in this package (type_url, not typeUrl).
const anyOf = (type, value) => ({ type_url: `type.googleapis.com/${type}`, value });

eonTest('an update outcome 99 deep and a continued failure 98 deep (the deepest accepted) are stored bounded and read back after kill -9', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  const first = await connectClient(server);
  const service = first.connection.workflowService;
  const taskQueue = uniqueId('robust-update');
  const request = startRequest(taskQueue);
  const { runId } = await service.startWorkflowExecution(request);
  const execution = { workflowId: request.workflowId, runId };
  const poll = () => service.pollWorkflowTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, identity: 'test' });
  const wft1 = await poll();
  await service.respondWorkflowTaskCompleted({ namespace: 'default', taskToken: wft1.taskToken, identity: 'test' });

  // An update, completed by the worker with a failure chain 99 deep, the deepest accepted (the
  // Any body that carries it parses with protobuf's limit of 100 levels, out of the request
  // nesting limit's reach; 100 is refused as an unexpected body).
  const updateId = uniqueId('update');
  const updating = service.updateWorkflowExecution({
    namespace: 'default',
    workflowExecution: execution,
    request: { meta: { updateId, identity: 'test' }, input: { name: 'deep' } },
    waitPolicy: { lifecycleStage: enums.UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED },
  });
  const wft2 = await poll();
  assert.equal(wft2.messages?.length, 1, 'the update did not reach the workflow task');
  const requestMessage = wft2.messages[0];
  const response = Buffer.concat([
    field(1, field(1, Buffer.from(updateId))), // meta.update_id
    field(2, field(2, encodedTopDownChain(99))), // outcome.failure
  ]);
  await service.respondWorkflowTaskCompleted({
    namespace: 'default',
    taskToken: wft2.taskToken,
    identity: 'test',
    messages: [
      {
        id: 'accept',
        protocolInstanceId: updateId,
        body: anyOf('temporal.api.update.v1.Acceptance', temporal.api.update.v1.Acceptance.encode({
          acceptedRequestMessageId: requestMessage.id,
          acceptedRequestSequencingEventId: requestMessage.eventId,
        }).finish()),
      },
      { id: 'complete', protocolInstanceId: updateId, body: anyOf('temporal.api.update.v1.Response', response) },
    ],
    commands: [
      { commandType: enums.CommandType.COMMAND_TYPE_PROTOCOL_MESSAGE, protocolMessageCommandAttributes: { messageId: 'accept' } },
      { commandType: enums.CommandType.COMMAND_TYPE_PROTOCOL_MESSAGE, protocolMessageCommandAttributes: { messageId: 'complete' } },
    ],
  });
  const updated = await updating;
  assert.equal(updated.outcome?.failure?.message, 'Failure exceeds size limit.');

  // Then continue-as-new with a failure chain 98 deep (the request nesting limit refuses 99): the
  // next run starts with it as its continued failure.
  const wft3Promise = poll();
  await service.signalWorkflowExecution({ namespace: 'default', workflowExecution: execution, signalName: 'go', requestId: randomUUID() });
  const wft3 = await wft3Promise;
  const continueAsNew = Buffer.concat([
    field(1, Buffer.from(wft3.taskToken)),
    field(2, Buffer.concat([
      varint((1 << 3) | 0), varint(enums.CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION),
      field(11, Buffer.concat([ // continue_as_new_workflow_execution_command_attributes
        field(1, field(1, Buffer.from('Robust'))), // workflow_type
        field(2, field(1, Buffer.from(taskQueue))), // task_queue
        field(9, encodedTopDownChain(98)), // failure
      ])),
    ])),
    field(3, Buffer.from('test')), // identity
    field(9, Buffer.from('default')), // namespace
  ]);
  await rawUnary(server, 'RespondWorkflowTaskCompleted', continueAsNew);
  await first.connection.close();

  await server.kill9();
  await server.restart();
  const after = scope.track(await connectClient(server));
  const polled = await after.connection.workflowService.pollWorkflowExecutionUpdate({
    namespace: 'default',
    updateRef: { workflowExecution: execution, updateId },
    waitPolicy: { lifecycleStage: enums.UpdateWorkflowExecutionLifecycleStage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED },
  });
  const kept = polled.outcome.failure;
  assert.equal(kept.message, 'Failure exceeds size limit.');
  assert.equal(kept.cause.message, 'level 1', 'the top of the chain is kept');
  let depth = 0;
  for (let f = kept; f.cause; f = f.cause) depth += 1;
  assert.ok(depth <= 20, `the stored outcome nests ${depth} causes`);
  // The history (decoded by the SDK, which stops at 100 levels) holds the same bounded outcome.
  const history = await after.connection.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution });
  const completed = history.history.events.find((e) => e.workflowExecutionUpdateCompletedEventAttributes);
  assert.equal(completed.workflowExecutionUpdateCompletedEventAttributes.outcome.failure.message, 'Failure exceeds size limit.');
  const continued = history.history.events.find((e) => e.workflowExecutionContinuedAsNewEventAttributes);
  assert.ok(continued, 'the run did not continue as new');

  // The new run's first workflow task, decoded by the SDK: its continued failure is bounded.
  const next = await after.connection.workflowService.pollWorkflowTaskQueue({ namespace: 'default', taskQueue: { name: taskQueue }, identity: 'test' });
  const started = next.history.events[0].workflowExecutionStartedEventAttributes;
  assert.equal(next.workflowExecution.workflowId, request.workflowId);
  assert.notEqual(next.workflowExecution.runId, runId);
  assert.equal(started.continuedFailure.message, 'Failure exceeds size limit.');
  assert.equal(started.continuedFailure.cause.message, 'level 1');
  assert.doesNotMatch(server.output, /corrupt/);
});

eonTest('durations out of range and page tokens Eon did not write are refused, and the server keeps serving', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  const { connection } = scope.track(await connectClient(server));
  const service = connection.workflowService;
  await rejectsWith(
    service.startWorkflowExecution(startRequest('tq', { workflowRunTimeout: { seconds: 1, nanos: 1_000_000_000 } })),
    GRPC_INVALID_ARGUMENT,
    /invalid Duration workflow_run_timeout/,
  );
  await rejectsWith(
    service.startWorkflowExecution(
      startRequest('tq', { retryPolicy: { initialInterval: { seconds: '9223372036854775807' } } }),
    ),
    GRPC_INVALID_ARGUMENT,
    /invalid Duration retry_policy\.initial_interval/,
  );
  // Page tokens Eon did not write are refused, not read as a nearby valid one.
  await rejectsWith(
    service.listWorkflowExecutions({ namespace: 'default', nextPageToken: Buffer.from('5\0junk') }),
    GRPC_INVALID_ARGUMENT,
    /invalid next_page_token/,
  );
  await rejectsWith(
    service.listSchedules({ namespace: 'default', nextPageToken: Buffer.from('-1') }),
    GRPC_INVALID_ARGUMENT,
    /invalid next_page_token/,
  );
  const listed = startRequest('tq');
  const { runId } = await service.startWorkflowExecution(listed);
  await rejectsWith(
    service.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: listed.workflowId, runId },
      nextPageToken: Buffer.from('5\0junk'),
    }),
    GRPC_INVALID_ARGUMENT,
    /invalid next_page_token/,
  );
  await server.kill9();
  await server.restart();
  await alive(server);
  // Operators see tasks parked after failing again and again (none here).
  const parked = await runEon(['admin', 'parked-tasks', 'list', '--address', server.address]);
  assert.equal(parked.code, 0, parked.output);
  assert.match(parked.output, /No parked tasks\./);
  const retried = await runEon(['admin', 'parked-tasks', 'retry', '--address', server.address, '--output', 'json']);
  assert.equal(retried.code, 0, retried.output);
});

eonTest('the CLI refuses JSON input nested deeper than it will parse', async (t, scope) => {
  const server = scope.track(await EonServer.start());
  const out = await runEon(['workflow', 'start', '--address', server.address, '--type', 'T', '-t', 'q', '-i', nestedJson(50_000)]);
  assert.equal(out.code, 1, out.output);
  assert.match(out.output, /--input nests deeper than 64 levels/);
  await alive(server);
});
