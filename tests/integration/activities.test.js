'use strict';
// Activity semantics run by the server: retry policies, the four timeouts, heartbeats, async
// completion, cancellation, local activities, eager dispatch, pending activities in
// DescribeWorkflowExecution, and durability of retries and heartbeats across kill -9.
//
// The workflows (runActivity, runLocalActivity, cancelActivity in workflows.js) catch the
// activity's error and return a plain-data picture of it (describeError), so the instanceof
// checks run in the workflow and the tests check the outcome here.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');
const { CompleteAsyncError, Context } = require('@temporalio/activity');
const { ActivityCompletionError, ActivityNotFoundError } = require('@temporalio/client');
const { ApplicationFailure, RetryState, TimeoutType, defaultPayloadConverter } = require('@temporalio/common');
const { temporal } = require('@temporalio/proto');
const { DefaultLogger, Runtime } = require('@temporalio/worker');

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

// Failing activities are the point of several tests here: keep the worker's expected
// "Activity failed" warnings out of the output (every other log line still shows).
const runtimeLogger = Runtime.instance().logger;
if (runtimeLogger instanceof DefaultLogger) {
  const print = runtimeLogger.logFunction;
  runtimeLogger.logFunction = (entry) => {
    if (entry.message !== 'Activity failed') print(entry);
  };
}
const GRPC_INVALID_ARGUMENT = 3;

// ---------------------------------------------------------------------------
// What the activities saw, shared with the tests by key (each test passes a unique key).

const notes = new Map(); // key -> [entry, ...]
const waiters = new Map(); // key -> [{ pred, resolve }]

function note(key, entry) {
  const list = notes.get(key) ?? [];
  list.push({ ...entry, at: Date.now() });
  notes.set(key, list);
  const pending = waiters.get(key) ?? [];
  waiters.set(
    key,
    pending.filter((w) => {
      const hit = list.find(w.pred);
      if (hit) w.resolve(hit);
      return !hit;
    }),
  );
}

function notesOf(key) {
  return notes.get(key) ?? [];
}

/** Resolves with the first note of `key` that satisfies `pred`, waiting for it if needed. */
function waitNote(key, pred = () => true, timeoutMs = 10_000) {
  const hit = notesOf(key).find(pred);
  if (hit) return Promise.resolve(hit);
  const found = new Promise((resolve) => {
    const list = waiters.get(key) ?? [];
    list.push({ pred, resolve });
    waiters.set(key, list);
  });
  return withTimeout(found, timeoutMs, `waiting for activity note ${key}`, () => `; notes: ${JSON.stringify(notesOf(key))}`);
}

const gates = new Map(); // key -> { promise, open }: the test opens, the gate activity waits

function gateFor(key) {
  if (!gates.has(key)) {
    let open;
    const promise = new Promise((resolve) => {
      open = resolve;
    });
    gates.set(key, { promise, open });
  }
  return gates.get(key);
}

const stopRequested = new Set(); // keys of heartbeatLoop activities asked to finish early

/** Polls `fn` until it returns a truthy value (which it returns), or fails after timeoutMs. */
async function waitUntil(fn, what, timeoutMs = 10_000, everyMs = 50) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---------------------------------------------------------------------------
// activities

const activities = {
  async quick(key, value) {
    const { info } = Context.current();
    note(key, { kind: 'ran', attempt: info.attempt, taskQueue: info.taskQueue });
    return value;
  },

  /** Fails every attempt with a message naming the attempt. */
  async alwaysFail(key) {
    const { attempt } = Context.current().info;
    note(key, { kind: 'attempt', attempt });
    throw new Error(`attempt ${attempt} failed`);
  },

  /** Fails every attempt with an ApplicationFailure of the given (retryable) type. */
  async failWithType(key, type) {
    const { attempt } = Context.current().info;
    note(key, { kind: 'attempt', attempt });
    throw ApplicationFailure.retryable(`typed failure on attempt ${attempt}`, type);
  },

  async failNonRetryable(key) {
    const { attempt } = Context.current().info;
    note(key, { kind: 'attempt', attempt });
    throw ApplicationFailure.nonRetryable(`fatal on attempt ${attempt}`, 'Fatal');
  },

  /** Attempt 1 fails asking for a 1 s retry delay; attempt 2 succeeds. */
  async failWithNextRetryDelay(key) {
    const { attempt } = Context.current().info;
    note(key, { kind: 'attempt', attempt });
    if (attempt === 1) {
      throw ApplicationFailure.create({ message: 'retry me in 1s', type: 'Later', nextRetryDelay: '1s' });
    }
    return { attempt };
  },

  /** Sleeps (cancellably) for ms. */
  async sleepy(key, ms) {
    const { attempt } = Context.current().info;
    note(key, { kind: 'started', attempt });
    try {
      await Context.current().sleep(ms);
    } catch (err) {
      note(key, { kind: 'cancelled', attempt, error: String(err) });
      throw err;
    }
    note(key, { kind: 'finished', attempt });
    return 'woke up';
  },

  /** Attempt 1 sleeps (cancellably) for ms; later attempts return at once. */
  async slowFirstAttempt(key, ms) {
    const { attempt } = Context.current().info;
    note(key, { kind: 'started', attempt });
    if (attempt === 1) await Context.current().sleep(ms);
    return { attempt };
  },

  /** Attempt 1 heartbeats { progress: 3 } once and goes silent; attempt 2 returns its details. */
  async heartbeatThenHangOnce(key) {
    const { info } = Context.current();
    note(key, { kind: 'started', attempt: info.attempt });
    if (info.attempt === 1) {
      Context.current().heartbeat({ progress: 3 });
      await Context.current().sleep(4000);
    }
    return { attempt: info.attempt, heartbeatDetails: info.heartbeatDetails };
  },

  /** Heartbeats `details` once, then stays silent. */
  async heartbeatOnceThenHang(key, details, ms) {
    Context.current().heartbeat(details);
    note(key, { kind: 'heartbeated', attempt: Context.current().info.attempt });
    try {
      await Context.current().sleep(ms);
    } catch (err) {
      note(key, { kind: 'cancelled', error: String(err) });
      throw err;
    }
    return 'hung';
  },

  /** Attempt 1 heartbeats { progress: 5 } and fails; attempt 2 returns what it was given. */
  async heartbeatThenFail(key) {
    const { info } = Context.current();
    note(key, { kind: 'attempt', attempt: info.attempt, heartbeatDetails: info.heartbeatDetails });
    if (info.attempt === 1) {
      Context.current().heartbeat({ progress: 5 });
      await Context.current().sleep(300);
      throw new Error('fail after heartbeating');
    }
    return { attempt: info.attempt, heartbeatDetails: info.heartbeatDetails };
  },

  /**
   * Heartbeats { progress: n } every everyMs until progress reaches `until` (or the test asks it
   * to stop); resumes from the heartbeat details of an earlier attempt. Notes cancellation.
   */
  async heartbeatLoop(key, until, everyMs) {
    const { info } = Context.current();
    const from = info.heartbeatDetails?.progress ?? 0;
    note(key, { kind: 'started', attempt: info.attempt, from });
    let progress = from;
    try {
      while (progress < until && !stopRequested.has(key)) {
        progress += 1;
        Context.current().heartbeat({ progress });
        note(key, { kind: 'beat', attempt: info.attempt, progress });
        await Context.current().sleep(everyMs);
      }
    } catch (err) {
      note(key, { kind: 'cancelled', attempt: info.attempt, progress, error: String(err) });
      throw err;
    }
    note(key, { kind: 'finished', attempt: info.attempt, progress });
    return { progress, attempt: info.attempt, from };
  },

  /** Hands its task token to the test and leaves the completion to it. */
  async asyncComplete(key) {
    const { info } = Context.current();
    note(key, {
      kind: 'started',
      attempt: info.attempt,
      taskToken: info.taskToken,
      activityId: info.activityId,
      workflowId: info.workflowExecution.workflowId,
      runId: info.workflowExecution.runId,
    });
    throw new CompleteAsyncError();
  },

  /** Returns when the test opens gate `key` (used by the cancelActivity workflow). */
  async gate(key) {
    note(key, { kind: 'gate' });
    await Promise.race([gateFor(key).promise, Context.current().cancelled]);
    return 'open';
  },

  // local activities
  async localEcho(key, value) {
    note(key, { kind: 'ran', isLocal: Context.current().info.isLocal });
    return `local:${value}`;
  },

  async localSlow(key, ms) {
    note(key, { kind: 'started', isLocal: Context.current().info.isLocal });
    await Context.current().sleep(ms);
    note(key, { kind: 'finished' });
    return `slept ${ms}`;
  },
};

// ---------------------------------------------------------------------------
// history helpers

function typeOf(event) {
  return eventTypes({ events: [event] })[0];
}

function eventsOf(history, type) {
  return history.events.filter((ev) => typeOf(ev) === type);
}

function onlyEvent(history, type) {
  const found = eventsOf(history, type);
  assert.equal(found.length, 1, `expected exactly one ${type} in ${eventTypes(history).join(', ')}`);
  return found[0];
}

function durationMs(d) {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + Math.round(Number(d.nanos ?? 0) / 1e6);
}

function timestampNs(ts) {
  return BigInt(String(ts.seconds ?? 0)) * 1_000_000_000n + BigInt(ts.nanos ?? 0);
}

function decodePayloads(payloads) {
  return (payloads?.payloads ?? []).map((p) => defaultPayloadConverter.fromPayload(p));
}

function historyText(history) {
  return eventTypes(history).join(', ');
}

// ---------------------------------------------------------------------------

describe('activities', () => {
  const env = sharedEnv({ activities });

  async function start(workflow, args, options = {}) {
    return env.client.workflow.start(workflow, {
      taskQueue: env.taskQueue,
      workflowId: uniqueId(workflow),
      args,
      ...options,
    });
  }

  /** Runs runActivity(name, args, options) and returns { out, history, handle, elapsedMs }. */
  async function runActivity(name, args, options, workflowOptions = {}) {
    const began = Date.now();
    const handle = await start('runActivity', [name, args, options], workflowOptions);
    const out = await handle.result();
    const elapsedMs = Date.now() - began;
    return { out, history: await handle.fetchHistory(), handle, elapsedMs };
  }

  async function pendingActivity(handle) {
    const description = await handle.describe();
    return description.raw.pendingActivities?.[0];
  }

  // ---------------------------------------------------------------- 1. retry policy

  describe('retry policy', () => {
    eonTest('without retry options the server fills in the default retry policy', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('quick', [key, 'v'], { startToCloseTimeout: '5s' });
      assert.deepEqual(out, { result: 'v' });
      const policy = onlyEvent(history, 'ACTIVITY_TASK_SCHEDULED').activityTaskScheduledEventAttributes.retryPolicy;
      assert.ok(policy, 'ActivityTaskScheduled has no retryPolicy');
      assert.equal(durationMs(policy.initialInterval), 1000, 'initialInterval');
      assert.equal(policy.backoffCoefficient, 2, 'backoffCoefficient');
      assert.equal(durationMs(policy.maximumInterval), 100_000, 'maximumInterval');
      assert.equal(policy.maximumAttempts ?? 0, 0, 'maximumAttempts');
    });

    eonTest('maximumAttempts 3: three attempts, then ActivityFailure with the last message', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('alwaysFail', [key], {
        startToCloseTimeout: '5s',
        retry: { initialInterval: '10ms', maximumAttempts: 3 },
      });
      assert.deepEqual(notesOf(key).map((n) => n.attempt), [1, 2, 3], 'Context.current().info.attempt');
      const err = out.error;
      assert.ok(err, `expected an error, got ${JSON.stringify(out)}`);
      assert.ok(err.isActivityFailure, `expected ActivityFailure, got ${JSON.stringify(err)}`);
      assert.equal(err.retryState, RetryState.MAXIMUM_ATTEMPTS_REACHED);
      assert.equal(err.activityType, 'alwaysFail');
      assert.ok(err.cause?.isApplicationFailure, `expected ApplicationFailure cause, got ${JSON.stringify(err.cause)}`);
      assert.equal(err.cause.message, 'attempt 3 failed');

      assert.equal(countEvents(history, 'ACTIVITY_TASK_SCHEDULED'), 1, historyText(history));
      const started = onlyEvent(history, 'ACTIVITY_TASK_STARTED').activityTaskStartedEventAttributes;
      assert.equal(started.attempt, 3);
      const failed = onlyEvent(history, 'ACTIVITY_TASK_FAILED').activityTaskFailedEventAttributes;
      assert.equal(failed.retryState, enums.RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
      assert.equal(failed.failure.message, 'attempt 3 failed');
    });

    eonTest('an error type listed in nonRetryableErrorTypes is not retried', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('failWithType', [key, 'BadInput'], {
        startToCloseTimeout: '5s',
        retry: { initialInterval: '10ms', maximumAttempts: 5, nonRetryableErrorTypes: ['BadInput'] },
      });
      assert.deepEqual(notesOf(key).map((n) => n.attempt), [1]);
      assert.ok(out.error?.isActivityFailure, JSON.stringify(out));
      assert.equal(out.error.retryState, RetryState.NON_RETRYABLE_FAILURE);
      assert.equal(out.error.cause.type, 'BadInput');
      assert.equal(out.error.cause.message, 'typed failure on attempt 1');
      const failed = onlyEvent(history, 'ACTIVITY_TASK_FAILED').activityTaskFailedEventAttributes;
      assert.equal(failed.retryState, enums.RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE);
      assert.equal(onlyEvent(history, 'ACTIVITY_TASK_STARTED').activityTaskStartedEventAttributes.attempt, 1);
    });

    eonTest('ApplicationFailure.nonRetryable is not retried', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('failNonRetryable', [key], {
        startToCloseTimeout: '5s',
        retry: { initialInterval: '10ms', maximumAttempts: 5 },
      });
      assert.deepEqual(notesOf(key).map((n) => n.attempt), [1]);
      assert.ok(out.error?.isActivityFailure, JSON.stringify(out));
      assert.equal(out.error.retryState, RetryState.NON_RETRYABLE_FAILURE);
      assert.equal(out.error.cause.nonRetryable, true);
      assert.equal(out.error.cause.message, 'fatal on attempt 1');
      const failed = onlyEvent(history, 'ACTIVITY_TASK_FAILED').activityTaskFailedEventAttributes;
      assert.equal(failed.retryState, enums.RetryState.RETRY_STATE_NON_RETRYABLE_FAILURE);
    });

    eonTest('nextRetryDelay of the failure overrides the retry policy interval', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('failWithNextRetryDelay', [key], {
        startToCloseTimeout: '5s',
        retry: { initialInterval: '10ms', maximumAttempts: 3 },
      });
      assert.deepEqual(out, { result: { attempt: 2 } });
      const [first, second] = notesOf(key);
      assert.deepEqual([first.attempt, second.attempt], [1, 2]);
      const gap = second.at - first.at;
      assert.ok(gap >= 900, `attempt 2 started ${gap} ms after attempt 1, expected >= ~1000 ms`);
      assert.ok(gap < 5000, `attempt 2 started ${gap} ms after attempt 1`);
      const started = onlyEvent(history, 'ACTIVITY_TASK_STARTED').activityTaskStartedEventAttributes;
      assert.equal(started.attempt, 2);
      assert.equal(started.lastFailure?.message, 'retry me in 1s');
    });
  });

  // ---------------------------------------------------------------- 2. timeouts

  describe('timeouts', () => {
    eonTest('start-to-close timeout', async () => {
      const key = uniqueId('k');
      const { out, history, elapsedMs } = await runActivity('sleepy', [key, 3000], {
        startToCloseTimeout: '1s',
        retry: { maximumAttempts: 1 },
      });
      assert.ok(out.error?.isActivityFailure, JSON.stringify(out));
      assert.ok(out.error.cause?.isTimeoutFailure, `expected TimeoutFailure, got ${JSON.stringify(out.error.cause)}`);
      assert.equal(out.error.cause.timeoutType, TimeoutType.START_TO_CLOSE);
      assert.ok(elapsedMs < 2900, `took ${elapsedMs} ms; the activity sleeps 3 s, the timeout is 1 s`);
      const timedOut = onlyEvent(history, 'ACTIVITY_TASK_TIMED_OUT').activityTaskTimedOutEventAttributes;
      assert.equal(timedOut.failure.timeoutFailureInfo.timeoutType, enums.TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE);
      assert.equal(timedOut.retryState, enums.RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
      assert.equal(countEvents(history, 'ACTIVITY_TASK_STARTED'), 1, historyText(history));
    });

    eonTest('an attempt that times out (start-to-close) is retried', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('slowFirstAttempt', [key, 3000], {
        startToCloseTimeout: '1s',
        retry: { initialInterval: '10ms', maximumAttempts: 2 },
      });
      assert.deepEqual(out, { result: { attempt: 2 } });
      const started = onlyEvent(history, 'ACTIVITY_TASK_STARTED').activityTaskStartedEventAttributes;
      assert.equal(started.attempt, 2);
      assert.equal(
        started.lastFailure?.timeoutFailureInfo?.timeoutType,
        enums.TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE,
        `lastFailure of attempt 2: ${JSON.stringify(started.lastFailure)}`,
      );
      assert.equal(countEvents(history, 'ACTIVITY_TASK_TIMED_OUT'), 0, historyText(history));
    });

    eonTest('schedule-to-start timeout on a task queue nobody polls', async () => {
      const { out, history, elapsedMs } = await runActivity('quick', ['unused', 'x'], {
        taskQueue: uniqueId('nobody'),
        scheduleToStartTimeout: '1s',
        startToCloseTimeout: '5s',
      });
      assert.ok(out.error?.isActivityFailure, JSON.stringify(out));
      assert.ok(out.error.cause?.isTimeoutFailure, `expected TimeoutFailure, got ${JSON.stringify(out.error.cause)}`);
      assert.equal(out.error.cause.timeoutType, TimeoutType.SCHEDULE_TO_START);
      assert.ok(elapsedMs >= 900 && elapsedMs < 3000, `took ${elapsedMs} ms with a 1 s schedule-to-start timeout`);
      const timedOut = onlyEvent(history, 'ACTIVITY_TASK_TIMED_OUT').activityTaskTimedOutEventAttributes;
      assert.equal(timedOut.failure.timeoutFailureInfo.timeoutType, enums.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START);
      assert.equal(countEvents(history, 'ACTIVITY_TASK_STARTED'), 0, historyText(history));
    });

    eonTest('schedule-to-close timeout bounds the retries of a failing activity', async (t) => {
      const key = uniqueId('k');
      const { out, history, elapsedMs } = await runActivity('alwaysFail', [key], {
        scheduleToCloseTimeout: '2s',
        retry: { initialInterval: '300ms', backoffCoefficient: 1 },
      });
      const attempts = notesOf(key).map((n) => n.attempt);
      assert.ok(attempts.length >= 3, `only ${attempts.length} attempts in 2 s with a 300 ms interval`);
      assert.ok(elapsedMs < 3000, `took ${elapsedMs} ms with a 2 s schedule-to-close timeout`);
      const err = out.error;
      assert.ok(err?.isActivityFailure, JSON.stringify(out));
      // Either the schedule-to-close timer fired (TimeoutFailure SCHEDULE_TO_CLOSE), or the
      // server saw that the next attempt could not start in time (retryState TIMEOUT).
      const scheduleToClose = err.cause?.isTimeoutFailure && err.cause.timeoutType === TimeoutType.SCHEDULE_TO_CLOSE;
      assert.ok(
        scheduleToClose || err.retryState === RetryState.TIMEOUT,
        `expected SCHEDULE_TO_CLOSE or retryState TIMEOUT, got ${JSON.stringify(err)}`,
      );
      assert.equal(err.retryState, RetryState.TIMEOUT);
      const closing = history.events.find((ev) => ev.activityTaskFailedEventAttributes || ev.activityTaskTimedOutEventAttributes);
      assert.ok(closing, historyText(history));
      const attrs = closing.activityTaskFailedEventAttributes ?? closing.activityTaskTimedOutEventAttributes;
      assert.equal(attrs.retryState, enums.RetryState.RETRY_STATE_TIMEOUT);
      t.diagnostic(`schedule-to-close: ${typeOf(closing)} after ${attempts.length} attempts, ${elapsedMs} ms`);
    });

    eonTest('heartbeat timeout carries the last heartbeat details', async () => {
      const key = uniqueId('k');
      const { out, history, elapsedMs } = await runActivity('heartbeatOnceThenHang', [key, { progress: 42 }, 4000], {
        startToCloseTimeout: '10s',
        heartbeatTimeout: '1s',
        retry: { maximumAttempts: 1 },
      });
      assert.ok(out.error?.isActivityFailure, JSON.stringify(out));
      assert.ok(out.error.cause?.isTimeoutFailure, `expected TimeoutFailure, got ${JSON.stringify(out.error.cause)}`);
      assert.equal(out.error.cause.timeoutType, TimeoutType.HEARTBEAT);
      assert.deepEqual(out.error.cause.lastHeartbeatDetails, { progress: 42 });
      assert.ok(elapsedMs < 3500, `took ${elapsedMs} ms with a 1 s heartbeat timeout`);
      const timedOut = onlyEvent(history, 'ACTIVITY_TASK_TIMED_OUT').activityTaskTimedOutEventAttributes;
      assert.equal(timedOut.failure.timeoutFailureInfo.timeoutType, enums.TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
      assert.deepEqual(decodePayloads(timedOut.failure.timeoutFailureInfo.lastHeartbeatDetails), [{ progress: 42 }]);
    });
  });

  // ---------------------------------------------------------------- 3. heartbeats

  describe('heartbeats', () => {
    eonTest('heartbeat details of attempt 1 are given to attempt 2', async () => {
      const key = uniqueId('k');
      const { out } = await runActivity('heartbeatThenFail', [key], {
        startToCloseTimeout: '5s',
        retry: { initialInterval: '10ms', maximumAttempts: 2 },
      });
      assert.deepEqual(out, { result: { attempt: 2, heartbeatDetails: { progress: 5 } } });
      assert.equal(notesOf(key)[0].heartbeatDetails, undefined, 'attempt 1 had heartbeat details');
    });

    eonTest('heartbeat details survive a heartbeat timeout into the next attempt', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('heartbeatThenHangOnce', [key], {
        startToCloseTimeout: '10s',
        heartbeatTimeout: '1s',
        retry: { initialInterval: '10ms', maximumAttempts: 2 },
      });
      assert.deepEqual(out, { result: { attempt: 2, heartbeatDetails: { progress: 3 } } });
      const started = onlyEvent(history, 'ACTIVITY_TASK_STARTED').activityTaskStartedEventAttributes;
      assert.equal(
        started.lastFailure?.timeoutFailureInfo?.timeoutType,
        enums.TimeoutType.TIMEOUT_TYPE_HEARTBEAT,
        `lastFailure of attempt 2: ${JSON.stringify(started.lastFailure)}`,
      );
    });

    eonTest('an activity that heartbeats regularly runs past its heartbeat timeout', async () => {
      const key = uniqueId('k');
      const { out, history, elapsedMs } = await runActivity('heartbeatLoop', [key, 12, 200], {
        startToCloseTimeout: '10s',
        heartbeatTimeout: '1s',
        retry: { maximumAttempts: 1 },
      });
      assert.deepEqual(out, { result: { progress: 12, attempt: 1, from: 0 } });
      assert.ok(elapsedMs >= 2000, `took only ${elapsedMs} ms`);
      assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1, historyText(history));
      assert.equal(countEvents(history, 'ACTIVITY_TASK_TIMED_OUT'), 0, historyText(history));
    });
  });

  // ---------------------------------------------------------------- 4. async completion

  describe('async completion', () => {
    const asyncOptions = { startToCloseTimeout: '20s', retry: { maximumAttempts: 1 } };

    eonTest('complete by task token after heartbeating by token; the token is stale afterwards', async () => {
      const key = uniqueId('k');
      const handle = await start('runActivity', ['asyncComplete', [key], asyncOptions]);
      const { taskToken } = await waitNote(key);
      assert.ok(taskToken instanceof Uint8Array && taskToken.length > 0);

      await env.client.activity.heartbeat(taskToken, { progress: 7 });
      const pending = await pendingActivity(handle);
      assert.deepEqual(decodePayloads(pending?.heartbeatDetails), [{ progress: 7 }]);

      await env.client.activity.complete(taskToken, { via: 'token' });
      assert.deepEqual(await handle.result(), { result: { via: 'token' } });
      const history = await handle.fetchHistory();
      const completed = onlyEvent(history, 'ACTIVITY_TASK_COMPLETED').activityTaskCompletedEventAttributes;
      assert.deepEqual(decodePayloads(completed.result), [{ via: 'token' }]);

      // The activity is gone: the same token no longer names anything.
      await assert.rejects(env.client.activity.complete(taskToken, 'again'), (err) => {
        assert.ok(err instanceof ActivityNotFoundError, `expected ActivityNotFoundError, got ${err?.stack ?? err}`);
        return true;
      });
      await assert.rejects(env.client.activity.heartbeat(taskToken, 'late'), ActivityNotFoundError);
      assert.equal(countEvents(await handle.fetchHistory(), 'ACTIVITY_TASK_COMPLETED'), 1);
    });

    eonTest('heartbeat and complete by workflow id and activity id', async () => {
      const key = uniqueId('k');
      const handle = await start('runActivity', ['asyncComplete', [key], asyncOptions]);
      const { workflowId, activityId } = await waitNote(key);
      assert.equal(workflowId, handle.workflowId);

      await env.client.activity.heartbeat({ workflowId, activityId }, { progress: 3 });
      assert.deepEqual(decodePayloads((await pendingActivity(handle))?.heartbeatDetails), [{ progress: 3 }]);

      await env.client.activity.complete({ workflowId, activityId }, 'done by id');
      assert.deepEqual(await handle.result(), { result: 'done by id' });
      const history = await handle.fetchHistory();
      assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1, historyText(history));

      await assert.rejects(env.client.activity.complete({ workflowId, activityId }, 'again'), ActivityNotFoundError);
    });

    eonTest('fail by task token', async () => {
      const key = uniqueId('k');
      const handle = await start('runActivity', ['asyncComplete', [key], asyncOptions]);
      const { taskToken } = await waitNote(key);
      await env.client.activity.fail(taskToken, ApplicationFailure.create({ message: 'failed from outside', type: 'Outside' }));
      const out = await handle.result();
      assert.ok(out.error?.isActivityFailure, JSON.stringify(out));
      assert.ok(out.error.cause?.isApplicationFailure, JSON.stringify(out.error));
      assert.equal(out.error.cause.message, 'failed from outside');
      assert.equal(out.error.cause.type, 'Outside');
      const history = await handle.fetchHistory();
      const failed = onlyEvent(history, 'ACTIVITY_TASK_FAILED').activityTaskFailedEventAttributes;
      assert.equal(failed.failure.message, 'failed from outside');
      assert.equal(failed.retryState, enums.RetryState.RETRY_STATE_MAXIMUM_ATTEMPTS_REACHED);
    });

    eonTest('a malformed task token is rejected with INVALID_ARGUMENT', async () => {
      const bad = Buffer.from('nope');
      await assert.rejects(env.client.activity.complete(bad, 1), (err) => {
        assert.ok(err instanceof ActivityCompletionError, `expected ActivityCompletionError, got ${err?.stack ?? err}`);
        assert.ok(!(err instanceof ActivityNotFoundError));
        return true;
      });
      await assert.rejects(env.client.activity.heartbeat(bad, 1), ActivityCompletionError);
      await assert.rejects(env.client.activity.fail(bad, new Error('x')), ActivityCompletionError);
      const service = env.connection.workflowService;
      for (const call of [
        () => service.recordActivityTaskHeartbeat({ namespace: 'default', taskToken: bad }),
        () => service.respondActivityTaskFailed({ namespace: 'default', taskToken: bad, failure: { message: 'x' } }),
        () => service.respondActivityTaskCanceled({ namespace: 'default', taskToken: bad }),
      ]) {
        await assert.rejects(call(), (err) => {
          assert.equal(err.code, GRPC_INVALID_ARGUMENT, `expected INVALID_ARGUMENT, got ${err?.stack ?? err}`);
          return true;
        });
      }
    });
  });

  // ---------------------------------------------------------------- 5. cancellation

  describe('cancellation', () => {
    const heartbeating = (cancellationType) => ({
      startToCloseTimeout: '30s',
      heartbeatTimeout: '1s',
      retry: { maximumAttempts: 1 },
      cancellationType,
    });

    const isCancellation = (err) => Boolean(err?.isCancelledFailure || err?.cause?.isCancelledFailure);

    eonTest('TRY_CANCEL: the workflow gets the cancellation at once; a cancel request is recorded', async () => {
      const key = uniqueId('k');
      const handle = await start('cancelActivity', [
        'heartbeatLoop',
        [key, 100, 200],
        heartbeating('TRY_CANCEL'),
        [`${key}-gate`],
      ]);
      await waitNote(key, (n) => n.kind === 'beat');
      const began = Date.now();
      gateFor(`${key}-gate`).open();
      const out = await handle.result();
      const elapsed = Date.now() - began;
      assert.ok(isCancellation(out.error), `expected CancelledFailure, got ${JSON.stringify(out)}`);
      assert.ok(elapsed < 1500, `the workflow waited ${elapsed} ms for the cancellation`);
      const history = await handle.fetchHistory();
      const types = eventTypes(history);
      assert.equal(countEvents(history, 'ACTIVITY_TASK_CANCEL_REQUESTED'), 1, types.join(', '));
      assert.equal(countEvents(history, 'ACTIVITY_TASK_CANCELED'), 0, types.join(', '));
      assert.equal(types.at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
      // The workflow is closed; the running activity learns from its next heartbeat.
      await waitNote(key, (n) => n.kind === 'cancelled', 5000);
    });

    eonTest('WAIT_CANCELLATION_COMPLETED: the workflow resumes only once the activity is canceled', async () => {
      const key = uniqueId('k');
      const handle = await start('cancelActivity', [
        'heartbeatLoop',
        [key, 100, 200],
        heartbeating('WAIT_CANCELLATION_COMPLETED'),
        [`${key}-gate`],
      ]);
      await waitNote(key, (n) => n.kind === 'beat');
      gateFor(`${key}-gate`).open();
      const out = await handle.result();
      assert.ok(isCancellation(out.error), `expected CancelledFailure, got ${JSON.stringify(out)}`);
      const cancelled = notesOf(key).find((n) => n.kind === 'cancelled');
      assert.ok(cancelled, `the activity never saw the cancellation: ${JSON.stringify(notesOf(key))}`);

      const history = await handle.fetchHistory();
      const types = eventTypes(history);
      const requested = types.indexOf('ACTIVITY_TASK_CANCEL_REQUESTED');
      const canceled = types.indexOf('ACTIVITY_TASK_CANCELED');
      assert.ok(requested > 0 && canceled > requested, types.join(', '));
      // The workflow task that completed the workflow started after ACTIVITY_TASK_CANCELED.
      assert.equal(types.at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
      assert.ok(types.lastIndexOf('WORKFLOW_TASK_STARTED') > canceled, types.join(', '));
      assert.equal(countEvents(history, 'WORKFLOW_TASK_COMPLETED'), 3, types.join(', '));
      const attrs = history.events[canceled].activityTaskCanceledEventAttributes;
      assert.equal(Number(attrs.latestCancelRequestedEventId), Number(history.events[requested].eventId));
    });

    eonTest('ABANDON: no cancel request is written, and the workflow goes on at once', async () => {
      const key = uniqueId('k');
      const handle = await start('cancelActivity', [
        'sleepy',
        [key, 4000],
        { startToCloseTimeout: '30s', retry: { maximumAttempts: 1 }, cancellationType: 'ABANDON' },
        [`${key}-gate`],
      ]);
      await waitNote(key, (n) => n.kind === 'started');
      const began = Date.now();
      gateFor(`${key}-gate`).open();
      const out = await handle.result();
      const elapsed = Date.now() - began;
      assert.ok(isCancellation(out.error), `expected CancelledFailure, got ${JSON.stringify(out)}`);
      assert.ok(elapsed < 2000, `the workflow waited ${elapsed} ms`);
      const history = await handle.fetchHistory();
      assert.equal(countEvents(history, 'ACTIVITY_TASK_CANCEL_REQUESTED'), 0, historyText(history));
      assert.equal(countEvents(history, 'ACTIVITY_TASK_CANCELED'), 0, historyText(history));
      assert.equal(eventTypes(history).at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
    });

    eonTest('cancelling an activity that has not started: CANCEL_REQUESTED then CANCELED at once', async () => {
      const key = uniqueId('k');
      const handle = await start('cancelActivity', [
        'quick',
        ['unused', 'x'],
        { taskQueue: uniqueId('nobody'), startToCloseTimeout: '5s', cancellationType: 'WAIT_CANCELLATION_COMPLETED' },
        [`${key}-gate`],
      ]);
      await waitNote(`${key}-gate`);
      gateFor(`${key}-gate`).open();
      const out = await handle.result();
      assert.ok(isCancellation(out.error), `expected CancelledFailure, got ${JSON.stringify(out)}`);
      const history = await handle.fetchHistory();
      const types = eventTypes(history);
      const requested = types.indexOf('ACTIVITY_TASK_CANCEL_REQUESTED');
      assert.ok(requested > 0, types.join(', '));
      assert.equal(types[requested + 1], 'ACTIVITY_TASK_CANCELED', types.join(', '));
      const target = eventsOf(history, 'ACTIVITY_TASK_SCHEDULED').find(
        (ev) => ev.activityTaskScheduledEventAttributes.activityType.name === 'quick',
      );
      const targetId = Number(target.eventId);
      assert.equal(
        Number(history.events[requested].activityTaskCancelRequestedEventAttributes.scheduledEventId),
        targetId,
      );
      assert.equal(Number(history.events[requested + 1].activityTaskCanceledEventAttributes.scheduledEventId), targetId);
      assert.ok(
        !eventsOf(history, 'ACTIVITY_TASK_STARTED').some(
          (ev) => Number(ev.activityTaskStartedEventAttributes.scheduledEventId) === targetId,
        ),
        'the canceled activity has an ActivityTaskStarted event',
      );
      assert.equal(types.at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
    });
  });

  // ---------------------------------------------------------------- 6. local activities

  describe('local activities', () => {
    eonTest('a local activity result is recorded as a marker', async () => {
      const key = uniqueId('k');
      const handle = await start('runLocalActivity', ['localEcho', [key, 'hi'], { startToCloseTimeout: '5s' }]);
      assert.deepEqual(await handle.result(), { result: 'local:hi' });
      assert.deepEqual(notesOf(key).map((n) => n.isLocal), [true]);
      const history = await handle.fetchHistory();
      assert.equal(countEvents(history, 'MARKER_RECORDED'), 1, historyText(history));
      assert.equal(countEvents(history, 'ACTIVITY_TASK_SCHEDULED'), 0, historyText(history));
      const marker = onlyEvent(history, 'MARKER_RECORDED').markerRecordedEventAttributes;
      assert.ok(marker.markerName.length > 0);
    });

    eonTest('a local activity longer than the workflow task timeout completes (task heartbeating)', async () => {
      const key = uniqueId('k');
      const began = Date.now();
      const handle = await start('runLocalActivity', ['localSlow', [key, 4000], { startToCloseTimeout: '10s' }], {
        workflowTaskTimeout: '2s',
      });
      assert.deepEqual(await handle.result(), { result: 'slept 4000' });
      const elapsed = Date.now() - began;
      assert.ok(elapsed >= 4000 && elapsed < 9000, `took ${elapsed} ms`);
      assert.equal(notesOf(key).filter((n) => n.kind === 'started').length, 1, 'the local activity ran more than once');
      const history = await handle.fetchHistory();
      const types = eventTypes(history);
      assert.equal(countEvents(history, 'WORKFLOW_TASK_TIMED_OUT'), 0, types.join(', '));
      assert.equal(countEvents(history, 'WORKFLOW_TASK_FAILED'), 0, types.join(', '));
      assert.equal(countEvents(history, 'MARKER_RECORDED'), 1, types.join(', '));
      // Workflow task heartbeats: more than the usual two workflow tasks.
      assert.ok(countEvents(history, 'WORKFLOW_TASK_COMPLETED') >= 3, types.join(', '));
    });
  });

  // ---------------------------------------------------------------- 7. eager activities

  describe('eager activities', () => {
    eonTest('an activity on the workflow task queue is dispatched eagerly', async () => {
      const key = uniqueId('k');
      const { out, history } = await runActivity('quick', [key, 'eager'], { startToCloseTimeout: '5s' });
      assert.deepEqual(out, { result: 'eager' });
      assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1, historyText(history));
      // Started in the transaction that schedules it, yet after it was scheduled (as in
      // Temporal), never at the same instant: a schedule-to-close timeout of the same length
      // as its start-to-close falls due first.
      const scheduled = onlyEvent(history, 'ACTIVITY_TASK_SCHEDULED');
      const started = onlyEvent(history, 'ACTIVITY_TASK_STARTED');
      assert.ok(timestampNs(started.eventTime) > timestampNs(scheduled.eventTime), historyText(history));
    });

    eonTest('the completion that schedules an eager activity hands it back, started', async () => {
      // Through the raw API, so nothing else can have taken the activity.
      const taskQueue = uniqueId('eager-raw');
      const service = env.connection.workflowService;
      const handle = await env.client.workflow.start('rawEager', { taskQueue, workflowId: uniqueId('eager') });
      const task = await service.pollWorkflowTaskQueue({
        namespace: 'default',
        taskQueue: { name: taskQueue },
        identity: 'raw-worker',
      });
      const completed = await service.respondWorkflowTaskCompleted({
        namespace: 'default',
        taskToken: task.taskToken,
        identity: 'raw-worker',
        commands: [
          {
            commandType: enums.CommandType.COMMAND_TYPE_SCHEDULE_ACTIVITY_TASK,
            scheduleActivityTaskCommandAttributes: {
              activityId: 'a1',
              activityType: { name: 'quick' },
              taskQueue: { name: taskQueue },
              startToCloseTimeout: { seconds: 5 },
              requestEagerExecution: true,
            },
          },
        ],
      });
      assert.equal(completed.activityTasks.length, 1);
      const eager = completed.activityTasks[0];
      assert.equal(eager.activityId, 'a1');
      assert.ok(timestampNs(eager.startedTime) > timestampNs(eager.scheduledTime));
      await handle.terminate();
    });

    eonTest('an activity on another task queue goes through that queue', async (t, scope) => {
      const key = uniqueId('k');
      const otherQueue = uniqueId('other');
      scope.track(await startWorker(env.server, { taskQueue: otherQueue, activities }));
      const { out, history } = await runActivity('quick', [key, 'other'], {
        taskQueue: otherQueue,
        startToCloseTimeout: '5s',
      });
      assert.deepEqual(out, { result: 'other' });
      assert.deepEqual(notesOf(key).map((n) => n.taskQueue), [otherQueue]);
      assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1, historyText(history));
      const scheduled = onlyEvent(history, 'ACTIVITY_TASK_SCHEDULED');
      assert.equal(scheduled.activityTaskScheduledEventAttributes.taskQueue.name, otherQueue);
      const started = onlyEvent(history, 'ACTIVITY_TASK_STARTED');
      assert.ok(
        timestampNs(started.eventTime) > timestampNs(scheduled.eventTime),
        'a polled activity should start after it was scheduled',
      );
    });
  });

  // ---------------------------------------------------------------- 8. describe

  describe('pending activities in DescribeWorkflowExecution', () => {
    eonTest('an activity waiting to retry: attempt 2, SCHEDULED, last failure, next attempt time', async () => {
      const key = uniqueId('k');
      const handle = await start('runActivity', [
        'alwaysFail',
        [key],
        { startToCloseTimeout: '5s', retry: { initialInterval: '5s', maximumAttempts: 3 } },
      ]);
      await waitNote(key);
      const pending = await waitUntil(async () => {
        const p = await pendingActivity(handle);
        return p?.attempt === 2 ? p : undefined;
      }, 'pending activity attempt 2');
      const failedAt = notesOf(key)[0].at;
      assert.equal(pending.state, enums.PendingActivityState.PENDING_ACTIVITY_STATE_SCHEDULED);
      assert.equal(pending.activityType?.name, 'alwaysFail');
      assert.equal(pending.lastFailure?.message, 'attempt 1 failed');
      assert.ok(pending.nextAttemptScheduleTime, 'nextAttemptScheduleTime is not set');
      const next = Number(timestampNs(pending.nextAttemptScheduleTime) / 1_000_000n);
      assert.ok(
        next > failedAt + 3500 && next < failedAt + 6500,
        `nextAttemptScheduleTime is ${next - failedAt} ms after the failure, expected ~5000`,
      );
      assert.equal(pending.maximumAttempts, 3);
      assert.deepEqual(notesOf(key).map((n) => n.attempt), [1], 'attempt 2 ran before its backoff ended');
      await handle.terminate('seen enough');
    });

    eonTest('a running heartbeating activity: STARTED, heartbeat details and times', async () => {
      const key = uniqueId('k');
      const handle = await start('runActivity', [
        'heartbeatLoop',
        [key, 100, 100],
        { startToCloseTimeout: '20s', heartbeatTimeout: '2s', retry: { maximumAttempts: 1 } },
      ]);
      await waitNote(key, (n) => n.kind === 'beat');
      const pending = await waitUntil(async () => {
        const p = await pendingActivity(handle);
        return p?.heartbeatDetails?.payloads?.length ? p : undefined;
      }, 'heartbeat details in DescribeWorkflowExecution');
      assert.equal(pending.state, enums.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED);
      assert.equal(pending.attempt, 1);
      const [details] = decodePayloads(pending.heartbeatDetails);
      assert.ok(details.progress >= 1, JSON.stringify(details));
      assert.ok(pending.lastHeartbeatTime, 'lastHeartbeatTime is not set');
      assert.ok(pending.lastStartedTime, 'lastStartedTime is not set');
      assert.ok(timestampNs(pending.lastHeartbeatTime) >= timestampNs(pending.lastStartedTime));
      stopRequested.add(key);
      const out = await handle.result();
      assert.equal(out.result?.attempt, 1, JSON.stringify(out));
    });
  });
});

// ---------------------------------------------------------------- 9. crash durability

describe('activities across kill -9', () => {
  eonTest('kill -9 during a retry backoff: attempt 2 runs after restart and completes once', async (t, scope) => {
    const server = scope.track(await EonServer.start({ db: true }));
    const taskQueue = uniqueId('crash-retry');
    const key = uniqueId('k');
    const crashActivities = {
      async failOnce(k) {
        const { attempt } = Context.current().info;
        note(k, { kind: 'attempt', attempt });
        if (attempt === 1) throw new Error('first attempt fails');
        return { attempt };
      },
    };
    scope.track(await startWorker(server, { taskQueue, activities: crashActivities }));
    const before = scope.track(await connectClient(server));
    const handle = await before.client.workflow.start('runActivity', {
      taskQueue,
      workflowId: uniqueId('crash-retry'),
      args: ['failOnce', [key], { startToCloseTimeout: '10s', retry: { initialInterval: '3s', maximumAttempts: 5 } }],
    });
    // Wait until the server has recorded the failure of attempt 1 (attempt 2 in backoff).
    await waitUntil(async () => {
      const d = await handle.describe();
      return d.raw.pendingActivities?.[0]?.attempt === 2;
    }, 'attempt 2 pending');
    await server.kill9();
    await sleep(500);
    await server.restart();

    const after = scope.track(await connectClient(server));
    const again = after.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
    assert.deepEqual(await again.result(), { result: { attempt: 2 } });
    assert.deepEqual(notesOf(key).map((n) => n.attempt), [1, 2]);
    const gap = notesOf(key)[1].at - notesOf(key)[0].at;
    assert.ok(gap >= 2500, `attempt 2 ran ${gap} ms after attempt 1; the backoff is 3 s`);
    const history = await again.fetchHistory();
    assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1, historyText(history));
    assert.equal(countEvents(history, 'ACTIVITY_TASK_FAILED'), 0, historyText(history));
    assert.equal(onlyEvent(history, 'ACTIVITY_TASK_STARTED').activityTaskStartedEventAttributes.attempt, 2);
  });

  eonTest('kill -9 during a heartbeating activity: it completes once with the right result', async (t, scope) => {
    const server = scope.track(await EonServer.start({ db: true }));
    const taskQueue = uniqueId('crash-hb');
    const key = uniqueId('k');
    scope.track(await startWorker(server, { taskQueue, activities }));
    const before = scope.track(await connectClient(server));
    const handle = await before.client.workflow.start('runActivity', {
      taskQueue,
      workflowId: uniqueId('crash-hb'),
      args: [
        'heartbeatLoop',
        [key, 20, 200],
        { startToCloseTimeout: '30s', heartbeatTimeout: '3s', retry: { initialInterval: '100ms', maximumAttempts: 5 } },
      ],
    });
    await waitNote(key, (n) => n.kind === 'beat' && n.progress >= 5);
    await server.kill9();
    await sleep(1000);
    await server.restart();

    const after = scope.track(await connectClient(server));
    const again = after.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
    const out = await again.result();
    assert.equal(out.result?.progress, 20, JSON.stringify(out));
    const history = await again.fetchHistory();
    assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 1, historyText(history));
    assert.equal(countEvents(history, 'WORKFLOW_EXECUTION_COMPLETED'), 1, historyText(history));
    const started = onlyEvent(history, 'ACTIVITY_TASK_STARTED').activityTaskStartedEventAttributes;
    assert.equal(started.attempt, out.result.attempt);
    if (out.result.attempt > 1) {
      // Attempt 1 timed out while the server was down: the next one resumed from its heartbeat.
      assert.ok(out.result.from > 0, `attempt ${out.result.attempt} started without heartbeat details`);
    }
    t.diagnostic(`heartbeat crash: finished on attempt ${out.result.attempt}, resumed from ${out.result.from}`);
  });
});
