#!/usr/bin/env node
'use strict';
// An independent ADS client (@grpc/grpc-js, the same upstream Envoy protos),
// used by the self-test and handy by hand:
//
//   node ads_client.js --ads 127.0.0.1:PORT [--delta] [--type LDS ...]
//                      [--names a,b] [--count N] [--timeout SEC] [--nack MSG]
//
// prints each response as one JSON line (resources decoded with the real
// schemas), ACKs it (or NACKs with --nack), and stops after --count responses
// or --timeout seconds.

const grpc = require('@grpc/grpc-js');
const schema = require('./schema');

const proto = grpc.loadPackageDefinition(schema.packageDefinition);
const ADS = proto.envoy.service.discovery.v3.AggregatedDiscoveryService;

// One ADS stream with a queue of received responses.
class AdsStream {
  constructor(target, kind, node) {
    this.client = new ADS(target, grpc.credentials.createInsecure());
    this.kind = kind;
    this.node = node || { id: 'selftest-node', cluster: 'selftest-cluster' };
    this.queue = [];
    this.waiters = [];
    this.status = null;
    this.call = kind === 'delta' ? this.client.DeltaAggregatedResources() : this.client.StreamAggregatedResources();
    this.call.on('data', (msg) => this._deliver(msg));
    this.call.on('error', (e) => { this.status = { code: e.code, details: e.details }; this._wake(); });
    this.call.on('status', (s) => { if (!this.status) this.status = { code: s.code, details: s.details }; this._wake(); });
    this.sentNode = false;
  }
  _deliver(msg) {
    const w = this.waiters.shift();
    if (w) w.resolve(msg);
    else this.queue.push(msg);
  }
  _wake() {
    for (const w of this.waiters.splice(0)) w.reject(new Error(`stream ended: ${JSON.stringify(this.status)}`));
  }
  // The next response, or a rejection after timeoutMs.
  next(timeoutMs = 3000) {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.status) return Promise.reject(new Error(`stream ended: ${JSON.stringify(this.status)}`));
    return new Promise((resolve, reject) => {
      const w = { resolve: (m) => { clearTimeout(w.timer); resolve(m); }, reject: (e) => { clearTimeout(w.timer); reject(e); } };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no response within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }
  // Resolves true if nothing arrives within ms (and puts back what did).
  async quiet(ms = 300) {
    try {
      const m = await this.next(ms);
      this.queue.unshift(m);
      return false;
    } catch (_) {
      return true;
    }
  }
  send(req) {
    const r = Object.assign({}, req);
    r.type_url = schema.normalizeTypeUrl(r.type_url);
    if (!this.sentNode) { r.node = this.node; this.sentNode = true; }
    this.call.write(r);
  }
  // SotW helpers
  subscribe(type, names = [], version = '', nonce = '') {
    this.send({ type_url: type, resource_names: names, version_info: version, response_nonce: nonce });
  }
  ack(resp, names = []) {
    this.send({ type_url: resp.type_url, resource_names: names, version_info: resp.version_info, response_nonce: resp.nonce });
  }
  nack(resp, message, names = [], prevVersion = '') {
    this.send({
      type_url: resp.type_url, resource_names: names, version_info: prevVersion, response_nonce: resp.nonce,
      error_detail: { code: 3, message, details: [] },
    });
  }
  // Delta helpers
  deltaSubscribe(type, subscribe = [], unsubscribe = [], initial = {}, nonce = '') {
    this.send({
      type_url: type, resource_names_subscribe: subscribe, resource_names_unsubscribe: unsubscribe,
      initial_resource_versions: initial, response_nonce: nonce,
    });
  }
  deltaAck(resp) {
    this.send({ type_url: resp.type_url, response_nonce: resp.nonce });
  }
  deltaNack(resp, message) {
    this.send({ type_url: resp.type_url, response_nonce: resp.nonce, error_detail: { code: 3, message, details: [] } });
  }
  close() {
    try { this.call.end(); } catch (_) { /* gone */ }
    this.client.close();
  }
  cancel() {
    this.call.cancel();
    this.client.close();
  }
}

// Decodes the resources of a SotW or Delta response with the real schemas.
function decode(resp) {
  if ('system_version_info' in resp || 'removed_resources' in resp) {
    return {
      type_url: resp.type_url, system_version_info: resp.system_version_info, nonce: resp.nonce,
      resources: resp.resources.map((r) => ({ name: r.name, version: r.version, resource: schema.unpack(r.resource) })),
      removed_resources: resp.removed_resources,
    };
  }
  return {
    type_url: resp.type_url, version_info: resp.version_info, nonce: resp.nonce,
    resources: resp.resources.map((a) => schema.unpack(a)),
  };
}

module.exports = { AdsStream, decode };

// ---------------------------------------------------------------- CLI

if (require.main === module) {
  const args = process.argv.slice(2);
  const o = { ads: null, delta: false, types: [], names: [], count: Infinity, timeout: 10, nack: null };
  for (let i = 0; i < args.length; i++) {
    switch (args[i]) {
      case '--ads': o.ads = args[++i]; break;
      case '--delta': o.delta = true; break;
      case '--type': o.types.push(args[++i]); break;
      case '--names': o.names = args[++i].split(',').filter(Boolean); break;
      case '--count': o.count = Number(args[++i]); break;
      case '--timeout': o.timeout = Number(args[++i]); break;
      case '--nack': o.nack = args[++i]; break;
      default:
        process.stderr.write(`unknown argument ${args[i]}\n`);
        process.exit(2);
    }
  }
  if (!o.ads) {
    process.stderr.write('usage: node ads_client.js --ads HOST:PORT [--delta] [--type LDS]... [--names a,b] [--count N] [--timeout SEC] [--nack MSG]\n');
    process.exit(2);
  }
  if (o.types.length === 0) o.types = ['LDS', 'CDS'];
  const s = new AdsStream(o.ads, o.delta ? 'delta' : 'sotw');
  for (const t of o.types) {
    if (o.delta) s.deltaSubscribe(t, o.names);
    else s.subscribe(t, o.names);
  }
  const deadline = Date.now() + o.timeout * 1000;
  (async () => {
    let n = 0;
    while (n < o.count && Date.now() < deadline) {
      let r;
      try {
        r = await s.next(deadline - Date.now());
      } catch (e) {
        break;
      }
      n++;
      process.stdout.write(JSON.stringify(decode(r)) + '\n');
      if (o.delta) {
        if (o.nack) s.deltaNack(r, o.nack); else s.deltaAck(r);
      } else if (o.nack) {
        s.nack(r, o.nack, o.names);
      } else {
        s.ack(r, o.names);
      }
    }
    // Half-close so that the last ACK reaches the server before we go.
    try { s.call.end(); } catch (_) { /* gone */ }
    const t0 = Date.now();
    while (!s.status && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
    s.client.close();
    process.exit(0);
  })();
}
