#!/usr/bin/env python3
"""Original-destination recovery under iptables REDIRECT, with skiff's
embedded default configuration: the transparent passthrough sidecar.

Two "pods" (network namespaces joined by a veth pair, addresses from the
documentation range 192.0.2.0/24 that exist only inside them): skiff runs in
pod A as UID 1337 as a sidecar does; iptables sends pod A's outbound
connections to 15001 and pod A's inbound connections to 15006."""
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import (Netns, Skiff, connect, connect_expecting_close, isolate, json_lines, recv_all, run, test,  # noqa: E402
                     veth_pair, wait_for)
from peers import Backend, echo  # noqa: E402

POD_A, POD_B = "192.0.2.2", "192.0.2.1"
PROXY_UID = 1337


def two_pods():
    a, b = Netns("skiff-pod-a"), Netns("skiff-pod-b")
    veth_pair(a, POD_A, b, POD_B)
    return a, b


def who_are_you(conn):
    """Answers the peer and local address this side of the connection sees."""
    conn.recv(16)
    peer, local = conn.getpeername(), conn.getsockname()
    conn.sendall(f"{peer[0]}:{peer[1]} {local[0]}:{local[1]}".encode())


@test
def outbound_redirect_reaches_the_address_the_client_dialled():
    a, b = two_pods()
    a.exec("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", POD_B,
           "-m", "owner", "!", "--uid-owner", str(PROXY_UID),
           "-j", "REDIRECT", "--to-ports", "15001")
    with b:
        server = Backend(who_are_you, 8080, host=POD_B)
    skiff = Skiff(netns=a, uid=PROXY_UID)
    with a:
        c = connect(8080, host=POD_B)
    c.sendall(b"hi")
    peer, local = recv_all(c).decode().split()
    c.close()
    # Pod B was reached at the address the client dialled, by the proxy's own
    # connection (not re-captured: no loop), from pod A's address.
    assert local == f"{POD_B}:8080"
    assert peer.startswith(POD_A + ":")
    stats = skiff.stats()
    assert stats["listener.0.0.0.0_15001.downstream_cx_total"] == 1
    assert stats["cluster.PassthroughCluster.upstream_cx_total"] == 1
    assert stats["listener.0.0.0.0_15006.downstream_cx_total"] == 0
    wait_for(lambda: skiff.stdout(), what="access log line")
    (line,) = json_lines(skiff.stdout())
    assert line["original_destination"] == f"{POD_B}:8080"
    assert line["upstream_host"] == f"{POD_B}:8080"
    assert line["listener_name"] == "virtualOutbound"
    server.close()


@test
def inbound_redirect_reaches_the_local_app_from_127_0_0_6():
    a, b = two_pods()
    a.exec("iptables", "-t", "nat", "-A", "PREROUTING", "-p", "tcp", "--dport", "8080",
           "-j", "REDIRECT", "--to-ports", "15006")
    with a:
        app = Backend(who_are_you, 8080, host="0.0.0.0")
    skiff = Skiff(netns=a, uid=PROXY_UID)
    with b:
        c = connect(8080, host=POD_A)
    c.sendall(b"hi")
    peer, local = recv_all(c).decode().split()
    c.close()
    # The app sees the proxy's connection, sourced from 127.0.0.6 (which
    # capture rules leave alone), to its own address and port.
    assert peer.startswith("127.0.0.6:")
    assert local == f"{POD_A}:8080"
    stats = skiff.stats()
    assert stats["listener.0.0.0.0_15006.downstream_cx_total"] == 1
    assert stats["cluster.InboundPassthroughCluster.upstream_cx_total"] == 1
    app.close()


@test
def dialling_the_outbound_port_directly_is_refused_not_looped():
    a, _ = two_pods()
    skiff = Skiff(netns=a, uid=PROXY_UID)
    with a:
        connect_expecting_close(15001)
    wait_for(lambda: skiff.stat("listener.0.0.0.0_15001.downstream_cx_no_destination") == 1,
             what="no_destination counted")
    stats = skiff.stats()
    assert stats["listener.0.0.0.0_15001.downstream_cx_no_destination"] == 1
    assert stats["listener.0.0.0.0_15001.downstream_cx_total"] == 1
    assert stats["cluster.PassthroughCluster.upstream_cx_total"] == 0


@test
def passthrough_echo_survives_many_flows():
    a, b = two_pods()
    a.exec("iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-d", POD_B,
           "-m", "owner", "!", "--uid-owner", str(PROXY_UID),
           "-j", "REDIRECT", "--to-ports", "15001")
    with b:
        server = Backend(echo, 9000, host=POD_B)
    skiff = Skiff(netns=a, uid=PROXY_UID)
    for i in range(50):
        with a:
            c = connect(9000, host=POD_B)
        msg = f"flow {i}".encode()
        c.sendall(msg)
        c.shutdown(socket.SHUT_WR)
        assert recv_all(c) == msg
        c.close()
    wait_for(lambda: skiff.stat("listener.0.0.0.0_15001.downstream_cx_destroy") == 50,
             what="50 flows closed")
    server.close()


if __name__ == "__main__":
    isolate()
    run()
