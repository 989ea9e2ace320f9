'use strict';
// The `eon server start-dev` command line: startup failures, the printed address, SIGTERM.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');

const { EonServer, connectClient, eonTest, getFreePort, makeTempDir, runEon, startDevArgs } = require('./harness');

/** Describes a finished run for assertion messages. */
const describeRun = (run) => `code=${run.code} signal=${run.signal} timedOut=${run.timedOut}\n--- output ---\n${run.output}`;

eonTest('start-dev on a port that is already taken exits non-zero and names the port', async (t, scope) => {
  const port = await getFreePort();
  const holder = net.createServer();
  await new Promise((resolve, reject) => {
    holder.once('error', reject);
    holder.listen(port, '127.0.0.1', resolve);
  });
  scope.add(() => new Promise((resolve) => holder.close(resolve)));

  const run = await runEon(startDevArgs({ port }), { timeoutMs: 10_000 });
  assert.equal(run.timedOut, false, `eon should exit by itself within 10 s\n${describeRun(run)}`);
  assert.equal(typeof run.code, 'number', describeRun(run));
  assert.notEqual(run.code, 0, describeRun(run));
  assert.ok(run.output.includes(String(port)), `output should mention port ${port}\n${describeRun(run)}`);
});

eonTest('start-dev refuses a --db-filename that is not an Eon database', async (t, scope) => {
  const dir = makeTempDir();
  scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbFile = path.join(dir, 'not-a-db.txt');
  const content = 'hello, not a database\n'.repeat(1000);
  fs.writeFileSync(dbFile, content);

  const run = await runEon(startDevArgs({ port: await getFreePort(), dbFile }), { timeoutMs: 10_000 });
  assert.equal(run.timedOut, false, `eon should exit by itself within 10 s\n${describeRun(run)}`);
  assert.equal(typeof run.code, 'number', describeRun(run));
  assert.notEqual(run.code, 0, describeRun(run));
  assert.match(run.output, /not an eon database/i, describeRun(run));
  assert.equal(fs.readFileSync(dbFile, 'utf8'), content, 'eon must not modify a file it does not own');
});

eonTest('the server prints the address it listens on', async (t, scope) => {
  const server = scope.track(await EonServer.start());
  // Give the server a moment in case it prints the banner right after it starts listening.
  for (let i = 0; i < 50 && !server.output.includes(server.address); i++) {
    await sleep(100);
  }
  assert.ok(server.output.includes(server.address), `output should contain ${server.address}${server.describeOutput()}`);
});

eonTest('SIGTERM makes a running server exit with code 0', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  if (server.postgres) {
    const tables = await server.postgres.sql(
      `SELECT count(*) FROM information_schema.tables WHERE table_schema = '${server.postgres.name}'`);
    assert.ok(Number(tables) > 0, `start-dev should create its tables in the schema ${server.postgres.name}`);
  } else {
    assert.ok(fs.existsSync(server.dbFile), `start-dev should create the database file ${server.dbFile}`);
  }
  const { code, signal } = await server.stop({ timeoutMs: 10_000 });
  assert.equal(code, 0);
  assert.equal(signal, null);
  assert.equal(server.running, false);
});

eonTest('--num-shards is fixed when the database is created; another count is refused', async (t, scope) => {
  const dir = makeTempDir();
  scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const dbFile = path.join(dir, 'eon.db');

  const first = scope.track(await EonServer.start({ db: dbFile, extraArgs: ['--num-shards', '8'] }));
  {
    const { connection } = scope.track(await connectClient(first));
    const cluster = await connection.workflowService.getClusterInfo({});
    assert.equal(cluster.historyShardCount, 8);
  }
  await first.stop({ timeoutMs: 10_000 });

  const other = await runEon(startDevArgs({ port: await getFreePort(), dbFile, extraArgs: ['--num-shards', '4'] }), {
    timeoutMs: 10_000,
  });
  assert.equal(other.timedOut, false, `eon should exit by itself within 10 s\n${describeRun(other)}`);
  assert.notEqual(other.code, 0, describeRun(other));
  assert.match(other.output, /created with 8 shards/, describeRun(other));

  const bad = await runEon(startDevArgs({ port: await getFreePort(), extraArgs: ['--num-shards', '0'] }), {
    timeoutMs: 10_000,
  });
  assert.notEqual(bad.code, 0, describeRun(bad));
  assert.match(bad.output, /--num-shards needs a whole number/, describeRun(bad));

  // Without the flag, the database's own count.
  const again = scope.track(await EonServer.start({ db: dbFile }));
  const { connection } = scope.track(await connectClient(again));
  const cluster = await connection.workflowService.getClusterInfo({});
  assert.equal(cluster.historyShardCount, 8);
});
