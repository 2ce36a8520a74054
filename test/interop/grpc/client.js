'use strict';
// gRPC client over h2c: `node client.js --target HOST:PORT --calls JSON`,
// JSON a list of {"rpc":"Say"|"Count", "request":{...}}, run one after the
// other on one channel. Prints one JSON line per call: ok, code, details,
// replies (messages and payload bytes), initial metadata and trailers.
const { grpc, proto, arg } = require('./common');

const target = arg('target');
const calls = JSON.parse(arg('calls', '[]'));
const client = new proto.Echo(target, grpc.credentials.createInsecure());

function md(m) {
  const out = {};
  if (!m) return out;
  for (const [k, v] of Object.entries(m.getMap())) out[k] = Buffer.isBuffer(v) ? v.toString() : v;
  return out;
}

function run(c) {
  return new Promise((resolve) => {
    const out = { rpc: c.rpc, ok: false, code: null, details: '', replies: [], bytes: 0,
      metadata: {}, trailers: {} };
    const deadline = new Date(Date.now() + (c.timeout_ms || 10000));
    const take = (r) => {
      out.replies.push({ message: r.message, index: r.index, authority: r.authority,
        forwarded: r.forwarded });
      out.bytes += r.payload ? r.payload.length : 0;
    };
    const done = (status) => {
      out.code = status.code;
      out.details = status.details;
      out.trailers = md(status.metadata);
      out.ok = status.code === 0;
      resolve(out);
    };
    let call;
    if (c.rpc === 'Say') {
      call = client.Say(c.request, { deadline }, (err, reply) => { if (reply) take(reply); });
    } else {
      call = client.Count(c.request, { deadline });
      call.on('data', take);
      call.on('error', () => {});
    }
    call.on('metadata', (m) => { out.metadata = md(m); });
    call.on('status', done);
  });
}

(async () => {
  for (const c of calls) console.log(JSON.stringify(await run(c)));
  client.close();
})();
