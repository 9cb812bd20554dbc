"""The lab PKI: one root, intermediates for depth cases, a server and every broken client.

``build_lab_pki(at)`` is pure and in memory (keys are random, every time is relative to
``at``); nothing touches the disk until ``LabPKI.write(directory)`` is called. The CLI command
``mtls-doctor lab pki DIR [--key-type ec|rsa] [--server-name NAME ...] [--force]`` should do::

    from datetime import datetime, timezone
    from mtls_doctor.lab.pki import build_lab_pki
    pki = build_lab_pki(datetime.now(timezone.utc), key_type=key_type, server_names=names)
    manifest = pki.write(Path(directory), force=force)

Errors: ``build_lab_pki`` raises ``LabInputError`` (both a ``ValueError`` and an ``InputError``,
so the CLI prints one line and exits 2) for a bad key type or server name; ``write`` raises
``FileExistsError`` (non-empty directory without ``--force``) or another ``OSError``.

Layout (``CAS``, ``CLIENTS``, ``CRLS`` give the exact keys, see CONTRACTS B)::

    root ─┬─ inter (pathlen 0) ── good, no-eku, server-eku, expired, not-yet-valid, revoked
          ├─ deep1 (pathlen 1) ── deep2 (pathlen 0) ── deep
          ├─ root-direct
          └─ server (localhost, 127.0.0.1, server_names)
    other-root ── foreign          self-signed (its own issuer)

Invariants: CAs are valid from ``at - 2 years`` to ``at + 3 years`` (5 years, so the expired
client still falls inside its issuer's validity), leaves for 1 year; CRLs other than
"inter-expired" are valid at ``at`` for 7 days. Key files are written 0600 from creation.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

# one home for the lab's writes (explicit modes whatever the umask, fsync)
from mtls_doctor.lab.files import DIR_MODE
from mtls_doctor.lab.files import make_dirs as _make_dirs
from mtls_doctor.lab.files import write_file as _write_file
from mtls_doctor.model import InputError
from mtls_doctor.pki.issue import (
    CA,
    KEY_TYPES,
    SERVER_AUTH,
    Leaf,
    PrivateKey,
    pem,
    self_signed,
)

CAS = ("root", "inter", "deep1", "deep2", "other-root")
CLIENTS = ("good", "root-direct", "deep", "no-eku", "server-eku", "expired", "not-yet-valid",
           "foreign", "self-signed", "revoked")
CRLS = ("root", "inter", "deep1", "deep2", "other-root", "inter-expired")
#: the password of every clients/<name>.p12 (a lab, not a secret; stated in the manifest)
P12_PASSWORD = b"lab"

_CA_START = timedelta(days=-2 * 365)
_CA_END = timedelta(days=3 * 365)
_DAY = timedelta(days=1)

_CA_INFO = {
    "root": ("mtls-doctor lab root CA", "the trust anchor of the lab; issues inter, deep1, the "
             "server and root-direct"),
    "inter": ("mtls-doctor lab client CA", "the client intermediate (pathlen 0) under root; with "
              "root it is what ssl_client_certificate holds in the good setup (F1.1, F3.2)"),
    "deep1": ("mtls-doctor lab deep CA 1", "first of two intermediates (pathlen 1) under root"),
    "deep2": ("mtls-doctor lab deep CA 2", "second intermediate (pathlen 0) under deep1; "
              "chains through it need ssl_verify_depth 2 (F3.3)"),
    "other-root": ("mtls-doctor lab other root CA", "a foreign root nginx should not trust; "
                   "issues the foreign client"),
}

_DESCRIPTIONS = {
    "good": "EKU clientAuth, issued by inter: verifies with ssl_client_certificate root + inter "
            "(bundles/client-ca.pem) at the default ssl_verify_depth 1 (F3.2), or with root only "
            "if it sends its chain (F3.4).",
    "root-direct": "Issued directly by root, no intermediate: verifies even with ssl_verify_depth "
                   "0 (F3.2, F3.3).",
    "deep": "Issued by deep2 <- deep1 <- root: two intermediates, so nginx's default "
            "ssl_verify_depth 1 rejects it with 20 (openssl verify: 22); F3.3 needs "
            "ssl_verify_depth 2.",
    "no-eku": "No extendedKeyUsage extension at all: OpenSSL's ssl_client purpose accepts it "
              "(F6.3 -> SUCCESS).",
    "server-eku": "EKU serverAuth only, issued by inter: rejected with 26 unsuitable certificate "
                  "purpose (F6.3 -> 26).",
    "expired": "Issued by inter, notAfter one day before the lab time: 10 certificate has expired "
               "(F4.2), not tolerated even by optional_no_ca (F2.4).",
    "not-yet-valid": "Issued by inter, notBefore one day after the lab time: 9 certificate is not "
                     "yet valid.",
    "foreign": "Issued by other-root, which the good setup does not trust: nginx logs 21 unable to "
               "verify the first certificate (F4.2; openssl verify prints 20); 200 with FAILED "
               "under optional_no_ca (F2.4); the cross-CA case of F7.3.",
    "self-signed": "Self-signed leaf: 18 self-signed certificate (F2.3), tolerated by "
                   "optional_no_ca (F2.4).",
    "revoked": "Issued by inter and listed in crl/inter.crl.pem: with ssl_crl holding the CRLs of "
               "root and inter it fails with 23 certificate revoked (F6.1 -> 23).",
}


@dataclass(frozen=True)
class Issued:
    """A named certificate with its key (``key_pem`` is unencrypted PKCS#8)."""

    name: str
    cert: x509.Certificate
    key: PrivateKey = field(repr=False)
    cert_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class LabClient(Issued):
    """A lab client: what it demonstrates and the intermediates it sends (nearest first)."""

    description: str
    chain: tuple[x509.Certificate, ...] = field(repr=False)
    chain_pem: bytes = field(repr=False)


@dataclass(frozen=True)
class LabCRL:
    """A CRL issued by the CA ``issuer`` (a key of ``LabPKI.cas``)."""

    name: str
    issuer: str
    crl: x509.CertificateRevocationList = field(repr=False)
    pem: bytes = field(repr=False)


def _issued(name: str, obj: CA | Leaf) -> Issued:
    return Issued(name, obj.cert, obj.key, obj.cert_pem, obj.key_pem)


def _client(name: str, leaf: Leaf, chain: Sequence[CA]) -> LabClient:
    certs = tuple(ca.cert for ca in chain)
    return LabClient(name, leaf.cert, leaf.key, leaf.cert_pem, leaf.key_pem,
                     _DESCRIPTIONS[name], certs, pem(leaf.cert, *certs))


def _lab_crl(name: str, issuer: str, crl: x509.CertificateRevocationList) -> LabCRL:
    return LabCRL(name, issuer, crl, crl.public_bytes(serialization.Encoding.PEM))


class LabInputError(InputError, ValueError):
    """A bad argument from the user (key type, server name): a ValueError for library callers,
    an InputError (one line, exit 2) for the CLI."""


_LABEL = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,62}"
_HOSTNAME = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*\.?")


def _server_names(names: Sequence[str]) -> list[str]:
    """localhost, 127.0.0.1 and ``names`` (DNS names or IP addresses), without duplicates."""
    out = ["localhost", "127.0.0.1"]
    for value in names:
        try:
            value = str(ipaddress.ip_address(value))
        except ValueError:
            if len(value) > 253 or not _HOSTNAME.fullmatch(value):
                raise LabInputError(f"invalid server name {value!r}: use a DNS name or an "
                                    "IP address") from None
        if value not in out:
            out.append(value)
    return out


def build_lab_pki(at: datetime, key_type: str = "ec",
                  server_names: Sequence[str] = ()) -> LabPKI:
    """Build the whole lab PKI in memory, every validity window relative to ``at``."""
    if key_type not in KEY_TYPES:
        raise LabInputError(f"unknown key type {key_type!r}: use one of {', '.join(KEY_TYPES)}")
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("at must be a timezone-aware datetime")
    at = at.astimezone(timezone.utc).replace(microsecond=0)
    ca_window = {"at": at, "not_before": _CA_START, "not_after": _CA_END}

    root = CA.new(_CA_INFO["root"][0], key_type=key_type, **ca_window)
    inter = root.child_ca(_CA_INFO["inter"][0], pathlen=0, **ca_window)
    deep1 = root.child_ca(_CA_INFO["deep1"][0], pathlen=1, **ca_window)
    deep2 = deep1.child_ca(_CA_INFO["deep2"][0], pathlen=0, **ca_window)
    other = CA.new(_CA_INFO["other-root"][0], key_type=key_type, **ca_window)
    cas = {"root": root, "inter": inter, "deep1": deep1, "deep2": deep2, "other-root": other}

    hosts = _server_names(server_names)
    server = root.issue("localhost", at=at, sans=hosts, eku=(SERVER_AUTH,))

    def cn(client: str) -> str:
        return f"lab client {client}"

    leaves = {
        "good": (inter.issue(cn("good"), at=at), (inter,)),
        "root-direct": (root.issue(cn("root-direct"), at=at), ()),
        "deep": (deep2.issue(cn("deep"), at=at), (deep2, deep1)),
        "no-eku": (inter.issue(cn("no-eku"), at=at, eku=None), (inter,)),
        "server-eku": (inter.issue(cn("server-eku"), at=at, eku=(SERVER_AUTH,)), (inter,)),
        "expired": (inter.issue(cn("expired"), at=at, not_before=-366 * _DAY,
                                not_after=-_DAY), (inter,)),
        "not-yet-valid": (inter.issue(cn("not-yet-valid"), at=at, not_before=_DAY,
                                      not_after=366 * _DAY), (inter,)),
        "foreign": (other.issue(cn("foreign"), at=at), ()),
        "self-signed": (self_signed(cn("self-signed"), at=at, key_type=key_type), ()),
        "revoked": (inter.issue(cn("revoked"), at=at), (inter,)),
    }
    clients = {name: _client(name, leaf, chain) for name, (leaf, chain) in leaves.items()}

    revoked_serial = clients["revoked"].cert.serial_number
    crls = {name: _lab_crl(name, name, cas[name].crl(
        at=at, number=2, revoked=(revoked_serial,) if name == "inter" else ())) for name in CAS}
    # The CRL inter published before: expired a day ago (nginx: 12 CRL has expired, F6.1).
    crls["inter-expired"] = _lab_crl(
        "inter-expired", "inter",
        inter.crl(at=at, number=1, this_update=-8 * _DAY, next_update=-_DAY))

    return LabPKI(
        at=at,
        key_type=key_type,
        server_names=tuple(hosts),
        cas={name: _issued(name, ca) for name, ca in cas.items()},
        server=_issued("server", server),
        server_chain_pem=server.cert_pem,
        clients=clients,
        crls={name: crls[name] for name in CRLS},
    )


@dataclass(frozen=True)
class LabPKI:
    """Everything ``build_lab_pki`` made; ``write`` puts it on disk with a manifest."""

    at: datetime
    key_type: str
    server_names: tuple[str, ...]
    cas: dict[str, Issued] = field(repr=False)
    server: Issued = field(repr=False)
    #: the server's chain for ssl_certificate, leaf first (the server is issued by root, so it
    #: is the leaf alone; clients trust ca/root.pem)
    server_chain_pem: bytes = field(repr=False)
    clients: dict[str, LabClient] = field(repr=False)
    crls: dict[str, LabCRL] = field(repr=False)

    def pem(self, *ca_names: str) -> bytes:
        """The named CA certificates as one PEM bundle, in the order given."""
        return b"".join(self.cas[n].cert_pem for n in ca_names)

    def crl_pem(self, *crl_names: str) -> bytes:
        """The named CRLs as one PEM bundle, in the order given."""
        return b"".join(self.crls[n].pem for n in crl_names)

    def write(self, directory: Path, *, force: bool = False) -> Path:
        """Write every file under ``directory`` and return the path of ``manifest.json``.

        Refuses (``FileExistsError``) a directory that exists and is not empty unless
        ``force``; with ``force`` the lab's own files are replaced, others are left alone.
        Keys and PKCS#12 files are created with mode 0600 (never chmod-ed afterwards).

        Atomic: everything is written into a temporary directory next to ``directory`` (same
        file system), which is renamed into place only when complete; on any error (a full
        disk: ENOSPC) it is removed and ``directory`` is as before, never a partial lab.
        Directories get mode 0755 whatever the umask (0777 under ``umask 000`` would let anyone
        replace the certificates next to the 0600 keys).
        """
        import shutil
        import tempfile

        directory = Path(directory)
        if directory.is_symlink():
            if not directory.exists():
                raise FileExistsError(f"{directory} is a symbolic link to {os.readlink(directory)},"
                                      " which does not exist")
            # a link to a directory: the lab goes into the directory it names (the staging
            # directory must be on that file system, and a link cannot be rmdir-ed)
            directory = directory.resolve()
        for ancestor in directory.parents:
            if ancestor.exists() or ancestor.is_symlink():
                if not ancestor.is_dir():
                    raise NotADirectoryError(f"cannot write {directory}: {ancestor} is not a directory")
                break
        if directory.exists():
            if not directory.is_dir():
                raise FileExistsError(f"{directory} exists and is not a directory")
            if not force and any(directory.iterdir()):
                raise FileExistsError(f"{directory} is not empty (use --force to overwrite)")
        _make_dirs(directory.parent)  # missing parents: 0755 too, not 0777 & ~umask
        files = self.files()
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".partial",
                                        dir=directory.parent))
        try:
            for entry in files:
                _write_file(staging / entry.path, entry.data, 0o600 if entry.secret else 0o644,
                            root=staging)
            text = json.dumps(self.manifest(files), indent=2) + "\n"
            _write_file(staging / "manifest.json", text.encode(), 0o644, root=staging)
            os.chmod(staging, DIR_MODE)
            if directory.exists() and any(directory.iterdir()):  # --force over an old lab
                _move_into(staging, directory)
            else:
                if directory.exists():
                    directory.rmdir()
                os.rename(staging, directory)
        except OSError as exc:
            if not exc.filename:  # a write that did not fit (ENOSPC) names no file: say which lab
                exc.filename = str(directory)
            raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return directory / "manifest.json"

    def files(self) -> list[LabFile]:
        """Every file ``write`` lays out (except manifest.json), in manifest order."""
        out: list[LabFile] = []
        for name, ca in self.cas.items():
            purpose = _CA_INFO[name][1]
            out.append(_cert_file(f"ca/{name}.pem", "ca-certificate", purpose, ca.cert_pem,
                                  (ca.cert,)))
            out.append(_key_file(f"ca/{name}.key", "ca-key", f"private key of ca/{name}.pem",
                                 ca))
        out.append(_cert_file("server/server.pem", "server-chain",
                              "ssl_certificate: the server chain, leaf first (issued by root for "
                              + ", ".join(self.server_names) + ")",
                              self.server_chain_pem, (self.server.cert,)))
        out.append(_key_file("server/server.key", "server-key", "ssl_certificate_key",
                             self.server))
        for name, client in self.clients.items():
            certs = (client.cert, *client.chain)
            out.append(_cert_file(f"clients/{name}.pem", "client-certificate",
                                  f"client leaf only: {client.description}", client.cert_pem,
                                  (client.cert,)))
            out.append(_cert_file(f"clients/{name}-chain.pem", "client-chain",
                                  "client leaf + the intermediates it sends (curl --cert)",
                                  client.chain_pem, certs))
            out.append(_key_file(f"clients/{name}.key", "client-key",
                                 f"private key of clients/{name}.pem", client))
            p12 = pkcs12.serialize_key_and_certificates(
                f"lab client {name}".encode(), client.key, client.cert, list(client.chain) or None,
                _p12_encryption())
            out.append(LabFile(f"clients/{name}.p12", "client-pkcs12",
                               "PKCS#12 (leaf, key, intermediates) for browsers; password "
                               f"{P12_PASSWORD.decode()!r}", p12, True,
                               _subjects(certs), _not_after(certs)))
        for name, crl in self.crls.items():
            purpose = ("expired CRL of inter (nextUpdate before the lab time): nginx fails every "
                       "client with 12 (F6.1)" if name == "inter-expired" else
                       f"CRL of {crl.issuer}" + (" listing the revoked client" if name == "inter"
                                                 else ""))
            out.append(_crl_file(f"crl/{name}.crl.pem", purpose, crl.pem, (crl.crl,)))
        out.append(_cert_file("bundles/client-ca.pem", "ca-bundle",
                              "ssl_client_certificate for the good setup: root + inter (F1.1)",
                              self.pem("root", "inter"),
                              (self.cas["root"].cert, self.cas["inter"].cert)))
        all_cas = ("root", "inter", "deep1", "deep2")
        out.append(_cert_file("bundles/client-ca-all.pem", "ca-bundle",
                              "root, inter, deep1, deep2: every lab client CA (deep needs "
                              "ssl_verify_depth 2, F3.3)", self.pem(*all_cas),
                              tuple(self.cas[n].cert for n in all_cas)))
        out.append(_crl_file("bundles/crl-all.pem", "ssl_crl: the valid CRLs of root, inter, deep1 "
                             "and deep2 (nginx needs one per CA in the chain, F6.1)",
                             self.crl_pem(*all_cas), tuple(self.crls[n].crl for n in all_cas),
                             kind="crl-bundle"))
        return out

    def manifest(self, files: Sequence[LabFile] | None = None) -> dict[str, Any]:
        """The JSON-ready description of every written file."""
        files = self.files() if files is None else files
        return {
            "generator": "mtls-doctor lab pki",
            "generated_at": self.at.isoformat(),
            "key_type": self.key_type,
            "server_names": list(self.server_names),
            "pkcs12_password": P12_PASSWORD.decode(),
            "note": "a lab PKI for testing only: private keys are unencrypted; the .p12 "
                    f"password is {P12_PASSWORD.decode()!r}",
            "try": {
                "nginx": ["ssl_certificate server/server.pem;",
                          "ssl_certificate_key server/server.key;",
                          "ssl_verify_client on;",
                          "ssl_client_certificate bundles/client-ca.pem;",
                          "ssl_crl bundles/crl-all.pem;"],
                "curl": "curl --cacert ca/root.pem --cert clients/good-chain.pem "
                        "--key clients/good.key https://localhost:PORT/",
            },
            "clients": {name: {"description": c.description,
                               "issuer": c.cert.issuer.rfc4514_string(),
                               "sends": [x.subject.rfc4514_string() for x in c.chain]}
                        for name, c in self.clients.items()},
            "files": [entry.to_dict() for entry in files],
        }


@dataclass(frozen=True)
class LabFile:
    """One file of the written lab: where, what for, and its bytes."""

    path: str
    kind: str
    purpose: str
    data: bytes = field(repr=False)
    secret: bool
    subjects: tuple[str, ...]
    not_after: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "purpose": self.purpose,
            "subject": self.subjects[0] if self.subjects else None,
            "subjects": list(self.subjects),
            "sha256": hashlib.sha256(self.data).hexdigest(),
            "not_after": self.not_after.isoformat() if self.not_after else None,
            "mode": "0600" if self.secret else "0644",
        }


def _subjects(certs: Sequence[x509.Certificate]) -> tuple[str, ...]:
    return tuple(c.subject.rfc4514_string() for c in certs)


def _not_after(certs: Sequence[x509.Certificate]) -> datetime:
    """The first expiry among ``certs`` (what ends the file's usefulness)."""
    return min(c.not_valid_after_utc for c in certs)


def _cert_file(path: str, kind: str, purpose: str, data: bytes,
               certs: Sequence[x509.Certificate]) -> LabFile:
    return LabFile(path, kind, purpose, data, False, _subjects(certs), _not_after(certs))


def _key_file(path: str, kind: str, purpose: str, owner: Issued) -> LabFile:
    return LabFile(path, kind, purpose, owner.key_pem, True, _subjects((owner.cert,)),
                   owner.cert.not_valid_after_utc)


def _crl_file(path: str, purpose: str, data: bytes,
              crls: Sequence[x509.CertificateRevocationList], kind: str = "crl") -> LabFile:
    # For a CRL "subject" is its issuer and not_after its nextUpdate.
    return LabFile(path, kind, purpose, data, False,
                   tuple(c.issuer.rfc4514_string() for c in crls),
                   min(c.next_update_utc for c in crls))


def _p12_encryption() -> serialization.KeySerializationEncryption:
    # PBES2 / AES-256-CBC / SHA-256 MAC: read by OpenSSL 3 without -legacy.
    return (serialization.PrivateFormat.PKCS12.encryption_builder()
            .kdf_rounds(50000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(P12_PASSWORD))


def _move_into(staging: Path, directory: Path) -> None:
    """``--force`` over an existing lab: replace the lab's own files one by one (rename, so
    each is whole), keep any other file; directories get DIR_MODE."""
    for src in sorted(staging.rglob("*")):
        dest = directory / src.relative_to(staging)
        if src.is_dir():
            if not dest.is_dir():
                if dest.is_symlink() or dest.exists():
                    dest.unlink()
                os.mkdir(dest, DIR_MODE)
            os.chmod(dest, DIR_MODE)
        else:
            os.replace(src, dest)
