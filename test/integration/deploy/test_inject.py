#!/usr/bin/env python3
"""Golden tests of `skiff inject` over corpus/: real-world-shaped manifests.

For each corpus/X.yaml, `skiff inject -f X.yaml` must print exactly
corpus/X.golden.yaml and exit 0 (with corpus/X.golden.stderr, if there is one,
as its warnings), or, when there is no X.golden.yaml, exit 2 with exactly
X.golden.stderr and print nothing. Every golden output must inject to itself
again, byte for byte (idempotence), and every golden output and every
manifest in deploy/ must pass the Kubernetes schemas (validate.mjs, when
setup.sh has installed its npm packages).

    test_inject.py            run the tests
    test_inject.py --update   rewrite the goldens from the current binary;
                              review them with `git diff` before committing
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from harness import ROOT, run, test  # noqa: E402

SKIFF = os.environ.get("SKIFF") or os.path.join(ROOT, os.environ.get("BUILD", "build"), "skiff")
CORPUS = os.path.join(HERE, "corpus")


def inputs():
    return sorted(p for p in glob.glob(os.path.join(CORPUS, "*.yaml"))
                  if not p.endswith(".golden.yaml"))


def golden(path, ext):
    return path[:-len(".yaml")] + ".golden." + ext


def inject(*args, stdin=None):
    return subprocess.run([SKIFF, "inject", *args], input=stdin, capture_output=True,
                          cwd=ROOT, timeout=30)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def update():
    for src in inputs():
        r = inject("-f", os.path.relpath(src, ROOT))
        for ext, data, keep in (("yaml", r.stdout, r.returncode == 0),
                                ("stderr", r.stderr, bool(r.stderr))):
            path = golden(src, ext)
            if keep:
                with open(path, "wb") as f:
                    f.write(data)
            elif os.path.exists(path):
                os.unlink(path)
        print(f"{os.path.basename(src)}: exit {r.returncode}")


def check_case(src):
    # Paths relative to the repository root, as the goldens' messages name them.
    r = inject("-f", os.path.relpath(src, ROOT))
    want_out, want_err = golden(src, "yaml"), golden(src, "stderr")
    expect_err = read(want_err) if os.path.exists(want_err) else b""
    if os.path.exists(want_out):
        assert r.returncode == 0, f"{src}: exit {r.returncode}: {r.stderr.decode()}"
        if r.stdout != read(want_out):
            diff = subprocess.run(["diff", "-u", want_out, "-"], input=r.stdout,
                                  capture_output=True).stdout.decode()
            raise AssertionError(f"{src}: output differs from golden:\n{diff}")
    else:
        assert r.returncode == 2, f"{src}: exit {r.returncode}, want 2"
        assert r.stdout == b"", f"{src}: wrote output although it failed"
    assert r.stderr == expect_err, f"{src}: stderr {r.stderr!r}, want {expect_err!r}"


def make_case(src):
    def case():
        check_case(src)
    case.__name__ = "golden_" + os.path.basename(src)[:-len(".yaml")]
    return case


@test
def corpus_has_every_shape():
    names = {os.path.basename(p) for p in inputs()}
    for want in ("deployment_multi_container.yaml", "pod_existing_init.yaml",
                 "daemonset_hostnetwork.yaml", "already_injected.yaml", "multi_document.yaml",
                 "statefulset.yaml", "job.yaml", "cronjob.yaml", "replicaset.yaml",
                 "inject_false.yaml", "list.yaml", "bad_yaml.yaml"):
        assert want in names, f"corpus/{want} missing"


@test
def goldens_inject_to_themselves():
    for out in sorted(glob.glob(os.path.join(CORPUS, "*.golden.yaml"))):
        r = inject(stdin=read(out))
        assert r.returncode == 0, f"{out}: exit {r.returncode}: {r.stderr.decode()}"
        assert r.stdout == read(out), f"{out}: a second inject changed it"


@test
def already_injected_is_unchanged():
    src = os.path.join(CORPUS, "already_injected.yaml")
    r = inject("-f", src)
    assert r.returncode == 0 and r.stdout == read(src), "already injected input was changed"


@test
def stdin_and_output_file():
    src = os.path.join(CORPUS, "deployment_multi_container.yaml")
    r = inject(stdin=read(src))
    assert r.returncode == 0 and r.stdout == read(golden(src, "yaml"))
    out = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"skiff-inject-{os.getpid()}.yaml")
    try:
        r = inject("-f", "-", "-o", out, "--image", "registry.example.com/skiff:1.0",
                   stdin=read(src))
        assert r.returncode == 0 and r.stdout == b""
        text = read(out).decode()
        assert text.count("image: registry.example.com/skiff:1.0") == 2, text
    finally:
        if os.path.exists(out):
            os.unlink(out)


@test
def usage_errors_exit_2():
    for args in (["--image", "bad image"], ["--nope"], ["extra"], ["-f", "/nonexistent.yaml"]):
        r = inject(*args)
        assert r.returncode == 2, f"{args}: exit {r.returncode}"
        assert r.stdout == b"" and r.stderr, f"{args}: {r.stderr!r}"
    r = inject("--help")
    assert r.returncode == 0 and b"usage: skiff inject" in r.stdout


@test
def schemas_accept_outputs_and_deploy_manifests():
    node_modules = os.path.join(HERE, "node_modules")
    if not os.path.isdir(node_modules) or not shutil.which("node"):
        raise AssertionError("schema validator not installed: run test/integration/deploy/setup.sh")
    files = sorted(glob.glob(os.path.join(CORPUS, "*.golden.yaml")))
    files += sorted(p for p in glob.glob(os.path.join(ROOT, "deploy", "*.yaml"))
                    if os.path.basename(p) != "kustomization.yaml")
    r = subprocess.run(["node", os.path.join(HERE, "validate.mjs"), *files],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@test
def bootstrap_configmap_is_a_valid_bootstrap():
    # The ConfigMap's bootstrap.yaml is what every injected sidecar runs with.
    text = read(os.path.join(ROOT, "deploy", "bootstrap-configmap.yaml")).decode()
    body = text.split("  bootstrap.yaml: |\n", 1)[1]
    lines = [ln[4:] if ln.startswith("    ") else ln for ln in body.splitlines()]
    path = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"skiff-bootstrap-{os.getpid()}.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    try:
        r = subprocess.run([SKIFF, "run", "--mode", "validate", "-c", path],
                           capture_output=True, text=True, timeout=30)
    finally:
        os.unlink(path)
    assert r.returncode == 0, r.stdout + r.stderr


@test
def kustomization_names_existing_files():
    text = read(os.path.join(ROOT, "deploy", "kustomization.yaml")).decode()
    for line in text.splitlines():
        if line.startswith("- ") and line.endswith(".yaml"):
            assert os.path.exists(os.path.join(ROOT, "deploy", line[2:])), line


@test
def build_image_says_when_no_engine():
    r = subprocess.run(["/bin/bash", os.path.join(ROOT, "deploy", "build-image.sh")],
                       env={"PATH": "/nonexistent"}, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "no container engine found" in r.stderr, r.stderr


for _src in inputs():
    test(make_case(_src))

if __name__ == "__main__":
    if subprocess.run([SKIFF, "inject", "--help"], capture_output=True).returncode != 0:
        # The binary predates the `inject` dispatch in proxy/main.c.
        print(f"# skip: {SKIFF} has no `inject` command")
        print("0 passed, 0 failed")
        sys.exit(0)
    if sys.argv[1:] == ["--update"]:
        update()
    else:
        run()
