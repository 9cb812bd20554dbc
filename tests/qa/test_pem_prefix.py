"""Text before -----BEGIN: MTLS003 must say what OpenSSL (and so nginx) really does - checked
against the openssl CLI of the system OpenSSL, which nginx uses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.qa.test_cli_consistency import pki, run  # noqa: F401 - fixture


@pytest.mark.parametrize("prefix,openssl_reads", [(b"\xef\xbb\xbf", True), (b"xyz", False)])
def test_text_before_begin_matches_openssl(pki: Path, tmp_path: Path, prefix: bytes,  # noqa: F811
                                           openssl_reads: bool):
    path = tmp_path / "ca.pem"
    path.write_bytes(prefix + (pki / "ca" / "root.pem").read_bytes())
    done = subprocess.run(["openssl", "x509", "-in", str(path), "-noout"], capture_output=True,
                          timeout=30)
    assert (done.returncode == 0) is openssl_reads  # a UTF-8 BOM is skipped, other text is not
    data = json.loads(run("inspect", str(path), "--format", "json").stdout)
    flagged = any(f["rule"] == "MTLS003" for f in data["findings"])
    assert flagged is not openssl_reads, data["findings"]
