"""Benchmark: `mtls-doctor lint` against gixy-ng on the same generated nginx configurations.

Generates configurations with N server blocks (mTLS settings, locations, proxy headers, a map
on $ssl_client_s_dn), then times each tool as a user runs it: a fresh process, start-up
included, wall time, median of --repeat runs. mtls-doctor runs with --no-files (gixy does not
open certificate files either). gixy-ng lives in its own virtualenv, bench/.venv-anchors
(bench/setup_anchors.sh), because it ships a module that replaces crossplane.

Prints a markdown section (sizes, times, ratio, scaling 1k -> 10k) to stdout.
    .venv/bin/python bench/bench_lint.py [--sizes 1000,10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GIXY = HERE / ".venv-anchors" / "bin" / "gixy"
MTLS = [str(ROOT / ".venv" / "bin" / "mtls-doctor"), "lint", "--no-files", "--nginx-version", "1.22.1",
        "--format", "json"]
TIMEOUT = 1800

MODES = ("on", "optional", "optional_no_ca", "off")


def server_block(i: int) -> str:
    mode = MODES[i % len(MODES)]
    port = 10000 + i % 50
    lines = [
        "    server {",
        f"        listen 127.0.0.1:{port} ssl{' default_server' if i < 50 else ''};",
        f"        server_name s{i}.example.test;",
        f"        ssl_certificate /etc/nginx/certs/s{i % 10}.pem;",
        f"        ssl_certificate_key /etc/nginx/certs/s{i % 10}.key;",
        f"        ssl_verify_client {mode};",
    ]
    if mode != "optional_no_ca":
        lines.append(f"        ssl_client_certificate /etc/nginx/ca/ca{i % 5}.pem;")
    if i % 3 == 0:
        lines.append("        ssl_verify_depth 2;")
    lines += [
        "        proxy_set_header X-Client-DN $ssl_client_s_dn;",
        "        location / {",
        "            proxy_set_header Host $host;" if i % 2 else "            proxy_set_header X-Client-DN $ssl_client_s_dn;",
        "            proxy_pass http://127.0.0.1:9000;",
        "        }",
        "        location /admin/ {",
        "            if ($is_admin = 0) { return 403; }",
        "            proxy_pass http://127.0.0.1:9001;",
        "        }",
        "    }",
    ]
    return "\n".join(lines)


def generate(n: int) -> str:
    head = [
        "error_log /var/log/nginx/error.log;",
        "events {}",
        "http {",
        "    ssl_protocols TLSv1.2 TLSv1.3;",
        "    map $ssl_client_s_dn $is_admin { default 0; ~CN=admin 1; }",
    ]
    return "\n".join(head + [server_block(i) for i in range(n)] + ["}", ""])


def timed(cmd: list[str], repeat: int, timeout: float = TIMEOUT) -> tuple[float | None, int | None]:
    """Median wall time of ``repeat`` fresh runs; (None, None) when a run exceeds ``timeout``."""
    times, rc = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, None
        times.append(time.perf_counter() - start)
        rc = done.returncode
    return statistics.median(times), rc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--gixy-timeout", type=float, default=TIMEOUT, help="seconds per gixy-ng run")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    have_gixy = GIXY.exists()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-lint-") as tmp:
        for n in sizes:
            conf = Path(tmp) / f"servers-{n}.conf"
            conf.write_text(generate(n))
            ours, rc_ours = timed(MTLS + [str(conf)], args.repeat)
            gixy, rc_gixy = timed([str(GIXY), str(conf)], args.repeat, args.gixy_timeout) if have_gixy else (None, None)
            rows.append((n, conf.stat().st_size, ours, rc_ours, gixy, rc_gixy))
            print(f"# {n} servers: mtls-doctor {ours:.2f}s rc={rc_ours}; gixy-ng "
                  f"{'timeout/n.a.' if gixy is None else f'{gixy:.2f}s rc={rc_gixy}'}", file=sys.stderr)
    out = ["## lint vs gixy-ng", "",
           f"Generated configurations with N mTLS server blocks; wall time of a fresh process (start-up"
           f" included), median of {args.repeat} runs; mtls-doctor `lint --no-files --format json`,"
           " gixy-ng default checks. Command: `.venv/bin/python bench/bench_lint.py"
           f" --sizes {args.sizes} --repeat {args.repeat} --gixy-timeout {args.gixy_timeout:g}`.", "",
           "| servers | config size | mtls-doctor lint | gixy-ng | gixy-ng / mtls-doctor |",
           "|---:|---:|---:|---:|---:|"]
    for n, size, ours, _rc, gixy, _rg in rows:
        if gixy is not None:
            gtext, ratio = f"{gixy:.2f} s", f"{gixy / ours:.1f}x"
        elif have_gixy:
            gtext, ratio = f"> {args.gixy_timeout:.0f} s (stopped)", f"> {args.gixy_timeout / ours:.0f}x"
        else:
            gtext, ratio = "n/a", "n/a"
        out.append(f"| {n:,} | {size / 1e6:.1f} MB | {ours:.2f} s | {gtext} | {ratio} |")
    if len(rows) >= 2:
        (n0, _, t0, *_), (n1, _, t1, *_) = rows[0], rows[-1]
        out += ["", f"Scaling {n0:,} -> {n1:,} servers ({n1 / n0:.0f}x): mtls-doctor {t1 / t0:.1f}x"]
        if rows[0][4] and rows[-1][4]:
            out[-1] += f", gixy-ng {rows[-1][4] / rows[0][4]:.1f}x"
        out[-1] += " the time."
    if not have_gixy:
        out += ["", "gixy-ng is not installed (run bench/setup_anchors.sh); only mtls-doctor was timed."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
