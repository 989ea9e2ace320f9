'use strict';
// Listing and counting workflows with Temporal's list-filter language; custom search
// attributes registered through the OperatorService.

const assert = require('node:assert/strict');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');
const { defineSearchAttributeKey, SearchAttributeType, TypedSearchAttributes } = require('@temporalio/common');
const { temporal } = require('@temporalio/proto');

const { eonTest, sharedEnv, uniqueId } = require('./harness');

const IndexedValueType = temporal.api.enums.v1.IndexedValueType;

async function listIds(client, query) {
  const ids = [];
  for await (const info of client.workflow.list({ query })) ids.push(info.workflowId);
  return ids;
}

/** Listings follow the outbox: wait until `query` counts `expected`. */
async function waitForCount(client, query, expected) {
  let count;
  for (let i = 0; i < 100; i += 1) {
    ({ count } = await client.workflow.count(query));
    if (count === expected) return;
    await sleep(50);
  }
  assert.fail(`count(${query}) stayed at ${count}, expected ${expected}`);
}

describe('visibility', () => {
  const env = sharedEnv({ activities: { greet: async (name) => `Hello, ${name}!` } });

  eonTest('list and count by status, type and custom attributes, with ORDER BY and paging', async () => {
    const tag = uniqueId('batch').replace(/-/g, '_');
    await env.connection.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: {
        [`Customer_${tag}`]: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
        [`Amount_${tag}`]: IndexedValueType.INDEXED_VALUE_TYPE_INT,
      },
    });
    const customer = defineSearchAttributeKey(`Customer_${tag}`, SearchAttributeType.KEYWORD);
    const amount = defineSearchAttributeKey(`Amount_${tag}`, SearchAttributeType.INT);
    const start = (type, n, args) =>
      env.client.workflow.start(type, {
        taskQueue: env.taskQueue,
        workflowId: `${tag}-${n}`,
        args,
        typedSearchAttributes: new TypedSearchAttributes([
          { key: customer, value: n % 2 === 0 ? 'even' : 'odd' },
          { key: amount, value: n * 10 },
        ]),
      });
    const done = [];
    for (let n = 0; n < 4; n += 1) done.push(await start('greet', n, [`w${n}`]));
    const failed = await start('failing', 4, ['on purpose']);
    const running = await start('waitForSignal', 5, []);
    const terminated = await start('waitForSignal', 6, []);
    await Promise.all(done.map((h) => h.result()));
    await assert.rejects(failed.result());
    await terminated.terminate('by the test');

    const mine = `WorkflowId STARTS_WITH '${tag}'`;
    await waitForCount(env.client, mine, 7);
    await waitForCount(env.client, `${mine} AND ExecutionStatus = 'Completed'`, 4);
    // Visibility follows each close through the outbox: wait for the failure and the termination
    // too before listing what still runs (on PostgreSQL the close of -6 could still be on its way).
    await waitForCount(env.client, `${mine} AND ExecutionStatus = 'Failed'`, 1);
    await waitForCount(env.client, `${mine} AND ExecutionStatus = 'Terminated'`, 1);
    assert.deepEqual(await listIds(env.client, `${mine} AND ExecutionStatus = 'Running'`), [running.workflowId]);
    assert.deepEqual(await listIds(env.client, `${mine} AND ExecutionStatus = 'Failed'`), [failed.workflowId]);
    assert.deepEqual(
      await listIds(env.client, `${mine} AND ExecutionStatus = 'Terminated'`),
      [terminated.workflowId],
    );
    assert.deepEqual(
      (await listIds(env.client, `${mine} AND Customer_${tag} = 'even' AND Amount_${tag} >= 20 ORDER BY Amount_${tag} DESC`)),
      [`${tag}-6`, `${tag}-4`, `${tag}-2`],
    );
    assert.deepEqual(
      await listIds(env.client, `${mine} AND WorkflowType IN ('failing', 'waitForSignal') ORDER BY WorkflowId`),
      [`${tag}-4`, `${tag}-5`, `${tag}-6`],
    );
    const grouped = await env.client.workflow.count(`${mine} GROUP BY ExecutionStatus`);
    assert.equal(grouped.count, 7);
    const byStatus = Object.fromEntries(grouped.groups.map((g) => [g.groupValues[0], g.count]));
    assert.deepEqual(byStatus, { Completed: 4, Failed: 1, Running: 1, Terminated: 1 });

    // Paging: pages of 2 add up to the whole list, in order.
    const paged = [];
    let nextPageToken;
    do {
      const page = await env.connection.workflowService.listWorkflowExecutions({
        namespace: 'default',
        query: `${mine} ORDER BY WorkflowId`,
        pageSize: 2,
        nextPageToken,
      });
      paged.push(...page.executions.map((e) => e.execution.workflowId));
      nextPageToken = page.nextPageToken?.length ? page.nextPageToken : undefined;
    } while (nextPageToken);
    assert.deepEqual(paged, [0, 1, 2, 3, 4, 5, 6].map((n) => `${tag}-${n}`));
    await running.terminate();
  });

  eonTest('a malformed query gets INVALID_ARGUMENT saying what and where', async () => {
    await assert.rejects(
      env.connection.workflowService.listWorkflowExecutions({ namespace: 'default', query: "WorkflowId = " }),
      (err) => {
        assert.equal(err.code, 3);
        assert.match(err.details ?? err.message, /position/);
        return true;
      },
    );
    await assert.rejects(
      env.connection.workflowService.countWorkflowExecutions({ namespace: 'default', query: 'NoSuchAttribute = 1' }),
      (err) => {
        assert.equal(err.code, 3);
        assert.match(err.details ?? err.message, /NoSuchAttribute/);
        return true;
      },
    );
  });

  eonTest('search attributes are registered, listed and removed through the OperatorService', async () => {
    const name = `Attr_${uniqueId('sa').replace(/-/g, '_')}`;
    const ops = env.connection.operatorService;
    await ops.addSearchAttributes({ namespace: 'default', searchAttributes: { [name]: IndexedValueType.INDEXED_VALUE_TYPE_DATETIME } });
    const listed = await ops.listSearchAttributes({ namespace: 'default' });
    assert.equal(listed.customAttributes[name], IndexedValueType.INDEXED_VALUE_TYPE_DATETIME);
    assert.equal(listed.systemAttributes.WorkflowId, IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
    await assert.rejects(ops.addSearchAttributes({ namespace: 'default', searchAttributes: { WorkflowId: 2 } }), (err) => err.code === 3);
    await ops.removeSearchAttributes({ namespace: 'default', searchAttributes: [name] });
    const after = await ops.listSearchAttributes({ namespace: 'default' });
    assert.equal(after.customAttributes[name], undefined);
    await assert.rejects(ops.removeSearchAttributes({ namespace: 'default', searchAttributes: [name] }), (err) => err.code === 5);
  });

  eonTest('ListOpen/ListClosed, DescribeTaskQueue and GetClusterInfo', async () => {
    const service = env.connection.workflowService;
    const open = await env.client.workflow.start('waitForSignal', { taskQueue: env.taskQueue, workflowId: uniqueId('open') });
    const closedId = uniqueId('closed');
    await env.client.workflow.execute('greet', { taskQueue: env.taskQueue, workflowId: closedId, args: ['x'] });
    for (let i = 0; i < 100; i += 1) {
      const { count } = await env.client.workflow.count(`WorkflowId = '${closedId}' AND ExecutionStatus = 'Completed'`);
      if (count === 1) break;
      await sleep(50);
    }
    const openList = await service.listOpenWorkflowExecutions({
      namespace: 'default',
      maximumPageSize: 10,
      executionFilter: { workflowId: open.workflowId },
    });
    assert.deepEqual(openList.executions.map((e) => e.execution.workflowId), [open.workflowId]);
    // The filters are a oneof: one at a time.
    const closedList = await service.listClosedWorkflowExecutions({
      namespace: 'default',
      maximumPageSize: 10,
      executionFilter: { workflowId: closedId },
    });
    assert.deepEqual(closedList.executions.map((e) => e.execution.workflowId), [closedId]);
    const byType = await service.listClosedWorkflowExecutions({
      namespace: 'default',
      maximumPageSize: 1000,
      typeFilter: { name: 'greet' },
    });
    const ids = byType.executions.map((e) => e.execution.workflowId);
    assert.ok(ids.includes(closedId));
    assert.ok(byType.executions.every((e) => e.type.name === 'greet' && e.status !== 1));

    // The shared worker polls this queue; a queue nobody polls keeps its backlog.
    const polled = await service.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: env.taskQueue },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    assert.ok(polled.pollers.length >= 1, 'expected the worker among the pollers');
    assert.ok(polled.pollers.every((p) => p.identity && p.lastAccessTime));
    const idle = uniqueId('idle');
    await env.client.workflow.start('greet', { taskQueue: idle, workflowId: uniqueId('waits'), args: ['x'] });
    let backlog = 0;
    for (let i = 0; i < 50 && backlog !== 1; i += 1) {
      const described = await service.describeTaskQueue({ namespace: 'default', taskQueue: { name: idle } });
      backlog = Number(described.stats?.approximateBacklogCount ?? 0);
      if (backlog !== 1) await sleep(50);
    }
    assert.equal(backlog, 1);

    const cluster = await service.getClusterInfo({});
    assert.equal(cluster.persistenceStore, 'sqlite');
    assert.ok(cluster.historyShardCount >= 1);
    await open.terminate();
  });

  eonTest('UpdateNamespace, DeleteWorkflowExecution, and retention deleting closed workflows', async (t, scope) => {
    const service = env.connection.workflowService;
    const ns = uniqueId('short');
    await service.registerNamespace({ namespace: ns, workflowExecutionRetentionPeriod: { seconds: 3600 } });
    const updated = await service.updateNamespace({
      namespace: ns,
      updateInfo: { description: 'kept one second' },
      config: { workflowExecutionRetentionTtl: { seconds: 1 } },
    });
    assert.equal(updated.namespaceInfo.description, 'kept one second');
    assert.equal(Number(updated.config.workflowExecutionRetentionTtl.seconds), 1);

    const { Client } = require('@temporalio/client');
    const client = new Client({ connection: env.connection, namespace: ns });
    const taskQueue = uniqueId('retention');
    const worker = await require('./harness').startWorker(env.server, { taskQueue, namespace: ns, activities: { greet: async (n) => n } });
    scope.add(() => worker.shutdown());
    const handle = await client.workflow.start('greet', { taskQueue, workflowId: uniqueId('kept'), args: ['x'] });
    assert.equal(await handle.result(), 'x');
    // Gone once the retention has passed: state, history and listing.
    let gone = false;
    for (let i = 0; i < 100 && !gone; i += 1) {
      try {
        await handle.describe();
        await sleep(100);
      } catch (err) {
        gone = err.name === 'WorkflowNotFoundError';
      }
    }
    assert.ok(gone, 'the closed workflow outlived its retention');
    assert.equal((await client.workflow.count(`WorkflowId = '${handle.workflowId}'`)).count, 0);

    // DeleteWorkflowExecution of a running workflow terminates and removes it.
    const running = await env.client.workflow.start('waitForSignal', { taskQueue: env.taskQueue, workflowId: uniqueId('deleted') });
    await service.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId: running.workflowId } });
    await assert.rejects(running.describe(), (err) => err.name === 'WorkflowNotFoundError');
  });

  eonTest('a search attribute upserted by the workflow is found by a list query', async () => {
    const tag = uniqueId('up').replace(/-/g, '_');
    await env.connection.operatorService.addSearchAttributes({
      namespace: 'default',
      searchAttributes: { CustomKeywordField: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD },
    });
    const handle = await env.client.workflow.start('upsertAndWait', {
      taskQueue: env.taskQueue,
      workflowId: tag,
      args: [tag],
    });
    await waitForCount(env.client, `CustomKeywordField = '${tag}'`, 1);
    assert.deepEqual(await listIds(env.client, `CustomKeywordField = '${tag}'`), [tag]);
    await handle.terminate();
  });
});
