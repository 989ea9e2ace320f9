'use strict';
// The HTTP API (Temporal's /api/v1 routes and JSON, served on --ui-port and --http-port): its
// answers compared with the gRPC answers for the same calls, the payload shorthand, the errors
// (JSON with the HTTP status of the gRPC code), and the port rules.

const assert = require('node:assert/strict');
const net = require('node:net');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');

const {
  EonServer, connectClient, eonTest, getFreePort, runEon, startDevArgs, startWorker, uniqueId,
} = require('./harness');
const { temporal } = require('@temporalio/proto');

async function call(base, path, { method = 'GET', body, raw } = {}) {
  const init = { method, headers: {} };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) init.body = JSON.stringify(body);
  const response = await fetch(`${base}${path}`, init);
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, type: response.headers.get('content-type') };
}

async function startServer(scope, { ui = true } = {}) {
  const httpPort = await getFreePort();
  const uiPort = await getFreePort();
  const extraArgs = ['--http-port', String(httpPort)];
  if (ui) extraArgs.push('--ui-port', String(uiPort));
  const server = scope.track(await EonServer.start({ extraArgs }));
  return { server, http: `http://127.0.0.1:${httpPort}`, ui: `http://127.0.0.1:${uiPort}` };
}

/** Polls `fn` until it returns a truthy value (or throws after `ms`). */
async function eventually(fn, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(100);
  }
}

describe('HTTP API', () => {
  eonTest('start, signal, query, describe, list, count, history and terminate agree with gRPC', async (t, scope) => {
    const { server, ui } = await startServer(scope);
    const { client, connection } = await connectClient(server);
    scope.add(() => connection.close());
    const taskQueue = uniqueId('http');
    scope.track(await startWorker(server, { taskQueue }));
    const api = `${ui}/api/v1/namespaces/default`;
    const workflowId = uniqueId('http-wf');

    // Start with the payload shorthand: the input is plain JSON.
    const started = await call(api, `/workflows/${encodeURIComponent(workflowId)}`, {
      method: 'POST',
      body: { workflowType: { name: 'queryable' }, taskQueue: { name: taskQueue }, input: [2], requestId: uniqueId('r') },
    });
    assert.equal(started.status, 200, started.text);
    assert.match(started.json.runId, /^[0-9a-f-]{36}$/);
    assert.equal(started.type, 'application/json');
    const runId = started.json.runId;

    const signalled = await call(api, `/workflows/${encodeURIComponent(workflowId)}/signal/advance`, {
      method: 'POST', body: { workflowExecution: { runId }, input: [], identity: 'http-test' },
    });
    assert.equal(signalled.status, 200, signalled.text);
    assert.deepEqual(signalled.json, {});

    // The query is answered by the TypeScript worker; its result comes back as plain JSON.
    const queried = await eventually(async () => {
      const answer = await call(api, `/workflows/${encodeURIComponent(workflowId)}/query/state`, {
        method: 'POST', body: { execution: { runId }, query: {} },
      });
      assert.equal(answer.status, 200, answer.text);
      return answer.json.queryResult?.[0]?.count === 1 ? answer : null;
    });
    assert.deepEqual(queried.json.queryResult, [{ count: 1, target: 2 }]);

    // Describe: the same execution, status and type as gRPC's answer.
    const described = await call(api, `/workflows/${encodeURIComponent(workflowId)}?execution.runId=${runId}`);
    assert.equal(described.status, 200, described.text);
    const grpcDescribe = await connection.workflowService.describeWorkflowExecution({
      namespace: 'default', execution: { workflowId, runId },
    });
    const info = described.json.workflowExecutionInfo;
    assert.deepEqual(info.execution, { workflowId, runId });
    assert.equal(info.type.name, 'queryable');
    assert.equal(info.status, 'WORKFLOW_EXECUTION_STATUS_RUNNING');
    assert.equal(info.status, temporal.api.enums.v1.WorkflowExecutionStatus[grpcDescribe.workflowExecutionInfo.status]);
    assert.equal(info.taskQueue, grpcDescribe.workflowExecutionInfo.taskQueue);
    assert.equal(described.json.executionConfig.taskQueue.name, taskQueue);

    // History: the same events, in the same order; the input shown as its JSON value.
    const history = await call(api, `/workflows/${encodeURIComponent(workflowId)}/history?execution.runId=${runId}`);
    assert.equal(history.status, 200, history.text);
    const grpcHistory = await connection.workflowService.getWorkflowExecutionHistory({
      namespace: 'default', execution: { workflowId, runId },
    });
    const httpEvents = history.json.history.events;
    assert.ok(httpEvents.length >= 5, history.text);
    const grpcEvents = grpcHistory.history.events.slice(0, httpEvents.length);
    assert.deepEqual(
      httpEvents.map((e) => [Number(e.eventId), e.eventType]),
      grpcEvents.map((e) => [Number(e.eventId), `EVENT_TYPE_${temporal.api.enums.v1.EventType[e.eventType].replace(/^EVENT_TYPE_/, '')}`]),
    );
    assert.deepEqual(httpEvents[0].workflowExecutionStartedEventAttributes.input, [2]);
    const signalEvent = httpEvents.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
    assert.equal(signalEvent.workflowExecutionSignaledEventAttributes.signalName, 'advance');
    assert.equal(signalEvent.workflowExecutionSignaledEventAttributes.identity, 'http-test');

    // Without the shorthand, payloads keep their metadata and base64 data.
    const raw = await call(api, `/workflows/${encodeURIComponent(workflowId)}/history?execution.runId=${runId}&noPayloadShorthand`);
    const rawInput = raw.json.history.events[0].workflowExecutionStartedEventAttributes.input.payloads[0];
    assert.equal(Buffer.from(rawInput.metadata.encoding, 'base64').toString(), 'json/plain');
    assert.equal(Buffer.from(rawInput.data, 'base64').toString(), '2');

    // List and count: the same executions as gRPC's, with the query in the URL.
    const query = `WorkflowId = '${workflowId}'`;
    const listed = await call(api, `/workflows?query=${encodeURIComponent(query)}`);
    assert.equal(listed.status, 200, listed.text);
    const grpcList = await connection.workflowService.listWorkflowExecutions({ namespace: 'default', query });
    assert.deepEqual(listed.json.executions.map((e) => e.execution.runId), grpcList.executions.map((e) => e.execution.runId));
    assert.deepEqual(listed.json.executions.map((e) => e.execution.runId), [runId]);
    const counted = await call(api, `/workflow-count?query=${encodeURIComponent(`${query} GROUP BY ExecutionStatus`)}`);
    assert.equal(counted.status, 200, counted.text);
    assert.equal(counted.json.count, '1');
    assert.deepEqual(counted.json.groups, [{ groupValues: ['Running'], count: '1' }]);

    // Terminate over HTTP; gRPC sees the run terminated with the reason.
    const terminated = await call(api, `/workflows/${encodeURIComponent(workflowId)}/terminate`, {
      method: 'POST', body: { workflowExecution: { runId }, reason: 'from the HTTP test' },
    });
    assert.equal(terminated.status, 200, terminated.text);
    const after = await client.workflow.getHandle(workflowId, runId).describe();
    assert.equal(after.status.name, 'TERMINATED');
    const last = (await call(api, `/workflows/${encodeURIComponent(workflowId)}/history`)).json.history.events.at(-1);
    assert.equal(last.eventType, 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED');
    assert.equal(last.workflowExecutionTerminatedEventAttributes.reason, 'from the HTTP test');

    // A signal to the closed run: NOT_FOUND, as JSON with HTTP 404.
    const late = await call(api, `/workflows/${encodeURIComponent(workflowId)}/signal/advance`, {
      method: 'POST', body: { workflowExecution: { runId } },
    });
    assert.equal(late.status, 404, late.text);
    assert.equal(late.json.code, 5);
    assert.match(late.json.message, /completed/);
  });

  eonTest('bad input answers JSON errors with the HTTP status of the gRPC code', async (t, scope) => {
    const { http, ui } = await startServer(scope);
    const api = `${ui}/api/v1`;

    const unknownPath = await call(api, '/no/such/route');
    assert.equal(unknownPath.status, 404);
    assert.equal(unknownPath.json.code, 5);
    assert.match(unknownPath.json.message, /no API route for GET \/api\/v1\/no\/such\/route/);

    const malformed = await call(api, '/namespaces/default/workflows/x', { method: 'POST', raw: '{"workflowType": ' });
    assert.equal(malformed.status, 400);
    assert.equal(malformed.json.code, 3);
    assert.match(malformed.json.message, /not valid JSON/);

    const notObject = await call(api, '/namespaces/default/workflows/x', { method: 'POST', raw: '[1,2]' });
    assert.equal(notObject.status, 400);
    assert.match(notObject.json.message, /JSON object/);

    const unknownField = await call(api, '/namespaces/default/workflows/x', { method: 'POST', body: { workflowTyp: {} } });
    assert.equal(unknownField.status, 400);
    assert.match(unknownField.json.message, /workflowTyp/);

    const badNumber = await call(api, '/namespaces/default/workflows?pageSize=many');
    assert.equal(badNumber.status, 400);
    assert.match(badNumber.json.message, /page_size|pageSize/);

    const unknownParam = await call(api, '/namespaces/default/workflows?colour=blue');
    assert.equal(unknownParam.status, 400);
    assert.match(unknownParam.json.message, /colour/);

    const deep = await call(api, '/namespaces/default/workflows/x', { method: 'POST', raw: `${'['.repeat(100_000)}${']'.repeat(100_000)}` });
    assert.equal(deep.status, 400);
    assert.match(deep.json.message, /nests deeper/);

    const wrongMethod = await call(api, '/namespaces/default/workflow-count', { method: 'DELETE' });
    assert.equal(wrongMethod.status, 405);

    // Errors from the handler keep Temporal's typed details.
    const missing = await call(api, '/namespaces/default/workflows/never-started');
    assert.equal(missing.status, 404, missing.text);
    assert.equal(missing.json.code, 5);
    assert.equal(missing.json.details[0]['@type'], 'type.googleapis.com/temporal.api.errordetails.v1.NotFoundFailure');
    const noNamespace = await call(api, '/namespaces/nope/workflows');
    assert.equal(noNamespace.status, 404, noNamespace.text);
    assert.equal(noNamespace.json.details[0]['@type'], 'type.googleapis.com/temporal.api.errordetails.v1.NamespaceNotFoundFailure');
    const missingType = await call(api, '/namespaces/default/workflows/x', { method: 'POST', body: { taskQueue: { name: 'q' } } });
    assert.equal(missingType.status, 400);
    assert.equal(missingType.json.code, 3);

    const duplicate = { workflowType: { name: 't' }, taskQueue: { name: 'q' } };
    assert.equal((await call(api, '/namespaces/default/workflows/dup', { method: 'POST', body: duplicate })).status, 200);
    const again = await call(api, '/namespaces/default/workflows/dup', { method: 'POST', body: duplicate });
    assert.equal(again.status, 409, again.text);
    assert.equal(again.json.details[0]['@type'], 'type.googleapis.com/temporal.api.errordetails.v1.WorkflowExecutionAlreadyStartedFailure');

    // Not implemented yet: 501 naming the method.
    const unimplemented = await call(api, '/namespaces/default/worker-deployments');
    assert.equal(unimplemented.status, 501);
    assert.match(unimplemented.json.message, /ListWorkerDeployments/);

    // A body past 4 MiB is refused before it is parsed.
    const huge = await call(api, '/namespaces/default/workflows/x', { method: 'POST', raw: 'x'.repeat(5 << 20) });
    assert.equal(huge.status, 413);
    assert.match(huge.json.message, /larger than 4194304 bytes/);

    // After all that the server still serves.
    const info = await call(http, '/api/v1/system-info?pretty');
    assert.equal(info.status, 200, info.text);
    assert.match(info.text, /\n {2}"serverVersion"/);
  });

  eonTest('--http-port serves the routes with and without /api/v1; the UI port serves pages', async (t, scope) => {
    const { http, ui } = await startServer(scope);
    const prefixed = await call(http, '/api/v1/namespaces/default');
    assert.equal(prefixed.status, 200, prefixed.text);
    assert.equal(prefixed.json.namespaceInfo.name, 'default');
    const bare = await call(http, '/namespaces/default/workflows');
    assert.equal(bare.status, 200, bare.text);
    assert.deepEqual(bare.json, {});
    // The HTTP API port has no pages.
    assert.equal((await call(http, '/assets/app.js')).status, 404);

    // On the UI port, /namespaces/... is a page (the app), and its assets are embedded.
    const page = await fetch(`${ui}/namespaces/default/workflows`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type'), /text\/html/);
    assert.match(await page.text(), /<script type="module" src="\/assets\/app.js">/);
    const script = await fetch(`${ui}/assets/app.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get('content-type'), /javascript/);
    assert.ok((await script.text()).length > 10_000);
    assert.equal((await fetch(`${ui}/assets/missing.js`)).status, 404);
    assert.equal((await fetch(`${ui}/namespaces/default`, { method: 'POST' })).status, 405);
  });

  eonTest('a named UI port that is taken stops the server; --headless serves no UI', async (t, scope) => {
    const blocker = net.createServer();
    await new Promise((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    scope.add(() => new Promise((resolve) => blocker.close(resolve)));
    const taken = blocker.address().port;
    const refused = await runEon(startDevArgs({ port: await getFreePort(), extraArgs: ['--ui-port', String(taken)] }));
    assert.equal(refused.code, 1, refused.output);
    assert.match(refused.output, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${taken} \\(HTTP\\)`));

    const uiPort = await getFreePort();
    const server = scope.track(await EonServer.start({ extraArgs: ['--ui-port', String(uiPort), '--headless'] }));
    assert.ok(server.running);
    await assert.rejects(fetch(`http://127.0.0.1:${uiPort}/`));
  });
});
