"""The version matrix from the outside: `lab run --matrix`, `demo --nginx` and `verify --nginx`
on every nginx of the roots (tools/roots.sh), the per-release table, and bad input.

Roots are found in $MTLS_DOCTOR_ROOTS (default /var/cache/mtls-doctor/roots); tests that need a
root of a given release skip, saying so, when it has not been built (`.ci/run` builds bullseye and
sid). Nothing here is mocked: every nginx is real, every libcrypto the nginx's own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.lab.matrix import matrix_nginx, roots_dir
from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.model import InputError
from mtls_doctor.nginx.local import describe_nginx, os_root, parse_nginx_V
from mtls_doctor.pki import openssl_versions as ov
from mtls_doctor.pki import remote

pytestmark = pytest.mark.nginx
CLI = [sys.executable, "-m", "mtls_doctor"]


def _root_nginx(suite: str) -> str:
    path = Path(roots_dir()) / suite / "usr" / "sbin" / "nginx"
    if not (path.parent.parent.parent / ".mtls-doctor-root").is_file():
        pytest.skip(f"no {suite} root in {roots_dir()} (tools/roots.sh build {suite})")
    return str(path)


def _run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("matrix-lab") / "lab"
    build_lab_pki(datetime.now(timezone.utc)).write(target)
    return target


# -- the per-release table (measured data, no nginx needed) ------------------------------------

def test_release_table_measured_texts_and_translation():
    r111, r30, r36 = ov.parse_release("1.1.1w"), ov.parse_release("OpenSSL 3.0.19 27 Jan 2026"), \
        ov.parse_release("3.6.5")
    assert ov.text(18, r111) == "self signed certificate"
    assert ov.text(18, r30) == "self-signed certificate"
    assert ov.text(9, r36) == "certificate is not yet valid or the system clock is incorrect"
    assert ov.translate(20, source=r30, target=r111, depth_exceeded=True) == 22
    assert ov.translate(20, source=r30, target=r111, depth_exceeded=False) == 20
    assert ov.translate(79, source=r30, target=r111, depth_exceeded=False) == 24
    # a release between measured series stands for the closest older one, marked approximate
    stands, same = ov.nearest(ov.parse_release("3.2.1"))
    assert stands.series == (3, 0) and not same
    for bad in ("0.9.8", "banana", "", "2.0"):
        with pytest.raises(InputError):
            ov.parse_release(bad)


def test_nginx_V_names_the_tls_library():
    base = "nginx version: nginx/1.25.3\n"
    assert parse_nginx_V(base + "built with OpenSSL 3.0.2 15 Mar 2022\n")["tls_library"] == "OpenSSL"
    assert parse_nginx_V(base + "built with LibreSSL 3.8.2\n")["tls_library"] == "LibreSSL"
    boring = parse_nginx_V(base + "built with OpenSSL 1.1.1 (compatible; BoringSSL) (running with "
                                  "BoringSSL)\n")
    assert boring["tls_library"] == "BoringSSL"
    fields = parse_nginx_V(base + "built with OpenSSL 3.5.7 9 Jun 2026 (running with OpenSSL 3.5.9 "
                                  "29 Sep 2026)\n")
    assert fields["running_with"] == "OpenSSL 3.5.9 29 Sep 2026"


# -- real nginx of other releases ---------------------------------------------------------------

def test_a_root_nginx_is_described_with_its_own_libcrypto():
    binary = _root_nginx("bullseye")
    build = describe_nginx(binary)
    assert build is not None and build.version == "1.18.0"
    assert build.openssl_version.startswith("1.1.1") and build.root == os_root(binary)
    assert build.libcrypto and build.libcrypto.startswith(build.root)


def test_lab_run_matrix_shows_where_versions_differ():
    _root_nginx("bullseye")
    done = _run("lab", "run", "--matrix", "depth-default", "good", "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["matched"] and len(data["nginx"]) == len(matrix_nginx())
    deep = next(d for d in data["differences"]
                if (d["scenario"], d["client"]) == ("depth-default", "two-intermediates"))
    old = next(v for k, v in deep["by_nginx"].items() if k.startswith("1.18.0"))
    assert old == "400 FAILED:certificate chain too long"


@pytest.mark.parametrize("suite", ["bullseye", "sid"])
def test_demo_runs_on_the_nginx_of_each_release(suite):
    done = _run("demo", "--nginx", _root_nginx(suite))
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("suite, code, text", [
    ("bullseye", 22, "certificate chain too long"),
    ("sid", 20, "unable to get local issuer certificate"),
])
def test_verify_given_the_nginx_uses_its_libcrypto(suite, code, text, lab_dir):
    done = _run("verify", "--nginx", _root_nginx(suite), "--ssl-client-certificate",
                str(lab_dir / "ca/root.pem"), str(lab_dir / "clients/deep-chain.pem"),
                "--format", "json")
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout)
    row = data["results"][0] if "results" in data else data["clients"][0]
    assert (row["verify_error"]["code"], row["verify_error"]["text"]) == (code, text)
    assert data["prediction"]["exact"] is True


def test_a_newer_libcrypto_runs_in_its_own_root():
    binary = _root_nginx("sid")
    engine = remote.engine_for(describe_nginx(binary).libcrypto)
    assert engine.openssl_version().startswith("OpenSSL 3.6")
    with pytest.raises(engine.DecodeError):
        engine.Store([b"\x30\x03garbage"])


# -- bad input: one line, exit 2 -------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (("--nginx", "/bin/true"), "not an nginx binary"),
    (("--nginx", "/nonexistent/nginx"), "not an nginx binary"),
    (("--openssl-version", "0.9.8"), "--openssl-version"),
    (("--nginx-version", "x.y"), "--nginx-version"),
])
def test_bad_version_input_is_one_line_and_exit_2(args, words, lab_dir):
    done = _run("verify", "--ssl-client-certificate", str(lab_dir / "ca/root.pem"),
                str(lab_dir / "clients/good-chain.pem"), *args, timeout=60)
    assert done.returncode == 2, done
    assert len(done.stderr.strip().splitlines()) == 1 and words in done.stderr, done.stderr


def test_a_libcrypto_that_cannot_load_says_why(lab_dir):
    binary = _root_nginx("sid")
    lib = describe_nginx(binary).libcrypto
    probe = subprocess.run([sys.executable, "-c", f"import ctypes; ctypes.CDLL({lib!r})"],
                           capture_output=True, timeout=30)
    if probe.returncode == 0:
        pytest.skip(f"this machine's C library loads {lib} (a newer host than the root)")
    done = _run("verify", "--ssl-client-certificate", str(lab_dir / "ca/root.pem"),
                str(lab_dir / "clients/good-chain.pem"), env={"MTLS_DOCTOR_LIBCRYPTO": lib}, timeout=60)
    assert done.returncode == 2, done
    line = done.stderr.strip()
    assert len(line.splitlines()) == 1 and "cannot load libcrypto" in line and "GLIBC" in line, line


def test_lint_judges_for_the_nginx_and_openssl_given(lab_dir, tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp { server { listen 127.0.0.1:8443 ssl;\n"
        f"  ssl_certificate {lab_dir}/server/server.pem; ssl_certificate_key {lab_dir}/server/server.key;\n"
        f"  ssl_verify_client on; ssl_client_certificate {lab_dir}/bundles/client-ca-all.pem; }} }}\n")
    told = _run("lint", str(conf), "--openssl-version", "3.5.1", "--nginx-version", "1.26.3", timeout=60)
    assert "nginx version: 1.26.3; OpenSSL: 3.5.1" in told.stdout, told.stdout
    assert "with error 2 (" in told.stdout and "MTLS207" in told.stdout, told.stdout  # 3.x: 2 (measured)
    old = _run("lint", str(conf), "--nginx", _root_nginx("bullseye"), timeout=60)
    assert "nginx version: 1.18.0; OpenSSL: 1.1.1w" in old.stdout, old.stdout
    assert "error 22 (certificate chain too long" in old.stdout, old.stdout


def test_a_helper_that_cannot_load_its_library_is_not_left_running():
    from mtls_doctor.pki.libcrypto import LibcryptoUnavailable

    def children() -> set[int]:
        found: set[int] = set()
        for task in os.listdir("/proc/self/task"):
            found |= {int(p) for p in Path(f"/proc/self/task/{task}/children").read_text().split()}
        return found

    before = children()
    with pytest.raises(LibcryptoUnavailable, match="cannot load libcrypto"):
        remote._start("/nonexistent/libcrypto.so.3")
    assert children() - before == set()


def test_diagnose_verifies_with_the_nginx_it_diagnoses(lab_dir, tmp_path):
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        "events {}\nhttp { server { listen 127.0.0.1:8443 ssl; server_name localhost;\n"
        f"  ssl_certificate {lab_dir}/server/server.pem; ssl_certificate_key {lab_dir}/server/server.key;\n"
        f"  ssl_verify_client on; ssl_client_certificate {lab_dir}/ca/root.pem; }} }}\n")
    done = _run("diagnose", "--nginx", _root_nginx("bullseye"), "--config", str(conf), "--cert",
                str(lab_dir / "clients/deep-chain.pem"), "--key", str(lab_dir / "clients/deep.key"),
                "--no-probe", "--format", "json", timeout=120)
    data = json.loads(done.stdout)
    assert data["verify"][0]["ssl_client_verify"] == "FAILED:certificate chain too long"  # 1.1.1
    assert data["root_causes"][0]["cause"] == "verify-depth-exceeded"


def test_probe_offline_verdict_uses_the_nginx_given(lab_dir, tmp_path):
    from mtls_doctor.lab.nginx import NginxServer

    binary = _root_nginx("bullseye")
    http = """
server {
    listen 127.0.0.1:@PORT0@ ssl;
    server_name localhost;
    ssl_certificate pki/server.pem;
    ssl_certificate_key pki/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_client on;
    ssl_client_certificate pki/root.pem;
    location / { return 200 "$ssl_client_verify"; }
}
"""
    files = {"pki/server.pem": (lab_dir / "server/server.pem").read_bytes(),
             "pki/server.key": (lab_dir / "server/server.key").read_bytes(),
             "pki/root.pem": (lab_dir / "ca/root.pem").read_bytes()}
    with NginxServer(http, files=files, nginx_bin=binary, workdir=tmp_path / "ng") as server:
        done = _run("probe", f"https://127.0.0.1:{server.port}/", "--servername", "localhost",
                    "--ca-file", str(lab_dir / "ca/root.pem"), "--cert",
                    str(lab_dir / "clients/deep-chain.pem"), "--key", str(lab_dir / "clients/deep.key"),
                    "--client-ca", str(lab_dir / "ca/root.pem"), "--nginx", binary,
                    "--no-legacy", "--format", "json", timeout=120)
    data = json.loads(done.stdout)
    assert data["offline_verdict"]["ssl_client_verify"] == "FAILED:certificate chain too long", data
    assert data["judged_for"]["nginx_version"] == "1.18.0"
