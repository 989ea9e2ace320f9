'use strict';
// `eon server start-dev --time-skipping`: Temporal's TestService. Durable timers of days fire in
// order, in seconds of real time, while the test has unlocked time skipping.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { Client, Connection } = require('@temporalio/client');
// The SDK's own switch for a connection that also speaks TestService (its testing package uses it).
const { InternalConnectionOptionsSymbol } = require('@temporalio/client/lib/connection');
const { DefaultLogger, NativeConnection, Worker, bundleWorkflowCode } = require('@temporalio/worker');

const { EonServer, eonTest, eventTypes, uniqueId } = require('./harness');

async function testConnection(server) {
  return Connection.connect({
    address: server.address,
    [InternalConnectionOptionsSymbol]: { supportsTestService: true },
  });
}

let bundle;
async function subscriptionWorker(server, taskQueue, activities) {
  bundle ??= await bundleWorkflowCode({
    workflowsPath: require.resolve('./subscription-workflows'),
    logger: new DefaultLogger('WARN'),
  });
  const connection = await NativeConnection.connect({ address: server.address });
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities });
  const running = worker.run();
  return {
    async shutdown() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

describe('time skipping', () => {
  eonTest('the subscription example runs 60 days of trial and months of charges in seconds', async (t, scope) => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--time-skipping'] }));
    const connection = await testConnection(server);
    scope.add(() => connection.close());
    const client = new Client({ connection });
    const taskQueue = uniqueId('subscription');
    const emails = [];
    let chargesSeen = 0;
    let releaseThirdCharge;
    const thirdCharge = new Promise((resolve) => {
      releaseThirdCharge = resolve;
    });
    let signalSent;
    const signalled = new Promise((resolve) => {
      signalSent = resolve;
    });
    const worker = await subscriptionWorker(server, taskQueue, {
      async sendWelcomeEmail(customer) {
        emails.push(`welcome ${customer}`);
      },
      async chargeMonthlyFee(customer, n) {
        chargesSeen = n;
        if (n === 3) {
          releaseThirdCharge();
          await signalled; // the cancellation arrives while this charge runs
        }
      },
      async sendCancellationEmail(customer) {
        emails.push(`goodbye ${customer}`);
      },
    });
    scope.add(() => worker.shutdown());

    const began = Date.now();
    const before = (await connection.testService.getCurrentTime({})).time;
    const handle = await client.workflow.start('subscription', {
      taskQueue,
      workflowId: uniqueId('sub'),
      args: ['ada'],
    });
    await connection.testService.unlockTimeSkipping({});
    await thirdCharge;
    await handle.signal('cancelSubscription');
    signalSent();
    const result = await handle.result();
    await connection.testService.lockTimeSkipping({});
    const wallSeconds = (Date.now() - began) / 1000;

    assert.equal(result.charges, 3);
    assert.equal(chargesSeen, 3);
    assert.deepEqual(emails, ['welcome ada', 'goodbye ada']);
    // 60 days of trial and two months between the three charges passed in workflow time.
    assert.ok(result.elapsedDays >= 120, `only ${result.elapsedDays} days passed`);
    assert.ok(wallSeconds < 20, `took ${wallSeconds} s of real time`);
    const after = (await connection.testService.getCurrentTime({})).time;
    const skippedDays = (Number(after.seconds) - Number(before.seconds)) / 86400;
    assert.ok(skippedDays >= 120, `server clock moved ${skippedDays} days`);

    const history = await handle.fetchHistory();
    const types = eventTypes(history);
    // The trial and the two waits between charges; the signal came during the third charge, so
    // no fourth wait was started.
    assert.equal(types.filter((x) => x === 'TIMER_STARTED').length, 3);
    assert.equal(types.filter((x) => x === 'TIMER_FIRED').length, 3);
    assert.equal(types.filter((x) => x === 'WORKFLOW_EXECUTION_SIGNALED').length, 1);
    assert.equal(types.at(-1), 'WORKFLOW_EXECUTION_COMPLETED');
  });

  eonTest('time does not skip while locked, and the lock counter cannot go below zero', async (t, scope) => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--time-skipping'] }));
    const connection = await testConnection(server);
    scope.add(() => connection.close());
    const t0 = (await connection.testService.getCurrentTime({})).time;
    await new Promise((resolve) => setTimeout(resolve, 300));
    const t1 = (await connection.testService.getCurrentTime({})).time;
    const movedMs = (Number(t1.seconds) - Number(t0.seconds)) * 1000 + (t1.nanos - t0.nanos) / 1e6;
    assert.ok(movedMs >= 250 && movedMs < 5000, `locked clock moved ${movedMs} ms in 300 ms`);

    // Sleep moves the clock by its duration, skipping when nothing else runs.
    const beforeSleep = Date.now();
    await connection.testService.sleep({ duration: { seconds: 3600 } });
    assert.ok(Date.now() - beforeSleep < 5000, 'an hour of sleep took real time');
    const t2 = (await connection.testService.getCurrentTime({})).time;
    assert.ok(Number(t2.seconds) - Number(t1.seconds) >= 3600);

    await connection.testService.unlockTimeSkipping({});
    await assert.rejects(connection.testService.unlockTimeSkipping({}), (err) => {
      assert.equal(err.code, 9); // FAILED_PRECONDITION
      return true;
    });
    await connection.testService.lockTimeSkipping({});
  });

  eonTest('without --time-skipping the TestService is not served', async (t, scope) => {
    const server = scope.track(await EonServer.start());
    const connection = await testConnection(server);
    scope.add(() => connection.close());
    await assert.rejects(connection.testService.getCurrentTime({}), (err) => {
      assert.equal(err.code, 12); // UNIMPLEMENTED
      return true;
    });
  });
});
