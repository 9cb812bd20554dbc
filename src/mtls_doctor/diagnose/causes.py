"""The root causes ``mtls-doctor diagnose`` names: one class per cause, an explicit registry.

Invariants of this module (the shape of ``rules/``, STYLE habit 4 and 7):
- no I/O; a cause ``id`` is a STABLE public identifier (JSON ``root_causes[].cause``,
  ``docs/diagnose-causes.md``): never renamed or reused;
- a cause is a ``Cause`` subclass with ``id``, ``title`` (one sentence), ``facts`` (ids of
  ``nginx-mtls-facts.md``), a fix template (``fix``, ``snippet``) rendered for the user's own
  server (``{listen}``, ``{name}``, ``{server}``, ``{ca_file}``, ``{depth}``), the evidence that
  raises or supports it (``signals``, with weights) and a docstring in the fixed ``SECTIONS``;
- ``CAUSES`` is the explicit registry; ``get(id)`` of an unknown id raises ``KeyError``;
  ``order`` (the registry order) breaks ties: a configuration error that breaks every client
  before one client's problem.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Mapping

from mtls_doctor.diagnose.signals import Kind, Observation, Signal, Symptom, raises, supports
from mtls_doctor.model import Fix

SECTIONS = ("What it means", "Why", "Tell apart", "References")

F, V, L, P, S = Kind.FINDING, Kind.VERIFY, Kind.LOG, Kind.PROBE, Kind.SYMPTOM
O = Observation
VERIFY_LOG = "client-cert-verify-failed:"
UPSTREAM_LOG = "upstream-cert-verify-failed:*"

#: values a fix template gets when the server does not say (a neutral, valid example)
FIX_DEFAULTS: Mapping[str, str] = {
    "listen": "443", "name": "example.com", "server": "the server", "ca_file":
    "/etc/nginx/client-ca.pem", "depth": "2", "error_log": "/var/log/nginx/error.log",
}


class Cause:
    """Base class; subclasses set the class attributes and write the docstring sections."""

    id: ClassVar[str]
    title: ClassVar[str]
    facts: ClassVar[tuple[str, ...]]
    fix: ClassVar[str]
    snippet: ClassVar[str | None] = None
    #: the snippet for a stream server (no `if`, no HTTP status there); SAME: the snippet above
    stream_snippet: ClassVar[str | None] = "SAME"
    signals: ClassVar[tuple[Signal, ...]] = ()
    #: False for a cause that explains why evidence is missing, not why clients fail: it ranks
    #: after every cause that explains the failure (``Board.result``)
    explains_failure: ClassVar[bool] = True
    #: True for a cause that lets the WRONG clients in (an exposure): when a failure is seen, it
    #: cannot explain it and ranks after the causes that can
    exposure: ClassVar[bool] = False

    @classmethod
    def sections(cls) -> dict[str, str]:
        doc = inspect.getdoc(cls) or ""
        out: dict[str, str] = {}
        current: str | None = None
        lines: list[str] = []
        for line in doc.splitlines():
            title = line.strip().rstrip(":")
            if line.strip().endswith(":") and title in SECTIONS:
                if current is not None:
                    out[current] = " ".join(lines).strip()
                current, lines = title, []
            elif current is not None:
                lines.append(line.strip())
        if current is not None:
            out[current] = " ".join(lines).strip()
        return out

    @classmethod
    def render_fix(cls, values: Mapping[str, str] | None = None) -> Fix:
        """The one fix text of this cause, for the user's server (defaults where unknown)."""
        given = {k: v for k, v in (values or {}).items() if v}
        merged = _Defaults({**FIX_DEFAULTS, **given})
        template = cls.snippet if given.get("kind") != "stream" or cls.stream_snippet == "SAME" \
            else cls.stream_snippet
        snippet = template.format_map(merged) if template else None
        return Fix(cls.fix.format_map(merged), snippet)

    @classmethod
    def to_dict(cls) -> dict[str, Any]:
        return {"id": cls.id, "title": cls.title, "facts": list(cls.facts), "fix": cls.fix,
                "snippet": cls.snippet, "sections": cls.sections(),
                "signals": [s.describe() for s in cls.signals]}


class _Defaults(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


# --- configurations nginx refuses or cannot run ------------------------------------------------


class VerifyClientWithoutCa(Cause):
    """ssl_verify_client without a CA file.

    What it means:
        ssl_verify_client on/optional is set (in http, stream or mail) but no
        ssl_client_certificate (before 1.27.2 ssl_trusted_certificate alone is not enough):
        `nginx -t` fails and the new configuration never runs.
    Why:
        nginx needs the CA list to verify and to advertise; it stops with "no
        ssl_client_certificate for ssl_verify_client" (F1.5).
    Tell apart:
        `nginx -t` prints the emerg line; a running nginx keeps its previous configuration.
    References:
        F1.5; nginx docs ssl_verify_client.
    """

    id = "verify-client-without-ca"
    title = "ssl_verify_client is on/optional but no CA file is configured, so nginx refuses the configuration."
    facts = ("F1.5",)
    fix = "Add ssl_client_certificate with the root CA of your clients next to ssl_verify_client in {server}."
    snippet = "ssl_client_certificate {ca_file};"
    signals = (raises(F, "MTLS204", 0.7), raises(F, "MTLS203-error", 0.7), raises(F, "MTLS260", 0.7),
               raises(L, "config-no-client-ca", 0.6))


class ConfigFileMissing(Cause):
    """A file the configuration names does not exist.

    What it means:
        A certificate, CA or CRL file named in the configuration is missing, so `nginx -t` and
        reloads fail and the running nginx keeps an older configuration or does not start.
    Why:
        nginx loads every file at (re)load; relative paths resolve against the prefix (F1.5).
    Tell apart:
        `nginx -t` names the file; `ls -l` of the resolved path.
    References:
        F1.5, F6.1.
    """

    id = "config-file-missing"
    title = "A certificate, CA or CRL file named in the configuration does not exist."
    facts = ("F1.5", "F6.1")
    fix = "Fix the path in {server} (relative paths resolve against the configuration prefix) or create the file, then `nginx -t`."
    snippet = "nginx -t && nginx -s reload"
    signals = (raises(F, "MTLS230", 0.7), raises(F, "MTLS294", 0.7),
               supports(L, "config-ca-file-load-failed", 0.3),
               supports(L, "config-crl-load-failed", 0.3),
               supports(L, "config-cannot-load-certificate", 0.3))


class ConfigRejected(Cause):
    """nginx refuses the configuration or a file in it.

    What it means:
        `nginx -t` (or the reload) fails for a reason other than a missing file or a missing CA:
        a key that does not match its certificate, a chain file not starting with its leaf, a
        CA file nginx cannot read (empty, not PEM, TRUSTED CERTIFICATE before 1.27.2), a
        directive the nginx version lacks or a directive in the wrong context, a misspelled
        TLS directive or variable, a C-style comment, a TLS directive with the wrong number of
        arguments (a missing ';'), swapped certificate and key paths,
        proxy_ssl_verify without proxy_ssl_trusted_certificate, an ssl_ocsp_responder that is
        not http://, or anything `nginx -t` itself
        refuses when lint ran it.
    Why:
        nginx refuses the whole configuration; what runs is the previous one, or nothing.
    Tell apart:
        `nginx -t` prints the emerg line; its text is in the evidence when diagnose read it.
    References:
        F1.5, F2.1, F2.4; nginx docs ssl_certificate.
    """

    id = "config-rejected"
    title = "nginx refuses the configuration (nginx -t fails), so the intended mTLS settings never run."
    facts = ("F1.5", "F2.1", "F2.4")
    fix = "Correct what `nginx -t` names in {server} and reload; until then the old configuration runs."
    snippet = "nginx -t && nginx -s reload"
    signals = (
        raises(F, "MTLS232", 0.65), raises(F, "MTLS231", 0.6), raises(F, "MTLS209", 0.55),
        raises(F, "MTLS213", 0.6), raises(F, "MTLS304", 0.6), raises(F, "MTLS012", 0.55),
        raises(F, "MTLS001", 0.55, "ca"), raises(F, "MTLS003", 0.5, "ca"),
        raises(F, "MTLS004", 0.5, "ca"), raises(F, "MTLS005", 0.5, "ca"),
        raises(F, "MTLS006", 0.5, "ca"), raises(F, "MTLS007", 0.55, "ca"),
        raises(F, "MTLS008", 0.55, "ca"), raises(F, "MTLS010", 0.5), raises(F, "MTLS001", 0.55, "server"),
        raises(F, "MTLS007", 0.55, "server"), raises(F, "MTLS101", 0.3),
        raises(L, "config-key-mismatch", 0.6), raises(L, "config-cannot-load-key", 0.55),
        raises(L, "config-missing-certificate-or-key", 0.55), raises(L, "config-ocsp-incompatible", 0.55),
        raises(L, "config-ca-file-load-failed", 0.45), raises(L, "config-crl-load-failed", 0.45),
        raises(L, "config-cannot-load-certificate", 0.45), raises(F, "MTLS607", 0.3),
        raises(F, "MTLS113", 0.5), raises(F, "MTLS250", 0.7), raises(F, "MTLS251", 0.6),
        raises(F, "MTLS252", 0.6), raises(F, "MTLS253", 0.6), raises(F, "MTLS236", 0.55),
        raises(F, "MTLS241", 0.6), raises(F, "MTLS306", 0.6), raises(F, "MTLS254", 0.6),
    )


class EndpointUnreachable(Cause):
    """Nothing answers TLS where the client connects.

    What it means:
        nginx is not running there, was not reloaded since the listen was added, or a
        firewall blocks the port.
    Why:
        The probe could not complete a TLS handshake: no certificate question arises before.
    Tell apart:
        `ss -ltnp` shows whether nginx listens on that address and port.
    References:
        F8.2.
    """

    id = "endpoint-unreachable"
    title = "Nothing answers TLS at the address: nginx is not running there, not reloaded since the listen was added, or blocked."
    facts = ("F8.2",)
    fix = "Start or reload nginx and check `listen {listen} ssl;` of {server} and firewalls."
    snippet = "nginx -t && nginx -s reload"
    signals = (raises(P, O.UNREACHABLE, 0.6), supports(F, "MTLS510", 0.0))


class NginxNotReloaded(Cause):
    """The running nginx serves older settings than the files on disk.

    What it means:
        The running nginx advertises other CA names (or asks for no certificate) than the
        configuration and CA file on disk say: it was not reloaded after they changed.
    Why:
        nginx reads ssl_client_certificate, ssl_crl and ssl_verify_client only when the
        configuration is loaded; the CertificateRequest sent live carries the file as it was then
        (F1.1).
    Tell apart:
        `nginx -t && nginx -s reload`, then probe again: the names change.
    References:
        F1.1, F6.1.
    """

    id = "nginx-not-reloaded"
    title = "The running nginx advertises other CA names than the CA file on disk: it was not reloaded after the file changed."
    facts = ("F1.1", "F6.1")
    fix = "Test and reload nginx so that it reads the configuration and files of {server} again."
    snippet = "nginx -t && nginx -s reload"
    signals = (raises(P, O.NAMES_DIFFER_FROM_DISK, 0.75), raises(P, O.EMPTY_NAMES_DISK_HAS, 0.6),
               raises(P, O.NO_REQUEST_VERIFY_ON, 0.5))


class CaNamesListTooLarge(Cause):
    """The advertised CA names exceed what a CertificateRequest can carry.

    What it means:
        ssl_client_certificate holds so many CAs (often a whole public trust store) that their
        names exceed the 2^16-1 bytes of the CertificateRequest's certificate_authorities
        field: OpenSSL cannot build the message and EVERY handshake that asks for a certificate
        fails. A list that is merely large works but slows every handshake.
    Why:
        nginx advertises the subject of every certificate in the file (F1.1); the TLS length
        field is a 16-bit vector.
    Tell apart:
        The size of the names is computed from the file; every probe handshake fails with an
        internal error while the same server without client verification answers.
    References:
        F1.1, F1.6; RFC 8446 4.2.4, RFC 5246 7.4.4.
    """

    id = "ca-names-list-too-large"
    title = "The CA names of ssl_client_certificate exceed the 65535-byte CertificateRequest limit, so every handshake fails."
    facts = ("F1.1", "F1.6")
    fix = ("Keep only the CAs that issue your clients in ssl_client_certificate of {server}; put "
           "any others in ssl_trusted_certificate (trusted, not advertised).")
    snippet = "ssl_client_certificate {ca_file};  # only your client CAs\nssl_trusted_certificate /etc/nginx/other-cas.pem;"
    signals = (raises(P, O.ALL_HANDSHAKES_FAIL, 0.3), supports(F, "MTLS208", 0.2),
               supports(L, "tls-handshake-failed", 0.2))


# --- the client lands elsewhere than the user thinks ---------------------------------------------


class NoSniDefaultServer(Cause):
    """The client reaches the default server, which does not ask for a certificate.

    What it means:
        A client without SNI (an IP address in the URL, an old client) or with a name no
        server_name matches gets the default server's TLS settings; that server does not ask for
        a certificate, so even a client holding a valid one sends none and the Host-selected
        mTLS server answers 400 "No required SSL certificate was sent".
    Why:
        The whole handshake uses the default server of the listen address when SNI selects no
        server (F7.1, F7.3).
    Tell apart:
        Whether the client sends SNI: `curl -v` to a host name does, to an IP never; `openssl
        s_client -servername NAME` against without -servername.
    References:
        F7.1, F7.3.
    """

    id = "no-sni-default-server"
    title = "Clients without SNI get the default server's TLS settings, which do not ask for a certificate; the mTLS server then answers 400 \"No required SSL certificate was sent\"."
    facts = ("F7.1", "F7.3")
    fix = ("Make clients connect by name (SNI {name}), or make {server} the default_server of "
           "{listen}, or reject handshakes without a known name in the default server.")
    snippet = "server {{\n    listen {listen} ssl default_server;\n    ssl_reject_handshake on;\n}}"
    signals = (raises(P, O.DEFAULT_NO_REQUEST, 0.7), supports(F, "MTLS210", 0.2),
               supports(F, "MTLS501", 0.1), supports(L, "no-required-certificate", 0.2))


class DefaultServerOtherCa(Cause):
    """Without SNI the default server's CAs verify the client.

    What it means:
        A connection without (or with an unknown) SNI is verified with the default server's
        trust store; the Host-selected server accepts that verdict, so certificates of the
        other CA pass and valid ones fail (cross-CA bypass).
    Why:
        Verification happens in the handshake, with the SSL context of the default server
        (F7.3).
    Tell apart:
        The CA names a probe without SNI receives differ from those with SNI.
    References:
        F7.3, F7.1.
    """

    id = "default-server-other-ca"
    title = "Without SNI, client certificates are verified against the default server's CAs, not the mTLS server's (cross-CA bypass)."
    facts = ("F7.3", "F7.1")
    fix = ("Reject handshakes without a known name in the default server of {listen} (nginx >= "
           "1.19.4), or give every server on that address the same client CAs.")
    snippet = "server {{\n    listen {listen} ssl default_server;\n    ssl_reject_handshake on;\n}}"
    signals = (raises(F, "MTLS211", 0.55), raises(P, O.DEFAULT_OTHER_NAMES, 0.45),
               supports(F, "MTLS513", 0.1))


class HandshakeRejectedUnknownName(Cause):
    """The default server rejects handshakes for names no server_name matches.

    What it means:
        The default server has ssl_reject_handshake on and the client's SNI (or its absence)
        selects no server: the client gets alert unrecognized_name (112) before any certificate.
    Why:
        ssl_reject_handshake ends the handshake in the SNI callback (F7.4).
    Tell apart:
        The client's SNI compared with every server_name; the log's "handshake rejected" lines.
    References:
        F7.4, F7.3.
    """

    id = "handshake-rejected-unknown-name"
    title = "The client's SNI matches no server_name and the default server rejects the handshake."
    facts = ("F7.4", "F7.3")
    fix = "Connect with a name {server} has in server_name ({name}), or add the client's name to it."
    signals = (raises(P, O.HANDSHAKE_REJECTED, 0.5), raises(L, "handshake-rejected", 0.3))


class SniHostMismatch(Cause):
    """SNI and Host select different servers.

    What it means:
        The client's SNI selects one server and its Host header another that verifies clients:
        nginx answers 421 Misdirected Request. nginx compares the names as strings: two names
        matched by one regex server_name still differ.
    Why:
        With client verification nginx refuses a request for another server than the
        handshake's (F7.2).
    Tell apart:
        `curl -v` shows SNI (the URL host) and the Host header; proxies often rewrite Host.
    References:
        F7.2.
    """

    id = "sni-host-mismatch"
    title = "Clients send an SNI and a Host that select different servers: 421 Misdirected Request."
    facts = ("F7.2",)
    fix = "Make clients send the same name in SNI and Host ({name}), or serve both names from {server}."
    signals = (raises(L, "sni-host-mismatch", 0.45), raises(F, "MTLS511", 0.4), raises(P, O.MISDIRECTED, 0.6),
               raises(S, Symptom.MISDIRECTED, 0.35))


class TlsTerminatedBeforeNginx(Cause):
    """A CDN, load balancer or proxy terminates TLS in front of nginx.

    What it means:
        The client's TLS connection ends at an edge (CDN, cloud load balancer, another proxy),
        which does not ask for or forward the client certificate: nginx never sees one, so
        $ssl_client_verify is NONE and browsers are never asked.
    Why:
        Client authentication is part of the TLS handshake; only the party that terminates TLS
        sees the certificate (F1.2, F2.3).
    Tell apart:
        The certificate the URL presents: the edge's own, not nginx's ssl_certificate; or a
        listen without ssl behind the proxy.
    References:
        F1.2, F2.3, F8.2.
    """

    id = "tls-terminated-before-nginx"
    title = "TLS ends at an edge (CDN, load balancer, proxy) in front of nginx, so nginx never receives the client certificate."
    facts = ("F1.2", "F2.3", "F8.2")
    fix = ("Let the edge pass TLS through to nginx (TCP/passthrough mode), or configure client "
           "authentication on the edge and have it forward the verified identity.")
    signals = (raises(P, O.EDGE_CERTIFICATE, 0.6),)


# --- what nginx asks for -------------------------------------------------------------------------


class VerifyClientOff(Cause):
    """The server never asks for a certificate.

    What it means:
        ssl_verify_client is off where the client lands, so no CertificateRequest is sent:
        s_client prints "No client certificate CA names sent" and $ssl_client_verify is NONE
        even for clients holding a certificate.
    Why:
        ssl_client_certificate has no effect unless ssl_verify_client is on, optional or
        optional_no_ca (F1.2, F8.2).
    Tell apart:
        `openssl s_client -msg` shows no CertificateRequest; "Requested Signature Algorithms"
        is absent (F8.2).
    References:
        F1.2, F8.2.
    """

    id = "verify-client-off"
    title = "ssl_verify_client is off, so nginx never asks for a client certificate (no CertificateRequest at all)."
    facts = ("F1.2", "F8.2")
    fix = "Set ssl_verify_client on (or optional plus a check) in {server}."
    snippet = "ssl_verify_client on;"
    signals = (raises(P, O.NO_REQUEST_VERIFY_OFF, 0.5), raises(P, O.NO_REQUEST_NO_CONFIG, 0.4),
               raises(F, "MTLS205", 0.45), supports(S, Symptom.NO_CA_NAMES, 0.2),
               supports(S, Symptom.NONE_AT_BACKEND, 0.2), supports(S, Symptom.BROWSER_NO_PROMPT, 0.2))


class CaNamesTrustedOnly(Cause):
    """The CertificateRequest names no CA because only ssl_trusted_certificate holds it.

    What it means:
        nginx asks for a certificate but names no CA: s_client prints "No client certificate CA
        names sent" and browsers offer every certificate or none.
    Why:
        ssl_trusted_certificate is never advertised (F1.3, F1.4).
    Tell apart:
        s_client prints "Requested Signature Algorithms" (a request was sent) next to the
        empty list (F8.2).
    References:
        F1.3, F1.4, F1.6, F8.2.
    """

    id = "ca-names-trusted-only"
    title = "Only ssl_trusted_certificate holds the client CA, so the CertificateRequest carries an empty CA list."
    facts = ("F1.3", "F1.4", "F1.6", "F8.2")
    fix = ("Put the CA certificates clients choose by into ssl_client_certificate of {server} (they "
           "are advertised), or keep the empty list on purpose (nginx >= 1.27.2).")
    snippet = "ssl_client_certificate {ca_file};"
    signals = (raises(P, O.EMPTY_NAMES_TRUSTED_ONLY, 0.55), raises(P, O.EMPTY_NAMES_NO_CONFIG, 0.3),
               raises(F, "MTLS203", 0.35), supports(F, "MTLS502", 0.1),
               supports(S, Symptom.NO_CA_NAMES, 0.2), supports(S, Symptom.BROWSER_NO_PROMPT, 0.2))


class CaNamesDisabled(Cause):
    """`Options -CANames` empties the CA list.

    What it means:
        `ssl_conf_command Options -CANames` removes the CA names from the CertificateRequest
        although ssl_client_certificate is set; verification still uses the file.
    Why:
        SSL_OP_DISABLE_TLSEXT_CA_NAMES (F1.6).
    Tell apart:
        The ssl_conf_command line in the server; s_client shows a request with no names.
    References:
        F1.6, F8.2.
    """

    id = "ca-names-disabled"
    title = "`ssl_conf_command Options -CANames` removes the CA names from the CertificateRequest."
    facts = ("F1.6", "F8.2")
    fix = "Remove `Options -CANames` from {server} if clients (browsers) need the names to pick a certificate."
    signals = (raises(P, O.EMPTY_NAMES_CANAMES, 0.6), supports(S, Symptom.NO_CA_NAMES, 0.2))


class ClientIssuerNotAdvertised(Cause):
    """The client's issuer is not among the advertised CA names.

    What it means:
        Browsers and many clients only offer a certificate whose chain matches the
        CertificateRequest's CA names; the user's is not under any of them, so the client sends
        nothing and nginx answers 400 "No required SSL certificate was sent".
    Why:
        Only the subjects of ssl_client_certificate are advertised (F1.1, F1.3); no certificate
        means 496 (F2.2).
    Tell apart:
        The advertised names (s_client "Acceptable client certificate CA names") against the
        issuer of the user's certificate; curl --cert sends it regardless.
    References:
        F1.1, F1.3, F2.2.
    """

    id = "client-issuer-not-advertised"
    title = "The client's certificate is not issued under any CA name nginx advertises, so clients do not offer it and nginx answers 400 \"No required SSL certificate was sent\"."
    facts = ("F1.1", "F1.3", "F2.2")
    fix = ("Put the client's issuing CA (or its root) into ssl_client_certificate of {server}, not "
           "only into ssl_trusted_certificate.")
    snippet = "ssl_client_certificate {ca_file};"
    signals = (raises(P, O.ISSUER_NOT_ADVERTISED, 0.3), raises(F, "MTLS206", 0.2),
               raises(F, "MTLS503", 0.25), supports(L, "no-required-certificate", 0.25),
               supports(S, Symptom.NO_CERTIFICATE_SENT, 0.2), supports(S, Symptom.BROWSER_NO_PROMPT, 0.2))


class ClientCertificateNotSent(Cause):
    """nginx asks correctly, the client sends no certificate.

    What it means:
        The server the client reaches asks for a certificate and names the CA that issued the
        user's certificate (nginx accepts it when it is sent), yet requests arrive without one:
        the client is not configured to send it (curl without --cert/--key, a browser without
        the certificate imported, an application without its keystore) or a proxy in between
        does not forward it.
    Why:
        nginx answers 496 only when no certificate arrived at all (F2.2); an expired or
        untrusted one that is sent gives 495 instead (F2.5).
    Tell apart:
        Send the certificate yourself: `curl --cert cert.pem --key key.pem URL` (diagnose does
        with --cert/--key); 200 means the client side is the problem.
    References:
        F2.2, F2.5, F1.1.
    """

    id = "client-certificate-not-sent"
    title = "nginx asks for a certificate it would accept, but the client does not send one."
    facts = ("F2.2", "F2.5", "F1.1")
    fix = ("Configure the client to present its certificate to {name} (curl --cert/--key, import "
           "it into the browser, the application's keystore); the nginx side accepts it.")
    snippet = "curl --cert client.pem --key client.key https://{name}/"
    signals = (supports(L, "no-required-certificate", 0.2), supports(P, O.USER_ACCEPTED, 0.2),
               supports(S, Symptom.NO_CERTIFICATE_SENT, 0.2), supports(S, Symptom.BROWSER_NO_PROMPT, 0.1))


# --- the client chain against the trust settings -------------------------------------------------


class VerifyDepthExceeded(Cause):
    """The chain has more intermediates than ssl_verify_depth allows.

    What it means:
        Depth counts the intermediates between the leaf and the root (default 1); a longer
        chain fails with 20 or 2, not with 'chain too long' (22, which nginx built with
        OpenSSL 1.1.1 does log).
    Why:
        OpenSSL stops building at the depth limit (F3.1, F3.2, F3.3).
    Tell apart:
        The same certificate verifies at a large depth (diagnose checks at 16).
    References:
        F3.1, F3.2, F3.3.
    """

    id = "verify-depth-exceeded"
    title = "The client chain has more intermediates than ssl_verify_depth allows."
    facts = ("F3.1", "F3.2", "F3.3")
    fix = "Raise ssl_verify_depth in {server} to the number of intermediates of the longest client chain."
    snippet = "ssl_verify_depth {depth};"
    #: a logged 20 or 2 is also what a chain longer than the depth gives (F3.3, section 4
    #: table): from the log alone it is the runner-up of an untrusted CA / a CA file without
    #: its root, named so the user checks the chain length (round-2 case SO 8431528)
    #: nginx built with OpenSSL 1.1.1 logs the limit as it is, 22 'certificate chain too long'
    #: (measured: nginx 1.18.0 / OpenSSL 1.1.1w, round-2 case depth-one-bundle-log-only)
    signals = (raises(F, "MTLS207", 0.5), raises(L, VERIFY_LOG + "22", 0.6),
               raises(L, VERIFY_LOG + "2", 0.15), raises(L, VERIFY_LOG + "20", 0.15))


class CaFileMissingRoot(Cause):
    """The CA file holds an intermediate without its root.

    What it means:
        No client chain reaches a trust anchor: every client fails with 2 'unable to get
        issuer certificate'.
    Why:
        nginx never accepts partial chains (F3.4, F4.2).
    Tell apart:
        `mtls-doctor inspect` of the CA file shows the intermediate and no root.
    References:
        F3.4, F4.2.
    """

    id = "ca-file-missing-root"
    title = "The CA file holds an intermediate without its root, so no client chain reaches a trust anchor."
    facts = ("F3.4", "F4.2")
    fix = "Add the root CA to ssl_client_certificate ({ca_file}) of {server}, or to ssl_trusted_certificate."
    signals = (raises(F, "MTLS103", 0.6), raises(V, 2, 0.7), raises(L, VERIFY_LOG + "2", 0.35))


class ClientIssuerUnknown(Cause):
    """The client's issuer is in no trust file.

    What it means:
        The client sent its leaf alone and nginx has no certificate for its issuer: an
        intermediate the client must send, or a CA this server does not trust.
    Why:
        Verification fails with 21 'unable to verify the first certificate' (F3.4, F4.2); from
        the leaf alone the two readings cannot be told apart.
    Tell apart:
        Whether the issuer is an intermediate under a trusted root (send leaf + intermediate) or
        another CA (nginx keeps rejecting it, with 19 once the issuer is sent).
    References:
        F3.4, F4.2.
    """

    id = "client-issuer-unknown"
    title = "nginx has no certificate for the client's issuer: an intermediate the client does not send, or a CA this server does not trust."
    facts = ("F3.4", "F4.2")
    fix = ("If the issuer is an intermediate of a CA in ssl_client_certificate of {server}, make the "
           "client send leaf + intermediate (curl --cert chain.pem) or add the intermediate to "
           "{ca_file}; otherwise issue the client a certificate from a trusted CA.")
    signals = (raises(L, VERIFY_LOG + "21", 0.3), supports(F, "MTLS504", 0.1))


class ClientCaNotTrusted(Cause):
    """The client certificate comes from an untrusted CA.

    What it means:
        Its chain does not end at a certificate of ssl_client_certificate /
        ssl_trusted_certificate: 21, 20, 19 or 18.
    Why:
        nginx is right to refuse it (F4.2).
    Tell apart:
        The issuer of the certificate against the subjects in the CA file.
    References:
        F4.2.
    """

    id = "client-ca-not-trusted"
    title = "The client certificate comes from a CA that this server does not trust."
    facts = ("F4.2",)
    fix = "Use a client certificate from a CA in ssl_client_certificate of {server} ({ca_file}), or add that CA's root."
    signals = tuple(raises(V, c, 0.5) for c in (18, 19, 20, 21)) + tuple(
        raises(L, VERIFY_LOG + str(c), 0.3) for c in (18, 19, 20, 27)) + (
        supports(L, VERIFY_LOG + "21"),)


class CrlExpired(Cause):
    """A CRL in ssl_crl is past its nextUpdate.

    What it means:
        Every client under that CA is rejected with 12 'CRL has expired'.
    Why:
        nginx reads the CRL only at (re)load and OpenSSL refuses a stale one (F6.1).
    Tell apart:
        `openssl crl -noout -nextupdate` of the file.
    References:
        F6.1, F4.2.
    """

    id = "crl-expired"
    title = "A CRL in ssl_crl is past its nextUpdate, so every client under that CA is rejected."
    facts = ("F6.1", "F4.2")
    fix = "Publish a fresh CRL into the ssl_crl file of {server} and reload nginx; monitor nextUpdate."
    snippet = "nginx -t && nginx -s reload"
    signals = (raises(F, "MTLS302-error", 0.6), raises(F, "MTLS115", 0.55), raises(V, 12, 0.8),
               raises(L, VERIFY_LOG + "12", 0.45), raises(F, "MTLS116", 0.5), raises(V, 11, 0.7),
               raises(L, VERIFY_LOG + "11", 0.45))


class CrlMissingForCa(Cause):
    """ssl_crl lacks the CRL of a CA in the chain.

    What it means:
        With ssl_crl nginx checks CRLs for the whole chain: a missing CRL, also the root's,
        fails with 3 'unable to get certificate CRL'.
    Why:
        CRL_CHECK_ALL (F6.1).
    Tell apart:
        The issuers of the CRLs in the file against every CA of the chain.
    References:
        F6.1, F4.2.
    """

    id = "crl-missing-for-ca"
    title = "ssl_crl lacks the CRL of a CA in the client chain, so every such client is rejected."
    facts = ("F6.1", "F4.2")
    fix = "Put the CRLs of every CA (root and intermediates) into the ssl_crl file of {server}."
    signals = (raises(F, "MTLS301", 0.6), raises(V, 3, 0.75), raises(L, VERIFY_LOG + "3", 0.4))


class ClientCertificatePurpose(Cause):
    """An extendedKeyUsage without clientAuth.

    What it means:
        The client certificate (or a CA in its chain) has an extendedKeyUsage without
        clientAuth: 26 'unsuitable certificate purpose' (older OpenSSL: 'unsupported').
    Why:
        OpenSSL's ssl_client purpose checks the EKU of the leaf and of every CA (F6.3).
    Tell apart:
        `openssl x509 -noout -ext extendedKeyUsage` of each certificate.
    References:
        F6.3, F4.2.
    """

    id = "client-certificate-purpose"
    title = "The client certificate (or a CA in its chain) has an extendedKeyUsage without clientAuth."
    facts = ("F6.3", "F4.2")
    fix = "Issue client certificates (and CAs that carry an EKU) with extendedKeyUsage clientAuth."
    snippet = "extendedKeyUsage = clientAuth"
    signals = (raises(F, "MTLS109", 0.45), raises(F, "MTLS112", 0.4), raises(V, 26, 0.8),
               raises(L, VERIFY_LOG + "26", 0.45))


class ClientCertificateExpired(Cause):
    """The client certificate is expired or not yet valid.

    What it means:
        Validity is always checked: 10 'certificate has expired', 9 'not yet valid'.
    Why:
        Not tolerated even by optional_no_ca (F4.2, F2.4).
    Tell apart:
        `openssl x509 -noout -dates`; the clocks of client and server.
    References:
        F4.2, F2.4.
    """

    id = "client-certificate-expired"
    title = "The client certificate is expired or not yet valid."
    facts = ("F4.2", "F2.4")
    fix = "Renew the client certificate; check the clocks."
    signals = (raises(V, 10, 0.8), raises(V, 9, 0.8), raises(L, VERIFY_LOG + "10", 0.35),
               raises(L, VERIFY_LOG + "9", 0.35))


class TrustAnchorInvalid(Cause):
    """A CA certificate nginx trusts cannot anchor a chain.

    What it means:
        A certificate in the client CA file is expired, not yet valid, lacks keyCertSign, has
        a key or a signature digest below OpenSSL's security level: chains through it fail
        (10, 9, 79, 67, 68).
    Why:
        OpenSSL checks every certificate of the chain, the trust anchor included (F4.2).
    Tell apart:
        `mtls-doctor inspect` of the CA file names the certificate.
    References:
        F4.2.
    """

    id = "trust-anchor-invalid"
    title = "A CA certificate in the client CA file is expired, not yet valid or unusable as a CA."
    facts = ("F4.2",)
    fix = "Replace the CA certificate in {ca_file} of {server} with a current, valid one and reload."
    snippet = "nginx -t && nginx -s reload"
    signals = (raises(F, "MTLS104", 0.55, "ca"), raises(F, "MTLS105", 0.55, "ca"),
               raises(F, "MTLS108", 0.5, "ca"), raises(F, "MTLS111", 0.3, "ca"),
               raises(F, "MTLS110", 0.3, "ca"), raises(F, "MTLS102", 0.2, "ca"),
               raises(L, VERIFY_LOG + "68", 0.4), raises(L, VERIFY_LOG + "79", 0.4),
               raises(L, VERIFY_LOG + "24", 0.4), raises(L, VERIFY_LOG + "7", 0.4),
               raises(F, "MTLS224", 0.5), raises(L, VERIFY_LOG + "67", 0.4))


class ClientCertificateRevoked(Cause):
    """The client certificate is revoked.

    What it means:
        It is listed in a CRL of ssl_crl: 23 'certificate revoked'.
    Why:
        F6.1.
    Tell apart:
        The serial number of the certificate in `openssl crl -text` of the file.
    References:
        F6.1, F4.2.
    """

    id = "client-certificate-revoked"
    title = "The client certificate is listed in a CRL of ssl_crl."
    facts = ("F6.1", "F4.2")
    fix = "Issue the client a new certificate."
    signals = (raises(V, 23, 0.8), raises(L, VERIFY_LOG + "23", 0.35),
               raises(L, "client-cert-ocsp-revoked", 0.35))


class OcspCheckFailing(Cause):
    """ssl_ocsp cannot get an answer, so clients are rejected.

    What it means:
        ssl_ocsp is on and nginx cannot obtain the OCSP status (no resolver, no responder URL,
        responder unreachable or for another CA); it fails closed with 400.
    Why:
        F6.2; $ssl_client_verify is FAILED:certificate status request failed (F2.3).
    Tell apart:
        The log's OCSP lines; `ssl_ocsp off` makes the same certificate pass.
    References:
        F6.2, F2.3.
    """

    id = "ocsp-check-failing"
    title = "ssl_ocsp cannot obtain the client certificate's OCSP status, so nginx rejects it."
    facts = ("F6.2", "F2.3")
    fix = "Add a resolver (or ssl_ocsp_responder) to {server} and make the responder reachable, or set ssl_ocsp off."
    snippet = "resolver 127.0.0.53;\nssl_ocsp_responder http://ocsp.example.com/;"
    signals = (raises(F, "MTLS303", 0.55), raises(L, "client-cert-ocsp-failed", 0.45),
               raises(L, "client-cert-ocsp-unknown", 0.45), raises(L, "ocsp-check-error", 0.25),
               supports(F, "MTLS609", 0.1))


class ClientCertificateRejected(Cause):
    """nginx rejects the client certificate for another verification error.

    What it means:
        The verification error in the evidence is not one of the common ones.
    Why:
        F4.2.
    Tell apart:
        `mtls-doctor verify` of the certificate against the CA file explains the code.
    References:
        F4.2.
    """

    id = "client-certificate-rejected"
    title = "nginx rejects the client certificate for another verification error."
    facts = ("F4.2",)
    fix = "Run `mtls-doctor verify` with this certificate against {ca_file} and follow its explanation."
    signals = (raises(P, O.USER_REJECTED, 0.5), supports(F, "MTLS505", 0.1), supports(F, "MTLS512", 0.1),
               raises(L, VERIFY_LOG + "*", 0.25), supports(S, Symptom.CERTIFICATE_ERROR, 0.2))


# --- what the application gets -------------------------------------------------------------------


class VerificationNotEnforced(Cause):
    """optional / optional_no_ca lets clients through unchecked.

    What it means:
        optional serves requests without a certificate (NONE, 200); optional_no_ca also serves
        untrusted ones (FAILED, 200); unless $ssl_client_verify is checked, anyone gets in. The
        same when the backend is handed a constant "verified" flag instead of
        $ssl_client_verify, or a mail server with `starttls on` lets clients log in before any
        handshake.
    Why:
        F2.2, F2.4.
    Tell apart:
        A request without a certificate gets 200.
    References:
        F2.2, F2.3, F2.4.
    """

    exposure = True
    id = "verification-not-enforced"
    title = "ssl_verify_client optional/optional_no_ca lets clients through without a valid certificate, and nothing checks $ssl_client_verify."
    facts = ("F2.2", "F2.3", "F2.4")
    fix = "Use ssl_verify_client on in {server}, or refuse anything but SUCCESS."
    snippet = "if ($ssl_client_verify != SUCCESS) {{ return 403; }}"
    stream_snippet = "ssl_verify_client on;"  # a stream server has no `if` and no 403
    #: the ERROR findings (nothing checks the verdict) raise it; the warnings (the verdict is
    #: handed to the backend, which may check it) only support it (core.SEVERITY_KEYED)
    signals = (raises(F, "MTLS201-error", 0.5), raises(F, "MTLS202-error", 0.5),
               raises(F, "MTLS412", 0.5), raises(F, "MTLS262", 0.45),
               supports(F, "MTLS201", 0.1), supports(F, "MTLS202", 0.1), supports(F, "MTLS509", 0.0))


class ProtectedContentServedUnverified(Cause):
    """What an mTLS server protects is also served where nobody verifies.

    What it means:
        The content (root, alias, upstream) of a server that requires a verified client
        certificate is also served by a listener that does not ask for one: plain HTTP, a TLS
        server with ssl_verify_client off, or the server nginx selects for the same name on
        another address. Anyone reaches it there without a certificate.
    Why:
        Client verification belongs to one server block's handshake (F2.2); another address or
        port selects its own server (F7.3).
    Tell apart:
        Request the same path on the other listener without a certificate: 200 is the hole.
    References:
        F2.2, F7.3.
    """

    exposure = True
    id = "protected-content-served-unverified"
    title = "The content of a server that requires a client certificate is also served by a listener that does not verify."
    facts = ("F2.2", "F7.3")
    fix = ("Serve the protected content only from {server}; make the other listener redirect "
           "(return 301 https://...) or reject, or verify clients there too.")
    snippet = "return 301 https://{name}$request_uri;"
    #: the loopback-only listener is a warning of the rule: it supports, never raises
    signals = (raises(F, "MTLS214-error", 0.5), supports(F, "MTLS214", 0.1))


class ClientCaSystemStore(Cause):
    """The client CA file is the system trust store.

    What it means:
        ssl_client_certificate (or ssl_trusted_certificate) of a verifying server is the
        operating system's bundle of public CAs: a client certificate bought from any of them
        verifies, so SUCCESS says nothing about who the client is; the hundred-odd advertised
        names also make some clients offer no certificate.
    Why:
        Every certificate of the file is trusted and advertised (F1.1).
    Tell apart:
        The path of the file (/etc/ssl/certs/ca-certificates.crt, ca-bundle.crt) and its
        certificate count in `mtls-doctor inspect`.
    References:
        F1.1, F1.7.
    """

    exposure = True
    id = "client-ca-system-store"
    title = "The client CA file is the system trust store, so a client certificate from any public CA verifies."
    facts = ("F1.1", "F1.7")
    fix = ("Put only the private CA(s) that issue your client certificates into "
           "ssl_client_certificate of {server}.")
    snippet = "ssl_client_certificate /etc/nginx/client-ca.pem;  # your private client CA only"
    signals = (raises(F, "MTLS238", 0.5),)


class IdentityHeadersForgeable(Cause):
    """The backend reads identity headers a client can forge.

    What it means:
        A header nginx does not set with proxy_set_header passes through from the client: a
        client without any certificate can send 'X-Client-Verify: SUCCESS' itself.
    Why:
        $ssl_client_verify is the only verdict (F2.2, F2.3).
    Tell apart:
        Send the header yourself without a certificate and read what the backend got.
    References:
        F2.2, F2.3.
    """

    exposure = True
    id = "identity-headers-forgeable"
    title = "The backend reads client-identity headers that nginx does not always overwrite, so a client can forge them."
    facts = ("F2.2", "F2.3")
    fix = "Set every identity header the application reads with proxy_set_header in {server}, from nginx's own variables."
    snippet = "proxy_set_header X-Client-Verify $ssl_client_verify;"
    signals = (raises(F, "MTLS405", 0.6), supports(F, "MTLS403", 0.2))


class ClientCertHeaderMultiline(Cause):
    """$ssl_client_cert forwarded in a header breaks the request to the backend.

    What it means:
        $ssl_client_cert is a multi-line PEM (continuation lines start with a tab) and
        $ssl_client_raw_cert has plain line breaks; forwarded with proxy_set_header either makes
        a header many backends and proxies reject (400 "client sent invalid header line") or
        cut, so the backend never gets the certificate.
    Why:
        The variable is deprecated since 1.13.5 for $ssl_client_escaped_cert (section 9 table).
    Tell apart:
        The backend's own error log; the same request with $ssl_client_escaped_cert passes.
    References:
        F2.3; nginx docs $ssl_client_escaped_cert.
    """

    id = "client-cert-header-multiline"
    title = "The client certificate is forwarded as the multi-line $ssl_client_cert, which the backend rejects or cuts."
    facts = ("F2.3",)
    fix = "Forward $ssl_client_escaped_cert (URL-encoded PEM) from {server} and decode it in the backend."
    snippet = "proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;"
    signals = (supports(F, "MTLS404", 0.3), supports(S, Symptom.BACKEND_REJECTS, 0.3),
               raises(P, O.BACKEND_REJECTED_CERT, 0.5), raises(F, "MTLS411", 0.5))


class ClientDnFormat(Cause):
    """A DN match written in a format nginx does not produce.

    What it means:
        $ssl_client_s_dn is RFC 2253 since nginx 1.11.6 ("CN=x,O=y", most specific first);
        a map or if written in the old "/O=y/CN=x" form (or an invalid regex) never matches, so
        valid clients get the 403 (or the backend the wrong identity).
    Why:
        CHG 1.11.6; $ssl_client_s_dn_legacy keeps the old format.
    Tell apart:
        Log or return $ssl_client_s_dn once for a real client and compare.
    References:
        F2.3, F9 table (1.11.6).
    """

    id = "client-dn-format"
    title = "A match on $ssl_client_s_dn is written in a format nginx does not produce, so verified clients are refused."
    facts = ("F2.3",)
    fix = "Write the DN in RFC 2253 form (\"CN=...,O=...\") in {server}, or match $ssl_client_s_dn_legacy."
    signals = (raises(F, "MTLS406", 0.55), raises(F, "MTLS407", 0.5), supports(F, "MTLS408", 0.1),
               supports(S, Symptom.FORBIDDEN, 0.2))


class ErrorLogHidesVerifyFailures(Cause):
    """error_log above info hides why certificates fail.

    What it means:
        nginx logs 'client SSL certificate verify error' and 'client sent no required SSL
        certificate' at info only; the default level is error.
    Why:
        F4.1.
    Tell apart:
        The error_log level of the server; lines at [info] in the log.
    References:
        F4.1.
    """

    id = "error-log-hides-verify-failures"
    title = "error_log is above info, so nginx does not log why client certificates fail."
    facts = ("F4.1",)
    fix = "Log at info in {server} while diagnosing."
    snippet = "error_log {error_log} info;"
    #: raised by ``symptoms.judge_config`` only when something indicates a failure it hides
    signals = (supports(F, "MTLS401", 0.2), supports(F, "MTLS601", 0.2))
    explains_failure = False


# --- the other direction and the transport -------------------------------------------------------


class ServerCertificateRejectedByClient(Cause):
    """The client rejects nginx's own certificate.

    What it means:
        The client does not accept nginx's server certificate (alert unknown ca, bad
        certificate): before any client certificate matters.
    Why:
        The alert is sent by the client; nginx never sends one about a client certificate
        (F4.3).
    Tell apart:
        `curl -v` without -k fails with "unable to get local issuer certificate" at the client.
    References:
        F4.3.
    """

    id = "server-certificate-rejected-by-client"
    title = "Clients reject nginx's own server certificate (alert unknown ca), before any client certificate matters."
    facts = ("F4.3",)
    fix = ("Give clients the CA of nginx's server certificate and make ssl_certificate of {server} "
           "hold the leaf followed by its intermediates.")
    signals = (raises(L, "client-rejected-server-certificate", 0.35), supports(F, "MTLS506", 0.1),
               supports(L, "client-closed-during-handshake", 0.1),
               raises(F, "MTLS104", 0.5, "server"), raises(F, "MTLS105", 0.5, "server"),
               supports(F, "MTLS604", 0.1))


class TlsProtocolMismatch(Cause):
    """Client and nginx share no protocol version or cipher.

    What it means:
        The handshake fails before any certificate is exchanged: no common TLS version (TLSv1.3
        is on by default only since 1.23.4), cipher or signature algorithm.
    Why:
        F7.5.
    Tell apart:
        `openssl s_client -tls1_2` / `-tls1_3` against the server.
    References:
        F7.5.
    """

    id = "tls-protocol-mismatch"
    title = "Client and nginx share no TLS version, cipher or signature algorithm, so the handshake fails first."
    facts = ("F7.5",)
    fix = "Align ssl_protocols / ssl_ciphers of {server} with the client (e.g. add TLSv1.3 on nginx < 1.23.4)."
    snippet = "ssl_protocols TLSv1.2 TLSv1.3;"
    signals = (raises(L, "tls-version-or-cipher-mismatch", 0.35), supports(L, "tls-handshake-failed", 0.1),
               supports(S, Symptom.HANDSHAKE_ALERT, 0.1))


class PlainHttpToHttpsPort(Cause):
    """Plain HTTP reaches a TLS port.

    What it means:
        The client spoke plain HTTP to a `listen ... ssl` port: 400 (497).
    Why:
        F2.5.
    Tell apart:
        The scheme of the client's URL.
    References:
        F2.5.
    """

    id = "plain-http-to-https-port"
    title = "Clients send plain HTTP to a TLS port (400 \"The plain HTTP request was sent to HTTPS port\")."
    facts = ("F2.5",)
    fix = "Use https://{name}:{listen}/ in the client URL."
    signals = (raises(L, "plain-http-to-https-port", 0.35), raises(S, Symptom.PLAIN_HTTP, 0.6))


class UpstreamClientCertificate(Cause):
    """nginx, as a client of its upstream, fails mutual TLS.

    What it means:
        The upstream (proxy_pass https://) requires a client certificate nginx does not send,
        or rejects the one of proxy_ssl_certificate.
    Why:
        Upstream mTLS is proxy_ssl_certificate/_key (section 9); the upstream's alert is logged
        "while SSL handshaking to upstream" (F4.3).
    Tell apart:
        The log line names the upstream; the client-side handshake with nginx succeeds. An
        upstream nginx that verifies clients completes the handshake without a certificate and
        answers its own 400 "No required SSL certificate was sent", which nginx relays: that
        page from a server that verifies no client is the upstream's (F2.2).
    References:
        F4.3, F2.2.
    """

    id = "upstream-client-certificate"
    title = "The upstream requires or rejects nginx's own client certificate (proxy_ssl_certificate)."
    facts = ("F4.3", "F2.2")
    fix = "Set proxy_ssl_certificate and proxy_ssl_certificate_key in {server} to a certificate the upstream trusts."
    snippet = "proxy_ssl_certificate /etc/nginx/upstream-client.pem;\nproxy_ssl_certificate_key /etc/nginx/upstream-client.key;"
    signals = (raises(L, "upstream-requires-client-certificate", 0.5),
               raises(L, "upstream-rejected-client-certificate", 0.5),
               raises(P, O.UPSTREAM_CERT_PAGE, 0.55), supports(F, "MTLS608", 0.1),
               supports(S, Symptom.BAD_GATEWAY, 0.2))


class UpstreamCertificateUntrusted(Cause):
    """nginx rejects its upstream's server certificate.

    What it means:
        proxy_ssl_verify is on and the upstream's certificate fails against
        proxy_ssl_trusted_certificate: its chain is deeper than proxy_ssl_verify_depth, or its
        name does not match proxy_ssl_name (by default the host of proxy_pass: an IP address or
        an upstream group name): 502.
    Why:
        proxy_ssl_verify_depth defaults to 1 (section 9).
    Tell apart:
        The log line "upstream SSL certificate verify error" names the code.
    References:
        F4.2.
    """

    id = "upstream-certificate-untrusted"
    title = "nginx rejects the upstream's server certificate (proxy_ssl_verify), so requests fail with 502."
    facts = ("F4.2",)
    fix = "Put the upstream's CA in proxy_ssl_trusted_certificate of {server}, check proxy_ssl_name and proxy_ssl_verify_depth."
    snippet = "proxy_ssl_trusted_certificate /etc/nginx/upstream-ca.pem;\nproxy_ssl_name upstream.example.com;"
    signals = (raises(L, UPSTREAM_LOG, 0.5), raises(L, "upstream-cert-name-mismatch", 0.5),
               raises(F, "MTLS242", 0.5), raises(F, "MTLS243", 0.45),
               supports(S, Symptom.BAD_GATEWAY, 0.2))


#: the registry: every cause, in tie-break order (id -> class)
CATALOGUE: tuple[type[Cause], ...] = (
    VerifyClientWithoutCa, ConfigFileMissing, ConfigRejected, EndpointUnreachable,
    NginxNotReloaded, CaNamesListTooLarge, TlsTerminatedBeforeNginx, NoSniDefaultServer,
    DefaultServerOtherCa, HandshakeRejectedUnknownName, VerifyClientOff, CaNamesTrustedOnly,
    CaNamesDisabled, ClientIssuerNotAdvertised, VerifyDepthExceeded, CaFileMissingRoot,
    TrustAnchorInvalid, CrlExpired, CrlMissingForCa, OcspCheckFailing, ClientCertificatePurpose,
    ClientIssuerUnknown, ClientCaNotTrusted, ClientCertificateExpired, ClientCertificateRevoked,
    ClientCertificateRejected, ClientCertificateNotSent, VerificationNotEnforced,
    ProtectedContentServedUnverified, ClientCaSystemStore, IdentityHeadersForgeable, ClientCertHeaderMultiline, ClientDnFormat, UpstreamClientCertificate,
    UpstreamCertificateUntrusted, ServerCertificateRejectedByClient, SniHostMismatch,
    TlsProtocolMismatch, PlainHttpToHttpsPort, ErrorLogHidesVerifyFailures,
)
CAUSES: dict[str, type[Cause]] = {c.id: c for c in CATALOGUE}
ORDER: dict[str, int] = {c.id: i for i, c in enumerate(CATALOGUE)}
#: kept for callers of the old catalogue record
CauseInfo = Cause


def get(cause_id: str) -> type[Cause]:
    """The cause class of an id; an unknown id is a ``KeyError`` (never silently nothing)."""
    try:
        return CAUSES[cause_id]
    except KeyError:
        raise KeyError(f"unknown diagnose cause id {cause_id!r}") from None


def by_signal() -> dict[tuple[Kind, str], list[tuple[type[Cause], Signal]]]:
    """Every declared signal, by (kind, key): what one piece of evidence raises or supports."""
    out: dict[tuple[Kind, str], list[tuple[type[Cause], Signal]]] = {}
    for cause in CATALOGUE:
        for sig in cause.signals:
            out.setdefault((sig.kind, sig.key), []).append((cause, sig))
    return out


def causes_markdown() -> str:
    """``docs/diagnose-causes.md``: every cause, its sections, evidence and fix."""
    from mtls_doctor.diagnose.signals import SYMPTOM_HELP

    out = [
        "# Root causes of `mtls-doctor diagnose`",
        "",
        "Generated from `mtls_doctor.diagnose.causes` (`python -m mtls_doctor.diagnose.docs`); do not edit.",
        "The `cause` values of `diagnose --format json` (`root_causes[].cause`) are stable: a cause is",
        "never renamed or reused. Fact ids refer to `nginx-mtls-facts.md`. Evidence: `finding` is a",
        "lint/probe/log rule code, `verify` an OpenSSL code of your certificate judged offline, `log` a",
        "`logs` cause id, `probe` an observation of the live probes, `symptom` a `--symptom` value;",
        "a signal that only supports a cause never raises it alone.",
        "",
        "## `--symptom` vocabulary",
        "",
        "| value | what you see |",
        "|---|---|",
    ]
    out += [f"| `{s.value}` | {text} |" for s, text in SYMPTOM_HELP.items()]
    out += ["", "## Causes", "", "| cause | title |", "|---|---|"]
    out += [f"| `{c.id}` | {c.title.replace('|', '/')} |" for c in CATALOGUE]
    for c in CATALOGUE:
        sections = c.sections()
        out += ["", f"## `{c.id}`", "", c.title, ""]
        for title in SECTIONS:
            out.append(f"- {title}: {sections.get(title, '')}")
        fix = c.render_fix()
        out.append(f"- Fix: {fix.text}")
        if fix.snippet:
            out.append("- Snippet: `" + fix.snippet.replace("\n", " ") + "`")
        out.append("- Evidence: " + ("; ".join(s.describe() for s in c.signals) or "judged only"))
        out.append(f"- Facts: {', '.join(c.facts)}")
    return "\n".join(out) + "\n"


__all__ = ["Cause", "CATALOGUE", "CAUSES", "ORDER", "SECTIONS", "get", "by_signal",
           "causes_markdown", "CauseInfo"]
