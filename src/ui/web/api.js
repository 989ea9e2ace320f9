// The HTTP API the UI speaks (the server's /api/v1, Temporal's routes and JSON), and the
// formatting of what it answers. Nothing here touches the DOM.

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body && body.code;
  }
}

export async function api(path, { method = 'GET', body, query } = {}) {
  let url = `/api/v1${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') params.append(key, value);
    }
    const text = params.toString();
    if (text) url += `?${text}`;
  }
  const init = { method, headers: {} };
  const token = authToken();
  if (token) init.headers.Authorization = /^bearer /i.test(token) ? token : `Bearer ${token}`;
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const codec = codecEndpoint();
  if (codec) url += `${url.includes('?') ? '&' : '?'}noPayloadShorthand`;
  const response = await fetch(url, init);
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(response.status, { message: `the server answered ${response.status}: ${text.slice(0, 200)}` });
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  if (codec) await decodeWithCodec(codec, path.split('/')[2] || '', parsed);
  return parsed;
}

// An API key or JWT for a server that requires one (--auth-config); kept in this browser only.
export function authToken() {
  return (localStorage.getItem('eon.authToken') || '').trim();
}

// The remote codec (as Temporal UI's): payloads the server stores encoded (encrypted, compressed)
// are sent to {endpoint}/decode to be shown. Set in the UI's settings, kept in this browser.
export function codecEndpoint() {
  return (localStorage.getItem('eon.codecEndpoint') || '').replace(/\/+$/, '');
}

function collectPayloads(node, found, depth = 0) {
  if (depth > 64 || node === null || typeof node !== 'object') return;
  if (isRawPayload(node)) {
    found.push(node);
    return;
  }
  for (const value of Array.isArray(node) ? node : Object.values(node)) collectPayloads(value, found, depth + 1);
}

async function decodeWithCodec(endpoint, namespace, answer) {
  const found = [];
  collectPayloads(answer, found);
  if (found.length === 0) return;
  let response;
  try {
    response = await fetch(`${endpoint}/decode`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Namespace': namespace },
      body: JSON.stringify({ payloads: found }),
    });
  } catch (error) {
    throw new Error(`the codec endpoint ${endpoint} cannot be reached: ${error.message}`);
  }
  if (!response.ok) throw new Error(`the codec endpoint ${endpoint} answered ${response.status}`);
  const decoded = (await response.json()).payloads;
  if (!Array.isArray(decoded) || decoded.length !== found.length) {
    throw new Error(`the codec endpoint ${endpoint} did not answer one payload for each payload`);
  }
  found.forEach((payload, i) => {
    for (const key of Object.keys(payload)) delete payload[key];
    Object.assign(payload, decoded[i]);
  });
}

export const enc = encodeURIComponent;

export const STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'];

// WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW -> ContinuedAsNew
export function enumName(value, prefix) {
  if (value === undefined || value === null) return '';
  const text = String(value).startsWith(prefix) ? String(value).slice(prefix.length) : String(value);
  return text
    .toLowerCase()
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join('');
}

export const statusName = (status) => enumName(status, 'WORKFLOW_EXECUTION_STATUS_') || 'Unspecified';
export const eventName = (type) => enumName(type, 'EVENT_TYPE_');

export function formatTime(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC').replace(/Z$/, ' UTC');
}

export function formatDuration(start, end) {
  if (!start) return '';
  const ms = (end ? new Date(end) : new Date()) - new Date(start);
  if (!(ms >= 0)) return '';
  if (ms < 1000) return `${ms} ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return `${hours} h ${m % 60} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

// A payload as the API shows it: its JSON value (the shorthand), or the standard form
// {metadata: {encoding: base64}, data: base64} for encodings other than JSON.
export function isRawPayload(value) {
  return value !== null && typeof value === 'object' && !Array.isArray(value) &&
    value.metadata && typeof value.metadata === 'object' && typeof value.metadata.encoding === 'string';
}

export function decodeBase64(text) {
  try {
    return atob(text);
  } catch {
    return null;
  }
}

// A decoded, readable form of a payload (or a list of them): JSON pretty-printed; binary payloads
// as their encoding and base64 data.
export function showPayloads(value) {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map(showPayloads).join('\n');
  if (value && Array.isArray(value.payloads)) return value.payloads.map(showPayloads).join('\n');
  if (isRawPayload(value)) {
    const encoding = decodeBase64(value.metadata.encoding) ?? value.metadata.encoding;
    if (encoding === 'json/plain' && value.data) {
      const text = decodeBase64(value.data);
      try {
        return JSON.stringify(JSON.parse(text), null, 2);
      } catch {
        /* shown as base64 below */
      }
    }
    return `(${encoding}) ${value.data ?? ''}`;
  }
  return JSON.stringify(value, null, 2);
}

// The attributes object of a history event (the one field named ...EventAttributes).
export function eventAttributes(event) {
  for (const [key, value] of Object.entries(event)) {
    if (key.endsWith('EventAttributes')) return value;
  }
  return {};
}

// The compact text shown for an event in the history table.
export function eventSummary(event) {
  const a = eventAttributes(event);
  const parts = [];
  if (a.workflowType) parts.push(a.workflowType.name);
  if (a.activityType) parts.push(`${a.activityType.name} (${a.activityId})`);
  if (a.signalName) parts.push(a.signalName);
  if (a.timerId) parts.push(`timer ${a.timerId}${a.startToFireTimeout ? ` ${a.startToFireTimeout}` : ''}`);
  if (a.failure) parts.push(a.failure.message);
  if (a.reason) parts.push(a.reason);
  if (a.attempt > 1) parts.push(`attempt ${a.attempt}`);
  if (a.identity) parts.push(a.identity);
  return parts.join(' · ');
}

export function failureText(failure) {
  if (!failure) return '';
  const lines = [];
  for (let f = failure, depth = 0; f && depth < 20; f = f.cause, depth += 1) {
    const kind = f.applicationFailureInfo ? `${f.applicationFailureInfo.type || 'Error'}` :
      Object.keys(f).find((k) => k.endsWith('FailureInfo'))?.replace('FailureInfo', '') || 'failure';
    const head = `${kind}: ${f.message || ''}`;
    lines.push(`${depth ? 'caused by ' : ''}${head}`);
    // JavaScript stacks repeat the message on their first line.
    const stack = (f.stackTrace || '').trim().split('\n');
    if (stack[0] && stack[0].endsWith(`: ${f.message}`)) stack.shift();
    if (stack.length && stack[0]) lines.push(stack.join('\n'));
  }
  return lines.join('\n');
}
