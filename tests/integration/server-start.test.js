'use strict';
// `eon server start`, the production server: settings from a YAML file and from flags (flags
// win), one clear line and a non-zero exit for every kind of bad setting, and a node on
// PostgreSQL serving a workflow through the TypeScript SDK (on the PostgreSQL that
// EON_TEST_POSTGRES_URL names; scripts/with-postgres.sh starts one).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const {
  EonServer,
  POSTGRES_ADMIN_URL,
  connectClient,
  createPostgresSchema,
  eonTest,
  getFreePort,
  makeTempDir,
  runEon,
  startWorker,
  uniqueId,
} = require('./harness');

function describeRun(run) {
  return `exit code ${run.code}, signal ${run.signal}\n--- output ---\n${run.output}--- end ---`;
}

/** `eon server start` on 127.0.0.1:port with no metrics, plus `args`. */
function startArgs(port, args) {
  return ['server', 'start', '--ip', '127.0.0.1', '--port', String(port), '--metrics-port', 'off',
    '--log-level', 'warn', ...args];
}

/** Runs a start that must fail: non-zero exit, one line, naming what was wrong. */
async function assertRefused(args, pattern) {
  const run = await runEon(['server', 'start', ...args], { timeoutMs: 20_000 });
  assert.equal(run.timedOut, false, `eon should exit by itself\n${describeRun(run)}`);
  assert.notEqual(run.code, 0, describeRun(run));
  const lines = run.output.split('\n').filter((line) => line !== '');
  assert.equal(lines.length, 1, `exactly one line expected for ${args.join(' ')}\n${describeRun(run)}`);
  assert.match(lines[0], /^Error: /, describeRun(run));
  assert.match(lines[0], pattern, describeRun(run));
}

eonTest('eon server start reads eon.yaml, and flags override the file', async (t, scope) => {
  const dir = makeTempDir();
  scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const filePort = await getFreePort();
  const config = path.join(dir, 'eon.yaml');
  fs.writeFileSync(config, [
    '# settings of eon server start',
    `database: ${path.join(dir, 'eon.db')}`,
    'ip: 127.0.0.1',
    `port: ${filePort}`,
    'metrics-port: off',
    'num-shards: 8',
    'node-name: from-file',
    'log-level: warn',
    'namespace:',
    '  - orders',
    '  - billing',
    '',
  ].join('\n'));

  const server = scope.track(await EonServer.start({
    args: (port) => ['server', 'start', '--config', config, '--port', String(port), '--node-name', 'from-flag'],
  }));
  assert.notEqual(server.port, filePort);
  assert.match(server.output, new RegExp(`listening on 127\\.0\\.0\\.1:${server.port} `));
  assert.match(server.output, /Node: from-flag\n/, server.output);
  assert.doesNotMatch(server.output, /Metrics:|Web UI:/, 'metrics off from the file, and no UI by default');
  const { connection } = scope.track(await connectClient(server));
  const cluster = await connection.workflowService.getClusterInfo({});
  assert.equal(cluster.historyShardCount, 8);
  for (const name of ['orders', 'billing', 'default']) {
    const described = await connection.workflowService.describeNamespace({ namespace: name });
    assert.equal(described.namespaceInfo.name, name);
  }
  await server.stop();

  // A repeatable setting given as a flag replaces the file's list rather than adding to it.
  const again = scope.track(await EonServer.start({
    args: (port) => ['server', 'start', '--config', config, '--port', String(port), '--namespace', 'shipping'],
  }));
  const second = scope.track(await connectClient(again));
  const listed = await second.connection.workflowService.listNamespaces({});
  const names = listed.namespaces.map((n) => n.namespaceInfo.name);
  assert.ok(names.includes('shipping'), names.join(','));
});

eonTest('eon server start: each kind of bad setting is one line naming it and a non-zero exit', async (t, scope) => {
  const dir = makeTempDir();
  scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'eon.db');
  const file = (name, text) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  };
  const port = String(await getFreePort());
  const base = ['--database', db, '--port', port, '--metrics-port', 'off'];

  await assertRefused(['--port', port], /--database is required/);
  await assertRefused([...base, '--port', 'seventy'], /--port needs a port number \(0-65535\), got "seventy"/);
  await assertRefused([...base, '--ip', '999.1.1.1'], /--ip needs an IP address/);
  await assertRefused([...base, '--num-shards', '0'], /--num-shards needs a whole number from 1 to 16384/);
  await assertRefused([...base, '--node-name', 'a b'], /--node-name needs 1 to 64 letters/);
  await assertRefused([...base, '--log-level', 'loud'], /--log-level must be one of/);
  await assertRefused([...base, '--internal-port', port], /--internal-port and --port are both/);
  await assertRefused([...base, '--caller-rps', '-3'], /--caller-rps needs a positive number/);
  const internal = ['--internal-port', String(await getFreePort())];
  await assertRefused([...base, ...internal, '--internal-address', 'fd00::1:7234'], /--internal-address needs a host or host:port \(an IPv6 address in brackets\)/);
  await assertRefused([...base, ...internal, '--internal-address', 'eon-1:70000'], /--internal-address needs a port from 1 to 65535/);
  await assertRefused([...base, '--internal-address', 'eon-1'], /--internal-address needs --internal-port/);
  await assertRefused([...base, ...internal, '--ip', '0.0.0.0'], /--ip 0\.0\.0\.0 binds every interface.*--internal-address/);
  await assertRefused([...base, ...internal, '--internal-tls-cert-path', path.join(dir, 'node.pem')],
    /mTLS between nodes needs all of --internal-tls-cert-path, --internal-tls-key-path and --internal-tls-ca-path/);
  await assertRefused([...base, ...internal, '--internal-tls-cert-path', path.join(dir, 'node.pem'),
    '--internal-tls-key-path', path.join(dir, 'node.key'), '--internal-tls-ca-path', path.join(dir, 'ca.pem')],
  /cannot read the TLS certificate .*node\.pem/);
  await assertRefused([...base, '--num-shards'], /--num-shards needs a whole number/);
  await assertRefused([...base, '--bogus'], /unknown flag --bogus for "eon server start"/);
  await assertRefused([...base, '--headless'], /unknown flag --headless for "eon server start"/);
  await assertRefused([...base, '--config', path.join(dir, 'missing.yaml')], /--config: cannot read .*missing\.yaml/);
  await assertRefused(['--config', file('unknown.yaml', `database: ${db}\nprot: 7233\n`)],
    /unknown\.yaml:2: unknown setting "prot"/);
  await assertRefused(['--config', file('dev-only.yaml', 'time-skipping: true\n')],
    /dev-only\.yaml:1: unknown setting "time-skipping"/);
  await assertRefused(['--config', file('bad-value.yaml', `database: ${db}\nmetrics-port: nine\n`)],
    /bad-value\.yaml:2: metrics-port needs a port number \(0-65535\) or off, got "nine"/);
  await assertRefused(['--config', file('list.yaml', `database: ${db}\nport: [1, 2]\n`)],
    /list\.yaml:2: port must be a single value/);
  await assertRefused(['--config', file('empty.yaml', `database:\n`)], /empty\.yaml:1: database has no value/);
  await assertRefused(['--config', file('broken.yaml', 'port: 1\n  x: : [\n')], /broken\.yaml:\d+: not valid YAML/);
  await assertRefused(['--config', file('sequence.yaml', '- port\n- 7233\n')], /must be a mapping of settings/);
  await assertRefused([...base, '--tls-cert-path', path.join(dir, 'none.pem'), '--tls-key-path', path.join(dir, 'none.key')],
    /none\.pem/);
  await assertRefused(['--database', 'postgresql://eon@127.0.0.1:1/nothing', '--port', port, '--metrics-port', 'off'],
    /cannot connect to PostgreSQL: .*port 1 failed/);

  // --num-shards is fixed when a SQLite database is created.
  const first = scope.track(await EonServer.start({ args: (p) => startArgs(p, ['--database', db, '--num-shards', '8']) }));
  await first.stop();
  await assertRefused([...base, '--num-shards', '4'], /created with 8 shards and cannot be opened with 4/);
});

eonTest('eon server start on PostgreSQL serves a workflow through the TypeScript SDK', async (t, scope) => {
  if (!POSTGRES_ADMIN_URL) {
    if (process.env.CI) assert.fail('EON_TEST_POSTGRES_URL is not set (scripts/with-postgres.sh sets it)');
    t.skip('no PostgreSQL (EON_TEST_POSTGRES_URL is not set)');
    return;
  }
  const database = await createPostgresSchema();
  scope.add(() => database.drop());
  const internalPort = await getFreePort();
  const server = scope.track(await EonServer.start({
    args: (port) => startArgs(port, ['--database', database.url, '--num-shards', '8', '--node-name', 'pg-node-1',
      '--internal-port', String(internalPort)]),
  }));
  assert.match(server.output, /Database: postgresql:\/\//);
  const taskQueue = uniqueId('tq');
  const worker = scope.track(await startWorker(server, {
    taskQueue,
    activities: { async greet(name) { return `Hello, ${name}!`; } },
  }));
  const { client, connection } = scope.track(await connectClient(server));
  const result = await client.workflow.execute('greet', { taskQueue, workflowId: uniqueId('pg'), args: ['PostgreSQL'] });
  assert.equal(result, 'Hello, PostgreSQL!');
  const cluster = await connection.workflowService.getClusterInfo({});
  assert.equal(cluster.historyShardCount, 8);
  await worker.shutdown();
  await server.stop();

  // The shard count is fixed in the database too.
  await assertRefused(['--database', database.url, '--port', String(await getFreePort()), '--metrics-port', 'off',
    '--num-shards', '16'], /created with 8 shards and cannot be opened with 16/);
});
