"""Rule family MTLS5xx: judgements on what a live probe saw (``mtls-doctor probe``).

Every rule looks at a ``mtls_doctor.probe.model.ProbeResult`` (no I/O; the probe's own time
``result.at`` is the clock) and returns findings located at ``host:port``. ``check(result)``
runs them all, in registry order.
"""

from __future__ import annotations

import datetime as dt

from mtls_doctor.model import Finding, Fix, Location, Severity
from mtls_doctor.probe.matrix import gate
from mtls_doctor.probe.model import Attempt, CertKind, Outcome, ProbeResult, primary_request
from mtls_doctor.rules.base import Rule

EXPIRY_WARNING_DAYS = 30


def _where(result: ProbeResult) -> Location:
    return Location(host=result.host, port=result.port)


def _sni(sni: str | None) -> str:
    return f"SNI {sni}" if sni else "no SNI"


class NoRequestWithoutSni(Rule):
    """Without SNI the server does not ask for a client certificate, with SNI it does.

    What it checks:
    The probe's attempts without the server_name extension received no CertificateRequest,
    while the attempts with the target's name received one (or the server demanded a
    certificate at the HTTP level that the handshake never asked for).

    Why it matters:
    A connection without SNI (or with an unknown name) gets the default server's SSL settings
    for the whole handshake: its CA list, its `ssl_verify_client` (F7.3). The Host-selected
    server then judges a verify result computed by the default server: clients without SNI get
    400 "No required SSL certificate was sent" even with a valid certificate, and when the
    default server verifies against another CA, its clients pass (a cross-CA bypass, F7.3).

    Example:
    ```nginx
    server { listen 443 ssl default_server; server_name default.test; }   # no verification
    server { listen 443 ssl; server_name a.test; ssl_verify_client on; ... }
    ```

    Use instead:
    ```nginx
    server { listen 443 ssl default_server; ssl_reject_handshake on; }     # nginx >= 1.19.4
    ```
    or give the default server the same client verification, and make clients send SNI.

    References:
    F7.1, F7.3, section 10 heuristic 7 of nginx-mtls-facts.md; nginx/nginx.org PR #302;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_reject_handshake
    """

    code, name, severity, target, facts = (
        "MTLS501", "no-certificate-request-without-sni", Severity.WARNING, "probe", ("F7.1", "F7.3"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        out = []
        for inference in result.inferences:
            named = next((i for i in result.inferences if i.sni and i is not inference), None)
            if inference.mode == "on-without-request":
                out.append(cls.finding(
                    f"With {_sni(inference.sni)} the handshake asks for no certificate but the "
                    "HTTP answer is 400 \"No required SSL certificate was sent\": no client can "
                    "pass this way (default-server settings, F7.3).",
                    _where(result), _FIX_501, severity=Severity.ERROR))
            elif (inference.sni is None and inference.certificate_request is False
                  and named is not None and named.certificate_request):
                out.append(cls.finding(
                    f"No CertificateRequest without SNI, but one with SNI {named.sni} "
                    f"(mode {named.mode} with SNI, {inference.mode} without): the default server "
                    "handles clients that send no server name.",
                    _where(result), _FIX_501))
        return tuple(out)


_FIX_501 = Fix(
    "Reject handshakes without a known name in the default server, or give it the same client "
    "verification.",
    "server {\n    listen 443 ssl default_server;\n    ssl_reject_handshake on;\n}",
)


class EmptyCaNames(Rule):
    """The server asks for a client certificate but names no acceptable CA.

    What it checks:
    A CertificateRequest was received (it is not absent) and its list of CA names is empty:
    a zero-length certificate_authorities vector in TLS 1.2, no certificate_authorities
    extension in TLS 1.3.

    Why it matters:
    nginx sends no names when only `ssl_trusted_certificate` holds the CAs (F1.4, the
    "trusted-only" setup of 1.27.2+, or `optional_no_ca` without a CA file), or with
    `ssl_conf_command Options -CANames` (F1.6). That can be deliberate, but clients that choose
    a certificate by the advertised names (browsers, Java key managers, curl with several
    identities) then get no hint, and `openssl s_client` prints "No client certificate CA names
    sent", which is not evidence that no certificate was requested (F8.2).

    Example:
    ```nginx
    ssl_verify_client optional_no_ca;
    ssl_trusted_certificate /etc/nginx/client-ca.pem;   # never advertised (F1.3)
    ```

    Use instead:
    ```nginx
    ssl_client_certificate /etc/nginx/client-ca.pem;    # advertised and trusted (F1.1)
    ```

    References:
    F1.1, F1.3, F1.4, F1.6, F8.2 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_trusted_certificate
    """

    code, name, severity, target, facts = (
        "MTLS502", "empty-ca-names", Severity.INFO, "probe", ("F1.4", "F1.6", "F8.2"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        cr = primary_request(result)
        if cr is None or cr.ca_names:
            return ()
        return (cls.finding(
            f"The CertificateRequest (with {_sni(result.primary_sni)}) carries an empty CA name "
            "list: clients get no hint which certificate to send.",
            _where(result),
            Fix("Put the CAs clients should pick from in ssl_client_certificate (advertised).",
                "ssl_client_certificate /etc/nginx/client-ca.pem;")),)


def _advertised_walk(result: ProbeResult) -> tuple[bool, str | None, bool] | None:
    """(reaches an advertised name, the issuer missing at the end of the chain, ended at a
    self-signed certificate), or None when there is nothing to judge."""
    cr = primary_request(result)
    if result.client is None or cr is None or not cr.ca_names:
        return None
    advertised = set(cr.ca_names)
    client = result.client
    subjects = {s: (i, ss) for s, i, ss in client.chain}
    names = [client.issuer]
    issuer, self_signed = client.issuer, client.subject == client.issuer
    seen = {client.subject}
    while issuer in subjects and issuer not in seen and not self_signed:
        seen.add(issuer)
        issuer, self_signed = subjects[issuer]
        names.append(issuer)
    names += [s for s, _, _ in client.chain]
    if any(n in advertised for n in names):
        return True, None, self_signed
    return False, None if self_signed else issuer, self_signed


class ClientChainMissesAdvertisedCa(Rule):
    """The user's certificate chain leads to none of the CA names the server advertises.

    What it checks:
    With `--cert`/`--pkcs12`: the leaf's issuer, the subjects and issuers of the intermediates
    the user sends, followed up to a self-signed certificate, against the CA names in the
    server's CertificateRequest. It fires when none of them is advertised and the chain ends at
    a root (or the leaf is self-signed).

    Why it matters:
    nginx advertises exactly the subjects of the certificates in `ssl_client_certificate`
    (F1.1). A chain that reaches none of them was issued by another CA: nginx answers 400 "The
    SSL certificate error" (495) with error 21 or 20 (F4.2), unless that CA sits unadvertised
    in `ssl_trusted_certificate` (F1.3). Many clients also refuse to offer such a certificate.

    Example:
    Advertised `CN=Corp Client Root`; the client sends `CN=alice` issued by `CN=Other Root`
    (self-signed root).

    Use instead:
    A client certificate issued under one of the advertised CAs, or add its CA to
    `ssl_client_certificate` on the server.

    References:
    F1.1, F1.3, F4.2 of nginx-mtls-facts.md
    """

    code, name, severity, target, facts = (
        "MTLS503", "client-chain-misses-advertised-ca", Severity.ERROR, "probe", ("F1.1", "F1.3", "F4.2"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        walk = _advertised_walk(result)
        if walk is None or walk[0] or walk[1] is not None:
            return ()
        cr = primary_request(result)
        assert cr is not None and result.client is not None
        return (cls.finding(
            f"Client certificate {result.client.subject} (issuer {result.client.issuer}) reaches "
            f"none of the {len(cr.ca_names)} advertised CA name(s): {'; '.join(cr.ca_names[:3])}.",
            _where(result),
            "Use a certificate issued under an advertised CA, or add this CA to the server's "
            "ssl_client_certificate."),)


class ClientChainNeedsMissingIntermediate(Rule):
    """The user's chain stops at an intermediate that neither the user nor the advertised names have.

    What it checks:
    With `--cert`/`--pkcs12`: following the leaf's issuer through the intermediates the user
    supplied, the chain stops at a certificate whose issuer is neither supplied nor advertised,
    and no certificate on the way is advertised. (From the names alone the missing issuer may
    also be a root the server does not know; the message says both. When the user supplies the
    chain up to a root, MTLS503 judges instead.)

    Why it matters:
    nginx builds the chain from what the client sends plus its trust files; partial chains are
    not accepted (F3.4). A leaf sent without its intermediate is rejected with error 21 "unable
    to verify the first certificate" (F4.2) unless the server happens to hold the intermediate
    in ssl_client_certificate or ssl_trusted_certificate.

    Example:
    ```sh
    mtls-doctor probe https://api.example:443 --cert alice.pem --key alice.key
    # alice.pem holds only the leaf issued by CN=Corp Client Issuing CA; CN=Corp Root advertised
    ```

    Use instead:
    ```sh
    mtls-doctor probe https://api.example:443 --cert alice.pem --key alice.key --chain issuing-ca.pem
    ```
    and configure the client to send its intermediates (e.g. `curl --cert` with leaf + chain).

    References:
    F3.2, F3.4, F4.2 of nginx-mtls-facts.md
    """

    code, name, severity, target, facts = (
        "MTLS504", "client-chain-needs-missing-intermediate", Severity.WARNING, "probe", ("F3.4", "F4.2"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        walk = _advertised_walk(result)
        if walk is None or walk[0] or walk[1] is None:
            return ()
        assert result.client is not None
        return (cls.finding(
            f"Client certificate {result.client.subject} needs the CA {walk[1]}, which is neither "
            "in the chain supplied nor among the advertised names: if it is an intermediate under "
            "an advertised CA, send it; if it is a root, the server does not advertise it.",
            _where(result),
            Fix("Send the intermediate(s) with the leaf (--chain / the client's certificate "
                "file), or put them in the server's ssl_client_certificate.")),)


def _rejection(a: Attempt) -> str | None:
    g = gate(a)
    if a.app is not None and g in ("reject-495", "reject-496"):  # a mail server (probe.starttls)
        return f"{a.app.protocol.upper()} {a.app.line!r}: nginx rejected the certificate" \
            if g == "reject-495" else f"{a.app.protocol.upper()} {a.app.line!r}: no certificate " \
            "reached nginx's check"
    if g == "reject-495":
        return "400 \"The SSL certificate error\" (495): nginx rejected the certificate"
    if g == "reject-496":
        return ("400 \"No required SSL certificate was sent\" (496): the certificate never "
                "reached nginx's check")
    if g == "reject-http":
        return f"HTTP {a.http.status} {a.http.reason}" if a.http else "an HTTP rejection"
    if g == "reject-tls":
        if a.alert is not None:
            return f"TLS alert {a.alert.code} {a.alert.name}"
        return "the connection was closed after the handshake"
    return None


class ClientCertificateRejected(Rule):
    """The server rejected the user's own client certificate.

    What it checks:
    The attempts that offered the user's certificate (`--cert`/`--pkcs12`) with the primary SNI
    setting: an nginx 495 or 496 page, another 400/401/403, or a TLS alert about the
    certificate.

    Why it matters:
    This is the live verdict, not a prediction: the certificate the user has does not get
    through. nginx gives no reason on the wire; the reason is in its error log at level info
    (F4.1), and `mtls-doctor verify` reproduces it offline with the server's CA files.

    Example:
    HTTP 400 "The SSL certificate error" with the user's certificate, 200 expected.

    Use instead:
    Run `mtls-doctor verify CLIENT --ssl-client-certificate <nginx CA file>` or read the
    info-level error log (`mtls-doctor logs`) for the verify error code (F4.2).

    References:
    F2.2, F2.5, F4.1, F4.2 of nginx-mtls-facts.md
    """

    code, name, severity, target, facts = (
        "MTLS505", "client-certificate-rejected", Severity.ERROR, "probe", ("F2.2", "F2.5", "F4.1"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        out = []
        for a in result.attempts:
            if a.spec.cert is not CertKind.USER or a.spec.sni != result.primary_sni:
                continue
            why = _rejection(a)
            if why is not None:
                offline = result.offline
                if offline is not None and offline.status == 200:
                    why += (", although nginx's offline verdict with --client-ca accepts it: the "
                            "server's trust settings differ (trusted certificates, depth, CRL)")
                out.append(cls.finding(
                    f"With the user's certificate (TLS {a.spec.tls}, {_sni(a.spec.sni)}) the "
                    f"server answered {why}.",
                    _where(result),
                    "Read nginx's info-level error log for the verify error, or run mtls-doctor "
                    "verify with the server's CA files."))
        return tuple(out)


class ServerCertificateUnverified(Rule):
    """The server's own certificate failed verification (chain, validity or name).

    What it checks:
    OpenSSL's verification of the chain the server sent, against `--ca-file` or the system
    store, and the match of the leaf's subjectAltName with the SNI name (or host). With
    `--insecure` the finding is only informational.

    Why it matters:
    Clients that verify (curl without -k, browsers) abort before any HTTP and the server logs
    the client's alert, e.g. "alert unknown ca ... SSL alert number 48", which is about the
    server certificate, not the client's (F4.3). The probe does not send the user's certificate
    to such a server unless told to.

    Example:
    server certificate issued by a private CA that the client does not trust; or a certificate
    for www.example.com served for api.example.com.

    Use instead:
    Give the client the right CA (--ca-file / curl --cacert), or serve a certificate whose
    chain and names match (ssl_certificate with leaf and intermediates).

    References:
    F4.3 of nginx-mtls-facts.md; https://nginx.org/en/docs/http/configuring_https_servers.html
    """

    code, name, severity, target, facts = (
        "MTLS506", "server-certificate-unverified", Severity.ERROR, "probe", ("F4.3",))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        seen = set()
        out = []
        for a in result.attempts:
            ver = a.server_verification
            if ver is None or ver.ok:
                continue
            key = tuple((e.code, e.depth) for e in ver.errors)
            if key in seen:
                continue
            seen.add(key)
            errors = "; ".join(f"{e.code} {e.text} at depth {e.depth}" for e in ver.errors)
            out.append(cls.finding(
                f"The server certificate ({_sni(a.spec.sni)}) failed verification: {errors}.",
                _where(result),
                "Trust the server's CA on the client (--ca-file) or fix the server chain/names.",
                severity=Severity.INFO if result.insecure else None))
        return tuple(out)


class ServerCertificateExpiring(Rule):
    """The server's certificate expires soon (or has expired).

    What it checks:
    The notAfter of the leaf the server sent, against the time of the probe: fires within
    30 days of expiry, and after it.

    Why it matters:
    An expired server certificate stops every verifying client before mTLS is even reached;
    the client-side failure looks like a TLS problem and is often misread as a client
    certificate problem (F4.3).

    Example:
    notAfter 2026-12-01, probed on 2026-11-20: 11 days left.

    Use instead:
    Renew the server certificate and reload nginx (`nginx -s reload`).

    References:
    F4.3 of nginx-mtls-facts.md
    """

    code, name, severity, target, facts = (
        "MTLS507", "server-certificate-expiring", Severity.WARNING, "probe", ("F4.3",))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        at = dt.datetime.fromisoformat(result.at)
        seen = set()
        out = []
        for a in result.attempts:
            if not a.server_chain or a.server_chain[0].subject in seen:
                continue
            leaf = a.server_chain[0]
            seen.add(leaf.subject)
            left = dt.datetime.fromisoformat(leaf.not_after) - at
            if left > dt.timedelta(days=EXPIRY_WARNING_DAYS):
                continue
            when = (f"expired {-left.days} day(s) ago" if left.total_seconds() < 0
                    else f"expires in {left.days} day(s)")
            out.append(cls.finding(
                f"The server certificate {leaf.subject} {when} (notAfter {leaf.not_after}).",
                _where(result), "Renew the server certificate and reload nginx.",
                severity=Severity.ERROR if left.total_seconds() < 0 else None))
        return tuple(out)


class LegacyTlsAccepted(Rule):
    """The server still accepts TLS 1.0 or TLS 1.1.

    What it checks:
    A handshake offering only TLS 1.0/1.1 (system OpenSSL at security level 0) completed.

    Why it matters:
    TLS 1.0 and 1.1 are deprecated (RFC 8996). nginx before 1.23.4 enables them by default in
    `ssl_protocols` (F7.5); a client certificate sent over them gets weaker protection.

    Example:
    ```nginx
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;
    ```

    Use instead:
    ```nginx
    ssl_protocols TLSv1.2 TLSv1.3;
    ```

    References:
    F7.5 of nginx-mtls-facts.md; RFC 8996;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_protocols
    """

    code, name, severity, target, facts = (
        "MTLS508", "legacy-tls-accepted", Severity.WARNING, "probe", ("F7.5",))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        if not result.legacy_tls:
            return ()
        return (cls.finding(
            f"The server accepted {', '.join(result.legacy_tls)}.", _where(result),
            Fix("Allow only TLS 1.2 and 1.3.", "ssl_protocols TLSv1.2 TLSv1.3;")),)


class AnonymousRequestPasses(Rule):
    """A request without a client certificate (or with an untrusted one) reaches the application.

    What it checks:
    The inferred mode with the primary SNI setting is `optional`, `optional_no_ca` or a
    TLS-level optional request: the attempt without certificate got an ordinary HTTP answer
    (and for `optional_no_ca`, the throwaway self-signed certificate did too).

    Why it matters:
    With `ssl_verify_client optional` a client without certificate passes with
    `$ssl_client_verify = NONE`; with `optional_no_ca` a self-signed or unknown-CA certificate
    passes too, with `FAILED:<reason>` (F2.2, F2.4). Unless the application or an `if`/`map`
    on `$ssl_client_verify` checks it, mTLS protects nothing.

    Example:
    ```nginx
    ssl_verify_client optional;      # and no check of $ssl_client_verify
    ```

    Use instead:
    ```nginx
    ssl_verify_client on;            # or check it: if ($ssl_client_verify != SUCCESS) { return 403; }
    ```

    References:
    F2.2, F2.3, F2.4 of nginx-mtls-facts.md;
    https://nginx.org/en/docs/http/ngx_http_ssl_module.html#ssl_verify_client
    """

    code, name, severity, target, facts = (
        "MTLS509", "anonymous-request-passes", Severity.WARNING, "probe", ("F2.2", "F2.4"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        primary = result.primary
        if primary is None or primary.mode not in ("optional", "optional_no_ca", "tls-optional"):
            return ()
        extra = (" and so did a throwaway self-signed certificate"
                 if primary.mode in ("optional_no_ca", "tls-optional") else "")
        # stream and mail servers admit without HTTP: the session goes on / the greeting comes
        answer = {"stream": "an open session", "mail": "the greeting"}.get(primary.layer,
                                                                          "an ordinary HTTP answer")
        return (cls.finding(
            f"Mode {primary.mode}: a request without a client certificate got {answer}"
            f"{extra}; only a check of $ssl_client_verify in nginx or the application "
            "can stop it.",
            _where(result),
            Fix("Use `ssl_verify_client on`, or reject unless $ssl_client_verify is SUCCESS.",
                "if ($ssl_client_verify != SUCCESS) { return 403; }")),)


class EndpointNotProbed(Rule):
    """The endpoint could not be probed: no TLS handshake completed, or no HTTP answer came.

    What it checks:
    Every attempt ended before a completed handshake or an HTTP answer: TCP refused or timed
    out, the server sent non-TLS bytes or closed the connection, or a handshake error. Or the
    handshakes completed but not one HTTP request got an answer (and no TLS alert came either):
    a TLS port that does not speak HTTP, or a server that hangs.

    Why it matters:
    Nothing about client-certificate enforcement can be concluded; the cause is earlier (wrong
    port, plain HTTP on the port, a firewall, `ssl_reject_handshake`, no common protocol). A
    plain-HTTP port answers 400 only when the request is HTTP (F2.5, code 497).

    Example:
    ```sh
    mtls-doctor probe 127.0.0.1:80     # plain HTTP: "the server answered with non-TLS bytes"
    ```

    Use instead:
    Probe the `listen ... ssl` port, with the name the server expects (--servername).

    References:
    F2.5, F4.3 of nginx-mtls-facts.md
    """

    code, name, severity, target, facts = (
        "MTLS510", "endpoint-not-probed", Severity.ERROR, "probe", ("F2.5", "F4.3"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        if not result.attempts or any(a.http is not None for a in result.attempts):
            return ()
        if any(a.app is not None or a.outcome is Outcome.SESSION_OPEN for a in result.attempts) \
                or any(i.layer in ("stream", "mail") for i in result.inferences):
            return ()  # a stream or mail target answered in its own protocol (probe.starttls)
        first = result.attempts[0]
        if not any(a.handshake_done or a.certificate_request is not None for a in result.attempts):
            return (cls.finding(
                f"No handshake completed: {first.error or first.outcome.value}.", _where(result),
                "Check the port is a TLS port of this server and reachable; try --servername."),)
        if any(_enforcement_alert(a) for a in result.attempts):
            return ()  # an alert about the client certificate is an answer (TLS-layer, F4.3)
        # not answers: a protocol_version alert to the TLS 1.3 attempt of a 1.2-only server, an
        # attempt skipped or stopped on the server certificate (nothing was asked of the server)
        done = next((a for a in result.attempts if a.handshake_done), first)
        return (cls.finding(
            f"The TLS handshake completed (TLS {done.spec.tls}) but no HTTP answer came: "
            f"{done.error or done.outcome.value}.", _where(result),
            "Check the port serves HTTPS (not another protocol over TLS) and answers in time; "
            "try a longer --timeout."),)


def _enforcement_alert(a: Attempt) -> bool:
    """A TLS alert received from the server that is about the client certificate (F4.3)."""
    from mtls_doctor.probe.tlsinfo import CLIENT_CERT_ALERTS

    return (a.outcome is Outcome.TLS_ALERT and a.alert is not None
            and a.alert.direction == "received" and a.alert.code in CLIENT_CERT_ALERTS)


class SniHostMisdirected(Rule):
    """The server answered 421 Misdirected Request: SNI and Host select different servers.

    What it checks:
    An attempt with the primary SNI setting whose HTTP answer is 421.

    Why it matters:
    Since 1.11.0 nginx answers 421 when the SNI-selected server differs from the Host-selected
    one and the latter verifies client certificates (F7.2); the request never reaches the
    application, and the mode cannot be inferred.

    Example:
    ```sh
    mtls-doctor probe https://a.test --host-header b.test
    ```

    Use instead:
    Send the same name in SNI and Host (omit --host-header, or set --servername to it).

    References:
    F7.2 of nginx-mtls-facts.md
    """

    code, name, severity, target, facts = (
        "MTLS511", "sni-host-misdirected", Severity.WARNING, "probe", ("F7.2",))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        for a in result.attempts:
            if a.spec.sni == result.primary_sni and a.http is not None and a.http.status == 421:
                return (cls.finding(
                    f"HTTP 421 Misdirected Request with {_sni(a.spec.sni)}: the Host header "
                    "selects another server that verifies client certificates.",
                    _where(result), "Use the same name for SNI and Host."),)
        return ()


class ClientCertificateWouldBeRejected(Rule):
    """Offline, nginx would reject the user's certificate with the CA file the user supplied.

    What it checks:
    With `--cert`/`--pkcs12` and `--client-ca FILE` (the server's `ssl_client_certificate`),
    when the file's subjects identify CA names the server advertised: the verdict of
    `mtls_doctor.pki.verify` (OpenSSL with nginx's settings and the inferred
    `ssl_verify_client`; `ssl_verify_depth` as given, default 1) is not 200.

    Why it matters:
    On the wire nginx only says 400 "The SSL certificate error" (495); the reason (expired,
    unknown issuer, missing intermediate, purpose, depth) is logged at info level only (F4.1).
    The offline verdict names the verify error nginx would record (F2.3, F4.2) and how to fix it.

    Example:
    ```sh
    mtls-doctor probe https://api.example --cert alice.pem --key alice.key --client-ca ca.pem
    # FAILED:certificate has expired (10)
    ```

    Use instead:
    A certificate that verifies: renew it, send its intermediates, or issue it with EKU
    clientAuth, as the message says.

    References:
    F2.2, F2.3, F2.4, F3.3, F4.1, F4.2, F6.3 of nginx-mtls-facts.md
    """

    code, name, severity, target, facts = (
        "MTLS512", "client-certificate-would-be-rejected", Severity.ERROR, "probe",
        ("F2.3", "F4.1", "F4.2"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        offline = result.offline
        if offline is None or offline.status == 200:
            return ()
        live = [a.http.status for a in result.attempts if a.spec.cert is CertKind.USER
                and a.spec.sni == result.primary_sni and a.http is not None]
        differs = (" The live server answered 200 all the same: its trust settings differ from "
                   "--client-ca." if live and all(s == 200 for s in live) else "")
        code = f" (error {offline.error_code})" if offline.error_code else ""
        return (cls.finding(
            f"nginx ({offline.verify_client}, ssl_verify_depth {offline.verify_depth}) would answer "
            f"{offline.status} with $ssl_client_verify={offline.ssl_client_verify}{code}: "
            f"{offline.explanation.rstrip('.')}.{differs}",
            _where(result), offline.fix or "Use a certificate that verifies against --client-ca."),)


def _names_for(result: ProbeResult, sni: str | None) -> tuple[str, ...] | None:
    for a in result.attempts:
        if a.spec.sni == sni and a.certificate_request is not None:
            return a.certificate_request.ca_names
    return None


class CaNamesDifferWithoutSni(Rule):
    """Without SNI the server advertises other CA names than with SNI.

    What it checks:
    Both SNI settings received a CertificateRequest, and the CA names in them differ.

    Why it matters:
    A connection without SNI (or with an unknown name) is verified with the default server's
    `ssl_client_certificate`, and the server chosen by the Host header then accepts that verify
    result (F7.3). A certificate trusted only by the default server passes at the mTLS server:
    the cross-CA bypass nginx's maintainers documented (nginx/nginx.org PR #302). Different
    advertised names are the visible sign of different trust stores.

    Example:
    ```nginx
    server { listen 443 ssl default_server; ssl_verify_client optional; ssl_client_certificate other-ca.pem; }
    server { listen 443 ssl; server_name api.example; ssl_verify_client on; ssl_client_certificate api-ca.pem; }
    ```

    Use instead:
    ```nginx
    server { listen 443 ssl default_server; ssl_reject_handshake on; }
    ```
    or give every server on the address the same client CAs.

    References:
    F7.1, F7.3 of nginx-mtls-facts.md; nginx/nginx.org PR #302
    """

    code, name, severity, target, facts = (
        "MTLS513", "ca-names-differ-without-sni", Severity.ERROR, "probe", ("F7.1", "F7.3"))

    @classmethod
    def check(cls, result: ProbeResult) -> tuple[Finding, ...]:
        if result.primary_sni is None:
            return ()
        with_sni, without = _names_for(result, result.primary_sni), _names_for(result, None)
        if with_sni is None or without is None or with_sni == without:
            return ()
        return (cls.finding(
            f"Without SNI the server advertises {list(without) or 'no CA names'}, with SNI "
            f"{result.primary_sni} {list(with_sni) or 'no CA names'}: clients without SNI are "
            "verified against the default server's CAs (F7.3).",
            _where(result), _FIX_501),)


RULES: tuple = (
    NoRequestWithoutSni,
    EmptyCaNames,
    ClientChainMissesAdvertisedCa,
    ClientChainNeedsMissingIntermediate,
    ClientCertificateRejected,
    ServerCertificateUnverified,
    ServerCertificateExpiring,
    LegacyTlsAccepted,
    AnonymousRequestPasses,
    EndpointNotProbed,
    SniHostMisdirected,
    ClientCertificateWouldBeRejected,
    CaNamesDifferWithoutSni,
)


def check(result: ProbeResult) -> tuple[Finding, ...]:
    """Every probe rule over one probe result."""
    return tuple(f for rule in RULES for f in rule.check(result))
