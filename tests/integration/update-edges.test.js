'use strict';
// Updates at the edges, as Temporal answers them (docs/temporal-updates-and-children.md, A7):
// a poll without a wait policy does not wait; update waits are held to the caller's deadline;
// an update admitted when its run continues as new is retried by the client onto the new run;
// a run that closes answers its waiting updates. Probed through the raw gRPC API and the
// TypeScript SDK. Also the update features of Temporal's features suite that exist only in
// Python there (update/async_accepted's timeout, update/client_interceptor, non_durable_reject,
// self, task_failure, worker_restart, continue_as_new/updates_do_not_block_continue_as_new),
// ported to the TypeScript SDK.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');
const { status: Code } = require('@grpc/grpc-js');
const {
  Client,
  Connection,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
  defaultGrpcRetryOptions,
  makeGrpcRetryInterceptor,
} = require('@temporalio/client');
const { Context } = require('@temporalio/activity');
const { temporal, google } = require('@temporalio/proto');

const { eonTest, eventTypes, sharedEnv, startWorker, uniqueId } = require('./harness');

const Stage = temporal.api.enums.v1.UpdateWorkflowExecutionLifecycleStage;
const { CommandType, TaskQueueKind } = temporal.api.enums.v1;
const NAMESPACE = 'default';
const ABORTED_BY_CLOSE = 'workflow update was aborted by closing workflow';
const CLOSING = 'workflow operation can not be applied because workflow is closing';
const ACCEPTED_THEN_CLOSED = 'Workflow Update failed because the Workflow completed before the Update completed.';

// --------------------------------------------------------------------------- raw API helpers

/** A connection without the SDK's retry interceptor: every gRPC error reaches the caller. */
function connectRaw(server) {
  return Connection.connect({ address: server.address, interceptors: [] });
}

/** Runs `fn` with a gRPC deadline `ms` from now; resolves with [result or error, elapsed ms]. */
async function timed(connection, ms, fn) {
  const begin = Date.now();
  try {
    const result = ms ? await connection.withDeadline(Date.now() + ms, fn) : await fn();
    return [result, Date.now() - begin];
  } catch (err) {
    return [err, Date.now() - begin];
  }
}

function updateRequest(workflowId, updateId, name, args, { stage, runId, firstExecutionRunId } = {}) {
  const request = {
    namespace: NAMESPACE,
    workflowExecution: { workflowId, runId },
    firstExecutionRunId,
    request: {
      meta: { updateId, identity: 'update-edges-probe' },
      input: {
        name,
        args: args.length
          ? { payloads: args.map((a) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(JSON.stringify(a)) })) }
          : undefined,
      },
    },
  };
  if (stage !== undefined) request.waitPolicy = { lifecycleStage: stage };
  return request;
}

function pollRequest(workflowId, updateId, { stage, runId } = {}) {
  const request = { namespace: NAMESPACE, updateRef: { workflowExecution: { workflowId, runId }, updateId } };
  if (stage !== undefined) request.waitPolicy = { lifecycleStage: stage };
  return request;
}

function decodeJson(outcome) {
  return JSON.parse(Buffer.from(outcome.success.payloads[0].data).toString());
}

function assertGrpcError(err, code, message) {
  assert.ok(err instanceof Error && err.code !== undefined, `expected a gRPC error, got ${err?.stack ?? JSON.stringify(err)}`);
  assert.equal(err.code, code, `code of ${err.message}`);
  if (message) assert.equal(err.details, message);
}

/** Polls until the update is known to the server, the way the features harness does (no wait policy). */
async function waitUntilAdmitted(connection, workflowId, updateId) {
  for (let i = 0; i < 300; i += 1) {
    const [answer] = await timed(connection, 5_000, () =>
      connection.workflowService.pollWorkflowExecutionUpdate(pollRequest(workflowId, updateId)),
    );
    if (!(answer instanceof Error)) return answer;
    if (answer.code !== Code.NOT_FOUND) throw answer;
    await sleep(50);
  }
  throw new Error(`update ${updateId} was never admitted`);
}

/** The next workflow task of `taskQueue`, taken by hand (a worker written with the raw API). */
async function pollWorkflowTask(connection, taskQueue) {
  for (;;) {
    const task = await connection.workflowService.pollWorkflowTaskQueue({
      namespace: NAMESPACE,
      taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      identity: 'update-edges-probe',
    });
    if (task.taskToken?.length) return task;
  }
}

function completeTask(connection, task, commands) {
  return connection.workflowService.respondWorkflowTaskCompleted({
    namespace: NAMESPACE,
    taskToken: task.taskToken,
    identity: 'update-edges-probe',
    commands,
  });
}

/** A client whose connection counts its PollWorkflowExecutionUpdate calls (and retries as usual). */
async function countingClient(server) {
  const counts = { polls: 0 };
  const counter = (options, nextCall) => {
    if (options.method_definition.path.endsWith('/PollWorkflowExecutionUpdate')) counts.polls += 1;
    return nextCall(options);
  };
  const connection = await Connection.connect({
    address: server.address,
    interceptors: [counter, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())],
  });
  return { client: new Client({ connection, namespace: NAMESPACE }), connection, counts };
}

// --------------------------------------------------------------------------- activities

let release;
const released = new Promise((resolve) => {
  release = resolve;
});
let blockStarts = 0;
let blockStarted;
const env = sharedEnv({
  activities: {
    async selfUpdate() {
      const { workflowId } = Context.current().info.workflowExecution;
      await env.client.workflow.getHandle(workflowId).executeUpdate('updateMe');
    },
  },
});

/** An activity for update/worker_restart: reports its start, then waits to be released. */
const blockingActivities = {
  async blocks() {
    blockStarts += 1;
    blockStarted?.();
    await Promise.race([released, Context.current().cancelled]);
    return 'hi';
  },
};

// --------------------------------------------------------------------------- tests

describe('update polls and deadlines', () => {
  eonTest('a poll without a wait policy answers at once; waits are held to the caller deadline', async (t, scope) => {
    const raw = await connectRaw(env.server);
    scope.add(() => raw.close());
    const ws = raw.workflowService;
    const idleQueue = uniqueId('no-worker');
    const handle = await env.client.workflow.start('counter', { taskQueue: idleQueue, workflowId: uniqueId('edges') });
    const { workflowId } = handle;

    // Admitted (no worker takes it): the caller's deadline ends the call, not the update. The
    // deadline must outlast the server's reading of the call: one that ends before the server
    // reads it admits nothing (as in Temporal), and 300 ms did so once on a loaded CI machine.
    const accepted = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED;
    const [admit] = await timed(raw, 2_000, () =>
      ws.updateWorkflowExecution(updateRequest(workflowId, 'u1', 'add', [5], { stage: accepted })),
    );
    assertGrpcError(admit, Code.DEADLINE_EXCEEDED);

    const [unknown] = await timed(raw, 5_000, () => ws.pollWorkflowExecutionUpdate(pollRequest(workflowId, 'nope')));
    assertGrpcError(unknown, Code.NOT_FOUND, 'update "nope" not found');

    const noWait = [
      undefined,
      Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_UNSPECIFIED,
      Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED,
    ];
    for (const stage of noWait) {
      const [answer, ms] = await timed(raw, 5_000, () => ws.pollWorkflowExecutionUpdate(pollRequest(workflowId, 'u1', { stage })));
      assert.ok(!(answer instanceof Error), `poll (stage ${stage}) failed: ${answer?.stack}`);
      assert.equal(answer.stage, Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED);
      assert.ok(!answer.outcome, `a poll (stage ${stage}) of an admitted update has an outcome`);
      assert.equal(answer.updateRef.workflowExecution.runId, handle.firstExecutionRunId);
      assert.ok(ms < 2_000, `a non-blocking poll (stage ${stage}) took ${ms} ms`);
    }

    // Waiting polls and update calls end at the caller's deadline, not earlier.
    for (const deadlineMs of [1_500, 5_000]) {
      const [poll, pollMs] = await timed(raw, deadlineMs, () =>
        ws.pollWorkflowExecutionUpdate(pollRequest(workflowId, 'u1', { stage: accepted })),
      );
      assertGrpcError(poll, Code.DEADLINE_EXCEEDED);
      assert.ok(pollMs >= deadlineMs - 500, `a poll with a ${deadlineMs} ms deadline returned after ${pollMs} ms`);
    }
    const completed = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED;
    const [again, againMs] = await timed(raw, 1_500, () =>
      ws.updateWorkflowExecution(updateRequest(workflowId, 'u1', 'add', [5], { stage: completed })),
    );
    assertGrpcError(again, Code.DEADLINE_EXCEEDED);
    assert.ok(againMs >= 1_000, `an update call with a 1.5 s deadline returned after ${againMs} ms`);

    // A worker comes: the update completes; a non-blocking poll then answers its outcome.
    scope.track(await startWorker(env.server, { taskQueue: idleQueue }));
    let done;
    for (let i = 0; i < 200 && !done?.outcome; i += 1) {
      const [answer] = await timed(raw, 5_000, () => ws.pollWorkflowExecutionUpdate(pollRequest(workflowId, 'u1')));
      assert.ok(!(answer instanceof Error), `poll failed: ${answer?.stack}`);
      done = answer;
      if (!done.outcome) await sleep(50);
    }
    assert.equal(done.stage, Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED);
    assert.equal(decodeJson(done.outcome), 5);

    // UpdateWorkflowExecution without a wait policy waits for the outcome (Temporal's default).
    const [plain] = await timed(raw, 30_000, () => ws.updateWorkflowExecution(updateRequest(workflowId, 'u2', 'add', [2])));
    assert.ok(!(plain instanceof Error), `update failed: ${plain?.stack}`);
    assert.equal(plain.stage, Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_COMPLETED);
    assert.equal(decodeJson(plain.outcome), 7);
    await handle.signal('finish');
    assert.equal(await handle.result(), 7);
  });

  // update/async_accepted, with the Python flavour's rpc-timeout check.
  eonTest('async accepted updates; result() with a 1 s deadline ends as soon as the update does, polling once', async (t, scope) => {
    const { client, connection, counts } = await countingClient(env.server);
    scope.add(() => connection.close());
    const handle = await client.workflow.start('asyncAccepted', { taskQueue: env.taskQueue, workflowId: uniqueId('async-accepted') });

    const sleepy = await handle.startUpdate('doMaybeWait', { args: [true], waitForStage: 'ACCEPTED', updateId: 'sleepy_update' });
    await handle.signal('unblock');
    assert.equal(await sleepy.result(), 123);

    const failing = await handle.startUpdate('doMaybeWait', { args: [false], waitForStage: 'ACCEPTED', updateId: 'failing_update' });
    await assert.rejects(failing.result(), (err) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `got ${err?.stack ?? err}`);
      assert.equal(err.cause?.message, 'Dying on purpose');
      return true;
    });

    // Never unblocked: a 1 s deadline ends result() after one poll, not before ~1 s.
    const stuck = await handle.startUpdate('doMaybeWait', { args: [true], waitForStage: 'ACCEPTED', updateId: 'timeout_update' });
    counts.polls = 0;
    const [timedOut, timedOutMs] = await timed(connection, 1_000, () => stuck.result());
    assert.ok(timedOut instanceof WorkflowUpdateRPCTimeoutOrCancelledError, `got ${timedOut?.stack ?? timedOut}`);
    assert.ok(timedOutMs >= 500, `result() with a 1 s deadline gave up after ${timedOutMs} ms`);
    assert.equal(counts.polls, 1, 'result() polled more than once within its deadline');

    // Unblocked while result() waits under a 1 s deadline: the answer comes from that one poll.
    setTimeout(() => handle.signal('unblock').catch(() => {}), 100);
    counts.polls = 0;
    const [value, valueMs] = await timed(connection, 1_000, () => stuck.result());
    assert.equal(value, 123, `got ${value?.stack ?? value} after ${valueMs} ms`);
    assert.equal(counts.polls, 1, 'result() polled more than once');

    // Accepted and still running when the workflow completes: the update fails, as in Temporal.
    const leftOver = await handle.startUpdate('doMaybeWait', { args: [true], waitForStage: 'ACCEPTED', updateId: 'left_over' });
    await handle.signal('finish');
    assert.equal(await handle.result(), 'Hello, World!');
    await assert.rejects(leftOver.result(), (err) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `got ${err?.stack ?? err}`);
      assert.equal(err.cause?.message, ACCEPTED_THEN_CLOSED);
      assert.equal(err.cause?.type, 'AcceptedUpdateCompletedWorkflow');
      return true;
    });
  });
});

describe('updates and runs that close', () => {
  // continue_as_new/updates_do_not_block_continue_as_new. The first run's workflow task is held
  // by hand (raw API), so the updates are admitted while it runs; it then continues as new onto
  // the SDK worker's queue.
  eonTest('an update admitted while the run continues as new lands on the new run', async (t, scope) => {
    const raw = await connectRaw(env.server);
    scope.add(() => raw.close());
    const firstQueue = uniqueId('by-hand');
    const handle = await env.client.workflow.start('updatedAfterContinue', {
      taskQueue: firstQueue,
      workflowId: uniqueId('can-update'),
      workflowExecutionTimeout: '1 minute',
    });
    const firstRunId = handle.firstExecutionRunId;
    const task = await pollWorkflowTask(raw, firstQueue);

    const viaSdk = handle.executeUpdate('whichRun', { updateId: 'update-id' });
    const viaRaw = timed(raw, 30_000, () =>
      raw.workflowService.updateWorkflowExecution(
        updateRequest(handle.workflowId, 'raw-update', 'whichRun', [], { firstExecutionRunId: firstRunId }),
      ),
    );
    for (const updateId of ['update-id', 'raw-update']) {
      const admitted = await waitUntilAdmitted(raw, handle.workflowId, updateId);
      assert.equal(admitted.stage, Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ADMITTED);
      assert.equal(admitted.updateRef.workflowExecution.runId, firstRunId);
    }
    await completeTask(raw, task, [
      {
        commandType: CommandType.COMMAND_TYPE_CONTINUE_AS_NEW_WORKFLOW_EXECUTION,
        continueAsNewWorkflowExecutionCommandAttributes: {
          workflowType: { name: 'updatedAfterContinue' },
          taskQueue: { name: env.taskQueue },
        },
      },
    ]);

    // Without the client's retries, the caller sees Temporal's retryable "workflow is closing".
    const [closing] = await viaRaw;
    assertGrpcError(closing, Code.RESOURCE_EXHAUSTED, CLOSING);
    const details = google.rpc.Status.decode(closing.metadata.get('grpc-status-details-bin')[0]);
    assert.equal(details.details[0].type_url, 'type.googleapis.com/temporal.api.errordetails.v1.ResourceExhaustedFailure');
    const why = temporal.api.errordetails.v1.ResourceExhaustedFailure.decode(details.details[0].value);
    assert.equal(why.cause, temporal.api.enums.v1.ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_BUSY_WORKFLOW);
    assert.equal(why.scope, temporal.api.enums.v1.ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE);

    // The SDK retries it; it lands on the new run.
    const updateRunId = await viaSdk;
    assert.ok(updateRunId && updateRunId !== firstRunId, `the update ran on ${updateRunId}, the first run is ${firstRunId}`);
    assert.equal(await handle.result(), updateRunId);
    const updateEvents = (types) => types.filter((e) => e.startsWith('WORKFLOW_EXECUTION_UPDATE_'));
    const firstTypes = eventTypes(await env.client.workflow.getHandle(handle.workflowId, firstRunId).fetchHistory());
    assert.deepEqual(updateEvents(firstTypes), [], 'update events in the first run');
    assert.equal(firstTypes.at(-1), 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
    const newTypes = eventTypes(await env.client.workflow.getHandle(handle.workflowId, updateRunId).fetchHistory());
    assert.deepEqual(updateEvents(newTypes), ['WORKFLOW_EXECUTION_UPDATE_ACCEPTED', 'WORKFLOW_EXECUTION_UPDATE_COMPLETED']);

    // The closed run no longer knows the update it never accepted.
    const [late] = await timed(raw, 5_000, () =>
      raw.workflowService.updateWorkflowExecution(updateRequest(handle.workflowId, 'raw-update', 'whichRun', [], { runId: firstRunId })),
    );
    assertGrpcError(late, Code.NOT_FOUND, 'workflow execution already completed');
  });

  eonTest('a run that completes, is terminated or times out answers its waiting updates as Temporal does', async (t, scope) => {
    const raw = await connectRaw(env.server);
    scope.add(() => raw.close());
    const ws = raw.workflowService;
    const accepted = Stage.UPDATE_WORKFLOW_EXECUTION_LIFECYCLE_STAGE_ACCEPTED;

    // Completes (by a command) while an update waits to be delivered: NOT_FOUND, aborted.
    const byHand = uniqueId('by-hand');
    const completing = await env.client.workflow.start('counter', { taskQueue: byHand, workflowId: uniqueId('completes') });
    const task = await pollWorkflowTask(raw, byHand);
    const waiting = timed(raw, 30_000, () => ws.updateWorkflowExecution(updateRequest(completing.workflowId, 'a', 'add', [1])));
    await waitUntilAdmitted(raw, completing.workflowId, 'a');
    await completeTask(raw, task, [
      {
        commandType: CommandType.COMMAND_TYPE_COMPLETE_WORKFLOW_EXECUTION,
        completeWorkflowExecutionCommandAttributes: {},
      },
    ]);
    assertGrpcError((await waiting)[0], Code.NOT_FOUND, ABORTED_BY_CLOSE);
    await assert.rejects(completing.executeUpdate('add', { args: [1], updateId: 'a' }), WorkflowNotFoundError);

    // Terminated: a waiting poll of an admitted update gets NOT_FOUND; an accepted one fails.
    const idle = await env.client.workflow.start('counter', { taskQueue: uniqueId('no-worker'), workflowId: uniqueId('terminated') });
    await timed(raw, 300, () => ws.updateWorkflowExecution(updateRequest(idle.workflowId, 'b', 'add', [1], { stage: accepted })));
    const polling = timed(raw, 30_000, () => ws.pollWorkflowExecutionUpdate(pollRequest(idle.workflowId, 'b', { stage: accepted })));
    await sleep(200);
    await idle.terminate('enough');
    assertGrpcError((await polling)[0], Code.NOT_FOUND, ABORTED_BY_CLOSE);

    const busy = await env.client.workflow.start('counter', { taskQueue: env.taskQueue, workflowId: uniqueId('terminated') });
    const slow = await busy.startUpdate('slowAdd', { args: [1, 600_000], waitForStage: 'ACCEPTED' });
    await busy.terminate('enough');
    await assert.rejects(slow.result(), (err) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `got ${err?.stack ?? err}`);
      assert.equal(err.cause?.message, ACCEPTED_THEN_CLOSED);
      return true;
    });

    // Times out with no run after it: NOT_FOUND, aborted.
    const timingOut = await env.client.workflow.start('counter', {
      taskQueue: uniqueId('no-worker'),
      workflowId: uniqueId('times-out'),
      workflowExecutionTimeout: '2s',
    });
    const [timeoutAnswer] = await timed(raw, 30_000, () => ws.updateWorkflowExecution(updateRequest(timingOut.workflowId, 'c', 'add', [1])));
    assertGrpcError(timeoutAnswer, Code.NOT_FOUND, ABORTED_BY_CLOSE);

    // Times out and is retried as a new run: the retryable "workflow is closing".
    const retried = await env.client.workflow.start('counter', {
      taskQueue: uniqueId('no-worker'),
      workflowId: uniqueId('retried'),
      workflowRunTimeout: '2s',
      retry: { maximumAttempts: 2, initialInterval: '1s' },
    });
    const [retryAnswer] = await timed(raw, 30_000, () => ws.updateWorkflowExecution(updateRequest(retried.workflowId, 'd', 'add', [1])));
    assertGrpcError(retryAnswer, Code.RESOURCE_EXHAUSTED, CLOSING);
    await retried.terminate('enough');
  });
});

describe('update features ported from the Python flavour', () => {
  // update/client_interceptor
  eonTest('a client interceptor can change the update arguments', async (t, scope) => {
    const client = new Client({
      connection: env.connection,
      interceptors: {
        workflow: [
          {
            async startUpdate(input, next) {
              if (input.updateName === 'add') return next({ ...input, args: [input.args[0] + 1] });
              return next(input);
            },
          },
        ],
      },
    });
    const handle = await client.workflow.start('counter', { taskQueue: env.taskQueue, workflowId: uniqueId('interceptor') });
    assert.equal(await handle.executeUpdate('add', { args: [1] }), 2);
    await handle.signal('finish');
    assert.equal(await handle.result(), 2);
  });

  // update/non_durable_reject
  eonTest('validator rejections are not durable', async () => {
    const handle = await env.client.workflow.start('counter', { taskQueue: env.taskQueue, workflowId: uniqueId('reject') });
    for (let i = 0; i < 5; i += 1) {
      await assert.rejects(handle.executeUpdate('add', { args: [-1] }), WorkflowUpdateFailedError);
      assert.equal(await handle.executeUpdate('add', { args: [1] }), i + 1);
    }
    await handle.signal('finish');
    assert.equal(await handle.result(), 5);
    const types = eventTypes(await handle.fetchHistory());
    assert.equal(types.filter((e) => e === 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED').length, 5);
    assert.equal(types.filter((e) => e === 'WORKFLOW_EXECUTION_UPDATE_REJECTED').length, 0);
  });

  // update/self
  eonTest('an activity can update its own workflow', async () => {
    const handle = await env.client.workflow.start('updatesItself', { taskQueue: env.taskQueue, workflowId: uniqueId('self') });
    assert.equal(await handle.result(), 'Hello, World!');
  });

  // update/task_failure (the Python flavour counts task failures in a global; here a signal
  // ends them, since a TypeScript workflow's globals do not outlive an evicted run).
  eonTest('an update handler that throws fails the task; an ApplicationFailure fails the update', async () => {
    const handle = await env.client.workflow.start('updateTaskFailure', {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('task-failure'),
      workflowTaskTimeout: '2s',
    });
    const failing = handle.executeUpdate('doUpdate');
    failing.catch(() => {});
    let types = [];
    for (let i = 0; i < 300 && !types.includes('WORKFLOW_TASK_FAILED'); i += 1) {
      await sleep(50);
      types = eventTypes(await handle.fetchHistory());
    }
    assert.ok(types.includes('WORKFLOW_TASK_FAILED'), `no failed workflow task in ${types}`);
    await handle.signal('stopFailingTasks');
    await assert.rejects(failing, (err) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `got ${err?.stack ?? err}`);
      assert.equal(err.cause?.message, "I'll fail update");
      return true;
    });
    await assert.rejects(handle.executeUpdate('throwOrDone', { args: [true] }), (err) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `got ${err?.stack ?? err}`);
      assert.match(err.cause?.message ?? '', /This will fail validation, not task/);
      return true;
    });
    await handle.executeUpdate('throwOrDone', { args: [false] });
    assert.equal(await handle.result(), 'Hello, World!');
  });

  // update/worker_restart
  eonTest('an update whose activity outlives its worker completes on the next worker', async (t, scope) => {
    const taskQueue = uniqueId('restart');
    let worker = await startWorker(env.server, { taskQueue, activities: blockingActivities });
    scope.add(() => worker.shutdown());
    const handle = await env.client.workflow.start('updateRunsActivity', { taskQueue, workflowId: uniqueId('restart') });
    const started = new Promise((resolve) => {
      blockStarted = resolve;
    });
    const update = handle.executeUpdate('doActivities');
    update.catch(() => {});
    await started;
    await worker.shutdown();
    worker = await startWorker(env.server, { taskQueue, activities: blockingActivities });
    release();
    await update;
    assert.equal(await handle.result(), 'Hello, World!');
    assert.ok(blockStarts >= 2, `the activity started ${blockStarts} time(s)`);
  });
});
