"""Benchmark: `mtls-doctor inspect --format json` on the system CA store against
`openssl crl2pkcs7 -nocrl -certfile F | openssl pkcs7 -print_certs -text -noout`, plus the
start-up time of `mtls-doctor --help`.

Wall time of whole processes (interpreter start-up included), several runs, median.
Targets (issue 2): inspect < 0.5 s, --help < 0.25 s. Prints a markdown section to stdout.

    .venv/bin/python bench/bench_inspect.py [--runs N] [--file PEM]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

CA_STORE = "/etc/ssl/certs/ca-certificates.crt"


def mtls_doctor_cmd() -> list[str]:
    script = Path(sys.executable).with_name("mtls-doctor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mtls_doctor"]


def timed(cmd: list[str], runs: int, shell: bool = False) -> tuple[float, list[float]]:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd if not shell else cmd[0],
            shell=shell,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        times.append(time.perf_counter() - t0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"command failed ({proc.returncode}): {cmd}")
    return statistics.median(times), times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--file", default=CA_STORE)
    args = ap.parse_args()

    print("## inspect vs openssl (issue 2)\n")
    if not os.path.isfile(args.file):
        print(f"Skipped: `{args.file}` is missing (install `ca-certificates`).\n")
        return 0
    if shutil.which("openssl") is None:
        print("Skipped: the `openssl` CLI is not installed.\n")
        return 0
    n_certs = Path(args.file).read_bytes().count(b"-----BEGIN CERTIFICATE-----")
    md = mtls_doctor_cmd()
    # warm the page cache and the .pyc files once, untimed
    subprocess.run([*md, "inspect", "--format", "json", args.file], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=120)
    ours, ours_all = timed([*md, "inspect", "--format", "json", args.file], args.runs)
    pipeline = (
        f"openssl crl2pkcs7 -nocrl -certfile {args.file} | "
        "openssl pkcs7 -print_certs -text -noout"
    )
    theirs, theirs_all = timed([pipeline], args.runs, shell=True)
    help_t, help_all = timed([*md, "--help"], args.runs)

    def ok(value: float, target: float) -> str:
        return "met" if value < target else "MISSED"

    print(f"Input: `{args.file}` ({n_certs} certificates). {args.runs} runs each, median wall "
          "time of the whole process (interpreter start-up included); machine: "
          f"{os.cpu_count()} CPUs, shared.\n")
    print("| command | median | min | max | target |")
    print("|---|---|---|---|---|")
    print(f"| `mtls-doctor inspect --format json` | {ours:.3f} s | {min(ours_all):.3f} s | "
          f"{max(ours_all):.3f} s | < 0.5 s ({ok(ours, 0.5)}) |")
    print(f"| `openssl crl2pkcs7 \\| openssl pkcs7 -print_certs -text` | {theirs:.3f} s | "
          f"{min(theirs_all):.3f} s | {max(theirs_all):.3f} s | - |")
    print(f"| `mtls-doctor --help` | {help_t:.3f} s | {min(help_all):.3f} s | "
          f"{max(help_all):.3f} s | < 0.25 s ({ok(help_t, 0.25)}) |")
    print(f"\nRatio inspect / openssl pipeline: **{ours / theirs:.2f}x** (the openssl pipeline "
          "only prints; inspect also builds the chain tree with signature checks, judges every "
          "certificate and emits JSON).\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
