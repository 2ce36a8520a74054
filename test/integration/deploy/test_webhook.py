#!/usr/bin/env python3
"""`skiff inject --webhook` over real HTTPS, driven with curl as the API
server would drive it.

A CA and a serving certificate for 127.0.0.1 are made with the openssl CLI;
the webhook runs in a network namespace of its own. Each AdmissionReview's
JSON patch is decoded and applied to the pod (RFC 6902, by a small apply
below), and the result must be what `skiff inject` makes of the same pod
given as a file, and must pass the Kubernetes schemas (validate.mjs). Also:
the uid is echoed, pods that must not be injected get no patch, garbage gets
400, an oversized body 413, the server keeps serving after each, and
deploy/webhook.yaml and deploy/injector.yaml validate.
"""
import base64
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from harness import ROOT, after_test, isolate, run, test, wait_for  # noqa: E402

SKIFF = os.environ.get("SKIFF") or os.path.join(ROOT, os.environ.get("BUILD", "build"), "skiff")
PORT = 18443
URL = f"https://127.0.0.1:{PORT}"
TMP = tempfile.mkdtemp(prefix="skiff-webhook-")
CA = os.path.join(TMP, "ca.crt")


# ---- certificates and the server ----

def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=TMP)


def make_ca(name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{name}.key", "-out", f"{name}.crt", "-days", "2",
            "-subj", f"/CN={name}")


def make_serving_cert(ca, out):
    """A serving certificate for 127.0.0.1 and the Service's name, signed by ca."""
    with open(os.path.join(TMP, "ext"), "w") as f:
        f.write("subjectAltName=DNS:skiff-injector.skiff-system.svc,IP:127.0.0.1\n"
                "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", f"{out}.key", "-out", f"{out}.csr",
            "-subj", "/CN=skiff-injector.skiff-system.svc")
    openssl("x509", "-req", "-in", f"{out}.csr", "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext", "-out", f"{out}.crt")


class Webhook:
    """One `skiff inject --webhook` for the whole file."""

    def __init__(self):
        self.log = open(os.path.join(TMP, "webhook.log"), "w+")
        self.proc = subprocess.Popen(
            [SKIFF, "inject", "--webhook", "--listen", f"127.0.0.1:{PORT}",
             "--cert", os.path.join(TMP, "tls.crt"), "--key", os.path.join(TMP, "tls.key"),
             "--image", "registry.example.com/skiff:1.2"],
            stdout=subprocess.DEVNULL, stderr=self.log)
        wait_for(lambda: curl("/healthz", check=False)[0] == 200, what="webhook up")

    def output(self):
        self.log.seek(0)
        return self.log.read()


server = None


def curl(path, data=None, ctype="application/json", extra=(), ca=CA, check=True):
    """Returns (status, body bytes) of one request; data is bytes or None."""
    cmd = ["curl", "-sS", "--max-time", "10", "--cacert", ca, "-o", "-",
           "-w", "\n%{http_code}", *extra]
    if data is not None:
        body = os.path.join(TMP, "body")
        with open(body, "wb") as f:
            f.write(data)
        cmd += ["--data-binary", f"@{body}"]
        if ctype:
            cmd += ["-H", f"Content-Type: {ctype}"]
    r = subprocess.run(cmd + [URL + path], capture_output=True, timeout=30)
    if check:
        assert r.returncode == 0, f"curl {path}: {r.stderr.decode()}"
    out, _, code = r.stdout.rpartition(b"\n")
    return int(code or 0), out


# ---- AdmissionReview and JSON patch ----

def review(pod, uid="8c1c6e0e-3f5b-4c5e-9d6a-1f2e3d4c5b6a", operation="CREATE", kind="Pod"):
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": kind},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "shop",
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller",
                         "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": pod,
            "oldObject": None,
            "dryRun": False,
            "options": {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"},
        },
    }


def admit(body):
    """POSTs an AdmissionReview; returns its response object (status 200)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, out = curl("/inject", data)
    assert status == 200, f"status {status}: {out!r}"
    answer = json.loads(out)
    assert answer["apiVersion"] == "admission.k8s.io/v1", answer
    assert answer["kind"] == "AdmissionReview", answer
    return answer["response"]


def unescape(token):
    return token.replace("~1", "/").replace("~0", "~")


def apply_patch(doc, ops):
    """RFC 6902 add, remove and replace (what the webhook may send)."""
    doc = copy.deepcopy(doc)
    for op in ops:
        assert op["op"] in ("add", "remove", "replace"), op
        assert op["path"].startswith("/"), op
        *parents, last = [unescape(t) for t in op["path"][1:].split("/")]
        target = doc
        for t in parents:
            target = target[int(t)] if isinstance(target, list) else target[t]
        if isinstance(target, list):
            index = len(target) if last == "-" else int(last)
            if op["op"] == "add":
                target.insert(index, op["value"])
            elif op["op"] == "remove":
                del target[index]
            else:
                target[index] = op["value"]
        else:
            if op["op"] == "remove" or op["op"] == "replace":
                assert last in target, f"{op['op']} of missing {op['path']}"
            if op["op"] == "remove":
                del target[last]
            else:
                target[last] = op["value"]
    return doc


def inject_file(pod):
    """What `skiff inject` makes of the pod given as a file, as JSON data."""
    path = os.path.join(TMP, "pod.json")
    with open(path, "w") as f:
        json.dump(pod, f, indent=2)
    r = subprocess.run([SKIFF, "inject", "-f", path, "--image", "registry.example.com/skiff:1.2"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    return yaml_to_json(r.stdout)


def yaml_to_json(text):
    # The `yaml` npm package validate.mjs uses (YAML 1.2 core schema).
    r = subprocess.run(
        ["node", "--input-type=module", "-e",
         'import {parse} from "yaml"; import {readFileSync} from "node:fs";'
         'process.stdout.write(JSON.stringify(parse(readFileSync(0, "utf8"))))'],
        input=text, capture_output=True, cwd=HERE, timeout=60)
    assert r.returncode == 0, r.stderr.decode()
    return json.loads(r.stdout)


def validate(*docs):
    path = os.path.join(TMP, "validate.yaml")
    with open(path, "w") as f:
        f.write("\n---\n".join(json.dumps(d) for d in docs) + "\n")
    r = subprocess.run(["node", os.path.join(HERE, "validate.mjs"), path],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


def patched(response, pod):
    assert response["allowed"] is True, response
    assert response["patchType"] == "JSONPatch", response
    ops = json.loads(base64.b64decode(response["patch"], validate=True))
    return apply_patch(pod, ops), ops


def web_pod():
    """A pod as a ReplicaSet creates it: generateName, no name yet."""
    return {
        "kind": "Pod", "apiVersion": "v1",
        "metadata": {
            "generateName": "web-7d4b9c-", "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": "7d4b9c"},
            "annotations": {"skiff.io/excludeOutboundPorts": "5432,6379",
                            "skiff.io/proxyMemoryLimit": "256Mi",
                            "prometheus.io/scrape": "true"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": "web-7d4b9c", "uid": "2b9c5e3e-aaaa-4bbb-8ccc-1d2e3f4a5b6c",
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "serviceAccountName": "web",
            "initContainers": [{"name": "migrate", "image": "web:1.4", "args": ["migrate"],
                                "resources": {}}],
            "containers": [
                {"name": "web", "image": "web:1.4",
                 "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                 "env": [{"name": "RATIO", "value": "0.5"}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                 "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
                {"name": "log-shipper", "image": "fluent-bit:2.2", "resources": {}},
            ],
            "volumes": [{"name": "data", "emptyDir": {}}],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "priority": 0,
            "enableServiceLinks": True,
        },
    }


# ---- tests ----

@test
def patch_gives_what_skiff_inject_gives():
    pod = web_pod()
    response = admit(review(pod, uid="705ab4f5-6393-11e8-b7cc-42010a800002"))
    assert response["uid"] == "705ab4f5-6393-11e8-b7cc-42010a800002", response
    result, ops = patched(response, pod)
    assert result == inject_file(pod), json.dumps(ops, indent=1)
    # Whole top-level members, each an "add" (which replaces: RFC 6902 4.1).
    assert sorted(op["path"] for op in ops) == [
        "/metadata/annotations", "/spec/initContainers", "/spec/volumes"], ops
    names = [c["name"] for c in result["spec"]["initContainers"]]
    assert names == ["skiff-init", "skiff-proxy", "migrate"], names
    assert result["metadata"]["annotations"]["skiff.io/status"] == "injected"
    assert result["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    assert result["spec"]["initContainers"][1]["image"] == "registry.example.com/skiff:1.2"
    validate(result)


@test
def bare_pod_gets_new_members():
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "solo", "namespace": "shop"},
           "spec": {"containers": [{"name": "app", "image": "app:1"}]}}
    result, ops = patched(admit(review(pod)), pod)
    assert result == inject_file(pod), ops
    assert {op["path"] for op in ops} == {
        "/metadata/annotations", "/spec/initContainers", "/spec/volumes"}, ops
    validate(result)


@test
def patched_pod_is_injected_and_reinvocation_changes_nothing():
    # reinvocationPolicy: IfNeeded sends the patched pod again.
    pod = web_pod()
    result, _ = patched(admit(review(pod)), pod)
    again = admit(review(result, uid="second"))
    assert again == {"uid": "second", "allowed": True}, again


@test
def unicode_survives_the_round_trip():
    # Python escapes non-ASCII as \\u, astral characters as surrogate pairs;
    # raw U+2028 and U+0085 are line breaks to a YAML reader but not to JSON.
    pod = web_pod()
    pod["metadata"]["annotations"]["note"] = "caf\u00e9 \U0001F6A2 \u2028 \u0085 \"q\" \\ \t/"
    pod["spec"]["containers"][0]["env"].append({"name": "GREETING", "value": "\u3053\u3093"})
    for ensure_ascii in (True, False):
        body = json.dumps(review(pod), ensure_ascii=ensure_ascii).encode()
        result, _ = patched(admit(body), pod)
        assert result["metadata"]["annotations"]["note"] == pod["metadata"]["annotations"]["note"]
        assert result["spec"]["containers"] == pod["spec"]["containers"]


@test
def pods_left_alone_get_no_patch():
    off = web_pod()
    off["metadata"]["annotations"]["skiff.io/inject"] = "false"
    host = web_pod()
    host["spec"]["hostNetwork"] = True
    done = inject_file(web_pod())
    for name, body in (("inject false", review(off)), ("hostNetwork", review(host)),
                       ("already injected", review(done)),
                       ("UPDATE", review(web_pod(), operation="UPDATE")),
                       ("not a Pod", review({"kind": "Service"}, kind="Service"))):
        response = admit(body)
        assert response["allowed"] is True, (name, response)
        assert "patch" not in response and "patchType" not in response, (name, response)
        assert response["uid"] == body["request"]["uid"], (name, response)
    warnings = admit(review(host)).get("warnings", [])
    assert len(warnings) == 1 and "hostNetwork is true" in warnings[0], warnings


@test
def pod_that_cannot_be_injected_is_allowed_with_a_warning():
    pod = web_pod()
    pod["metadata"]["annotations"]["skiff.io/excludeOutboundPorts"] = "5432,http"
    response = admit(review(pod))
    assert response["allowed"] is True and "patch" not in response, response
    assert len(response["warnings"]) == 1, response
    warning = response["warnings"][0]
    assert "not injected" in warning and "excludeOutboundPorts" in warning, warning


@test
def garbage_gets_400_and_the_server_keeps_serving():
    good = review(web_pod())
    no_uid = copy.deepcopy(good)
    del no_uid["request"]["uid"]
    cases = [
        (b"garbage", "not a JSON object"),
        (b"", "not a JSON object"),
        (b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": ',
         "not JSON"),
        (b'{"a": 1} {"b": 2}', "not JSON"),
        (b'{"a": &x 1, "b": *x}', "not JSON"),
        (b"{a: 1}", "not JSON"),
        (json.dumps(dict(good, apiVersion="admission.k8s.io/v1beta1")).encode(), "apiVersion"),
        (json.dumps(dict(good, kind="Pod")).encode(), "kind"),
        (json.dumps(no_uid).encode(), "request.uid"),
        (json.dumps(dict(good, request=[])).encode(), "request"),
        (b"[" * 100000 + b"]" * 100000, "not a JSON object"),
        (b'{"x":' * 10000 + b"1" + b"}" * 10000, "nested too deep"),
    ]
    for body, want in cases:
        status, out = curl("/inject", body)
        assert status == 400, (body[:60], status, out)
        assert want.encode() in out and out.endswith(b"\n") and out.count(b"\n") == 1, \
            (body[:60], out)
    assert admit(good)["allowed"] is True
    status, out = curl("/metrics")
    assert status == 200 and b'skiff_webhook_reviews_total{outcome="bad_request"}' in out, out


@test
def oversized_body_gets_413():
    big = json.dumps(review(dict(web_pod(), padding="x" * (1 << 20)))).encode()
    status, out = curl("/inject", big)
    assert status == 413 and b"larger than 1 MiB" in out, (status, out)
    # Without a Content-Length (chunked), found while reading.
    status, out = curl("/inject", big, extra=("-H", "Transfer-Encoding: chunked"))
    assert status == 413, (status, out)
    assert admit(review(web_pod()))["allowed"] is True


@test
def http_errors():
    assert curl("/inject", b"{}", ctype="text/plain")[0] == 415
    assert curl("/inject")[0] == 405
    assert curl("/nope")[0] == 404
    status, out = curl("/healthz")
    assert (status, out) == (200, b"ok\n"), (status, out)
    # ?timeout=10s is what the API server adds to the path.
    assert json.loads(curl("/inject?timeout=10s", json.dumps(review(web_pod())).encode())[1])


@test
def keep_alive_serves_several_reviews_on_one_connection():
    body = os.path.join(TMP, "review.json")
    with open(body, "w") as f:
        json.dump(review(web_pod()), f)
    r = subprocess.run(["curl", "-sS", "-v", "--cacert", CA, "-H", "Content-Type: application/json",
                        "--data-binary", f"@{body}", f"{URL}/inject", f"{URL}/inject?timeout=5s"],
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    assert r.stdout.count(b'"patchType":"JSONPatch"') == 2, r.stdout[:200]
    assert b"Re-using existing connection" in r.stderr or b"Reusing existing" in r.stderr, \
        r.stderr.decode()[-2000:]


@test
def tls_versions():
    for version, ok in (("--tlsv1.2", True), ("--tlsv1.3", True)):
        extra = (version, "--tls-max", version[6:]) if version == "--tlsv1.2" else (version,)
        assert curl("/healthz", extra=extra)[0] == 200, version
    r = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{PORT}", "-tls1_1"],
                       input=b"", capture_output=True, timeout=30)
    assert r.returncode != 0, "TLS 1.1 was accepted"


@test
def renewed_certificate_is_served_without_restart():
    make_ca("ca2")
    make_serving_cert("ca2", "new")
    for ext in ("crt", "key"):
        os.replace(os.path.join(TMP, f"new.{ext}"), os.path.join(TMP, f"tls.{ext}"))
    ca2 = os.path.join(TMP, "ca2.crt")
    wait_for(lambda: curl("/healthz", ca=ca2, check=False)[0] == 200, timeout=25,
             what="the new certificate served")
    assert "key pair reloaded" in server.output()
    global CA
    CA = ca2


@test
def manifests_validate():
    node_modules = os.path.join(HERE, "node_modules")
    if not os.path.isdir(node_modules) or not shutil.which("node"):
        raise AssertionError("schema validator not installed: run test/integration/deploy/setup.sh")
    files = [os.path.join(ROOT, "deploy", n) for n in ("webhook.yaml", "injector.yaml")]
    r = subprocess.run(["node", os.path.join(HERE, "validate.mjs"), *files],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    kinds = open(files[0]).read()
    assert "kind: MutatingWebhookConfiguration" in kinds and "kind: Service" in kinds
    kustomization = open(os.path.join(ROOT, "deploy", "kustomization.yaml")).read()
    assert "\n- webhook.yaml\n" in kustomization and "\n- injector.yaml\n" in kustomization


@test
def log_says_what_happened():
    out = server.output()
    assert "webhook: injected: uid 705ab4f5-6393-11e8-b7cc-42010a800002 pod shop/web-7d4b9c-*" \
        in out, out[-3000:]
    assert "webhook: bad_request:" in out and "webhook: too_large:" in out


@test
def sigterm_stops_it():
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=10) == 0


if __name__ == "__main__":
    isolate()
    make_ca("ca")
    make_serving_cert("ca", "tls")
    server = Webhook()
    try:
        run()
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
        shutil.rmtree(TMP, ignore_errors=True)
