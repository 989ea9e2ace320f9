'use strict';
// Metrics: /metrics in the Prometheus text format after a workload, scraped directly and by a
// real Prometheus server (Debian's `prometheus`, when installed); the --metrics-port rules.

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');

const {
  EonServer, connectClient, eonTest, getFreePort, makeTempDir, runEon, startDevArgs, startWorker,
  uniqueId,
} = require('./harness');

/** Parses the Prometheus text format into [{ name, labels: {..}, value }]. */
function parseMetrics(text) {
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line of the text format: ${JSON.stringify(line)}`);
    const labels = {};
    if (m[3]) {
      for (const [, k, v] of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    }
    samples.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return samples;
}

function find(samples, name, labels = {}) {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}

function total(samples, name, labels) {
  return find(samples, name, labels).reduce((sum, s) => sum + s.value, 0);
}

async function scrape(port) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  assert.equal(res.status, 200);
  return parseMetrics(await res.text());
}

const activities = {
  async greet(name) {
    return `Hello, ${name}!`;
  },
};

describe('metrics', () => {
  eonTest('a workload shows in /metrics under Temporal\'s names and in a real Prometheus', async (t, scope) => {
    const metricsPort = await getFreePort();
    const server = scope.track(await EonServer.start({ extraArgs: ['--metrics-port', String(metricsPort)] }));
    assert.match(server.output, new RegExp(`Metrics: http://127\\.0\\.0\\.1:${metricsPort}/metrics`));
    const { client } = scope.track(await connectClient(server));

    // A backlog first: a workflow task nobody polls yet has an age.
    const taskQueue = uniqueId('tq-metrics');
    const runs = 5;
    const handles = [];
    for (let i = 0; i < runs; i++) {
      handles.push(await client.workflow.start('greet', { taskQueue, workflowId: uniqueId('m'), args: [`n${i}`] }));
    }
    await sleep(1100);
    let samples = await scrape(metricsPort);
    const backlog = find(samples, 'approximate_backlog_count', { namespace: 'default', taskqueue: taskQueue, task_type: 'Workflow' });
    assert.equal(backlog.length, 1, 'one backlog series for the queue');
    assert.equal(backlog[0].value, runs);
    const age = find(samples, 'approximate_backlog_age_seconds', { taskqueue: taskQueue, task_type: 'Workflow' });
    assert.ok(age[0].value >= 1, `backlog age ${age[0]?.value} should be at least 1 s`);

    const worker = scope.track(await startWorker(server, { taskQueue, activities }));
    for (const h of handles) assert.match(await h.result(), /^Hello, n\d!$/);
    // A poll stays parked while the worker idles.
    await sleep(300);
    samples = await scrape(metricsPort);

    assert.ok(total(samples, 'service_requests', { operation: 'StartWorkflowExecution', namespace: 'default' }) >= runs);
    assert.ok(total(samples, 'service_latency_count', { operation: 'StartWorkflowExecution', namespace: 'default' }) >= runs);
    assert.ok(find(samples, 'service_latency_bucket', { operation: 'StartWorkflowExecution', le: '+Inf' }).length > 0);
    assert.equal(total(samples, 'workflow_success', { namespace: 'default' }), runs);
    assert.ok(total(samples, 'task_schedule_to_start_latency_count', { taskqueue: taskQueue, task_type: 'Workflow' }) >= runs);
    // (Activities here run eagerly, handed back in the workflow task's answer without a poll.)
    assert.ok(total(samples, 'poll_success', { taskqueue: taskQueue, task_type: 'Workflow' }) >= runs);
    assert.ok(total(samples, 'persistence_latency_count', { operation: 'UpdateWorkflowExecution' }) > 0);
    assert.ok(total(samples, 'persistence_requests', { operation: 'GetWorkflowExecution' }) >= 0);
    assert.ok(total(samples, 'persistence_group_commit_batch_size_count') > 0);
    assert.ok(total(samples, 'cache_requests', { operation: 'HistoryCacheGetOrCreate' }) > 0);
    assert.equal(total(samples, 'approximate_backlog_count', { taskqueue: taskQueue, task_type: 'Workflow' }), 0);
    assert.ok(total(samples, 'pending_polls', { taskqueue: taskQueue }) >= 1, 'the idle worker has a parked poll');
    // An error counts by type.
    await assert.rejects(client.workflow.getHandle('no-such-workflow').describe());
    samples = await scrape(metricsPort);
    assert.ok(total(samples, 'service_error_with_type', { operation: 'DescribeWorkflowExecution', error_type: 'serviceerror_NotFound' }) >= 1);
    await worker.shutdown();

    // A real Prometheus scrapes the same endpoint.
    const prometheus = spawnSync('sh', ['-c', 'command -v prometheus'], { encoding: 'utf8' }).stdout.trim();
    if (!prometheus) {
      t.diagnostic('prometheus is not installed (scripts/install-deps.sh installs it): the scrape by a real Prometheus was skipped');
      return;
    }
    const dir = makeTempDir();
    scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const promPort = await getFreePort();
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), [
      'global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: eon', '    static_configs:',
      `      - targets: ['127.0.0.1:${metricsPort}']`, ''].join('\n'));
    let promOutput = '';
    const prom = spawn(prometheus, [
      `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    prom.stdout.on('data', (d) => { promOutput += d; });
    prom.stderr.on('data', (d) => { promOutput += d; });
    const promExited = new Promise((resolve) => prom.once('close', resolve));
    scope.add(async () => { prom.kill('SIGKILL'); await promExited; });

    const query = async (expr) => {
      const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = await res.json();
      assert.equal(body.status, 'success', JSON.stringify(body));
      return body.data.result;
    };
    const deadline = Date.now() + 60_000;
    let result = [];
    while (Date.now() < deadline) {
      try {
        result = await query('workflow_success{namespace="default"}');
        if (result.length > 0) break;
      } catch {
        // not up yet
      }
      await sleep(500);
    }
    assert.equal(result.length, 1, `Prometheus never had workflow_success\n${promOutput.slice(-4000)}`);
    assert.equal(Number(result[0].value[1]), runs);
    assert.equal(result[0].metric.job, 'eon');
    const latency = await query('sum by (operation) (service_latency_count{operation="StartWorkflowExecution"})');
    assert.ok(Number(latency[0].value[1]) >= runs);
    const up = await query('up{job="eon"}');
    assert.equal(up[0].value[1], '1');
    // Every query of the Grafana dashboard in docs/ parses, and the backlog and cache panels have data.
    const dashboard = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'grafana-dashboard.json'), 'utf8'));
    const exprs = dashboard.panels.flatMap((p) => p.targets.map((target) => target.expr.replaceAll('$namespace', '.*')));
    assert.ok(exprs.length >= 12);
    for (const expr of exprs) await query(expr);
    assert.ok((await query(exprs.find((e) => e.includes('approximate_backlog_count')))).length > 0);
  }, { timeout: 150_000 });

  eonTest('a metrics port that was asked for and is busy stops the server with a clear error', async () => {
    const busy = await EonServer.start({ extraArgs: ['--metrics-port', '0'] });
    try {
      const taken = Number(/Metrics: http:\/\/127\.0\.0\.1:(\d+)\/metrics/.exec(busy.output)[1]);
      const port = await getFreePort();
      const r = await runEon(startDevArgs({ port, extraArgs: ['--metrics-port', String(taken)] }), { timeoutMs: 20_000 });
      assert.notEqual(r.code, 0, r.output);
      assert.match(r.output, new RegExp(`cannot serve metrics on 127\\.0\\.0\\.1:${taken}`));
      assert.equal((await runEon(startDevArgs({ port, extraArgs: ['--metrics-port', 'x'] }))).code, 1);
    } finally {
      await busy.close();
    }
  });
});
