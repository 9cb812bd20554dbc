"""Differential test: the verify engine against the system `openssl verify`, on x509-limbo.

For every case of ../shared/testdata/x509-limbo/cases.json (next to the checkout) the engine (system libcrypto via
ctypes, nginx's settings) and `openssl verify` run with the same settings as nginx
(`-purpose sslclient -verify_depth D -attime T -auth_level 2 -CAfile trusted -untrusted
intermediates [-CRLfile crls -crl_check_all] -no-CApath -no-CAstore`, no partial chain).

What is comparable, and why (one systematic difference):
- `openssl verify`'s callback (apps/verify.c `cb()`) prints every error, lets a few kinds
  continue (10 expired, 18 self-signed leaf, 24/79 invalid CA, 37 invalid non-CA, 25 path
  length, 26 purpose, 11/12 CRL validity, 34 unhandled critical extension, 43 no explicit
  policy, and the -x509_strict errors) and STOPS at the first other one (2, 3, 7, 19, 20, 21,
  22, 23, ...); nginx's callback returns 1 always and the LAST error wins (F3.3). So:
  * the verdict (accepted or not) must be equal;
  * the errors `openssl verify` printed, in order, must be exactly the first errors of the
    engine's callback sequence (same code, same depth);
  * the final error nginx gets is the engine's last event; `openssl verify` cannot show it
    when it stopped early (that is the difference, counted and printed, never asserted away).
- `-auth_level 2`: nginx's SSL_CTX applies the system security level (2 on Debian) to client
  chains (`ssl_verify_cert_chain()`); `openssl verify` applies none unless told.
- The limbo `expected_result` is RFC 5280's opinion, not OpenSSL's; it is not used here.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest

from mtls_doctor.pki import libcrypto

CASES_FILE = Path(__file__).resolve().parents[2].parent / "shared" / "testdata" / "x509-limbo" / "cases.json"
UNBOUNDED = 100  # OpenSSL's default verify depth (X509_VERIFY_PARAM "default")
SECLEVEL = 2
_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)-----END \1-----", re.S)
_ERR = re.compile(r"^(?:\[CRL path\] )?error (\d+) at (-?\d+) depth lookup: ", re.M)


def _der_blocks(pem_text: str) -> list[bytes]:
    return [base64.b64decode(b"".join(m.group(2).split())) for m in _PEM.finditer(pem_text.encode())]


def _cases() -> list[dict]:
    if not CASES_FILE.is_file():
        pytest.skip(f"{CASES_FILE} is missing (no ../shared next to this checkout): the limbo "
                    "differential cannot run")
    return json.loads(CASES_FILE.read_text())["cases"]


def _at(case: dict, now: int) -> int:
    vt = case.get("validation_time")
    return int(datetime.fromisoformat(vt).timestamp()) if vt else now


def _depth(case: dict) -> int:
    d = case.get("max_chain_depth")
    return UNBOUNDED if d is None else int(d)


def _engine(case: dict, now: int) -> libcrypto.RawResult:
    trusted = [d for p in case["trusted_certs"] for d in _der_blocks(p)]
    crls = [d for p in case["crls"] for d in _der_blocks(p)]
    untrusted = [d for p in case["untrusted_intermediates"] for d in _der_blocks(p)]
    leaf = _der_blocks(case["peer_certificate"])[0]
    with libcrypto.Store(trusted, crls) as store:
        return store.verify(leaf, untrusted, depth=_depth(case), at=_at(case, now),
                            security_level=SECLEVEL)


def _oracle(case: dict, now: int, workdir: Path) -> tuple[bool, list[tuple[int, int]], str]:
    d = workdir / re.sub(r"[^A-Za-z0-9_.-]", "_", f"{case['variant']}-{case['id']}")
    d.mkdir()
    leaf = d / "leaf.pem"
    leaf.write_text(case["peer_certificate"])
    cmd = ["openssl", "verify", "-purpose", "sslclient", "-verify_depth", str(_depth(case)),
           "-attime", str(_at(case, now)), "-auth_level", str(SECLEVEL), "-no-CApath",
           "-no-CAstore"]
    if case["trusted_certs"]:
        (d / "trusted.pem").write_text("".join(case["trusted_certs"]))
        cmd += ["-CAfile", str(d / "trusted.pem")]
    else:
        cmd += ["-no-CAfile"]
    if case["untrusted_intermediates"]:
        (d / "untrusted.pem").write_text("".join(case["untrusted_intermediates"]))
        cmd += ["-untrusted", str(d / "untrusted.pem")]
    if case["crls"]:
        (d / "crls.pem").write_text("".join(case["crls"]))
        cmd += ["-CRLfile", str(d / "crls.pem"), "-crl_check_all"]
    cmd.append(str(leaf))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    out = proc.stdout + proc.stderr
    ok = proc.returncode == 0 and f"{leaf}: OK" in out
    errors = [(int(m.group(1)), int(m.group(2))) for m in _ERR.finditer(out)]
    return ok, errors, out


@pytest.fixture(scope="module")
def results():
    cases = _cases()
    now = int(datetime.now(timezone.utc).timestamp())
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with ThreadPoolExecutor(max_workers=4) as pool:
            oracles = list(pool.map(lambda c: _oracle(c, now, work), cases))
    engines = [_engine(c, now) for c in cases]
    return cases, engines, oracles


def test_every_limbo_case_was_run(results):
    cases, engines, oracles = results
    assert len(cases) == len(engines) == len(oracles) == 305


def test_verdicts_equal_openssl_verify(results):
    cases, engines, oracles = results
    wrong = []
    for case, raw, (ok, _errs, out) in zip(cases, engines, oracles):
        engine_ok = raw.error == 0 and raw.returned > 0
        if engine_ok != ok:
            wrong.append(f"{case['variant']}:{case['id']}: engine={raw.error} "
                         f"openssl verify={'OK' if ok else out.strip()[-200:]}")
    assert not wrong, "\n".join(wrong)


def test_openssl_verify_errors_are_the_first_callback_events(results):
    cases, engines, oracles = results
    wrong = []
    for case, raw, (ok, errs, out) in zip(cases, engines, oracles):
        events = [(e.error, e.depth) for e in raw.events]
        if events[: len(errs)] != errs:
            wrong.append(f"{case['variant']}:{case['id']}: engine events={events} "
                         f"openssl verify printed={errs}")
    assert not wrong, "\n".join(wrong)


def test_accepted_cases_report_no_error_at_all(results):
    # With the callback returning 1, an error anywhere must still be the final result unless a
    # later step reset it: a case with events must never end with X509_V_OK.
    cases, engines, _ = results
    bad = [c["id"] for c, r in zip(cases, engines) if r.events and r.error == 0]
    assert not bad


def test_systematic_difference_is_last_error_wins(results, capsys):
    """Count (and show) where nginx's final error differs from what openssl verify stopped at."""
    cases, engines, oracles = results
    differ = []
    for case, raw, (ok, errs, _out) in zip(cases, engines, oracles):
        if errs and raw.error != errs[-1][0]:
            differ.append((f"{case['variant']}:{case['id']}", errs[-1][0], raw.error, raw))
    with capsys.disabled():
        print(f"\n[limbo] {len(cases)} cases; final error differs from openssl verify's last "
              f"printed error in {len(differ)} (openssl verify stops early, nginx continues)")
        for cid, o, e, _raw in differ[:15]:
            print(f"  {cid}: openssl verify {o} -> nginx {e}")
    # Every such difference must be explained by the stop: the engine saw the oracle's errors
    # first (checked above) and then more errors.
    for cid, _o, _e, raw in differ:
        assert len(raw.events) > 1, cid


def test_security_level_is_the_other_systematic_difference(results):
    """Plain `openssl verify` (no -auth_level) accepts weak keys that nginx rejects (66/67).

    nginx's SSL_CTX carries the system security level (2 on Debian) into client-chain
    verification (`X509_VERIFY_PARAM_set_auth_level` in `ssl_verify_cert_chain()`, F6.3); a user
    running `openssl verify` without `-auth_level 2` gets a different verdict on these cases.
    """
    cases, engines, _ = results
    weak = [(c, r) for c, r in zip(cases, engines) if r.error in (66, 67, 68)]
    assert weak, "limbo has weak-key cases (webpki::forbidden-*); none was rejected for its key"
    now = int(datetime.now(timezone.utc).timestamp())
    flipped = 0
    with tempfile.TemporaryDirectory() as tmp:
        for case, raw in weak:
            cmd_case = dict(case, variant="plain-" + case["variant"])
            ok, _errs, _out = _oracle_plain(cmd_case, now, Path(tmp))
            if ok:
                flipped += 1
    assert flipped >= 1


def _oracle_plain(case: dict, now: int, workdir: Path):
    global SECLEVEL
    saved = SECLEVEL
    try:
        SECLEVEL = -1  # `-auth_level -1`: what `openssl verify` does without the option
        return _oracle(case, now, workdir)
    finally:
        SECLEVEL = saved


def test_the_nginx_layer_agrees_with_the_engine_and_always_explains(results):
    """verify_client (x509 objects in, nginx verdict out) on every case: same final error as the
    raw engine, and an explanation (never an exception) even for malformed certificates."""
    import warnings

    from cryptography import x509

    from mtls_doctor.pki.verify import TrustSettings, verify_client

    cases, engines, _ = results
    now = int(datetime.now(timezone.utc).timestamp())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # limbo has non-positive serials on purpose
        for case, raw in zip(cases, engines):
            def load(pems):
                return tuple(x509.load_der_x509_certificate(d) for p in pems
                             for d in _der_blocks(p))
            crls = tuple(x509.load_der_x509_crl(d) for p in case["crls"] for d in _der_blocks(p))
            leaf = load([case["peer_certificate"]])[0]
            settings = TrustSettings(client_certificate=load(case["trusted_certs"]), crls=crls,
                                     verify_depth=_depth(case))
            at = datetime.fromtimestamp(_at(case, now), timezone.utc)
            result = verify_client(leaf, load(case["untrusted_intermediates"]), settings, at)
            assert result.error_code == raw.error, case["id"]
            assert result.explanation, case["id"]
            assert (result.status == 200) == (raw.error == 0), case["id"]
