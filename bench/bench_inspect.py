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
import resource
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


CPU: dict[str, float] = {}


def timed(
    cmd: list[str], runs: int, shell: bool = False, ok_codes: tuple[int, ...] = (0, 1)
) -> tuple[float, list[float]]:
    """Median wall time; also records the median CPU time (user+sys of the children) in CPU,
    which is less disturbed by other load on a shared machine."""
    times, cpu = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(
            cmd if not shell else cmd[0],
            shell=shell,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
        if proc.returncode not in ok_codes:
            raise SystemExit(f"command failed ({proc.returncode}): {cmd}")
    CPU[" ".join(cmd)] = statistics.median(cpu)
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
    py = sys.executable
    reg, _ = timed([py, "-c", "import mtls_doctor.rules.bundle"], args.runs, ok_codes=(0,))
    own, _ = timed([py, "-c", "import mtls_doctor.pki.facts, mtls_doctor.pki.tree"], args.runs,
                   ok_codes=(0,))
    crypto, _ = timed([py, "-c", "import cryptography.x509"], args.runs, ok_codes=(0,))
    bare, _ = timed([py, "-c", "pass"], args.runs, ok_codes=(0,))
    cpu = list(CPU.values())

    def ok(value: float, target: float) -> str:
        return "met" if value < target else "MISSED"

    print(f"Input: `{args.file}` ({n_certs} certificates). {args.runs} runs each, median wall "
          "time of the whole process (interpreter start-up included); machine: "
          f"{os.cpu_count()} CPUs, shared.\n")
    print("| command | median wall | min | max | median CPU | target (wall) |")
    print("|---|---|---|---|---|---|")
    print(f"| `mtls-doctor inspect --format json` | {ours:.3f} s | {min(ours_all):.3f} s | "
          f"{max(ours_all):.3f} s | {cpu[0]:.3f} s | < 0.5 s ({ok(ours, 0.5)}) |")
    print(f"| `openssl crl2pkcs7 \\| openssl pkcs7 -print_certs -text` | {theirs:.3f} s | "
          f"{min(theirs_all):.3f} s | {max(theirs_all):.3f} s | {cpu[1]:.3f} s | - |")
    print(f"| `mtls-doctor --help` | {help_t:.3f} s | {min(help_all):.3f} s | "
          f"{max(help_all):.3f} s | {cpu[2]:.3f} s | < 0.25 s ({ok(help_t, 0.25)}) |")
    print(f"\nRatio inspect / openssl pipeline: **{ours / theirs:.2f}x** wall, "
          f"**{cpu[0] / cpu[1]:.2f}x** CPU (the openssl pipeline only prints; inspect also "
          "builds the chain tree with signature checks, judges every certificate and emits "
          "JSON).\n")
    print("Where inspect's start-up goes (median wall of a bare interpreter doing only this):\n")
    print(f"- `python -c pass`: {bare:.3f} s")
    print(f"- `import cryptography.x509`: {crypto:.3f} s")
    print(f"- `import mtls_doctor.pki.facts, mtls_doctor.pki.tree`: {own:.3f} s")
    print(f"- `import mtls_doctor.rules.bundle` (the bundle rules and what they need): "
          f"{reg:.3f} s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
