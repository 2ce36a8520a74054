#!/usr/bin/env node
'use strict';
// A small scriptable Envoy v3 ADS control plane for skiff's tests.
//
//   node server.js [--ads-port N] [--control-port N] [--host 127.0.0.1]
//                  [--snapshot FILE] [--version-start N] [--verbose]
//                  [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]
//
// Serves envoy.service.discovery.v3.AggregatedDiscoveryService (state of the
// world and incremental) over plaintext HTTP/2 (h2c, prior knowledge), or
// over TLS with --tls-cert/--tls-key (mutual TLS with --tls-ca: clients must
// present a certificate of that CA), and a JSON control API over HTTP/1.1
// (see README.md). Prints
// `listening ads=PORT control=PORT` once both are bound.

const fs = require('fs');
const http = require('http');
const grpc = require('@grpc/grpc-js');
const schema = require('./schema');

const { TYPES, PUSH_ORDER, WILDCARD_TYPES } = schema;

// ---------------------------------------------------------------- options

function parseArgs(argv) {
  const o = { adsPort: 0, controlPort: 0, host: '127.0.0.1', snapshot: null, versionStart: 1, verbose: false,
    tlsCert: null, tlsKey: null, tlsCa: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    const int = () => {
      const v = val();
      if (!/^\d+$/.test(v)) usage(`${a}: not a number: ${v}`);
      return Number(v);
    };
    switch (a) {
      case '--ads-port': o.adsPort = int(); break;
      case '--control-port': o.controlPort = int(); break;
      case '--host': o.host = val(); break;
      case '--snapshot': o.snapshot = val(); break;
      case '--version-start': o.versionStart = int(); break;
      case '--verbose': case '-v': o.verbose = true; break;
      case '--tls-cert': o.tlsCert = val(); break;
      case '--tls-key': o.tlsKey = val(); break;
      case '--tls-ca': o.tlsCa = val(); break;
      case '--help': case '-h': usage(null); break;
      default: usage(`unknown argument ${a}`);
    }
  }
  if (!o.tlsCert !== !o.tlsKey) usage('--tls-cert and --tls-key go together');
  if (o.tlsCa && !o.tlsCert) usage('--tls-ca needs --tls-cert and --tls-key');
  return o;
}

function usage(err) {
  const text = 'usage: node server.js [--ads-port N] [--control-port N] [--host ADDR]\n' +
    '                      [--snapshot FILE] [--version-start N] [--verbose]\n' +
    '                      [--tls-cert FILE --tls-key FILE [--tls-ca FILE]]\n' +
    '  ports default to 0 (any free port); the line `listening ads=P control=P` tells them.\n';
  if (err) {
    process.stderr.write(`server.js: ${err}\n${text}`);
    process.exit(2);
  }
  process.stdout.write(text);
  process.exit(0);
}

const opts = parseArgs(process.argv.slice(2));
const log = (...a) => { if (opts.verbose) process.stderr.write(`[cp] ${a.join(' ')}\n`); };

// ---------------------------------------------------------------- snapshot

// typeUrl -> Map(name -> {obj, any, version})
const resources = new Map();
// typeUrl -> counter (version_info / system_version_info)
const typeVersions = new Map();

function typeVersion(t) {
  if (!typeVersions.has(t)) typeVersions.set(t, opts.versionStart);
  return String(typeVersions.get(t));
}

// Istio keys an Address by what it holds: a workload's uid, a service's
// "namespace/hostname".
function resourceName(typeUrl, obj) {
  if (!obj || typeof obj !== 'object') return undefined;
  if (typeUrl === TYPES.WDS) {
    if (obj.workload) return obj.workload.uid;
    return obj.service ? `${obj.service.namespace}/${obj.service.hostname}` : undefined;
  }
  return typeUrl === TYPES.EDS ? obj.cluster_name : obj.name;
}

// Body: {type: {name: resource, ...} | [resource, ...], ...}. Types are type
// URLs or aliases (LDS, clusters, ...). With merge, a null resource deletes
// that name and others are upserted; without, each given type is replaced
// whole. Everything is encoded before anything changes: a bad resource
// rejects the whole body. Returns the list of changed types.
function applySnapshot(body, merge) {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new Error('snapshot must be a JSON object {type_url: {name: resource}}');
  const staged = new Map();
  for (const [rawType, set] of Object.entries(body)) {
    const t = schema.normalizeTypeUrl(rawType);
    if (staged.has(t)) throw new Error(`type ${t} given twice`);
    const entries = [];
    if (Array.isArray(set)) {
      set.forEach((obj, i) => {
        const n = resourceName(t, obj);
        if (typeof n !== 'string') throw new Error(`${rawType}[${i}]: no name (give a {name: resource} map instead)`);
        entries.push([n, obj]);
      });
    } else if (set && typeof set === 'object') {
      entries.push(...Object.entries(set));
    } else if (set !== null) {
      throw new Error(`${rawType}: expected {name: resource} or [resource]`);
    }
    const m = merge ? new Map(resources.get(t) || []) : new Map();
    for (const [name, obj] of entries) {
      if (obj === null) {
        if (!merge) throw new Error(`${rawType}/${name}: null resource (only PATCH deletes)`);
        m.delete(name);
        continue;
      }
      let enc;
      try {
        enc = schema.encodeResource(t, name, obj);
      } catch (e) {
        throw new Error(`${rawType}/${name}: ${e.message}`);
      }
      m.set(name, { obj, any: enc.any, version: enc.version });
    }
    staged.set(t, m);
  }
  for (const [t, m] of staged) {
    resources.set(t, m);
    typeVersions.set(t, Number(typeVersion(t)) + 1);
  }
  const changed = [...staged.keys()];
  changed.sort((a, b) => orderOf(a) - orderOf(b));
  return changed;
}

function orderOf(t) {
  const i = PUSH_ORDER.indexOf(t);
  return i < 0 ? PUSH_ORDER.length : i;
}

function snapshotView() {
  const out = {};
  for (const [t, m] of resources) {
    const rs = {};
    for (const [n, r] of m) rs[n] = { version: r.version, resource: r.obj };
    out[t] = { version_info: typeVersion(t), resources: rs };
  }
  return out;
}

// ---------------------------------------------------------------- logs

const MAX_LOG = 20000;
let seq = 0;
let acks = [];
let requests = [];
let responses = [];

function push(list, entry) {
  entry.seq = ++seq;
  entry.time = new Date().toISOString();
  list.push(entry);
  if (list.length > MAX_LOG) list.splice(0, list.length - MAX_LOG);
  return entry;
}

function nodeSummary(node) {
  return node ? { id: node.id || '', cluster: node.cluster || '' } : null;
}

function errorDetail(ed) {
  if (!ed) return null;
  return { code: ed.code || 0, message: ed.message || '' };
}

// ---------------------------------------------------------------- streams

let nextStreamId = 1;
let nonceCounter = 0;
const streams = new Map(); // id -> Stream

function newNonce() {
  return String(++nonceCounter);
}

const CONTROL_PLANE = { identifier: 'skiff-test-controlplane' };

class Stream {
  constructor(kind, call) {
    this.id = nextStreamId++;
    this.kind = kind; // 'sotw' | 'delta'
    this.call = call;
    this.node = null;
    this.peer = call.getPeer();
    this.opened = new Date().toISOString();
    this.types = new Map(); // typeUrl -> per-type state
    this.closed = false;
  }
  send(msg) {
    if (this.closed) return;
    try {
      this.call.write(msg);
    } catch (e) {
      log(`stream ${this.id}: write failed: ${e.message}`);
    }
  }
  view() {
    const types = {};
    for (const [t, s] of this.types) {
      types[t] = this.kind === 'sotw'
        ? { wildcard: s.wildcard, resource_names: [...s.names], last_version: s.lastVersion, last_nonce: s.lastNonce, acked_version: s.ackedVersion }
        : { wildcard: s.wildcard, subscribed: [...s.subscribed], client_versions: Object.fromEntries(s.client), last_nonce: s.lastNonce };
    }
    return { id: this.id, kind: this.kind, peer: this.peer, opened: this.opened, node: this.node, types };
  }
}

function attach(kind, call, onRequest) {
  const st = new Stream(kind, call);
  streams.set(st.id, st);
  log(`stream ${st.id} (${kind}) opened from ${st.peer}`);
  const close = (why) => {
    if (st.closed) return;
    st.closed = true;
    streams.delete(st.id);
    log(`stream ${st.id} closed: ${why}`);
  };
  call.on('data', (req) => {
    try {
      onRequest(st, req);
    } catch (e) {
      process.stderr.write(`[cp] stream ${st.id}: error handling request: ${e.stack}\n`);
    }
  });
  call.on('end', () => {
    close('client half-closed');
    call.end();
  });
  call.on('cancelled', () => close('cancelled'));
  call.on('error', (e) => close(`error ${e.message}`));
  call.on('close', () => close('closed'));
}

// ---- state of the world

function sotwSelect(t, s) {
  const m = resources.get(t) || new Map();
  if (s.wildcard) return [...m.entries()].map(([name, r]) => ({ name, r }));
  const out = [];
  for (const n of s.names) if (m.has(n)) out.push({ name: n, r: m.get(n) });
  return out;
}

function sotwRespond(st, t) {
  const s = st.types.get(t);
  if (!s.wildcard && s.names.size === 0) return; // nothing subscribed
  const sel = sotwSelect(t, s);
  const msg = {
    version_info: typeVersion(t),
    resources: sel.map((e) => e.r.any),
    type_url: t,
    nonce: newNonce(),
    control_plane: CONTROL_PLANE,
  };
  s.lastNonce = msg.nonce;
  s.lastVersion = msg.version_info;
  s.sent.set(msg.nonce, { version: msg.version_info, names: sel.map((e) => e.name) });
  if (s.sent.size > 64) s.sent.delete(s.sent.keys().next().value);
  push(responses, {
    stream: st.id, kind: 'sotw', type_url: t, version_info: msg.version_info, nonce: msg.nonce,
    resource_names: sel.map((e) => e.name),
  });
  log(`stream ${st.id} -> ${short(t)} v${msg.version_info} nonce ${msg.nonce} [${sel.map((e) => e.name).join(',')}]`);
  st.send(msg);
}

function onSotwRequest(st, req) {
  if (req.node && !st.node) st.node = nodeSummary(req.node);
  const t = req.type_url;
  const names = req.resource_names || [];
  let s = st.types.get(t);
  const nonce = req.response_nonce || '';
  const stale = !!(s && nonce && nonce !== s.lastNonce);
  push(requests, { stream: st.id, kind: 'sotw', stale, request: req });
  log(`stream ${st.id} <- ${short(t)} v${req.version_info} nonce ${nonce}${req.error_detail ? ' NACK' : ''} [${names.join(',')}]${stale ? ' (stale)' : ''}`);
  if (!t) return;

  if (s && nonce && !stale) {
    const sent = s.sent.get(nonce) || {};
    const nack = !!req.error_detail;
    push(acks, {
      stream: st.id, kind: 'sotw', type_url: t, ack: !nack,
      version_info: req.version_info, response_nonce: nonce,
      error_detail: errorDetail(req.error_detail), resource_names: names,
      response_version: sent.version, response_resources: sent.names || [],
      node: st.node,
    });
    if (!nack) s.ackedVersion = req.version_info;
  }
  if (stale) return; // superseded by a response the client has not seen yet

  const wildcard = WILDCARD_TYPES.has(t) && (names.length === 0 || names.includes('*'));
  const nameSet = new Set(names.filter((n) => n !== '*'));
  if (!s) {
    s = { wildcard, names: nameSet, lastNonce: null, lastVersion: null, ackedVersion: null, sent: new Map() };
    st.types.set(t, s);
    sotwRespond(st, t);
    return;
  }
  const changed = wildcard !== s.wildcard || nameSet.size !== s.names.size || [...nameSet].some((n) => !s.names.has(n));
  s.wildcard = wildcard;
  s.names = nameSet;
  if (changed || !nonce) sotwRespond(st, t);
}

// ---- incremental

function deltaRespond(st, t, force) {
  const s = st.types.get(t);
  const m = resources.get(t) || new Map();
  const scope = new Set(s.subscribed);
  if (s.wildcard) for (const n of m.keys()) scope.add(n);
  const out = [];
  const removed = [];
  for (const n of scope) {
    const r = m.get(n);
    if (r) {
      if (s.client.get(n) !== r.version) out.push({ name: n, r });
    } else if (s.client.has(n) || s.notFound.has(n)) {
      removed.push(n);
    }
  }
  // Names the client holds that are no longer in scope or gone (wildcard).
  for (const n of s.client.keys()) if (!scope.has(n) && !removed.includes(n)) removed.push(n);
  s.notFound.clear();
  if (out.length === 0 && removed.length === 0 && !force) return;
  if (!s.wildcard && s.subscribed.size === 0 && out.length === 0 && removed.length === 0) return;
  const msg = {
    system_version_info: typeVersion(t),
    resources: out.map((e) => ({ name: e.name, version: e.r.version, resource: e.r.any, aliases: [] })),
    type_url: t,
    removed_resources: removed,
    nonce: newNonce(),
    control_plane: CONTROL_PLANE,
  };
  for (const e of out) s.client.set(e.name, e.r.version);
  for (const n of removed) s.client.delete(n);
  s.lastNonce = msg.nonce;
  s.sent.set(msg.nonce, { version: msg.system_version_info, names: out.map((e) => e.name), removed });
  if (s.sent.size > 64) s.sent.delete(s.sent.keys().next().value);
  push(responses, {
    stream: st.id, kind: 'delta', type_url: t, system_version_info: msg.system_version_info, nonce: msg.nonce,
    resource_names: out.map((e) => e.name), resource_versions: Object.fromEntries(out.map((e) => [e.name, e.r.version])),
    removed_resources: removed,
  });
  log(`stream ${st.id} => ${short(t)} v${msg.system_version_info} nonce ${msg.nonce} +[${out.map((e) => e.name).join(',')}] -[${removed.join(',')}]`);
  st.send(msg);
}

function onDeltaRequest(st, req) {
  if (req.node && !st.node) st.node = nodeSummary(req.node);
  const t = req.type_url;
  const sub = req.resource_names_subscribe || [];
  const unsub = req.resource_names_unsubscribe || [];
  const nonce = req.response_nonce || '';
  let s = st.types.get(t);
  push(requests, { stream: st.id, kind: 'delta', request: req });
  log(`stream ${st.id} <= ${short(t)} nonce ${nonce}${req.error_detail ? ' NACK' : ''} +[${sub.join(',')}] -[${unsub.join(',')}]`);
  if (!t) return;

  const first = !s;
  if (first) {
    s = {
      wildcard: WILDCARD_TYPES.has(t) && sub.length === 0,
      subscribed: new Set(),
      client: new Map(Object.entries(req.initial_resource_versions || {})),
      notFound: new Set(),
      lastNonce: null,
      sent: new Map(),
    };
    st.types.set(t, s);
  }
  for (const n of sub) {
    if (n === '*') { s.wildcard = true; continue; }
    s.subscribed.add(n);
    if (!(resources.get(t) || new Map()).has(n) && !s.client.has(n)) s.notFound.add(n);
  }
  for (const n of unsub) {
    if (n === '*') { s.wildcard = false; continue; }
    s.subscribed.delete(n);
    s.client.delete(n); // the client drops what it unsubscribes from
  }

  if (nonce && s.sent.has(nonce)) {
    const sent = s.sent.get(nonce);
    const nack = !!req.error_detail;
    push(acks, {
      stream: st.id, kind: 'delta', type_url: t, ack: !nack,
      version_info: sent.version, response_nonce: nonce,
      error_detail: errorDetail(req.error_detail), resource_names: sub,
      resource_names_unsubscribe: unsub,
      response_version: sent.version, response_resources: sent.names, removed_resources: sent.removed,
      node: st.node,
    });
    s.sent.delete(nonce);
  }
  // First request of a type: always answer (an empty answer tells the client
  // that nothing exists yet); later, only what changed.
  deltaRespond(st, t, first);
}

function short(t) {
  return t ? t.slice(t.lastIndexOf('.') + 1) : '?';
}

// Pushes a changed type to every stream interested in it.
function pushType(t) {
  for (const st of streams.values()) {
    if (!st.types.has(t)) continue;
    if (st.kind === 'sotw') sotwRespond(st, t);
    else deltaRespond(st, t, false);
  }
}

function disconnectAll(code, message) {
  let n = 0;
  for (const st of [...streams.values()]) {
    n++;
    st.closed = true;
    streams.delete(st.id);
    try {
      st.call.emit('error', { code, details: message });
    } catch (_) {
      try { st.call.end(); } catch (__) { /* gone */ }
    }
  }
  return n;
}

// ---------------------------------------------------------------- gRPC

const proto = grpc.loadPackageDefinition(schema.packageDefinition);
const ADS = proto.envoy.service.discovery.v3.AggregatedDiscoveryService;

const grpcServer = new grpc.Server({
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc.max_send_message_length': -1,
  'grpc.keepalive_permit_without_calls': 1,
});
grpcServer.addService(ADS.service, {
  StreamAggregatedResources: (call) => attach('sotw', call, onSotwRequest),
  DeltaAggregatedResources: (call) => attach('delta', call, onDeltaRequest),
});

// ---------------------------------------------------------------- control API

function jsonReplacer(_k, v) {
  if (v && v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data).toString('base64');
  return v;
}

function reply(res, code, obj) {
  const body = JSON.stringify(obj, jsonReplacer);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (!text.trim()) return resolve({});
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new Error(`bad JSON: ${e.message}`));
      }
    });
    req.on('error', reject);
  });
}

function filterLog(list, q) {
  let out = list;
  const since = Number(q.get('since') || 0);
  if (since) out = out.filter((e) => e.seq > since);
  if (q.get('type_url')) {
    const t = schema.normalizeTypeUrl(q.get('type_url'));
    out = out.filter((e) => e.type_url === t || (e.request && e.request.type_url === t));
  }
  if (q.get('stream')) out = out.filter((e) => String(e.stream) === q.get('stream'));
  if (q.get('kind')) out = out.filter((e) => e.kind === q.get('kind'));
  if (q.get('nack') === '1') out = out.filter((e) => e.ack === false);
  if (q.get('nack') === '0') out = out.filter((e) => e.ack === true);
  return out;
}

async function handleControl(req, res) {
  const url = new URL(req.url, 'http://control');
  const q = url.searchParams;
  const route = `${req.method} ${url.pathname.replace(/\/+$/, '') || '/'}`;
  try {
    switch (route) {
      case 'GET /':
      case 'GET /healthz':
        return reply(res, 200, { ok: true });
      case 'POST /snapshot':
      case 'PUT /snapshot':
      case 'PATCH /snapshot': {
        const body = await readJson(req);
        const changed = applySnapshot(body, req.method === 'PATCH');
        for (const t of changed) pushType(t);
        const versions = {};
        for (const t of changed) versions[t] = typeVersion(t);
        return reply(res, 200, { versions });
      }
      case 'GET /snapshot':
        return reply(res, 200, snapshotView());
      case 'GET /acks':
        return reply(res, 200, filterLog(acks, q));
      case 'GET /requests':
        return reply(res, 200, filterLog(requests, q));
      case 'GET /responses':
        return reply(res, 200, filterLog(responses, q));
      case 'POST /reset-log':
        acks = [];
        requests = [];
        responses = [];
        return reply(res, 200, { ok: true, seq });
      case 'GET /connections':
        return reply(res, 200, { connections: streams.size, streams: [...streams.values()].map((s) => s.view()) });
      case 'POST /disconnect': {
        const n = disconnectAll(grpc.status.UNAVAILABLE, 'disconnected by the test control plane');
        return reply(res, 200, { disconnected: n });
      }
      default:
        return reply(res, 404, { error: `no such endpoint: ${route}` });
    }
  } catch (e) {
    return reply(res, 400, { error: e.message });
  }
}

const controlServer = http.createServer((req, res) => {
  handleControl(req, res).catch((e) => reply(res, 500, { error: e.message }));
});

// ---------------------------------------------------------------- start / stop

function fatal(msg) {
  process.stderr.write(`server.js: ${msg}\n`);
  process.exit(1);
}

if (opts.snapshot) {
  let body;
  try {
    body = JSON.parse(fs.readFileSync(opts.snapshot, 'utf8'));
  } catch (e) {
    fatal(`--snapshot ${opts.snapshot}: ${e.message}`);
  }
  try {
    applySnapshot(body, false);
  } catch (e) {
    fatal(`--snapshot ${opts.snapshot}: ${e.message}`);
  }
  // A preloaded snapshot starts at --version-start, not one past it.
  for (const t of resources.keys()) typeVersions.set(t, opts.versionStart);
}

// TLS (PEM files): with a CA, clients must present a certificate it signed.
function adsCredentials() {
  if (!opts.tlsCert) return grpc.ServerCredentials.createInsecure();
  try {
    const ca = opts.tlsCa ? fs.readFileSync(opts.tlsCa) : null;
    const pair = { cert_chain: fs.readFileSync(opts.tlsCert), private_key: fs.readFileSync(opts.tlsKey) };
    return grpc.ServerCredentials.createSsl(ca, [pair], !!ca);
  } catch (e) {
    fatal(`TLS files: ${e.message}`);
  }
}

grpcServer.bindAsync(`${opts.host}:${opts.adsPort}`, adsCredentials(), (err, adsPort) => {
  if (err) fatal(`cannot bind ADS on ${opts.host}:${opts.adsPort}: ${err.message}`);
  controlServer.on('error', (e) => fatal(`cannot bind control API on ${opts.host}:${opts.controlPort}: ${e.message}`));
  controlServer.listen(opts.controlPort, opts.host, () => {
    process.stdout.write(`listening ads=${adsPort} control=${controlServer.address().port}\n`);
  });
});

let stopping = false;
function stop(sig) {
  if (stopping) return;
  stopping = true;
  log(`${sig}: stopping`);
  controlServer.close();
  controlServer.closeAllConnections && controlServer.closeAllConnections();
  disconnectAll(grpc.status.UNAVAILABLE, 'control plane shutting down');
  grpcServer.forceShutdown();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
