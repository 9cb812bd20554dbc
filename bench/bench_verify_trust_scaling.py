"""Benchmark: `mtls-doctor verify` with a large trust file (issue 11, open item 4): growth in the
certificates of --ssl-client-certificate, and where the time goes.

N self-issued CA certificates with distinct subjects (one EC key: generation stays fast), one
client issued by the first; for each N: a fresh `mtls-doctor verify --format json CLIENT
--ssl-client-certificate ca-N.pem` (CPU = user + sys from GNU time, median of --repeat runs),
the anchor `openssl verify -CAfile ca-N.pem CLIENT` (the same X509_STORE building by the same
libcrypto, one run), and the phases in this process: loading the bundle (pki.load), building the
store (pki.libcrypto.Store: d2i + X509_STORE_add_cert), and OpenSSL's X509_STORE_add_cert alone
(the certificates parsed beforehand). With --roots, `openssl verify` of each cached Debian root
(tools/roots.sh) too: the store's cost by OpenSSL release.

    .venv/bin/python bench/bench_verify_trust_scaling.py [--sizes 1000,5000,10000] [--repeat 3] [--roots]

Prints a markdown section; factor = net CPU ratio (start-up subtracted: the 1-certificate run) /
size ratio, 1.0 = linear.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MTLS = str(ROOT / ".venv" / "bin" / "mtls-doctor")
ROOTS = Path("/var/cache/mtls-doctor/roots")


def cpu_of(cmd: list[str], repeat: int) -> float:
    """Median CPU seconds (user + sys) of ``repeat`` fresh runs, from GNU time."""
    cpus = []
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
            subprocess.run(["/usr/bin/time", "-f", "T %U %S", "-o", report.name, *cmd],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           stdin=subprocess.DEVNULL, timeout=600)
            fields = [ln.split() for ln in Path(report.name).read_text().splitlines()
                      if ln.startswith("T ")][-1]
            cpus.append(float(fields[1]) + float(fields[2]))
    return statistics.median(cpus)


def make(tmp: Path, sizes: list[int]) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.timezone.utc)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    pems = []
    for i in range(max(sizes)):
        pems.append(x509.CertificateBuilder().subject_name(name(f"bench CA {i}"))
                    .issuer_name(name(f"bench CA {i}")).public_key(key.public_key())
                    .serial_number(i + 1).not_valid_before(now - dt.timedelta(days=1))
                    .not_valid_after(now + dt.timedelta(days=365))
                    .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                    .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    for n in [1, *sizes]:
        (tmp / f"ca-{n}.pem").write_bytes(b"".join(pems[:n]))
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = (x509.CertificateBuilder().subject_name(name("bench client"))
              .issuer_name(name("bench CA 0")).public_key(client_key.public_key())
              .serial_number(10 ** 9).not_valid_before(now - dt.timedelta(days=1))
              .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    (tmp / "client.pem").write_bytes(client.public_bytes(serialization.Encoding.PEM))


def phases(path: Path) -> tuple[float, float, float]:
    """(load, Store, X509_STORE_add_cert alone) CPU seconds in this process."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from mtls_doctor.pki import libcrypto
    from mtls_doctor.pki.load import load_path

    t = time.process_time()
    certs = load_path(path).certificates
    load = time.process_time() - t
    ders = [c.public_bytes(Encoding.DER) for c in certs]
    t = time.process_time()
    libcrypto.Store(ders).close()
    store = time.process_time() - t
    c = libcrypto.lib()
    xs = [libcrypto._d2i(c.d2i_X509, d, "certificate") for d in ders]
    raw = c.X509_STORE_new()
    t = time.process_time()
    for x in xs:
        c.X509_STORE_add_cert(raw, x)
    add = time.process_time() - t
    for x in xs:
        c.X509_free(x)
    c.X509_STORE_free(raw)
    return load, store, add


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1000,5000,10000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--roots", action="store_true", help="openssl verify of each cached Debian root")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from mtls_doctor.pki import libcrypto

    rows = {}
    roots = {}
    with tempfile.TemporaryDirectory(prefix="bench-verify-trust-") as name:
        tmp = Path(name)
        make(tmp, sizes)
        client = tmp / "client.pem"
        for n in [1, *sizes]:
            ca = tmp / f"ca-{n}.pem"
            ours = cpu_of([MTLS, "verify", "--format", "json", str(client),
                           "--ssl-client-certificate", str(ca)], args.repeat)
            anchor = cpu_of(["openssl", "verify", "-CAfile", str(ca), str(client)], 1)
            rows[n] = (ours, anchor, *phases(ca))
            print(f"# {n}: verify {ours:.2f} s, openssl verify {anchor:.2f} s, phases "
                  + " / ".join(f"{v:.2f}" for v in rows[n][2:]), file=sys.stderr)
        if args.roots and ROOTS.is_dir():
            for root in sorted(p for p in ROOTS.iterdir() if (p / "usr/bin/openssl").exists()):
                inside = root / "tmp" / "bench-verify-trust"
                inside.mkdir(parents=True, exist_ok=True)
                try:
                    for n in [1, *sizes]:
                        shutil.copy(tmp / f"ca-{n}.pem", inside / f"ca-{n}.pem")
                    shutil.copy(client, inside / "client.pem")
                    version = subprocess.run(["chroot", str(root), "openssl", "version"],
                                             capture_output=True, text=True).stdout.split()[1]
                    roots[f"{root.name} (OpenSSL {version})"] = {
                        n: cpu_of(["chroot", str(root), "openssl", "verify", "-CAfile",
                                   f"/tmp/bench-verify-trust/ca-{n}.pem",
                                   "/tmp/bench-verify-trust/client.pem"], 1) for n in [1, *sizes]}
                finally:
                    shutil.rmtree(inside, ignore_errors=True)
    lo, hi = sizes[0], sizes[-1]

    def factor(t: dict[int, float]) -> float:
        return ((t[hi] - t[1]) / max(t[lo] - t[1], 1e-3)) / (hi / lo)

    out = ["## verify with a large trust file (issue 11 #4)", "",
           f"`mtls-doctor verify --format json CLIENT --ssl-client-certificate ca-N.pem` (N CA"
           f" certificates, distinct subjects; a fresh process, median of {args.repeat} run(s)), the"
           " anchor `openssl verify -CAfile ca-N.pem CLIENT` (this machine's OpenSSL "
           f"{libcrypto.openssl_version().split()[1]}, one run) and the phases in one process:"
           " loading the bundle, building the store (libcrypto.Store), X509_STORE_add_cert alone."
           " CPU seconds (user + sys). Command: `.venv/bin/python bench/bench_verify_trust_scaling.py"
           f" --sizes {args.sizes} --repeat {args.repeat}{' --roots' if args.roots else ''}`.", "",
           "| N | mtls-doctor verify | openssl verify | load | Store | X509_STORE_add_cert alone |",
           "|---:|---:|---:|---:|---:|---:|"]
    for n in sizes:
        out.append(f"| {n:,} | " + " | ".join(f"{v:.2f}" for v in rows[n]) + " |")
    cols = {k: {n: rows[n][i] for n in [1, *sizes]} for i, k in
            enumerate(("verify", "openssl", "load", "store", "add"))}
    out.append(f"| factor {lo // 1000}k -> {hi // 1000}k | " + " | ".join(
        f"{factor(cols[k]):.2f}" for k in ("verify", "openssl", "load", "store", "add")) + " |")
    if roots:
        out += ["", "`openssl verify -CAfile` in each Debian root (chroot, one run): " + "; ".join(
            f"{label}: " + ", ".join(f"{n:,} {t[n]:.2f} s" for n in sizes) + f" (factor {factor(t):.2f})"
            for label, t in roots.items()) + "."]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
