#!/usr/bin/env python3
"""/stats/prometheus of the running binary, read by Prometheus's own Python
parser (prometheus_client): every family skiff serves must parse, with the
type Envoy and Istio give it, including the HTTP ones (the response-class
counters and Istio's request histograms). Needs no HTTP proxying: the
histograms' samples are checked by test/unit/proxy/test_istio_metrics.c."""
import os
import sys

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import Skiff, http_get, isolate, run, test  # noqa: E402

# prometheus_client names a counter family without its _total suffix.
WANT = {
    "istio_requests": "counter",
    "istio_request_duration_milliseconds": "histogram",
    "istio_request_bytes": "histogram",
    "istio_response_bytes": "histogram",
    "istio_tcp_connections_opened": "counter",
    "skiff_istio_label_overflow": "counter",
    "envoy_cluster_upstream_rq": "counter",
    "envoy_cluster_upstream_rq_xx": "counter",
    "envoy_cluster_upstream_cx_http2": "counter",
    "envoy_cluster_outlier_detection_ejections_enforced": "counter",
    "envoy_cluster_http2_outbound_flood": "counter",
    "envoy_listener_downstream_rq": "counter",
    "envoy_listener_downstream_rq_xx": "counter",
    "envoy_listener_no_route": "counter",
    "envoy_listener_downstream_cx_active": "gauge",
}


@test
def prometheus_text_parses_with_http_families():
    s = Skiff()
    for url in ("http://127.0.0.1:15090/stats/prometheus",
                "http://127.0.0.1:15000/stats/prometheus"):
        status, body = http_get(url)
        assert status == 200, status
        families = {}
        for fam in text_string_to_metric_families(body):
            # The format forbids a family in two pieces.
            assert fam.name not in families, "family split: " + fam.name
            families[fam.name] = fam
        for name, typ in WANT.items():
            assert name in families, name
            assert families[name].type == typ, (name, families[name].type)
        classes = {x.labels["envoy_response_code_class"]
                   for x in families["envoy_cluster_upstream_rq_xx"].samples
                   if x.labels["envoy_cluster_name"] == "PassthroughCluster"}
        assert classes == {"1", "2", "3", "4", "5"}, classes
    assert s.proc.poll() is None


if __name__ == "__main__":
    isolate()
    run()
