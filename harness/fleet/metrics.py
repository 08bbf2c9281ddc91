"""Prometheus metrics of a fleet run: served while it runs, written when it ends.

Why Prometheus: an operator watching a migration day already has Grafana on
it; ``grafana/s1bench-fleet.json`` is a dashboard for these names. Each run
uses its own registry (not the process default), so two runs in one process
(tests) never mix their counts.

Latencies are virtual seconds (the fleet runs on the virtual clock): what
the DCC's user would wait for each SRV on a HAN with the run's latency,
not how long the emulator took.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

#: Virtual seconds: from one HAN hop (5 ms) to a fix-forward with retries.
LATENCY_BUCKETS = (0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)


class FleetMetrics:
    """The run's counters and histograms; fed by :mod:`.run` per shard and decision."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.migrations = Counter("s1bench_migrations", "Migrations by DMC and outcome",
                                  ["dmc", "outcome"], registry=self.registry)
        self.latency = Histogram("s1bench_srv_latency_seconds",
                                 "SRV latency in virtual seconds, by SRV and DMC",
                                 ["srv", "dmc"], buckets=LATENCY_BUCKETS,
                                 registry=self.registry)
        self.alerts = Counter("s1bench_alerts", "Device alerts by DMC and alert code",
                              ["dmc", "code"], registry=self.registry)
        self.frames = Counter("s1bench_han_frames", "HAN frames sent, by DMC", ["dmc"],
                              registry=self.registry)
        self.issues = Counter("s1bench_testing_issues", "Failed migrations by the Testing "
                              "Issue that explains them", ["dmc", "issue"],
                              registry=self.registry)
        self.decisions = Counter("s1bench_pacing_decisions", "Pacing decisions by DMC and "
                                 "action", ["dmc", "action"], registry=self.registry)
        self._server: Any = None

    def shard(self, lines: list[dict[str, Any]], sample: dict[str, Any]) -> None:
        for line in lines:
            dmc = line["dmc"]
            self.migrations.labels(dmc, line["outcome"]).inc()
            self.frames.labels(dmc).inc(line.get("frames", 0))
            for code, n in line.get("alerts", {}).items():
                self.alerts.labels(dmc, code).inc(n)
            for issue in line.get("issues", []):
                self.issues.labels(dmc, issue).inc()
            if line.get("unknown_error"):
                self.issues.labels(dmc, "unknown").inc()
        for (srv, dmc), values in sample.get("latencies", {}).items():
            child = self.latency.labels(srv, dmc)
            for value in values:
                child.observe(value)

    def decision(self, decision: Any) -> None:
        self.decisions.labels(decision.dmc, decision.action).inc()

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on ``port`` (0: any free port); returns the port."""
        from prometheus_client import start_http_server

        self._server, _ = start_http_server(port, addr=host, registry=self.registry)
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def snapshot(self) -> bytes:
        return generate_latest(self.registry)

    def write(self, path: Path) -> Path:
        path.write_bytes(self.snapshot())
        return path
