#!/usr/bin/env python3
"""The skiff binary's contract: subcommands, --help, exit codes (0 ok, 2
usage or configuration, 1 runtime), and bad configurations refused with
file:line, the field path and exit 2 before anything listens."""
import os
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import SKIFF, Skiff, isolate, run, tcp_proxy_config, test  # noqa: E402


def skiff(*args, timeout=10):
    return subprocess.run([SKIFF, *args], capture_output=True, text=True, timeout=timeout)


def with_config(text):
    d = tempfile.mkdtemp(prefix="skiff-cfg-")
    path = os.path.join(d, "bootstrap.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


TCP = ('      - name: envoy.filters.network.tcp_proxy\n'
       '        typed_config:\n'
       '          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy\n')

# (configuration, expected message after "FILE:")
BAD_CONFIGS = [
    ("static_resources:\n  clusters:\n  - name: a\n    type: STATIC\n    connect_timeout: 1x\n",
     '5: static_resources.clusters[0].connect_timeout: expected a duration like "1s"'),
    ("static_resources:\n  listeners:\n  - name: l\n"
     "    address: {socket_address: {address: 127.0.0.1, port_value: 70000}}\n",
     "4: static_resources.listeners[0].address.socket_address.port_value: must be at most 65535"),
    ("bogus: 1\n", "1: bogus: unknown field"),
    ("static_resources: [\n", "2: invalid YAML"),
    ("static_resources:\n  listeners:\n  - name: l\n"
     "    address: {socket_address: {address: 127.0.0.1, port_value: 1}}\n"
     "    filter_chains:\n    - filters:\n" + TCP +
     "          stat_prefix: s\n          cluster: missing\n",
     '11: static_resources.listeners[0].filter_chains[0].filters[0].typed_config.cluster: '
     'no cluster named "missing" in static_resources.clusters'),
    ("static_resources:\n  clusters:\n  - name: a\n    type: STRICT_DNS\n",
     "4: static_resources.clusters[0].type"),
    ("admin:\n  address: {socket_address: {address: not-an-ip, port_value: 1}}\n",
     "2: admin.address.socket_address.address"),
]


@test
def bad_configurations_exit_2_with_file_line_and_field():
    for text, expected in BAD_CONFIGS:
        path = with_config(text)
        r = skiff("run", "-c", path)
        assert r.returncode == 2, (text, r.returncode, r.stderr)
        assert f"{path}:{expected}" in r.stderr, (expected, r.stderr)
        assert "serving" not in r.stderr  # refused before anything listened


@test
def missing_file_is_a_configuration_error():
    r = skiff("run", "-c", "/nonexistent/bootstrap.yaml")
    assert r.returncode == 2
    assert "/nonexistent/bootstrap.yaml" in r.stderr


@test
def validate_mode_checks_without_serving():
    assert skiff("run", "--mode", "validate").returncode == 0  # embedded default
    path = with_config(BAD_CONFIGS[2][0])
    r = skiff("run", "--mode", "validate", "-c", path)
    assert r.returncode == 2 and "unknown field" in r.stderr


@test
def usage_errors_exit_2():
    assert skiff().returncode == 2
    assert skiff("frobnicate").returncode == 2
    assert skiff("run", "--concurrency", "0").returncode == 2
    assert skiff("run", "--log-level", "loud").returncode == 2
    assert skiff("run", "--drain-timeout", "soon").returncode == 2
    assert skiff("run", "extra-argument").returncode == 2
    assert skiff("version", "extra").returncode == 2


@test
def every_subcommand_has_help():
    top = skiff("--help")
    assert top.returncode == 0 and "usage: skiff" in top.stdout
    commands = [line.split()[0] for line in top.stdout.split("commands:")[1].splitlines()
                if line.startswith("  ")]
    assert "run" in commands and "version" in commands
    for cmd in commands:
        r = skiff(cmd, "--help")
        assert r.returncode == 0 and "usage: skiff " + cmd in r.stdout, (cmd, r.stdout, r.stderr)


@test
def version_prints_and_exits_0():
    r = skiff("version")
    assert r.returncode == 0 and r.stdout.startswith("skiff ")


@test
def port_in_use_is_a_runtime_failure():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 10001))
        taken.listen()
        cfg = tcp_proxy_config([dict(name="l", port=10001, cluster="c")],
                               [dict(name="c", endpoints=[("127.0.0.1", 10100)])])
        s = Skiff(cfg, wait=False)
        assert s.wait(timeout=5) == 1
        assert "listener l: 127.0.0.1:10001: bind: Address already in use" in s.log()


@test
def second_instance_refuses_to_share_the_admin_port():
    cfg = tcp_proxy_config([dict(name="l", port=10001, cluster="c")],
                           [dict(name="c", endpoints=[("127.0.0.1", 10100)])])
    Skiff(cfg)
    second = Skiff(cfg, wait=False)
    assert second.wait(timeout=5) == 1
    assert "admin: 127.0.0.1:15000: bind: Address already in use" in second.log()


if __name__ == "__main__":
    isolate()
    run()
