"""Reading what one attempt showed: the CertificateRequest, the certificates on both sides,
the alert, the outcome, and the ladder of steps (used by ``handshake``; no sockets here).

Invariants:
- the CertificateRequest witness is OpenSSL's state "read server certificate request" or the
  message itself in the server's bytes; its absence is ``None``, never an empty list (F1.4,
  F8.2); the message is read from the wire (TLS 1.2 plaintext, TLS 1.3 decrypted with this
  connection's handshake secret), OpenSSL's parse of the CA names is the fallback;
- the client Certificate message is read back from this client's own bytes the same way, so
  "sent" means it was on the wire, not that it was configured;
- nothing here raises on hostile bytes (``wire`` never raises from ``flight``).
"""

from __future__ import annotations

from typing import Any

from mtls_doctor.probe import wire
from mtls_doctor.probe.model import (
    Alert,
    AttemptSpec,
    CertificateRequest,
    CertSummary,
    Outcome,
    ServerVerification,
    Step,
)
from mtls_doctor.probe.tlsinfo import ALERTS

_CR_STATE = "read server certificate request"


def alert_of(rec) -> Alert | None:
    """The alert that ended the connection: a received fatal one first, else ours."""
    chosen = None
    for direction, level, code, after in rec.alerts:
        if code == 0:  # close_notify is the normal end, not a verdict
            continue
        if direction == "received" or chosen is None:
            chosen = Alert(direction, "fatal" if level == 2 else "warning", code,
                           ALERTS.get(code, f"alert {code}"), after)
            if direction == "received":
                break
    return chosen


def classify(outcome: Outcome, step: str, error: str, rec, pump):
    received = bytes(pump.received) if pump else b""
    alert = alert_of(rec)
    if rec.aborted:
        return Outcome.SERVER_UNTRUSTED, (
            "handshake stopped before sending the client certificate: the server certificate "
            "failed verification (use --insecure or --send-cert-anyway to send it anyway)"
        )
    if alert is not None and alert.direction == "received":
        when = "after the handshake" if alert.after_handshake else "during the handshake"
        return Outcome.TLS_ALERT, f"server sent alert {alert.code} {alert.name} {when}"
    if outcome in (Outcome.TIMEOUT, Outcome.CONNECT_FAILED):
        if outcome is Outcome.TIMEOUT and received and not wire.looks_like_tls(received):
            return Outcome.NOT_TLS, f"{error}; the server sent non-TLS bytes {_peek(received)}"
        return outcome, error
    if received and not wire.looks_like_tls(received):
        return Outcome.NOT_TLS, f"the server answered with non-TLS bytes {_peek(received)}"
    if pump is not None and pump.eof and outcome is Outcome.TLS_ERROR:
        where = "before any byte" if not received else f"after {len(received)} bytes"
        return Outcome.CLOSED, f"the server closed the connection {where} ({step})"
    return outcome, error


def _peek(data: bytes) -> str:
    head = data[:24]
    text = head.decode("ascii", "replace")
    if text.isprintable():
        return repr(text)
    return head.hex()


def after_handshake(conn, pump, rec, spec, identity) -> dict[str, Any]:
    """What the handshake showed: version, chain, verification, CertificateRequest, our cert."""
    out: dict[str, Any] = {}
    if rec.done:
        out["version"] = conn.get_protocol_version_name()
        out["cipher"] = conn.get_cipher_name()
    elif any("read server hello" in s for s in rec.states):
        out["notes_version"] = conn.get_protocol_version_name()
    chain = conn.get_peer_cert_chain() or []
    notes: list[str] = []
    out["server_chain"] = tuple(_summary(c, i, notes) for i, c in enumerate(chain))
    if chain or rec.verify_errors:
        out["server_verification"] = ServerVerification(
            ok=not rec.verify_errors, errors=tuple(rec.verify_errors), hostname=rec.verify_name
        )
    tls13 = (out.get("version") == "TLSv1.3") or bool(rec.secrets)
    received = bytes(pump.received)
    flight = wire.server_flight(received, rec.secrets.get("SERVER_HANDSHAKE_TRAFFIC_SECRET"))
    asked = any(_CR_STATE in s for s in rec.states) or flight.find(wire.HS_CERTIFICATE_REQUEST) is not None
    if asked:
        out["certificate_request"] = _request(conn, flight, tls13, notes)
    if asked and any("write client certificate" in s for s in rec.states):
        count = _sent_certificates(pump, rec, flight.cipher_suite, tls13)
        if count is None:
            notes.append("the client Certificate message could not be read back from the wire")
            count = 0 if identity is None else 1 + len(identity.chain)
        out["client_certificates_sent"] = count
        if count and identity is not None:
            out["client_certificate_sent"] = identity.cert.subject.rfc4514_string()
            out["client_chain_reaches"] = _reaches(identity, out["certificate_request"].ca_names)
    if notes:
        out["notes"] = tuple(notes)
    return out


def _sent_certificates(pump, rec, suite, tls13: bool) -> int | None:
    """The number of certificates in the Certificate message this client sent (read back from
    its own bytes: plaintext in TLS 1.2, decrypted with the client handshake secret in 1.3)."""
    mine = wire.flight(bytes(pump.sent), rec.secrets.get("CLIENT_HANDSHAKE_TRAFFIC_SECRET"),
                       suite=suite, tls13=tls13)
    body = mine.find(wire.HS_CERTIFICATE)
    if body is None:
        return None
    try:
        return wire.certificate_count(body, tls13)
    except wire.WireError:
        return None


def _request(conn, flight: wire.ServerFlight, tls13: bool, notes: list[str]) -> CertificateRequest:
    body = flight.find(wire.HS_CERTIFICATE_REQUEST)
    if body is not None:
        try:
            parsed = wire.parse_certificate_request(body, tls13)
            return CertificateRequest(
                ca_names=tuple(wire.dn_to_rfc4514(n) for n in parsed.ca_names_der),
                signature_algorithms=parsed.signature_algorithms,
                certificate_types=parsed.certificate_types,
                source="decrypted" if tls13 else "plaintext",
            )
        except wire.WireError as exc:
            notes.append(f"CertificateRequest bytes unreadable ({exc}); CA names from OpenSSL")
    elif tls13:
        notes.append(
            "TLS 1.3 CertificateRequest is encrypted and could not be decrypted here: "
            "signature algorithms not observable; CA names from OpenSSL's parse"
        )
    names = tuple(wire.dn_to_rfc4514(n.der()) for n in (conn.get_client_ca_list() or []))
    return CertificateRequest(ca_names=names, certificate_types=None if tls13 else None)


def _summary(peer: Any, index: int, notes: list[str]) -> CertSummary:
    """The facts of the server's certificate #index (a pyOpenSSL X509, parsed by OpenSSL in
    the handshake). One that ``cryptography`` refuses but OpenSSL accepted (e.g. a version
    encoded explicitly as v1) is described from OpenSSL's reading (``pki.lenient``)."""
    from mtls_doctor.probe.tlsinfo import san_names

    try:
        cert = peer.to_cryptography()
        dns, ips = san_names(cert)
        return CertSummary(  # cryptography parses names lazily: a bad Name raises here
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
            dns_names=dns,
            ip_addresses=ips,
            self_signed=cert.subject == cert.issuer,
        )
    except ValueError as exc:
        return _lenient_summary(peer, index, exc, notes)


def _lenient_summary(peer: Any, index: int, exc: ValueError, notes: list[str]) -> CertSummary:
    from OpenSSL import crypto

    from mtls_doctor.pki import lenient

    why = lenient.refusal_of(exc)
    read = lenient.read(crypto.dump_certificate(crypto.FILETYPE_ASN1, peer), why)
    notes.append(f"server certificate #{index} is not strict DER ({why}): OpenSSL accepts it, "
                 "its extensions were not read")
    if read is None:
        return CertSummary(subject="?", issuer="?", not_before="", not_after="")
    return CertSummary(
        subject=read.subject,
        issuer=read.issuer,
        not_before=read.not_before.isoformat() if read.not_before else "",
        not_after=read.not_after.isoformat() if read.not_after else "",
        self_signed=read.self_issued,
    )


def _reaches(identity, ca_names: tuple[str, ...]) -> str | None:
    """The first advertised CA name that the sent chain names (leaf issuer, then the sent
    intermediates' subjects and issuers), or None. Names only: no signature is checked here."""
    sent = [identity.cert.issuer.rfc4514_string()]
    for cert in identity.chain:
        sent += [cert.subject.rfc4514_string(), cert.issuer.rfc4514_string()]
    return next((n for n in ca_names if n in sent), None)


def ladder(fields: dict[str, Any], rec, spec: AttemptSpec, done: bool, ms) -> list[Step]:
    sni = f"SNI {spec.sni}" if spec.sni else "no SNI"
    offers = "1.2+1.3" if spec.tls == "auto" else spec.tls
    steps = [Step("client-hello", True, f"{sni}; offers TLS {offers}")]
    saw_hello = any("read server hello" in s for s in rec.states)
    if saw_hello:
        version = fields.get("version") or fields.pop("notes_version", None) or "?"
        detail = f"{version} {fields.get('cipher') or ''}".strip()
        steps.append(Step("server-hello", True, detail))
    chain = fields.get("server_chain") or ()
    if chain:
        ver = fields.get("server_verification")
        verdict = "verified" if ver and ver.ok else "FAILED verification: " + "; ".join(
            f"{e.code} {e.text} (depth {e.depth})" for e in (ver.errors if ver else ())
        )
        steps.append(Step("server-certificate", bool(ver and ver.ok),
                          f"{chain[0].subject} (+{len(chain) - 1}); {verdict}"))
    if saw_hello:
        cr = fields.get("certificate_request")
        if cr is None:
            detail = "NOT received (the server did not ask for a client certificate)"
        elif not cr.ca_names:
            detail = "received, with an EMPTY CA name list"
        else:
            detail = f"received, {len(cr.ca_names)} CA name(s): " + " | ".join(cr.ca_names)
        if cr is not None and cr.signature_algorithms is not None:
            detail += f"; sigalgs {','.join(cr.signature_algorithms[:6])}"
            detail += "..." if len(cr.signature_algorithms) > 6 else ""
        steps.append(Step("certificate-request", True, detail))
        if cr is not None:
            sent = fields.get("client_certificate_sent")
            count = fields.get("client_certificates_sent", 0)
            detail = (f"sent {sent} ({count} certificate(s) in the message)" if sent
                      else "sent an empty Certificate (none)")
            if sent and cr.ca_names:
                reach = fields.get("client_chain_reaches")
                detail += (f"; chains to advertised {reach}" if reach
                           else "; names none of the advertised CAs")
            steps.append(Step("client-certificate", True, detail))
    if done:
        steps.append(Step("finished", True, "handshake complete", ms))
    return steps


def http_detail(answer) -> str:
    text = f"HTTP {answer.status} {answer.reason}"
    if answer.page:
        text += f"; nginx page {answer.page} \"{answer.page_text}\""
    if answer.server:
        text += f"; Server: {answer.server}"
    return text
