#!/usr/bin/env node
'use strict';
// Workflow cost benchmark for Eon.
//
//   node bench/workflow-cost.js [--workflows N] [--concurrency C] [options]
//
// 1. Throughput run: a fresh eon (durable SQLite in a temp dir), one worker, N single-activity
//    `greet` workflows with C of them in flight at once. Reports wall time, workflows/s and
//    start-to-result latency percentiles, then SIGTERMs eon and parses its `stats:` line.
// 2. Exact per-workflow cost: pairs of fresh servers with the same client/worker lifecycle
//    and the same window length; the "idle" server runs 0 workflows, the "one" server runs
//    exactly 1. The difference of their stats lines is what that one workflow cost.
//
// Everything (eon processes, temp dir) is cleaned up on every exit path, and the whole run is
// bounded by --timeout-s. See README.md.

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');
const { performance } = require('node:perf_hooks');
const { setTimeout: sleep } = require('node:timers/promises');
const { randomUUID } = require('node:crypto');

// ---------------------------------------------------------------------------
// options

const USAGE = `usage: node bench/workflow-cost.js [options]

  --workflows N        workflows in the throughput run (default 200)
  --concurrency C      workflows in flight at once in the throughput run (default 20)
  --cost-runs R        idle/one server pairs for the exact per-workflow cost (default 3)
  --window-ms W        length of each cost run, worker start to worker shutdown (default 3000)
  --settle-ms S        idle time after worker start before the workflow starts (default 1000)
  --timeout-s T        hard limit for the whole benchmark (default 600)
  --eon PATH           eon binary (default $EON_BIN or <repo>/build/eon)
  --keep-going         do not stop at the first failed workflow in the throughput run
  -h, --help           this text
`;

function parseOptions(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: {
        workflows: { type: 'string' },
        concurrency: { type: 'string' },
        'cost-runs': { type: 'string' },
        'window-ms': { type: 'string' },
        'settle-ms': { type: 'string' },
        'timeout-s': { type: 'string' },
        eon: { type: 'string' },
        'keep-going': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    process.stderr.write(`${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (parsed.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const int = (name, def, min) => {
    const raw = parsed[name];
    if (raw === undefined) return def;
    const v = Number(raw);
    if (!Number.isInteger(v) || v < min) {
      process.stderr.write(`--${name} must be an integer >= ${min}, got "${raw}"\n\n${USAGE}`);
      process.exit(2);
    }
    return v;
  };
  const opts = {
    workflows: int('workflows', 200, 0),
    concurrency: int('concurrency', 20, 1),
    costRuns: int('cost-runs', 3, 0),
    windowMs: int('window-ms', 3000, 100),
    settleMs: int('settle-ms', 1000, 0),
    timeoutS: int('timeout-s', 600, 1),
    eon: path.resolve(parsed.eon ?? process.env.EON_BIN ?? path.join(__dirname, '..', 'build', 'eon')),
    keepGoing: Boolean(parsed['keep-going']),
  };
  if (opts.settleMs >= opts.windowMs) {
    process.stderr.write('--settle-ms must be smaller than --window-ms\n');
    process.exit(2);
  }
  return opts;
}

const opts = parseOptions(process.argv.slice(2));

// ---------------------------------------------------------------------------
// cleanup and hard timeout (installed before anything is started)

const liveChildren = new Set();
let tempDir = null;

function cleanupSync() {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  if (tempDir) {
    try {
      fs.rmSync(tempDir, { recursive: true, force: true });
    } catch (err) {
      process.stderr.write(`[bench] could not remove ${tempDir}: ${err.message}\n`);
    }
    tempDir = null;
  }
}

process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    process.stderr.write(`\n[bench] ${sig} received, killing eon and removing the temp dir\n`);
    process.exit(130);
  });
}
const hardTimer = setTimeout(() => {
  process.stderr.write(`\n[bench] overall timeout of ${opts.timeoutS} s reached; killing eon and exiting\n`);
  for (const s of allServers) process.stderr.write(s.describeTail());
  process.exit(3);
}, opts.timeoutS * 1000);


// The SDK is loaded after the handlers above so that even a slow require is covered.
const { Client, Connection } = require('@temporalio/client');
const { DefaultLogger, NativeConnection, Runtime, Worker, bundleWorkflowCode } = require('@temporalio/worker');
const { temporal } = require('@temporalio/proto');

// Collect (and count) what the SDK logs at WARN or above; reported as anomalies.
const sdkLogs = [];
Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => {
    sdkLogs.push(`${entry.level} ${entry.message}${entry.meta ? ` ${safeJson(entry.meta)}` : ''}`);
  }),
});

function safeJson(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

// ---------------------------------------------------------------------------
// eon process management

const STARTUP_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;
const MAX_OUTPUT = 4 * 1024 * 1024;
const allServers = new Set();

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

function eonArgs(port, dbFile) {
  return [
    'server', 'start-dev',
    '--port', String(port),
    '--ip', '127.0.0.1',
    '--headless',
    '--db-filename', dbFile,
    '--log-level', 'info',
  ];
}

class Eon {
  /** Starts eon on a free port with `dbFile` and waits until it accepts TCP connections. */
  static async start(name, dbFile) {
    const eon = new Eon(name, dbFile, await getFreePort());
    allServers.add(eon);
    await eon._launch();
    return eon;
  }

  constructor(name, dbFile, port) {
    this.name = name;
    this.dbFile = dbFile;
    this.port = port;
    this.address = `127.0.0.1:${port}`;
    this.args = eonArgs(port, dbFile);
    this.output = '';
    this.proc = null;
  }

  get command() {
    return [opts.eon, ...this.args].join(' ');
  }

  async _launch() {
    const child = spawn(opts.eon, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    liveChildren.add(child);
    this.proc = child;
    const append = (chunk) => {
      this.output += chunk.toString();
      if (this.output.length > MAX_OUTPUT) this.output = this.output.slice(-MAX_OUTPUT);
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    this.exited = new Promise((resolve) => {
      child.once('error', (err) => {
        append(`[bench] failed to spawn ${opts.eon}: ${err.message}\n`);
        liveChildren.delete(child);
        resolve({ code: null, signal: null });
      });
      child.once('close', (code, signal) => {
        liveChildren.delete(child);
        if (this.proc === child) this.proc = null;
        resolve({ code, signal });
      });
    });
    let gone = false;
    this.exited.then(() => {
      gone = true;
    });
    const deadline = Date.now() + STARTUP_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (gone) throw new Error(`eon (${this.name}) exited before listening${this.describeTail()}`);
      if (await canConnect(this.port)) return;
      await sleep(50);
    }
    child.kill('SIGKILL');
    throw new Error(`eon (${this.name}) did not listen within ${STARTUP_TIMEOUT_MS} ms${this.describeTail()}`);
  }

  /** SIGTERM, wait for exit (SIGKILL after STOP_TIMEOUT_MS), parse the stats line. */
  async stop() {
    if (!this.proc) throw new Error(`eon (${this.name}) is not running${this.describeTail()}`);
    const child = this.proc;
    child.kill('SIGTERM');
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, STOP_TIMEOUT_MS);
    const { code, signal } = await this.exited;
    clearTimeout(timer);
    const problems = [];
    if (killed) problems.push(`did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM (killed)`);
    else if (code !== 0) problems.push(`exited with code=${code} signal=${signal} after SIGTERM`);
    const m = /stats: (.*)$/m.exec(this.output);
    if (!m) throw new Error(`eon (${this.name}) printed no stats line; ${problems.join('; ')}${this.describeTail()}`);
    return { stats: parseStats(m[1]), statsLine: m[1].trim(), problems, warnings: this.warningLines() };
  }

  /** Log lines at WARN/ERROR level (eon's log format is `<timestamp> LEVEL message`). */
  warningLines() {
    return this.output.split('\n').filter((l) => /^\S+\s+(WARN|ERROR|FATAL)\b/.test(l));
  }

  describeTail() {
    const tail = this.output.length > 4000 ? `...${this.output.slice(-4000)}` : this.output;
    return `\n--- eon output (${this.name}, ${this.address}) ---\n${tail}--- end ---\n`;
  }
}

/** "db_write_transactions=3 rpcs=7 GetSystemInfo=1" -> { db_write_transactions: 3, ... } */
function parseStats(text) {
  const stats = {};
  for (const token of text.trim().split(/\s+/)) {
    const eq = token.indexOf('=');
    if (eq <= 0) continue;
    const v = Number(token.slice(eq + 1));
    if (Number.isFinite(v)) stats[token.slice(0, eq)] = v;
  }
  return stats;
}

// ---------------------------------------------------------------------------
// SDK client and worker

const activities = {
  async greet(name) {
    return `Hello, ${name}!`;
  },
};

let bundlePromise;
function workflowBundle() {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: new DefaultLogger('WARN'),
  });
  return bundlePromise;
}

async function connectClient(eon) {
  const connection = await Connection.connect({ address: eon.address });
  return { client: new Client({ connection, namespace: 'default' }), connection };
}

async function startWorker(eon, taskQueue) {
  const connection = await NativeConnection.connect({ address: eon.address });
  let worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: 'default',
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
  });
  return {
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await withTimeout(running, 30_000, `worker shutdown (${taskQueue})`);
      await connection.close();
      if (runError) throw runError;
    },
  };
}

async function withTimeout(promise, ms, what) {
  let timer;
  try {
    return await Promise.race([
      promise,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Starts one greet workflow and waits for its result; returns start-to-result ms. */
async function runOneWorkflow(client, taskQueue, workflowId, name) {
  const t0 = performance.now();
  const handle = await client.workflow.start('greet', {
    taskQueue,
    workflowId,
    args: [name],
    workflowExecutionTimeout: '60s',
  });
  const result = await handle.result();
  const ms = performance.now() - t0;
  if (result !== `Hello, ${name}!`) throw new Error(`workflow ${workflowId} returned ${safeJson(result)}`);
  return ms;
}

// ---------------------------------------------------------------------------
// the runs

function dbPath(name) {
  return path.join(tempDir, `${name}.db`);
}

async function throughputRun() {
  const eon = await Eon.start('throughput', dbPath('throughput'));
  const taskQueue = `bench-tq-${randomUUID()}`;
  const { client, connection } = await connectClient(eon);
  const worker = await startWorker(eon, taskQueue);
  const latencies = [];
  const failures = [];
  const ids = [];
  let next = 0;
  let stop = false;
  const t0 = performance.now();
  async function lane() {
    while (!stop && next < opts.workflows) {
      const i = next++;
      const id = `bench-wf-${i}-${randomUUID()}`;
      ids[i] = id;
      try {
        latencies.push(await runOneWorkflow(client, taskQueue, id, `w${i}`));
      } catch (err) {
        failures.push(`${id}: ${err?.message ?? err}`);
        if (!opts.keepGoing) stop = true;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, Math.max(opts.workflows, 1)) }, lane));
  const wallMs = performance.now() - t0;
  await worker.shutdown();
  await connection.close();
  const result = await eon.stop();

  // Restart eon on the same (durable) db to read one workflow's history without adding
  // RPCs to the measured server lifetime.
  let history = null;
  if (ids[0] && latencies.length > 0) {
    const inspect = await Eon.start('inspect', eon.dbFile);
    try {
      const c = await connectClient(inspect);
      try {
        const h = await c.client.workflow.getHandle(ids[0]).fetchHistory();
        history = h.events.map((ev) =>
          (temporal.api.enums.v1.EventType[ev.eventType] ?? `UNKNOWN_${ev.eventType}`).replace(/^EVENT_TYPE_/, ''));
      } finally {
        await c.connection.close();
      }
    } catch (err) {
      history = [`(could not read history: ${err.message})`];
    } finally {
      await inspect.stop().catch(() => {});
    }
  }
  return { eon, wallMs, latencies, failures, history, ...result };
}

/** One cost run: client + worker up, settle, 0 or 1 workflow, pad to windowMs, shut down. */
async function costRun(kind, index) {
  const eon = await Eon.start(`cost-${index}-${kind}`, dbPath(`cost-${index}-${kind}`));
  const taskQueue = `bench-tq-${randomUUID()}`;
  const { client, connection } = await connectClient(eon);
  const worker = await startWorker(eon, taskQueue);
  const tWorker = performance.now();
  await sleep(opts.settleMs);
  let latencyMs = null;
  if (kind === 'one') {
    latencyMs = await withTimeout(
      runOneWorkflow(client, taskQueue, `bench-one-${randomUUID()}`, 'one'),
      60_000,
      'single workflow',
    );
  }
  const elapsed = performance.now() - tWorker;
  const overrun = elapsed > opts.windowMs;
  if (!overrun) await sleep(opts.windowMs - elapsed);
  const windowMs = performance.now() - tWorker;
  await worker.shutdown();
  await connection.close();
  const result = await eon.stop();
  return { kind, index, eon, latencyMs, windowMs, overrun, ...result };
}

// ---------------------------------------------------------------------------
// reporting helpers

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const NON_RPC_KEYS = new Set(['db_write_transactions', 'execution_writes', 'rpcs']);

function methodGroup(method) {
  if (method.startsWith('Poll')) return 'poll';
  if (method.startsWith('Respond')) return 'respond';
  if (/^(Start|SignalWithStart|ExecuteMultiOperation)/.test(method)) return 'start';
  if (/History/.test(method)) return 'history';
  return 'other';
}
const GROUP_ORDER = ['poll', 'respond', 'start', 'history', 'other'];

function fmt(v, digits = 2) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(digits);
}

function table(headers, rows) {
  const all = [headers, ...rows].map((r) => r.map((c) => String(c)));
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(all[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...all.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------------------
// main

async function main() {
  tempDir = fs.mkdtempSync(path.join(os.tmpdir(), 'eon-bench-'));
  try {
    fs.accessSync(opts.eon, fs.constants.X_OK);
  } catch {
    throw new Error(`eon binary not found or not executable at ${opts.eon} (build it, or pass --eon / EON_BIN)`);
  }
  const relScript = path.relative(process.cwd(), __filename) || __filename;
  const command = ['node', relScript, ...process.argv.slice(2)].join(' ');
  const effective =
    `--workflows ${opts.workflows} --concurrency ${opts.concurrency} --cost-runs ${opts.costRuns} ` +
    `--window-ms ${opts.windowMs} --settle-ms ${opts.settleMs} --timeout-s ${opts.timeoutS}`;

  process.stderr.write('[bench] bundling workflow code...\n');
  await workflowBundle();

  process.stderr.write(`[bench] throughput run: ${opts.workflows} workflows, ${opts.concurrency} in flight...\n`);
  const tp = await throughputRun();

  const costs = [];
  for (let i = 1; i <= opts.costRuns; i++) {
    for (const kind of ['idle', 'one']) {
      process.stderr.write(`[bench] cost run ${i}/${opts.costRuns} (${kind})...\n`);
      costs.push(await costRun(kind, i));
    }
  }

  // ----- report
  const out = [];
  const p = (s = '') => out.push(s);
  p('='.repeat(78));
  p('Eon workflow cost benchmark (single-activity workflow `greet`)');
  p('='.repeat(78));
  p(`Command:   ${command}`);
  p(`  (cwd ${process.cwd()}; effective options: ${effective})`);
  p(`eon:       ${tp.eon.command.replace(tp.eon.dbFile, '<tmp>/throughput.db').replace(`--port ${tp.eon.port}`, '--port <free port>')}`);
  p(`SDK:       @temporalio/* ${require('@temporalio/client/package.json').version}, node ${process.version}, ` +
    `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`);
  p();

  // Throughput
  const lat = [...tp.latencies].sort((a, b) => a - b);
  const completed = tp.latencies.length;
  p(`Throughput run: ${opts.workflows} workflows, concurrency ${opts.concurrency}, one worker (SDK defaults)`);
  p(table(['metric', 'value'], [
    ['workflows completed', `${completed} / ${opts.workflows}`],
    ['failed workflows', tp.failures.length],
    ['wall time (first start -> last result)', `${(tp.wallMs / 1000).toFixed(3)} s`],
    ['throughput', `${(completed / (tp.wallMs / 1000)).toFixed(1)} workflows/s`],
    ['start-to-result p50', `${fmt(percentile(lat, 50), 1)} ms`],
    ['start-to-result p95', `${fmt(percentile(lat, 95), 1)} ms`],
    ['start-to-result p99', `${fmt(percentile(lat, 99), 1)} ms`],
    ['start-to-result max', `${fmt(lat[lat.length - 1], 1)} ms`],
    ['start-to-result mean', `${fmt(lat.reduce((a, b) => a + b, 0) / (lat.length || 1), 1)} ms`],
  ]));
  p();

  // Per-workflow cost
  const idle = costs.filter((c) => c.kind === 'idle');
  const one = costs.filter((c) => c.kind === 'one');
  const keys = new Set();
  for (const r of [...costs, tp]) for (const k of Object.keys(r.stats)) keys.add(k);
  const deltasByKey = {};
  for (const k of keys) deltasByKey[k] = one.map((o, i) => (o.stats[k] ?? 0) - (idle[i].stats[k] ?? 0));
  const idleMedian = (k) => median(idle.map((r) => r.stats[k] ?? 0));
  const amortized = (k) => {
    if (completed === 0) return NaN;
    const base = idle.length ? idleMedian(k) : 0;
    return ((tp.stats[k] ?? 0) - base) / completed;
  };
  const exactCell = (k) => {
    const d = deltasByKey[k] ?? [];
    if (d.length === 0) return '-';
    const m = median(d);
    const lo = Math.min(...d);
    const hi = Math.max(...d);
    return lo === hi ? fmt(m) : `${fmt(m)} (${lo}..${hi})`;
  };
  const rows = [
    ['database write transactions', exactCell('db_write_transactions'), fmt(amortized('db_write_transactions'))],
    ['execution writes (mutable-state txns)', exactCell('execution_writes'), fmt(amortized('execution_writes'))],
    ['RPCs, total', exactCell('rpcs'), fmt(amortized('rpcs'))],
  ];
  const methods = [...keys].filter((k) => !NON_RPC_KEYS.has(k));
  for (const g of GROUP_ORDER) {
    const ms = methods.filter((m) => methodGroup(m) === g).sort();
    if (ms.length === 0) continue;
    const groupSum = (getter) => ms.reduce((a, m) => a + getter(m), 0);
    const groupDeltas = one.map((_, i) => ms.reduce((a, m) => a + deltasByKey[m][i], 0));
    const gExact = groupDeltas.length === 0 ? '-'
      : Math.min(...groupDeltas) === Math.max(...groupDeltas) ? fmt(median(groupDeltas))
        : `${fmt(median(groupDeltas))} (${Math.min(...groupDeltas)}..${Math.max(...groupDeltas)})`;
    rows.push([`  ${g} RPCs`, gExact, fmt(groupSum(amortized))]);
    for (const m of ms) rows.push([`    ${m}`, exactCell(m), fmt(amortized(m))]);
  }
  p('Per-workflow cost');
  p(`  exact     = stats(server that ran 1 workflow) - stats(server that ran 0), same client/worker`);
  p(`              lifecycle and ${opts.windowMs} ms window; median over ${one.length} pair(s), (min..max) if they differ`);
  p(idle.length
    ? `  amortized = (throughput-run stats - median idle-run stats) / ${completed} completed workflows`
    : `  amortized = throughput-run stats / ${completed} completed workflows (no idle run to subtract: --cost-runs 0)`);
  p(table(['per workflow', 'exact (1 wf)', `amortized (${completed} wf)`], rows));
  p();

  // Raw stats
  p('Raw eon stats lines');
  p(`  throughput: ${tp.statsLine}`);
  for (const c of costs) {
    const extra = c.kind === 'one' ? `, workflow start-to-result ${fmt(c.latencyMs, 1)} ms` : '';
    p(`  cost-${c.index}-${c.kind.padEnd(4)} (window ${fmt(c.windowMs, 0)} ms${extra}): ${c.statsLine}`);
  }
  if (tp.history) {
    p();
    p(`History of one workflow (${tp.history.length} events, read back after restarting eon on the durable db):`);
    p(`  ${tp.history.join(', ')}`);
  }
  p();

  // Anomalies detected mechanically
  const anomalies = [];
  for (const r of [tp, ...costs]) {
    const name = r.eon.name;
    for (const problem of r.problems) anomalies.push(`eon ${name}: ${problem}`);
    if (r.warnings.length) {
      anomalies.push(`eon ${name}: ${r.warnings.length} WARN/ERROR log line(s), e.g.:`);
      for (const l of r.warnings.slice(0, 5)) anomalies.push(`    ${l}`);
    }
  }
  for (const f of tp.failures.slice(0, 10)) anomalies.push(`workflow failed: ${f}`);
  if (tp.failures.length > 10) anomalies.push(`... and ${tp.failures.length - 10} more failed workflows`);
  for (const c of costs) {
    if (c.overrun) anomalies.push(`cost-${c.index}-${c.kind}: ran ${fmt(c.windowMs, 0)} ms, longer than --window-ms ${opts.windowMs}; windows unequal`);
  }
  for (const [k, d] of Object.entries(deltasByKey)) {
    if (d.some((x) => x < 0)) anomalies.push(`negative delta for ${k}: ${d.join(', ')} (idle run did more than the one-workflow run)`);
    if (d.length > 1 && Math.min(...d) !== Math.max(...d)) anomalies.push(`delta for ${k} varies between pairs: ${d.join(', ')}`);
  }
  const idleDb = idle.map((r) => r.stats.db_write_transactions ?? 0);
  if (idleDb.length && Math.min(...idleDb) !== Math.max(...idleDb)) {
    anomalies.push(`idle runs differ in db_write_transactions: ${idleDb.join(', ')}`);
  }
  if (sdkLogs.length) {
    anomalies.push(`SDK logged ${sdkLogs.length} message(s) at WARN or above, e.g.:`);
    for (const l of sdkLogs.slice(0, 5)) anomalies.push(`    ${l.slice(0, 300)}`);
  }
  p('Anomalies detected');
  p(anomalies.length ? anomalies.map((a) => (a.startsWith('    ') ? a : `  - ${a}`)).join('\n') : '  none');
  p('='.repeat(78));
  process.stdout.write(`${out.join('\n')}\n`);

  return tp.failures.length === 0 && costs.every((c) => c.problems.length === 0) && tp.problems.length === 0 ? 0 : 1;
}

main()
  .then((code) => {
    cleanupSync();
    process.exit(code);
  })
  .catch((err) => {
    process.stderr.write(`\n[bench] failed: ${err?.stack ?? err}\n`);
    for (const s of allServers) if (s.proc) process.stderr.write(s.describeTail());
    cleanupSync();
    process.exit(1);
  });
