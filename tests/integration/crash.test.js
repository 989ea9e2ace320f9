'use strict';
// Durability: state written to --db-filename survives kill -9 and clean restarts.
// Each test starts its own server on its own database file.

const assert = require('node:assert/strict');
const { setTimeout: sleep } = require('node:timers/promises');

const { EonServer, connectClient, countEvents, eonTest, eventTypes, startWorker, uniqueId } = require('./harness');

const greetActivities = {
  async greet(name) {
    return `Hello, ${name}!`;
  },
};

eonTest('a workflow whose activity is running when the server is killed -9 completes after restart', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));

  let slowRuns = 0;
  let signalSlowStarted;
  const slowStarted = new Promise((resolve) => {
    signalSlowStarted = resolve;
  });
  const activities = {
    async slowActivity(x) {
      slowRuns += 1;
      signalSlowStarted();
      await sleep(3000);
      return `done:${x}`;
    },
    async quickActivity(x) {
      return `quick:${x}`;
    },
  };
  const taskQueue = uniqueId('crash');
  // The worker keeps running across the crash: its connection retries until the server is back.
  scope.track(await startWorker(server, { taskQueue, activities }));

  const before = scope.track(await connectClient(server));
  const started = await before.client.workflow.start('slowThenQuick', {
    taskQueue,
    workflowId: uniqueId('crash'),
    args: ['a'],
  });

  await slowStarted;
  await server.kill9();
  await sleep(1000);
  await server.restart();

  const after = scope.track(await connectClient(server));
  const handle = after.client.workflow.getHandle(started.workflowId, started.firstExecutionRunId);
  assert.equal(await handle.result(), 'done:a|quick:a');

  const history = await handle.fetchHistory();
  assert.equal(countEvents(history, 'ACTIVITY_TASK_COMPLETED'), 2, eventTypes(history).join(', '));
  assert.equal(countEvents(history, 'WORKFLOW_EXECUTION_COMPLETED'), 1, eventTypes(history).join(', '));
  assert.equal(eventTypes(history).at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
  // The server persisted that the activity had started, so the completion the worker
  // sends after the restart is accepted; the activity is not run a second time.
  assert.equal(slowRuns, 1, 'slowActivity should have run exactly once');
  assert.equal((await handle.describe()).status.name, 'COMPLETED');
});

eonTest('workflows started just before kill -9 are recovered and run after restart', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  const taskQueue = uniqueId('backlog');

  const before = scope.track(await connectClient(server));
  const names = ['w0', 'w1', 'w2', 'w3', 'w4'];
  const started = [];
  for (const name of names) {
    started.push(
      await before.client.workflow.start('greet', { taskQueue, workflowId: uniqueId(name), args: [name] }),
    );
  }

  // No worker has polled yet: all five are only in the database.
  await server.kill9();
  await server.restart();

  scope.track(await startWorker(server, { taskQueue, activities: greetActivities }));
  const after = scope.track(await connectClient(server));
  const results = await Promise.all(
    started.map((h) => after.client.workflow.getHandle(h.workflowId, h.firstExecutionRunId).result()),
  );
  assert.deepEqual(results, names.map((n) => `Hello, ${n}!`));
});

eonTest('a clean stop and restart keeps history, and a connected worker carries on', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  const taskQueue = uniqueId('restart');
  scope.track(await startWorker(server, { taskQueue, activities: greetActivities }));

  const before = scope.track(await connectClient(server));
  const workflowId = uniqueId('kept');
  assert.equal(
    await before.client.workflow.execute('greet', { taskQueue, workflowId, args: ['before'] }),
    'Hello, before!',
  );
  const historyBefore = eventTypes(await before.client.workflow.getHandle(workflowId).fetchHistory());

  // SIGTERM while the worker is still polling: must exit 0 (asserted by stop()).
  await server.stop();
  await server.restart();

  const after = scope.track(await connectClient(server));
  const kept = after.client.workflow.getHandle(workflowId);
  assert.equal((await kept.describe()).status.name, 'COMPLETED');
  assert.equal(await kept.result(), 'Hello, before!');
  assert.deepEqual(eventTypes(await kept.fetchHistory()), historyBefore);

  assert.equal(
    await after.client.workflow.execute('greet', { taskQueue, workflowId: uniqueId('after'), args: ['after'] }),
    'Hello, after!',
  );
});
