"""Benchmark: one full `mtls-doctor probe` (the default matrix) of a loopback nginx against the
equivalent sequence of `openssl s_client -msg` + `curl` processes, and against `sslyze` (its
client-authentication detection, from bench/.venv-anchors when installed).

The matrix: {no certificate, throwaway self-signed, the user's certificate} x {SNI, no SNI} x
{TLS 1.3, TLS 1.2}, plus the TLS 1.0/1.1 check: 12 handshakes each followed by an HTTP request,
and one legacy handshake. The openssl/curl equivalent runs one `s_client -msg` (to see the
CertificateRequest and CA names) and one `curl` (for the HTTP answer) per cell, plus one
`s_client -tls1_1`: 25 processes. Wall time of whole processes (interpreter start-up included),
median of several runs. Targets (issue 6): the full matrix under 0.5 s; faster than the
s_client+curl sequence; 10x faster than sslyze. Prints a markdown section to stdout.

    .venv/bin/python bench/bench_probe.py [--runs N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SSLYZE = HERE / ".venv-anchors" / "bin" / "sslyze"

HTTP = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name localhost;
    ssl_certificate certs/server.pem;
    ssl_certificate_key certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate certs/root.pem;
    location / { return 200 "verify=$ssl_client_verify\\n"; }
}
"""


def mtls_doctor_cmd() -> list[str]:
    script = Path(sys.executable).with_name("mtls-doctor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mtls_doctor"]


def run(cmd: list[str], timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, env=env)


def cached_env(directory: Path) -> dict:
    """The environment of an installed package: byte-code cached (here under a temp prefix, so
    nothing is written into the source tree), even when PYTHONDONTWRITEBYTECODE is set."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(directory / "pycache")
    return env


CPU: dict[int, list[float]] = {}


def timed(fn, runs: int) -> tuple[float, list[float], object]:
    """Median wall time; the CPU time (user+sys) the child processes used per run is kept in
    ``CPU[id(fn)]`` (less sensitive than wall time to other load on the machine)."""
    import resource

    times, cpu, last = [], [], None
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        last = fn()
        times.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    CPU[id(fn)] = cpu
    return statistics.median(times), times, last


def openssl_sequence(port: int, d: Path) -> dict:
    """The s_client + curl sequence a user would run for the same matrix; returns what it saw."""
    seen = {"certificate_requests": 0, "http": []}
    certs = {"none": [], "self-signed": ["ss.pem", "ss.key"], "user": ["good-chain.pem", "good.key"]}
    for tls in ("1.3", "1.2"):
        for sni in (True, False):
            for kind, files in certs.items():
                cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-msg",
                       f"-tls{tls.replace('.', '_')}", "-CAfile", str(d / "root.pem")]
                cmd += ["-servername", "localhost"] if sni else ["-noservername"]
                if files:
                    cmd += ["-cert", str(d / files[0]), "-key", str(d / files[1])]
                out = run(cmd)
                seen["certificate_requests"] += (out.stdout + out.stderr).count("CertificateRequest")
                url = f"https://localhost:{port}/" if sni else f"https://127.0.0.1:{port}/"
                curl = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                        "--cacert", str(d / "root.pem"), f"--tlsv{tls}", "--tls-max", tls,
                        "-H", "Host: localhost"]
                if sni:
                    curl += ["--resolve", f"localhost:{port}:127.0.0.1"]
                if files:
                    curl += ["--cert", str(d / files[0]), "--key", str(d / files[1])]
                seen["http"].append(run(curl + [url]).stdout)
    run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"])
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--fleet", type=int, default=500, help="targets in the fleet run (0: skip)")
    args = ap.parse_args()
    print("## probe vs openssl s_client + curl, and sslyze (issue 6)\n")
    missing = [t for t in ("openssl", "curl") if shutil.which(t) is None]
    if missing:
        print(f"Skipped: {', '.join(missing)} not installed.\n")
        return 0
    from mtls_doctor.lab.nginx import NginxNotFound, NginxServer, find_nginx
    from mtls_doctor.lab.pki import build_lab_pki

    try:
        nginx_bin = find_nginx()
    except NginxNotFound as exc:
        print(f"Skipped: {exc}\n")
        return 0
    pki = build_lab_pki(dt.datetime.now(dt.timezone.utc))
    with tempfile.TemporaryDirectory(prefix="bench-probe-") as tmp:
        d = Path(tmp)
        (d / "root.pem").write_bytes(pki.pem("root"))
        (d / "good-chain.pem").write_bytes(pki.clients["good"].chain_pem)
        (d / "good.key").write_bytes(pki.clients["good"].key_pem)
        (d / "ss.pem").write_bytes(pki.clients["self-signed"].cert_pem)
        (d / "ss.key").write_bytes(pki.clients["self-signed"].key_pem)
        for key in d.glob("*.key"):
            os.chmod(key, 0o600)
        files = {"certs/server.pem": pki.server_chain_pem, "certs/server.key": pki.server.key_pem,
                 "certs/root.pem": pki.pem("root")}
        with NginxServer(HTTP, files=files, nginx_bin=nginx_bin, workdir=d / "nginx") as server:
            port = server.port
            probe_cmd = mtls_doctor_cmd() + [
                "probe", f"https://localhost:{port}/", "--ca-file", str(d / "root.pem"),
                "--cert", str(d / "good-chain.pem"), "--key", str(d / "good.key"), "--format", "json"]
            env = cached_env(d)
            cold, _, _ = timed(lambda: run(probe_cmd, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}), 1)
            run(probe_cmd, env=env)  # warm: page cache and byte-code cache
            ours_fn = lambda: run(probe_cmd, env=env)  # noqa: E731
            ours, ours_all, proc = timed(ours_fn, args.runs)
            ours_cpu = statistics.median(CPU[id(ours_fn)])
            data = json.loads(proc.stdout)
            n_attempts = len(data["attempts"])
            seq_fn = lambda: openssl_sequence(port, d)  # noqa: E731
            sequence, seq_all, seen = timed(seq_fn, max(1, args.runs // 2))
            seq_cpu = statistics.median(CPU[id(seq_fn)])
            lib = _library_time(port, d)
            sslyze_line = _sslyze(port, d, max(1, args.runs // 2))
            fleet = _fleet(port, d, args.fleet, env) if args.fleet else None
    print(f"Loopback nginx 1.22 (`ssl_verify_client on`), lab PKI, {os.cpu_count()} CPUs; load "
          f"average at start {os.getloadavg()[0]:.1f}. Median of {args.runs} runs (whole processes).\n")
    print("| tool | what it runs | wall time | ratio vs mtls-doctor | client CPU (user+sys) | CPU ratio |")
    print("|---|---|---:|---:|---:|---:|")
    print(f"| `mtls-doctor probe` (default matrix + your cert) | {n_attempts} attempts + TLS 1.0/1.1 check, one process | {ours * 1000:.0f} ms | 1.0x | {ours_cpu * 1000:.0f} ms | 1.0x |")
    print(f"| `openssl s_client -msg` + `curl` | 25 processes for the same cells | {sequence * 1000:.0f} ms | {sequence / ours:.1f}x | {seq_cpu * 1000:.0f} ms | {seq_cpu / ours_cpu:.1f}x |")
    if sslyze_line:
        t, requirement, cpu = sslyze_line
        print(f"| `sslyze --certinfo` (client-auth detection) | 1 process, one SNI/version | {t * 1000:.0f} ms | {t / ours:.1f}x | {cpu * 1000:.0f} ms | {cpu / ours_cpu:.1f}x |")
    print()
    print(f"- mtls-doctor library time of the matrix alone (no interpreter start-up): {lib * 1000:.0f} ms.")
    print(f"- mtls-doctor without a byte-code cache (every module compiled, as under "
          f"PYTHONDONTWRITEBYTECODE=1): {cold * 1000:.0f} ms.")
    print(f"- all runs (ms): mtls-doctor {[round(x * 1000) for x in ours_all]}, "
          f"s_client+curl {[round(x * 1000) for x in seq_all]}.")
    print(f"- What each saw: mtls-doctor `inferred_mode` = **{data['inferred_mode']}**, "
          f"`certificate_request` = {data['certificate_request']}, CA names {data['ca_names']}; "
          f"s_client saw {seen['certificate_requests']} CertificateRequest lines in 12 runs; curl "
          f"statuses {sorted(set(seen['http']))} (400 for both 495 and 496: the page text is needed).")
    if sslyze_line:
        print(f"- sslyze's verdict: client_auth_requirement = **{sslyze_line[1]}** (nginx `on` is "
              "enforced at the HTTP level, which sslyze cannot see).")
    else:
        print("- sslyze: not measured (bench/.venv-anchors/bin/sslyze missing; run bench/setup_anchors.sh).")
    if fleet:
        n, seconds, handshakes, records = fleet
        print(f"- Fleet: `mtls-doctor probe --targets` with {n} loopback targets (default matrix, "
              f"--concurrency 16): {seconds:.1f} s, {n / seconds:.1f} targets/s, {handshakes} "
              f"attempts ({handshakes / seconds:.0f}/s); {records} JSON Lines records.")
    target = "met" if ours < 0.5 else "NOT met"
    print(f"- Target \"full matrix under 0.5 s wall including start-up\": {target} ({ours * 1000:.0f} ms "
          f"wall, {ours_cpu * 1000:.0f} ms CPU; wall time here depends on the machine's load, see "
          "the load average above).\n")
    return 0


def _fleet(port: int, d: Path, n: int, env: dict):
    targets = d / "targets.txt"
    targets.write_text("".join(f"https://localhost:{port}/t{i}\n" for i in range(n)))
    cmd = mtls_doctor_cmd() + ["probe", "--targets", str(targets), "--ca-file", str(d / "root.pem"),
                               "--cert", str(d / "good-chain.pem"), "--key", str(d / "good.key"),
                               "--no-legacy"]
    t0 = time.perf_counter()
    proc = run(cmd, timeout=1800, env=env)
    seconds = time.perf_counter() - t0
    records = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    return n, seconds, sum(r["attempts"] for r in records), len(records)


def _library_time(port: int, d: Path) -> float:
    from mtls_doctor.probe.handshake import ProbeConfig
    from mtls_doctor.probe.identity import load_identity
    from mtls_doctor.probe.matrix import run_matrix

    ident = load_identity(cert=str(d / "good-chain.pem"), key=str(d / "good.key"))
    config = ProbeConfig("localhost", port, ca_file=str(d / "root.pem"), verify_name="localhost")
    run_matrix(config, "localhost", other_sni=None, identity=ident)  # warm-up (imports)
    t0 = time.perf_counter()
    run_matrix(config, "localhost", other_sni=None, identity=ident)
    return time.perf_counter() - t0


def _sslyze(port: int, d: Path, runs: int):
    if not SSLYZE.exists():
        return None
    out_file = d / "sslyze.json"
    cmd = [str(SSLYZE), "--mozilla_config", "disable", "--certinfo", "--certinfo_ca_file",
           str(d / "root.pem"), "--sni", "localhost", "--json_out", str(out_file), f"127.0.0.1:{port}"]
    fn = lambda: run(cmd, timeout=120)  # noqa: E731
    t, _, _ = timed(fn, runs)
    cpu = statistics.median(CPU[id(fn)])
    requirement = "?"
    try:
        result = json.loads(out_file.read_text())["server_scan_results"][0]
        requirement = result["connectivity_result"]["client_auth_requirement"]
    except (OSError, KeyError, IndexError, ValueError, TypeError):
        pass
    return t, requirement, cpu


if __name__ == "__main__":
    sys.exit(main())
