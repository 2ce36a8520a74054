// Validates Kubernetes YAML files against the Kubernetes schemas of the
// kubernetes-models package (types, required fields, formats such as
// quantities), plus the API server's pod rules those schemas cannot say
// (unique names, mounts of declared volumes, port name length, privilege
// escalation with CAP_SYS_ADMIN). Every object must be of a kind the package
// knows. Usage: node validate.mjs FILE...; exits 1 with one line per problem.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const problems = [];

// The object's pod spec, where it has one.
function podSpec(obj) {
  const s = obj.spec || {};
  switch (obj.kind) {
    case "Pod": return s;
    case "CronJob": return s.jobTemplate?.spec?.template?.spec;
    case "Deployment": case "StatefulSet": case "DaemonSet": case "ReplicaSet":
    case "ReplicationController": case "Job": return s.template?.spec;
    default: return undefined;
  }
}

function podRules(obj, spec, where) {
  const bad = (msg) => problems.push(`${where}: ${msg}`);
  const containers = [...(spec.initContainers || []), ...(spec.containers || [])];
  // A StatefulSet's claim templates are volumes of its pods too.
  const volumes = new Set((obj.spec?.volumeClaimTemplates || []).map((t) => t.metadata?.name));
  for (const v of spec.volumes || []) {
    if (volumes.has(v.name)) bad(`volume ${v.name} declared twice`);
    volumes.add(v.name);
  }
  const names = new Set(), portNames = new Set();
  for (const c of containers) {
    if (names.has(c.name)) bad(`container name ${c.name} used twice`);
    names.add(c.name);
    for (const p of c.ports || []) {
      if (p.name === undefined) continue;
      if (p.name.length > 15 || !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(p.name))
        bad(`container ${c.name}: port name ${p.name} is not an IANA service name (<= 15)`);
      if (portNames.has(p.name)) bad(`port name ${p.name} used twice in the pod`);
      portNames.add(p.name);
    }
    for (const m of c.volumeMounts || [])
      if (!volumes.has(m.name)) bad(`container ${c.name}: mounts undeclared volume ${m.name}`);
    const sc = c.securityContext || {};
    if (sc.allowPrivilegeEscalation === false &&
        (sc.privileged || (sc.capabilities?.add || []).includes("SYS_ADMIN")))
      bad(`container ${c.name}: allowPrivilegeEscalation false with privileged or SYS_ADMIN`);
    if (c.restartPolicy !== undefined && !(spec.initContainers || []).includes(c))
      bad(`container ${c.name}: restartPolicy is only for init containers`);
  }
}

async function validate(obj, where) {
  if (obj === null || typeof obj !== "object") return;
  if (obj.kind === "List" || (typeof obj.kind === "string" && obj.kind.endsWith("List") && Array.isArray(obj.items))) {
    for (const [i, item] of (obj.items || []).entries()) await validate(item, `${where} items[${i}]`);
    return;
  }
  const { apiVersion, kind } = obj;
  if (typeof apiVersion !== "string" || typeof kind !== "string") {
    problems.push(`${where}: no apiVersion/kind`);
    return;
  }
  let model;
  try {
    model = (await import(`kubernetes-models/${apiVersion}`))[kind];
  } catch {
    model = undefined;
  }
  if (!model) {
    problems.push(`${where}: ${apiVersion} ${kind} is not a Kubernetes kind kubernetes-models knows`);
    return;
  }
  const name = `${where} (${kind} ${obj.metadata?.name ?? "?"})`;
  try {
    new model(obj).validate();
  } catch (e) {
    problems.push(`${name}: ${e.message}`);
  }
  const spec = podSpec(obj);
  if (spec) podRules(obj, spec, name);
}

let objects = 0;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length) {
      problems.push(`${file}: document ${i + 1}: ${doc.errors[0].message}`);
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    objects++;
    await validate(obj, `${file}: document ${i + 1}`);
  }
}
for (const p of problems) console.log(p);
console.log(`validate: ${objects} objects, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
