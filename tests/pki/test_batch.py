"""pki.batch: the clean-PEM fast path equals the tolerant loader, and verify_paths (in this
process or in worker processes) equals loading + Verifier.verify one by one."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mtls_doctor.lab.pki import build_lab_pki
from mtls_doctor.model import InputError
from mtls_doctor.pki import batch
from mtls_doctor.pki.load import load_bytes, load_path
from mtls_doctor.pki.verify import TrustSettings, Verifier

AT = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("lab")
    build_lab_pki(AT).write(d)
    return d


def _pems(lab: Path) -> list[bytes]:
    return [p.read_bytes() for p in sorted((lab / "clients").glob("*.pem"))] + \
        [p.read_bytes() for p in sorted((lab / "ca").glob("*.pem"))]


def _rewrap(pem: bytes, width: int) -> bytes:
    """The same certificate blocks with base64 lines of ``width`` characters."""
    out = []
    for block in pem.split(b"-----END CERTIFICATE-----\n"):
        if not block.strip():
            continue
        body = block.split(b"-----BEGIN CERTIFICATE-----\n", 1)[1].replace(b"\n", b"")
        lines = [body[i:i + width] for i in range(0, len(body), width)]
        out.append(b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n"
                   b"-----END CERTIFICATE-----\n")
    return b"".join(out)


# -- the fast path takes clean files and gives exactly the tolerant loader's Bundle ------------

def test_clean_files_take_the_fast_path_with_the_same_bundle(lab):
    for pem in _pems(lab):
        fast = batch.parse_clean_pem(pem, "x.pem")
        assert fast is not None
        assert fast == load_bytes(pem, "x.pem")
        assert fast.cert_lines == load_bytes(pem, "x.pem").cert_lines


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_rewrapped_chains_equal_the_tolerant_loader(lab, data):
    pems = _pems(lab)
    chosen = data.draw(st.lists(st.sampled_from(pems), min_size=1, max_size=4))
    width = data.draw(st.sampled_from([4, 16, 64, 76, 1000]))
    pem = b"".join(_rewrap(p, width) for p in chosen)
    if data.draw(st.booleans()):
        pem = pem[:-1]  # no newline after the last END line
    fast = batch.parse_clean_pem(pem, "c.pem")
    assert fast is not None
    assert fast == load_bytes(pem, "c.pem")


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_edit_is_declined_or_still_equal(lab, data):
    """Insert, delete or replace bytes anywhere (CR, spaces, text, ':' headers, labels, cut
    short): the fast path either declines or returns exactly what the tolerant loader does."""
    pem = data.draw(st.sampled_from(_pems(lab)))
    edits = data.draw(st.lists(st.tuples(
        st.sampled_from(["insert", "delete", "replace"]),
        st.integers(min_value=0, max_value=len(pem)),
        st.sampled_from([b"\r", b"\r\n", b" ", b"\n", b"\n\n", b"x", b"=", b"-", b":",
                         b"Proc-Type: 4,ENCRYPTED\n", b"-----END CERTIFICATE-----\n",
                         b"-----BEGIN CERTIFICATE-----\n", b"subject=CN=a\n", b"\x00", b"A"])),
        min_size=1, max_size=3))
    for kind, at, chunk in edits:
        at = min(at, len(pem))
        if kind == "insert":
            pem = pem[:at] + chunk + pem[at:]
        elif kind == "delete":
            pem = pem[:at] + pem[at + len(chunk):]
        else:
            pem = pem[:at] + chunk + pem[at + len(chunk):]
    fast = batch.parse_clean_pem(pem, "e.pem")
    if fast is not None:
        assert fast == load_bytes(pem, "e.pem")


def test_unusual_files_are_declined(lab):
    good = (lab / "clients" / "good.pem").read_bytes()
    for data in (b"", good.replace(b"\n", b"\r\n"), b"junk\n" + good, good + b"trailing",
                 good.replace(b"CERTIFICATE", b"TRUSTED CERTIFICATE"),
                 good + (lab / "clients" / "good.key").read_bytes(),
                 good[:len(good) // 2], good.replace(b"-----\n", b"-----\n ", 1)):
        assert batch.parse_clean_pem(data, "u.pem") is None


# -- load_client: the same Bundle or the same InputError as load_path --------------------------

def test_load_client_equals_load_path_on_files(lab, tmp_path, monkeypatch):
    monkeypatch.chdir(lab)
    (tmp_path / "empty.pem").write_bytes(b"")
    (tmp_path / "crlf.pem").write_bytes((lab / "clients" / "good-chain.pem").read_bytes()
                                        .replace(b"\n", b"\r\n"))
    (tmp_path / "garbage.pem").write_bytes(os.urandom(300))
    paths = ["clients/good-chain.pem", "./clients/good.pem", "clients//deep-chain.pem",
             str(lab / "clients" / "good.p12"), str(tmp_path / "empty.pem"),
             str(tmp_path / "crlf.pem"), str(tmp_path / "garbage.pem"), Path("ca/root.pem")]
    for path in paths:
        assert batch.load_client(path) == load_path(path), path
    for bad in ("missing.pem", "clients", str(tmp_path / "nope" / "x.pem")):
        with pytest.raises(InputError) as fast:
            batch.load_client(bad)
        with pytest.raises(InputError) as slow:
            load_path(bad)
        assert str(fast.value) == str(slow.value)


@given(st.lists(st.sampled_from(["a", "b.pem", ".", "..", "", "x y"]), min_size=1,
                max_size=5), st.booleans(), st.booleans())
def test_source_name_is_that_of_path(parts, absolute, trailing):
    text = ("/" if absolute else "") + "/".join(parts) + ("/" if trailing else "")
    if text:
        assert batch._source(text) == str(Path(text))


# -- verify_paths: the same outcomes as the one-by-one path, in or out of process --------------

def _one_by_one(verifier, paths):
    out = []
    for path in paths:
        try:
            bundle = load_path(path)
        except InputError as exc:
            out.append((path, None, [str(exc)], None))
            continue
        if not bundle.certificates:  # as the verify command's job did
            detail = "; ".join(p.message for p in bundle.problems) or "no certificate in it"
            out.append((path, None, [f"{path}: no client certificate ({detail})"], None))
            continue
        leaf, *chain = bundle.certificates
        out.append((path, leaf, [f"{path}: {p.message}" for p in bundle.problems],
                    verifier.verify(leaf, chain, AT)))
    return out


def _comparable(outcomes):
    return [(o[0], o[1], o[2], None if o[3] is None else o[3].to_dict()) for o in outcomes]


@pytest.mark.parametrize("parallel", [False, True])
def test_verify_paths_equals_one_by_one(lab, monkeypatch, parallel):
    monkeypatch.chdir(lab)
    clients = sorted(str(p.relative_to(lab)) for p in (lab / "clients").glob("*.pem"))
    clients += ["clients/good.p12", "ca/root.key", "missing.pem"] + clients
    root = load_path("ca/root.pem").certificates
    inter = load_path("ca/inter.pem").certificates
    trust = TrustSettings(client_certificate=tuple(root), trusted_certificate=tuple(inter),
                          verify_depth=1)
    if parallel:  # force worker processes for this small batch
        monkeypatch.setattr(batch, "MIN_PARALLEL", 1)
        monkeypatch.setattr(batch, "_idle_cpus", lambda cpus: 2.0)
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
        assert batch._usable_workers(2, len(clients)) == 2
    with Verifier(trust) as verifier:
        got = list(batch.verify_paths(verifier, clients, AT, workers=2))
        want = _one_by_one(verifier, clients)
    assert [o.path for o in got] == clients
    assert _comparable(got) == _comparable(want)
    statuses = {o.result.status for o in got if o.result is not None}
    assert statuses == {200, 400}  # both verdicts were exercised
    missing = [o for o in got if o.path == "missing.pem"][0]
    assert missing.result is None and missing.problems == ["missing.pem: no such file"]


def test_a_dying_worker_does_not_hang_and_the_rest_is_done_here(lab, monkeypatch):
    """A worker killed mid-batch (as by a crash inside libcrypto) breaks the pool; the batch
    then finishes in this process, in order, with the same outcomes."""
    monkeypatch.chdir(lab)
    clients = ["clients/good-chain.pem", "clients/expired-chain.pem"] * 20
    parent = os.getpid()
    real = batch.check_client

    def dies_in_worker(verifier, path, password, at):
        if os.getpid() != parent and path == "clients/expired-chain.pem":
            os._exit(3)
        return real(verifier, path, password, at)

    monkeypatch.setattr(batch, "check_client", dies_in_worker)
    monkeypatch.setattr(batch, "MIN_PARALLEL", 1)
    monkeypatch.setattr(batch, "_idle_cpus", lambda cpus: 2.0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    root = load_path("ca/root.pem").certificates
    inter = load_path("ca/inter.pem").certificates
    trust = TrustSettings(client_certificate=tuple(root), trusted_certificate=tuple(inter))
    with Verifier(trust) as verifier:
        got = list(batch.verify_paths(verifier, clients, AT, workers=2))
        want = _one_by_one(verifier, clients)
    assert _comparable(got) == _comparable(want)


def test_idle_cpus_is_between_zero_and_all():
    assert 0.0 <= batch._idle_cpus(2) <= 2.0 + 1e-9
