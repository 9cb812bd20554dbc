"""The Prometheus exporter (issue 16): ``/probe?target=...&module=...`` and ``/metrics``.

- ``config``: the modules YAML, validated into frozen dataclasses (no I/O but reading it);
- ``metrics``: pure: a probe's results and local file facts -> Prometheus metric families;
- ``run``: the I/O: one probe of a target with a module, the local sources;
- ``server``: the HTTP server (bounded concurrency, allow-list, 127.0.0.1 by default).
"""
