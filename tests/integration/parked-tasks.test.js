'use strict';
// A parked outbox task survives kill -9 (issue 11): an outbox task that keeps failing is parked
// where operators see it, stays parked through a kill -9 and a restart on the same database,
// and runs when an operator retries it.
//
// The failure is a real one, made from outside the server: the database refuses the visibility
// row of one workflow (a trigger added by the sqlite3 shell, or by psql on PostgreSQL, as a disk
// or schema fault would), so that workflow's visibility write fails on every attempt while every other write
// goes through. That workflow has a custom search attribute, so its listing row is written by an
// outbox task after the commit (without one the row goes in the commit itself, and the start
// would fail instead). The server runs with --task-failures-before-parking 3 (the default, 10,
// takes about five minutes of backoff).

const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const { randomUUID } = require('node:crypto');
const { setTimeout: sleep } = require('node:timers/promises');

const { EonServer, connectClient, eonTest, runEon, uniqueId } = require('./harness');

const TRIGGER = 'eon_test_refuse_visibility';

/**
 * Runs SQL on the server's database: its file with the sqlite3 shell (waiting for the write
 * lock), or its PostgreSQL schema with psql.
 */
async function sql(server, statement) {
  if (server.postgres) return server.postgres.sql(statement);
  return execFileSync('sqlite3', ['-cmd', '.timeout 10000', server.dbFile, statement], { encoding: 'utf8' });
}

/** The statements that make the database refuse `workflowId`'s visibility row, and undo it. */
function refuseVisibilityRow(server, workflowId) {
  if (server.postgres) {
    return {
      create: `CREATE FUNCTION ${TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
        `IF NEW.workflow_id = '${workflowId}' THEN RAISE EXCEPTION 'visibility row refused by the test'; END IF; ` +
        `RETURN NEW; END $$; CREATE TRIGGER ${TRIGGER} BEFORE INSERT OR UPDATE ON visibility ` +
        `FOR EACH ROW EXECUTE FUNCTION ${TRIGGER}();`,
      drop: `DROP TRIGGER ${TRIGGER} ON visibility;`,
    };
  }
  return {
    create: `CREATE TRIGGER ${TRIGGER} BEFORE INSERT ON visibility WHEN NEW.workflow_id = '${workflowId}' ` +
      `BEGIN SELECT RAISE(ABORT, 'visibility row refused by the test'); END;`,
    drop: `DROP TRIGGER ${TRIGGER};`,
  };
}

async function parkedTasks(server) {
  const out = await runEon(['admin', 'parked-tasks', 'list', '--address', server.address, '--output', 'json']);
  assert.equal(out.code, 0, out.output);
  return JSON.parse(out.output).tasks ?? [];
}

async function waitFor(what, probe, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function listed(client, workflowId) {
  const found = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) found.push(w);
  return found;
}

eonTest('a parked outbox task stays parked through kill -9 and runs when an operator retries it', async (t, scope) => {
  const server = scope.track(
    await EonServer.start({ db: true, extraArgs: ['--task-failures-before-parking', '3'] }),
  );
  const poisoned = uniqueId('parked');
  const fault = refuseVisibilityRow(server, poisoned);
  await sql(server, fault.create);

  const created = await runEon(['operator', 'search-attribute', 'create', '--address', server.address,
    '--name', 'ParkedTag', '--type', 'Keyword']);
  assert.equal(created.code, 0, created.output);

  let { client, connection } = await connectClient(server);
  const start = (workflowId, searchAttributes) =>
    client.workflow.start('Robust', {
      workflowId, taskQueue: 'parked-tq', args: [], requestId: randomUUID(), searchAttributes,
    });
  const handle = await start(poisoned, { ParkedTag: ['poisoned'] });
  const runId = handle.firstExecutionRunId;

  // Three failures in a row (1 s, then 2 s of backoff), then parked and listed with its error.
  const parked = await waitFor('the visibility task to be parked', async () => {
    const tasks = await parkedTasks(server);
    return tasks.length > 0 ? tasks : null;
  });
  assert.equal(parked.length, 1, JSON.stringify(parked));
  const [task] = parked;
  assert.equal(task.workflowId, poisoned);
  assert.equal(task.runId, runId);
  assert.equal(task.category, 'transfer');
  assert.match(task.taskType, /VISIBILITY/i);
  assert.equal(task.failures, 3);
  assert.match(task.lastError, /visibility row refused by the test/);

  // The shard keeps serving: another workflow starts and is listed; the poisoned one is described.
  const healthy = uniqueId('healthy');
  await start(healthy);
  await waitFor('the healthy workflow to be listed', async () => (await listed(client, healthy)).length === 1);
  assert.equal((await handle.describe()).status.name, 'RUNNING');
  assert.equal((await listed(client, poisoned)).length, 0, 'the refused visibility row is not there');
  await connection.close();

  await server.kill9();
  await server.restart();

  // Still parked after the restart, with what operators need to judge it, and not run again:
  // the trigger is still there, so a retry by the restarted server would have raised the count.
  const human = await runEon(['admin', 'parked-tasks', 'list', '--address', server.address]);
  assert.equal(human.code, 0, human.output);
  assert.match(human.output, new RegExp(`${task.taskId}\\s+transfer\\s+\\S*VISIBILITY\\S*\\s+${poisoned}\\s+${runId}\\s+failures=3`, 'i'));
  await sleep(4_000); // longer than the backoff before the first two retries
  const after = await parkedTasks(server);
  assert.deepEqual(
    after.map((p) => [p.taskId, p.workflowId, p.failures, p.lastError]),
    [[task.taskId, poisoned, 3, task.lastError]],
  );

  // The fault is repaired; the operator retries the task and it runs.
  await sql(server, fault.drop);
  const retried = await runEon(['admin', 'parked-tasks', 'retry', '--task-id', String(task.taskId), '--address', server.address]);
  assert.equal(retried.code, 0, retried.output);
  assert.match(retried.output, /Retrying 1 parked tasks\./);
  ({ client, connection } = await connectClient(server));
  await waitFor('the retried workflow to be listed', async () => (await listed(client, poisoned)).length === 1);
  assert.deepEqual(await parkedTasks(server), []);

  // Done for good: it is not parked again after another kill -9.
  await connection.close();
  await server.kill9();
  await server.restart();
  assert.deepEqual(await parkedTasks(server), []);
  ({ client, connection } = await connectClient(server));
  assert.equal((await listed(client, poisoned)).length, 1);
  await connection.close();
});

eonTest('--task-failures-before-parking takes a whole number from 1 to 1000', async () => {
  for (const bad of ['0', '1001', '3x', '-1']) {
    const out = await runEon(['server', 'start-dev', '--headless', '--port', '0', '--metrics-port', '0', '--task-failures-before-parking', bad]);
    assert.equal(out.timedOut, false, out.output);
    assert.notEqual(out.code, 0, out.output);
    assert.match(out.output, /--task-failures-before-parking needs a whole number from 1 to 1000/);
  }
});
