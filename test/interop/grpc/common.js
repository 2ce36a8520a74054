'use strict';
// Loads echo.proto for the client and the server.
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const def = loader.loadSync(path.join(__dirname, 'echo.proto'),
  { keepCase: true, longs: Number, defaults: true });
const proto = grpc.loadPackageDefinition(def).skiff.test;

function arg(name, fallback) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

module.exports = { grpc, proto, arg };
