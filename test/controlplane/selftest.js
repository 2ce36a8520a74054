#!/usr/bin/env node
'use strict';
// Self-test of the control plane: runs server.js as its own process and
// drives it with an independent gRPC client (ads_client.js) and, for h2c
// with a non-grpc-js peer, curl. Prints `ok - ...` / `not ok - ...` and a
// final `N passed, N failed`; exits non-zero on failure.

const { spawn, execFile } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const schema = require('./schema');
const { AdsStream, decode } = require('./ads_client');

const { TYPES } = schema;
const HERE = __dirname;
const SNAPSHOT = path.join(HERE, 'examples', 'snapshot.json');

let passed = 0;
let failed = 0;
function check(name, cond, detail) {
  if (cond) {
    passed++;
    console.log(`ok - ${name}`);
  } else {
    failed++;
    console.log(`not ok - ${name}${detail !== undefined ? `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : ''}`);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- server

function startServer(args = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [path.join(HERE, 'server.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`server did not start: ${stderr}`)); }, 10000);
    const rl = readline.createInterface({ input: proc.stdout });
    rl.on('line', (line) => {
      const m = /^listening ads=(\d+) control=(\d+)$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, ads: Number(m[1]), control: Number(m[2]), line, stderr: () => stderr });
      }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${stderr}`)); });
  });
}

function stopServer(srv, sig = 'SIGTERM') {
  return new Promise((resolve) => {
    if (srv.proc.exitCode !== null || srv.proc.signalCode !== null) return resolve({ code: srv.proc.exitCode, signal: srv.proc.signalCode });
    srv.proc.removeAllListeners('exit');
    const timer = setTimeout(() => srv.proc.kill('SIGKILL'), 5000);
    srv.proc.on('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
    srv.proc.kill(sig);
  });
}

async function ctl(srv, method, p, body) {
  const r = await fetch(`http://127.0.0.1:${srv.control}${p}`, {
    method,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: r.status, body: await r.json() };
}

async function until(fn, ms = 3000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) return v;
    await sleep(25);
  }
}

const names = (resp) => decode(resp).resources.map((r) => r.name || r.cluster_name).sort();

// ---------------------------------------------------------------- tests

async function testSotw(srv) {
  const target = `127.0.0.1:${srv.ads}`;
  const s = new AdsStream(target, 'sotw', { id: 'sidecar~10.0.0.1~pod-a.ns~ns.svc.cluster.local', cluster: 'pod-a' });

  // LDS wildcard
  s.subscribe('LDS');
  const lds = await s.next();
  check('sotw: LDS wildcard subscription answers with every listener', JSON.stringify(names(lds)) === '["inbound-http","outbound-tcp"]', names(lds));
  check('sotw: LDS version_info is the per-type counter (--version-start)', lds.version_info === '1', lds.version_info);
  check('sotw: LDS response carries a nonce and the Listener type URL', lds.nonce !== '' && lds.type_url === TYPES.LDS && lds.resources.every((a) => a.type_url === TYPES.LDS));
  const tcp = decode(lds).resources.find((l) => l.name === 'outbound-tcp');
  const tc = tcp.filter_chains[0].filters[0].typed_config;
  check('sotw: nested typed_config decodes as TcpProxy with the real schema',
    tc['@type'] === 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy' && tc.cluster === 'backend' &&
    tcp.address.socket_address.port_value === 15001, tc);
  const hcm = decode(lds).resources.find((l) => l.name === 'inbound-http').filter_chains[0].filters[0].typed_config;
  check('sotw: HttpConnectionManager with RDS and router filter decodes',
    hcm.rds && hcm.rds.route_config_name === 'routes-a' && hcm.http_filters[0].typed_config['@type'].endsWith('.Router'), hcm);
  s.ack(lds);

  // CDS wildcard
  s.subscribe('CDS');
  const cds = await s.next();
  check('sotw: CDS wildcard subscription answers with every cluster', JSON.stringify(names(cds)) === '["backend","backend-v2"]', names(cds));
  const backend = decode(cds).resources.find((c) => c.name === 'backend');
  check('sotw: Duration "1s" encoded as google.protobuf.Duration', backend.connect_timeout && backend.connect_timeout.seconds === '1', backend);
  s.ack(cds);

  const acks = await until(async () => {
    const a = (await ctl(srv, 'GET', '/acks')).body;
    return a.length >= 2 ? a : null;
  });
  const ldsAck = (acks || []).find((a) => a.type_url === TYPES.LDS);
  check('sotw: LDS ACK recorded with version, nonce and node',
    ldsAck && ldsAck.ack === true && ldsAck.version_info === '1' && ldsAck.response_nonce === lds.nonce &&
    ldsAck.error_detail === null && ldsAck.node.id.startsWith('sidecar~') && ldsAck.node.cluster === 'pod-a', ldsAck);
  check('sotw: CDS ACK recorded', (acks || []).some((a) => a.type_url === TYPES.CDS && a.ack && a.response_nonce === cds.nonce), acks);
  check('sotw: ACK does not trigger another response', await s.quiet(300));

  // RDS / EDS / SDS: only the requested names that exist
  s.subscribe('RDS', ['routes-a', 'routes-missing']);
  const rds = await s.next();
  check('sotw: RDS answers only the requested names that exist', JSON.stringify(names(rds)) === '["routes-a"]', names(rds));
  const canary = decode(rds).resources[0].virtual_hosts[0].routes[0].route.weighted_clusters.clusters;
  check('sotw: weighted clusters decode (wrapper UInt32Value weight)', canary[1].name === 'backend-v2' && canary[1].weight.value === 10, canary);
  s.ack(rds, ['routes-a', 'routes-missing']);
  s.subscribe('EDS', ['backend']);
  const eds = await s.next();
  const cla = decode(eds).resources[0];
  check('sotw: EDS answers the ClusterLoadAssignment', cla && cla.cluster_name === 'backend' && cla.endpoints[0].lb_endpoints.length === 2, cla);
  s.ack(eds, ['backend']);
  s.subscribe('SDS', ['default']);
  const sds = await s.next();
  const sec = decode(sds).resources;
  check('sotw: SDS answers only the requested Secret', sec.length === 1 && sec[0].name === 'default' && sec[0].tls_certificate.certificate_chain.inline_string.includes('BEGIN CERTIFICATE'), sec);
  s.ack(sds, ['default']);
  // Changing the subscription (same nonce) gets a fresh answer.
  s.send({ type_url: 'SDS', resource_names: ['default', 'ROOTCA'], version_info: sds.version_info, response_nonce: sds.nonce });
  const sds2 = await s.next();
  check('sotw: a changed subscription is answered with the new set', JSON.stringify(names(sds2)) === '["ROOTCA","default"]', names(sds2));
  s.ack(sds2, ['default', 'ROOTCA']);
  await until(async () => (await ctl(srv, 'GET', '/acks')).body.some((a) => a.response_nonce === sds2.nonce));

  // Snapshot change pushes a new version; NACK it.
  await ctl(srv, 'POST', '/reset-log');
  const l3 = {
    name: 'outbound-tcp-2',
    address: { socket_address: { address: '127.0.0.1', port_value: 15101 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: schema.pack('envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', { stat_prefix: 'o2', cluster: 'backend-v2' }) }] }],
  };
  // pack() gives {type_url, value: Buffer}; over HTTP the value travels as base64.
  const l3json = JSON.parse(JSON.stringify(l3, (k, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('base64') : v)));
  const post = await ctl(srv, 'PATCH', '/snapshot', { listeners: { 'outbound-tcp-2': l3json } });
  check('control: PATCH /snapshot returns the new LDS version', post.status === 200 && post.body.versions[TYPES.LDS] === '2', post);
  const lds2 = await s.next();
  check('sotw: snapshot change pushes a new version with the added listener',
    lds2.type_url === TYPES.LDS && lds2.version_info === '2' && lds2.nonce !== lds.nonce &&
    JSON.stringify(names(lds2)) === '["inbound-http","outbound-tcp","outbound-tcp-2"]', decode(lds2));
  const tc2 = decode(lds2).resources.find((l) => l.name === 'outbound-tcp-2').filter_chains[0].filters[0].typed_config;
  check('sotw: pack() helper Any decodes as TcpProxy', tc2.cluster === 'backend-v2' && tc2['@type'].endsWith('.TcpProxy'), tc2);
  check('sotw: only the changed type is pushed', await s.quiet(300));
  s.nack(lds2, 'listener outbound-tcp-2: port 15101 not allowed', [], '1');
  const nack = await until(async () => (await ctl(srv, 'GET', '/acks?nack=1')).body[0]);
  check('sotw: NACK recorded with its error_detail message',
    nack && nack.ack === false && nack.type_url === TYPES.LDS && nack.response_nonce === lds2.nonce && nack.version_info === '1' &&
    nack.error_detail.code === 3 && nack.error_detail.message === 'listener outbound-tcp-2: port 15101 not allowed' &&
    nack.response_version === '2' && nack.response_resources.includes('outbound-tcp-2'), nack);

  // A stale nonce is neither an ACK nor answered.
  s.send({ type_url: 'LDS', resource_names: [], version_info: '1', response_nonce: lds.nonce });
  check('sotw: a stale nonce is not answered', await s.quiet(300));
  const acksAfter = (await ctl(srv, 'GET', '/acks')).body;
  check('sotw: a stale nonce is not recorded as an ACK/NACK', acksAfter.length === 1, acksAfter);
  const reqs = (await ctl(srv, 'GET', '/requests')).body;
  check('control: /requests logs raw requests (stale flagged)', reqs.some((r) => r.stale === true && r.request.response_nonce === lds.nonce), reqs.slice(-2));

  // Replacing a non-wildcard type pushes only the subscribed names.
  const eds2body = { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 9001 } } } }] }] };
  const post2 = await ctl(srv, 'POST', '/snapshot', { EDS: [eds2body, { cluster_name: 'unrelated', endpoints: [] }] });
  const eds2 = await s.next();
  check('sotw: EDS change pushes only the subscribed assignment, scaled down',
    post2.status === 200 && eds2.type_url === TYPES.EDS && JSON.stringify(names(eds2)) === '["backend"]' &&
    decode(eds2).resources[0].endpoints[0].lb_endpoints.length === 1, decode(eds2));
  s.ack(eds2, ['backend']);

  const conns = (await ctl(srv, 'GET', '/connections')).body;
  check('control: /connections counts the live stream with its node and subscriptions',
    conns.connections === 1 && conns.streams[0].node.cluster === 'pod-a' && conns.streams[0].types[TYPES.RDS].resource_names.includes('routes-a'), conns);
  s.close();
  const gone = await until(async () => (await ctl(srv, 'GET', '/connections')).body.connections === 0);
  check('control: /connections drops to 0 when the client goes away', gone);
}

async function testDelta(srv) {
  await ctl(srv, 'POST', '/reset-log');
  const target = `127.0.0.1:${srv.ads}`;
  const d = new AdsStream(target, 'delta', { id: 'delta-node', cluster: 'pod-b' });
  d.deltaSubscribe('CDS'); // legacy wildcard: first request with no names
  const c1 = await d.next();
  const dc = decode(c1);
  check('delta: CDS wildcard subscription gets every cluster with a version',
    JSON.stringify(dc.resources.map((r) => r.name).sort()) === '["backend","backend-v2"]' &&
    dc.resources.every((r) => /^[0-9a-f]{16}$/.test(r.version)) && dc.removed_resources.length === 0, dc);
  check('delta: resource decodes as Cluster', dc.resources.find((r) => r.name === 'backend').resource.type === 'EDS', dc.resources);
  d.deltaAck(c1);
  const a1 = await until(async () => (await ctl(srv, 'GET', '/acks?kind=delta')).body[0]);
  check('delta: ACK recorded with the response nonce and node',
    a1 && a1.ack && a1.response_nonce === c1.nonce && a1.node.id === 'delta-node' && a1.response_resources.length === 2, a1);

  d.deltaSubscribe('EDS', ['backend', 'nope']);
  const e1 = await d.next();
  const de = decode(e1);
  check('delta: EDS named subscription gets the existing one, the missing one as removed',
    de.resources.length === 1 && de.resources[0].name === 'backend' && JSON.stringify(de.removed_resources) === '["nope"]', de);
  d.deltaAck(e1);
  check('delta: an ACK is not answered', await d.quiet(300));

  // Change one cluster, remove another: only the difference is sent.
  const snap = (await ctl(srv, 'GET', '/snapshot')).body[TYPES.CDS].resources;
  const backend = Object.assign({}, snap.backend.resource, { connect_timeout: '2s' });
  const p = await ctl(srv, 'POST', '/snapshot', { clusters: { backend } });
  const c2 = await d.next();
  const dc2 = decode(c2);
  check('delta: a removed cluster shows in removed_resources, the changed one is sent alone',
    p.status === 200 && JSON.stringify(dc2.removed_resources) === '["backend-v2"]' && dc2.resources.length === 1 &&
    dc2.resources[0].name === 'backend' && dc2.resources[0].resource.connect_timeout.seconds === '2' &&
    dc2.system_version_info === p.body.versions[TYPES.CDS], dc2);
  d.deltaNack(c2, 'cluster backend: connect_timeout too long');
  const n2 = await until(async () => (await ctl(srv, 'GET', '/acks?kind=delta&nack=1')).body[0]);
  check('delta: NACK recorded with its message and the response it refers to',
    n2 && n2.error_detail.message === 'cluster backend: connect_timeout too long' && n2.response_nonce === c2.nonce &&
    JSON.stringify(n2.removed_resources) === '["backend-v2"]', n2);

  // Unsubscribe from EDS: nothing more for it.
  d.deltaSubscribe('EDS', [], ['backend'], {}, e1.nonce);
  await d.quiet(200);
  await ctl(srv, 'PATCH', '/snapshot', { EDS: { backend: { cluster_name: 'backend', endpoints: [] } } });
  check('delta: no push for an unsubscribed resource', await d.quiet(300));
  const keep = Object.fromEntries(dc2.resources.map((r) => [r.name, r.version]));
  d.close();

  // Reconnect with initial_resource_versions: only what differs is sent.
  const d2 = new AdsStream(target, 'delta', { id: 'delta-node', cluster: 'pod-b' });
  d2.deltaSubscribe('CDS', ['*'], [], Object.assign({ 'old-cluster': 'x' }, keep));
  const r1 = decode(await d2.next());
  check('delta: reconnect with current versions resends nothing unchanged, removes what is gone',
    r1.resources.length === 0 && JSON.stringify(r1.removed_resources) === '["old-cluster"]', r1);
  d2.close();
  const d3 = new AdsStream(target, 'delta');
  d3.deltaSubscribe('CDS', ['*'], [], { backend: 'stale-version' });
  const r3 = decode(await d3.next());
  check('delta: reconnect with an old version gets the current resource', r3.resources.length === 1 && r3.resources[0].name === 'backend', r3);
  d3.close();
}

async function testControl(srv) {
  const before = (await ctl(srv, 'GET', '/snapshot')).body;
  const bad = await ctl(srv, 'POST', '/snapshot', {
    LDS: { x: { name: 'x', adress: {} } },
  });
  check('control: a misspelt field is rejected with its path', bad.status === 400 && /adress/.test(bad.body.error), bad);
  const bad2 = await ctl(srv, 'POST', '/snapshot', {
    CDS: { ok: { name: 'ok' } }, LDS: { x: { name: 'x', filter_chains: [{ filters: [{ name: 'f', typed_config: { '@type': 'type.googleapis.com/no.Such' } }] }] } },
  });
  const after = (await ctl(srv, 'GET', '/snapshot')).body;
  check('control: a bad resource rejects the whole body, nothing applied',
    bad2.status === 400 && /no\.Such/.test(bad2.body.error) && JSON.stringify(before) === JSON.stringify(after), bad2);
  const raw = await ctl(srv, 'PATCH', '/snapshot', { CDS: { garbage: { '@raw': Buffer.from([0xff, 0xff, 0xff]).toString('base64') } } });
  check('control: {"@raw": base64} stores undecodable bytes for malformed-input tests', raw.status === 200, raw);
  const s = new AdsStream(`127.0.0.1:${srv.ads}`, 'sotw');
  s.subscribe('CDS');
  const r = await s.next();
  const g = r.resources.find((a) => a.type_url === TYPES.CDS && Buffer.from(a.value).equals(Buffer.from([0xff, 0xff, 0xff])));
  check('sotw: the raw resource is sent as is', !!g, r.resources.length);
  await ctl(srv, 'PATCH', '/snapshot', { CDS: { garbage: null } });
  await s.next();
  const disc = await ctl(srv, 'POST', '/disconnect');
  let status = null;
  try {
    for (;;) await s.next(2000);
  } catch (_) {
    status = s.status;
  }
  check('control: /disconnect ends live streams with UNAVAILABLE', disc.body.disconnected === 1 && status && status.code === 14, { disc: disc.body, status });
  s.cancel();
}

// A non-grpc-js HTTP/2 client over h2c with prior knowledge (what skiff's
// nghttp2 client does): curl sends one framed DiscoveryRequest and half-closes.
async function testH2c(srv) {
  const Req = schema.lookupType('envoy.service.discovery.v3.DiscoveryRequest');
  const Resp = schema.lookupType('envoy.service.discovery.v3.DiscoveryResponse');
  const msg = Buffer.from(Req.encode(Req.fromObject({ type_url: TYPES.LDS, node: { id: 'curl' } })).finish());
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cp-h2c-'));
  fs.writeFileSync(path.join(dir, 'req'), frame);
  const out = path.join(dir, 'resp');
  const res = await new Promise((resolve) => {
    execFile('curl', ['-sS', '--http2-prior-knowledge', '-m', '5', '-X', 'POST',
      '-H', 'content-type: application/grpc', '-H', 'te: trailers',
      '--data-binary', `@${path.join(dir, 'req')}`, '-o', out, '-D', '-',
      `http://127.0.0.1:${srv.ads}/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources`],
    (err, stdout, stderr) => resolve({ err, stdout, stderr }));
  });
  let decoded = null;
  try {
    const body = fs.readFileSync(out);
    const len = body.readUInt32BE(1);
    decoded = Resp.decode(body.subarray(5, 5 + len));
  } catch (e) {
    decoded = null;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  check('h2c: curl --http2-prior-knowledge gets a framed DiscoveryResponse and grpc-status 0',
    !res.err && /^HTTP\/2 200/m.test(res.stdout) && /grpc-status: 0/.test(res.stdout) && decoded && decoded.type_url === TYPES.LDS && decoded.resources.length >= 2,
    { err: res.err && res.err.message, head: res.stdout, stderr: res.stderr });
}

async function testRestart() {
  const srv = await startServer(['--snapshot', SNAPSHOT]);
  const port = srv.ads;
  const s = new AdsStream(`127.0.0.1:${port}`, 'delta');
  s.deltaSubscribe('LDS');
  const v1 = decode(await s.next()).resources.map((r) => `${r.name}@${r.version}`).sort();
  const t0 = Date.now();
  const st = await stopServer(srv, 'SIGTERM');
  check('lifecycle: SIGTERM exits cleanly and promptly', st.code === 0 && Date.now() - t0 < 3000, st);
  let ended = false;
  try {
    await s.next(2000);
  } catch (_) {
    ended = true;
  }
  check('lifecycle: the client sees its stream end', ended && s.status && s.status.code !== 0, s.status);
  s.cancel();
  const srv2 = await startServer(['--snapshot', SNAPSHOT, '--ads-port', String(port), '--version-start', '10']);
  check('lifecycle: restarts on the same ADS port with the same snapshot', srv2.ads === port, srv2.line);
  const s2 = new AdsStream(`127.0.0.1:${port}`, 'delta');
  s2.deltaSubscribe('LDS');
  const r2 = decode(await s2.next());
  const v2 = r2.resources.map((r) => `${r.name}@${r.version}`).sort();
  check('lifecycle: resource versions are stable across a restart (content hashes)', JSON.stringify(v1) === JSON.stringify(v2), { v1, v2 });
  check('lifecycle: --version-start sets the first version_info', r2.system_version_info === '10', r2.system_version_info);
  s2.cancel();
  await stopServer(srv2);
}

async function main() {
  let srv;
  try {
    srv = await startServer(['--snapshot', SNAPSHOT]);
    check('server prints `listening ads=PORT control=PORT`', srv.ads > 0 && srv.control > 0, srv.line);
    for (const t of [testSotw, testDelta, testControl, testH2c]) {
      try {
        await t(srv);
      } catch (e) {
        check(`${t.name} ran to the end`, false, e.stack);
      }
    }
  } catch (e) {
    check('server starts', false, e.message);
  } finally {
    if (srv) await stopServer(srv);
  }
  try {
    await testRestart();
  } catch (e) {
    check('testRestart ran to the end', false, e.stack);
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main();
