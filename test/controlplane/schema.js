'use strict';
// The Envoy v3 schemas, loaded from the upstream .proto files that ship inside
// the @grpc/grpc-js-xds npm package, and the helpers that encode resources
// with them. Used by server.js and by the self-test's independent client.
//
// Two views of the same files:
//  - `packageDefinition` (@grpc/proto-loader) for the gRPC service itself;
//  - `root` (protobufjs, keepCase) to encode/decode resources and to pack
//    nested typed_configs into google.protobuf.Any with their own types.

const path = require('path');
const crypto = require('crypto');
const protoLoader = require('@grpc/proto-loader'); // registers descriptor.proto etc. as protobufjs commons
const protobuf = require('protobufjs');

const DEPS = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');
const INCLUDE_DIRS = [
  path.join(DEPS, 'envoy-api'),
  path.join(DEPS, 'xds'),
  path.join(DEPS, 'googleapis'),
  path.join(DEPS, 'protoc-gen-validate'),
  // Istio's workload API (WDS), which the npm package does not ship.
  path.join(__dirname, 'proto'),
];

const ADS_PROTO = 'envoy/service/discovery/v3/ads.proto';

// Resource types and the extension configs a mesh snapshot typically carries
// as typed_config. Anything else can be added with SKIFF_CP_PROTOS (a
// colon-separated list of paths relative to the include dirs).
const RESOURCE_PROTOS = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/fault/v3/fault.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/load_balancing_policies/round_robin/v3/round_robin.proto',
  'envoy/extensions/load_balancing_policies/least_request/v3/least_request.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/retry/host/previous_hosts/v3/previous_hosts.proto',
  'istio/workload/workload.proto',
];

const EXTRA_PROTOS = (process.env.SKIFF_CP_PROTOS || '').split(':').filter(Boolean);

const LOADER_OPTIONS = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: INCLUDE_DIRS,
};

const packageDefinition = protoLoader.loadSync([ADS_PROTO], LOADER_OPTIONS);

function loadRoot(files) {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of INCLUDE_DIRS) {
      const p = path.join(dir, target);
      try {
        require('fs').accessSync(p);
        return p;
      } catch (_) { /* next */ }
    }
    return target; // google/protobuf/*: protobufjs' bundled commons
  };
  root.loadSync(files, { keepCase: true });
  root.resolveAll();
  return root;
}

const root = loadRoot([ADS_PROTO, ...RESOURCE_PROTOS, ...EXTRA_PROTOS]);

const TYPE_PREFIX = 'type.googleapis.com/';
const TYPES = {
  LDS: TYPE_PREFIX + 'envoy.config.listener.v3.Listener',
  RDS: TYPE_PREFIX + 'envoy.config.route.v3.RouteConfiguration',
  CDS: TYPE_PREFIX + 'envoy.config.cluster.v3.Cluster',
  EDS: TYPE_PREFIX + 'envoy.config.endpoint.v3.ClusterLoadAssignment',
  SDS: TYPE_PREFIX + 'envoy.extensions.transport_sockets.tls.v3.Secret',
  WDS: TYPE_PREFIX + 'istio.workload.Address',
};
// Order in which a multi-type snapshot change is pushed (make before break:
// clusters and what they need before the listeners and routes using them).
const PUSH_ORDER = [TYPES.CDS, TYPES.EDS, TYPES.SDS, TYPES.WDS, TYPES.LDS, TYPES.RDS];
// Types whose empty subscription means "everything" (wildcard).
const WILDCARD_TYPES = new Set([TYPES.LDS, TYPES.CDS, TYPES.WDS]);

const ALIASES = {
  lds: TYPES.LDS, listener: TYPES.LDS, listeners: TYPES.LDS,
  rds: TYPES.RDS, route: TYPES.RDS, routes: TYPES.RDS, routeconfiguration: TYPES.RDS,
  cds: TYPES.CDS, cluster: TYPES.CDS, clusters: TYPES.CDS,
  eds: TYPES.EDS, endpoint: TYPES.EDS, endpoints: TYPES.EDS, clusterloadassignment: TYPES.EDS,
  sds: TYPES.SDS, secret: TYPES.SDS, secrets: TYPES.SDS,
  wds: TYPES.WDS, workload: TYPES.WDS, workloads: TYPES.WDS, address: TYPES.WDS, addresses: TYPES.WDS,
};

// Accepts a full type URL, a bare message name or an alias (LDS, clusters...).
function normalizeTypeUrl(t) {
  if (typeof t !== 'string' || !t) throw new Error(`bad type: ${JSON.stringify(t)}`);
  const a = ALIASES[t.toLowerCase()];
  if (a) return a;
  const url = t.includes('/') ? t : TYPE_PREFIX + t;
  lookupType(typeNameOf(url)); // throws if unknown
  return url;
}

function typeNameOf(typeUrl) {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

function lookupType(typeName) {
  const t = root.lookup(typeName.replace(/^\./, ''));
  if (!t || !(t instanceof protobuf.Type)) throw new Error(`unknown message type ${typeName}`);
  return t;
}

// Encodes a JSON-shaped object (proto field names) as `typeName`. Nested Any
// fields may be given as {"@type": URL, ...fields} (the proto3 JSON form; the
// inner message is encoded with its own type) or as {type_url, value} with
// value a Buffer / base64 string. See normalizeDeep for the other JSON forms.
function encode(typeName, obj) {
  const T = lookupType(typeName);
  const n = normalizeDeep(T, obj, typeNameOf(typeName));
  return Buffer.from(T.encode(T.fromObject(n)).finish());
}

// Any{type_url, value} for `obj` encoded as `typeName` (full name or URL).
function pack(typeName, obj) {
  const name = typeNameOf(typeName);
  return { type_url: TYPE_PREFIX + name, value: encode(name, obj) };
}

// The proto3-JSON form of Any: usable anywhere inside a resource object.
function any(typeName, obj) {
  return Object.assign({ '@type': TYPE_PREFIX + typeNameOf(typeName) }, obj);
}

// Decodes an Any (or raw bytes with a type URL) into a plain object, nested
// Anys expanded to {"@type", ...}.
function unpack(anyMsg) {
  const T = lookupType(typeNameOf(anyMsg.type_url));
  return T.toObject(T.decode(anyMsg.value), {
    longs: String, enums: String, bytes: String, json: true, defaults: false, oneofs: false,
  });
}

// protobufjs' fromObject silently ignores unknown fields and knows few of
// the proto3 JSON forms; this pass rejects misspelt fields (which would
// otherwise vanish) and converts the JSON forms a test author writes as in
// Envoy's YAML: Duration "1.5s", wrappers as bare scalars (UInt32Value 5),
// Struct/Value/ListValue as plain JSON. Returns a converted copy; throws with
// the field path on error.
const WRAPPERS = new Set(['DoubleValue', 'FloatValue', 'Int64Value', 'UInt64Value', 'Int32Value',
  'UInt32Value', 'BoolValue', 'StringValue', 'BytesValue'].map((n) => '.google.protobuf.' + n));

// protobufjs' bundled google/protobuf/struct.proto uses camelCase field
// names (numberValue...) even with keepCase; the wire encoding is the same.
function jsonToValue(v) {
  if (v === null) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(jsonToValue) } };
  return { structValue: jsonToStruct(v) };
}
function jsonToStruct(o) {
  const fields = {};
  for (const [k, v] of Object.entries(o)) fields[k] = jsonToValue(v);
  return { fields };
}

const INT_RE = /^-?\d+$/;
function checkScalar(f, v, where) {
  const bad = (want) => { throw new Error(`${where}: expected ${want}, got ${JSON.stringify(v)}`); };
  if (f.resolvedType instanceof protobuf.Enum) {
    if (typeof v === 'string' ? f.resolvedType.values[v] === undefined : !Number.isInteger(v)) {
      bad(`one of ${Object.keys(f.resolvedType.values).join('|')}`);
    }
    return;
  }
  switch (f.type) {
    case 'string': if (typeof v !== 'string') bad('a string'); break;
    case 'bool': if (typeof v !== 'boolean') bad('true or false'); break;
    case 'bytes': if (typeof v !== 'string' && !(v instanceof Uint8Array)) bad('base64 bytes'); break;
    case 'double': case 'float': if (typeof v !== 'number') bad('a number'); break;
    default: // integer types; 64-bit ones may be strings
      if (!(Number.isInteger(v) || (typeof v === 'string' && INT_RE.test(v)))) bad(`an integer (${f.type})`);
      if (/^u|^fixed/.test(f.type) && String(v).startsWith('-')) bad(`a non-negative integer (${f.type})`);
  }
}

function normalizeDeep(T, obj, where) {
  const fn = T.fullName;
  if (fn === '.google.protobuf.Duration' && typeof obj === 'string') {
    const m = /^(-?)(\d+)(?:\.(\d{1,9}))?s$/.exec(obj);
    if (!m) throw new Error(`${where}: bad Duration ${JSON.stringify(obj)} (want e.g. "1.5s")`);
    const sign = m[1] ? -1 : 1;
    return { seconds: String(sign * Number(m[2])), nanos: sign * Number((m[3] || '').padEnd(9, '0')) };
  }
  if (WRAPPERS.has(fn) && (obj === null || typeof obj !== 'object')) {
    checkScalar(T.fields.value, obj, where);
    return { value: obj };
  }
  if (fn === '.google.protobuf.Struct') {
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) throw new Error(`${where}: expected a JSON object for Struct`);
    return jsonToStruct(obj);
  }
  if (fn === '.google.protobuf.Value') return jsonToValue(obj);
  if (fn === '.google.protobuf.ListValue' && Array.isArray(obj)) return { values: obj.map(jsonToValue) };
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    throw new Error(`${where || T.name}: expected an object for ${fn.slice(1)}`);
  }
  if (fn === '.google.protobuf.Any') {
    if (obj['@type']) {
      let inner;
      try { inner = lookupType(typeNameOf(obj['@type'])); } catch (e) { throw new Error(`${where}: ${e.message}`); }
      const rest = Object.assign({}, obj);
      delete rest['@type'];
      // Encode here rather than leaving it to protobufjs, so that the inner
      // message gets the same conversions.
      const n = normalizeDeep(inner, rest, `${where}<${inner.name}>`);
      return { type_url: TYPE_PREFIX + typeNameOf(obj['@type']), value: Buffer.from(inner.encode(inner.fromObject(n)).finish()) };
    }
    for (const k of Object.keys(obj)) if (k !== 'type_url' && k !== 'value') throw new Error(`${where}.${k}: unknown field of Any`);
    return obj;
  }
  if (/^\.google\.protobuf\./.test(fn)) return obj;
  const out = {};
  for (const [k, v] of Object.entries(obj)) {
    const f = T.fields[k];
    if (!f) throw new Error(`${where}.${k}: no such field in ${fn.slice(1)}`);
    f.resolve();
    const sub = f.resolvedType;
    if (v === null || v === undefined) { out[k] = v; continue; }
    if (!(sub instanceof protobuf.Type)) {
      if (f.map) {
        if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}.${k}: expected a map`);
        for (const [mk, mv] of Object.entries(v)) checkScalar(f, mv, `${where}.${k}[${mk}]`);
      } else if (f.repeated) {
        if (!Array.isArray(v)) throw new Error(`${where}.${k}: expected a list`);
        v.forEach((e, i) => checkScalar(f, e, `${where}.${k}[${i}]`));
      } else {
        checkScalar(f, v, `${where}.${k}`);
      }
      out[k] = v;
      continue;
    }
    if (f.map) {
      if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${where}.${k}: expected a map`);
      out[k] = {};
      for (const [mk, mv] of Object.entries(v)) out[k][mk] = normalizeDeep(sub, mv, `${where}.${k}[${mk}]`);
    } else if (f.repeated) {
      if (!Array.isArray(v)) throw new Error(`${where}.${k}: expected a list`);
      out[k] = v.map((e, i) => normalizeDeep(sub, e, `${where}.${k}[${i}]`));
    } else {
      out[k] = normalizeDeep(sub, v, `${where}.${k}`);
    }
  }
  return out;
}

// Encodes one snapshot entry into {any, version}. `obj` is the resource in
// JSON shape; {"@raw": base64} sends the bytes unchanged (for malformed-input
// tests). The version is a hash of the bytes: stable across restarts.
function encodeResource(typeUrl, name, obj) {
  let value;
  if (obj && typeof obj === 'object' && typeof obj['@raw'] === 'string') {
    value = Buffer.from(obj['@raw'], 'base64');
  } else {
    value = encode(typeNameOf(typeUrl), obj);
  }
  const version = crypto.createHash('sha256').update(value).digest('hex').slice(0, 16);
  return { any: { type_url: typeUrl, value }, version };
}

module.exports = {
  INCLUDE_DIRS, ADS_PROTO, LOADER_OPTIONS, TYPES, PUSH_ORDER, WILDCARD_TYPES, TYPE_PREFIX,
  packageDefinition, root, loadRoot, lookupType, normalizeTypeUrl, typeNameOf,
  encode, pack, any, unpack, encodeResource,
};
