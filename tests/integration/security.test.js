'use strict';
// Running it securely: TLS and mTLS with certificates made here by `openssl` (through the
// TypeScript SDK, the C++ SDK's greeting example and the eon CLI), authorization with JWTs
// (RS256, ES256) and API keys per namespace and role, rate limits, the audit log, and bad input
// (malformed and forged tokens, a huge header, a TLS handshake with garbage).

const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { describe } = require('node:test');
const { setTimeout: sleep } = require('node:timers/promises');

const { Client, Connection } = require('@temporalio/client');
const { NativeConnection, Worker } = require('@temporalio/worker');
const { google } = require('@temporalio/proto');

const {
  EonServer, eonTest, makeCerts, makeTempDir, runEon, uniqueId, withTimeout, workflowBundle,
} = require('./harness');

const EXAMPLES_DIR = process.env.EON_EXAMPLES_DIR
  ? path.resolve(process.env.EON_EXAMPLES_DIR)
  : path.resolve(__dirname, '..', '..', 'build', 'examples');

const status = { DEADLINE_EXCEEDED: 4, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, UNAUTHENTICATED: 16 };

function openssl(dir, ...args) {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
}

// ---------------------------------------------------------------------------
// tokens

function b64url(data) {
  return Buffer.from(data).toString('base64url');
}

function makeKeys() {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stranger = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwks = {
    keys: [
      { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1', use: 'sig' },
      { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1', use: 'sig' },
    ],
  };
  const sign = ({ key = rsa.privateKey, kid = 'rsa-1', alg = 'RS256', sub = 'alice', permissions, expInS = 3600 }) => {
    const header = b64url(JSON.stringify({ alg, typ: 'JWT', kid }));
    const payload = b64url(JSON.stringify({ sub, permissions, exp: Math.floor(Date.now() / 1000) + expInS }));
    const input = `${header}.${payload}`;
    const signature = alg === 'ES256'
      ? crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' })
      : crypto.sign('sha256', Buffer.from(input), key);
    return `${input}.${b64url(signature)}`;
  };
  return { jwks, sign, ec, stranger };
}

// ---------------------------------------------------------------------------
// calls

/**
 * A client connection with no retries, so refusals reach the test as they are. The token goes
 * in the authorization header (the SDK's apiKey option needs TLS in grpc-js).
 */
async function connect(server, { apiKey, tls, metadata } = {}) {
  if (apiKey !== undefined) metadata = { ...metadata, authorization: `Bearer ${apiKey}` };
  return Connection.connect({ address: server.address, tls, metadata, interceptors: [], connectTimeout: '5s' });
}

/** The gRPC status code a call ended with (0 when it succeeded). */
async function codeOf(promise) {
  try {
    await promise;
    return 0;
  } catch (err) {
    return err.code ?? (err.cause && err.cause.code) ?? -1;
  }
}

function startRequest(taskQueue) {
  return {
    namespace: 'default', workflowId: uniqueId('sec'), workflowType: { name: 'greet' },
    taskQueue: { name: taskQueue }, requestId: crypto.randomUUID(), identity: 'test',
  };
}

async function runExample(name, args, timeoutMs = 60_000) {
  const bin = path.join(EXAMPLES_DIR, name);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output += d; });
  child.stderr.on('data', (d) => { output += d; });
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const code = await new Promise((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (c) => resolve(c));
  });
  clearTimeout(timer);
  return { code, output };
}

const activities = {
  async greet(name) {
    return `Hello, ${name}!`;
  },
};

// ---------------------------------------------------------------------------

describe('TLS', () => {
  eonTest('TLS: the TypeScript SDK, the C++ SDK and the CLI connect with the CA; plaintext, a wrong CA and garbage are refused', async (t, scope) => {
    const dir = makeTempDir();
    scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const certs = makeCerts(dir);
    const server = scope.track(await EonServer.start({
      extraArgs: ['--tls-cert-path', certs.file('server.pem'), '--tls-key-path', certs.file('server.key')],
    }));
    const tls = { serverRootCACertificate: certs.read('ca.pem') };

    // A whole workflow over TLS: the client and the worker.
    const connection = await Connection.connect({ address: server.address, tls });
    scope.add(() => connection.close());
    const client = new Client({ connection });
    const workerConnection = await NativeConnection.connect({ address: server.address, tls });
    const taskQueue = uniqueId('tls');
    const worker = await Worker.create({
      connection: workerConnection, taskQueue, workflowBundle: await workflowBundle(), activities, shutdownGraceTime: '1s',
    });
    const running = worker.run();
    try {
      assert.equal(await client.workflow.execute('greet', { taskQueue, workflowId: uniqueId('tls'), args: ['TLS'] }), 'Hello, TLS!');
    } finally {
      worker.shutdown();
      await withTimeout(running, 30_000, 'worker shutdown');
      await workerConnection.close();
    }

    // Refused: plaintext, and a CA that did not sign the server's certificate.
    await assert.rejects(Connection.connect({ address: server.address, connectTimeout: '3s' }));
    await assert.rejects(Connection.connect({ address: server.address, tls: { serverRootCACertificate: certs.read('rogue-ca.pem') }, connectTimeout: '3s' }));

    // Garbage instead of a TLS handshake: the connection is closed, the server goes on.
    await new Promise((resolve) => {
      const sock = net.connect({ host: '127.0.0.1', port: server.port }, () => {
        sock.write(crypto.randomBytes(4096));
        sock.write('GET / HTTP/1.1\r\n\r\n');
      });
      sock.on('error', resolve);
      sock.on('close', resolve);
      sock.setTimeout(10_000, () => sock.destroy());
    });
    assert.ok(server.running, 'the server survived a garbage handshake');
    const again = await connect(server, { tls });
    assert.equal(await codeOf(again.workflowService.describeNamespace({ namespace: 'default' })), 0);
    await again.close();

    // The eon CLI with the temporal CLI's flags.
    const ok = await runEon(['workflow', 'describe', '--address', server.address, '--tls-ca-path', certs.file('ca.pem'),
      '--tls-server-name', 'localhost', '--workflow-id', 'nope']);
    assert.match(ok.output, /not found/i, ok.output);  // reached the server over TLS
    const plain = await runEon(['workflow', 'describe', '--address', server.address, '--workflow-id', 'nope']);
    assert.notEqual(plain.code, 0);
    assert.doesNotMatch(plain.output, /not found/i, plain.output);

    // The C++ SDK (its greeting example) with the same flags.
    const bin = path.join(EXAMPLES_DIR, 'greeting');
    if (!fs.existsSync(bin)) {
      t.diagnostic(`${bin} is not built: the C++ SDK part was skipped`);
      return;
    }
    const cpp = await runExample('greeting', ['--address', server.address, '--name', 'Cpp', '--tls-ca-path', certs.file('ca.pem')]);
    assert.equal(cpp.code, 0, cpp.output);
    assert.match(cpp.output, /Hello, Cpp!/);
    const cppPlain = await runExample('greeting', ['--address', server.address, '--name', 'Plain']);
    assert.notEqual(cppPlain.code, 0, cppPlain.output);
  }, { timeout: 180_000 });

  eonTest('mTLS: a client certificate from the CA is required; none or a stranger\'s is refused', async (t, scope) => {
    const dir = makeTempDir();
    scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const certs = makeCerts(dir);
    const auditLog = path.join(dir, 'audit.log');
    const server = scope.track(await EonServer.start({
      extraArgs: ['--tls-cert-path', certs.file('server.pem'), '--tls-key-path', certs.file('server.key'),
        '--tls-client-ca-path', certs.file('ca.pem'), '--audit-log', auditLog],
    }));
    const ca = certs.read('ca.pem');
    const good = await connect(server, { tls: { serverRootCACertificate: ca, clientCertPair: { crt: certs.read('client.pem'), key: certs.read('client.key') } } });
    scope.add(() => good.close());
    assert.equal(await codeOf(good.workflowService.describeNamespace({ namespace: 'default' })), 0);
    // Who did it: the certificate's subject is in the audit log.
    await good.workflowService.registerNamespace({ namespace: 'mtls-ns', workflowExecutionRetentionPeriod: { seconds: 86400 } });
    const audit = fs.readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const registered = audit.find((e) => e.operation === 'RegisterNamespace');
    assert.ok(registered, JSON.stringify(audit));
    assert.equal(registered.namespace, 'mtls-ns');
    assert.equal(registered.result, 'ok');
    assert.match(registered.tls_subject, /worker-1/);

    await assert.rejects(Connection.connect({ address: server.address, tls: { serverRootCACertificate: ca }, connectTimeout: '3s' }));
    await assert.rejects(Connection.connect({
      address: server.address, connectTimeout: '3s',
      tls: { serverRootCACertificate: ca, clientCertPair: { crt: certs.read('rogue-client.pem'), key: certs.read('rogue-client.key') } },
    }));
    // The CLI and the C++ SDK with a client certificate.
    const cli = await runEon(['operator', 'namespace', 'describe', 'default', '--address', server.address,
      '--tls-ca-path', certs.file('ca.pem'), '--tls-cert-path', certs.file('client.pem'), '--tls-key-path', certs.file('client.key')]);
    assert.equal(cli.code, 0, cli.output);
    const cliNoCert = await runEon(['operator', 'namespace', 'describe', 'default', '--address', server.address,
      '--tls-ca-path', certs.file('ca.pem')]);
    assert.notEqual(cliNoCert.code, 0, cliNoCert.output);
    if (fs.existsSync(path.join(EXAMPLES_DIR, 'greeting'))) {
      const cpp = await runExample('greeting', ['--address', server.address, '--name', 'Mutual', '--tls-ca-path', certs.file('ca.pem'),
        '--tls-cert-path', certs.file('client.pem'), '--tls-key-path', certs.file('client.key')]);
      assert.equal(cpp.code, 0, cpp.output);
      assert.match(cpp.output, /Hello, Mutual!/);
      const cppNoCert = await runExample('greeting', ['--address', server.address, '--name', 'NoCert', '--tls-ca-path', certs.file('ca.pem')]);
      assert.notEqual(cppNoCert.code, 0, cppNoCert.output);
    }
    assert.ok(server.running);
  }, { timeout: 180_000 });

  eonTest('renewed certificate files are picked up without a restart; SIGHUP checks them', async (t, scope) => {
    const dir = makeTempDir();
    scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const certs = makeCerts(dir);
    // The live files, first from ca, later replaced by a certificate from rogue-ca.
    fs.copyFileSync(certs.file('server.pem'), certs.file('live.pem'));
    fs.copyFileSync(certs.file('server.key'), certs.file('live.key'));
    const server = scope.track(await EonServer.start({
      extraArgs: ['--tls-cert-path', certs.file('live.pem'), '--tls-key-path', certs.file('live.key'), '--log-level', 'info'],
    }));
    const describeWith = async (caFile) => {
      try {
        const c = await connect(server, { tls: { serverRootCACertificate: certs.read(caFile) } });
        try {
          return await codeOf(c.workflowService.describeNamespace({ namespace: 'default' }));
        } finally {
          await c.close();
        }
      } catch {
        return -1;
      }
    };
    assert.equal(await describeWith('ca.pem'), 0);
    openssl(dir, 'req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'renewed.key',
      '-out', 'renewed.csr', '-subj', '/CN=localhost');
    openssl(dir, 'x509', '-req', '-in', 'renewed.csr', '-CA', 'rogue-ca.pem', '-CAkey', 'rogue-ca.key', '-CAcreateserial',
      '-out', 'renewed.pem', '-days', '2', '-extfile', 'server.ext');
    fs.renameSync(certs.file('renewed.key'), certs.file('live.key'));
    fs.renameSync(certs.file('renewed.pem'), certs.file('live.pem'));
    server.proc.kill('SIGHUP');
    const deadline = Date.now() + 30_000;
    let code = -1;
    while (Date.now() < deadline && code !== 0) {
      code = await describeWith('rogue-ca.pem');
      if (code !== 0) await sleep(500);
    }
    assert.equal(code, 0, 'the renewed certificate was never served');
    assert.notEqual(await describeWith('ca.pem'), 0, 'the old certificate is still served');
    assert.match(server.output, /SIGHUP: the TLS files are valid/);
    // A broken file: SIGHUP says so at once (new handshakes fail until it is fixed).
    const goodKey = fs.readFileSync(certs.file('live.key'));
    fs.writeFileSync(certs.file('live.key'), 'not a key');
    server.proc.kill('SIGHUP');
    const seen = Date.now() + 10_000;
    while (Date.now() < seen && !/SIGHUP: the TLS key .* is not a PEM private key/.test(server.output)) await sleep(100);
    assert.match(server.output, /SIGHUP: the TLS key .* is not a PEM private key/);
    fs.writeFileSync(certs.file('live.key'), goodKey);
    const fixed = Date.now() + 30_000;
    code = -1;
    while (Date.now() < fixed && code !== 0) {
      code = await describeWith('rogue-ca.pem');
      if (code !== 0) await sleep(500);
    }
    assert.equal(code, 0, 'the fixed files were never served');
    assert.ok(server.running);
  }, { timeout: 120_000 });

  eonTest('bad TLS files stop the server with a message naming the file', async () => {
    const dir = makeTempDir();
    try {
      const certs = makeCerts(dir);
      const r = await runEon(['server', 'start-dev', '--port', '0', '--metrics-port', '0', '--headless',
        '--tls-cert-path', certs.file('server.pem'), '--tls-key-path', certs.file('client.key')]);
      assert.equal(r.code, 1, r.output);
      assert.match(r.output, /client\.key is not a PEM private key for the certificate/);
      const missing = await runEon(['server', 'start-dev', '--port', '0', '--metrics-port', '0', '--headless',
        '--tls-cert-path', certs.file('server.pem')]);
      assert.equal(missing.code, 1);
      assert.match(missing.output, /both a certificate/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('authorization', () => {
  eonTest('roles per namespace: allowed and denied, expired, forged and malformed tokens, API keys, the audit log', async (t, scope) => {
    const dir = makeTempDir();
    scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const keys = makeKeys();
    fs.writeFileSync(path.join(dir, 'jwks.json'), JSON.stringify(keys.jwks));
    const workerKey = `worker-key-${crypto.randomBytes(12).toString('hex')}`;
    fs.writeFileSync(path.join(dir, 'auth.json'), JSON.stringify({
      jwks_path: path.join(dir, 'jwks.json'),
      api_keys: [{ key: workerKey, subject: 'ci-worker', permissions: ['default:worker'] }],
    }));
    const auditLog = path.join(dir, 'audit.log');
    const server = scope.track(await EonServer.start({
      extraArgs: ['--auth-config', path.join(dir, 'auth.json'), '--audit-log', auditLog],
    }));

    const as = async (apiKey) => {
      const c = await connect(server, { apiKey });
      scope.add(() => c.close());
      return c.workflowService;
    };
    const reader = await as(keys.sign({ sub: 'rita', permissions: ['default:read'] }));
    const writer = await as(keys.sign({ sub: 'will', permissions: ['default:writer'] }));
    const esWriter = await as(keys.sign({ key: keys.ec.privateKey, kid: 'ec-1', alg: 'ES256', sub: 'eve', permissions: ['default:write'] }));
    const admin = await as(keys.sign({ sub: 'root', permissions: ['temporal-system:admin'] }));
    const nsAdmin = await as(keys.sign({ sub: 'ada', permissions: ['default:admin'] }));
    const otherNs = await as(keys.sign({ sub: 'olga', permissions: ['other:admin'] }));
    const worker = await as(workerKey);
    const anonymous = await as(undefined);

    const describeNs = (svc) => codeOf(svc.describeNamespace({ namespace: 'default' }));
    const start = (svc) => codeOf(svc.startWorkflowExecution(startRequest('auth-tq')));
    const register = (svc, ns) => codeOf(svc.registerNamespace({ namespace: ns, workflowExecutionRetentionPeriod: { seconds: 86400 } }));
    const poll = (svc) => codeOf(Promise.race([
      svc.pollActivityTaskQueue({ namespace: 'default', taskQueue: { name: 'auth-tq' }, identity: 'test' }),
      sleep(1500).then(() => 'parked'),
    ]));

    // Reader: reads, nothing else.
    assert.equal(await describeNs(reader), 0);
    assert.equal(await start(reader), status.PERMISSION_DENIED);
    assert.equal(await poll(reader), status.PERMISSION_DENIED);
    // Worker (API key): polls (the poll parks), may not start.
    assert.equal(await poll(worker), 0);
    assert.equal(await start(worker), status.PERMISSION_DENIED);
    assert.equal(await describeNs(worker), 0);
    // Writer (RS256 and ES256): starts, polls, may not administer.
    assert.equal(await start(writer), 0);
    assert.equal(await start(esWriter), 0);
    assert.equal(await register(writer, 'nope-ns'), status.PERMISSION_DENIED);
    // Admin of default may not create other namespaces; the system admin may.
    assert.equal(await register(nsAdmin, 'ns-by-ada'), status.PERMISSION_DENIED);
    assert.equal(await register(admin, 'ns-by-root'), 0);
    // A token for another namespace is refused on default.
    assert.equal(await describeNs(otherNs), status.PERMISSION_DENIED);
    assert.equal(await start(otherNs), status.PERMISSION_DENIED);
    // Search attributes need admin.
    const opAs = async (apiKey) => {
      const c = await connect(server, { apiKey });
      scope.add(() => c.close());
      return c.operatorService;
    };
    const addAttr = (svc) => codeOf(svc.addSearchAttributes({ namespace: 'default', searchAttributes: { SecAttr: 2 } }));
    assert.equal(await addAttr(await opAs(keys.sign({ sub: 'will', permissions: ['default:writer'] }))), status.PERMISSION_DENIED);
    assert.equal(await addAttr(await opAs(keys.sign({ sub: 'ada', permissions: ['default:admin'] }))), 0);

    // No credential, a bad one: UNAUTHENTICATED. GetSystemInfo stays open (a health check).
    assert.equal(await describeNs(anonymous), status.UNAUTHENTICATED);
    assert.equal(await codeOf(anonymous.getSystemInfo({})), 0);
    const refusedToken = async (token) => describeNs(await as(token));
    assert.equal(await refusedToken(keys.sign({ permissions: ['default:admin'], expInS: -30 })), status.UNAUTHENTICATED);
    assert.equal(await refusedToken(keys.sign({ key: keys.stranger.privateKey, permissions: ['default:admin'] })), status.UNAUTHENTICATED);
    assert.equal(await refusedToken('not.a.jwt'), status.UNAUTHENTICATED);
    assert.equal(await refusedToken('garbage'), status.UNAUTHENTICATED);
    const noneAlg = `${b64url('{"alg":"none"}')}.${b64url(JSON.stringify({ sub: 'x', permissions: ['default:admin'] }))}.`;
    assert.equal(await refusedToken(noneAlg), status.UNAUTHENTICATED);
    const tampered = (() => {
      const [h, , s] = keys.sign({ permissions: ['default:read'] }).split('.');
      return `${h}.${b64url(JSON.stringify({ sub: 'x', permissions: ['temporal-system:admin'] }))}.${s}`;
    })();
    assert.equal(await refusedToken(tampered), status.UNAUTHENTICATED);
    // A huge header: refused (by gRPC's header limit or ours), and the server goes on.
    await assert.rejects(async () => {
      const huge = await connect(server, { metadata: { authorization: `Bearer ${'x'.repeat(64 * 1024)}` } });
      try {
        await huge.workflowService.describeNamespace({ namespace: 'default' });
      } finally {
        await huge.close();
      }
    });
    // gRPC drops the connection that carried it (other clients here share it), then serves on.
    let after = -1;
    for (let i = 0; i < 5 && after !== 0; i++) {
      after = await describeNs(reader);
      if (after !== 0) await sleep(200);
    }
    assert.equal(after, 0);
    assert.ok(server.running);

    // The refusals are in the log, and the audit log says who did what.
    assert.match(server.output, /refused StartWorkflowExecution .*needs the writer role in namespace default/);
    const audit = fs.readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const byRoot = audit.find((e) => e.operation === 'RegisterNamespace' && e.result === 'ok');
    assert.equal(byRoot.caller, 'jwt:root');
    assert.equal(byRoot.namespace, 'ns-by-root');
    assert.ok(audit.some((e) => e.operation === 'RegisterNamespace' && e.caller === 'jwt:ada' && e.result === 'serviceerror_PermissionDenied'));
    assert.ok(audit.some((e) => e.operation === 'AddSearchAttributes' && e.caller === 'jwt:ada' && e.result === 'ok'));
    assert.ok(audit.some((e) => e.operation === 'DescribeNamespace' && e.caller === 'anonymous' && e.result === 'serviceerror_Unauthenticated'));
  }, { timeout: 120_000 });

  eonTest('a worker with the worker role runs workflows a writer starts; terminate is audited', async (t, scope) => {
    const dir = makeTempDir();
    scope.add(() => fs.rmSync(dir, { recursive: true, force: true }));
    const writerKey = `writer-key-${crypto.randomBytes(12).toString('hex')}`;
    const workerKey = `worker-key-${crypto.randomBytes(12).toString('hex')}`;
    fs.writeFileSync(path.join(dir, 'auth.json'), JSON.stringify({
      api_keys: [
        { key: writerKey, subject: 'app', permissions: ['default:writer'] },
        { key: workerKey, subject: 'worker-fleet', permissions: ['default:worker'] },
      ],
    }));
    const auditLog = path.join(dir, 'audit.log');
    const server = scope.track(await EonServer.start({ extraArgs: ['--auth-config', path.join(dir, 'auth.json'), '--audit-log', auditLog] }));
    const connection = await Connection.connect({ address: server.address, metadata: { authorization: `Bearer ${writerKey}` } });
    scope.add(() => connection.close());
    const client = new Client({ connection });
    // The token as a header: the SDK's apiKey option turns TLS on.
    const workerConnection = await NativeConnection.connect({ address: server.address, metadata: { authorization: `Bearer ${workerKey}` } });
    const taskQueue = uniqueId('authw');
    const worker = await Worker.create({ connection: workerConnection, taskQueue, workflowBundle: await workflowBundle(), activities, shutdownGraceTime: '1s' });
    const running = worker.run();
    try {
      assert.equal(await client.workflow.execute('greet', { taskQueue, workflowId: uniqueId('aw'), args: ['worker'] }), 'Hello, worker!');
      const handle = await client.workflow.start('waitForSignal', { taskQueue, workflowId: uniqueId('term') });
      await handle.terminate('audit me');
      const audit = fs.readFileSync(auditLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const term = audit.find((e) => e.operation === 'TerminateWorkflowExecution');
      assert.ok(term, JSON.stringify(audit));
      assert.equal(term.caller, 'api-key:app');
      assert.equal(term.workflow_id, handle.workflowId);
      assert.equal(term.result, 'ok');
    } finally {
      worker.shutdown();
      await withTimeout(running, 30_000, 'worker shutdown');
      await workerConnection.close();
    }
  }, { timeout: 120_000 });
});

describe('rate limits', () => {
  eonTest('per namespace and per caller: RESOURCE_EXHAUSTED with ResourceExhaustedFailure(RPS_LIMIT), then recovery', async (t, scope) => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--namespace-rps', '5', '--caller-rps', '20'] }));
    const c = await connect(server);
    scope.add(() => c.close());
    const burst = async (ns, n) => {
      const errors = [];
      await Promise.all(Array.from({ length: n }, () => c.workflowService.describeNamespace({ namespace: ns }).catch((e) => errors.push(e))));
      return errors;
    };
    const errors = await burst('default', 30);
    assert.ok(errors.length >= 20, `only ${errors.length} of 30 calls were limited`);
    const err = errors[0];
    assert.equal(err.code, status.RESOURCE_EXHAUSTED, String(err));
    assert.match(err.details, /namespace rate limit exceeded/);
    const detail = google.rpc.Status.decode(err.metadata.get('grpc-status-details-bin')[0]);
    assert.equal(detail.details[0].type_url, 'type.googleapis.com/temporal.api.errordetails.v1.ResourceExhaustedFailure');
    const { temporal } = require('@temporalio/proto');
    const failure = temporal.api.errordetails.v1.ResourceExhaustedFailure.decode(detail.details[0].value);
    assert.equal(failure.cause, temporal.api.enums.v1.ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_RPS_LIMIT);
    assert.equal(failure.scope, temporal.api.enums.v1.ResourceExhaustedScope.RESOURCE_EXHAUSTED_SCOPE_NAMESPACE);
    // Recovered a moment later.
    await sleep(1500);
    assert.equal(await codeOf(c.workflowService.describeNamespace({ namespace: 'default' })), 0);
    // The caller's own limit (20/s) holds across namespaces.
    await sleep(1500);
    const namespaces = Array.from({ length: 40 }, (_, i) => `ns-${i}`);
    const callerErrors = [];
    await Promise.all(namespaces.map((ns) => c.workflowService.describeNamespace({ namespace: ns }).catch((e) => callerErrors.push(e))));
    const limited = callerErrors.filter((e) => e.code === status.RESOURCE_EXHAUSTED);
    assert.ok(limited.length >= 10, `only ${limited.length} of 40 calls hit the caller limit`);
    assert.match(limited[0].details, /caller rate limit exceeded/);
    assert.ok(server.running);
  });

  eonTest('a cap on parked polls per task queue: one more poll is refused, a slot frees when a poll ends', async (t, scope) => {
    const server = scope.track(await EonServer.start({ extraArgs: ['--max-parked-polls-per-queue', '2'] }));
    const c = await connect(server);
    scope.add(() => c.close());
    const poll = (queue, ms) => c.withDeadline(Date.now() + ms, () => c.workflowService.pollActivityTaskQueue({
      namespace: 'default', taskQueue: { name: queue }, identity: 'cap-test',
    }));
    const first = codeOf(poll('capped', 3000));
    const second = codeOf(poll('capped', 3000));
    await sleep(500);
    let err;
    await poll('capped', 3000).catch((e) => { err = e; });
    assert.ok(err, 'a third parked poll was accepted');
    assert.equal(err.code, status.RESOURCE_EXHAUSTED);
    assert.match(err.details, /concurrent poller limit exceeded/);
    const { temporal } = require('@temporalio/proto');
    const detail = google.rpc.Status.decode(err.metadata.get('grpc-status-details-bin')[0]);
    const failure = temporal.api.errordetails.v1.ResourceExhaustedFailure.decode(detail.details[0].value);
    assert.equal(failure.cause, temporal.api.enums.v1.ResourceExhaustedCause.RESOURCE_EXHAUSTED_CAUSE_CONCURRENT_LIMIT);
    // Another queue, and the workflow side of the same queue, have their own slots.
    const other = codeOf(poll('other-queue', 1000));
    assert.notEqual(await other, status.RESOURCE_EXHAUSTED);
    // The first two end at their deadline; then a poll is accepted again.
    await first;
    await second;
    assert.notEqual(await codeOf(poll('capped', 1000)), status.RESOURCE_EXHAUSTED);
  });
});
