"""Benchmark: `mtls-doctor exporter` against Prometheus' blackbox_exporter (Debian's
`prometheus-blackbox-exporter`) probing the same loopback nginx targets, in one run.

1. One probe on loopback: the median wall time of a `/probe` request, sequentially, for each
   exporter (mtls-doctor: the module below, no certificate + throwaway + one identity on TLS 1.3;
   blackbox: its `http` prober with the same client certificate, `fail_if_not_ssl`).
2. Throughput: N targets (distinct ports of one nginx, `ssl_verify_client on`) probed with a
   client concurrency of C, straight at each exporter: wall time, targets/s, the exporter's CPU.
3. Prometheus: one real Prometheus (Debian's `prometheus`) scrapes the N targets through each
   exporter in turn, `scrape_interval` 15 s; after two intervals, how many targets were scraped
   (`up == 1`) and probed successfully, and the scrape durations.

Everything listens on 127.0.0.1 and every process is stopped at the end. Not a test: it prints a
markdown section for docs/benchmarks.md.

    .venv/bin/python bench/bench_exporter.py [--targets 500] [--runs 15] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

INTERVAL = 15


def get(url: str, timeout: float = 30.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_http(url: str, what: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if get(url, timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{what} did not start")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_nginx(prefix: Path, ports: list[int]) -> subprocess.Popen:
    listens = "".join(f"    listen 127.0.0.1:{p} ssl;\n" for p in ports)
    conf = f"""worker_processes 1;
pid nginx.pid;
error_log logs/error.log warn;
events {{ worker_connections {len(ports) + 1024}; }}
http {{
  access_log off;
  client_body_temp_path tmp; proxy_temp_path tmp; fastcgi_temp_path tmp; uwsgi_temp_path tmp; scgi_temp_path tmp;
  server {{
{listens}    server_name localhost;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate certs/root.pem;
    location / {{ return 200 "verify=$ssl_client_verify\\n"; }}
  }}
}}
"""
    (prefix / "logs").mkdir(exist_ok=True)
    (prefix / "tmp").mkdir(exist_ok=True)
    (prefix / "nginx.conf").write_text(conf)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    process = subprocess.Popen([nginx, "-p", str(prefix), "-c", "nginx.conf", "-g", "daemon off;"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=(prefix / "nginx.stderr").open("wb"))
    time.sleep(0.5)
    if process.poll() is not None:
        raise SystemExit("nginx did not start: " + (prefix / "nginx.stderr").read_text()[-500:])
    return process


def free_ports(n: int) -> list[int]:
    from mtls_doctor.lab.nginx import free_ports as lab_free_ports

    return list(lab_free_ports(n))


def start_mtls_doctor(work: Path, lab: dict[str, Path], concurrency: int) -> tuple[subprocess.Popen, str]:
    config = work / "modules.yaml"
    config.write_text(f"""modules:
  lab:
    sni: localhost
    server_ca_file: {lab['root']}
    tls_versions: ["1.3"]
    timeout_seconds: 5
    expected_mode: "on"
    identities:
      - {{name: good, cert: {lab['cert']}, key: {lab['key']}}}
allow_targets: ["127.0.0.1:*"]
max_concurrent_probes: {concurrency}
probe_deadline_seconds: 30
""")
    (port,) = free_ports(1)
    exe = Path(sys.executable).with_name("mtls-doctor")
    process = subprocess.Popen([str(exe), "exporter", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=(work / "mtls-exporter.log").open("wb"))
    address = f"127.0.0.1:{port}"
    wait_http(f"http://{address}/metrics", "mtls-doctor exporter")
    return process, address


def start_blackbox(work: Path, lab: dict[str, Path]) -> tuple[subprocess.Popen, str]:
    config = work / "blackbox.yml"
    config.write_text(f"""modules:
  mtls:
    prober: http
    timeout: 5s
    http:
      method: GET
      fail_if_not_ssl: true
      preferred_ip_protocol: ip4
      tls_config:
        ca_file: {lab['root']}
        cert_file: {lab['cert']}
        key_file: {lab['key']}
        server_name: localhost
        min_version: TLS13
""")
    (port,) = free_ports(1)
    binary = shutil.which("prometheus-blackbox-exporter") or "/usr/bin/prometheus-blackbox-exporter"
    process = subprocess.Popen([binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                                "--log.level=warn"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=(work / "blackbox.log").open("wb"))
    address = f"127.0.0.1:{port}"
    wait_http(f"http://{address}/metrics", "blackbox_exporter")
    return process, address


def probe_url(kind: str, address: str, port: int) -> str:
    if kind == "mtls-doctor":
        q = {"target": f"127.0.0.1:{port}", "module": "lab"}
    else:
        q = {"target": f"https://127.0.0.1:{port}/", "module": "mtls"}
    return f"http://{address}/probe?" + urllib.parse.urlencode(q)


def succeeded(kind: str, body: str) -> bool:
    name = "mtls_probe_success" if kind == "mtls-doctor" else "probe_success"
    return any(line.startswith(name + " ") and line.split()[-1] in ("1", "1.0") for line in body.splitlines())


def one_probe(kind: str, address: str, port: int, runs: int) -> tuple[float, bool]:
    times, ok = [], True
    get(probe_url(kind, address, port))  # warm-up
    for _ in range(runs):
        start = time.perf_counter()
        status, body = get(probe_url(kind, address, port))
        times.append(time.perf_counter() - start)
        ok = ok and status == 200 and succeeded(kind, body)
    return statistics.median(times), ok


def burst(kind: str, process: subprocess.Popen, address: str, ports: list[int], concurrency: int) -> dict:
    cpu0 = cpu_seconds(process.pid)
    start = time.perf_counter()
    with cf.ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda p: get(probe_url(kind, address, p)), ports))
    wall = time.perf_counter() - start
    cpu = cpu_seconds(process.pid) - cpu0
    good = sum(1 for status, body in results if status == 200 and succeeded(kind, body))
    return {"wall": wall, "rate": len(ports) / wall, "ok": good, "cpu": cpu}


def prometheus_round(kind: str, address: str, ports: list[int], work: Path) -> dict:
    (port,) = free_ports(1)
    if kind == "mtls-doctor":
        targets = [f"127.0.0.1:{p}" for p in ports]
        module, success = "lab", "mtls_probe_success"
    else:
        targets = [f"https://127.0.0.1:{p}/" for p in ports]
        module, success = "mtls", "probe_success"
    config = work / f"prometheus-{kind}.yml"
    config.write_text(f"""global:
  scrape_interval: {INTERVAL}s
  scrape_timeout: {INTERVAL - 1}s
scrape_configs:
  - job_name: probe
    metrics_path: /probe
    params: {{module: [{module}]}}
    static_configs: [{{targets: {json.dumps(targets)}}}]
    relabel_configs:
      - {{source_labels: [__address__], target_label: __param_target}}
      - {{source_labels: [__param_target], target_label: instance}}
      - {{target_label: __address__, replacement: '{address}'}}
""")
    binary = shutil.which("prometheus") or "/usr/bin/prometheus"
    data = work / f"prom-data-{kind}"
    process = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={data}",
                                f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=(work / f"prometheus-{kind}.log").open("wb"))
    try:
        wait_http(f"http://127.0.0.1:{port}/-/ready", "prometheus")
        time.sleep(2 * INTERVAL + 3)  # two full intervals: every target scraped twice

        def query(expr: str) -> float | None:
            _, body = get(f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            result = json.loads(body)["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        return {
            "up": query('count(up{job="probe"} == 1)') or 0,
            "success": query(f'count({success}{{job="probe"}} == 1)') or 0,
            "scrapes": query('sum(count_over_time(up{job="probe"}[1m]))') or 0,
            "avg": query('avg(scrape_duration_seconds{job="probe"})'),
            "max": query('max(scrape_duration_seconds{job="probe"})'),
        }
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=500)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-prometheus", action="store_true")
    args = parser.parse_args()
    from mtls_doctor.lab.pki import build_lab_pki

    load = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="bench-exporter-"))
    pki = build_lab_pki(dt.datetime.now(dt.timezone.utc))
    certs = work / "certs"
    certs.mkdir()
    (certs / "server.pem").write_bytes(pki.server_chain_pem)
    (certs / "server.key").write_bytes(pki.server.key_pem)
    (certs / "root.pem").write_bytes(pki.pem("root"))
    client = pki.clients["good"]
    lab = {"root": certs / "root.pem", "cert": work / "good.pem", "key": work / "good.key"}
    lab["cert"].write_bytes(client.chain_pem)
    lab["key"].write_bytes(client.key_pem)
    os.chmod(lab["key"], 0o600)
    ports = free_ports(args.targets)
    nginx = start_nginx(work, ports)
    procs: list[subprocess.Popen] = [nginx]
    results: dict[str, dict] = {}
    try:
        mtls, mtls_addr = start_mtls_doctor(work, lab, args.concurrency)
        procs.append(mtls)
        bb, bb_addr = start_blackbox(work, lab)
        procs.append(bb)
        for kind, process, address in (("mtls-doctor", mtls, mtls_addr), ("blackbox_exporter", bb, bb_addr)):
            median, ok = one_probe(kind, address, ports[0], args.runs)
            results[kind] = {"one": median, "one_ok": ok,
                             "burst": burst(kind, process, address, ports, args.concurrency)}
        if not args.no_prometheus:
            for kind, address in (("mtls-doctor", mtls_addr), ("blackbox_exporter", bb_addr)):
                results[kind]["prom"] = prometheus_round(kind, address, ports, work)
    finally:
        for p in reversed(procs):
            stop(p)
        shutil.rmtree(work, ignore_errors=True)
    m, b = results["mtls-doctor"], results["blackbox_exporter"]
    n = args.targets
    print("## exporter vs blackbox_exporter (issue 16)\n")
    print(f"Loopback nginx 1.22 (`ssl_verify_client on`), {n} targets (ports of one nginx), lab PKI, "
          f"2 CPUs; load average at start {load:.1f}. `.venv/bin/python bench/bench_exporter.py "
          f"--targets {n} --runs {args.runs} --concurrency {args.concurrency}`.\n")
    print("| measure | mtls-doctor exporter | blackbox_exporter | ratio (mtls-doctor / blackbox) |")
    print("|---|---:|---:|---:|")
    print(f"| one `/probe`, median of {args.runs} | {m['one'] * 1000:.0f} ms | {b['one'] * 1000:.0f} ms | "
          f"{m['one'] / b['one']:.1f}x the time |")
    mb, bbst = m["burst"], b["burst"]
    print(f"| {n} targets, {args.concurrency} at a time: wall | {mb['wall']:.1f} s | {bbst['wall']:.1f} s | "
          f"{mb['wall'] / bbst['wall']:.1f}x |")
    print(f"| targets/s | {mb['rate']:.0f} | {bbst['rate']:.0f} | {mb['rate'] / bbst['rate']:.2f}x |")
    print(f"| exporter CPU for the {n} probes | {mb['cpu']:.1f} s | {bbst['cpu']:.1f} s | "
          f"{mb['cpu'] / max(bbst['cpu'], 0.01):.1f}x |")
    print(f"| successful probes | {mb['ok']}/{n} | {bbst['ok']}/{n} | |")
    if "prom" in m:
        mp, bp = m["prom"], b["prom"]
        print(f"| Prometheus, {INTERVAL} s interval: targets up after 2 intervals | {mp['up']:.0f}/{n} | "
              f"{bp['up']:.0f}/{n} | |")
        print(f"| ... probed successfully | {mp['success']:.0f}/{n} | {bp['success']:.0f}/{n} | |")
        print(f"| ... scrape duration avg / max | {mp['avg'] or 0:.2f} s / {mp['max'] or 0:.2f} s | "
              f"{bp['avg'] or 0:.2f} s / {bp['max'] or 0:.2f} s | {(mp['avg'] or 0) / max(bp['avg'] or 0, 1e-6):.1f}x (avg) |")
    print()
    print(f"- What one probe does: mtls-doctor 3 TLS 1.3 handshakes each followed by an HTTP request (no "
          "certificate, a throwaway self-signed one, the configured identity) and reports mode, "
          "CertificateRequest, CA names and hash, per-identity verdicts, server and client expiry; "
          "blackbox_exporter 1 handshake with the client certificate and 1 HTTP request, and reports "
          "success, status, TLS version and certificate expiry.")
    print(f"- One probe succeeded every time: mtls-doctor {m['one_ok']}, blackbox_exporter {b['one_ok']}.")


if __name__ == "__main__":
    main()
