"""Rule family MTLS6xx: what ``mtls-doctor logs`` finds in nginx error logs.

Every rule looks at a ``mtls_doctor.logs.summary.LogSummary`` (no I/O). The group rules raise one
finding per cause group (``logs/causes.py`` says which rule a cause belongs to), located at the
first line of that group (``file:line``); the file rules raise one finding per input file.
``check(summary)`` runs them all.
"""

from __future__ import annotations

from mtls_doctor.logs.summary import Group, LogSummary
from mtls_doctor.model import Finding, Fix, Location, Severity
from mtls_doctor.rules.base import Rule


def _group_message(g: Group) -> str:
    what = g.cause.title
    if g.verify_code is not None:
        what = f"verify error {g.verify_code} ({g.verify_text}): {what}"
    parts = [f"{g.count} line(s): {what}"]
    if g.details:
        parts.append("; ".join(f"{d} x{n}" for d, n in g.details[:3]))
    if g.clients:
        more = "+" if g.clients_truncated else ""
        parts.append(f"{g.clients_distinct}{more} client(s) e.g. {', '.join(g.clients[:3])}")
    if g.servers:
        parts.append("server " + ", ".join(g.servers[:3]))
    if g.first:
        parts.append(g.first if g.first == g.last else f"{g.first} .. {g.last}")
    return "; ".join(parts) + "."


class _GroupRule(Rule):
    """(base of the group rules; not registered)"""

    target = "log"

    @classmethod
    def check(cls, summary: LogSummary) -> tuple[Finding, ...]:
        return tuple(
            cls.finding(_group_message(g), Location(path=g.source, line=g.line), Fix(g.cause.fix))
            for g in summary.groups
            if g.cause.rule == cls.code
        )


class LogNoInfoLevel(Rule):
    """The log holds no info-level lines, so client-certificate failures cannot appear in it.

    What it checks:
    A file with nginx error-log lines of which none is at level `info` or `debug`.

    Why it matters:
    nginx logs every client-certificate rejection ("client SSL certificate verify error",
    "client sent no required SSL certificate") and the handshake alerts at `info` (F4.1).
    The default `error_log` level is `error`, so a log without info lines is silent about mTLS
    failures: "nothing in the log" proves nothing.

    Example:
    error_log /var/log/nginx/error.log;        # level error: mTLS failures are not written

    Use instead:
    error_log /var/log/nginx/error.log info;   # at least while debugging mTLS (section 10.2)

    References:
    F4.1, section 10 (heuristic 2) of nginx-mtls-facts.md; https://nginx.org/en/docs/ngx_core_module.html#error_log
    """

    code, name, severity, target, facts = "MTLS601", "log-no-info-level", Severity.WARNING, "log", ("F4.1",)

    @classmethod
    def check(cls, summary: LogSummary) -> tuple[Finding, ...]:
        return tuple(
            cls.finding(
                f"{f.lines} line(s), none at level info or debug "
                f"(levels: {', '.join(f'{k} {n}' for k, n in f.levels)}): client-certificate "
                "failures are logged at info and cannot be in this log.",
                Location(path=f.source),
                Fix("Set `error_log <file> info;` and reproduce the failure.",
                    "error_log /var/log/nginx/error.log info;"),
            )
            for f in summary.files
            if f.nginx_lines and not f.has_info
        )


class LogClientCertRejected(_GroupRule):
    """nginx rejected client certificates (verify error with an OpenSSL code, or OCSP).

    What it checks:
    `client SSL certificate verify error: (CODE:TEXT)` and the OCSP variants, logged at info when
    nginx answers 400 "The SSL certificate error" (internal 495), grouped by OpenSSL code.

    Why it matters:
    Each code has its own usual causes (F4.2): 21 missing intermediate or another CA, 20 untrusted
    issuer or ssl_verify_depth exceeded (F3.3), 2 intermediate trusted without its root (F3.4),
    26 EKU without clientAuth anywhere in the chain (F6.3), 3/12 CRL missing or expired (F6.1).

    Example:
    [info] ... client SSL certificate verify error: (20:unable to get local issuer certificate) while reading client request headers

    Use instead:
    The fix of the code's cause (see docs/log-causes.md), e.g. raise `ssl_verify_depth 2;` for a
    client chain with two intermediates, or add the root to ssl_client_certificate.

    References:
    F4.1, F4.2, F3.3, F3.4, F6.1, F6.2, F6.3, F2.3 of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS602", "log-client-cert-rejected", Severity.WARNING
    facts = ("F4.1", "F4.2", "F3.3", "F3.4", "F6.1", "F6.2", "F6.3")


class LogClientCertMissing(_GroupRule):
    """Clients sent no certificate to a server that requires one.

    What it checks:
    `client sent no required SSL certificate` lines (400 "No required SSL certificate was sent",
    internal 496).

    Why it matters:
    The client had no certificate or did not offer it: its issuer is not among the advertised CA
    names (F1.1), or it sent no SNI and the default server's settings never asked for one (F7.3).

    Example:
    [info] ... client sent no required SSL certificate while reading client request headers

    Use instead:
    A client certificate from a CA in ssl_client_certificate, SNI on the client, and
    ssl_verify_client (or ssl_reject_handshake on) in the default server of the address.

    References:
    F4.1, F2.2, F1.1, F7.3 of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS603", "log-client-cert-missing", Severity.WARNING
    facts = ("F4.1", "F2.2", "F1.1", "F7.3")


class LogServerCertRejectedByClient(_GroupRule):
    """Clients rejected nginx's OWN server certificate with a TLS alert.

    What it checks:
    `SSL_do_handshake() failed (... alert unknown ca / bad certificate / certificate expired ...)`
    while SSL handshaking with a client (not an upstream).

    Why it matters:
    The alert was sent by the client about nginx's certificate, not the other way round: nginx
    never sends an alert about a client certificate (F4.3, section 0). Looking at the client's
    certificate for this wastes time.

    Example:
    [info] ... SSL_do_handshake() failed (SSL: error:0A000418:SSL routines::tlsv1 alert unknown ca:SSL alert number 48) while SSL handshaking

    Use instead:
    Give the client nginx's CA (curl --cacert ca.pem) and serve leaf + intermediates in
    ssl_certificate.

    References:
    F4.3 of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS604", "log-server-cert-rejected-by-client", Severity.WARNING
    facts = ("F4.3",)


class LogSniHostMismatch(_GroupRule):
    """Requests whose Host named another verifying server than the SNI got 421.

    What it checks:
    `client attempted to request the server name different from the one that was negotiated`.

    Why it matters:
    nginx answers 421 Misdirected Request when the Host selects a server with ssl_verify_client
    other than the SNI-selected one (F7.2); clients and proxies that rewrite Host hit it.

    Example:
    curl --resolve a.test:443:127.0.0.1 -H 'Host: b.test' https://a.test/    # -> 421

    Use instead:
    The same name in SNI and Host.

    References:
    F7.2 of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS605", "log-sni-host-mismatch", Severity.WARNING
    facts = ("F7.2",)


class LogTlsHandshakeFailed(_GroupRule):
    """TLS handshakes failed for reasons other than certificates (protocol, plain HTTP, rejection).

    What it checks:
    `handshake rejected`, `client sent plain HTTP request to HTTPS port`, and
    `SSL_do_handshake() failed` with a version/cipher mismatch or another reason.

    Why it matters:
    These clients never reached the client-certificate check; the fix is elsewhere (F7.4, F7.5,
    F2.5).

    Example:
    [info] ... SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported protocol) while SSL handshaking

    Use instead:
    Matching ssl_protocols (TLSv1.3 is default only since 1.23.4), https:// URLs, an SNI that
    matches a server_name.

    References:
    F7.4, F7.5, F2.5, F4.3 of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS606", "log-tls-handshake-failed", Severity.INFO
    facts = ("F7.4", "F7.5", "F2.5", "F4.3")


class LogConfigLoadError(_GroupRule):
    """nginx could not load its TLS configuration (CA file, CRL, certificate, key).

    What it checks:
    emerg lines such as `no ssl_client_certificate for ssl_verify_client`,
    `SSL_CTX_load_verify_locations(...) failed`, `X509_LOOKUP_load_file(...) failed`,
    `cannot load certificate`, `key values mismatch`.

    Why it matters:
    nginx did not start or reload: it still runs the OLD configuration (or none), so any mTLS
    change was not applied (F1.5, F6.1).

    Example:
    [emerg] no ssl_client_certificate for ssl_verify_client

    Use instead:
    ssl_verify_client on; ssl_client_certificate /etc/nginx/client-ca.pem;   # then nginx -t

    References:
    F1.5, F6.1, F2.4 of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS607", "log-config-load-error", Severity.ERROR
    facts = ("F1.5", "F6.1", "F2.4")


class LogUpstreamMtlsFailure(_GroupRule):
    """nginx as a TLS client failed mutual TLS with an upstream.

    What it checks:
    `... alert handshake failure / certificate required ... to upstream`, certificate alerts from
    the upstream, and `upstream SSL certificate verify error`.

    Why it matters:
    These are proxy_ssl_* problems, not client-certificate problems: the clients get 502 (F4.3).

    Example:
    [error] ... SSL_do_handshake() failed (... sslv3 alert handshake failure:SSL alert number 40) while SSL handshaking to upstream

    Use instead:
    proxy_ssl_certificate /etc/nginx/up-client.pem; proxy_ssl_certificate_key /etc/nginx/up-client.key;

    References:
    F4.3 and section 9 (upstream mTLS) of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS608", "log-upstream-mtls-failure", Severity.ERROR
    facts = ("F4.3",)


class LogOcspRequestFailed(_GroupRule):
    """OCSP requests failed (client-certificate ssl_ocsp or server ssl_stapling).

    What it checks:
    `no OCSP responder URL in certificate`, `no resolver defined to resolve ...`, and other OCSP
    errors while requesting certificate status.

    Why it matters:
    ssl_ocsp fails closed: every client certificate is rejected while the responder cannot be
    asked (F6.2).

    Example:
    [error] ... no OCSP responder URL in certificate while SSL handshaking

    Use instead:
    resolver 127.0.0.53; ssl_ocsp_responder http://ocsp.example.test/;

    References:
    F6.2 of nginx-mtls-facts.md.
    """

    code, name, severity = "MTLS609", "log-ocsp-request-failed", Severity.WARNING
    facts = ("F6.2",)


class LogNotNginxErrorLog(Rule):
    """The file holds no nginx error-log lines at all.

    What it checks:
    An input with lines but none in nginx's error-log format (`YYYY/MM/DD HH:MM:SS [level]
    PID#TID: ...` or `nginx: [level] ...`), e.g. an access log (an empty file is reported as
    empty, not as this).

    Why it matters:
    Client-certificate failures are only in the error log (F4.1); an access log shows only status
    400, not why.

    Example:
    mtls-doctor logs /var/log/nginx/access.log

    Use instead:
    mtls-doctor logs /var/log/nginx/error.log   # the file named by error_log

    References:
    F4.1 of nginx-mtls-facts.md.
    """

    code, name, severity, target, facts = "MTLS610", "log-not-nginx-error-log", Severity.WARNING, "log", ("F4.1",)

    @classmethod
    def check(cls, summary: LogSummary) -> tuple[Finding, ...]:
        out = []
        for f in summary.files:
            # an empty file is not a wrong file: `logs` says it is empty (no finding)
            if f.lines and f.nginx_lines == 0:
                out.append(cls.finding(
                    f"{f.lines} line{'s' if f.lines != 1 else ''}, none in nginx's error-log format.",
                    Location(path=f.source),
                    Fix("Pass the file named by the error_log directive.")))
        return tuple(out)


RULES: tuple = (
    LogNoInfoLevel,
    LogClientCertRejected,
    LogClientCertMissing,
    LogServerCertRejectedByClient,
    LogSniHostMismatch,
    LogTlsHandshakeFailed,
    LogConfigLoadError,
    LogUpstreamMtlsFailure,
    LogOcspRequestFailed,
    LogNotNginxErrorLog,
)


def check(summary: LogSummary) -> tuple[Finding, ...]:
    """Every MTLS6xx finding for a log summary."""
    out: list[Finding] = []
    for rule in RULES:
        out.extend(rule.check(summary))
    return tuple(out)


__all__ = ["RULES", "check"]
