'use strict';
// The web UI in a real browser: Debian's chromium driven by playwright-core (which downloads no
// browser), against a real `eon server start-dev` with workflows run by the TypeScript SDK. Each
// page and action is checked on what it shows; screenshots of the main pages are saved to
// $EON_UI_SCREENSHOTS (default: tests/integration/screenshots/).

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { describe } = require('node:test');
const { Context } = require('@temporalio/activity');

const {
  EonServer, connectClient, eonTest, getFreePort, makeTempDir, startWorker, uniqueId,
} = require('./harness');

const CHROMIUM = process.env.CHROMIUM_PATH || ['/usr/bin/chromium', '/usr/lib/chromium/chromium'].find((p) => fs.existsSync(p));
const SCREENSHOTS = process.env.EON_UI_SCREENSHOTS || path.join(__dirname, 'screenshots');
const WAIT_MS = 20_000;

const activities = {
  async greet(name) {
    return `Hello, ${name}!`;
  },
  async alwaysFails() {
    throw new Error(`still broken on attempt ${Context.current().info.attempt}`);
  },
};

function rot13(text) {
  return text.replace(/[a-z]/gi, (c) => {
    const base = c <= 'Z' ? 65 : 97;
    return String.fromCharCode(((c.charCodeAt(0) - base + 13) % 26) + base);
  });
}

/** A remote codec endpoint (Temporal UI's protocol: POST /decode {payloads}) for binary/rot13. */
async function startRot13Codec(scope) {
  const http = require('node:http');
  const server = http.createServer((req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Headers', 'Content-Type, X-Namespace');
    if (req.method === 'OPTIONS') return res.end();
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      const { payloads } = JSON.parse(body);
      const decoded = payloads.map((p) => {
        if (Buffer.from(p.metadata.encoding, 'base64').toString() !== 'binary/rot13') return p;
        const text = rot13(Buffer.from(p.data, 'base64').toString());
        return { metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from(text).toString('base64') };
      });
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ payloads: decoded }));
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  scope.add(() => new Promise((resolve) => server.close(resolve)));
  return `http://127.0.0.1:${server.address().port}`;
}

async function launchBrowser() {
  assert.ok(CHROMIUM, 'chromium is not installed (scripts/install-deps.sh installs it); CHROMIUM_PATH names another');
  const { chromium } = require('playwright-core');
  // Root (CI) cannot use the sandbox; the pages are our own.
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

async function shot(page, name) {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  const file = path.join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

describe('web UI', () => {
  eonTest('pages and actions in chromium', async (t, scope) => {
    const uiPort = await getFreePort();
    const server = scope.track(await EonServer.start({ extraArgs: ['--ui-port', String(uiPort)] }));
    assert.match(server.output, new RegExp(`Web UI: http://127\\.0\\.0\\.1:${uiPort}`));
    const ui = `http://127.0.0.1:${uiPort}`;
    const { client, connection } = await connectClient(server);
    scope.add(() => connection.close());
    const taskQueue = uniqueId('ui');
    scope.track(await startWorker(server, { taskQueue, activities }));

    // Workflows in every state the pages show.
    const tag = uniqueId('ui').slice(0, 12);
    const completed = await client.workflow.start('greet', { taskQueue, workflowId: `${tag}-greet`, args: ['Eon'] });
    await completed.result();
    const failed = await client.workflow.start('failing', { taskQueue, workflowId: `${tag}-failing`, args: ['bad input'] });
    await assert.rejects(failed.result());
    const counting = await client.workflow.start('queryable', { taskQueue, workflowId: `${tag}-counting`, args: [2] });
    await counting.signal('advance');
    const waiting = await client.workflow.start('waitForSignal', { taskQueue, workflowId: `${tag}-waiting` });
    const retrying = await client.workflow.start('runActivity', {
      taskQueue, workflowId: `${tag}-retrying`,
      args: ['alwaysFails', [], { startToCloseTimeout: '10s', retry: { initialInterval: '3s', backoffCoefficient: 1 } }],
    });
    await client.schedule.create({
      scheduleId: `${tag}-nightly`,
      spec: { cronExpressions: ['0 2 * * *'] },
      action: { type: 'startWorkflow', workflowType: 'greet', taskQueue, args: ['night'] },
    });

    const browser = await launchBrowser();
    scope.add(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors = [];
    page.on('pageerror', (err) => consoleErrors.push(String(err)));

    // The root goes to the default namespace's workflows; the list shows each with its status.
    await page.goto(`${ui}/`);
    await page.waitForURL(`${ui}/namespaces/default/workflows`);
    const rows = page.locator('table.workflows tbody tr');
    await rows.filter({ hasText: `${tag}-retrying` }).waitFor({ timeout: WAIT_MS });
    const rowOf = (id) => rows.filter({ has: page.locator('td.id a', { hasText: new RegExp(`^${id}$`) }) });
    assert.equal(await rowOf(`${tag}-greet`).locator('.badge').textContent(), 'Completed');
    assert.equal(await rowOf(`${tag}-failing`).locator('.badge').textContent(), 'Failed');
    assert.equal(await rowOf(`${tag}-counting`).locator('.badge').textContent(), 'Running');
    assert.match(await rowOf(`${tag}-greet`).textContent(), /greet/);
    // Counts by status (the scheduled run may add one more).
    await page.locator('.status-tabs button', { hasText: /^Running 3$/ }).waitFor({ timeout: WAIT_MS });
    await page.locator('.status-tabs button', { hasText: /^Failed 1$/ }).waitFor();
    await shot(page, 'workflows');

    // Filter by status (kept in the URL), then by a typed query.
    await page.locator('.status-tabs button', { hasText: /^Completed/ }).click();
    await page.waitForURL(/status=Completed/);
    await rows.first().waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('table.workflows tbody .badge')].every((b) => b.textContent === 'Completed'));
    assert.equal(await rowOf(`${tag}-counting`).count(), 0);
    await page.locator('.status-tabs button', { hasText: /^All/ }).click();
    await page.fill('#query', `WorkflowId = '${tag}-waiting'`);
    await page.keyboard.press('Enter');
    await page.waitForURL(/query=/);
    await page.waitForFunction(() => document.querySelectorAll('table.workflows tbody tr').length === 1);
    assert.match(await rows.first().textContent(), new RegExp(`${tag}-waiting`));
    // A malformed query is shown in place, not a blank page.
    await page.fill('#query', 'WorkflowId = ');
    await page.keyboard.press('Enter');
    await page.locator('.error').first().waitFor({ timeout: WAIT_MS });
    assert.match(await page.locator('.error').first().textContent(), /.+/);

    // A workflow: summary with input and result, history table and timeline, download.
    await page.goto(`${ui}/namespaces/default/workflows/${completed.workflowId}/${completed.firstExecutionRunId}/history`);
    const summary = page.locator('section.summary');
    await summary.waitFor();
    assert.match(await summary.textContent(), /greet/);
    // The summary shows before the history has loaded; its input and result come from the history.
    const history = page.locator('table.history tbody tr');
    await history.first().waitFor();
    assert.match(await summary.locator('.io').textContent(), /"Eon"/);
    assert.match(await summary.locator('.io').textContent(), /"Hello, Eon!"/);
    assert.ok(await history.count() >= 11, `history rows: ${await history.count()}`);
    assert.equal(await history.first().locator('.event-type').textContent(), 'WorkflowExecutionStarted');
    assert.equal(await history.last().locator('.event-type').textContent(), 'WorkflowExecutionCompleted');
    await history.filter({ hasText: 'ActivityTaskScheduled' }).locator('summary').click();
    assert.match(await history.filter({ hasText: 'ActivityTaskScheduled' }).locator('pre').textContent(), /"activityType"/);
    const download = page.waitForEvent('download');
    await page.locator('nav.tabs a', { hasText: 'Download JSON' }).click();
    const downloaded = JSON.parse(fs.readFileSync(await (await download).path(), 'utf8'));
    assert.equal(downloaded.events.length, await history.count());
    await page.locator('.view-switch button', { hasText: 'Timeline' }).click();
    assert.ok(await page.locator('ol.timeline li').count() >= 11);

    // A failure is decoded.
    await page.goto(`${ui}/namespaces/default/workflows/${failed.workflowId}/${failed.firstExecutionRunId}/history`);
    await page.locator('.io', { hasText: 'Failure' }).waitFor();
    assert.match(await page.locator('.io').textContent(), /IntegrationTestFailure: bad input/);

    // A running workflow: query form, call stack, signal action; live updates show it complete.
    await page.goto(`${ui}/namespaces/default/workflows/${counting.workflowId}/${counting.firstExecutionRunId}/queries`);
    await page.fill('input[name="query-type"]', 'state');
    await page.locator('button', { hasText: 'Run query' }).click();
    await page.locator('pre.code', { hasText: '"count": 1' }).waitFor({ timeout: WAIT_MS });
    await page.locator('nav.tabs a', { hasText: 'Call stack' }).click();
    await page.waitForURL(/\/stack-trace$/);
    await page.waitForFunction(() => {
      const pre = document.querySelector('main pre.code:last-of-type');
      return pre && pre.textContent.length > 0;
    }, null, { timeout: WAIT_MS });
    assert.equal(await page.locator('main .error').count(), 0);
    await page.locator('nav.tabs a', { hasText: /^History/ }).click();
    await shot(page, 'workflow-running');
    await page.locator('.actions button', { hasText: 'Signal' }).click();
    const signalDialog = page.locator('dialog[open]');
    await signalDialog.locator('input[name="signal-name"]').fill('advance');
    await signalDialog.locator('button[type="submit"]').click();
    await page.locator('.title-row .badge', { hasText: 'Completed' }).waitFor({ timeout: WAIT_MS });
    await page.locator('.io', { hasText: 'Result' }).waitFor({ timeout: WAIT_MS });
    assert.equal((await counting.describe()).status.name, 'COMPLETED');
    assert.equal(await counting.result(), 2);
    await shot(page, 'workflow');

    // Terminate, behind a confirmation that Escape dismisses.
    await page.goto(`${ui}/namespaces/default/workflows/${waiting.workflowId}/${waiting.firstExecutionRunId}/history`);
    await page.locator('.actions button', { hasText: 'Terminate' }).click();
    await page.locator('dialog[open]').waitFor();
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('dialog[open]'));
    assert.equal((await waiting.describe()).status.name, 'RUNNING');
    await page.locator('.actions button', { hasText: 'Terminate' }).click();
    await page.locator('dialog[open] input[name="reason"]').fill('stopped in the UI test');
    await page.locator('dialog[open] button[type="submit"]').click();
    await page.locator('.title-row .badge', { hasText: 'Terminated' }).waitFor({ timeout: WAIT_MS });
    const terminated = await connection.workflowService.getWorkflowExecutionHistory({ namespace: 'default', execution: { workflowId: waiting.workflowId } });
    assert.equal(terminated.history.events.at(-1).workflowExecutionTerminatedEventAttributes.reason, 'stopped in the UI test');

    // Pending activities: the attempt and the last failure of an activity that keeps failing.
    await page.goto(`${ui}/namespaces/default/workflows/${retrying.workflowId}/${retrying.firstExecutionRunId}/pending-activities`);
    const card = page.locator('section.card');
    await card.locator('text=/still broken on attempt/').waitFor({ timeout: WAIT_MS });
    assert.match(await card.textContent(), /alwaysFails/);
    await shot(page, 'pending-activities');
    await retrying.terminate('done');

    // Task queue: the worker's pollers.
    await page.goto(`${ui}/namespaces/default/task-queues/${taskQueue}`);
    await page.locator('section table tbody tr td', { hasText: /@/ }).first().waitFor({ timeout: WAIT_MS });

    // Schedules: the list and a schedule's page.
    await page.goto(`${ui}/namespaces/default/schedules`);
    await page.locator('td a', { hasText: `${tag}-nightly` }).click();
    await page.waitForURL(new RegExp(`/schedules/${tag}-nightly$`));
    await page.locator('.fields', { hasText: 'greet' }).waitFor();
    await page.locator('.actions button', { hasText: 'Pause' }).click();
    await page.locator('.actions button', { hasText: 'Unpause' }).waitFor({ timeout: WAIT_MS });
    assert.equal((await client.schedule.getHandle(`${tag}-nightly`).describe()).state.paused, true);

    // The start form: a workflow started from the UI runs, and its page follows it to its result.
    await page.goto(`${ui}/namespaces/default/start-workflow`);
    await page.getByLabel('Workflow ID').fill(`${tag}-from-form`);
    await page.getByLabel('Workflow type').fill('greet');
    await page.getByLabel('Task queue').fill(taskQueue);
    await page.getByLabel('Input (one JSON value)').fill('"Form"');
    await page.locator('main button[type="submit"]', { hasText: 'Start' }).click();
    await page.waitForURL(new RegExp(`/workflows/${tag}-from-form/[0-9a-f-]{36}/history$`));
    await page.locator('.io pre', { hasText: '"Hello, Form!"' }).waitFor({ timeout: WAIT_MS });

    // Namespaces, and an unknown namespace shows its error in place.
    await page.goto(`${ui}/namespaces`);
    await page.locator('td a', { hasText: 'default' }).waitFor();
    await page.goto(`${ui}/namespaces/nope/workflows`);
    await page.locator('.error', { hasText: /nope/ }).first().waitFor({ timeout: WAIT_MS });

    // Keyboard: the filter, the status buttons and the rows' links are reachable with Tab.
    await page.goto(`${ui}/namespaces/default/workflows`);
    await rows.first().waitFor();
    const reached = new Set();
    for (let i = 0; i < 40; i += 1) {
      await page.keyboard.press('Tab');
      reached.add(await page.evaluate(() => `${document.activeElement.tagName}${document.activeElement.id ? `#${document.activeElement.id}` : ''}`));
    }
    assert.ok(reached.has('INPUT#query') && reached.has('BUTTON') && reached.has('A'), [...reached].join(' '));

    // A phone: nothing wider than the screen, the list still readable.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${ui}/namespaces/default/workflows`);
    await rows.first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone's screen`);
    await shot(page, 'workflows-phone');

    // A remote codec decodes what the server keeps encoded: here rot13 under its own encoding.
    const codec = await startRot13Codec(scope);
    const secretId = `${tag}-encoded`;
    const b64 = (text) => Buffer.from(text).toString('base64');
    const startEncoded = await fetch(`${ui}/api/v1/namespaces/default/workflows/${secretId}`, {
      method: 'POST',
      body: JSON.stringify({
        workflowType: { name: 'nobodyRunsThis' }, taskQueue: { name: uniqueId('idle') },
        input: { payloads: [{ metadata: { encoding: b64('binary/rot13') }, data: b64(rot13('"top secret"')) }] },
      }),
    });
    assert.equal(startEncoded.status, 200, await startEncoded.text());
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`${ui}/namespaces/default/workflows/${secretId}`);
    await page.waitForURL(new RegExp(`/workflows/${secretId}/[0-9a-f-]{36}/history$`));
    await page.locator('.io pre', { hasText: 'binary/rot13' }).waitFor({ timeout: WAIT_MS });
    await page.locator('header button', { hasText: 'Settings' }).click();
    await page.locator('dialog[open] input[name="codec-endpoint"]').fill(codec);
    await page.locator('dialog[open] button[type="submit"]').click();
    await page.locator('.io pre', { hasText: '"top secret"' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator('main .error').count(), 0);

    // Select rows in the list and terminate them as one batch operation.
    await page.goto(`${ui}/namespaces/default/workflows?query=${encodeURIComponent(`WorkflowId = '${secretId}'`)}`);
    await page.waitForFunction(() => document.querySelectorAll('table.workflows tbody input[type=checkbox]').length === 1);
    await page.locator('table.workflows tbody input[type=checkbox]').check();
    await page.locator('.batch button', { hasText: 'Terminate selected' }).click();
    await page.locator('dialog[open] button[type="submit"]').click();
    await page.locator('table.workflows .badge', { hasText: 'Terminated' }).waitFor({ timeout: WAIT_MS });
    const batches = await connection.workflowService.listBatchOperations({ namespace: 'default' });
    assert.equal(batches.operationInfo.length, 1);

    assert.deepEqual(consoleErrors, []);
  }, { timeout: 240_000 });

  eonTest('reset to a chosen workflow task, behind a confirmation, then the new run', async (t, scope) => {
    const uiPort = await getFreePort();
    const server = scope.track(await EonServer.start({ extraArgs: ['--ui-port', String(uiPort)] }));
    const ui = `http://127.0.0.1:${uiPort}`;
    const { client, connection } = await connectClient(server);
    scope.add(() => connection.close());
    const taskQueue = uniqueId('ui-reset');
    scope.track(await startWorker(server, { taskQueue, activities }));
    // Waits for two 'add' signals; the first arrives before the reset and is reapplied after it.
    const handle = await client.workflow.start('collectSignals', { taskQueue, workflowId: uniqueId('ui-reset'), args: [2] });
    const base = handle.firstExecutionRunId;
    const completedTasks = async (n) => {
      const { events } = await handle.fetchHistory();
      return events.filter((e) => e.workflowTaskCompletedEventAttributes).length >= n;
    };
    const waitForCompletedTasks = async (n) => {
      for (let i = 0; i < 200 && !(await completedTasks(n)); i += 1) await new Promise((r) => setTimeout(r, 50));
      return completedTasks(n);
    };
    // The signal goes after the first workflow task, so that a second task carries it and the
    // reset can go back to the first (a signal sent at once may ride on the first task).
    assert.ok(await waitForCompletedTasks(1), 'the workflow never completed its first task');
    await handle.signal('add', 'before');
    assert.ok(await waitForCompletedTasks(2), 'the workflow never completed a task after the signal');

    const browser = await launchBrowser();
    scope.add(() => browser.close());
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const consoleErrors = [];
    page.on('pageerror', (err) => consoleErrors.push(String(err)));
    await page.goto(`${ui}/namespaces/default/workflows/${handle.workflowId}/${base}/history`);
    await page.locator('table.history tbody tr', { hasText: 'WorkflowExecutionSignaled' }).waitFor({ timeout: WAIT_MS });

    // The dialog offers the workflow tasks' ends; Escape changes nothing.
    await page.locator('.actions button', { hasText: 'Reset' }).click();
    const dialog = page.locator('dialog[open]');
    const options = await dialog.locator('select[name="reset-event"] option').allTextContents();
    assert.ok(options.length >= 2, options.join(' | '));
    assert.ok(options.every((o) => /workflow task (completed|failed|timed out)/.test(o)), options.join(' | '));
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('dialog[open]'));
    assert.equal((await handle.describe()).runId, base);

    await page.locator('.actions button', { hasText: 'Reset' }).click();
    await dialog.locator('select[name="reset-event"]').selectOption('4');
    await dialog.locator('input[name="reset-reason"]').fill('reset in the UI test');
    await shot(page, 'workflow-reset-dialog');
    await dialog.locator('button[type="submit"]').click();
    // The page moves to the new run, which has the failed task and the signal again.
    await page.waitForURL((url) => /\/history$/.test(url.pathname) && !url.pathname.includes(base), { timeout: WAIT_MS });
    const newRun = page.url().split('/').at(-2);
    assert.match(newRun, /^[0-9a-f-]{36}$/);
    await page.locator('table.history tbody tr', { hasText: 'WorkflowTaskFailed' }).waitFor({ timeout: WAIT_MS });
    await page.locator('table.history tbody tr', { hasText: 'WorkflowExecutionSignaled' }).waitFor({ timeout: WAIT_MS });
    await shot(page, 'workflow-reset');

    const old = await client.workflow.getHandle(handle.workflowId, base).describe();
    assert.equal(old.status.name, 'TERMINATED');
    const oldEvents = (await client.workflow.getHandle(handle.workflowId, base).fetchHistory()).events;
    assert.equal(oldEvents.at(-1).workflowExecutionTerminatedEventAttributes.reason, 'reset in the UI test');
    await client.workflow.getHandle(handle.workflowId).signal('add', 'after');
    assert.deepEqual(await client.workflow.getHandle(handle.workflowId, newRun).result(), ['before', 'after']);
    await page.locator('.title-row .badge', { hasText: 'Completed' }).waitFor({ timeout: WAIT_MS });
    assert.deepEqual(consoleErrors, []);
  });

  eonTest('a server that requires a token: the error in place, then the key from the settings', async (t, scope) => {
    const dir = makeTempDir();
    scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const key = `ui-key-${uniqueId('k')}`;
    fs.writeFileSync(path.join(dir, 'auth.json'), JSON.stringify({ api_keys: [{ key, subject: 'ui', permissions: ['default:reader'] }] }));
    const uiPort = await getFreePort();
    const server = scope.track(await EonServer.start({ extraArgs: ['--ui-port', String(uiPort), '--auth-config', path.join(dir, 'auth.json')] }));
    const ui = `http://127.0.0.1:${uiPort}`;
    // Over HTTP as over gRPC: no token is UNAUTHENTICATED (401), the key is let in.
    const refused = await fetch(`${ui}/api/v1/namespaces/default/workflows`);
    assert.equal(refused.status, 401);
    assert.equal((await refused.json()).code, 16);
    const admitted = await fetch(`${ui}/api/v1/namespaces/default/workflows`, { headers: { Authorization: `Bearer ${key}` } });
    assert.equal(admitted.status, 200);
    assert.ok(server.running);

    const browser = await launchBrowser();
    scope.add(() => browser.close());
    const page = await browser.newPage();
    await page.goto(`${ui}/namespaces/default/workflows`);
    await page.locator('.error').first().waitFor({ timeout: WAIT_MS });
    await page.locator('header button', { hasText: 'Settings' }).click();
    await page.locator('dialog[open] input[name="auth-token"]').fill(key);
    await page.locator('dialog[open] button[type="submit"]').click();
    await page.locator('table.workflows tbody td', { hasText: 'No workflows.' }).waitFor({ timeout: WAIT_MS });
    assert.equal(await page.locator('main .error').count(), 0);
  });
});
