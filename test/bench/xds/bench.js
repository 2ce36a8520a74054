#!/usr/bin/env node
'use strict';
// Drives one xDS apply benchmark against a running skiff and control plane
// (test/controlplane/server.js), and prints one JSON line of results.
//
//   node bench.js --control PORT --admin PORT --pid SKIFF_PID [--routes N]
//                 [--clusters N] [--endpoints-per-cluster N]
//
// 1. Pushes the whole configuration (POST /snapshot): N clusters (EDS), their
//    assignments (endpoints-per-cluster each), one listener with an
//    http_connection_manager on RDS, and one route configuration of N routes
//    over 100 virtual hosts, spread over the clusters.
// 2. Waits until skiff has ACKed the pushed version of every type with every
//    resource (the control plane's /acks), and takes the apply time: from the
//    first response the control plane sent for this push to the last ACK, by
//    the control plane's own clock (/responses and /acks times).
// 3. Does the same for a one-endpoint change (PATCH one assignment).
// 4. Reads skiff's VmRSS from /proc/PID/status before, after 2 and after 3.

const fs = require('fs');
const http = require('http');

function args(argv) {
  const o = { routes: 10000, clusters: 1000, eps: 10 };
  for (let i = 0; i < argv.length; i += 2) {
    const v = argv[i + 1];
    switch (argv[i]) {
      case '--control': o.control = Number(v); break;
      case '--admin': o.admin = Number(v); break;
      case '--pid': o.pid = Number(v); break;
      case '--routes': o.routes = Number(v); break;
      case '--clusters': o.clusters = Number(v); break;
      case '--endpoints-per-cluster': o.eps = Number(v); break;
      case '--listen': o.listen = Number(v); break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  if (!o.control || !o.pid || !o.admin) throw new Error('--control, --admin and --pid are required');
  return o;
}

const opts = args(process.argv.slice(2));
const LDS = 'type.googleapis.com/envoy.config.listener.v3.Listener';
const RDS = 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration';
const CDS = 'type.googleapis.com/envoy.config.cluster.v3.Cluster';
const EDS = 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment';

function call(method, port, path, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const req = http.request({ host: '127.0.0.1', port, path, method,
      headers: data ? { 'content-type': 'application/json', 'content-length': data.length } : {} },
    (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (res.statusCode !== 200) return reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 300)}`));
        try { resolve(JSON.parse(text)); } catch (_) { resolve(text); }
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function rssKiB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : 0;
}

// ---- the configuration

const clusterName = (i) => `svc-${i}`;

function endpoints(name, n, base) {
  const lb = [];
  for (let j = 0; j < n; j++) {
    // 10.x.y.z: distinct addresses, never dialled (nothing sends traffic)
    const k = base + j;
    lb.push({ endpoint: { address: { socket_address: {
      address: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`, port_value: 8080 } } } });
  }
  return { cluster_name: name, endpoints: [{ lb_endpoints: lb }] };
}

function configuration() {
  const clusters = {};
  const assignments = {};
  for (let i = 0; i < opts.clusters; i++) {
    const n = clusterName(i);
    clusters[n] = { name: n, type: 'EDS', connect_timeout: '1s',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: n } };
    assignments[n] = endpoints(n, opts.eps, i * opts.eps);
  }
  const vhosts = [];
  const perHost = Math.ceil(opts.routes / 100);
  for (let v = 0, r = 0; r < opts.routes; v++) {
    const routes = [];
    for (let k = 0; k < perHost && r < opts.routes; k++, r++) {
      routes.push({ match: { prefix: `/api/v${k}/item-${r}` },
        route: { cluster: clusterName(r % opts.clusters), timeout: '5s' } });
    }
    vhosts.push({ name: `host-${v}`, domains: [`host-${v}.bench.svc`, `host-${v}.bench.svc:8080`], routes });
  }
  const routeConfig = { name: 'bench', virtual_hosts: vhosts };
  const listener = {
    name: 'bench-http',
    address: { socket_address: { address: '127.0.0.1', port_value: opts.listen || 19080 } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
      stat_prefix: 'bench', rds: { config_source: { ads: {}, resource_api_version: 'V3' }, route_config_name: 'bench' },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }] } }] }],
  };
  return { clusters, endpoints: assignments, listeners: { 'bench-http': listener }, routes: { bench: routeConfig } };
}

// ---- waiting for the ACKs

// Every type of `want` ({type_url: {version, count}}) ACKed at that version
// with `count` resources (Delta sends only what changed: summed over the
// ACKs of that version; SotW: the largest response). Returns the last such
// ACK's time, or throws on a NACK.
async function waitAcks(since, want, timeoutMs) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const acks = await call('GET', opts.control, `/acks?since=${since}`);
    const nack = acks.find((a) => !a.ack);
    if (nack) throw new Error(`NACK: ${JSON.stringify(nack.error_detail)}`);
    let last = 0;
    let done = true;
    for (const [t, w] of Object.entries(want)) {
      const mine = acks.filter((a) => a.type_url === t && a.response_version === w.version);
      const names = new Set();
      for (const a of mine) for (const n of a.response_resources || []) names.add(n);
      if (names.size < w.count) { done = false; break; }
      for (const a of mine) last = Math.max(last, Date.parse(a.time));
    }
    if (done) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ACKs of ${JSON.stringify(want)}`);
    await sleep(20);
  }
}

async function firstResponseTime(since) {
  const rs = await call('GET', opts.control, `/responses?since=${since}`);
  if (!rs.length) throw new Error('no response was sent');
  return Date.parse(rs[0].time);
}

async function settle() {
  // Let skiff free the snapshots it replaced (workers move past them) before
  // RSS is read.
  await sleep(1500);
}

async function main() {
  await settle();
  const rss0 = rssKiB(opts.pid);
  const conf = configuration();
  const body = JSON.stringify(conf).length;

  let { seq } = await call('POST', opts.control, '/reset-log');
  const pushed = await call('POST', opts.control, '/snapshot', conf);
  const v = pushed.versions;
  const want = {
    [CDS]: { version: v[CDS], count: opts.clusters },
    [EDS]: { version: v[EDS], count: opts.clusters },
    [LDS]: { version: v[LDS], count: 1 },
    [RDS]: { version: v[RDS], count: 1 },
  };
  const fullAck = await waitAcks(seq, want, 600000);
  const fullStart = await firstResponseTime(seq);
  await settle();
  const rss1 = rssKiB(opts.pid);

  // Sanity: skiff holds what was pushed.
  const stats = await call('GET', opts.admin, '/stats');
  const acks = {};
  for (const line of String(stats).split('\n')) {
    const m = /^xds\.(\w+)\.acks: (\d+)/.exec(line);
    if (m) acks[m[1]] = Number(m[2]);
  }

  ({ seq } = await call('POST', opts.control, '/reset-log'));
  const changed = endpoints(clusterName(0), opts.eps, 0);
  changed.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 9090;
  const patched = await call('PATCH', opts.control, '/snapshot', { endpoints: { [clusterName(0)]: changed } });
  const oneAck = await waitAcks(seq, { [EDS]: { version: patched.versions[EDS], count: 1 } }, 600000);
  const oneStart = await firstResponseTime(seq);
  const sent = await call('GET', opts.control, `/responses?since=${seq}`);
  await settle();
  const rss2 = rssKiB(opts.pid);

  process.stdout.write(JSON.stringify({
    routes: opts.routes, clusters: opts.clusters, endpoints: opts.clusters * opts.eps,
    snapshot_json_bytes: body,
    full_apply_ms: fullAck - fullStart,
    one_endpoint_apply_ms: oneAck - oneStart,
    one_endpoint_resources_sent: sent.reduce((n, r) => n + r.resource_names.length, 0),
    rss_before_kib: rss0, rss_full_kib: rss1, rss_after_change_kib: rss2,
    skiff_acks: acks,
  }) + '\n');
}

main().catch((e) => {
  process.stderr.write(`bench.js: ${e.stack || e}\n`);
  process.exit(1);
});
