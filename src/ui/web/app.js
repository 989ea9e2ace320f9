// Eon's web UI: a small single-page app (Preact components written with htm tagged templates)
// over the server's HTTP API. Its URLs follow Temporal UI's:
//   /namespaces
//   /namespaces/{ns}/workflows                                  (?status=&query=)
//   /namespaces/{ns}/workflows/{workflow_id}/{run_id}/{tab}     tab: history, pending-activities,
//                                                               stack-trace, queries
//   /namespaces/{ns}/task-queues/{queue}
//   /namespaces/{ns}/schedules, /namespaces/{ns}/schedules/{schedule_id}
//   /namespaces/{ns}/start-workflow
import { h, render } from 'preact';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

import {
  STATUSES, api, authToken, codecEndpoint, enc, eventAttributes, eventName, eventSummary, failureText, formatDuration,
  formatTime, showPayloads, statusName, enumName,
} from './api.js';

const html = htm.bind(h);
const POLL_MS = 2000;
const PAGE_SIZE = 20;

// --- routing ------------------------------------------------------------------------------

function currentLocation() {
  return { path: window.location.pathname, search: new URLSearchParams(window.location.search) };
}

let setLocationState = () => {};

export function navigate(to, { replace = false } = {}) {
  if (replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  setLocationState(currentLocation());
  window.scrollTo(0, 0);
}

function Link({ href, children, ...rest }) {
  const onClick = (event) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

function match(path) {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (parts.length === 0) return { page: 'root' };
  if (parts[0] !== 'namespaces') return { page: 'notfound' };
  if (parts.length === 1) return { page: 'namespaces' };
  const ns = parts[1];
  if (parts.length === 2) return { page: 'workflows', ns };
  switch (parts[2]) {
    case 'workflows':
      if (parts.length === 3) return { page: 'workflows', ns };
      if (parts.length >= 5) return { page: 'workflow', ns, workflowId: parts[3], runId: parts[4], tab: parts[5] || 'history' };
      if (parts.length === 4) return { page: 'workflow', ns, workflowId: parts[3], runId: '', tab: 'history' };
      break;
    case 'task-queues':
      if (parts.length === 4) return { page: 'task-queue', ns, queue: parts[3] };
      break;
    case 'schedules':
      if (parts.length === 3) return { page: 'schedules', ns };
      if (parts.length === 4) return { page: 'schedule', ns, scheduleId: parts[3] };
      break;
    case 'start-workflow':
      return { page: 'start', ns };
    default:
      break;
  }
  return { page: 'notfound' };
}

// --- small pieces -------------------------------------------------------------------------

// Runs `load` now, whenever `deps` change, and every POLL_MS while `poll` says so (not while the
// tab is hidden). Keeps the last data while reloading, so the page does not flicker.
function useLoad(load, deps, { poll = false } = {}) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const generation = useRef(0);
  const reload = useCallback(async () => {
    const mine = ++generation.current;
    try {
      const data = await load();
      if (mine === generation.current) setState({ data, error: null, loading: false });
    } catch (error) {
      if (mine === generation.current) setState((old) => ({ data: old.data, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    setState({ data: null, error: null, loading: true });
    reload();
  }, [reload]);
  useEffect(() => {
    if (!poll) return undefined;
    const timer = setInterval(() => {
      if (!document.hidden) reload();
    }, POLL_MS);
    return () => clearInterval(timer);
  }, [reload, poll]);
  return { ...state, reload };
}

function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error" role="alert">${error.message || String(error)}</div>`;
}

function Loading({ state }) {
  if (state.error && !state.data) return html`<${ErrorBox} error=${state.error} />`;
  if (state.loading && !state.data) return html`<p class="muted">Loading…</p>`;
  return null;
}

function StatusBadge({ status }) {
  const name = statusName(status);
  return html`<span class=${`badge status-${name}`}>${name}</span>`;
}

function Code({ text }) {
  return html`<pre class="code">${text}</pre>`;
}

function Field({ label, children }) {
  return html`<div class="field"><dt>${label}</dt><dd>${children}</dd></div>`;
}

// A modal dialog for actions that change a workflow: opens with `open`, closes on Escape or
// Cancel, and runs `onConfirm` (a promise) showing its error in place.
function Confirm({ title, open, onClose, onConfirm, confirmLabel, danger, children }) {
  const ref = useRef(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      setError(null);
      dialog.showModal();
    } else if (!open && dialog.open) {
      dialog.close();
    }
  }, [open]);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <dialog ref=${ref} onClose=${onClose} aria-label=${title}>
      <form onSubmit=${submit}>
        <h3>${title}</h3>
        ${children}
        <${ErrorBox} error=${error} />
        <div class="buttons">
          <button type="button" onClick=${onClose}>Cancel</button>
          <button type="submit" class=${danger ? 'danger' : 'primary'} disabled=${busy}>${confirmLabel}</button>
        </div>
      </form>
    </dialog>`;
}

function parseJsonInput(text) {
  const trimmed = text.trim();
  if (!trimmed) return [];
  let value;
  try {
    value = JSON.parse(trimmed);
  } catch (error) {
    throw new Error(`the input is not valid JSON: ${error.message}`);
  }
  return [value];
}

// --- layout ---------------------------------------------------------------------------------

function NamespaceSwitcher({ ns }) {
  const state = useLoad(() => api('/namespaces', { query: { pageSize: 100 } }), []);
  const names = (state.data?.namespaces || []).map((n) => n.namespaceInfo?.name).filter(Boolean);
  if (!names.includes(ns)) names.push(ns);
  return html`
    <label class="switcher">
      <span class="visually-hidden">Namespace</span>
      <select aria-label="Namespace" value=${ns} onChange=${(e) => navigate(`/namespaces/${enc(e.target.value)}/workflows`)}>
        ${names.map((name) => html`<option value=${name}>${name}</option>`)}
      </select>
    </label>`;
}

function Header({ ns }) {
  return html`
    <header class="top">
      <${Link} href="/namespaces" class="brand">Eon</${Link}>
      ${ns && html`
        <${NamespaceSwitcher} ns=${ns} />
        <nav aria-label="Sections">
          <${Link} href=${`/namespaces/${enc(ns)}/workflows`}>Workflows</${Link}>
          <${Link} href=${`/namespaces/${enc(ns)}/schedules`}>Schedules</${Link}>
          <${Link} href=${`/namespaces/${enc(ns)}/start-workflow`}>Start</${Link}>
        </nav>`}
      <${Settings} />
    </header>`;
}

// Settings kept in this browser only: the remote codec endpoint (as Temporal UI's) and the
// API key or token for a server that requires one.
function Settings() {
  const [open, setOpen] = useState(false);
  const [codec, setCodec] = useState(codecEndpoint());
  const [token, setToken] = useState(authToken());
  const keep = (key, value) => {
    if (value.trim()) localStorage.setItem(key, value.trim());
    else localStorage.removeItem(key);
  };
  return html`
    <button class="link settings" onClick=${() => setOpen(true)}>Settings</button>
    <${Confirm} title="Settings" open=${open} onClose=${() => setOpen(false)} confirmLabel="Save"
      onConfirm=${async () => {
        keep('eon.codecEndpoint', codec);
        keep('eon.authToken', token);
        window.location.reload();
      }}>
      <label>API key or token <input type="password" name="auth-token" value=${token} onInput=${(e) => setToken(e.target.value)} autocomplete="off" /></label>
      <p class="muted">Sent as <code>Authorization: Bearer …</code> when the server requires it (<code>--auth-config</code>).</p>
      <label>Remote codec endpoint <input type="url" name="codec-endpoint" value=${codec} onInput=${(e) => setCodec(e.target.value)} placeholder="http://localhost:8888" /></label>
      <p class="muted">Encoded payloads are sent to <code>{endpoint}/decode</code> to be shown; leave empty to show them as stored.</p>
    </${Confirm}>`;
}

// --- namespaces ------------------------------------------------------------------------------

function NamespacesPage() {
  const state = useLoad(() => api('/namespaces', { query: { pageSize: 100 } }), []);
  const namespaces = state.data?.namespaces || [];
  return html`
    <h1>Namespaces</h1>
    <${Loading} state=${state} />
    ${state.data && html`
      <div class="table-wrap"><table>
        <thead><tr><th>Name</th><th>State</th><th>Retention</th><th>Description</th></tr></thead>
        <tbody>
          ${namespaces.map((n) => html`
            <tr>
              <td><${Link} href=${`/namespaces/${enc(n.namespaceInfo.name)}/workflows`}>${n.namespaceInfo.name}</${Link}></td>
              <td>${enumName(n.namespaceInfo.state, 'NAMESPACE_STATE_')}</td>
              <td>${n.config?.workflowExecutionRetentionTtl || ''}</td>
              <td>${n.namespaceInfo.description || ''}</td>
            </tr>`)}
        </tbody>
      </table></div>`}`;
}

// --- workflows list ----------------------------------------------------------------------------

function listQuery(status, query) {
  const parts = [];
  if (status) parts.push(`ExecutionStatus = '${status}'`);
  if (query.trim()) parts.push(status ? `(${query.trim()})` : query.trim());
  return parts.join(' AND ');
}

function WorkflowsPage({ ns, search }) {
  const status = search.get('status') || '';
  const query = search.get('query') || '';
  const [draft, setDraft] = useState(query);
  const [tokens, setTokens] = useState(['']);  // page tokens: tokens[i] opens page i
  const [selected, setSelected] = useState(new Set());
  const [batch, setBatch] = useState(null);  // 'terminate' | 'cancel'
  const [reason, setReason] = useState('');
  useEffect(() => setDraft(query), [query]);
  useEffect(() => {
    setTokens(['']);
    setSelected(new Set());
  }, [ns, status, query]);
  const page = tokens.length - 1;
  const full = listQuery(status, query);
  const list = useLoad(
    () => api(`/namespaces/${enc(ns)}/workflows`, { query: { query: full, pageSize: PAGE_SIZE, nextPageToken: tokens[page] } }),
    [ns, full, tokens[page]], { poll: true });
  const counts = useLoad(async () => {
    const [all, grouped] = await Promise.all([
      api(`/namespaces/${enc(ns)}/workflow-count`, { query: { query: query.trim() } }),
      api(`/namespaces/${enc(ns)}/workflow-count`, { query: { query: `${query.trim() ? `${query.trim()} ` : ''}GROUP BY ExecutionStatus` } }),
    ]);
    const byStatus = {};
    for (const group of grouped.groups || []) {
      const key = Array.isArray(group.groupValues) ? group.groupValues[0] : '';
      byStatus[key] = Number(group.count || 0);
    }
    return { total: Number(all.count || 0), byStatus };
  }, [ns, query], { poll: true });

  const setFilter = (next) => {
    const params = new URLSearchParams();
    const s = next.status ?? status;
    const q = next.query ?? query;
    if (s) params.set('status', s);
    if (q) params.set('query', q);
    const text = params.toString();
    navigate(`/namespaces/${enc(ns)}/workflows${text ? `?${text}` : ''}`);
  };
  const executions = list.data?.executions || [];
  const toggle = (key) => {
    const next = new Set(selected);
    if (next.has(key)) next.delete(key);
    else next.add(key);
    setSelected(next);
  };
  // One batch operation (StartBatchOperation) over the selected runs; answered once all are done.
  const runBatch = async () => {
    const chosen = executions.filter((e) => selected.has(`${e.execution.workflowId}/${e.execution.runId}`));
    const jobId = crypto.randomUUID();
    const operation = batch === 'terminate' ? { terminationOperation: { identity: 'eon-ui' } } : { cancellationOperation: { identity: 'eon-ui' } };
    await api(`/namespaces/${enc(ns)}/batch-operations/${jobId}`, {
      method: 'POST',
      body: {
        executions: chosen.map((e) => ({ workflowId: e.execution.workflowId, runId: e.execution.runId })),
        reason: reason || `${batch === 'terminate' ? 'terminated' : 'cancelled'} from the web UI`,
        ...operation,
      },
    });
    const job = await api(`/namespaces/${enc(ns)}/batch-operations/${jobId}`);
    setSelected(new Set());
    list.reload();
    counts.reload();
    const failed = Number(job.failureOperationCount || 0);
    if (failed) throw new Error(`${failed} of ${job.totalOperationCount} workflows could not be changed (closed already?)`);
  };

  return html`
    <div class="title-row">
      <h1>Workflows</h1>
      <span class="muted">${counts.data ? `${counts.data.total} in total` : ''}</span>
    </div>
    <div class="status-tabs" role="group" aria-label="Filter by status">
      <button class=${!status ? 'chip active' : 'chip'} aria-pressed=${!status} onClick=${() => setFilter({ status: '' })}>
        All${counts.data ? ` ${counts.data.total}` : ''}
      </button>
      ${STATUSES.map((s) => html`
        <button class=${status === s ? `chip active status-${s}` : `chip status-${s}`} aria-pressed=${status === s}
          onClick=${() => setFilter({ status: s })}>
          ${s}${counts.data ? ` ${counts.data.byStatus[s] || 0}` : ''}
        </button>`)}
    </div>
    <form class="query" onSubmit=${(e) => { e.preventDefault(); setFilter({ query: draft }); }}>
      <label class="visually-hidden" for="query">List filter</label>
      <input id="query" type="search" value=${draft} onInput=${(e) => setDraft(e.target.value)}
        placeholder="WorkflowType = 'greet' AND StartTime > '2024-01-01T00:00:00Z'" />
      <button type="submit" class="primary">Filter</button>
    </form>
    <${ErrorBox} error=${counts.error} />
    <${Loading} state=${list} />
    ${list.data && list.error && html`<${ErrorBox} error=${list.error} />`}
    ${list.data && html`
      <div class="batch">
        <button disabled=${selected.size === 0} onClick=${() => setBatch('cancel')}>Cancel selected</button>
        <button class="danger" disabled=${selected.size === 0} onClick=${() => setBatch('terminate')}>Terminate selected</button>
        <span class="muted">${selected.size ? `${selected.size} selected` : ''}</span>
      </div>
      <div class="table-wrap"><table class="workflows">
        <thead><tr><th><span class="visually-hidden">Select</span></th><th>Status</th><th>Workflow ID</th><th>Run ID</th><th>Type</th><th>Start</th><th>End</th></tr></thead>
        <tbody>
          ${executions.length === 0 && html`<tr><td colspan="7" class="muted">No workflows.</td></tr>`}
          ${executions.map((e) => {
            const key = `${e.execution.workflowId}/${e.execution.runId}`;
            const href = `/namespaces/${enc(ns)}/workflows/${enc(e.execution.workflowId)}/${enc(e.execution.runId)}/history`;
            return html`
              <tr>
                <td><input type="checkbox" aria-label=${`Select ${e.execution.workflowId}`} checked=${selected.has(key)} onChange=${() => toggle(key)} /></td>
                <td><${StatusBadge} status=${e.status} /></td>
                <td class="id"><${Link} href=${href}>${e.execution.workflowId}</${Link}></td>
                <td class="id run">${e.execution.runId}</td>
                <td>${e.type?.name}</td>
                <td class="time">${formatTime(e.startTime)}</td>
                <td class="time">${formatTime(e.closeTime)}</td>
              </tr>`;
          })}
        </tbody>
      </table></div>
      <div class="pager">
        <button disabled=${page === 0} onClick=${() => setTokens(tokens.slice(0, -1))}>Previous</button>
        <span>Page ${page + 1}</span>
        <button disabled=${!list.data.nextPageToken} onClick=${() => setTokens([...tokens, list.data.nextPageToken])}>Next</button>
      </div>`}
    <${Confirm} title=${batch === 'terminate' ? `Terminate ${selected.size} workflows` : `Cancel ${selected.size} workflows`}
      open=${batch !== null} onClose=${() => setBatch(null)} onConfirm=${runBatch}
      confirmLabel=${batch === 'terminate' ? 'Terminate' : 'Request cancellation'} danger=${batch === 'terminate'}>
      ${batch === 'terminate' && html`<label>Reason <input value=${reason} onInput=${(e) => setReason(e.target.value)} /></label>`}
    </${Confirm}>`;
}

// --- one workflow ------------------------------------------------------------------------------

async function loadAllHistory(ns, workflowId, runId) {
  const events = [];
  let token = '';
  for (let pages = 0; pages < 200; pages += 1) {
    const page = await api(`/namespaces/${enc(ns)}/workflows/${enc(workflowId)}/history`, {
      query: { 'execution.runId': runId, nextPageToken: token, maximumPageSize: 256 },
    });
    events.push(...(page.history?.events || []));
    token = page.nextPageToken || '';
    if (!token) break;
  }
  return events;
}

function WorkflowPage({ ns, workflowId, runId, tab }) {
  const [running, setRunning] = useState(true);
  const describe = useLoad(
    () => api(`/namespaces/${enc(ns)}/workflows/${enc(workflowId)}`, { query: { 'execution.runId': runId } }),
    [ns, workflowId, runId], { poll: running });
  const history = useLoad(() => loadAllHistory(ns, workflowId, runId), [ns, workflowId, runId], { poll: running });
  const info = describe.data?.workflowExecutionInfo;
  useEffect(() => {
    if (!info) return;
    const nowRunning = statusName(info.status) === 'Running';
    // Describe and history poll apart and both stop once the run has closed: the history's last
    // poll may have come before the close, so it is read once more (the close is durable by
    // now, so this read has it). Without this the result was sometimes never shown.
    if (running && !nowRunning) history.reload();
    setRunning(nowRunning);
  }, [info && info.status]);
  useEffect(() => {
    // A URL without a run id shows the latest run: put its id in the URL.
    if (!runId && info?.execution?.runId) {
      navigate(`/namespaces/${enc(ns)}/workflows/${enc(workflowId)}/${enc(info.execution.runId)}/${tab}`, { replace: true });
    }
  }, [runId, info]);
  const base = `/namespaces/${enc(ns)}/workflows/${enc(workflowId)}/${enc(runId || info?.execution?.runId || '')}`;
  const events = history.data || [];
  const pending = describe.data?.pendingActivities || [];
  const tabs = [
    ['history', `History (${events.length})`],
    ['pending-activities', `Pending activities (${pending.length})`],
    ['stack-trace', 'Call stack'],
    ['queries', 'Queries'],
  ];
  return html`
    <div class="title-row">
      <h1 class="id">${workflowId}</h1>
      ${info && html`<${StatusBadge} status=${info.status} />`}
    </div>
    <${Loading} state=${describe} />
    ${describe.data && describe.error && html`<${ErrorBox} error=${describe.error} />`}
    ${info && html`
      <${Actions} ns=${ns} info=${info} events=${events} onDone=${() => { describe.reload(); history.reload(); }} />
      <${Summary} ns=${ns} info=${info} config=${describe.data.executionConfig} events=${events} eventsLoaded=${history.data != null} children=${describe.data.pendingChildren || []} />
      <nav class="tabs" aria-label="Workflow sections">
        ${tabs.map(([id, label]) => html`<${Link} href=${`${base}/${id}`} class=${tab === id ? 'tab active' : 'tab'} aria-current=${tab === id ? 'page' : undefined}>${label}</${Link}>`)}
        <a class="tab" href="#" onClick=${(e) => { e.preventDefault(); downloadHistory(workflowId, runId, events); }}>Download JSON</a>
      </nav>
      ${tab === 'history' && html`<${HistoryView} events=${events} state=${history} />`}
      ${tab === 'pending-activities' && html`<${PendingActivities} activities=${pending} />`}
      ${tab === 'stack-trace' && html`<${StackTrace} ns=${ns} workflowId=${workflowId} runId=${info.execution.runId} running=${running} />`}
      ${tab === 'queries' && html`<${QueryForm} ns=${ns} workflowId=${workflowId} runId=${info.execution.runId} />`}`}`;
}

function downloadHistory(workflowId, runId, events) {
  const blob = new Blob([JSON.stringify({ events }, null, 2)], { type: 'application/json' });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = `${workflowId}_${runId}_history.json`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// The input is read from the history's first event: until the history has loaded it is not
// known, which is not the same as none.
function Summary({ ns, info, config, events, eventsLoaded, children }) {
  const first = events[0] ? eventAttributes(events[0]) : {};
  const last = events.length ? events[events.length - 1] : null;
  const lastAttributes = last ? eventAttributes(last) : {};
  const closed = last && /WORKFLOW_EXECUTION_(COMPLETED|FAILED|TIMED_OUT|CANCELED|TERMINATED|CONTINUED_AS_NEW)$/.test(last.eventType);
  const memo = info.memo?.fields;
  const attrs = info.searchAttributes?.indexedFields;
  return html`
    <section class="summary" aria-label="Summary">
      <dl class="fields">
        <${Field} label="Workflow type">${info.type?.name}</${Field}>
        <${Field} label="Run ID"><span class="id">${info.execution?.runId}</span></${Field}>
        <${Field} label="Task queue"><${Link} href=${`/namespaces/${enc(ns)}/task-queues/${enc(info.taskQueue || config?.taskQueue?.name || '')}`}>${info.taskQueue || config?.taskQueue?.name}</${Link}></${Field}>
        <${Field} label="Start">${formatTime(info.startTime)}</${Field}>
        <${Field} label="End">${formatTime(info.closeTime) || '—'}</${Field}>
        <${Field} label="Duration">${formatDuration(info.startTime, info.closeTime)}</${Field}>
        <${Field} label="History events">${info.historyLength}</${Field}>
        ${info.parentExecution && html`<${Field} label="Parent"><${Link} href=${`/namespaces/${enc(info.parentNamespaceId ? ns : ns)}/workflows/${enc(info.parentExecution.workflowId)}/${enc(info.parentExecution.runId)}/history`}>${info.parentExecution.workflowId}</${Link}></${Field}>`}
      </dl>
      <div class="io">
        <div><h3>Input</h3><${Code} text=${eventsLoaded ? showPayloads(first.input) || '(none)' : 'loading…'} /></div>
        ${closed && lastAttributes.result !== undefined && html`<div><h3>Result</h3><${Code} text=${showPayloads(lastAttributes.result)} /></div>`}
        ${closed && lastAttributes.failure && html`<div><h3>Failure</h3><${Code} text=${failureText(lastAttributes.failure)} /></div>`}
        ${closed && lastAttributes.newExecutionRunId && html`<div><h3>Continued as</h3><${Link} href=${`/namespaces/${enc(ns)}/workflows/${enc(info.execution.workflowId)}/${enc(lastAttributes.newExecutionRunId)}/history`}>${lastAttributes.newExecutionRunId}</${Link}></div>`}
        ${memo && html`<div><h3>Memo</h3><${Code} text=${Object.entries(memo).map(([k, v]) => `${k}: ${showPayloads(v)}`).join('\n')} /></div>`}
        ${attrs && html`<div><h3>Search attributes</h3><${Code} text=${Object.entries(attrs).map(([k, v]) => `${k}: ${showPayloads(v)}`).join('\n')} /></div>`}
      </div>
      ${children.length > 0 && html`
        <h3>Pending child workflows</h3>
        <ul>${children.map((c) => html`<li><${Link} href=${`/namespaces/${enc(ns)}/workflows/${enc(c.workflowId)}/${enc(c.runId)}/history`}>${c.workflowId}</${Link}> (${c.workflowTypeName})</li>`)}</ul>`}
    </section>`;
}

const RESET_POINT_TYPES = new Set([
  'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
  'EVENT_TYPE_WORKFLOW_TASK_FAILED',
  'EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT',
]);

function Actions({ ns, info, events, onDone }) {
  const [dialog, setDialog] = useState(null);
  const [signalName, setSignalName] = useState('');
  const [signalInput, setSignalInput] = useState('');
  const [reason, setReason] = useState('');
  const [resetEvent, setResetEvent] = useState('');
  const running = statusName(info.status) === 'Running';
  const execution = { workflowId: info.execution.workflowId, runId: info.execution.runId };
  const path = `/namespaces/${enc(ns)}/workflows/${enc(execution.workflowId)}`;
  // Where a reset may go: the end of a workflow task (Temporal's rule: the event after its
  // WorkflowTaskStarted).
  const resetPoints = events.filter((e) => RESET_POINT_TYPES.has(e.eventType));
  const [resetReason, setResetReason] = useState('');
  const done = () => onDone();
  return html`
    <div class="actions" role="group" aria-label="Actions">
      <button disabled=${!running} onClick=${() => setDialog('signal')}>Signal</button>
      <button disabled=${!running} onClick=${() => setDialog('cancel')}>Request cancellation</button>
      <button class="danger" disabled=${!running} onClick=${() => setDialog('terminate')}>Terminate</button>
      <button disabled=${resetPoints.length === 0} onClick=${() => { setResetEvent(resetPoints[resetPoints.length - 1]?.eventId || ''); setDialog('reset'); }}>Reset</button>
    </div>
    <${Confirm} title="Signal the workflow" open=${dialog === 'signal'} onClose=${() => setDialog(null)} confirmLabel="Send signal"
      onConfirm=${async () => {
        if (!signalName.trim()) throw new Error('a signal needs a name');
        await api(`${path}/signal/${enc(signalName.trim())}`, { method: 'POST', body: { workflowExecution: execution, input: parseJsonInput(signalInput), identity: 'eon-ui' } });
        done();
      }}>
      <label>Signal name <input name="signal-name" value=${signalName} onInput=${(e) => setSignalName(e.target.value)} required /></label>
      <label>Input (JSON) <textarea name="signal-input" rows="4" value=${signalInput} onInput=${(e) => setSignalInput(e.target.value)} placeholder='{"approved": true}'></textarea></label>
    </${Confirm}>
    <${Confirm} title="Request cancellation" open=${dialog === 'cancel'} onClose=${() => setDialog(null)} confirmLabel="Request cancellation" danger
      onConfirm=${async () => {
        await api(`${path}/cancel`, { method: 'POST', body: { workflowExecution: execution, identity: 'eon-ui', requestId: crypto.randomUUID() } });
        done();
      }}>
      <p>The workflow is asked to cancel; its code decides how to end.</p>
    </${Confirm}>
    <${Confirm} title="Terminate the workflow" open=${dialog === 'terminate'} onClose=${() => setDialog(null)} confirmLabel="Terminate" danger
      onConfirm=${async () => {
        await api(`${path}/terminate`, { method: 'POST', body: { workflowExecution: execution, reason: reason || 'terminated from the web UI', identity: 'eon-ui' } });
        done();
      }}>
      <p>The run ends at once; its code is not told.</p>
      <label>Reason <input name="reason" value=${reason} onInput=${(e) => setReason(e.target.value)} /></label>
    </${Confirm}>
    <${Confirm} title="Reset the workflow" open=${dialog === 'reset'} onClose=${() => setDialog(null)} confirmLabel="Reset" danger
      onConfirm=${async () => {
        if (!resetEvent) throw new Error('choose a workflow task to reset to');
        const answer = await api(`${path}/reset`, { method: 'POST', body: { workflowExecution: execution, workflowTaskFinishEventId: String(resetEvent), reason: resetReason || 'reset from the web UI', requestId: crypto.randomUUID() } });
        if (answer.runId) navigate(`/namespaces/${enc(ns)}/workflows/${enc(execution.workflowId)}/${enc(answer.runId)}/history`);
        done();
      }}>
      <p>A new run starts with this run's history up to the chosen workflow task, which it runs again; signals received after it are delivered again. ${running ? 'This run is terminated.' : ''}</p>
      <label>Workflow task <select name="reset-event" value=${resetEvent} onChange=${(e) => setResetEvent(e.target.value)}>
        ${resetPoints.map((e) => html`<option value=${e.eventId}>${e.eventId} · workflow task ${e.eventType.replace('EVENT_TYPE_WORKFLOW_TASK_', '').replace('_', ' ').toLowerCase()} · ${formatTime(e.eventTime)}</option>`)}
      </select></label>
      <label>Reason <input name="reset-reason" value=${resetReason} onInput=${(e) => setResetReason(e.target.value)} /></label>
    </${Confirm}>`;
}

const EVENT_GROUPS = [
  [/^EVENT_TYPE_WORKFLOW_TASK/, 'wft'],
  [/^EVENT_TYPE_ACTIVITY/, 'activity'],
  [/^EVENT_TYPE_TIMER/, 'timer'],
  [/SIGNAL/, 'signal'],
  [/CHILD/, 'child'],
  [/FAILED|TIMED_OUT|TERMINATED/, 'bad'],
];

function eventGroup(type) {
  for (const [pattern, group] of EVENT_GROUPS) if (pattern.test(type)) return group;
  return 'workflow';
}

function HistoryView({ events, state }) {
  const [compact, setCompact] = useState(false);
  if (!state.data) return html`<${Loading} state=${state} />`;
  return html`
    <${ErrorBox} error=${state.error} />
    <div class="view-switch" role="group" aria-label="History view">
      <button class=${!compact ? 'chip active' : 'chip'} aria-pressed=${!compact} onClick=${() => setCompact(false)}>Table</button>
      <button class=${compact ? 'chip active' : 'chip'} aria-pressed=${compact} onClick=${() => setCompact(true)}>Timeline</button>
    </div>
    ${compact ? html`
      <ol class="timeline" aria-label="Timeline">
        ${events.map((e) => html`
          <li class=${`ev ev-${eventGroup(e.eventType)}`} title=${`${e.eventId} ${eventName(e.eventType)} ${formatTime(e.eventTime)}`}>
            <span class="ev-id">${e.eventId}</span> ${eventName(e.eventType)} <span class="muted">${eventSummary(e)}</span>
          </li>`)}
      </ol>` : html`
      <div class="table-wrap"><table class="history">
        <thead><tr><th>ID</th><th>Time</th><th>Event</th><th>Details</th></tr></thead>
        <tbody>
          ${events.map((e) => html`
            <tr class=${`ev-${eventGroup(e.eventType)}`}>
              <td>${e.eventId}</td>
              <td class="time">${formatTime(e.eventTime)}</td>
              <td class="event-type">${eventName(e.eventType)}</td>
              <td>
                <details>
                  <summary>${eventSummary(e) || 'details'}</summary>
                  <${Code} text=${JSON.stringify(eventAttributes(e), null, 2)} />
                </details>
              </td>
            </tr>`)}
        </tbody>
      </table></div>`}`;
}

function PendingActivities({ activities }) {
  if (activities.length === 0) return html`<p class="muted">No pending activities.</p>`;
  return html`
    <div class="cards">
      ${activities.map((a) => html`
        <section class="card" aria-label=${`Activity ${a.activityId}`}>
          <h3>${a.activityType?.name} <span class="muted">(${a.activityId})</span></h3>
          <dl class="fields">
            <${Field} label="State">${enumName(a.state, 'PENDING_ACTIVITY_STATE_')}</${Field}>
            <${Field} label="Attempt">${a.attempt}${a.maximumAttempts ? ` of ${a.maximumAttempts}` : ''}</${Field}>
            <${Field} label="Scheduled">${formatTime(a.scheduledTime)}</${Field}>
            <${Field} label="Last started">${formatTime(a.lastStartedTime) || '—'}</${Field}>
            <${Field} label="Last heartbeat">${formatTime(a.lastHeartbeatTime) || '—'}</${Field}>
            <${Field} label="Next retry">${formatTime(a.nextAttemptScheduleTime) || '—'}</${Field}>
            <${Field} label="Worker">${a.lastWorkerIdentity || '—'}</${Field}>
          </dl>
          ${a.heartbeatDetails && html`<h4>Heartbeat details</h4><${Code} text=${showPayloads(a.heartbeatDetails)} />`}
          ${a.lastFailure && html`<h4>Last failure</h4><${Code} text=${failureText(a.lastFailure)} />`}
        </section>`)}
    </div>`;
}

async function runQuery(ns, workflowId, runId, queryType, args) {
  const answer = await api(`/namespaces/${enc(ns)}/workflows/${enc(workflowId)}/query/${enc(queryType)}`, {
    method: 'POST',
    body: { execution: { workflowId, runId }, query: { queryType, queryArgs: args } },
  });
  if (answer.queryRejected) throw new Error(`query rejected: the workflow is ${statusName(answer.queryRejected.status)}`);
  return answer.queryResult;
}

function StackTrace({ ns, workflowId, runId, running }) {
  const state = useLoad(() => runQuery(ns, workflowId, runId, '__stack_trace', []), [ns, workflowId, runId]);
  return html`
    <div class="title-row"><h2>Call stack</h2><button onClick=${state.reload}>Refresh</button></div>
    ${!running && html`<p class="muted">The workflow is closed; a worker must replay it to answer.</p>`}
    <${Loading} state=${state} />
    ${state.data && html`<${ErrorBox} error=${state.error} />`}
    ${state.data !== null && html`<${Code} text=${Array.isArray(state.data) ? state.data.join('\n') : showPayloads(state.data)} />`}`;
}

function QueryForm({ ns, workflowId, runId }) {
  const [queryType, setQueryType] = useState('');
  const [args, setArgs] = useState('');
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    setResult(null);
    try {
      if (!queryType.trim()) throw new Error('a query needs a type');
      setResult(await runQuery(ns, workflowId, runId, queryType.trim(), parseJsonInput(args)));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return html`
    <form class="stack" onSubmit=${submit} aria-label="Query">
      <label>Query type <input name="query-type" value=${queryType} onInput=${(e) => setQueryType(e.target.value)} /></label>
      <label>Arguments (JSON) <textarea name="query-args" rows="3" value=${args} onInput=${(e) => setArgs(e.target.value)}></textarea></label>
      <div><button type="submit" class="primary" disabled=${busy}>Run query</button></div>
    </form>
    <${ErrorBox} error=${error} />
    ${result !== null && html`<h3>Result</h3><${Code} text=${showPayloads(result)} />`}`;
}

// --- task queues ---------------------------------------------------------------------------------

function TaskQueuePage({ ns, queue }) {
  const load = async () => {
    const kinds = ['TASK_QUEUE_TYPE_WORKFLOW', 'TASK_QUEUE_TYPE_ACTIVITY'];
    const answers = await Promise.all(kinds.map((kind) => api(`/namespaces/${enc(ns)}/task-queues/${enc(queue)}`, { query: { taskQueueType: kind, reportStats: 'true' } })));
    return kinds.map((kind, i) => ({ kind, answer: answers[i] }));
  };
  const state = useLoad(load, [ns, queue], { poll: true });
  return html`
    <h1>Task queue <span class="id">${queue}</span></h1>
    <${Loading} state=${state} />
    ${state.data && html`<${ErrorBox} error=${state.error} />`}
    ${state.data && state.data.map(({ kind, answer }) => {
      const stats = answer.stats || answer.taskQueueStatus || {};
      return html`
        <section aria-label=${enumName(kind, 'TASK_QUEUE_TYPE_')}>
          <h2>${enumName(kind, 'TASK_QUEUE_TYPE_')} tasks</h2>
          <p>Backlog: <strong class="backlog">${stats.approximateBacklogCount ?? stats.backlogCountHint ?? 0}</strong>${stats.approximateBacklogAge ? ` (oldest ${stats.approximateBacklogAge})` : ''}</p>
          <div class="table-wrap"><table>
            <thead><tr><th>Poller</th><th>Last access</th><th>Rate per second</th></tr></thead>
            <tbody>
              ${(answer.pollers || []).length === 0 && html`<tr><td colspan="3" class="muted">No pollers.</td></tr>`}
              ${(answer.pollers || []).map((p) => html`<tr><td>${p.identity}</td><td class="time">${formatTime(p.lastAccessTime)}</td><td>${p.ratePerSecond ?? ''}</td></tr>`)}
            </tbody>
          </table></div>
        </section>`;
    })}`;
}

// --- schedules -------------------------------------------------------------------------------------

function SchedulesPage({ ns }) {
  const state = useLoad(() => api(`/namespaces/${enc(ns)}/schedules`, { query: { maximumPageSize: 100 } }), [ns], { poll: true });
  const schedules = state.data?.schedules || [];
  return html`
    <h1>Schedules</h1>
    <${Loading} state=${state} />
    ${state.data && html`
      <div class="table-wrap"><table>
        <thead><tr><th>Schedule ID</th><th>Workflow type</th><th>State</th><th>Next run</th><th>Recent run</th></tr></thead>
        <tbody>
          ${schedules.length === 0 && html`<tr><td colspan="5" class="muted">No schedules.</td></tr>`}
          ${schedules.map((s) => html`
            <tr>
              <td><${Link} href=${`/namespaces/${enc(ns)}/schedules/${enc(s.scheduleId)}`}>${s.scheduleId}</${Link}></td>
              <td>${s.info?.workflowType?.name || ''}</td>
              <td>${s.info?.paused ? 'Paused' : 'Running'}</td>
              <td class="time">${formatTime(s.info?.futureActionTimes?.[0])}</td>
              <td class="time">${formatTime(s.info?.recentActions?.[s.info.recentActions.length - 1]?.actualTime)}</td>
            </tr>`)}
        </tbody>
      </table></div>`}`;
}

function SchedulePage({ ns, scheduleId }) {
  const path = `/namespaces/${enc(ns)}/schedules/${enc(scheduleId)}`;
  const state = useLoad(() => api(path), [ns, scheduleId], { poll: true });
  const [error, setError] = useState(null);
  const patch = async (body) => {
    setError(null);
    try {
      await api(`${path}/patch`, { method: 'POST', body: { patch: body, identity: 'eon-ui', requestId: crypto.randomUUID() } });
      state.reload();
    } catch (err) {
      setError(err);
    }
  };
  const schedule = state.data?.schedule;
  const info = state.data?.info;
  const paused = schedule?.state?.paused;
  return html`
    <h1>Schedule <span class="id">${scheduleId}</span></h1>
    <${Loading} state=${state} />
    <${ErrorBox} error=${error} />
    ${schedule && html`
      <div class="actions">
        <button onClick=${() => patch(paused ? { unpause: 'unpaused from the web UI' } : { pause: 'paused from the web UI' })}>${paused ? 'Unpause' : 'Pause'}</button>
        <button onClick=${() => patch({ triggerImmediately: {} })}>Trigger now</button>
      </div>
      <dl class="fields">
        <${Field} label="State">${paused ? `Paused${schedule.state.notes ? ` (${schedule.state.notes})` : ''}` : 'Running'}</${Field}>
        <${Field} label="Workflow type">${schedule.action?.startWorkflow?.workflowType?.name}</${Field}>
        <${Field} label="Task queue">${schedule.action?.startWorkflow?.taskQueue?.name}</${Field}>
        <${Field} label="Actions taken">${info?.actionCount || 0}</${Field}>
        <${Field} label="Next runs">${(info?.futureActionTimes || []).slice(0, 3).map(formatTime).join(', ')}</${Field}>
      </dl>
      <h3>Recent runs</h3>
      <ul>
        ${(info?.recentActions || []).map((a) => html`<li>${formatTime(a.actualTime)} · <${Link} href=${`/namespaces/${enc(ns)}/workflows/${enc(a.startWorkflowResult?.workflowId)}/${enc(a.startWorkflowResult?.runId)}/history`}>${a.startWorkflowResult?.workflowId}</${Link}></li>`)}
      </ul>
      <h3>Spec</h3>
      <${Code} text=${JSON.stringify(schedule.spec, null, 2)} />`}`;
}

// --- start a workflow ----------------------------------------------------------------------------

function StartPage({ ns }) {
  const [form, setForm] = useState({ workflowId: '', type: '', taskQueue: '', input: '' });
  const [error, setError] = useState(null);
  const set = (key) => (e) => setForm({ ...form, [key]: e.target.value });
  const submit = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const workflowId = form.workflowId.trim() || crypto.randomUUID();
      const answer = await api(`/namespaces/${enc(ns)}/workflows/${enc(workflowId)}`, {
        method: 'POST',
        body: {
          workflowType: { name: form.type.trim() },
          taskQueue: { name: form.taskQueue.trim() },
          input: parseJsonInput(form.input),
          identity: 'eon-ui',
          requestId: crypto.randomUUID(),
        },
      });
      navigate(`/namespaces/${enc(ns)}/workflows/${enc(workflowId)}/${enc(answer.runId)}/history`);
    } catch (err) {
      setError(err);
    }
  };
  return html`
    <h1>Start a workflow</h1>
    <form class="stack" onSubmit=${submit}>
      <label>Workflow ID <input value=${form.workflowId} onInput=${set('workflowId')} placeholder="(a new UUID)" /></label>
      <label>Workflow type <input value=${form.type} onInput=${set('type')} required /></label>
      <label>Task queue <input value=${form.taskQueue} onInput=${set('taskQueue')} required /></label>
      <label>Input (one JSON value) <textarea rows="4" value=${form.input} onInput=${set('input')}></textarea></label>
      <div><button type="submit" class="primary">Start</button></div>
    </form>
    <${ErrorBox} error=${error} />`;
}

// --- the app ---------------------------------------------------------------------------------------

function App() {
  const [location, setLocation] = useState(currentLocation());
  setLocationState = setLocation;
  useEffect(() => {
    const onPop = () => setLocation(currentLocation());
    window.addEventListener('popstate', onPop);
    return () => window.removeEventListener('popstate', onPop);
  }, []);
  const route = match(location.path);
  useEffect(() => {
    if (route.page === 'root') navigate('/namespaces/default/workflows', { replace: true });
  }, [route.page]);
  let page;
  switch (route.page) {
    case 'namespaces': page = html`<${NamespacesPage} />`; break;
    case 'workflows': page = html`<${WorkflowsPage} ns=${route.ns} search=${location.search} />`; break;
    case 'workflow': page = html`<${WorkflowPage} key=${`${route.ns}/${route.workflowId}/${route.runId}`} ...${route} />`; break;
    case 'task-queue': page = html`<${TaskQueuePage} ns=${route.ns} queue=${route.queue} />`; break;
    case 'schedules': page = html`<${SchedulesPage} ns=${route.ns} />`; break;
    case 'schedule': page = html`<${SchedulePage} ns=${route.ns} scheduleId=${route.scheduleId} />`; break;
    case 'start': page = html`<${StartPage} ns=${route.ns} />`; break;
    case 'root': page = null; break;
    default: page = html`<h1>Not found</h1><p>No page at ${location.path}. <${Link} href="/namespaces">Namespaces</${Link}></p>`;
  }
  return html`
    <${Header} ns=${route.ns} />
    <main id="main">${page}</main>`;
}

const root = document.getElementById('app');
root.textContent = '';  // the page's "Loading…" placeholder
render(html`<${App} />`, root);
