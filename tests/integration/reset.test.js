'use strict';
// ResetWorkflowExecution with the official TypeScript SDK's worker: a workflow reset to its first
// workflow task replays in a new run, runs its activities again, gets the signals it had
// received after that point, and completes; the old run is terminated. Also `eon workflow
// reset`, and the codes bad requests get.

const assert = require('node:assert/strict');
const { randomUUID } = require('node:crypto');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');
const { temporal } = require('@temporalio/proto');

const { eonTest, eventTypes, grpcError, sharedEnv, uniqueId, runCli } = require('./harness');

const GRPC_INVALID_ARGUMENT = 3;
const GRPC_NOT_FOUND = 5;
const { EventType, WorkflowExecutionStatus, WorkflowTaskFailedCause } = temporal.api.enums.v1;

describe('workflow reset', () => {
  const calls = { greet: 0, shout: 0 };
  const env = sharedEnv({
    activities: {
      greet: async (name) => {
        calls.greet += 1;
        return `Hello, ${name}!`;
      },
      shout: async (text) => {
        calls.shout += 1;
        return text.toUpperCase();
      },
    },
  });
  const service = () => env.connection.workflowService;
  const at = () => ['--address', env.server.address];

  async function history(workflowId, runId) {
    return env.client.workflow.getHandle(workflowId, runId).fetchHistory();
  }

  // Waits until the run has run both activities and seen its signal: it then waits for the
  // second signal, its last event a completed workflow task.
  async function signalSeen(workflowId, runId) {
    for (let i = 0; i < 400; i += 1) {
      const types = eventTypes(await history(workflowId, runId));
      if (types.includes('WORKFLOW_EXECUTION_SIGNALED') && types.at(-1) === 'WORKFLOW_TASK_COMPLETED' &&
          types.filter((t) => t === 'ACTIVITY_TASK_COMPLETED').length === 2) return;
      await sleep(50);
    }
    assert.fail('the workflow never ran its activities and saw its signal');
  }

  // Starts activitiesThenSignals and sends it its first signal, which it has seen on return.
  async function startAndSignal(name, signal) {
    const handle = await env.client.workflow.start('activitiesThenSignals', { taskQueue: env.taskQueue, workflowId: uniqueId('reset'), args: [name] });
    await handle.signal('add', signal);
    await signalSeen(handle.workflowId, handle.firstExecutionRunId);
    return { handle, id: handle.workflowId };
  }

  eonTest('a workflow reset to its first workflow task runs again and gets its signals', async () => {
    const { handle, id } = await startAndSignal('reset', 'first');
    const base = handle.firstExecutionRunId;
    assert.deepEqual(calls, { greet: 1, shout: 1 });

    const baseHistory = await history(id, base);
    const firstCompleted = baseHistory.events.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    const reset = await service().resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: id, runId: base },
      workflowTaskFinishEventId: firstCompleted.eventId,
      reason: 'integration test',
      requestId: randomUUID(),
    });
    assert.ok(reset.runId && reset.runId !== base, 'the reset names a new run');

    // The old run was terminated by the reset.
    const old = await env.client.workflow.getHandle(id, base).describe();
    assert.equal(old.status.name, 'TERMINATED');
    const oldEvents = (await history(id, base)).events;
    const terminated = oldEvents[oldEvents.length - 1].workflowExecutionTerminatedEventAttributes;
    assert.equal(terminated.reason, 'integration test');
    assert.equal(terminated.identity, 'history-resetter');

    // The new run replays from the start, runs both activities again, has the first signal
    // reapplied, and completes with the second.
    await env.client.workflow.getHandle(id).signal('add', 'second');
    const result = await env.client.workflow.getHandle(id, reset.runId).result();
    assert.deepEqual(result, { activities: ['Hello, reset!', 'HELLO, RESET!'], signals: ['first', 'second'], runId: reset.runId });
    assert.deepEqual(calls, { greet: 2, shout: 2 });

    // The new run's history: the base run's events up to the reset point (its first workflow
    // task's started event), the failed task that marks the reset, the base run's signals after
    // that point reapplied, and a new workflow task. The first signal may have reached the base
    // run before its first workflow task started, and then it is among the copied events.
    const events = (await history(id, reset.runId)).events;
    const types = eventTypes({ events });
    const baseTypes = eventTypes(baseHistory);
    const copied = baseTypes.slice(0, Number(firstCompleted.eventId) - 1);
    const reapplied = baseTypes.slice(Number(firstCompleted.eventId) - 1).filter((t) => t === 'WORKFLOW_EXECUTION_SIGNALED');
    assert.equal(copied.concat(reapplied).filter((t) => t === 'WORKFLOW_EXECUTION_SIGNALED').length, 1, baseTypes.join());
    const expected = [...copied, 'WORKFLOW_TASK_FAILED', ...reapplied, 'WORKFLOW_TASK_SCHEDULED'];
    assert.deepEqual(types.slice(0, expected.length), expected);
    const failed = events[copied.length].workflowTaskFailedEventAttributes;
    assert.equal(failed.cause, WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW);
    assert.equal(failed.baseRunId, base);
    assert.equal(failed.newRunId, reset.runId);
    assert.equal(failed.failure.message, 'integration test');
    // The started event is the base run's, unchanged.
    assert.equal(events[0].workflowExecutionStartedEventAttributes.originalExecutionRunId, base);
    assert.equal(types[types.length - 1], 'WORKFLOW_EXECUTION_COMPLETED');

    // Reset by the command line: to the last workflow task of the completed run (no run to
    // terminate), which completes again with the same signals.
    const cli = await runCli(['workflow', 'reset', ...at(), '-w', id, '--type', 'LastWorkflowTask', '--reason', 'from the CLI', '-o', 'json']);
    assert.equal(cli.code, 0, cli.stderr);
    const { runId: cliRun } = JSON.parse(cli.stdout.slice(cli.stdout.indexOf('{')));
    assert.ok(cliRun && cliRun !== reset.runId);
    const again = await env.client.workflow.getHandle(id, cliRun).result();
    assert.deepEqual(again.signals, ['first', 'second']);
    assert.equal(again.runId, cliRun);
    // Its history has the first reset's failed task (copied) and its own, last.
    const cliFailed = (await history(id, cliRun)).events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED).at(-1);
    assert.match(cliFailed.workflowTaskFailedEventAttributes.failure.message, /: from the CLI$/);
    assert.equal((await env.client.workflow.getHandle(id, reset.runId).describe()).status.name, 'COMPLETED');

    // By event id, with text output.
    const byId = await runCli(['workflow', 'reset', ...at(), '-w', id, '-r', cliRun, '--event-id', String(firstCompleted.eventId), '--reason', 'again']);
    assert.equal(byId.code, 0, byId.stderr);
    assert.match(byId.stdout, new RegExp(`Resetting workflow ${id} to event ID ${firstCompleted.eventId}`));
    const byIdRun = byId.stdout.match(/New run ([0-9a-f-]{36})/)?.[1];
    assert.ok(byIdRun, byId.stdout);
    // That point is before both signals: both are applied again, and the activities run again.
    const third = await env.client.workflow.getHandle(id, byIdRun).result();
    assert.deepEqual(third.signals, ['first', 'second']);
    assert.deepEqual(calls, { greet: 3, shout: 3 });
  });

  eonTest('a repeated request id is answered with the same run', async () => {
    const { handle, id } = await startAndSignal('again', 'one');
    const request = {
      namespace: 'default',
      workflowExecution: { workflowId: id, runId: handle.firstExecutionRunId },
      workflowTaskFinishEventId: 4,
      reason: 'twice',
      requestId: randomUUID(),
    };
    const first = await service().resetWorkflowExecution(request);
    const second = await service().resetWorkflowExecution(request);
    assert.equal(second.runId, first.runId);
    const current = await env.client.workflow.getHandle(id).describe();
    assert.equal(current.runId, first.runId);
    await env.client.workflow.getHandle(id).terminate('done with it');
  });

  eonTest('bad reset requests get INVALID_ARGUMENT or NOT_FOUND with a message', async () => {
    const { handle, id } = await startAndSignal('bad', 'one');
    const events = (await history(id, handle.firstExecutionRunId)).events;
    const scheduled = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED);
    const base = { namespace: 'default', workflowExecution: { workflowId: id }, reason: 'bad', requestId: randomUUID() };

    const notATask = await grpcError(service().resetWorkflowExecution({ ...base, workflowTaskFinishEventId: scheduled.eventId }));
    assert.equal(notATask.code, GRPC_INVALID_ARGUMENT);
    assert.match(notATask.details, /WorkflowTaskScheduled \+1/);
    const outOfRange = await grpcError(service().resetWorkflowExecution({ ...base, workflowTaskFinishEventId: 10_000 }));
    assert.equal(outOfRange.code, GRPC_INVALID_ARGUMENT);
    assert.match(outOfRange.details, /last event ID/);
    const beforeFirstTask = await grpcError(service().resetWorkflowExecution({ ...base, workflowTaskFinishEventId: 1 }));
    assert.equal(beforeFirstTask.code, GRPC_INVALID_ARGUMENT);
    const noRequestId = await grpcError(service().resetWorkflowExecution({ ...base, requestId: '', workflowTaskFinishEventId: 4 }));
    assert.equal(noRequestId.code, GRPC_INVALID_ARGUMENT);
    assert.match(noRequestId.details, /RequestId is not set/);
    const unknownRun = await grpcError(service().resetWorkflowExecution({ ...base, workflowExecution: { workflowId: id, runId: randomUUID() }, workflowTaskFinishEventId: 4 }));
    assert.equal(unknownRun.code, GRPC_NOT_FOUND);
    const unknownWorkflow = await grpcError(service().resetWorkflowExecution({ ...base, workflowExecution: { workflowId: uniqueId('none') }, workflowTaskFinishEventId: 4 }));
    assert.equal(unknownWorkflow.code, GRPC_NOT_FOUND);

    const cli = await runCli(['workflow', 'reset', ...at(), '-w', id, '--event-id', String(scheduled.eventId), '--reason', 'bad']);
    assert.notEqual(cli.code, 0);
    assert.match(cli.stderr, /WorkflowTaskScheduled \+1/);
    const noReason = await runCli(['workflow', 'reset', ...at(), '-w', id, '--event-id', '4']);
    assert.notEqual(noReason.code, 0);
    assert.match(noReason.stderr, /--reason is required/);

    // Nothing changed: the run is still the current one and still running.
    const described = await handle.describe();
    assert.equal(described.runId, handle.firstExecutionRunId);
    assert.equal(described.status.name, 'RUNNING');
    await handle.terminate('done with it');
  });
});
