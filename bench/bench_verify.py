"""Benchmark: `mtls-doctor verify` over N client certificates of one CA vs one `openssl verify`.

Generates N (default 10,000) client certificates of one CA into a temporary directory once, then
times, over the same files and with the same settings (purpose sslclient, depth 1, at one time):

- openssl:  ONE `openssl verify -CAfile ca.pem -purpose sslclient -verify_depth 1 -attime T
            -no-CApath -no-CAstore f1 ... fN` process (what a user would run);
- library:  one Python process: load every file (mtls_doctor.pki.load) and `Verifier.verify`
            each (one X509_STORE, as nginx), with the full nginx verdict and explanation;
- batch:    `mtls_doctor.pki.batch.verify_paths` (clean-PEM fast path, one X509_STORE, worker
            processes when CPUs are idle): what `mtls-doctor verify` calls once patched;
- cli:      `mtls-doctor verify --format json --ssl-client-certificate ca.pem f1 ... fN`, one
            process, JSON for every client.

Each is run REPEAT times (default 3), interleaved, and the best time is kept. Prints a markdown section with
the ratios (> 1 means mtls-doctor is faster). Usage:
    .venv/bin/python bench/bench_verify.py [N] [REPEAT]
The CLI subprocess inherits the environment: PYTHONPATH=<a patched copy of src> measures a patch
to the command before it is applied.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from mtls_doctor.pki import issue, libcrypto


def generate(directory: Path, n: int, at: datetime) -> tuple[Path, list[Path]]:
    ca = issue.CA.new("bench client CA", at=at)
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    files = []
    for i in range(n):
        leaf = ca.issue(f"client {i:05d}", at=at)
        path = directory / f"c{i:05d}.pem"
        path.write_bytes(leaf.cert.public_bytes(Encoding.PEM))
        files.append(path)
    return ca_file, files


def measure(fn) -> tuple[float, float, object]:
    """(wall seconds, CPU seconds of this process and its children, result)."""
    def cpu() -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    c, t = cpu(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t, cpu() - c, out


def run_openssl(ca_file: Path, files: list[Path], at: datetime) -> int:
    cmd = ["openssl", "verify", "-CAfile", str(ca_file), "-purpose", "sslclient",
           "-verify_depth", "1", "-attime", str(int(at.timestamp())), "-no-CApath",
           "-no-CAstore", *map(str, files)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return proc.stdout.count(": OK\n")


def run_library(ca_file: Path, files: list[Path], at: datetime, workers: int = 1) -> int:
    """Files read with cryptography (what a library user holds), full nginx verdict each."""
    from cryptography import x509

    from mtls_doctor.pki.verify import TrustSettings, Verifier

    ca = x509.load_pem_x509_certificates(ca_file.read_bytes())
    with Verifier(TrustSettings(client_certificate=tuple(ca), verify_depth=1)) as verifier:
        items = ((x509.load_pem_x509_certificate(p.read_bytes()), ()) for p in files)
        return sum(r.ssl_client_verify == "SUCCESS"
                   for r in verifier.verify_many(items, at, workers=workers))


def run_library_loader(ca_file: Path, files: list[Path], at: datetime) -> int:
    """As the CLI does: mtls_doctor's tolerant loader per file, 2 threads."""
    from mtls_doctor.pki.load import load_path
    from mtls_doctor.pki.verify import TrustSettings, Verifier

    ca = load_path(ca_file).certificates
    with Verifier(TrustSettings(client_certificate=tuple(ca), verify_depth=1)) as verifier:
        def job(path: Path):
            leaf, *chain = load_path(path).certificates
            return verifier.verify(leaf, chain, at).ssl_client_verify == "SUCCESS"

        with ThreadPoolExecutor(max_workers=2) as pool:
            return sum(pool.map(job, files))


def run_batch(ca_file: Path, files: list[Path], at: datetime, workers: int) -> int:
    """``pki.batch.verify_paths``, every result turned into its JSON dict as the CLI does."""
    from mtls_doctor.pki.batch import verify_paths
    from mtls_doctor.pki.load import load_path
    from mtls_doctor.pki.verify import TrustSettings, Verifier

    ca = load_path(ca_file).certificates
    with Verifier(TrustSettings(client_certificate=tuple(ca), verify_depth=1)) as verifier:
        return sum(o.result.to_dict()["ssl_client_verify"] == "SUCCESS"
                   for o in verify_paths(verifier, [str(f) for f in files], at,
                                         workers=workers))


def run_cli(ca_file: Path, files: list[Path], at: datetime) -> int:
    exe = Path(sys.executable).with_name("mtls-doctor")
    cmd = [str(exe), "verify", "--format", "json", "--ssl-client-certificate", str(ca_file),
           "--at", at.isoformat(), *map(str, files)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    return proc.stdout.count('"ssl_client_verify": "SUCCESS"')


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    at = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=1)
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as tmp:
        ca_file, files = generate(Path(tmp), n, at)
        # Interleaved rounds, best of each: the machine is shared, so load changes over time.
        runs = {"ssl": run_openssl, "lib1": run_library,
                "lib2": lambda c, f, a: run_library(c, f, a, workers=2),
                "load": run_library_loader,
                "batch1": lambda c, f, a: run_batch(c, f, a, 1),
                "batch2": lambda c, f, a: run_batch(c, f, a, 2),
                "cli": run_cli}
        wall = {k: [] for k in runs}
        cpu = {k: [] for k in runs}
        oks = {}
        load = os.getloadavg()[0]
        loads = [load]
        for _ in range(repeat):
            loads.append(os.getloadavg()[0])
            for key, fn in runs.items():
                w, c, oks[key] = measure(lambda: fn(ca_file, files, at))
                wall[key].append(w)
                cpu[key].append(c)
        loads.append(os.getloadavg()[0])
        load = max(loads)
    assert set(oks.values()) == {n}, oks
    print(f"## verify: {n:,} client certificates of one CA\n")
    print(f"Machine: {os.cpu_count()} CPUs, 1-min load average {min(loads):.1f} to {load:.1f} "
          "(other work on the machine) during the run; "
          f"{libcrypto.openssl_version()}; best of {repeat} interleaved rounds. CPU = user + "
          "system seconds of the process (and its children).\n")
    print("| tool | wall s | certs/s | wall ratio | CPU s | CPU ratio |")
    print("|---|---:|---:|---:|---:|---:|")
    names = {"ssl": "`openssl verify -CAfile ca.pem -purpose sslclient` (one process)",
             "lib1": "library: cryptography reads, `Verifier.verify_many`, 1 thread",
             "lib2": "library: cryptography reads, `Verifier.verify_many`, 2 threads",
             "load": "library: mtls_doctor.pki.load + `Verifier.verify`, 2 threads (old CLI)",
             "batch1": "library: `pki.batch.verify_paths`, 1 process",
             "batch2": "library: `pki.batch.verify_paths`, up to 2 processes (idle CPUs)",
             "cli": "`mtls-doctor verify --format json` (as on PYTHONPATH)"}
    base_w, base_c = min(wall["ssl"]), min(cpu["ssl"])
    for key, name in names.items():
        w, c = min(wall[key]), min(cpu[key])
        print(f"| {name} | {w:.2f} | {n / w:,.0f} | {base_w / w:.2f}x | {c:.2f} | "
              f"{base_c / c:.2f}x |")
    print("\nEvery run accepted every certificate. Ratio > 1: mtls-doctor is faster than one "
          "`openssl verify` process. Both spend most of their time in the same libcrypto calls "
          "(d2i_X509, X509_verify_cert); mtls-doctor adds file loading in Python and the full "
          "nginx verdict (chain, names, explanation) per certificate.")


if __name__ == "__main__":
    main()
