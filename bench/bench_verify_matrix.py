"""Benchmark: `mtls-doctor verify --nginx ROOT_NGINX` (the nginx's own libcrypto, in a helper
process) vs that root's own `openssl verify`, over N client certificates of one CA.

What a user of an nginx of another release would otherwise run is that release's `openssl verify`
(here run with the root's loader, the way mtls-doctor runs the root's nginx). Both sides are one
process over the same N files (purpose sslclient, depth 1); mtls-doctor also prints the whole nginx
verdict per client (JSON). Best of REPEAT runs, interleaved. Usage (roots from tools/roots.sh):

    .venv/bin/python bench/bench_verify_matrix.py [N] [REPEAT] [SUITE...]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_verify import generate  # noqa: E402 - the same certificates as bench_verify.py

from mtls_doctor.lab.matrix import roots_dir  # noqa: E402
from mtls_doctor.nginx.local import describe_nginx, root_command  # noqa: E402

CLI = [sys.executable, "-m", "mtls_doctor"]


def best(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    suites = sys.argv[3:] or ["bullseye", "trixie", "sid"]
    at = datetime.now(timezone.utc)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ca, files = generate(Path(tmp), n, at)
        names = [str(f) for f in files]
        for suite in suites:
            root = Path(roots_dir()) / suite
            nginx = root / "usr/sbin/nginx"
            if not nginx.is_file():
                print(f"skip {suite}: no root (tools/roots.sh build {suite})", file=sys.stderr)
                continue
            build = describe_nginx(str(nginx))
            openssl = [*root_command(str(root), str(root / "usr/bin/openssl")), "verify",
                       "-CAfile", str(ca), "-purpose", "sslclient", "-verify_depth", "1",
                       "-attime", str(int(at.timestamp())), "-no-CApath", *names]
            ours = [*CLI, "verify", "--nginx", str(nginx), "--format", "json",
                    "--ssl-client-certificate", str(ca), *names]
            t_openssl = best(openssl, repeat)
            t_ours = best(ours, repeat)
            rows.append((f"nginx {build.version} / OpenSSL {build.openssl_version}", t_openssl, t_ours))
    print(f"\n### verify --nginx on the version matrix ({n} clients, best of {repeat}, one run)\n")
    print("| nginx of the root | that root's `openssl verify` | `mtls-doctor verify --nginx` | ratio |")
    print("|---|---|---|---|")
    for label, t_openssl, t_ours in rows:
        print(f"| {label} | {t_openssl:.2f} s | {t_ours:.2f} s | {t_openssl / t_ours:.2f}x |")
    print(f"\n({os.cpu_count()} CPUs; ratio > 1: mtls-doctor faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
