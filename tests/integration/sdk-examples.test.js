'use strict';
// The C++ SDK's example programs (sdk/examples), run against a real server as a user would run
// them: greeting, subscription (to completion, and canceled by a signal), money transfer
// (completed, and failed with compensation).
//
// The binaries come from EON_EXAMPLES_DIR (default build/examples). Each program runs its own
// worker and client; the tests run one after the other (some share a task queue).

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { after, before, describe } = require('node:test');

const { EonServer, Scope, eonTest } = require('./harness');

const EXAMPLES_DIR = process.env.EON_EXAMPLES_DIR
  ? path.resolve(process.env.EON_EXAMPLES_DIR)
  : path.resolve(__dirname, '..', '..', 'build', 'examples');
const EXAMPLE_TIMEOUT_MS = 60_000;

/**
 * Runs example `name` with `args` to completion. Resolves with { code, signal, stdout, stderr };
 * a program still running after timeoutMs is killed and fails the test.
 */
async function runExample(name, args, { timeoutMs = EXAMPLE_TIMEOUT_MS } = {}) {
  const bin = path.join(EXAMPLES_DIR, name);
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    throw new Error(`example ${bin} not found; build the SDK examples or set EON_EXAMPLES_DIR`);
  }
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => {
    stdout += chunk.toString();
  });
  child.stderr.on('data', (chunk) => {
    stderr += chunk.toString();
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, timeoutMs);
  const { code, signal, error } = await new Promise((resolve) => {
    child.once('error', (err) => resolve({ code: null, signal: null, error: err }));
    child.once('close', (c, s) => resolve({ code: c, signal: s }));
  });
  clearTimeout(timer);
  const run = { code, signal, stdout, stderr };
  run.describe = () => `\n$ ${bin} ${args.join(' ')}\nexit code=${code} signal=${signal}\n--- stdout ---\n${stdout}--- stderr ---\n${stderr}--- end ---`;
  if (error) throw new Error(`could not run ${bin}: ${error.message}`);
  if (timedOut) throw new Error(`${name} did not finish within ${timeoutMs} ms${run.describe()}`);
  return run;
}

/** The lines of `text` matching `re`. */
function linesMatching(text, re) {
  return text.split('\n').filter((line) => re.test(line));
}

/** The last "balances: a=1 b=2" line of a money_transfer run, as { a: 1, b: 2 }. */
function finalBalances(run) {
  const lines = linesMatching(run.stdout, /^balances:/);
  assert.ok(lines.length > 0, `no balances printed${run.describe()}`);
  const balances = {};
  for (const pair of lines.at(-1).replace(/^balances:\s*/, '').split(/\s+/)) {
    const [account, amount] = pair.split('=');
    balances[account] = Number(amount);
  }
  return balances;
}

/** The lines a subscription run prints for what happened (emails, charges, the result). */
function subscriptionEvents(run) {
  return linesMatching(run.stdout, /^(welcome|charged|cancellation|subscription over|result)/);
}

/** What a subscription that runs its three cycles to the end prints. */
function threeCyclesToTheEnd(customer) {
  return [
    `welcome email sent to ${customer}`,
    `charged ${customer} for cycle 1`,
    `charged ${customer} for cycle 2`,
    `charged ${customer} for cycle 3`,
    `subscription over email sent to ${customer}`,
    `result: subscription of ${customer} completed after 3 billing cycle(s)`,
  ];
}

describe('C++ SDK examples', () => {
  const env = {};
  const scope = new Scope();
  before(async () => {
    env.server = scope.track(await EonServer.start());
  }, { timeout: 60_000 });
  after(() => scope.close(), { timeout: 60_000 });

  eonTest('greeting prints the greeting', async () => {
    const run = await runExample('greeting', ['--address', env.server.address, '--name', 'Test']);
    assert.equal(run.code, 0, run.describe());
    assert.match(run.stdout, /^Hello, Test!$/m, run.describe());
  });

  eonTest('subscription charges every billing period, then ends after the last cycle', async () => {
    const customer = 'complete@example.com';
    const run = await runExample('subscription', [
      '--address', env.server.address,
      '--customer', customer,
      '--trial-period-ms', '300',
      '--billing-period-ms', '200',
      '--max-cycles', '3',
    ]);
    assert.equal(run.code, 0, run.describe());
    assert.deepEqual(subscriptionEvents(run), threeCyclesToTheEnd(customer), run.describe());
    // Queried after the workflow completed: the handler reads the workflow object's members.
    assert.match(run.stdout, /^client: billing cycles charged: 3$/m, run.describe());
  });

  eonTest('subscription with the real 60-day trial and 30-day periods, on a time-skipping server', async () => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--time-skipping'] }));
    const customer = 'months@example.com';
    const began = Date.now();
    const run = await runExample('subscription', [
      '--address', server.address,
      '--customer', customer,
      '--max-cycles', '3',
      '--time-skipping',
    ]);
    assert.equal(run.code, 0, run.describe());
    assert.match(run.stdout, /trial 5184000000 ms, billing period 2592000000 ms/, run.describe());
    assert.deepEqual(subscriptionEvents(run), threeCyclesToTheEnd(customer), run.describe());
    assert.ok(Date.now() - began < 60_000, `150 days took ${Date.now() - began} ms`);
  });

  eonTest('subscription ends with a cancellation email when canceled during billing', async () => {
    const customer = 'cancel@example.com';
    // The trial ends at ~0.3 s and cycle 1 is charged then; cycle 2 would come at ~3.3 s. The
    // client cancels at 1.5 s, in the middle of cycle 1.
    const run = await runExample('subscription', [
      '--address', env.server.address,
      '--customer', customer,
      '--trial-period-ms', '300',
      '--billing-period-ms', '3000',
      '--max-cycles', '12',
      '--cancel-after-ms', '1500',
    ]);
    assert.equal(run.code, 0, run.describe());
    assert.match(run.stdout, /^client: canceling the subscription \(billing cycle 1\)$/m, run.describe());
    assert.deepEqual(subscriptionEvents(run), [
      `welcome email sent to ${customer}`,
      `charged ${customer} for cycle 1`,
      `cancellation email sent to ${customer}`,
      `result: subscription of ${customer} canceled after 1 billing cycle(s)`,
    ], run.describe());
  });

  eonTest('subscription canceled during the trial is never charged', async () => {
    const customer = 'trial@example.com';
    const run = await runExample('subscription', [
      '--address', env.server.address,
      '--customer', customer,
      '--trial-period-ms', '60000',
      '--cancel-after-ms', '300',
    ]);
    assert.equal(run.code, 0, run.describe());
    assert.deepEqual(subscriptionEvents(run), [
      `welcome email sent to ${customer}`,
      `cancellation email sent to ${customer}`,
      `result: subscription of ${customer} canceled during the trial`,
    ], run.describe());
  });

  eonTest('money_transfer moves the money', async () => {
    const run = await runExample('money_transfer', ['--address', env.server.address, '--amount', '150']);
    assert.equal(run.code, 0, run.describe());
    assert.match(run.stdout, /^result: transferred 150 from alice to bob$/m, run.describe());
    assert.deepEqual(finalBalances(run), { alice: 850, bob: 650 }, run.describe());
  });

  eonTest('money_transfer refunds the withdrawal when the deposit fails', async () => {
    const run = await runExample('money_transfer', [
      '--address', env.server.address, '--amount', '150', '--fail-deposit',
    ]);
    assert.equal(run.code, 2, run.describe());
    assert.match(run.stdout, /^withdrew 150 from alice$/m, run.describe());
    assert.match(run.stdout, /^refunded 150 to alice$/m, run.describe());
    assert.doesNotMatch(run.stdout, /^deposited/m, run.describe());
    assert.match(run.stdout, /^transfer failed: .*refused/m, run.describe());
    assert.deepEqual(finalBalances(run), { alice: 1000, bob: 500 }, run.describe());
  });

  eonTest('money_transfer to an unknown account is compensated too', async () => {
    const run = await runExample('money_transfer', [
      '--address', env.server.address, '--to', 'mallory', '--amount', '10',
    ]);
    assert.equal(run.code, 2, run.describe());
    assert.match(run.stdout, /^transfer failed: unknown account mallory$/m, run.describe());
    assert.deepEqual(finalBalances(run), { alice: 1000, bob: 500 }, run.describe());
  });

  eonTest('an example reports a bad flag and exits 1', async () => {
    const run = await runExample('money_transfer', ['--address', env.server.address, '--amount', 'lots']);
    assert.equal(run.code, 1, run.describe());
    assert.match(run.stderr, /bad value for --amount/, run.describe());
  });
});
