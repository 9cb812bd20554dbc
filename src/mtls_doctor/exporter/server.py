"""The exporter's HTTP server: ``/probe``, ``/metrics`` and a short index page.

Invariants:
- binds what ``--listen`` says, 127.0.0.1:9471 by default; only GET is served;
- at most ``max_concurrent_probes`` probes run at a time, counted until the probe thread
  really ends (a probe abandoned at its deadline still holds its slot); a request that finds
  no free slot within its deadline gets 503, one over the allow-list 403, a bad target or an
  unknown module 400: every refusal is counted in ``mtls_exporter_probe_requests_rejected_total``;
- each ``/probe`` answers within its deadline: ``probe_deadline_seconds`` or the scrape timeout
  Prometheus sends (``X-Prometheus-Scrape-Timeout-Seconds``) minus a margin, whichever is
  smaller; a probe still running then is reported as failed (``mtls_probe_deadline_exceeded``);
- no response ever contains key material or passwords: metrics carry public facts only and
  error lines name paths.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from mtls_doctor import __version__
from mtls_doctor.exporter.config import ExporterConfig
from mtls_doctor.model import InputError

SCRAPE_MARGIN = 0.5  # seconds kept from Prometheus' scrape timeout for the answer itself
MAX_QUERY = 4096


class _Families:
    """A collector that yields the families given (one /probe answer)."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self):
        return iter(self.families)


class _Local:
    """The local sources, read at each scrape of /metrics."""

    def __init__(self, config: ExporterConfig) -> None:
        import prometheus_client

        if hasattr(prometheus_client, "disable_created_metrics"):  # 0.17+: no *_created series
            prometheus_client.disable_created_metrics()
        self.config = config

    def collect(self):
        from mtls_doctor.exporter.metrics import local_families
        from mtls_doctor.exporter.run import all_local_facts

        facts, nginx_ok = all_local_facts(self.config)
        return iter(local_families(facts, nginx_ok))


class Exporter:
    """The state shared by the request threads: config, slots, own metrics."""

    def __init__(self, config: ExporterConfig) -> None:
        import prometheus_client

        if hasattr(prometheus_client, "disable_created_metrics"):  # 0.17+: no *_created series
            prometheus_client.disable_created_metrics()
        self.config = config
        self.slots = threading.BoundedSemaphore(config.max_concurrent_probes)
        self.registry = CollectorRegistry()
        prometheus_client.ProcessCollector(registry=self.registry)  # process_* (Linux /proc)
        self.probes = Counter("mtls_exporter_probes", "Probes run, by module and result.",
                              ["module", "result"], registry=self.registry)
        self.rejected = Counter("mtls_exporter_probe_requests_rejected",
                                "/probe requests refused, by reason.", ["reason"],
                                registry=self.registry)
        self.in_flight = Gauge("mtls_exporter_probes_in_flight", "Probes running now.",
                               registry=self.registry)
        self.duration = Histogram("mtls_exporter_probe_duration_seconds",
                                  "Wall time of probes, by module.", ["module"],
                                  buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                  registry=self.registry)
        info = GaugeMetricFamily("mtls_exporter_build_info", "The exporter's version (always 1).",
                                 labels=["version"])
        info.add_metric([__version__], 1.0)
        modules = GaugeMetricFamily("mtls_exporter_modules", "Modules in the configuration.")
        modules.add_metric([], float(len(config.modules)))
        self.registry.register(_Families([info, modules]))
        self.registry.register(_Local(config))
        for reason in ("unknown-module", "bad-target", "not-allowed", "busy"):
            self.rejected.labels(reason)
        for module in config.modules:
            for result in ("success", "failure"):
                self.probes.labels(module, result)

    def probe(self, query: dict[str, list[str]], scrape_timeout: float | None) -> tuple[int, bytes]:
        """(HTTP status, body) of one /probe request."""
        from mtls_doctor.probe.target import parse_target

        module = self.config.modules.get((query.get("module") or [""])[0])
        if module is None:
            self.rejected.labels("unknown-module").inc()
            return 400, b"unknown or missing module (known: " + ", ".join(
                self.config.modules).encode() + b")\n"
        try:
            target = parse_target((query.get("target") or [""])[0])
        except InputError as exc:
            self.rejected.labels("bad-target").inc()
            return 400, f"{exc}\n".encode()
        if not self.config.allowed(target.host, target.port):
            self.rejected.labels("not-allowed").inc()
            return 403, f"target {target.host}:{target.port} is not in allow_targets\n".encode()
        deadline = self.config.probe_deadline_seconds
        if scrape_timeout is not None:
            deadline = max(0.5, min(deadline, scrape_timeout - SCRAPE_MARGIN))
        start = time.monotonic()
        if not self.slots.acquire(timeout=deadline):
            self.rejected.labels("busy").inc()
            return 503, b"all probe slots are busy (max_concurrent_probes)\n"
        box: dict[str, Any] = {}
        worker = threading.Thread(target=self._run, args=(target, module, box), daemon=True,
                                  name="mtls-exporter-probe")
        worker.start()
        worker.join(max(0.1, deadline - (time.monotonic() - start)))
        return 200, self._render(box, module, time.monotonic() - start)

    def _run(self, target, module, box: dict[str, Any]) -> None:
        from mtls_doctor.exporter.run import probe

        self.in_flight.inc()
        try:
            box["outcome"] = probe(target, module)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the scrape; counted
            box["error"] = f"{type(exc).__name__}"
        finally:
            self.in_flight.dec()
            self.slots.release()

    def _render(self, box: dict[str, Any], module, elapsed: float) -> bytes:
        from mtls_doctor.exporter.metrics import probe_families, success

        outcome = box.get("outcome")
        registry = CollectorRegistry()
        if outcome is None:
            families = [GaugeMetricFamily("mtls_probe_success", "", value=0.0),
                        GaugeMetricFamily("mtls_probe_duration_seconds", "", value=elapsed),
                        GaugeMetricFamily("mtls_probe_deadline_exceeded", "1 when the probe "
                                          "did not end within its deadline.",
                                          value=0.0 if "error" in box else 1.0)]
            ok = False
        else:
            families = probe_families(outcome)
            families.append(GaugeMetricFamily("mtls_probe_deadline_exceeded", "1 when the probe "
                                              "did not end within its deadline.", value=0.0))
            ok = success(outcome)
            self.duration.labels(module.name).observe(outcome.duration_seconds)
        self.probes.labels(module.name, "success" if ok else "failure").inc()
        registry.register(_Families(families))
        return generate_latest(registry)


INDEX = b"""<html><head><title>mtls-doctor exporter</title></head><body>
<h1>mtls-doctor exporter</h1>
<p><a href="/metrics">/metrics</a>: the exporter's own health and the local sources.</p>
<p>/probe?target=host:port&amp;module=NAME: probe one target with a module.</p>
</body></html>
"""


def make_handler(exporter: Exporter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "mtls-doctor-exporter"
        sys_version = ""

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            parts = urlsplit(self.path)
            if len(parts.query) > MAX_QUERY:
                return self._send(414, b"query too long\n", "text/plain")
            if parts.path == "/metrics":
                return self._send(200, generate_latest(exporter.registry), CONTENT_TYPE_LATEST)
            if parts.path == "/probe":
                timeout = self.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
                try:
                    scrape = float(timeout) if timeout else None
                except ValueError:
                    scrape = None
                status, body = exporter.probe(parse_qs(parts.query), scrape)
                kind = CONTENT_TYPE_LATEST if status == 200 else "text/plain; charset=utf-8"
                return self._send(status, body, kind)
            if parts.path == "/":
                return self._send(200, INDEX, "text/html; charset=utf-8")
            return self._send(404, b"not found\n", "text/plain")

        def _send(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the API's name
            pass  # no access log on stderr (a scrape every few seconds)

    return Handler


def serve(config: ExporterConfig, host: str, port: int) -> ThreadingHTTPServer:
    """Create the server bound to ``host:port`` (OSError when the address is unusable)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Server(ThreadingHTTPServer):
        address_family = family
        daemon_threads = True
        allow_reuse_address = True

    return Server((host, port), make_handler(Exporter(config)))
