"""Prometheus metrics, one registry per app so several apps can live in one process (tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from seawall.engine import Engine
from seawall.health import DEGRADED_REASONS, degraded_reasons, plugin_reasons, source_reasons
from seawall.models.records import CONTENT_TYPES, VERDICTS, Item


class _IndexCollector(Collector):
    """Reads index sizes at scrape time instead of keeping gauges in step on every write."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self):  # type: ignore[no-untyped-def]
        entries = GaugeMetricFamily("seawall_index_entries", "Entries in the in-memory index", labels=["signal_type"])
        memory = GaugeMetricFamily("seawall_index_memory_bytes", "Memory held by the in-memory index",
                                   labels=["signal_type"])
        for name, size in self.engine.indexes.sizes().items():
            entries.add_metric([name], size)
        for name, size in self.engine.indexes.memory_bytes().items():
            memory.add_metric([name], size)
        yield entries
        yield memory
        queue = self.engine.queue_status()
        depth = GaugeMetricFamily("seawall_queue_depth", "Background jobs waiting or in flight (all workers)",
                                  labels=["backend"])
        depth.add_metric([str(queue.get("backend", ""))], float(queue.get("depth", 0)))
        yield depth
        backlog = GaugeMetricFamily("seawall_stage2_backlog",
                                    "Uploads answered in the request whose stage-2 tasks (OCR…) have not finished")
        backlog.add_metric([], float(queue.get("stage2_backlog") or 0))
        yield backlog
        skipped = CounterMetricFamily("seawall_stage2_skipped",
                                      "Uploads this process answered as final without stage 2, its queue being full "
                                      "(SEAWALL_STAGE2_MAX_BACKLOG)")
        skipped.add_metric([], float(queue.get("stage2_skipped") or 0))
        yield skipped
        lagging = GaugeMetricFamily("seawall_queue_lagging", "1 while more jobs wait than SEAWALL_QUEUE_DEGRADED_DEPTH")
        lagging.add_metric([], 1.0 if queue.get("lagging") else 0.0)
        yield lagging
        screening = GaugeMetricFamily("seawall_reappearance_screening",
                                      "New accounts' uploads screened against suspended accounts since start",
                                      labels=["state"])
        for state, value in self.engine.upload_watch.stats().items():
            screening.add_metric([state], float(value))
        yield screening
        connected = GaugeMetricFamily("seawall_queue_connected", "1 while jobs can be queued (broker reachable)")
        connected.add_metric([], 0.0 if queue.get("connected") is False else 1.0)
        yield connected
        lag = GaugeMetricFamily("seawall_queue_consumer_lag",
                                "Jobs in the stream not yet handed to any worker, per stage (JetStream num_pending)",
                                labels=["stage"])
        in_flight = GaugeMetricFamily("seawall_queue_in_flight",
                                      "Jobs handed to a worker and not yet acknowledged, per stage", labels=["stage"])
        redelivered = GaugeMetricFamily("seawall_queue_redelivered",
                                        "Jobs delivered more than once and not yet acknowledged, per stage",
                                        labels=["stage"])
        for stage, figures in sorted(queue.get("stages", {}).items()):
            lag.add_metric([stage], float(figures.get("waiting", 0)))
            in_flight.add_metric([stage], float(figures.get("in_flight", 0)))
            redelivered.add_metric([stage], float(figures.get("redelivered", 0)))
        yield lag
        yield in_flight
        yield redelivered
        sources = self.engine.sources.statuses()
        yield from _source_metrics(sources)
        reasons = {r["code"] for r in degraded_reasons(queue) + plugin_reasons(self.engine) + source_reasons(sources)}
        degraded = GaugeMetricFamily("seawall_degraded", "1 while the node is degraded for this reason (see /healthz)",
                                     labels=["reason"])
        for code in DEGRADED_REASONS:
            degraded.add_metric([code], 1.0 if code in reasons else 0.0)
        yield degraded


def _source_metrics(sources: list[dict[str, Any]]) -> Iterator[GaugeMetricFamily]:
    lag = GaugeMetricFamily("seawall_source_lag_seconds", "Seconds since the source's last successful sync",
                            labels=["source"])
    failing = GaugeMetricFamily("seawall_source_failing", "1 while the source's syncs fail", labels=["source"])
    stale = GaugeMetricFamily("seawall_source_stale", "1 while the source has not synced for too long",
                              labels=["source"])
    added = GaugeMetricFamily("seawall_source_entries_added", "Bank entries the source added", labels=["source"])
    for src in sources:
        if src["lag_seconds"] is not None:
            lag.add_metric([src["name"]], float(src["lag_seconds"]))
        failing.add_metric([src["name"]], 1.0 if src["failing"] else 0.0)
        stale.add_metric([src["name"]], 1.0 if src["stale"] else 0.0)
        added.add_metric([src["name"]], float(src["entries_added"]))
    yield from (lag, failing, stale, added)


class Metrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        self.registry.register(_IndexCollector(engine))
        self.items = Counter("seawall_items_total", "Items checked", ["content_type", "verdict"],
                             registry=self.registry)
        self.matches = Counter("seawall_matches_total", "Bank matches found", ["signal_type", "bank_kind"],
                               registry=self.registry)
        self.latency = Histogram(
            "seawall_item_seconds", "Time from request to verdict", ["content_type"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.up = Gauge("seawall_up", "1 while the API serves", registry=self.registry)
        self.up.set(1)
        # every built-in content type and verdict is counted from zero now: the first item of each kind would
        # otherwise build its series (label checks, 13 buckets) inside its request, 0.6 ms of the first text's
        # 4; and Prometheus reads a series that starts at 0 better than one that appears with its first item
        for content_type in CONTENT_TYPES:
            self.latency.labels(content_type)
            for verdict in VERDICTS:
                self.items.labels(content_type, verdict)

    def observe_item(self, item: Item, seconds: float) -> None:
        self.items.labels(item.content_type, item.verdict.verdict).inc()
        self.latency.labels(item.content_type).observe(seconds)
        for m in item.verdict.matches:
            self.matches.labels(m.signal_type, m.bank_kind).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
