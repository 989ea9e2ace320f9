'use strict';
// Workflow features run by the server: timers, signals (and signal-with-start), workflow
// cancellation, continue-as-new, workflow id reuse and conflict policies, run and execution
// timeouts, workflow retries, cron, markers (patches), deterministic randomness across a replay,
// search attributes and memo, and timers and signals across kill -9.
//
// The tests of the shared server run concurrently (they use their own workflow ids) so that
// the whole file stays short; the kill -9 tests each run their own server on a database file.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');
const { Context } = require('@temporalio/activity');
const {
  ServiceError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
} = require('@temporalio/client');
const {
  ApplicationFailure,
  CancelledFailure,
  RetryState,
  TimeoutFailure,
  defaultPayloadConverter,
} = require('@temporalio/common');
const { temporal } = require('@temporalio/proto');

const {
  EonServer,
  connectClient,
  countEvents,
  eonTest,
  eventTypes,
  sharedEnv,
  startWorker,
  uniqueId,
  withTimeout,
} = require('./harness');

const enums = temporal.api.enums.v1;
const GRPC_INVALID_ARGUMENT = 3;
// Bound for a result that the server should deliver at once (a few workflow tasks and backoffs),
// as the close of the run wakes the client's history long poll. A server that missed that
// wake-up would answer only when the long poll expires, after 20 s (FrontendOptions::
// history_poll_max), so the bound sits well below it and well above what a few tasks take on a
// loaded machine or under ASan (5 s was too tight there).
const HISTORY_LONG_POLL_MS = 20_000;
const PROMPT_MS = HISTORY_LONG_POLL_MS - 5_000;

// ---------------------------------------------------------------------------
// activities (what they saw is kept here for the tests)

const cleanedUp = []; // tags given to cleanup()
const echoed = new Map(); // workflow id -> argument of echo()

const activities = {
  async cleanup(tag) {
    cleanedUp.push(tag);
    return `cleaned up ${tag}`;
  },
  async echo(value) {
    echoed.set(Context.current().info.workflowExecution.workflowId, value);
    return value;
  },
};

// ---------------------------------------------------------------------------
// helpers

/** Resolves with the error `promise` rejects with; fails the test if it resolves. */
async function rejection(promise) {
  let value;
  try {
    value = await promise;
  } catch (err) {
    return err;
  }
  assert.fail(`expected the promise to reject, it resolved with ${JSON.stringify(value)}`);
}

function typeOf(event) {
  return eventTypes({ events: [event] })[0];
}

function eventsOf(history, type) {
  return history.events.filter((ev) => typeOf(ev) === type);
}

function onlyEvent(history, type) {
  const found = eventsOf(history, type);
  assert.equal(found.length, 1, `expected exactly one ${type} in ${historyText(history)}`);
  return found[0];
}

function historyText(history) {
  return eventTypes(history).join(', ');
}

function durationMs(d) {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + Math.round(Number(d.nanos ?? 0) / 1e6);
}

function timestampMs(ts) {
  return Number(ts.seconds ?? 0) * 1000 + Number(ts.nanos ?? 0) / 1e6;
}

function decodePayloads(payloads) {
  return (payloads?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p));
}

function decodePayload(payload) {
  return defaultPayloadConverter.fromPayload(payload);
}

/** Polls the history of `handle` until `pred(history)` holds; returns that history. */
async function waitForHistory(handle, pred, what, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const history = await handle.fetchHistory();
    if (pred(history)) return history;
    if (Date.now() > deadline) {
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}; history: ${historyText(history)}`);
    }
    await sleep(50);
  }
}

function waitForEvent(handle, type, count = 1) {
  return waitForHistory(handle, (h) => countEvents(h, type) >= count, `${count} x ${type}`);
}

/** Attributes of the first event of `history` (WorkflowExecutionStarted). */
function startedAttrs(history) {
  assert.equal(typeOf(history.events[0]), 'WORKFLOW_EXECUTION_STARTED', historyText(history));
  return history.events[0].workflowExecutionStartedEventAttributes;
}

/** The last event of `history`, which must be of type `type`. */
function closeEvent(history, type) {
  const last = history.events.at(-1);
  assert.equal(typeOf(last), type, historyText(history));
  return last;
}

function assertEventIds(history) {
  assert.deepEqual(
    history.events.map((ev) => Number(ev.eventId)),
    history.events.map((_, i) => i + 1),
    `event ids must be 1, 2, 3, ...: ${historyText(history)}`,
  );
}

const FIRST_TASK = ['WORKFLOW_EXECUTION_STARTED', 'WORKFLOW_TASK_SCHEDULED', 'WORKFLOW_TASK_STARTED', 'WORKFLOW_TASK_COMPLETED'];
const TASK = ['WORKFLOW_TASK_SCHEDULED', 'WORKFLOW_TASK_STARTED', 'WORKFLOW_TASK_COMPLETED'];

// ---------------------------------------------------------------------------

describe('workflow features', { concurrency: true }, () => {
  describe('on a shared server', () => {
    const env = sharedEnv({ activities });

    const start = (workflow, args = [], options = {}) =>
      env.client.workflow.start(workflow, {
        taskQueue: env.taskQueue,
        workflowId: options.workflowId ?? uniqueId(workflow),
        args,
        ...options,
      });

    const handleOf = (workflowId, runId) => env.client.workflow.getHandle(workflowId, runId);

    // ------------------------------------------------------------------ 1. timers

    describe('timers', () => {
      eonTest("sleep('500ms'): TIMER_STARTED then TIMER_FIRED, and the workflow takes at least 0.5 s", async () => {
        const began = Date.now();
        const handle = await start('sleeper', [500]);
        assert.equal(await handle.result(), 500);
        const elapsed = Date.now() - began;
        assert.ok(elapsed >= 500, `the workflow took ${elapsed} ms`);

        const history = await handle.fetchHistory();
        assert.deepEqual(eventTypes(history), [
          ...FIRST_TASK,
          'TIMER_STARTED',
          'TIMER_FIRED',
          ...TASK,
          'WORKFLOW_EXECUTION_COMPLETED',
        ]);
        assertEventIds(history);
        const [, , , , timerStarted, timerFired] = history.events;
        const started = timerStarted.timerStartedEventAttributes;
        assert.equal(durationMs(started.startToFireTimeout), 500);
        assert.equal(Number(started.workflowTaskCompletedEventId), 4);
        assert.ok(started.timerId, 'timerId is empty');
        const fired = timerFired.timerFiredEventAttributes;
        assert.equal(fired.timerId, started.timerId);
        assert.equal(Number(fired.startedEventId), 5);
        const gap = timestampMs(timerFired.eventTime) - timestampMs(timerStarted.eventTime);
        assert.ok(gap >= 499.999 && gap < 2000, `TIMER_FIRED is ${gap} ms after TIMER_STARTED, expected ~500`);
      });

      eonTest('a timer cancelled through its CancellationScope: TIMER_CANCELED', async () => {
        const handle = await start('cancelTimerOnSignal');
        await waitForEvent(handle, 'TIMER_STARTED');
        await handle.signal('stop');
        assert.equal(await handle.result(), 'timer cancelled');

        const history = await handle.fetchHistory();
        assert.deepEqual(eventTypes(history), [
          ...FIRST_TASK,
          'TIMER_STARTED',
          'WORKFLOW_EXECUTION_SIGNALED',
          ...TASK,
          'TIMER_CANCELED',
          'WORKFLOW_EXECUTION_COMPLETED',
        ]);
        assertEventIds(history);
        const started = onlyEvent(history, 'TIMER_STARTED').timerStartedEventAttributes;
        const canceled = onlyEvent(history, 'TIMER_CANCELED').timerCanceledEventAttributes;
        assert.equal(canceled.timerId, started.timerId);
        assert.equal(Number(canceled.startedEventId), 5);
        assert.equal(Number(canceled.workflowTaskCompletedEventId), 9);
        assert.equal(countEvents(history, 'TIMER_FIRED'), 0);
        assert.equal((await handle.describe()).status.name, 'COMPLETED');
      });

      eonTest("sleep('1ms') fires", async () => {
        const handle = await start('sleeper', [1]);
        assert.equal(await handle.result(), 1);
        const history = await handle.fetchHistory();
        assert.equal(countEvents(history, 'TIMER_STARTED'), 1, historyText(history));
        assert.equal(countEvents(history, 'TIMER_FIRED'), 1, historyText(history));
        closeEvent(history, 'WORKFLOW_EXECUTION_COMPLETED');
      });

      eonTest('concurrent timers fire in the order of their durations', async () => {
        const durations = [1200, 400, 800, 100];
        const handle = await start('timersInOrder', [durations]);
        assert.deepEqual(await handle.result(), [100, 400, 800, 1200]);

        const history = await handle.fetchHistory();
        const types = eventTypes(history);
        // All four timers are started by the first workflow task, in the order of the array.
        assert.deepEqual(types.slice(0, 8), [...FIRST_TASK, 'TIMER_STARTED', 'TIMER_STARTED', 'TIMER_STARTED', 'TIMER_STARTED']);
        const durationOf = new Map(
          eventsOf(history, 'TIMER_STARTED').map((ev) => [
            ev.timerStartedEventAttributes.timerId,
            durationMs(ev.timerStartedEventAttributes.startToFireTimeout),
          ]),
        );
        assert.deepEqual([...durationOf.values()], durations);
        const firedOrder = eventsOf(history, 'TIMER_FIRED').map((ev) => durationOf.get(ev.timerFiredEventAttributes.timerId));
        assert.deepEqual(firedOrder, [100, 400, 800, 1200], historyText(history));
        closeEvent(history, 'WORKFLOW_EXECUTION_COMPLETED');
      });
    });

    // ------------------------------------------------------------------ 2. signals

    describe('signals', () => {
      eonTest('a workflow waiting in condition() completes after handle.signal()', async () => {
        const handle = await start('waitForSignal');
        await waitForEvent(handle, 'WORKFLOW_TASK_COMPLETED');
        assert.equal((await handle.describe()).status.name, 'RUNNING');
        await handle.signal('unblock', 'go');
        assert.equal(await handle.result(), 'go');

        const history = await handle.fetchHistory();
        assert.deepEqual(eventTypes(history), [
          ...FIRST_TASK,
          'WORKFLOW_EXECUTION_SIGNALED',
          ...TASK,
          'WORKFLOW_EXECUTION_COMPLETED',
        ]);
        const signaled = onlyEvent(history, 'WORKFLOW_EXECUTION_SIGNALED').workflowExecutionSignaledEventAttributes;
        assert.equal(signaled.signalName, 'unblock');
        assert.deepEqual(decodePayloads(signaled.input), ['go']);
      });

      eonTest('signal input is delivered byte-exactly (unicode, nested objects)', async () => {
        const value = {
          text: 'héllo wörld – 日本語 – 🌍🚀 – "quotes" \\ back\\slash \n newline \u0000 nul',
          nested: { list: [1, 'two', { three: 3.5, deep: [[[]]] }], nil: null, yes: true, no: false },
          big: 2 ** 52 + 1,
          empty: {},
        };
        const handle = await start('waitForSignal');
        await handle.signal('unblock', value);
        assert.deepEqual(await handle.result(), value);

        const history = await handle.fetchHistory();
        const signaled = onlyEvent(history, 'WORKFLOW_EXECUTION_SIGNALED').workflowExecutionSignaledEventAttributes;
        const [payload] = signaled.input.payloads;
        const expected = defaultPayloadConverter.toPayload(value);
        assert.equal(Buffer.from(payload.data).toString('hex'), Buffer.from(expected.data).toString('hex'));
        assert.equal(Buffer.from(payload.metadata.encoding).toString(), 'json/plain');
      });

      eonTest('20 signals sent one after the other are all delivered, in order, exactly once', async () => {
        const count = 20;
        const handle = await start('collectSignals', [count]);
        // No waiting: the first ones arrive before or while the first workflow task runs.
        for (let i = 0; i < count; i += 1) {
          await handle.signal('add', i);
        }
        const expected = Array.from({ length: count }, (_, i) => i);
        assert.deepEqual(await handle.result(), expected);

        const history = await handle.fetchHistory();
        const signaled = eventsOf(history, 'WORKFLOW_EXECUTION_SIGNALED');
        assert.equal(signaled.length, count, historyText(history));
        assert.deepEqual(
          signaled.map((ev) => decodePayloads(ev.workflowExecutionSignaledEventAttributes.input)[0]),
          expected,
        );
        assertEventIds(history);
        closeEvent(history, 'WORKFLOW_EXECUTION_COMPLETED');
      });

      eonTest('20 signals sent concurrently are all delivered exactly once, in history order', async () => {
        const count = 20;
        const handle = await start('collectSignals', [count]);
        await Promise.all(Array.from({ length: count }, (_, i) => handle.signal('add', i)));
        const result = await handle.result();
        assert.deepEqual([...result].sort((a, b) => a - b), Array.from({ length: count }, (_, i) => i));

        const history = await handle.fetchHistory();
        const signaled = eventsOf(history, 'WORKFLOW_EXECUTION_SIGNALED');
        assert.equal(signaled.length, count, historyText(history));
        assert.deepEqual(
          signaled.map((ev) => decodePayloads(ev.workflowExecutionSignaledEventAttributes.input)[0]),
          result,
          'the workflow saw the signals in another order than the history records them',
        );
      });

      eonTest('signalling a completed workflow rejects with WorkflowNotFoundError', async () => {
        const handle = await start('returnValue', ['finished']);
        assert.equal(await handle.result(), 'finished');
        const err = await rejection(handle.signal('unblock', 'too late'));
        assert.ok(err instanceof WorkflowNotFoundError, `expected WorkflowNotFoundError, got ${err?.stack ?? err}`);
        assert.equal(countEvents(await handle.fetchHistory(), 'WORKFLOW_EXECUTION_SIGNALED'), 0);

        const missing = await rejection(handleOf(uniqueId('never-started')).signal('unblock', 1));
        assert.ok(missing instanceof WorkflowNotFoundError, `expected WorkflowNotFoundError, got ${missing?.stack ?? missing}`);
      });

      eonTest('signalWithStart starts the workflow with the signal first, then only signals it', async () => {
        const workflowId = uniqueId('sws');
        const options = { taskQueue: env.taskQueue, workflowId, args: [2], signal: 'add' };
        const first = await env.client.workflow.signalWithStart('collectSignals', { ...options, signalArgs: ['first'] });
        assert.ok(first.signaledRunId, 'signaledRunId is empty');
        await waitForEvent(first, 'WORKFLOW_TASK_COMPLETED');

        const second = await env.client.workflow.signalWithStart('collectSignals', { ...options, signalArgs: ['second'] });
        assert.equal(second.signaledRunId, first.signaledRunId, 'signalWithStart on a running workflow started a new run');
        assert.deepEqual(await first.result(), ['first', 'second']);

        const history = await handleOf(workflowId, first.signaledRunId).fetchHistory();
        assert.deepEqual(eventTypes(history), [
          'WORKFLOW_EXECUTION_STARTED',
          'WORKFLOW_EXECUTION_SIGNALED',
          ...TASK,
          'WORKFLOW_EXECUTION_SIGNALED',
          ...TASK,
          'WORKFLOW_EXECUTION_COMPLETED',
        ]);
        assert.deepEqual(
          eventsOf(history, 'WORKFLOW_EXECUTION_SIGNALED').map((ev) => [
            ev.workflowExecutionSignaledEventAttributes.signalName,
            decodePayloads(ev.workflowExecutionSignaledEventAttributes.input)[0],
          ]),
          [
            ['add', 'first'],
            ['add', 'second'],
          ],
        );
        const description = await handleOf(workflowId).describe();
        assert.equal(description.runId, first.signaledRunId);
        assert.equal(description.status.name, 'COMPLETED');
      });
    });

    // ------------------------------------------------------------------ 3. cancellation

    describe('cancellation', () => {
      eonTest('handle.cancel(): CANCEL_REQUESTED, then the workflow ends CANCELED', async () => {
        const handle = await start('sleeper', [3_600_000]);
        await waitForEvent(handle, 'TIMER_STARTED');
        await handle.cancel();

        const err = await rejection(handle.result());
        assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${err?.stack ?? err}`);
        assert.ok(err.cause instanceof CancelledFailure, `expected CancelledFailure cause, got ${err.cause}`);
        assert.equal((await handle.describe()).status.name, 'CANCELLED');

        const history = await handle.fetchHistory();
        assert.deepEqual(eventTypes(history), [
          ...FIRST_TASK,
          'TIMER_STARTED',
          'WORKFLOW_EXECUTION_CANCEL_REQUESTED',
          ...TASK,
          'TIMER_CANCELED',
          'WORKFLOW_EXECUTION_CANCELED',
        ]);
        assertEventIds(history);
        const canceled = closeEvent(history, 'WORKFLOW_EXECUTION_CANCELED').workflowExecutionCanceledEventAttributes;
        assert.equal(Number(canceled.workflowTaskCompletedEventId), 9);
      });

      eonTest('a workflow that catches the cancellation runs a non-cancellable cleanup activity and completes', async () => {
        const tag = uniqueId('tag');
        const handle = await start('cleanupOnCancel', [tag]);
        await waitForEvent(handle, 'TIMER_STARTED');
        await handle.cancel();
        assert.equal(await handle.result(), `cleaned up ${tag}`);
        assert.deepEqual(cleanedUp.filter((t) => t === tag), [tag]);
        assert.equal((await handle.describe()).status.name, 'COMPLETED');

        const history = await handle.fetchHistory();
        const types = eventTypes(history);
        const requested = types.indexOf('WORKFLOW_EXECUTION_CANCEL_REQUESTED');
        const scheduled = types.indexOf('ACTIVITY_TASK_SCHEDULED');
        assert.ok(requested > 0 && scheduled > requested, historyText(history));
        assert.equal(countEvents(history, 'WORKFLOW_EXECUTION_CANCEL_REQUESTED'), 1, historyText(history));
        assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1, historyText(history));
        assert.equal(countEvents(history, 'WORKFLOW_EXECUTION_CANCELED'), 0, historyText(history));
        closeEvent(history, 'WORKFLOW_EXECUTION_COMPLETED');
      });
    });

    // ------------------------------------------------------------------ 4. continue-as-new

    describe('continue-as-new', () => {
      /** Follows the continued-as-new chain from `runId`; returns [{ runId, history }]. */
      async function runChain(workflowId, runId) {
        const runs = [];
        for (let i = 0; i < 10 && runId; i += 1) {
          const history = await handleOf(workflowId, runId).fetchHistory();
          runs.push({ runId, history });
          runId = history.events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId;
        }
        return runs;
      }

      eonTest('countdown(2) continues as new twice; result() follows the chain', async () => {
        const handle = await start('countdown', [2]);
        assert.equal(await handle.result(), 'done');

        const runs = await runChain(handle.workflowId, handle.firstExecutionRunId);
        assert.equal(runs.length, 3, `expected 3 runs, got ${runs.map((r) => historyText(r.history)).join(' | ')}`);
        const [first, second, last] = runs;
        assert.equal(new Set(runs.map((r) => r.runId)).size, 3, 'run ids are not distinct');

        for (const [i, run] of [first, second].entries()) {
          assert.deepEqual(eventTypes(run.history), [...FIRST_TASK, 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW']);
          const can = run.history.events[4].workflowExecutionContinuedAsNewEventAttributes;
          assert.equal(can.newExecutionRunId, runs[i + 1].runId);
          assert.equal(can.workflowType?.name, 'countdown');
          assert.equal(can.taskQueue?.name, env.taskQueue);
          assert.deepEqual(decodePayloads(can.input), [1 - i]);
          assert.equal(Number(can.workflowTaskCompletedEventId), 4);
          assert.equal(can.initiator, enums.ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW);
        }
        assert.deepEqual(eventTypes(last.history), [...FIRST_TASK, 'WORKFLOW_EXECUTION_COMPLETED']);

        for (const [i, run] of runs.entries()) {
          const attrs = startedAttrs(run.history);
          assert.deepEqual(decodePayloads(attrs.input), [2 - i]);
          assert.equal(attrs.firstExecutionRunId, first.runId, `run ${i + 1}: firstExecutionRunId`);
          if (i === 0) {
            assert.ok(!attrs.continuedExecutionRunId, 'the first run has a continuedExecutionRunId');
          } else {
            assert.equal(attrs.continuedExecutionRunId, runs[i - 1].runId, `run ${i + 1}: continuedExecutionRunId`);
            assert.equal(attrs.initiator, enums.ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_WORKFLOW);
          }
        }

        const latest = await handleOf(handle.workflowId).describe();
        assert.equal(latest.runId, last.runId);
        assert.equal(latest.status.name, 'COMPLETED');
        assert.equal((await handleOf(handle.workflowId, first.runId).describe()).status.name, 'CONTINUED_AS_NEW');
      });

      eonTest('client.workflow.execute returns the result of the last run; its started event names the first run', async () => {
        const workflowId = uniqueId('countdown');
        // execute() long-polls the close event of the workflow id without a run id: the server
        // must answer with the first run's CONTINUED_AS_NEW event as soon as that run closes.
        assert.equal(
          await withTimeout(
            env.client.workflow.execute('countdown', { taskQueue: env.taskQueue, workflowId, args: [1] }),
            PROMPT_MS,
            'client.workflow.execute of countdown(1)',
          ),
          'done',
        );
        const latest = await handleOf(workflowId).describe();
        const lastHistory = await handleOf(workflowId, latest.runId).fetchHistory();
        const attrs = startedAttrs(lastHistory);
        // Two runs: the last run continued the first one, which is also the first of the chain.
        assert.ok(attrs.continuedExecutionRunId, 'continuedExecutionRunId is empty');
        assert.equal(attrs.firstExecutionRunId, attrs.continuedExecutionRunId);
        const firstHistory = await handleOf(workflowId, attrs.continuedExecutionRunId).fetchHistory();
        const can = closeEvent(firstHistory, 'WORKFLOW_EXECUTION_CONTINUED_AS_NEW');
        assert.equal(can.workflowExecutionContinuedAsNewEventAttributes.newExecutionRunId, latest.runId);
        assert.equal(startedAttrs(firstHistory).firstExecutionRunId, attrs.continuedExecutionRunId);
      });
    });

    // ------------------------------------------------------------------ 5. id reuse / conflict

    describe('workflow id reuse and conflict policies', () => {
      const expectAlreadyStarted = async (promise, workflowId, workflowType) => {
        const err = await rejection(promise);
        assert.ok(
          err instanceof WorkflowExecutionAlreadyStartedError,
          `expected WorkflowExecutionAlreadyStartedError, got ${err?.stack ?? err}`,
        );
        assert.equal(err.workflowId, workflowId);
        assert.equal(err.workflowType, workflowType);
      };

      eonTest('REJECT_DUPLICATE after a completed run: WorkflowExecutionAlreadyStartedError', async () => {
        const workflowId = uniqueId('reject');
        const first = await start('returnValue', ['one'], { workflowId });
        assert.equal(await first.result(), 'one');
        await expectAlreadyStarted(
          start('returnValue', ['two'], { workflowId, workflowIdReusePolicy: 'REJECT_DUPLICATE' }),
          workflowId,
          'returnValue',
        );
        const latest = await handleOf(workflowId).describe();
        assert.equal(latest.runId, first.firstExecutionRunId);
      });

      eonTest('ALLOW_DUPLICATE_FAILED_ONLY: rejected after success, allowed after failure and termination', async () => {
        const succeeded = uniqueId('afo-ok');
        assert.equal(await (await start('returnValue', ['ok'], { workflowId: succeeded })).result(), 'ok');
        await expectAlreadyStarted(
          start('returnValue', ['again'], { workflowId: succeeded, workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY' }),
          succeeded,
          'returnValue',
        );

        const failed = uniqueId('afo-failed');
        const failedRun = await start('failing', ['on purpose'], { workflowId: failed });
        assert.ok((await rejection(failedRun.result())) instanceof WorkflowFailedError);
        const retry = await start('returnValue', ['after failure'], {
          workflowId: failed,
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        });
        assert.notEqual(retry.firstExecutionRunId, failedRun.firstExecutionRunId);
        assert.equal(await retry.result(), 'after failure');

        const terminated = uniqueId('afo-terminated');
        const terminatedRun = await start('waitForSignal', [], { workflowId: terminated });
        await terminatedRun.terminate('make room');
        const afterTermination = await start('returnValue', ['after termination'], {
          workflowId: terminated,
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        });
        assert.equal(await afterTermination.result(), 'after termination');
      });

      eonTest('default policy (ALLOW_DUPLICATE): a new run after a completed one', async () => {
        const workflowId = uniqueId('allow');
        const first = await start('returnValue', ['one'], { workflowId });
        assert.equal(await first.result(), 'one');
        const second = await start('returnValue', ['two'], { workflowId });
        assert.notEqual(second.firstExecutionRunId, first.firstExecutionRunId);
        assert.equal(await second.result(), 'two');
        const latest = await handleOf(workflowId).describe();
        assert.equal(latest.runId, second.firstExecutionRunId);
        // The first run is still there, with its own history.
        const firstHistory = await handleOf(workflowId, first.firstExecutionRunId).fetchHistory();
        assert.deepEqual(decodePayloads(closeEvent(firstHistory, 'WORKFLOW_EXECUTION_COMPLETED').workflowExecutionCompletedEventAttributes.result), ['one']);
      });

      eonTest('USE_EXISTING on a running workflow returns the running run', async () => {
        const workflowId = uniqueId('use-existing');
        const first = await start('waitForSignal', [], { workflowId });
        const second = await start('waitForSignal', [], { workflowId, workflowIdConflictPolicy: 'USE_EXISTING' });
        assert.equal(second.firstExecutionRunId, first.firstExecutionRunId);
        await second.signal('unblock', 'once');
        assert.equal(await first.result(), 'once');
        const history = await first.fetchHistory();
        assert.equal(countEvents(history, 'WORKFLOW_EXECUTION_STARTED'), 1, historyText(history));
        const latest = await handleOf(workflowId).describe();
        assert.equal(latest.runId, first.firstExecutionRunId);
      });

      eonTest('TERMINATE_EXISTING on a running workflow terminates it and starts a new run', async () => {
        const workflowId = uniqueId('terminate-existing');
        const first = await start('waitForSignal', [], { workflowId });
        await waitForEvent(first, 'WORKFLOW_TASK_COMPLETED');
        const second = await start('returnValue', ['new run'], { workflowId, workflowIdConflictPolicy: 'TERMINATE_EXISTING' });
        assert.notEqual(second.firstExecutionRunId, first.firstExecutionRunId);
        assert.equal(await second.result(), 'new run');

        const old = handleOf(workflowId, first.firstExecutionRunId);
        assert.equal((await old.describe()).status.name, 'TERMINATED');
        closeEvent(await old.fetchHistory(), 'WORKFLOW_EXECUTION_TERMINATED');
        const latest = await handleOf(workflowId).describe();
        assert.equal(latest.runId, second.firstExecutionRunId);
        assert.equal(latest.status.name, 'COMPLETED');
      });
    });

    // ------------------------------------------------------------------ 6. timeouts and retries

    describe('workflow timeouts and retries', () => {
      async function expectTimedOut(options) {
        const began = Date.now();
        const handle = await start('sleeper', [3_600_000], options);
        const err = await rejection(handle.result());
        const elapsed = Date.now() - began;
        assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${err?.stack ?? err}`);
        assert.ok(err.cause instanceof TimeoutFailure, `expected TimeoutFailure cause, got ${err.cause}`);
        assert.equal(err.retryState, RetryState.RETRY_POLICY_NOT_SET);
        assert.ok(elapsed >= 3000 && elapsed < 6000, `timed out after ${elapsed} ms with a 3 s timeout`);
        assert.equal((await handle.describe()).status.name, 'TIMED_OUT');

        const history = await handle.fetchHistory();
        assert.deepEqual(eventTypes(history), [...FIRST_TASK, 'TIMER_STARTED', 'WORKFLOW_EXECUTION_TIMED_OUT']);
        const timedOut = history.events.at(-1).workflowExecutionTimedOutEventAttributes;
        assert.equal(timedOut.retryState, enums.RetryState.RETRY_STATE_RETRY_POLICY_NOT_SET);
        assert.ok(!timedOut.newExecutionRunId, 'a timed-out run without retry policy has a newExecutionRunId');
        const closeGap = timestampMs(history.events.at(-1).eventTime) - timestampMs(history.events[0].eventTime);
        assert.ok(closeGap >= 2999.999, `WORKFLOW_EXECUTION_TIMED_OUT is ${closeGap} ms after the start`);
        return startedAttrs(history);
      }

      // 3 s rather than 1 s: the first workflow task must complete before the timeout, and on a
      // loaded 2-core machine a fresh TypeScript worker's first task can take over a second.
      eonTest("workflowRunTimeout '3s' on a workflow sleeping 1 h: TIMED_OUT", async () => {
        const attrs = await expectTimedOut({ workflowRunTimeout: '3s' });
        assert.equal(durationMs(attrs.workflowRunTimeout), 3000);
      });

      eonTest("workflowExecutionTimeout '3s' on a workflow sleeping 1 h: TIMED_OUT", async () => {
        const attrs = await expectTimedOut({ workflowExecutionTimeout: '3s' });
        assert.equal(durationMs(attrs.workflowExecutionTimeout), 3000);
        assert.equal(durationMs(attrs.workflowRunTimeout), 3000, 'the run timeout defaults to the execution timeout');
      });

      eonTest('a workflow retry policy: attempts 1 and 2 fail, attempt 3 succeeds', async () => {
        const handle = await start('failUntilAttempt', [3], {
          retry: { maximumAttempts: 3, initialInterval: '200ms' },
        });
        assert.deepEqual(await handle.result(), { attempt: 3 });

        const runs = [];
        let runId = handle.firstExecutionRunId;
        for (let i = 0; i < 5 && runId; i += 1) {
          const history = await handleOf(handle.workflowId, runId).fetchHistory();
          runs.push({ runId, history });
          runId = history.events.at(-1)?.workflowExecutionFailedEventAttributes?.newExecutionRunId;
        }
        assert.equal(runs.length, 3, runs.map((r) => historyText(r.history)).join(' | '));

        for (const [i, run] of runs.entries()) {
          const attrs = startedAttrs(run.history);
          assert.equal(attrs.attempt, i + 1, `run ${i + 1}: attempt`);
          assert.equal(attrs.firstExecutionRunId, runs[0].runId, `run ${i + 1}: firstExecutionRunId`);
          if (i < 2) {
            assert.deepEqual(eventTypes(run.history), [...FIRST_TASK, 'WORKFLOW_EXECUTION_FAILED']);
            const failed = run.history.events.at(-1).workflowExecutionFailedEventAttributes;
            assert.equal(failed.retryState, enums.RetryState.RETRY_STATE_IN_PROGRESS, `run ${i + 1}: retryState`);
            assert.equal(failed.newExecutionRunId, runs[i + 1].runId);
            assert.equal(failed.failure?.message, `attempt ${i + 1} fails`);
          } else {
            assert.deepEqual(eventTypes(run.history), [...FIRST_TASK, 'WORKFLOW_EXECUTION_COMPLETED']);
          }
          if (i > 0) {
            assert.equal(attrs.continuedExecutionRunId, runs[i - 1].runId, `run ${i + 1}: continuedExecutionRunId`);
            assert.equal(attrs.initiator, enums.ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_RETRY);
            assert.equal(attrs.continuedFailure?.message, `attempt ${i} fails`);
            // Backoff: initialInterval * 2^(attempt - 2) with the default coefficient 2.
            assert.equal(durationMs(attrs.firstWorkflowTaskBackoff), 200 * 2 ** (i - 1), `run ${i + 1}: backoff`);
          }
        }
        const latest = await handleOf(handle.workflowId).describe();
        assert.equal(latest.runId, runs[2].runId);
        assert.equal(latest.status.name, 'COMPLETED');
      });

      eonTest('client.workflow.execute (no run id) follows the retries to the result', async () => {
        const workflowId = uniqueId('retry-execute');
        const result = await withTimeout(
          env.client.workflow.execute('failUntilAttempt', {
            taskQueue: env.taskQueue,
            workflowId,
            args: [2],
            retry: { maximumAttempts: 3, initialInterval: '200ms' },
          }),
          PROMPT_MS,
          'client.workflow.execute of failUntilAttempt(2)',
        );
        assert.deepEqual(result, { attempt: 2 });
      });

      eonTest('a workflow retry policy with maximumAttempts 2 on an always failing workflow', async () => {
        const handle = await start('failUntilAttempt', [99], {
          retry: { maximumAttempts: 2, initialInterval: '200ms' },
        });
        const err = await rejection(handle.result());
        assert.ok(err instanceof WorkflowFailedError, `expected WorkflowFailedError, got ${err?.stack ?? err}`);
        assert.equal(err.retryState, RetryState.MAXIMUM_ATTEMPTS_REACHED);
        assert.ok(err.cause instanceof ApplicationFailure, `expected ApplicationFailure cause, got ${err.cause}`);
        assert.equal(err.cause.message, 'attempt 2 fails');
        assert.equal(err.cause.type, 'FlakyWorkflow');

        const latest = await handleOf(handle.workflowId).describe();
        assert.notEqual(latest.runId, handle.firstExecutionRunId);
        assert.equal(latest.status.name, 'FAILED');
        const history = await handleOf(handle.workflowId, latest.runId).fetchHistory();
        assert.equal(startedAttrs(history).attempt, 2);
        assert.equal(startedAttrs(history).continuedExecutionRunId, handle.firstExecutionRunId);
        const failed = closeEvent(history, 'WORKFLOW_EXECUTION_FAILED').workflowExecutionFailedEventAttributes;
        assert.equal(failed.retryState, enums.RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
        assert.ok(!failed.newExecutionRunId, 'the last attempt has a newExecutionRunId');
      });
    });

    // ------------------------------------------------------------------ 7. cron

    describe('cron', () => {
      eonTest("cronSchedule '@every 2s': runs follow each other, each seeing the previous result", async () => {
        const handle = await start('cronCounter', [], { cronSchedule: '@every 2s' });
        const firstRunId = handle.firstExecutionRunId;

        // Follow the runs (a completed cron run names the next one) until two have completed.
        let runs;
        const deadline = Date.now() + 9000;
        for (;;) {
          runs = [];
          let runId = firstRunId;
          while (runId && runs.length < 10) {
            const history = await handleOf(handle.workflowId, runId).fetchHistory();
            runs.push({ runId, history });
            runId = history.events.at(-1)?.workflowExecutionCompletedEventAttributes?.newExecutionRunId;
          }
          const completed = runs.filter((r) => typeOf(r.history.events.at(-1)) === 'WORKFLOW_EXECUTION_COMPLETED');
          if (completed.length >= 2) break;
          if (Date.now() > deadline) {
            assert.fail(`fewer than 2 cron runs completed in 9 s: ${runs.map((r) => historyText(r.history)).join(' | ')}`);
          }
          await sleep(200);
        }

        const [run1, run2] = runs;
        const started1 = startedAttrs(run1.history);
        assert.equal(started1.cronSchedule, '@every 2s');
        const backoff1 = durationMs(started1.firstWorkflowTaskBackoff);
        assert.ok(backoff1 > 0 && backoff1 <= 2000, `first run's firstWorkflowTaskBackoff is ${backoff1} ms`);
        assert.deepEqual(eventTypes(run1.history), [...FIRST_TASK, 'WORKFLOW_EXECUTION_COMPLETED']);
        const completed1 = run1.history.events.at(-1).workflowExecutionCompletedEventAttributes;
        assert.deepEqual(decodePayloads(completed1.result), [{ count: 1, cronSchedule: '@every 2s' }]);
        assert.equal(completed1.newExecutionRunId, run2.runId);

        const started2 = startedAttrs(run2.history);
        assert.equal(started2.cronSchedule, '@every 2s');
        assert.equal(started2.initiator, enums.ContinueAsNewInitiator.CONTINUE_AS_NEW_INITIATOR_CRON_SCHEDULE);
        assert.equal(started2.continuedExecutionRunId, run1.runId);
        assert.equal(started2.firstExecutionRunId, run1.runId);
        assert.deepEqual(decodePayloads(started2.lastCompletionResult), [{ count: 1, cronSchedule: '@every 2s' }]);
        assert.ok(durationMs(started2.firstWorkflowTaskBackoff) > 0, 'the second run has no backoff');
        assert.deepEqual(eventTypes(run2.history), [...FIRST_TASK, 'WORKFLOW_EXECUTION_COMPLETED']);
        assert.deepEqual(
          decodePayloads(run2.history.events.at(-1).workflowExecutionCompletedEventAttributes.result),
          [{ count: 2, cronSchedule: '@every 2s' }],
        );
        // The second run's workflow task started about 2 s after the first one's.
        const wftStarted = (h) => timestampMs(h.events.find((ev) => typeOf(ev) === 'WORKFLOW_TASK_STARTED').eventTime);
        const gap = wftStarted(run2.history) - wftStarted(run1.history);
        assert.ok(gap >= 1000 && gap <= 3500, `the second run ran ${gap} ms after the first`);

        // While a run waits for its time, the workflow id describes it as running.
        const current = await handleOf(handle.workflowId).describe();
        assert.ok(!runs.slice(0, 2).some((r) => r.runId === current.runId), 'describe shows a completed cron run');
        assert.equal(current.status.name, 'RUNNING');

        await handleOf(handle.workflowId).terminate('enough cron runs');
        const after = await handleOf(handle.workflowId).describe();
        assert.equal(after.runId, current.runId);
        assert.equal(after.status.name, 'TERMINATED');
        closeEvent(await handleOf(handle.workflowId, current.runId).fetchHistory(), 'WORKFLOW_EXECUTION_TERMINATED');
      });

      eonTest('an invalid cron schedule is rejected with INVALID_ARGUMENT', async () => {
        const workflowId = uniqueId('bad-cron');
        const err = await rejection(start('cronCounter', [], { workflowId, cronSchedule: 'not a cron' }));
        assert.ok(err instanceof ServiceError, `expected ServiceError, got ${err?.stack ?? err}`);
        assert.equal(err.cause?.code, GRPC_INVALID_ARGUMENT, `expected INVALID_ARGUMENT, got ${err.cause?.stack ?? err.cause}`);
        assert.match(err.cause.details ?? '', /cron/i);
        const missing = await rejection(handleOf(workflowId).describe());
        assert.ok(missing instanceof WorkflowNotFoundError, `the workflow was created: ${missing}`);
      });
    });

    // ------------------------------------------------------------------ 8. markers, properties

    describe('markers, determinism, search attributes and memo', () => {
      eonTest("patched('my-patch') records a core_patch marker", async () => {
        const handle = await start('patchedWorkflow');
        assert.equal(await handle.result(), 'patched');
        const history = await handle.fetchHistory();
        const marker = onlyEvent(history, 'MARKER_RECORDED').markerRecordedEventAttributes;
        assert.equal(marker.markerName, 'core_patch');
        assert.equal(Number(marker.workflowTaskCompletedEventId), 4);
        const details = marker.details?.['patch-data'];
        assert.ok(details, `marker details: ${JSON.stringify(Object.keys(marker.details ?? {}))}`);
        assert.equal(decodePayloads(details)[0]?.id, 'my-patch');
        closeEvent(history, 'WORKFLOW_EXECUTION_COMPLETED');
      });

      eonTest('uuid4() and Math.random() give the same values when the workflow is replayed by a new worker', async (t, scope) => {
        const taskQueue = uniqueId('replay');
        const worker1 = await startWorker(env.server, { taskQueue, activities });
        scope.add(() => worker1.shutdown());
        const handle = await env.client.workflow.start('randomAcrossReplay', { taskQueue, workflowId: uniqueId('replay') });
        // The first worker ran the workflow up to condition(): the activity has seen the values.
        await waitForHistory(
          handle,
          (h) => eventTypes(h).lastIndexOf('WORKFLOW_TASK_COMPLETED') > eventTypes(h).indexOf('ACTIVITY_TASK_COMPLETED') &&
            eventTypes(h).includes('ACTIVITY_TASK_COMPLETED'),
          'the workflow task after the activity',
        );
        const seen = echoed.get(handle.workflowId);
        assert.ok(seen?.uuid, 'the echo activity did not run');
        await worker1.shutdown();

        // A new worker has nothing cached: it replays the history from the start.
        scope.track(await startWorker(env.server, { taskQueue, activities }));
        await handle.signal('unblock');
        const result = await handle.result();
        assert.deepEqual(result.drawn, seen, 'the replay drew other values than the first execution');
        assert.deepEqual(result.echoed, seen);
        assert.match(result.later.uuid, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
        assert.notEqual(result.later.uuid, seen.uuid);
        const history = await handle.fetchHistory();
        assert.equal(countEvents(history, 'WORKFLOW_TASK_FAILED'), 0, historyText(history));
        closeEvent(history, 'WORKFLOW_EXECUTION_COMPLETED');
      });

      // Only registered search attributes may be set (as on a Temporal server).
      const registerSearchAttributes = () =>
        env.connection.operatorService.addSearchAttributes({
          namespace: 'default',
          searchAttributes: {
            CustomKeywordField: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
            CustomIntField: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
          },
        });

      eonTest('upsertSearchAttributes and upsertMemo: events and describe', async () => {
        await registerSearchAttributes();
        const handle = await start('upsertProperties');
        assert.equal(await handle.result(), 'upserted');
        const history = await handle.fetchHistory();
        assert.deepEqual(eventTypes(history), [
          ...FIRST_TASK,
          'UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
          'WORKFLOW_PROPERTIES_MODIFIED',
          'WORKFLOW_EXECUTION_COMPLETED',
        ]);
        const upsert = history.events[4].upsertWorkflowSearchAttributesEventAttributes;
        assert.equal(Number(upsert.workflowTaskCompletedEventId), 4);
        assert.deepEqual(decodePayload(upsert.searchAttributes.indexedFields.CustomKeywordField), ['x']);
        const modified = history.events[5].workflowPropertiesModifiedEventAttributes;
        assert.equal(Number(modified.workflowTaskCompletedEventId), 4);
        assert.equal(decodePayload(modified.upsertedMemo.fields.k), 'v');

        const description = await handle.describe();
        assert.deepEqual(description.searchAttributes.CustomKeywordField, ['x']);
        assert.deepEqual(description.memo, { k: 'v' });
      });

      eonTest('memo and search attributes given at start appear in describe', async () => {
        await registerSearchAttributes();
        const memo = { owner: 'eon', nested: { list: [1, 2, 3], unicode: 'ünïcødé 🌍' } };
        const handle = await start('waitForSignal', [], {
          memo,
          searchAttributes: { CustomKeywordField: ['start-kw'], CustomIntField: [7] },
        });
        const running = await handle.describe();
        assert.deepEqual(running.memo, memo);
        assert.deepEqual(running.searchAttributes.CustomKeywordField, ['start-kw']);
        assert.deepEqual(running.searchAttributes.CustomIntField, [7]);

        const attrs = startedAttrs(await handle.fetchHistory());
        assert.deepEqual(decodePayload(attrs.memo.fields.owner), 'eon');

        await handle.signal('unblock', 'bye');
        assert.equal(await handle.result(), 'bye');
        const closed = await handle.describe();
        assert.deepEqual(closed.memo, memo);
        assert.deepEqual(closed.searchAttributes.CustomKeywordField, ['start-kw']);
      });
    });
  });

  // -------------------------------------------------------------------- 9. kill -9

  describe('timers and signals across kill -9', () => {
    eonTest('a timer that falls due while the server is down fires once after restart', async (t, scope) => {
      const server = scope.track(await EonServer.start({ db: true }));
      const taskQueue = uniqueId('crash-timer');
      // The worker keeps running across the crash: its connection retries until the server is back.
      scope.track(await startWorker(server, { taskQueue, activities }));
      const before = scope.track(await connectClient(server));
      const handle = await before.client.workflow.start('sleeper', {
        taskQueue,
        workflowId: uniqueId('crash-timer'),
        args: [3000],
      });
      const began = Date.now();
      await waitForEvent(handle, 'TIMER_STARTED');
      await server.kill9();
      // Down until well after the timer is due (3 s after it started), at least 1 s.
      await sleep(Math.max(1000, began + 4000 - Date.now()));
      await server.restart();

      const after = scope.track(await connectClient(server));
      const again = after.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
      assert.equal(await again.result(), 3000);
      const history = await again.fetchHistory();
      assert.deepEqual(eventTypes(history), [
        ...FIRST_TASK,
        'TIMER_STARTED',
        'TIMER_FIRED',
        ...TASK,
        'WORKFLOW_EXECUTION_COMPLETED',
      ]);
      assert.equal(countEvents(history, 'TIMER_FIRED'), 1);
      assert.equal((await again.describe()).status.name, 'COMPLETED');
    });

    eonTest('a signal sent just before kill -9 is delivered exactly once after restart', async (t, scope) => {
      const server = scope.track(await EonServer.start({ db: true }));
      const taskQueue = uniqueId('crash-signal');
      const worker1 = await startWorker(server, { taskQueue, activities });
      scope.add(() => worker1.shutdown());
      const before = scope.track(await connectClient(server));
      const handle = await before.client.workflow.start('waitForSignal', {
        taskQueue,
        workflowId: uniqueId('crash-signal'),
      });
      await waitForEvent(handle, 'WORKFLOW_TASK_COMPLETED');
      // Nobody runs the workflow task the signal causes until after the crash.
      await worker1.shutdown();
      await handle.signal('unblock', { sent: 'before the crash', n: 1 });
      await server.kill9();
      await server.restart();

      scope.track(await startWorker(server, { taskQueue, activities }));
      const after = scope.track(await connectClient(server));
      const again = after.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
      assert.deepEqual(await again.result(), { sent: 'before the crash', n: 1 });
      const history = await again.fetchHistory();
      assert.equal(countEvents(history, 'WORKFLOW_EXECUTION_SIGNALED'), 1, historyText(history));
      assert.deepEqual(eventTypes(history).slice(0, 5), [...FIRST_TASK, 'WORKFLOW_EXECUTION_SIGNALED']);
      closeEvent(history, 'WORKFLOW_EXECUTION_COMPLETED');
      assert.equal((await again.describe()).status.name, 'COMPLETED');
    });
  });
});
