'use strict';
// Workflow updates: UpdateWorkflowExecution and PollWorkflowExecutionUpdate, protocol messages
// in workflow tasks, validator rejections (never in history), dedup by update id, durability.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { WorkflowNotFoundError, WorkflowUpdateFailedError } = require('@temporalio/client');

const { EonServer, connectClient, eonTest, eventTypes, sharedEnv, startWorker, uniqueId } = require('./harness');

const count = (types, type) => types.filter((t) => t === type).length;

describe('updates', () => {
  const env = sharedEnv({ activities: {} });
  const start = () =>
    env.client.workflow.start('counter', { taskQueue: env.taskQueue, workflowId: uniqueId('counter') });

  eonTest('executeUpdate returns the handler result and writes accepted and completed events', async () => {
    const handle = await start();
    assert.equal(await handle.executeUpdate('add', { args: [5] }), 5);
    assert.equal(await handle.executeUpdate('add', { args: [7] }), 12);
    await handle.signal('finish');
    assert.equal(await handle.result(), 12);
    const history = await handle.fetchHistory();
    const types = eventTypes(history);
    assert.equal(count(types, 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'), 2);
    assert.equal(count(types, 'WORKFLOW_EXECUTION_UPDATE_COMPLETED'), 2);
    const accepted = history.events.find((e) => e.workflowExecutionUpdateAcceptedEventAttributes);
    const completed = history.events.find((e) => e.workflowExecutionUpdateCompletedEventAttributes);
    assert.equal(
      Number(completed.workflowExecutionUpdateCompletedEventAttributes.acceptedEventId),
      Number(accepted.eventId),
    );
    assert.equal(accepted.workflowExecutionUpdateAcceptedEventAttributes.acceptedRequest.input.name, 'add');
  });

  eonTest('a validator rejection fails the update call and leaves no trace in history', async () => {
    const handle = await start();
    await assert.rejects(handle.executeUpdate('add', { args: [-1] }), (err) => {
      assert.ok(err instanceof WorkflowUpdateFailedError, `got ${err?.stack ?? err}`);
      assert.match(err.cause?.message ?? '', /cannot add -1/);
      return true;
    });
    assert.equal(await handle.executeUpdate('add', { args: [2] }), 2);
    await handle.signal('finish');
    await handle.result();
    const types = eventTypes(await handle.fetchHistory());
    assert.equal(count(types, 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'), 1);
    assert.equal(count(types, 'WORKFLOW_EXECUTION_UPDATE_COMPLETED'), 1);
  });

  eonTest('the same update id is applied once', async () => {
    const handle = await start();
    const updateId = uniqueId('update');
    const first = await handle.executeUpdate('add', { args: [3], updateId });
    const again = await handle.executeUpdate('add', { args: [3], updateId });
    assert.equal(first, 3);
    assert.equal(again, 3);
    await handle.signal('finish');
    assert.equal(await handle.result(), 3);
    assert.equal(count(eventTypes(await handle.fetchHistory()), 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'), 1);
  });

  eonTest('startUpdate returns once accepted; its result comes later', async () => {
    const handle = await start();
    const update = await handle.startUpdate('slowAdd', { args: [4, 500], waitForStage: 'ACCEPTED' });
    assert.equal(await update.result(), 4);
    await handle.signal('finish');
    assert.equal(await handle.result(), 4);
  });

  eonTest('updating a closed workflow fails with WorkflowNotFoundError', async () => {
    const handle = await start();
    await handle.signal('finish');
    await handle.result();
    await assert.rejects(handle.executeUpdate('add', { args: [1] }), (err) => {
      assert.ok(err instanceof WorkflowNotFoundError, `got ${err?.stack ?? err}`);
      return true;
    });
  });
});

describe('updates and crashes', () => {
  eonTest('an accepted update survives kill -9 and completes once', async (t, scope) => {
    const server = scope.track(await EonServer.start({ db: true }));
    const taskQueue = uniqueId('crash-update');
    scope.track(await startWorker(server, { taskQueue }));
    let { client, connection } = await connectClient(server);
    const handle = await client.workflow.start('counter', { taskQueue, workflowId: uniqueId('counter') });
    const update = await handle.startUpdate('slowAdd', { args: [9, 2000], waitForStage: 'ACCEPTED' });
    await server.kill9();
    await connection.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
    await server.restart();
    ({ client, connection } = scope.track(await connectClient(server)));
    const again = client.workflow.getHandle(handle.workflowId);
    const result = await again.getUpdateHandle(update.updateId).result();
    assert.equal(result, 9);
    await again.signal('finish');
    assert.equal(await again.result(), 9);
    const types = eventTypes(await again.fetchHistory());
    assert.equal(count(types, 'WORKFLOW_EXECUTION_UPDATE_ACCEPTED'), 1);
    assert.equal(count(types, 'WORKFLOW_EXECUTION_UPDATE_COMPLETED'), 1);
  });
});
