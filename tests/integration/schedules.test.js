'use strict';
// Schedules (Temporal's ScheduleService) through the TypeScript SDK's `client.schedule`, the
// `eon schedule` commands, and kill -9: a schedule keeps its place across a crash.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');

const { ScheduleAlreadyRunning, ScheduleOverlapPolicy } = require('@temporalio/client');

const { EonServer, connectClient, eonTest, sharedEnv, uniqueId, runCli } = require('./harness');

const eon = runCli;

async function until(what, fn, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    last = await fn();
    if (last) return last;
    await sleep(200);
  }
  assert.fail(`timed out waiting for ${what}`);
}

// "<id>-2026-01-01T00:00:01Z" -> the nominal time in seconds.
function nominalSeconds(workflowId) {
  const m = workflowId.match(/-(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)$/);
  assert.ok(m, `workflow id ${workflowId} does not end in a nominal time`);
  return Date.parse(m[1]) / 1000;
}

describe('schedules', () => {
  const env = sharedEnv({ activities: { greet: async (name) => `Hello, ${name}!` } });

  eonTest('create, describe, list, run, update, pause, trigger, backfill, delete', async () => {
    const scheduleId = uniqueId('sched');
    const workflowId = uniqueId('sched-wf');
    const handle = await env.client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1s' }] },
      action: { type: 'startWorkflow', workflowType: 'returnValue', args: ['one'], taskQueue: env.taskQueue, workflowId },
      policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE },
      memo: { team: 'eon' },
    });
    let desc = await handle.describe();
    assert.equal(desc.action.workflowId, workflowId);
    assert.equal(desc.policies.overlap, ScheduleOverlapPolicy.BUFFER_ONE);
    assert.equal(desc.spec.intervals[0].every, 1000);
    assert.deepEqual(desc.memo, { team: 'eon' });

    // Runs complete and are recorded, with the nominal time in the workflow id.
    desc = await until('two completed runs', async () => {
      const d = await handle.describe();
      const done = d.info.recentActions.filter((a) => a.action.workflow?.workflowId);
      return d.info.numActionsTaken >= 2 && done.length >= 2 ? d : undefined;
    });
    const first = desc.info.recentActions[0].action.workflow;
    assert.ok(first.workflowId.startsWith(`${workflowId}-`));
    nominalSeconds(first.workflowId);
    assert.equal(await env.client.workflow.getHandle(first.workflowId).result(), 'one');
    const started = await env.client.workflow.getHandle(first.workflowId).describe();
    assert.equal(started.searchAttributes.TemporalScheduledById?.[0], scheduleId);
    assert.ok(desc.info.nextActionTimes.length > 0);

    // Listed, with its memo, and filterable by the query language.
    const listed = await until('the schedule in the list', async () => {
      for await (const s of env.client.schedule.list({ query: `ScheduleId = '${scheduleId}'` })) {
        if (s.scheduleId === scheduleId) return s;
      }
      return undefined;
    });
    assert.deepEqual(listed.memo, { team: 'eon' });
    assert.equal(listed.action.workflowType, 'returnValue');

    // Update: later runs take the new input.
    await handle.update((prev) => ({ ...prev, action: { ...prev.action, args: ['two'] } }));
    await until('a run with the new input', async () => {
      const d = await handle.describe();
      for (const a of d.info.recentActions.slice(-3)) {
        const wf = env.client.workflow.getHandle(a.action.workflow.workflowId);
        if ((await wf.describe()).status.name === 'COMPLETED' && (await wf.result()) === 'two') return true;
      }
      return false;
    });

    // Pause: no more scheduled runs; notes kept.
    await handle.pause('quiet please');
    desc = await handle.describe();
    assert.equal(desc.state.paused, true);
    assert.equal(desc.state.note, 'quiet please');
    const pausedAt = desc.info.numActionsTaken;
    await sleep(2500);
    assert.equal((await handle.describe()).info.numActionsTaken, pausedAt);

    // Trigger and backfill run while paused.
    await handle.trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    const now = Date.now();
    await handle.backfill({ start: new Date(now - 3_600_000), end: new Date(now - 3_600_000 + 2000), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
    await until('trigger and backfill', async () => (await handle.describe()).info.numActionsTaken >= pausedAt + 3);

    await handle.unpause('go');
    desc = await handle.describe();
    assert.equal(desc.state.paused, false);
    assert.equal(desc.state.note, 'go');

    await handle.delete();
    await assert.rejects(handle.describe(), /not found/i);
  });

  eonTest('a taken schedule id is ScheduleAlreadyRunning; bad specs are INVALID_ARGUMENT', async () => {
    const scheduleId = uniqueId('dup');
    const options = {
      scheduleId,
      spec: { intervals: [{ every: '1h' }] },
      action: { type: 'startWorkflow', workflowType: 'returnValue', taskQueue: env.taskQueue },
      state: { paused: true },
    };
    const handle = await env.client.schedule.create(options);
    await assert.rejects(env.client.schedule.create(options), (err) => err instanceof ScheduleAlreadyRunning);
    for (const spec of [
      { cronExpressions: ['@every .s'] },
      { cronExpressions: ['61 * * * *'] },
      { cronExpressions: ['0 25 * * *'] },
      { intervals: [{ every: '1h' }], timezone: 'Mars/Olympus_Mons' },
      { intervals: [{ every: '1h' }], startAt: new Date(2030, 1, 1), endAt: new Date(2029, 1, 1) },
    ]) {
      await assert.rejects(
        env.client.schedule.create({ ...options, scheduleId: uniqueId('bad'), spec }),
        // The SDK wraps the gRPC error: INVALID_ARGUMENT (3) with a message naming the problem.
        (err) => (err.cause?.code ?? err.code) === 3 && /interval|cron|Hour|time zone|end_time|@every/.test(err.cause?.details ?? ''),
        JSON.stringify(spec),
      );
    }
    await handle.delete();
  });

  eonTest('eon schedule create, describe, list, toggle, trigger, backfill, update, delete', async () => {
    const at = ['--address', env.server.address];
    const id = uniqueId('cli-sched');
    let r = await eon(['schedule', 'create', ...at, '--schedule-id', id, '--cron', '0 12 * * MON-FRI', '--workflow-id', `${id}-wf`, '--type', 'returnValue', '--task-queue', env.taskQueue, '--input', '"cli"', '--overlap-policy', 'AllowAll']);
    assert.equal(r.code, 0, r.stderr);
    r = await eon(['schedule', 'describe', ...at, '-s', id, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const described = JSON.parse(r.stdout);
    assert.equal(described.schedule.policies.overlapPolicy, 'SCHEDULE_OVERLAP_POLICY_ALLOW_ALL');
    assert.equal(described.schedule.spec.structuredCalendar[0].hour[0].start, 12);
    r = await eon(['schedule', 'toggle', ...at, '-s', id, '--pause', '--reason', 'maintenance']);
    assert.equal(r.code, 0, r.stderr);
    r = await eon(['schedule', 'describe', ...at, '-s', id]);
    assert.match(r.stdout, /Paused\s+yes/);
    assert.match(r.stdout, /Notes\s+maintenance/);
    r = await eon(['schedule', 'trigger', ...at, '-s', id]);
    assert.equal(r.code, 0, r.stderr);
    r = await eon(['schedule', 'backfill', ...at, '-s', id, '--start-time', '2026-01-05T11:00:00Z', '--end-time', '2026-01-06T13:00:00Z']);
    assert.equal(r.code, 0, r.stderr);
    await until('three actions', async () => {
      const d = JSON.parse((await eon(['schedule', 'describe', ...at, '-s', id, '-o', 'json'])).stdout);
      return Number(d.info.actionCount ?? 0) === 3;
    });
    r = await eon(['schedule', 'list', ...at, '-q', `ScheduleId = '${id}'`]);
    assert.match(r.stdout, new RegExp(`${id}\\s+returnValue\\s+yes`));
    r = await eon(['schedule', 'update', ...at, '-s', id, '--interval', '1h/5m', '--workflow-id', `${id}-wf`, '--type', 'returnValue', '--task-queue', env.taskQueue]);
    assert.equal(r.code, 0, r.stderr);
    r = await eon(['schedule', 'describe', ...at, '-s', id, '-o', 'json']);
    assert.equal(JSON.parse(r.stdout).schedule.spec.interval[0].phase, '300s');
    // Bad input: one line naming the problem, exit code 1.
    r = await eon(['schedule', 'create', ...at, '-s', uniqueId('bad'), '--interval', '0s', '--workflow-id', 'w', '--type', 't', '--task-queue', 'q']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /interval/);
    r = await eon(['schedule', 'create', ...at, '-s', uniqueId('bad'), '--cron', '@every .s', '--workflow-id', 'w', '--type', 't', '--task-queue', 'q']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /@every/);
    r = await eon(['schedule', 'toggle', ...at, '-s', id]);
    assert.equal(r.code, 1);
    // Regression (issue 11): a workflow cron of "@every .s" used to end the server.
    r = await eon(['workflow', 'start', ...at, '--type', 'returnValue', '-t', env.taskQueue, '--cron', '@every .s']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid cron schedule "@every \.s"/);
    r = await eon(['schedule', 'delete', ...at, '-s', id]);
    assert.equal(r.code, 0, r.stderr);
    r = await eon(['schedule', 'describe', ...at, '-s', id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not found/);
    // The server is still up after all of that.
    assert.ok(await env.client.workflow.count());
  });
});

eonTest('after kill -9 a schedule catches up the times it missed and runs none twice', async (t, scope) => {
  const server = scope.track(await EonServer.start({ db: true }));
  let { client } = scope.track(await connectClient(server));
  const scheduleId = uniqueId('crash-sched');
  const workflowId = uniqueId('crash-wf');
  // ALLOW_ALL: every second starts a run, no worker is needed (runs just stay open).
  await client.schedule.create({
    scheduleId,
    spec: { intervals: [{ every: '1s' }] },
    action: { type: 'startWorkflow', workflowType: 'returnValue', taskQueue: uniqueId('nobody'), workflowId },
    policies: { overlap: ScheduleOverlapPolicy.ALLOW_ALL },
  });
  await until('a first run', async () => (await client.schedule.getHandle(scheduleId).describe()).info.numActionsTaken >= 2);
  await server.kill9();
  await sleep(3000);
  await server.restart();
  ({ client } = scope.track(await connectClient(server)));
  const handle = client.schedule.getHandle(scheduleId);
  await sleep(1500);
  await handle.pause('stop');
  const runs = [];
  for await (const w of client.workflow.list({ query: `TemporalScheduledById = '${scheduleId}'` })) runs.push(w.workflowId);
  const ids = new Set(runs);
  assert.equal(ids.size, runs.length, `a nominal time ran twice: ${runs.join(', ')}`);
  const seconds = [...ids].map(nominalSeconds).sort((a, b) => a - b);
  // Every second from the first run to the last, including the ones the server was down for.
  assert.ok(seconds.length >= 5, `only ${seconds.length} runs`);
  for (let i = 1; i < seconds.length; i += 1) assert.equal(seconds[i], seconds[i - 1] + 1, `gap after ${seconds[i - 1]}`);
  const desc = await handle.describe();
  assert.equal(desc.info.numActionsTaken, seconds.length);
});
