'use strict';
// `eon bench`: a tiny run of each kind (its own server, --address, --json, --open-timers) prints
// one line whose fields parse, with the workflow count asked for and the server's costs read.

const assert = require('node:assert/strict');
const { describe } = require('node:test');

const { EonServer, ON_POSTGRES, eonTest, getFreePort, runEon } = require('./harness');

const BENCH_TIMEOUT_MS = 120_000;

async function bench(args) {
  const result = await runEon(['bench', ...args], { timeoutMs: BENCH_TIMEOUT_MS });
  assert.equal(result.timedOut, false, `eon bench did not finish:\n${result.output}`);
  return result;
}

/** The one key=value line of `output` that starts with `first`=, as { key: string }. */
function parseLine(output, first) {
  const lines = output.split('\n').filter((l) => l.startsWith(`${first}=`));
  assert.equal(lines.length, 1, `one ${first}= line expected in:\n${output}`);
  const fields = {};
  for (const token of lines[0].split(' ')) {
    const m = /^([^=\s]+)=(\S+)$/.exec(token);
    assert.ok(m, `not key=value: ${JSON.stringify(token)} in ${lines[0]}`);
    fields[m[1]] = m[2];
  }
  return fields;
}

/** The field as a number, which must be finite and at least `min`. */
function num(fields, key, min = 0) {
  const value = Number(fields[key]);
  assert.ok(Number.isFinite(value), `${key}=${fields[key]} is not a number`);
  assert.ok(value >= min, `${key}=${value} is below ${min}`);
  return value;
}

/**
 * The figures every scenario line carries, checked for a run of `workflows` workflows. On
 * PostgreSQL (`onPostgres`) the database does its own fsyncs, which the server cannot count.
 */
function checkScenarioLine(fields, scenario, workflows, onPostgres = false) {
  assert.equal(fields.scenario, scenario);
  assert.equal(num(fields, 'workflows'), workflows);
  assert.equal(num(fields, 'failed'), 0);
  assert.ok(num(fields, 'wf/s') > 0);
  assert.ok(num(fields, 'p50_ms') > 0);
  assert.ok(num(fields, 'p99_ms') >= num(fields, 'p50_ms'));
  // Every workflow commits its start and its completion, each with an fsync (synchronous=FULL).
  assert.ok(num(fields, 'db_tx/wf') >= 1, `db_tx/wf=${fields['db_tx/wf']}`);
  if (onPostgres) assert.equal(fields['fsyncs/wf'], 'null', 'no fsyncs counted on PostgreSQL');
  else assert.ok(num(fields, 'fsyncs/wf') >= 1, `fsyncs/wf=${fields['fsyncs/wf']}`);
  assert.ok(num(fields, 'server_cpu_ms/wf') > 0);
  assert.ok(num(fields, 'ctx_switches/wf') > 0);
  num(fields, 'bench_cpu_ms/wf');
  num(fields, 'loadavg');
}

describe('eon bench', () => {
  eonTest('runs 20 single-activity workflows on a server of its own and prints one line', async () => {
    const { code, output } = await bench(['--workflows', '20', '--warmup', '5', '--concurrency', '4']);
    assert.equal(code, 0, output);
    const fields = parseLine(output, 'scenario');
    checkScenarioLine(fields, 'activity', 20);
    assert.equal(fields.loop, 'closed');
    assert.equal(num(fields, 'concurrency'), 4);
  }, { timeout: BENCH_TIMEOUT_MS + 10_000 });

  eonTest('--json: the signal scenario at a fixed rate against --address, as a JSON object', async (t, scope) => {
    const metricsPort = await getFreePort();
    const server = scope.track(await EonServer.start({ db: true, extraArgs: ['--metrics-port', String(metricsPort)] }));
    const { code, output } = await bench([
      '--address', server.address, '--metrics-address', `127.0.0.1:${metricsPort}`,
      '--scenario', 'signal', '--rate', '20', '--workflows', '10', '--warmup', '2', '--json',
    ]);
    assert.equal(code, 0, output);
    const json = output.split('\n').filter((l) => l.startsWith('{'));
    assert.equal(json.length, 1, output);
    const fields = JSON.parse(json[0]);
    assert.equal(fields.loop, 'open');
    assert.equal(fields.rate, 20);
    checkScenarioLine(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, String(v)])), 'signal', 10, ON_POSTGRES);
    // The 2 warm-up and 10 measured workflows started on that server, and nothing else did.
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const starts = [...text.matchAll(/^service_requests\{[^}]*operation="StartWorkflowExecution"[^}]*\} (\S+)$/gm)]
      .reduce((sum, m) => sum + Number(m[1]), 0);
    assert.equal(starts, 12, text);
  }, { timeout: BENCH_TIMEOUT_MS + 10_000 });

  eonTest('--open-timers: the server\'s memory with workflows waiting on a timer', async () => {
    const { code, output } = await bench(['--open-timers', '30']);
    assert.equal(code, 0, output);
    const fields = parseLine(output, 'open_timers');
    assert.equal(num(fields, 'open_timers'), 30);
    assert.equal(num(fields, 'failed'), 0);
    assert.ok(num(fields, 'server_rss_mb') >= num(fields, 'idle_rss_mb') * 0.5);
    assert.ok(num(fields, 'idle_rss_mb') > 1);
    assert.ok(Number.isFinite(Number(fields['rss_kb/wf'])), output);
  }, { timeout: BENCH_TIMEOUT_MS + 10_000 });

  eonTest('bad flags are refused with exit code 2 and the flag named', async () => {
    for (const [args, message] of [
      [['--scenario', 'nope'], /--scenario must be one of empty, activity/],
      [['--concurrency', '0'], /--concurrency needs a whole number from 1/],
      [['--rate', 'fast'], /--rate needs workflows per second/],
      [['--metrics-address', '127.0.0.1:1'], /--metrics-address goes with --address/],
      [['--bogus'], /unknown flag --bogus for "eon bench"/],
    ]) {
      const { code, output } = await bench(args);
      assert.equal(code, 2, `${args.join(' ')}: ${output}`);
      assert.match(output, message);
    }
    const help = await bench(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.output, /--open-timers n/);
  });
});
