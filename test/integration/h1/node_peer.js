// Independent HTTP/1.1 request parser for test_h1_differential.py: Node's
// own http server (llhttp, default strict settings). Reads a JSON array of
// {"name", "data" (base64)} on stdin; for each case opens a connection to a
// server on 127.0.0.1, writes the bytes, half-closes, and records what the
// server saw. Prints a JSON object name -> {messages, error, tunnel, status}.
'use strict';
const http = require('node:http');
const net = require('node:net');

const byPort = new Map(); // client port -> result of the case on that connection

function resultOf(socket) {
  return byPort.get(socket.remotePort);
}

const server = http.createServer((req, res) => {
  const r = resultOf(req.socket);
  const msg = {
    method: req.method,
    target: req.url,
    version: req.httpVersion,
    headers: pairs(req.rawHeaders),
    body: '',
    trailers: [],
    complete: false,
  };
  if (r) r.messages.push(msg);
  req.setEncoding('latin1');
  req.on('data', (d) => { msg.body += d; });
  req.on('end', () => {
    msg.complete = true;
    msg.trailers = pairs(req.rawTrailers);
    res.writeHead(200, { 'content-length': '0' });
    res.end();
  });
});

function pairs(raw) {
  const out = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i], raw[i + 1]]);
  return out;
}

server.on('clientError', (err, socket) => {
  const r = resultOf(socket);
  if (r && !r.error) r.error = err.code || String(err);
  socket.destroy();
});

function tunnel(kind) {
  return (req, socket, head) => {
    const r = resultOf(socket);
    if (r) {
      r.messages.push({
        method: req.method, target: req.url, version: req.httpVersion,
        headers: pairs(req.rawHeaders), body: '', trailers: [], complete: true,
      });
      r.tunnel = kind;
      r.rest = head.toString('latin1');
    }
    socket.destroy();
  };
}
server.on('upgrade', tunnel('upgrade'));
server.on('connect', tunnel('connect'));

function runCase(port, c) {
  return new Promise((resolve) => {
    const r = { messages: [], error: null, tunnel: null, rest: '', responses: '' };
    const sock = net.connect(port, '127.0.0.1');
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      // the server side of the same connection may still be draining events
      setTimeout(() => { byPort.delete(sock.localPort); resolve(r); }, 30);
    };
    sock.on('connect', () => {
      byPort.set(sock.localPort, r);
      sock.end(Buffer.from(c.data, 'base64'));
    });
    sock.setEncoding('latin1');
    sock.on('data', (d) => { r.responses += d; });
    sock.on('error', () => finish());
    sock.on('close', () => finish());
    setTimeout(() => { sock.destroy(); finish(); }, 3000);
  });
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const cases = JSON.parse(input);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const port = server.address().port;
  const out = {};
  for (const c of cases) {
    const r = await runCase(port, c);
    // Statuses the server itself answered (our handler only sends 200):
    // Node refuses some requests (missing Host) with a 400 and no event.
    r.statuses = [...r.responses.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    delete r.responses;
    out[c.name] = r;
  }
  server.close();
  process.stdout.write(JSON.stringify(out));
}

main();
