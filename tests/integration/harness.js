'use strict';
// Shared harness for the Eon integration tests.
//
// - EonServer: starts `eon server start-dev` on a free port, captures its output,
//   and can kill -9 / restart / stop it.
// - runEon: runs eon with arbitrary arguments and waits for it to exit (CLI tests).
// - connectClient / startWorker: Temporal SDK client and worker against a server.
// - eonTest: node:test `test` wrapper with a hard timeout, per-test cleanup scope,
//   and the server output printed when the test fails.

const { execFile, execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: sleep } = require('node:timers/promises');
const { randomUUID } = require('node:crypto');
const { after, before, test } = require('node:test');

const { Client, Connection } = require('@temporalio/client');
const { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } = require('@temporalio/worker');
const { temporal } = require('@temporalio/proto');

const EON_BIN = process.env.EON_BIN
  ? path.resolve(process.env.EON_BIN)
  : path.resolve(__dirname, '..', '..', 'build', 'eon');

const DEFAULT_TEST_TIMEOUT_MS = 120_000;
const STARTUP_TIMEOUT_MS = 30_000;
const MAX_CAPTURED_OUTPUT = 256 * 1024;

// Keep the SDK's Rust core quiet unless something is really wrong. Must run before any
// NativeConnection/Worker is created; each test file is its own process.
Runtime.install({ logger: new DefaultLogger('WARN') });

// ---------------------------------------------------------------------------
// PostgreSQL
//
// EON_TEST_POSTGRES_URL names a PostgreSQL server and a user that may create schemas
// (scripts/with-postgres.sh sets it). With EON_IT_POSTGRES=1 too, every server a test starts
// without a database file of its own (db: true or false) keeps its state in PostgreSQL instead,
// in a fresh schema created before its first start and dropped when it is disposed of, so the
// suite runs unchanged against a node on PostgreSQL. A test that names a file (db: 'path') keeps
// SQLite. A schema rather than a database per server: CREATE and DROP DATABASE make PostgreSQL
// run an immediate checkpoint, which stalls every other server's commits for a second or two.

const POSTGRES_ADMIN_URL = process.env.EON_TEST_POSTGRES_URL ?? '';
const ON_POSTGRES = process.env.EON_IT_POSTGRES === '1';
if (ON_POSTGRES && !POSTGRES_ADMIN_URL) {
  throw new Error('EON_IT_POSTGRES=1 needs EON_TEST_POSTGRES_URL (run under scripts/with-postgres.sh)');
}

/** Runs SQL statements with psql on the admin connection, one transaction each. */
/** Runs the statements with psql against `url`; resolves with its unaligned, tuples-only output. */
function psqlAt(url, ...statements) {
  return new Promise((resolve, reject) => {
    const args = [url, '-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];
    for (const statement of statements) args.push('-c', statement);
    execFile('psql', args, { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`psql: ${statements.join('; ')}: ${stderr || err.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** psqlAt on EON_TEST_POSTGRES_URL's server as its administrator (any schema, by its name). */
function adminSql(...statements) {
  return psqlAt(POSTGRES_ADMIN_URL, ...statements);
}

/**
 * Creates a fresh, empty schema on EON_TEST_POSTGRES_URL's server for one Eon server. Resolves
 * with { name, url, drop() }: url is the admin URL with that schema first on the search path
 * (Eon keeps its tables there) and the schema's name as application_name, so that drop() can end
 * the sessions still connected (a server killed with -9) before it removes the schema.
 */
async function createPostgresSchema() {
  if (!POSTGRES_ADMIN_URL) throw new Error('EON_TEST_POSTGRES_URL is not set');
  const name = `eon_it_${randomUUID().replace(/-/g, '')}`;
  await adminSql(`CREATE SCHEMA ${name}`);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.searchParams.set('options', `-csearch_path=${name}`);
  url.searchParams.set('application_name', name);
  return {
    name,
    url: url.toString(),
    sql: (...statements) => psqlAt(url.toString(), ...statements), // within the schema
    drop: () => adminSql(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '${name}'`,
      `DROP SCHEMA IF EXISTS ${name} CASCADE`,
    ),
  };
}

// ---------------------------------------------------------------------------
// small utilities

/** Resolves with a TCP port that was free on 127.0.0.1 a moment ago. */
function getFreePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Rejects with an Error(`${what} timed out after ${ms} ms${detail()}`) unless `promise` settles first. */
async function withTimeout(promise, ms, what, detail = () => '') {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms${detail()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function canConnect(port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

function makeTempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'eon-it-'));
}

/**
 * Certificates made by `openssl` in `dir`: a CA, a server certificate for localhost/127.0.0.1
 * (also usable as a client's), a client certificate, and a stranger CA with its own client.
 * { dir, file(name): its path, read(name): its bytes }.
 */
function makeCerts(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'rogue-ca']) {
    openssl('req', '-x509', ...ec, '-keyout', `${ca}.key`, '-out', `${ca}.pem`, '-days', '2', '-subj', `/CN=${ca}`);
  }
  fs.writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  const issue = (name, ca, subject, ext) => {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`,
      '-CAcreateserial', '-out', `${name}.pem`, '-days', '2', ...(ext ? ['-extfile', ext] : []));
  };
  issue('server', 'ca', '/CN=localhost', 'server.ext');
  issue('client', 'ca', '/CN=worker-1');
  issue('rogue-client', 'rogue-ca', '/CN=intruder');
  const read = (f) => fs.readFileSync(path.join(dir, f));
  return { dir, file: (f) => path.join(dir, f), read };
}

function checkBinary() {
  try {
    fs.accessSync(EON_BIN, fs.constants.X_OK);
  } catch {
    throw new Error(`eon binary not found or not executable at ${EON_BIN}; build it or set EON_BIN`);
  }
}

/** Every eon process this test process started, so none outlives it. */
const liveChildren = new Set();
process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Spawns eon with `args`, collecting stdout+stderr (interleaved) into `sink.output`.
 * Returns { child, exited } where `exited` resolves with { code, signal }.
 */
function spawnEon(args, sink) {
  checkBinary();
  const child = spawn(EON_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  liveChildren.add(child);
  const append = (chunk) => {
    sink.output += chunk.toString();
    if (sink.output.length > MAX_CAPTURED_OUTPUT) {
      sink.output = sink.output.slice(-MAX_CAPTURED_OUTPUT);
    }
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);
  const exited = new Promise((resolve) => {
    child.once('error', (err) => {
      append(`[harness] failed to spawn ${EON_BIN}: ${err.message}\n`);
      liveChildren.delete(child);
      resolve({ code: null, signal: null, error: err });
    });
    // 'close' (not 'exit') so that all output has been read.
    child.once('close', (code, signal) => {
      liveChildren.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, exited };
}

/**
 * Runs `eon ...args` to completion. Resolves with { code, signal, output, timedOut };
 * a process still running after `timeoutMs` is killed with SIGKILL (timedOut: true).
 */
/**
 * Runs the `eon` command line (a client command) to completion with its stdout and stderr kept
 * apart; `env` adds environment variables. Killed after 30 s.
 */
function runCli(args, env = {}) {
  return new Promise((resolve) => {
    const child = spawn(EON_BIN, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function runEon(args, { timeoutMs = 10_000 } = {}) {
  const sink = { output: '' };
  const { child, exited } = spawnEon(args, sink);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  return { code, signal, output: sink.output, timedOut };
}

// ---------------------------------------------------------------------------
// EonServer

/**
 * Arguments for `eon server start-dev` on 127.0.0.1:port, as every test uses it; `database` (a
 * PostgreSQL URL) instead of `dbFile` for a server on PostgreSQL.
 */
function startDevArgs({ port, dbFile, database, extraArgs = [] }) {
  return [
    'server', 'start-dev',
    '--port', String(port),
    '--ip', '127.0.0.1',
    // No web UI unless a test asks for one on a port of its choosing (8233 may be taken).
    ...(extraArgs.includes('--ui-port') ? [] : ['--headless']),
    ...(dbFile ? ['--db-filename', dbFile] : []),
    ...(database ? ['--database', database] : []),
    '--log-level', 'warn',
    // A free port for /metrics: the default (9233) belongs to whoever runs a server here.
    '--metrics-port', '0',
    ...extraArgs,
  ];
}

/** All servers started by this process, so failures can show their output. */
const allServers = new Set();

class EonServer {
  /**
   * Starts `eon server start-dev` and waits until its port accepts TCP connections.
   * @param {object} [opts]
   * @param {boolean|string} [opts.db] true: a db file in a fresh temp dir; a string: that path;
   *   false/absent: no --db-filename (in-memory server). Under EON_IT_POSTGRES=1, true and false
   *   both mean a fresh PostgreSQL schema (see createPostgresSchema).
   * @param {number} [opts.port] defaults to a free port.
   * @param {string[]} [opts.extraArgs]
   * @param {(port: number) => string[]} [opts.args] the whole command line for the port, instead
   *   of start-dev's (e.g. `eon server start`); `db` is then ignored.
   */
  static async start({ db = false, port, extraArgs = [], args } = {}) {
    const server = new EonServer();
    server.port = port ?? (await getFreePort());
    server.address = `127.0.0.1:${server.port}`;
    if (db === true) {
      server.tmpDir = makeTempDir();
      server.dbFile = path.join(server.tmpDir, 'eon.db');
    } else if (typeof db === 'string') {
      server.dbFile = db;
    }
    allServers.add(server);
    try {
      if (args) {
        server.args = args(server.port);
      } else {
        if (ON_POSTGRES && typeof db !== 'string') server.postgres = await createPostgresSchema();
        server.args = startDevArgs({
          port: server.port,
          dbFile: server.postgres ? undefined : server.dbFile,
          database: server.postgres?.url,
          extraArgs,
        });
      }
      await server._launch();
    } catch (err) {
      await server.dispose(); // the error message already carries the server output
      throw err;
    }
    return server;
  }

  constructor() {
    this.output = ''; // stdout+stderr of every run of this server, in order
    this.proc = null;
    this.exited = null;
    this.launches = 0;
  }

  get running() {
    return this.proc !== null;
  }

  async _launch() {
    this.launches += 1;
    this.output += `[harness] launch #${this.launches}: ${EON_BIN} ${this.args.join(' ')}\n`;
    const launchedAt = this.output.length;
    const { child, exited } = spawnEon(this.args, this);
    this.proc = child;
    this.exited = exited.then((result) => {
      if (this.proc === child) this.proc = null;
      this.output += `[harness] eon exited (code=${result.code}, signal=${result.signal})\n`;
      return result;
    });
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    let gone = false;
    this.exited.then(() => {
      gone = true;
    });
    while (Date.now() < deadline) {
      if (gone) {
        throw new Error(`eon exited before listening on ${this.address}${this.describeOutput()}`);
      }
      // Up once it listens and has said so: the port can accept before its start-up lines
      // (listening, web UI, metrics; flushed together) reach the pipe, and tests read them.
      if (this.output.includes('Eon server is listening on', launchedAt) && (await canConnect(this.port))) {
        return;
      }
      await sleep(100);
    }
    await this.kill9();
    throw new Error(
      `eon did not accept connections on ${this.address} within ${STARTUP_TIMEOUT_MS} ms${this.describeOutput()}`,
    );
  }

  /** SIGKILL the server and wait for it to be gone. */
  async kill9() {
    if (!this.proc) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** Start the server again with the same arguments (same port, same db file). */
  async restart() {
    if (this.proc) throw new Error('restart() while the server is still running');
    await this._launch();
  }

  /** SIGTERM the server, wait (up to timeoutMs) for it to exit, and require exit code 0. */
  async stop({ timeoutMs = 15_000 } = {}) {
    if (!this.proc) throw new Error('stop() while the server is not running');
    const result = await this.terminate({ timeoutMs });
    if (result.killed) {
      throw new Error(`eon did not exit within ${timeoutMs} ms of SIGTERM${this.describeOutput()}`);
    }
    if (result.code !== 0) {
      throw new Error(
        `eon exited with code=${result.code} signal=${result.signal} after SIGTERM, expected code 0${this.describeOutput()}`,
      );
    }
    // The server bounds its stop with a watchdog; say so loudly when it had to act.
    if (/shutdown did not finish/.test(this.output)) {
      process.stderr.write(`\n[harness] WARNING: eon's shutdown watchdog fired${this.describeOutput()}\n`);
    }
    return result;
  }

  /** SIGTERM, then SIGKILL after timeoutMs. Never throws; for cleanup paths. */
  async terminate({ timeoutMs = 15_000 } = {}) {
    if (!this.proc) return { code: null, signal: null, killed: false };
    this.proc.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.proc?.kill('SIGKILL');
    }, timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return { ...result, killed };
  }

  /** Graceful stop (asserting exit code 0) if it still runs, then dispose(). */
  async close() {
    try {
      if (this.proc) await this.stop();
    } finally {
      await this.dispose();
    }
  }

  /** Stop the server if it runs (no checks) and remove its temp dir. */
  async dispose() {
    await this.terminate();
    allServers.delete(this);
    if (this.tmpDir) fs.rmSync(this.tmpDir, { recursive: true, force: true });
    if (this.postgres) await this.postgres.drop();
  }

  describeOutput() {
    return `\n--- eon output (${this.address}) ---\n${this.output}--- end of eon output ---`;
  }
}

// ---------------------------------------------------------------------------
// Temporal SDK helpers

/** Connects a Temporal client to `server`. Close it with `connection.close()`. */
async function connectClient(server, { namespace = 'default' } = {}) {
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection, namespace });
  return { client, connection };
}

let bundlePromise;
/** The bundled ./workflows.js, built once per process (webpack takes a few seconds). */
function workflowBundle() {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundlePromise;
}

/**
 * Creates a worker polling `taskQueue` on `server` and starts running it.
 * Returns { worker, connection, shutdown() }; shutdown() stops the worker, closes its
 * connection, and rethrows the error if the worker had crashed.
 */
async function startWorker(server, { taskQueue, activities = {}, namespace = 'default' }) {
  const connection = await NativeConnection.connect({ address: server.address });
  let worker;
  try {
    worker = await Worker.create({
      connection,
      namespace,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities,
      shutdownGraceTime: '2s',
    });
  } catch (err) {
    await connection.close();
    throw err;
  }
  let runError;
  const running = worker.run().catch((err) => {
    runError = err;
    console.error(`[harness] worker for task queue ${taskQueue} failed:`, err);
  });
  let closed = false;
  return {
    worker,
    connection,
    async shutdown() {
      if (closed) return;
      closed = true;
      try {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await withTimeout(running, 30_000, `shutdown of worker for ${taskQueue}`);
      } finally {
        await connection.close();
      }
      if (runError) throw runError;
    },
  };
}

// ---------------------------------------------------------------------------
// history helpers

const EventType = temporal.api.enums.v1.EventType;

/** ['WORKFLOW_EXECUTION_STARTED', ...] for a History proto. */
function eventTypes(history) {
  return history.events.map((ev) => (EventType[ev.eventType] ?? `UNKNOWN_${ev.eventType}`).replace(/^EVENT_TYPE_/, ''));
}

/** The error `promise` rejects with; fails the test if it resolves. */
async function grpcError(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

function countEvents(history, type) {
  return eventTypes(history).filter((t) => t === type).length;
}

// ---------------------------------------------------------------------------
// test wrapper and cleanup

/** LIFO list of async cleanup functions; close() runs them all even if some fail. */
class Scope {
  constructor() {
    this.fns = [];
  }

  add(fn) {
    this.fns.push(fn);
  }

  /** Registers the cleanup that belongs to `resource` and returns the resource. */
  track(resource) {
    if (resource instanceof EonServer) this.add(() => resource.close());
    else if (typeof resource.shutdown === 'function') this.add(() => resource.shutdown());
    else if (resource.connection) this.add(() => resource.connection.close());
    else throw new TypeError('Scope.track: unknown resource');
    return resource;
  }

  async close() {
    const errors = [];
    while (this.fns.length > 0) {
      const fn = this.fns.pop();
      try {
        await withTimeout(Promise.resolve().then(fn), 45_000, 'cleanup step');
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'several cleanup steps failed');
  }
}

/**
 * One server (+ client, + worker if `activities` is given) shared by the tests of a file or
 * describe block: started in a before() hook, shut down in an after() hook (worker, client,
 * then a graceful server stop that must exit with code 0). Returns an object that the hook
 * fills with { server, client, connection, worker, taskQueue }.
 */
function sharedEnv({ db = false, activities } = {}) {
  const env = { taskQueue: uniqueId('tq') };
  const scope = new Scope();
  before(async () => {
    try {
      env.server = scope.track(await EonServer.start({ db }));
      ({ client: env.client, connection: env.connection } = scope.track(await connectClient(env.server)));
      if (activities) {
        env.worker = scope.track(await startWorker(env.server, { taskQueue: env.taskQueue, activities }));
      }
    } catch (err) {
      process.stderr.write(`\n[harness] setup failed: ${err?.stack ?? err}\n${serversOutput()}\n`);
      throw err;
    }
  }, { timeout: 90_000 });
  after(() => scope.close(), { timeout: 120_000 });
  return env;
}

/** A fresh id such as `wf-3f2c...`, for workflow ids and task queues. */
function uniqueId(prefix) {
  return `${prefix}-${randomUUID()}`;
}

function serversOutput() {
  return [...allServers].map((s) => s.describeOutput()).join('\n');
}

/**
 * Like node:test `test(name, fn)`, but fn receives (t, scope): everything registered on
 * `scope` is cleaned up after the test whatever happens; the test fails (instead of
 * hanging) after `timeout` ms; on failure the output of the eon servers is printed.
 */
function eonTest(name, fn, { timeout = DEFAULT_TEST_TIMEOUT_MS } = {}) {
  // The runner's own timeout is a last resort should cleanup itself hang.
  return test(name, { timeout: timeout + 60_000 }, async (t) => {
    const scope = new Scope();
    let failed = false;
    try {
      await withTimeout(Promise.resolve().then(() => fn(t, scope)), timeout, `test "${name}"`, serversOutput);
    } catch (err) {
      failed = true;
      process.stderr.write(`\n[harness] test "${name}" failed: ${err?.stack ?? err}\n${serversOutput()}\n`);
      throw err;
    } finally {
      try {
        await scope.close();
      } catch (err) {
        if (!failed) throw err;
        process.stderr.write(`[harness] cleanup after failed test "${name}" also failed: ${err?.stack ?? err}\n`);
      }
    }
  });
}

module.exports = {
  EON_BIN,
  EonServer,
  ON_POSTGRES,
  adminSql,
  POSTGRES_ADMIN_URL,
  Scope,
  connectClient,
  countEvents,
  createPostgresSchema,
  eonTest,
  eventTypes,
  getFreePort,
  grpcError,
  makeCerts,
  makeTempDir,
  sharedEnv,
  startDevArgs,
  uniqueId,
  runEon,
  runCli,
  startWorker,
  withTimeout,
  workflowBundle,
};
