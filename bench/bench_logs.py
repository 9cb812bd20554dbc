"""Benchmark: `mtls-doctor logs --format json` on a large error log against the grep pipeline a
user would run instead:

    grep -c 'client SSL certificate verify error' LOG
    grep -o '(.*:' LOG | sort | uniq -c

The log (default 200 MB) is built by repeating the REAL lines of tests/logs/data/lab-error.log
(captured from a real nginx by `python -m tests.logs.lab`), with client addresses varied so that
the distinct-client bookkeeping works. Wall time of whole processes, median of --repeat runs,
and peak resident memory (RSS, from wait4) of each. Prints a markdown section to stdout.

    .venv/bin/python bench/bench_logs.py [--mb 200] [--repeat 3] [--keep PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REAL = ROOT / "tests" / "logs" / "data" / "lab-error.log"


def mtls_doctor_cmd() -> list[str]:
    script = Path(sys.executable).with_name("mtls-doctor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mtls_doctor"]


def build_log(path: Path, megabytes: int) -> int:
    lines = REAL.read_text().splitlines(True)
    size = 0
    with open(path, "w") as fh:
        rep = 0
        while size < megabytes * 1_000_000:
            rep += 1
            a, b = divmod(rep, 250)
            block = "".join(ln.replace("client: 127.0.0.1", f"client: 10.{a % 250}.{b}.{i % 250}")
                            for i, ln in enumerate(lines))
            fh.write(block)
            size += len(block)
    return path.stat().st_size


def run(cmd: str | list[str], shell: bool = False) -> tuple[float, int, bytes, float]:
    """Wall seconds, peak RSS in KiB (largest process of the tree, via wait4), stdout, CPU s."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = proc.stdout.read() if proc.stdout else b""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"command failed ({proc.returncode}): {cmd}")
    return wall, usage.ru_maxrss, out, usage.ru_utime + usage.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--keep", help="write the generated log here and keep it")
    args = ap.parse_args()

    tmp = tempfile.TemporaryDirectory()
    log = Path(args.keep) if args.keep else Path(tmp.name) / "error.log"
    size = build_log(log, args.mb)
    mb = size / 1e6

    mtls = mtls_doctor_cmd() + ["logs", "--format", "json", str(log)]
    grep = (f"grep -c 'client SSL certificate verify error' {log}; "
            f"grep -o '(.*:' {log} | sort | uniq -c")
    m_runs = [run(mtls) for _ in range(args.repeat)]
    g_runs = [run(grep, shell=True) for _ in range(args.repeat)]
    m_wall = statistics.median(r[0] for r in m_runs)
    g_wall = statistics.median(r[0] for r in g_runs)
    m_cpu = statistics.median(r[3] for r in m_runs)
    g_cpu = statistics.median(r[3] for r in g_runs)  # the shell's children: grep, sort, uniq
    m_rss = max(r[1] for r in m_runs) / 1024
    g_rss = max(r[1] for r in g_runs) / 1024
    data = json.loads(m_runs[0][2])
    # grep's pattern also matches the OCSP verdicts ("client SSL certificate verify error: certificate
    # status request failed"), which mtls-doctor groups as client-cert-ocsp-*
    verify_lines = sum(g["count"] for g in data["groups"]
                       if g["cause"].startswith(("client-cert-verify-failed:", "client-cert-ocsp-")))
    grep_count = int(g_runs[0][2].split(b"\n", 1)[0])

    print("## `mtls-doctor logs` vs grep\n")
    print(f"Input: {mb:.0f} MB error log, {sum(f['lines'] for f in data['files']):,} lines, built by "
          f"repeating real nginx 1.22.1 lines (tests/logs/data/lab-error.log); {os.cpu_count()} CPUs; "
          f"median of {args.repeat} runs, wall time of whole processes.\n")
    print("| tool | wall s | MB/s (wall) | CPU s | peak RSS MB | what it tells |")
    print("|---|---|---|---|---|---|")
    print(f"| `mtls-doctor logs --format json` | {m_wall:.2f} | {mb / m_wall:.1f} | {m_cpu:.2f} | {m_rss:.0f} | "
          f"{len(data['groups'])} cause groups with explanation, fix, first/last, servers, clients |")
    print(f"| `grep -c` + `grep -o \\| sort \\| uniq -c` | {g_wall:.2f} | {mb / g_wall:.1f} | {g_cpu:.2f} | {g_rss:.0f} | "
          "a count of verify-error lines and raw `(code:` strings |")
    print()
    print(f"Ratio (mtls-doctor / grep pipeline): **{m_wall / g_wall:.1f}x** the wall time, "
          f"{m_cpu / g_cpu:.1f}x the CPU time; "
          f"peak memory {m_rss:.0f} MB for {mb:.0f} MB of log (streamed, bounded).")
    print(f"Cross-check: verify-error lines grouped by mtls-doctor = {verify_lines:,}; "
          f"`grep -c` = {grep_count:,}" + (" (equal)." if verify_lines == grep_count else " (DIFFER)."))
    tmp.cleanup()
    return 0 if verify_lines == grep_count else 1


if __name__ == "__main__":
    sys.exit(main())
