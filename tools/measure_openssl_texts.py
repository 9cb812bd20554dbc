"""Measure X509_verify_cert_error_string of every OpenSSL of the version matrix.

    .venv/bin/python tools/measure_openssl_texts.py [ROOTS_DIR]

Writes src/mtls_doctor/pki/data/openssl-verify-texts.json: for each OpenSSL (the libcrypto of
each root of tools/roots.sh, plus this machine's), the text of every verify error code 0-127 as
that library prints it. mtls_doctor.pki.openssl_versions reads the file; rerun this when a root
gets a new OpenSSL release.
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys
from pathlib import Path

from mtls_doctor.pki import libcrypto, remote

OUT = Path(__file__).resolve().parents[1] / "src/mtls_doctor/pki/data/openssl-verify-texts.json"


def main() -> int:
    roots = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MTLS_DOCTOR_ROOTS", "/var/cache/mtls-doctor/roots")
    engines = [libcrypto]
    for path in sorted(glob.glob(os.path.join(roots, "*/usr/lib/*-linux-gnu/libcrypto.so.*"))):
        engines.append(remote.engine_for(path))
    table = {}
    for engine in engines:
        label = engine.openssl_version()
        number = re.search(r"OpenSSL (\d+\.\d+\.\d+[a-z]*)", label).group(1)
        table[number] = {"label": label, "texts": {str(c): engine.error_string(c) for c in range(128)}}
    data = {"what": "X509_verify_cert_error_string(code) per OpenSSL release, measured by "
                    "tools/measure_openssl_texts.py in the roots of tools/roots.sh",
            "releases": dict(sorted(table.items()))}
    OUT.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: {', '.join(sorted(table))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
