'use strict';
// The `eon` command line client against a live server: every verb, text and JSON output, the
// TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE variables, and one-line errors with a non-zero exit.

const assert = require('node:assert/strict');
const { describe } = require('node:test');

const { CompleteAsyncError } = require('@temporalio/activity');

const { eonTest, sharedEnv, uniqueId, runCli } = require('./harness');

const eon = runCli;

describe('eon command line', () => {
  const env = sharedEnv({
    activities: {
      greet: async (name) => `Hello, ${name}!`,
      completedElsewhere: async () => {
        throw new CompleteAsyncError();
      },
    },
  });
  const at = () => ['--address', env.server.address];

  eonTest('workflow execute, start, describe, show, result, list, count', async () => {
    const id = uniqueId('cli');
    const executed = await eon(['workflow', 'execute', ...at(), '--type', 'greet', '--task-queue', env.taskQueue, '--workflow-id', id, '--input', '"CLI"']);
    assert.equal(executed.code, 0, executed.stderr);
    assert.match(executed.stdout, /Result: "Hello, CLI!"/);

    const described = await eon(['workflow', 'describe', ...at(), '-w', id, '-o', 'json']);
    assert.equal(described.code, 0, described.stderr);
    const info = JSON.parse(described.stdout).workflowExecutionInfo;
    assert.equal(info.status, 'WORKFLOW_EXECUTION_STATUS_COMPLETED');
    assert.equal(info.type.name, 'greet');

    const shown = await eon(['workflow', 'show', ...at(), '-w', id]);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^1 .*WORKFLOW_EXECUTION_STARTED$/m);
    assert.match(shown.stdout, /WORKFLOW_EXECUTION_COMPLETED$/m);

    const result = await eon(['workflow', 'result', ...at(), '-w', id]);
    assert.match(result.stdout, /Hello, CLI!/);

    const started = await eon(['workflow', 'start', ...at(), '--type', 'waitForSignal', '-t', env.taskQueue, '-w', `${id}-2`]);
    assert.equal(started.code, 0, started.stderr);
    assert.match(started.stdout, new RegExp(`Started workflow ${id}-2`));

    // Listings follow the outbox; give them a moment.
    let listed;
    for (let i = 0; i < 50; i += 1) {
      listed = await eon(['workflow', 'list', ...at(), '-q', `WorkflowId STARTS_WITH '${id}'`]);
      if ((listed.stdout.match(new RegExp(id, 'g')) ?? []).length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(listed.stdout, /^STATUS/);
    assert.match(listed.stdout, new RegExp(`COMPLETED\\s+${id}\\s`));
    assert.match(listed.stdout, new RegExp(`RUNNING\\s+${id}-2\\s`));
    const counted = await eon(['workflow', 'count', ...at(), '-q', `WorkflowId STARTS_WITH '${id}'`]);
    assert.match(counted.stdout, /Total: 2/);

    // signal delivers, then the workflow completes with the signal's input.
    const signalled = await eon(['workflow', 'signal', ...at(), '-w', `${id}-2`, '--name', 'unblock', '-i', '{"from":"cli"}']);
    assert.equal(signalled.code, 0, signalled.stderr);
    const second = await eon(['workflow', 'result', ...at(), '-w', `${id}-2`]);
    assert.match(second.stdout, /\{"from":"cli"\}/);
  });

  eonTest('cancel, terminate and delete', async () => {
    const id = uniqueId('cli');
    for (const suffix of ['a', 'b', 'c']) {
      const r = await eon(['workflow', 'start', ...at(), '--type', 'sleeper', '-t', env.taskQueue, '-w', `${id}-${suffix}`, '-i', '3600000']);
      assert.equal(r.code, 0, r.stderr);
    }
    assert.equal((await eon(['workflow', 'cancel', ...at(), '-w', `${id}-a`])).code, 0);
    assert.equal((await eon(['workflow', 'terminate', ...at(), '-w', `${id}-b`, '--reason', 'cli test'])).code, 0);
    assert.equal((await eon(['workflow', 'delete', ...at(), '-w', `${id}-c`])).code, 0);
    let a;
    for (let i = 0; i < 50; i += 1) {
      a = JSON.parse((await eon(['workflow', 'describe', ...at(), '-w', `${id}-a`, '-o', 'json'])).stdout);
      if (a.workflowExecutionInfo.status === 'WORKFLOW_EXECUTION_STATUS_CANCELED') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(a.workflowExecutionInfo.status, 'WORKFLOW_EXECUTION_STATUS_CANCELED');
    const b = JSON.parse((await eon(['workflow', 'describe', ...at(), '-w', `${id}-b`, '-o', 'json'])).stdout);
    assert.equal(b.workflowExecutionInfo.status, 'WORKFLOW_EXECUTION_STATUS_TERMINATED');
    const c = await eon(['workflow', 'describe', ...at(), '-w', `${id}-c`]);
    assert.notEqual(c.code, 0);
    assert.match(c.stderr, /^Error: workflow not found/);
  });

  eonTest('namespaces and task queues, with the TEMPORAL_ variables', async () => {
    const ns = uniqueId('clins');
    const vars = { TEMPORAL_ADDRESS: env.server.address };
    const created = await eon(['operator', 'namespace', 'create', ns, '--retention', '72h', '--description', 'from the cli'], vars);
    assert.equal(created.code, 0, created.stderr);
    const described = await eon(['operator', 'namespace', 'describe', ns, '-o', 'json'], vars);
    const body = JSON.parse(described.stdout);
    assert.equal(body.namespaceInfo.description, 'from the cli');
    assert.equal(body.config.workflowExecutionRetentionTtl, '259200s');
    assert.equal((await eon(['operator', 'namespace', 'update', ns, '--description', 'changed'], vars)).code, 0);
    assert.match((await eon(['operator', 'namespace', 'describe', ns], vars)).stdout, /Description\s+changed/);
    assert.match((await eon(['operator', 'namespace', 'list'], vars)).stdout, new RegExp(`^${ns}$`, 'm'));
    // TEMPORAL_NAMESPACE picks the namespace; it is empty of workflows.
    const count = await eon(['workflow', 'count'], { ...vars, TEMPORAL_NAMESPACE: ns });
    assert.match(count.stdout, /Total: 0/);

    // Delete: refused without --yes; then gone, and its name free again.
    const unconfirmed = await eon(['operator', 'namespace', 'delete', ns], vars);
    assert.notEqual(unconfirmed.code, 0);
    assert.match(unconfirmed.stderr, /--yes/);
    const deleted = await eon(['operator', 'namespace', 'delete', ns, '--yes'], vars);
    assert.equal(deleted.code, 0, deleted.stderr);
    const gone = await eon(['operator', 'namespace', 'describe', ns], vars);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /is not found/);
    assert.equal((await eon(['operator', 'namespace', 'create', ns], vars)).code, 0);
    const refused = await eon(['operator', 'namespace', 'delete', 'default', '--yes'], vars);
    assert.notEqual(refused.code, 0);

    const queue = await eon(['task-queue', 'describe', '--task-queue', env.taskQueue], vars);
    assert.equal(queue.code, 0, queue.stderr);
    assert.match(queue.stdout, /Pollers:\n\s+\S+/);
  });

  eonTest('errors: one line on stderr and a non-zero exit', async () => {
    const cases = [
      [['workflow', 'describe', ...at()], /--workflow-id is required/],
      [['workflow', 'describe', ...at(), '-w', uniqueId('none')], /workflow not found/],
      [['workflow', 'start', ...at(), '--type', 'greet', '-t', 'q', '-i', '{not json'], /--input is not valid JSON/],
      [['workflow', 'list', ...at(), '-q', 'WorkflowId = '], /position/],
      [['workflow', 'describe', '-w', 'x', '-n', 'no-such-namespace', ...at()], /Namespace no-such-namespace is not found/],
      [['workflow', 'list', ...at(), '--limit', 'ten'], /--limit needs a whole number from 1 to 1000/],
      [['workflow', 'list', ...at(), '--limit', '5000'], /--limit needs a whole number from 1 to 1000/],
      [['schedule', 'list', ...at(), '--limit', '0'], /--limit needs a whole number from 1 to 1000/],
      [['workflow', 'frobnicate', ...at()], /unknown command/],
      [['nothing'], /unknown command/],
      [['workflow', 'describe', '--address', '127.0.0.1:1', '-w', 'x'], /./],
    ];
    for (const [args, pattern] of cases) {
      const r = await eon(args);
      assert.notEqual(r.code, 0, `${args.join(' ')} exited 0`);
      assert.match(r.stderr, pattern, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, `more than one line: ${r.stderr}`);
    }
    const help = await eon(['workflow', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: eon workflow/);
  });

  eonTest('query, update, activity complete and fail, search attributes', async () => {
    const id = uniqueId('cli');
    assert.equal((await eon(['workflow', 'start', ...at(), '--type', 'queryable', '-t', env.taskQueue, '-w', id, '-i', '2'])).code, 0);
    let queried;
    for (let i = 0; i < 50; i += 1) {
      queried = await eon(['workflow', 'query', ...at(), '-w', id, '--type', 'state']);
      if (queried.code === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(queried.stdout, /Query result: \{"count":0,"target":2\}/);
    const unknown = await eon(['workflow', 'query', ...at(), '-w', id, '--type', 'nope']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /nope/);

    const counter = uniqueId('counter');
    assert.equal((await eon(['workflow', 'start', ...at(), '--type', 'counter', '-t', env.taskQueue, '-w', counter])).code, 0);
    const updated = await eon(['workflow', 'update', ...at(), '-w', counter, '--name', 'add', '-i', '5']);
    assert.equal(updated.code, 0, updated.stderr);
    assert.match(updated.stdout, /Update result: 5/);
    const rejected = await eon(['workflow', 'update', ...at(), '-w', counter, '--name', 'add', '-i', '-1']);
    assert.notEqual(rejected.code, 0);
    assert.match(rejected.stderr, /update failed: cannot add -1/);

    for (const [verb, extra, expect] of [
      ['complete', ['--result', '"from the cli"'], /"result":\{"result":"from the cli"\}|from the cli/],
      ['fail', ['--reason', 'nope from the cli'], /nope from the cli/],
    ]) {
      const wf = uniqueId('async');
      const started = await eon(['workflow', 'start', ...at(), '--type', 'runActivity', '-t', env.taskQueue, '-w', wf,
        '-i', '"completedElsewhere"', '-i', '[]', '-i', '{"startToCloseTimeout":"30s","retry":{"maximumAttempts":1}}']);
      assert.equal(started.code, 0, started.stderr);
      let done;
      for (let i = 0; i < 50; i += 1) {
        done = await eon(['activity', verb, ...at(), '--workflow-id', wf, '--activity-id', '1', ...extra]);
        if (done.code === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(done.code, 0, done.stderr);
      const result = await eon(['workflow', 'result', ...at(), '-w', wf]);
      assert.match(result.stdout, expect);
    }

    const name = `CliAttr_${uniqueId('x').replace(/-/g, '_')}`;
    assert.equal((await eon(['operator', 'search-attribute', 'create', ...at(), '--name', name, '--type', 'Keyword'])).code, 0);
    assert.match((await eon(['operator', 'search-attribute', 'list', ...at()])).stdout, new RegExp(`^${name}  KEYWORD  custom$`, 'm'));
    const badType = await eon(['operator', 'search-attribute', 'create', ...at(), '--name', 'X', '--type', 'Float']);
    assert.notEqual(badType.code, 0);
    assert.equal((await eon(['operator', 'search-attribute', 'remove', ...at(), '--name', name])).code, 0);
    const again = await eon(['operator', 'search-attribute', 'remove', ...at(), '--name', name]);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /does not exist/);
  });
});
