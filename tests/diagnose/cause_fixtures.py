"""One firing and one close must-not-fire Evidence per diagnose cause (collected by test_causes_meta).

Each entry of ``FIXTURES`` is ``cause id -> (fire, ok)``: two functions building hand-made
``Evidence`` (no I/O). ``fire`` must put the cause FIRST; ``ok`` is a close input (the same
configuration fixed, a lower severity, a client that sends SNI, ...) where the cause must not
appear at all. Log lines are nginx's own format (F4.1).
"""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache

from mtls_doctor.diagnose.evidence import Evidence, LogEvidence, ProbeEvidence, Target
from mtls_doctor.diagnose.signals import parse_symptom
from mtls_doctor.logs.summary import summarize
from mtls_doctor.model import Finding, Location, Severity
from mtls_doctor.nginx.effective import effective
from mtls_doctor.nginx.parse import DictReader, parse_sources
from mtls_doctor.probe.model import (
    Alert,
    Attempt,
    AttemptSpec,
    CertificateRequest,
    CertKind,
    CertSummary,
    HttpAnswer,
    Outcome,
    Step,
)

AT = datetime(2026, 11, 28, tzinfo=timezone.utc)
CONF = "/etc/nginx/nginx.conf"
ROOT = "CN=Root CA,O=Test"
E, W = Severity.ERROR, Severity.WARNING

MTLS = """http {
  server { listen 443 ssl; server_name a.test; ssl_certificate s.pem; ssl_certificate_key s.key;
           ssl_verify_client on; ssl_client_certificate /etc/nginx/ca.pem;
           location / { proxy_pass http://127.0.0.1:8080; } }
}"""
OFF = """http {
  server { listen 443 ssl; server_name a.test; ssl_certificate s.pem; ssl_certificate_key s.key;
           ssl_client_certificate /etc/nginx/ca.pem; }
}"""
TRAP = """http {
  server { listen 443 ssl default_server; server_name _; ssl_certificate s.pem; ssl_certificate_key s.key; }
  server { listen 443 ssl; server_name a.test; ssl_certificate s.pem; ssl_certificate_key s.key;
           ssl_verify_client on; ssl_client_certificate /etc/nginx/ca.pem; }
}"""
PLAIN = """http {
  server { listen 8080; server_name a.test;
           location / { proxy_set_header X-Client-DN $ssl_client_s_dn; proxy_pass http://127.0.0.1:9000; } }
}"""
RAW_CERT = """http {
  server { listen 443 ssl; server_name a.test; ssl_certificate s.pem; ssl_certificate_key s.key;
           ssl_verify_client on; ssl_client_certificate /etc/nginx/ca.pem;
           location / { proxy_set_header X-Client-Cert $ssl_client_cert; proxy_pass http://127.0.0.1:9000; } }
}"""
ESCAPED_CERT = RAW_CERT.replace("$ssl_client_cert;", "$ssl_client_escaped_cert;")


@lru_cache(maxsize=None)
def eff_of(text: str):
    config = parse_sources(CONF, DictReader({CONF: text}))
    return config, effective(config)


def finding(rule: str, severity: Severity = E, path: str = CONF, line: int = 2,
            index: int | None = None) -> Finding:
    return Finding(rule, rule.lower(), severity, "m", Location(path, line, index=index))


def log(*messages: str) -> LogEvidence:
    lines = [f"2026/11/28 00:00:0{i} {m}" for i, m in enumerate(messages, 1)]
    return LogEvidence(summarize(lines, "/var/log/nginx/error.log"), ("/var/log/nginx/error.log",))


def verify_line(code: int, text: str) -> str:
    return (f"[info] 1#1: *1 client SSL certificate verify error: ({code}:{text}) while reading "
            'client request headers, client: 127.0.0.1, server: a.test, request: "GET / HTTP/1.1", '
            'host: "a.test"')


def attempt(cert: str, sni: str | None, request: tuple[str, ...] | None, status: int | None = 200,
            page: int | None = None, outcome: Outcome = Outcome.HTTP_ANSWER, alert: int | None = None,
            server_cert: str | None = None) -> Attempt:
    done = outcome is Outcome.HTTP_ANSWER
    return Attempt(
        spec=AttemptSpec(CertKind(cert), sni, "auto"), outcome=outcome,
        steps=(Step("finished", done),), version="TLSv1.3" if done else None,
        certificate_request=CertificateRequest(request) if request is not None else None,
        http=HttpAnswer(status, "x", "nginx", page, {496: "No required SSL certificate was sent",
                                                     495: "The SSL certificate error"}.get(page or 0))
        if done and status is not None else None,
        alert=Alert("received", "fatal", alert, "x", False) if alert is not None else None,
        server_chain=(CertSummary(server_cert, server_cert, "2026-01-01", "2027-01-01"),) if server_cert else (),
        error=None if done else outcome.value)


def probe(sni, attempts, server=None, handshake=None, host_header="a.test", address="*:443") -> ProbeEvidence:
    return ProbeEvidence("127.0.0.1", 443, sni, host_header, tuple(attempts), address, server,
                         handshake if handshake is not None else server)


def ev(text: str | None = None, **kw) -> Evidence:
    if text is not None:
        config, eff = eff_of(text)
        kw.setdefault("config", config)
        kw.setdefault("eff", eff)
    if "symptoms" in kw:
        kw["symptoms"] = tuple(parse_symptom(s) for s in kw["symptoms"])
    return Evidence(at=AT, **kw)


def target(text: str, sni: str | None, host: str = "a.test", address: str = "*:443") -> Target:
    from mtls_doctor.nginx.effective import find_server

    _, eff = eff_of(text)
    hs, matched = find_server(eff, address, sni)
    rq, _ = find_server(eff, address, host)
    return Target(sni=sni, sni_known=True, host=host, address=address, request_server=rq,
                  handshake_server=hs, lands_on_default=not matched, why="test")


@lru_cache(maxsize=1)
def big_ca_files():
    """A CA file whose subject names exceed 65535 bytes, and a small one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from mtls_doctor.pki.load import load_bytes
    from mtls_doctor.rules.config.common import LoadedFile

    key = ec.generate_private_key(ec.SECP256R1())
    pems = []
    for i in range(400):
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "O" * 60),
                          x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "U" * 60),
                          x509.NameAttribute(NameOID.COMMON_NAME, f"CA {i} " + "C" * 50)])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(i + 1).not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
                .not_valid_after(datetime(2030, 1, 1, tzinfo=timezone.utc))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        from cryptography.hazmat.primitives.serialization import Encoding

        pems.append(cert.public_bytes(Encoding.PEM))
    big = {"/etc/nginx/ca.pem": LoadedFile("/etc/nginx/ca.pem", load_bytes(b"".join(pems), "ca.pem"))}
    small = {"/etc/nginx/ca.pem": LoadedFile("/etc/nginx/ca.pem", load_bytes(b"".join(pems[:3]), "ca.pem"))}
    return big, small


def _unreachable(outcome: Outcome):
    _, eff = eff_of(MTLS)
    return ev(MTLS, probes=(probe("a.test", [attempt("none", "a.test", None, None, outcome=outcome)],
                                  eff.servers[0]),))


def _trap(sni: str | None):
    _, eff = eff_of(TRAP)
    default, mtls = eff.servers
    return ev(TRAP, target=target(TRAP, sni), lint=(finding("MTLS210", E, line=3),), probes=(
        probe("a.test", [attempt("none", "a.test", (ROOT,), 400, 496)], mtls),
        probe(None, [attempt("none", None, None, 400, 496)], mtls, default)))


def _other_names(same: bool):
    _, eff = eff_of(TRAP)
    default, mtls = eff.servers
    names = () if same else ("CN=Other Root,O=Test",)
    from mtls_doctor.pki.load import load_bytes  # noqa: F401
    return ev(TRAP, target=target(TRAP, None), probes=(
        probe(None, [attempt("none", None, names or None, 400, 495)], mtls, default),))


def _probe_names(text: str, names, **kw):
    _, eff = eff_of(text)
    return ev(text, probes=(probe("a.test", [attempt("none", "a.test", names)], eff.servers[0]),), **kw)


def _symptom(text: str, symptom: str, sni: str | None = "a.test", **kw):
    return ev(text, symptoms=(symptom,), target=target(text, sni), **kw)


def _edge(same: bool):
    _, eff = eff_of(MTLS)
    seen = "CN=a.test" if same else "CN=edge.cdn.example"
    from mtls_doctor.lab.pki import build_lab_pki  # noqa: F401
    return ev(MTLS, files=_server_file(), probes=(ProbeEvidence(
        "a.test", 443, "a.test", "a.test", (attempt("none", "a.test", None, server_cert=seen),),
        None, eff.servers[0], eff.servers[0]),))


@lru_cache(maxsize=1)
def _server_file():
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    from mtls_doctor.pki.load import load_bytes
    from mtls_doctor.rules.config.common import LoadedFile

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "a.test")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(7).not_valid_before(datetime(2025, 1, 1, tzinfo=timezone.utc))
            .not_valid_after(datetime(2030, 1, 1, tzinfo=timezone.utc)).sign(key, hashes.SHA256()))
    path = "/etc/nginx/s.pem"
    return {path: LoadedFile(path, load_bytes(cert.public_bytes(Encoding.PEM), "s.pem"))}


UPSTREAM_VERIFY = ("[error] 1#1: *1 upstream SSL certificate verify error: (20:unable to get local issuer "
                   "certificate) while SSL handshaking to upstream, client: 127.0.0.1, server: a.test, "
                   'request: "GET / HTTP/1.1", upstream: "https://10.0.0.1:443/", host: "a.test"')
UPSTREAM_ALERT = ("[error] 1#1: *1 SSL_do_handshake() failed (SSL: error:0A000410:SSL routines::sslv3 alert "
                  "handshake failure:SSL alert number 40) while SSL handshaking to upstream, client: "
                  '127.0.0.1, server: a.test, request: "GET / HTTP/1.1", upstream: "https://10.0.0.1:443/"')
ALERT_48 = ("[info] 1#1: *1 SSL_do_handshake() failed (SSL: error:0A000418:SSL routines::tlsv1 alert "
            "unknown ca:SSL alert number 48) while SSL handshaking, client: 127.0.0.1, server: 0.0.0.0:443")
PROTOCOL = ("[info] 1#1: *1 SSL_do_handshake() failed (SSL: error:0A000102:SSL routines::unsupported "
            "protocol) while SSL handshaking, client: 127.0.0.1, server: 0.0.0.0:443")
PLAIN_HTTP = ("[info] 1#1: *1 client sent plain HTTP request to HTTPS port while reading client request "
              'headers, client: 127.0.0.1, server: a.test, request: "GET / HTTP/1.1", host: "a.test"')
REJECTED = "[info] 1#1: *1 handshake rejected while SSL handshaking, client: 127.0.0.1, server: 0.0.0.0:443"
MISDIRECTED = ("[info] 1#1: *1 client attempted to request the server name different from the one that "
               'was negotiated while reading client request headers, client: 127.0.0.1, server: b.test, '
               'request: "GET / HTTP/1.1", host: "b.test"')
OCSP = ("[info] 1#1: *1 client SSL certificate verify error: certificate status request failed while "
        'reading client request headers, client: 127.0.0.1, server: a.test, host: "a.test"')
NO_CA = "[emerg] 1#1: no ssl_client_certificate for ssl_verify_client in /etc/nginx/nginx.conf:3"
KEY_MISMATCH = ('[emerg] 1#1: SSL_CTX_use_PrivateKey("/etc/nginx/s.key") failed (SSL: error:05800074:x509 '
                "certificate routines::key values mismatch)")


FIXTURES = {
    "verify-client-without-ca": (lambda: ev(MTLS, lint=(finding("MTLS204"),)),
                                 lambda: ev(MTLS, lint=(finding("MTLS203", W),))),
    "config-file-missing": (lambda: ev(MTLS, lint=(finding("MTLS230"),)),
                            lambda: ev(MTLS, lint=(finding("MTLS233", W),))),
    "config-rejected": (lambda: ev(MTLS, logs=log(KEY_MISMATCH)), lambda: ev(MTLS, logs=log(PROTOCOL))),
    "endpoint-unreachable": (lambda: _unreachable(Outcome.CONNECT_FAILED),
                             lambda: _probe_names(MTLS, (ROOT,))),
    "nginx-not-reloaded": (lambda: _probe_names(MTLS, None), lambda: _probe_names(MTLS, (ROOT,))),
    "ca-names-list-too-large": (lambda: ev(MTLS, files=big_ca_files()[0]),
                                lambda: ev(MTLS, files=big_ca_files()[1])),
    "tls-terminated-before-nginx": (lambda: _edge(False), lambda: _edge(True)),
    "no-sni-default-server": (lambda: _trap(None), lambda: _trap("a.test")),
    "default-server-other-ca": (lambda: ev(TRAP, lint=(finding("MTLS211", Severity.CRITICAL),)),
                                lambda: ev(TRAP, lint=(finding("MTLS210", E),))),
    "handshake-rejected-unknown-name": (lambda: ev(TRAP, logs=log(REJECTED)), lambda: ev(TRAP, logs=log(PROTOCOL))),
    "verify-client-off": (lambda: _probe_names(OFF, None), lambda: _probe_names(MTLS, (ROOT,))),
    "ca-names-trusted-only": (
        lambda: _probe_names(MTLS.replace("ssl_client_certificate", "ssl_trusted_certificate"), ()),
        lambda: _probe_names(MTLS.replace("ssl_client_certificate", "ssl_trusted_certificate"), (ROOT,))),
    "ca-names-disabled": (
        lambda: _probe_names(MTLS.replace("ssl_verify_client on;", "ssl_verify_client on; ssl_conf_command Options -CANames;"), ()),
        lambda: _probe_names(MTLS.replace("ssl_verify_client on;", "ssl_verify_client on; ssl_conf_command Options -CANames;"), (ROOT,))),
    "client-issuer-not-advertised": (lambda: ev(MTLS, lint=(finding("MTLS503", E),)),
                                     lambda: ev(MTLS, lint=(finding("MTLS502", Severity.INFO),))),
    "client-certificate-not-sent": (lambda: _symptom(MTLS, "400 No required SSL certificate was sent"),
                                    lambda: _symptom(OFF, "400 No required SSL certificate was sent")),
    "verify-depth-exceeded": (lambda: ev(MTLS, lint=(finding("MTLS207"),)),
                              lambda: ev(MTLS, lint=(finding("MTLS222", Severity.INFO),))),
    "ca-file-missing-root": (lambda: ev(MTLS, logs=log(verify_line(2, "unable to get issuer certificate"))),
                             lambda: ev(MTLS, logs=log(verify_line(3, "unable to get certificate CRL")))),
    "trust-anchor-invalid": (
        lambda: ev(MTLS, lint=(finding("MTLS104", path="/etc/nginx/ca.pem", line=None, index=0),),
                   roles={"/etc/nginx/ca.pem": "ca"}),
        lambda: ev(MTLS, lint=(finding("MTLS104", path="/etc/nginx/s.pem", line=None, index=0),),
                   roles={"/etc/nginx/s.pem": "server"})),
    "crl-expired": (lambda: ev(MTLS, lint=(finding("MTLS302", E),)), lambda: ev(MTLS, lint=(finding("MTLS302", W),))),
    "crl-missing-for-ca": (lambda: ev(MTLS, logs=log(verify_line(3, "unable to get certificate CRL"))),
                           lambda: ev(MTLS, logs=log(verify_line(12, "CRL has expired")))),
    "ocsp-check-failing": (lambda: ev(MTLS, logs=log(OCSP)), lambda: ev(MTLS, lint=(finding("MTLS305", W),))),
    "client-certificate-purpose": (lambda: ev(MTLS, logs=log(verify_line(26, "unsuitable certificate purpose"))),
                                   lambda: ev(MTLS, logs=log(verify_line(10, "certificate has expired")))),
    "client-issuer-unknown": (lambda: ev(MTLS, logs=log(verify_line(21, "unable to verify the first certificate"))),
                              lambda: ev(MTLS, logs=log(verify_line(19, "self-signed certificate in certificate chain")))),
    "client-ca-not-trusted": (lambda: ev(MTLS, logs=log(verify_line(19, "self-signed certificate in certificate chain"))),
                              lambda: ev(MTLS, logs=log(verify_line(23, "certificate revoked")))),
    "client-certificate-expired": (lambda: ev(MTLS, logs=log(verify_line(10, "certificate has expired"))),
                                   lambda: ev(MTLS, logs=log(verify_line(26, "unsuitable certificate purpose")))),
    "client-certificate-revoked": (lambda: ev(MTLS, logs=log(verify_line(23, "certificate revoked"))),
                                   lambda: ev(MTLS, logs=log(verify_line(10, "certificate has expired")))),
    "client-certificate-rejected": (lambda: ev(MTLS, logs=log(verify_line(50, "application verification failure"))),
                                    lambda: ev(MTLS, logs=log(verify_line(10, "certificate has expired")))),
    "verification-not-enforced": (lambda: ev(MTLS, lint=(finding("MTLS201"),)),
                                  lambda: ev(MTLS, lint=(finding("MTLS201", W), finding("MTLS509", W)))),
    # the loopback-only listener is the rule's warning: no cause
    "protected-content-served-unverified": (lambda: ev(MTLS, lint=(finding("MTLS214"),)),
                                            lambda: ev(MTLS, lint=(finding("MTLS214", W),))),
    # a large CA file that is not the system store: the size is another cause's business
    "client-ca-system-store": (lambda: ev(MTLS, lint=(finding("MTLS238"),)),
                               lambda: ev(MTLS, lint=(finding("MTLS208", W),))),
    "identity-headers-forgeable": (lambda: ev(MTLS, lint=(finding("MTLS405"),)),
                                   lambda: ev(MTLS, lint=(finding("MTLS403", W),))),
    "client-cert-header-multiline": (lambda: _symptom(RAW_CERT, "backend-rejects"),
                                     lambda: _symptom(ESCAPED_CERT, "backend-rejects")),
    "client-dn-format": (lambda: ev(MTLS, lint=(finding("MTLS406"),)),
                         lambda: ev(MTLS, lint=(finding("MTLS408", W),))),
    "upstream-client-certificate": (lambda: ev(MTLS, logs=log(UPSTREAM_ALERT)),
                                    lambda: ev(MTLS, logs=log(UPSTREAM_VERIFY))),
    "upstream-certificate-untrusted": (lambda: ev(MTLS, logs=log(UPSTREAM_VERIFY)),
                                       lambda: ev(MTLS, logs=log(UPSTREAM_ALERT))),
    "server-certificate-rejected-by-client": (lambda: ev(MTLS, logs=log(ALERT_48)),
                                              lambda: ev(MTLS, logs=log(PROTOCOL))),
    "sni-host-mismatch": (lambda: ev(MTLS, logs=log(MISDIRECTED)), lambda: ev(MTLS, logs=log(PLAIN_HTTP))),
    "tls-protocol-mismatch": (lambda: ev(MTLS, logs=log(PROTOCOL)), lambda: ev(MTLS, logs=log(ALERT_48))),
    "plain-http-to-https-port": (lambda: ev(MTLS, logs=log(PLAIN_HTTP)), lambda: ev(MTLS, logs=log(MISDIRECTED))),
    "error-log-hides-verify-failures": (
        lambda: ev(MTLS, lint=(finding("MTLS401", W),), symptoms=("400",)),
        lambda: ev(MTLS, lint=(finding("MTLS401", W),))),  # the level alone is no failure
}
