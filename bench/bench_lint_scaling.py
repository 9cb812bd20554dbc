"""Benchmark: how `mtls-doctor lint` scales (issue 11): in server blocks, in findings, for every
output format, and with a 10,000-certificate CA bundle named by the configuration.

Configurations come from ``bench_lint.generate`` (N mTLS server blocks, several findings each).
Each run is a fresh process as a user runs it (start-up included), wall time and peak RSS
(``wait4``), median of --repeat runs. Prints a markdown section to stdout; the scaling factor is
the time ratio divided by the size ratio (1.0 = linear).

    .venv/bin/python bench/bench_lint_scaling.py [--sizes 1000,5000,20000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_lint import generate  # noqa: E402

ROOT = HERE.parent
MTLS = [str(ROOT / ".venv" / "bin" / "mtls-doctor"), "lint", "--nginx-version", "1.22.1"]
FORMATS = ("text", "json", "sarif")
TIME = "/usr/bin/time"  # GNU time: the peak RSS of the command itself
GIXY = HERE / ".venv-anchors" / "bin" / "gixy"  # bench/setup_anchors.sh


def run(cmd: list[str], repeat: int, timeout: float | None = None) -> tuple[float | None, float, int, float]:
    """(median wall seconds, max peak RSS MiB, exit code, median CPU seconds) of ``repeat``
    fresh runs; the time is None when a run exceeded ``timeout``. From GNU time: ``%M`` of the
    command itself (``wait4`` of a child forked from this Python process starts from this
    process's RSS), CPU = ``%U + %S`` (the measure of growth on a shared machine)."""
    times, peaks, cpus, rc = [], [], [], 0
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
            start = time.perf_counter()
            try:
                done = subprocess.run([TIME, "-f", "T %U %S %M", "-o", report.name, *cmd],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      stdin=subprocess.DEVNULL, timeout=timeout)
            except subprocess.TimeoutExpired:
                return None, float("nan"), -1, float("nan")
            times.append(time.perf_counter() - start)
            rc = done.returncode
            fields = [ln.split() for ln in Path(report.name).read_text().splitlines() if ln.startswith("T ")][-1]
            cpus.append(float(fields[1]) + float(fields[2]))
            peaks.append(int(fields[3]) / 1024)
    return statistics.median(times), max(peaks), rc, statistics.median(cpus)


def ca_bundle(n: int) -> bytes:
    """N self-issued CA certificates with distinct subjects (one key: generation stays fast)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)
    out = []
    for i in range(n):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"bench CA {i}")])
        out.append(x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(i + 1)
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=365))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return b"".join(out)


def bundle_config(servers: int, bundle: Path) -> str:
    blocks = "".join(
        f"    server {{\n        listen 127.0.0.1:{10000 + i % 50} ssl;\n"
        f"        server_name b{i}.example.test;\n        ssl_verify_client on;\n"
        f"        ssl_client_certificate {bundle};\n    }}\n" for i in range(servers))
    return "events {}\nhttp {\n" + blocks + "}\n"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000,20000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--bundle", type=int, default=10000, help="certificates in the CA bundle")
    ap.add_argument("--gixy-timeout", type=float, default=60, help="seconds per gixy-ng run")
    ap.add_argument("--lint-args", default="", help="extra lint arguments, e.g. '--ignore MTLS214'")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rows: dict[tuple[int, str], tuple[float, float, int, float]] = {}
    gixy: dict[int, tuple[float | None, float, int, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lint-scaling-") as tmp:
        for n in sizes:
            conf = Path(tmp) / f"servers-{n}.conf"
            conf.write_text(generate(n))
            for fmt in FORMATS:
                rows[(n, fmt)] = run(MTLS + args.lint_args.split() + ["--no-files", "--format", fmt, str(conf)],
                                     args.repeat)
                print(f"# {n} servers {fmt}: {rows[(n, fmt)][0]:.2f} s wall, {rows[(n, fmt)][3]:.2f} s cpu", file=sys.stderr)
            if GIXY.exists():  # the anchor: what a user would otherwise run on the same file
                gixy[n] = run([str(GIXY), str(conf)], 1, args.gixy_timeout)
                print(f"# {n} servers gixy-ng: {gixy[n][0]} s", file=sys.stderr)
        bundle = Path(tmp) / "ca-bundle.pem"
        bundle.write_bytes(ca_bundle(args.bundle))
        bundle_rows = {}
        for servers in (1, 1000):
            conf = Path(tmp) / f"bundle-{servers}.conf"
            conf.write_text(bundle_config(servers, bundle))
            bundle_rows[servers] = run(MTLS + ["--format", "json", str(conf)], args.repeat)
            print(f"# bundle x {servers} servers: {bundle_rows[servers][0]:.2f} s", file=sys.stderr)
    lo, hi = sizes[0], sizes[-1]
    cpu = {k: v[3] for k, v in rows.items()}
    out = ["## lint scaling (issue 11)", "",
           "Generated configurations (`bench_lint.generate`: N mTLS server blocks, about 2 findings"
           " each); a fresh process per run (start-up included), median of"
           f" {args.repeat} run(s); `lint --no-files --nginx-version 1.22.1 --format F`. Command:"
           f" `.venv/bin/python bench/bench_lint_scaling.py --sizes {args.sizes} --repeat"
           f" {args.repeat} --gixy-timeout {args.gixy_timeout:g}"
           + (f" --lint-args '{args.lint_args}'" if args.lint_args else "") + "`. Cells: CPU s (user + sys, the"
           " measure: the machine is shared and wall time follows its load) / wall s / peak RSS MiB"
           f" (GNU time). Scaling factor = CPU time ratio / size ratio ({lo:,} -> {hi:,}); 1.0 is"
           " linear, a quadratic cost would give the size ratio.", "",
           "| servers | " + " | ".join(f"{f}" for f in FORMATS) + " |",
           "|---:|" + "---:|" * len(FORMATS)]
    for n in sizes:
        out.append(f"| {n:,} | " + " | ".join(
            f"{cpu[(n, f)]:.2f} / {rows[(n, f)][0]:.2f} / {rows[(n, f)][1]:.0f}" for f in FORMATS) + " |")
    factors = {f: (cpu[(hi, f)] / cpu[(lo, f)]) / (hi / lo) for f in FORMATS}
    out.append("| scaling factor | " + " | ".join(f"{factors[f]:.2f}" for f in FORMATS) + " |")
    out += ["", "Per step (CPU time ratio for the size ratio): "
            + "; ".join(f"{f} " + ", ".join(f"{a // 1000}k -> {b // 1000}k {cpu[(b, f)] / cpu[(a, f)]:.2f}x"
                                          f" (size {b / a:g}x)" for a, b in zip(sizes, sizes[1:]))
                        for f in FORMATS) + "."]
    if gixy:
        cells = []
        for n in sizes:
            t, _, _, gcpu = gixy[n]
            ours, ocpu = rows[(n, "json")][0], cpu[(n, "json")]
            cells.append(f"{n:,} servers: gixy-ng {gcpu:.2f} s CPU / {t:.2f} s wall, {gcpu / ocpu:.1f}x"
                         " mtls-doctor JSON's CPU" if t is not None
                         else f"{n:,} servers: gixy-ng > {args.gixy_timeout:g} s wall (stopped), > "
                              f"{args.gixy_timeout / ours:.0f}x mtls-doctor JSON's wall")
        out += ["", "The anchor, gixy-ng (default checks, its own virtualenv, one run, stopped after"
                f" --gixy-timeout {args.gixy_timeout:g} s) on the same files: " + "; ".join(cells) + "."]
    out += ["", f"A {args.bundle:,}-certificate CA bundle named by `ssl_client_certificate` (files"
            " opened, `--format json`): "
            + "; ".join(f"{s:,} server(s) {c:.2f} s CPU / {t:.2f} s wall ({m:.0f} MiB)"
                        for s, (t, m, _, c) in bundle_rows.items())
            + " (growth in certificates: bench/bench_bundle_scaling.py)."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
