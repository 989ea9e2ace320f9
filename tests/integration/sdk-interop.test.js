'use strict';
// Interoperability of the C++ SDK with the TypeScript SDK through one Eon server: a C++ workflow
// calls a TypeScript activity, a TypeScript workflow calls a C++ activity, and a C++ workflow
// calls a C++ activity. Both activities implement the same function, so all three paths must
// return the same value; that checks the payload encodings (json/plain, UTF-8) both ways.
//
// The C++ side is sdk/tests/interop_worker.cc, a separate process (binary from
// EON_SDK_INTEROP_WORKER, default build/tests/eon_sdk_interop_worker).

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe } = require('node:test');

const { EonServer, Scope, connectClient, eonTest, startWorker, uniqueId, withTimeout } = require('./harness');

const INTEROP_WORKER = process.env.EON_SDK_INTEROP_WORKER
  ? path.resolve(process.env.EON_SDK_INTEROP_WORKER)
  : path.resolve(__dirname, '..', '..', 'build', 'tests', 'eon_sdk_interop_worker');
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/**
 * The function both SDKs implement (cppDescribe in C++, tsDescribe here). `length` counts
 * Unicode code points, which C++ and JavaScript can agree on (UTF-16 units or UTF-8 bytes differ).
 */
function describeName(name, count) {
  return { greeting: `Hello, ${name}!`, length: [...name].length, doubled: count * 2, tags: ['cpp', name] };
}

const activities = {
  async tsDescribe(name, count) {
    return describeName(name, count);
  },
};

/**
 * Starts the C++ interop worker and resolves once it printed "ready". Returns
 * { child, output(), stop() }; stop() sends SIGTERM and requires exit code 0.
 */
async function startCppWorker({ address, taskQueue, tsTaskQueue, stickyTimeoutMs }) {
  try {
    fs.accessSync(INTEROP_WORKER, fs.constants.X_OK);
  } catch {
    throw new Error(`C++ interop worker not found at ${INTEROP_WORKER}; build eon_sdk_interop_worker or set EON_SDK_INTEROP_WORKER`);
  }
  const args = ['--address', address, '--task-queue', taskQueue, '--ts-task-queue', tsTaskQueue];
  if (stickyTimeoutMs) args.push('--sticky-timeout-ms', String(stickyTimeoutMs));
  const child = spawn(INTEROP_WORKER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let sawReady;
  const ready = new Promise((resolve) => {
    sawReady = resolve;
  });
  child.stdout.on('data', (chunk) => {
    output += chunk.toString();
    if (/^ready$/m.test(output)) sawReady();
  });
  child.stderr.on('data', (chunk) => {
    output += chunk.toString();
  });
  const exited = new Promise((resolve) => {
    child.once('error', (err) => resolve({ code: null, signal: null, error: err }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  const describeOutput = () => `\n--- interop worker output ---\n${output}--- end ---`;
  const early = exited.then((r) => {
    throw new Error(`the C++ interop worker exited before it was ready (code=${r.code}, signal=${r.signal}${r.error ? `, ${r.error.message}` : ''})${describeOutput()}`);
  });
  try {
    await withTimeout(Promise.race([ready, early]), READY_TIMEOUT_MS, 'start of the C++ interop worker', describeOutput);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  early.catch(() => {}); // from here on, exiting is stop()'s business
  return {
    child,
    output: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        child.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      const result = await exited;
      clearTimeout(timer);
      assert.ok(!killed, `the C++ interop worker did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM${describeOutput()}`);
      assert.equal(result.code, 0, `the C++ interop worker exited with code=${result.code} signal=${result.signal}${describeOutput()}`);
    },
  };
}

describe('C++ SDK <-> TypeScript SDK', () => {
  const env = { cppTaskQueue: uniqueId('cpp'), tsTaskQueue: uniqueId('ts') };
  const scope = new Scope();
  before(async () => {
    env.server = scope.track(await EonServer.start());
    ({ client: env.client } = scope.track(await connectClient(env.server)));
    scope.track(await startWorker(env.server, { taskQueue: env.tsTaskQueue, activities }));
    // Tracked last, so it is stopped first (while the server still runs).
    env.cpp = await startCppWorker({
      address: env.server.address,
      taskQueue: env.cppTaskQueue,
      tsTaskQueue: env.tsTaskQueue,
    });
    scope.add(() => env.cpp.stop());
  }, { timeout: 90_000 });
  after(() => scope.close(), { timeout: 120_000 });

  /** Runs workflow `type` on `taskQueue` with `args` and returns its result. */
  function run(type, taskQueue, args) {
    return env.client.workflow.execute(type, { taskQueue, workflowId: uniqueId(type), args });
  }

  eonTest('a C++ workflow calls a TypeScript activity', async () => {
    const result = await run('cppCallsTs', env.cppTaskQueue, ['Ada', 21]);
    assert.deepEqual(result, describeName('Ada', 21));
    assert.deepEqual(result, { greeting: 'Hello, Ada!', length: 3, doubled: 42, tags: ['cpp', 'Ada'] });
  });

  eonTest('a TypeScript workflow calls a C++ activity', async () => {
    const result = await run('tsCallsCpp', env.tsTaskQueue, ['Ada', 21, env.cppTaskQueue]);
    assert.deepEqual(result, describeName('Ada', 21));
  });

  eonTest('a C++ workflow calls a C++ activity, and all three paths agree', async () => {
    const [cppOnly, cppToTs, tsToCpp] = await Promise.all([
      run('cppDescribeWorkflow', env.cppTaskQueue, ['Grace', -7]),
      run('cppCallsTs', env.cppTaskQueue, ['Grace', -7]),
      run('tsCallsCpp', env.tsTaskQueue, ['Grace', -7, env.cppTaskQueue]),
    ]);
    assert.deepEqual(cppOnly, describeName('Grace', -7));
    assert.deepEqual(cppToTs, cppOnly);
    assert.deepEqual(tsToCpp, cppOnly);
  });

  eonTest('a Unicode name round-trips through both SDKs', async () => {
    const name = 'Zoë 🚀 日本';
    const expected = describeName(name, 5);
    assert.equal(expected.length, 8); // code points, not UTF-16 units (9) or UTF-8 bytes (16)
    const [cppOnly, cppToTs, tsToCpp] = await Promise.all([
      run('cppDescribeWorkflow', env.cppTaskQueue, [name, 5]),
      run('cppCallsTs', env.cppTaskQueue, [name, 5]),
      run('tsCallsCpp', env.tsTaskQueue, [name, 5, env.cppTaskQueue]),
    ]);
    assert.deepEqual(cppOnly, expected);
    assert.deepEqual(cppToTs, expected);
    assert.deepEqual(tsToCpp, expected);
  });
});

describe('a C++ worker process killed in the middle of a workflow', () => {
  const env = { taskQueue: uniqueId('cpp-crash') };
  const scope = new Scope();
  before(async () => {
    env.server = scope.track(await EonServer.start());
    ({ client: env.client } = scope.track(await connectClient(env.server)));
  }, { timeout: 60_000 });
  after(() => scope.close(), { timeout: 60_000 });

  eonTest('another worker process finishes it from the history', async () => {
    // A short sticky timeout: the dead worker's sticky queue hands the next task back quickly.
    const workerArgs = { address: env.server.address, taskQueue: env.taskQueue, tsTaskQueue: 'unused', stickyTimeoutMs: 500 };
    const first = await startCppWorker(workerArgs);
    const workflowId = uniqueId('sleepy');
    const handle = await env.client.workflow.start('cppSleepThenDescribe', {
      taskQueue: env.taskQueue,
      workflowId,
      args: ['Hopper', 4, 1500],
    });
    const types = async () =>
      (await handle.fetchHistory()).events.map((e) => temporalEventType(e.eventType));
    // Wait until the first worker started the timer, then kill it without warning.
    for (let i = 0; i < 200 && !(await types()).includes('TIMER_STARTED'); i++) {
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.ok((await types()).includes('TIMER_STARTED'), 'the first worker did not start the timer');
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('close', resolve));

    const second = await startCppWorker(workerArgs);
    scope.add(() => second.stop());
    const result = await withTimeout(handle.result(), 30_000, 'the workflow after the worker crash');
    assert.deepEqual(result, describeName('Hopper', 4));
    const events = await types();
    assert.equal(events.filter((t) => t === 'TIMER_STARTED').length, 1, events.join(' '));
    assert.equal(events.filter((t) => t === 'ACTIVITY_TASK_SCHEDULED').length, 1, events.join(' '));
  });
});

/** EVENT_TYPE_TIMER_STARTED (enum number or name, as the SDK returns it) -> TIMER_STARTED. */
function temporalEventType(eventType) {
  const { temporal } = require('@temporalio/proto');
  const name = typeof eventType === 'number' ? temporal.api.enums.v1.EventType[eventType] : String(eventType);
  return name.replace(/^EVENT_TYPE_/, '');
}
