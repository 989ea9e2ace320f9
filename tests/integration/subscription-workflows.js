'use strict';
// The subscription example, for the time-skipping test: a welcome email, a 60-day trial, then
// a monthly charge until a cancellation signal, which sends a cancellation email and ends it.

const { proxyActivities, defineSignal, setHandler, condition, sleep, workflowInfo } = require('@temporalio/workflow');

const { sendWelcomeEmail, chargeMonthlyFee, sendCancellationEmail } = proxyActivities({
  startToCloseTimeout: '10s',
});

const cancelSubscription = defineSignal('cancelSubscription');

async function subscription(customer) {
  let cancelled = false;
  setHandler(cancelSubscription, () => {
    cancelled = true;
  });
  const started = Date.now();
  await sendWelcomeEmail(customer);
  await sleep('60 days');
  let charges = 0;
  while (!cancelled) {
    await chargeMonthlyFee(customer, charges + 1);
    charges += 1;
    await condition(() => cancelled, '30 days');
  }
  await sendCancellationEmail(customer);
  return { charges, elapsedDays: (Date.now() - started) / 86_400_000, workflowId: workflowInfo().workflowId };
}

module.exports = { subscription, cancelSubscription };
