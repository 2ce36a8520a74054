'use strict';
// gRPC server over h2c (insecure credentials): `node server.js --port N`.
// Prints {"event":"listening","port":N} once bound. Every call answers with
// trailing metadata x-echo-trailer, and with the status the request asks.
const { grpc, proto, arg } = require('./common');

function trailer(req) {
  const md = new grpc.Metadata();
  md.set('x-echo-trailer', 'done-' + req.message);
  return md;
}

function fail(req) {
  return { code: req.status_code, details: req.status_message || 'asked to fail',
    metadata: trailer(req) };
}

function say(call, cb) {
  const req = call.request;
  if (req.status_code !== 0) return cb(fail(req));
  const authority = typeof call.getHost === 'function' ? call.getHost() : '';
  cb(null, { message: req.message, authority,
    forwarded: (call.metadata.get('x-forwarded-proto')[0] || '') + '' }, trailer(req));
}

function count(call) {
  const req = call.request;
  const payload = Buffer.alloc(req.size, 0x61);
  for (let i = 0; i < req.count; i++) call.write({ message: req.message, index: i, payload });
  if (req.status_code !== 0) return call.emit('error', fail(req));
  call.end(trailer(req));
}

const server = new grpc.Server();
server.addService(proto.Echo.service, { Say: say, Count: count });
const port = arg('port', '0');
server.bindAsync('127.0.0.1:' + port, grpc.ServerCredentials.createInsecure(), (err, bound) => {
  if (err) {
    console.log(JSON.stringify({ event: 'listening', ok: false, error: err.message }));
    process.exit(1);
  }
  console.log(JSON.stringify({ event: 'listening', ok: true, port: bound }));
});
process.on('SIGTERM', () => server.forceShutdown() || process.exit(0));
