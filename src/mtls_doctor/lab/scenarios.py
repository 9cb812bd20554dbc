"""Lab scenarios: correct and classic broken nginx mTLS setups, as data, with expectations.

Invariants of this module:
- no I/O: a scenario renders its nginx ``http {}`` body (``render``) and the files it names
  (``files``) from a ``LabPKI``; ``mtls_doctor.lab.run`` starts nginx and measures;
- every server listens on 127.0.0.1 only, with ``ssl_protocols TLSv1.2 TLSv1.3`` unless the
  scenario is about protocols (F7.5: 1.22 would not enable TLS 1.3 by itself); the runner's
  nginx logs at ``info`` (F4.1);
- the trust settings of the mTLS server are data (``ServerSpec``) in the LabPKI's names, so that
  ``verify`` can be run on the very same inputs (CONTRACTS C);
- every client row carries the EXPECTED result (status, ``$ssl_client_verify``, the info log
  line) taken from the facts sheet (``../shared/docs/nginx-mtls-facts.md``) and confirmed on
  real nginx 1.22.1 / OpenSSL 3.0 by ``tests/lab/test_scenarios.py``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

__all__ = ["Expect", "ClientSpec", "ServerSpec", "Scenario", "SCENARIOS", "get", "PAGES"]

#: page texts nginx answers with (F2.5) and the lab's own pages
PAGES = {
    "no_cert": "No required SSL certificate was sent",
    "cert_error": "The SSL certificate error",
    "ok": "lab-ok",
    "forbidden": "403 Forbidden",
    "echo": "echo",
}


@dataclass(frozen=True)
class Expect:
    """What nginx does with one client. ``verify`` None: no access-log line (no HTTP request);
    ``log`` None: no verification line in the info error log for that request."""

    status: int | None
    verify: str | None
    log: str | None = None
    page: str | None = None
    body: str | None = None  # substring of the body
    error: str | None = None  # substring of the client's TLS error (status None)
    protocol: str | None = None  # negotiated TLS version when it matters
    #: the verify error code behind ``verify``/``log``, in OpenSSL 3.0's numbering (the texts
    #: above are 3.0's): ``for_release`` rewrites both for the OpenSSL nginx runs with
    code: int | None = None
    #: the chain is longer than ssl_verify_depth allows: OpenSSL 1.1.1 reports 22 instead
    depth_exceeded: bool = False

    def for_release(self, release: Any) -> Expect:
        """This expectation as nginx linked against OpenSSL ``release`` answers
        (``pki.openssl_versions``: codes and texts measured per release)."""
        if self.code is None or release is None:
            return self
        from mtls_doctor.pki import openssl_versions as ov

        code = ov.translate(self.code, source=ov.parse_release("3.0.0"), target=release,
                            depth_exceeded=self.depth_exceeded)
        text = ov.text(code, release)
        verify = f"FAILED:{text}" if self.verify and self.verify.startswith("FAILED:") else self.verify
        log = f"client SSL certificate verify error: ({code}:{text})" if self.log else None
        return replace(self, verify=verify, log=log, code=code)


def ok(verify: str = "SUCCESS", **kw: Any) -> Expect:
    return Expect(200, verify, None, PAGES["ok"], **kw)


def missing() -> Expect:  # F2.2 "on" without a certificate; F4.1 line
    return Expect(400, "NONE", "client sent no required SSL certificate", PAGES["no_cert"])


def rejected(code: int, text: str, *, depth_exceeded: bool = False) -> Expect:
    # F2.2 495, F4.1 line with the numeric code
    return Expect(400, f"FAILED:{text}", f"client SSL certificate verify error: ({code}:{text})",
                  PAGES["cert_error"], code=code, depth_exceeded=depth_exceeded)


def tolerated(code: int, text: str) -> Expect:  # F2.4: optional_no_ca serves it, logs nothing
    return Expect(200, f"FAILED:{text}", None, PAGES["ok"], code=code)


def handshake_fails(error: str) -> Expect:
    return Expect(None, None, None, None, error=error)


@dataclass(frozen=True)
class ClientSpec:
    """One row of a scenario's matrix: who connects, how, and what nginx must answer."""

    id: str
    client: str | None  # a LabPKI client key, None = no certificate
    expect: Expect
    send_chain: bool = True  # send the intermediates after the leaf
    sni: bool = True
    tls: str | None = None  # pin "TLSv1.2" / "TLSv1.3"
    headers: tuple[tuple[str, str], ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ServerSpec:
    """The TLS and client-verification settings of one nginx server block, as data."""

    verify_client: str = "on"
    client_certificate: tuple[str, ...] = ("root",)  # LabPKI CA keys, file order
    trusted_certificate: tuple[str, ...] = ()
    verify_depth: int | None = None  # None = nginx default 1 (F3.1)
    crl: tuple[str, ...] = ()  # LabPKI CRL keys
    protocols: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
    server_name: str = "localhost"
    check_verify: bool = False  # `if ($ssl_client_verify != SUCCESS) { return 403; }`
    proxy: str | None = None  # None, "overwrite" or "dn-only" (see the proxy scenarios)
    reject_handshake: bool = False

    def files(self, tag: str, pki: Any) -> dict[str, bytes]:
        out = {}
        if self.client_certificate:
            out[f"pki/{tag}-client-ca.pem"] = pki.pem(*self.client_certificate)
        if self.trusted_certificate:
            out[f"pki/{tag}-trusted.pem"] = pki.pem(*self.trusted_certificate)
        if self.crl:
            out[f"pki/{tag}-crl.pem"] = b"".join(pki.crls[n].pem for n in self.crl)
        return out

    def render(self, tag: str, port: int, default: bool, backend: int | None) -> str:
        lines = [
            "server {",
            f"    listen 127.0.0.1:{port} ssl{' default_server' if default else ''};",
            f"    server_name {self.server_name};",
            "    ssl_certificate pki/server.pem;",
            "    ssl_certificate_key pki/server.key;",
            f"    ssl_protocols {' '.join(self.protocols)};",
        ]
        if self.reject_handshake:
            lines.append("    ssl_reject_handshake on;  # no SNI / unknown names: no TLS at all (F7.3)")
        if self.verify_client != "off":
            lines.append(f"    ssl_verify_client {self.verify_client};")
        if self.client_certificate:
            lines.append(f"    ssl_client_certificate pki/{tag}-client-ca.pem;  # {', '.join(self.client_certificate)}")
        if self.trusted_certificate:
            lines.append(f"    ssl_trusted_certificate pki/{tag}-trusted.pem;  # {', '.join(self.trusted_certificate)}")
        if self.verify_depth is not None:
            lines.append(f"    ssl_verify_depth {self.verify_depth};")
        if self.crl:
            lines.append(f"    ssl_crl pki/{tag}-crl.pem;  # {', '.join(self.crl)}")
        if self.check_verify:
            lines.append("    if ($ssl_client_verify != SUCCESS) { return 403; }")
        if self.proxy is not None and backend is not None:
            lines += ["    location / {", f"        proxy_pass http://127.0.0.1:{backend};"]
            lines.append("        proxy_set_header X-Client-DN $ssl_client_s_dn;")
            if self.proxy == "overwrite":
                lines.append("        proxy_set_header X-Client-Verify $ssl_client_verify;")
            lines.append("    }")
        else:
            lines.append('    location / { return 200 "lab-ok server=$server_name '
                         'verify=$ssl_client_verify dn=$ssl_client_s_dn\\n"; }')
        lines.append("}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Scenario:
    """A correct or classic broken nginx mTLS setup, its client matrix and the expectations."""

    name: str
    title: str
    demonstrates: str
    facts: tuple[str, ...]
    server: ServerSpec
    clients: tuple[ClientSpec, ...]
    broken: bool = False
    fix: str = ""
    #: a separate default server on the same port, listed first (None: the mTLS server is it)
    default_server: ServerSpec | None = None
    #: ``nginx -t`` must fail with this text on nginx versions below ``config_error_before``
    config_error: str | None = None
    config_error_before: tuple[int, ...] = ()

    def expected_config_error(self, version: tuple[int, ...]) -> str | None:
        if self.config_error and (not self.config_error_before or version < self.config_error_before):
            return self.config_error
        return None

    def trust_for(self, client: ClientSpec) -> ServerSpec:
        """The server whose CA store verifies ``client``: without SNI it is the default server's
        (F7.3), whatever server the Host header then selects."""
        if not client.sni and self.default_server is not None:
            return self.default_server
        return self.server

    @property
    def ports(self) -> int:
        return 2 if self.server.proxy is not None else 1

    def files(self, pki: Any) -> dict[str, bytes]:
        out = {"pki/server.pem": pki.server_chain_pem, "pki/server.key": pki.server.key_pem}
        out.update(self.server.files("mtls", pki))
        if self.default_server is not None:
            out.update(self.default_server.files("default", pki))
        return out

    def render(self, ports: tuple[int, ...]) -> str:
        """The ``http {}`` body: the server blocks (and the echo backend), for these ports."""
        blocks = [f"# scenario {self.name}: {self.title} ({', '.join(self.facts)})"]
        if self.default_server is not None:
            blocks.append(self.default_server.render("default", ports[0], True, None))
        backend = ports[1] if self.server.proxy is not None else None
        blocks.append(self.server.render("mtls", ports[0], self.default_server is None, backend))
        if backend is not None:
            blocks.append(
                "server {\n"
                f"    listen 127.0.0.1:{backend};\n"
                "    server_name backend;  # the application: echoes the identity headers it got\n"
                '    location / { return 200 "echo x-client-verify=[$http_x_client_verify] '
                'x-client-dn=[$http_x_client_dn]\\n"; }\n'
                "}"
            )
        return "\n".join(blocks) + "\n"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "demonstrates": self.demonstrates,
            "facts": list(self.facts),
            "broken": self.broken,
            "fix": self.fix,
            "server": self.server.to_dict(),
            "default_server": self.default_server.to_dict() if self.default_server else None,
            "clients": [asdict(c) for c in self.clients],
            "config_error": self.config_error,
            "config_error_before": ".".join(map(str, self.config_error_before)) or None,
        }


C = ClientSpec
S = ServerSpec
SPOOF = (("X-Client-Verify", "SUCCESS"), ("X-Client-DN", "CN=admin"))
_UNTRUSTED_LEAF = (21, "unable to verify the first certificate")
_LOCAL_ISSUER = (20, "unable to get local issuer certificate")


def _sc(name: str, title: str, demonstrates: str, facts: str, server: ServerSpec,
        *clients: ClientSpec, **kw: Any) -> Scenario:
    return Scenario(name, title, demonstrates, tuple(facts.split()), server, tuple(clients), **kw)


SCENARIOS: tuple[Scenario, ...] = (
    _sc("good", "The correct setup: on, root in ssl_client_certificate, clients send their chain",
        "A client under the intermediate that sends leaf + intermediate verifies at the default "
        "depth 1; no certificate gives 400 'No required SSL certificate was sent', an untrusted "
        "one 400 'The SSL certificate error' - after a completed handshake (F2.2), logged at "
        "info only (F4.1). A leaf without any EKU is fine (F6.3).",
        "F1.1 F2.2 F3.2 F4.1 F6.3", S(),
        C("none", None, missing()),
        C("good", "good", ok()),
        C("root-direct", "root-direct", ok()),
        C("no-eku", "no-eku", ok()),
        C("foreign", "foreign", rejected(*_UNTRUSTED_LEAF)),
        C("self-signed", "self-signed", rejected(18, "self-signed certificate"))),
    _sc("depth-default", "Default ssl_verify_depth 1: one intermediate passes, two do not",
        "Depth counts intermediates only: 1 allows root -> intermediate -> leaf; a chain with "
        "two intermediates fails with 20 'unable to get local issuer certificate', not 22 "
        "'chain too long', because the last error wins (F3.3).",
        "F3.1 F3.2 F3.3", S(),
        C("one-intermediate", "good", ok()),
        C("two-intermediates", "deep", rejected(*_LOCAL_ISSUER, depth_exceeded=True)),
        broken=True, fix="ssl_verify_depth 2; (as many as the longest client chain has intermediates)"),
    _sc("depth-2", "ssl_verify_depth 2 accepts two intermediates",
        "The fix for depth-default: depth 2 = up to two intermediates (F3.2).",
        "F3.2 F3.3", S(verify_depth=2),
        C("two-intermediates", "deep", ok()),
        C("one-intermediate", "good", ok())),
    _sc("depth-0", "ssl_verify_depth 0: only leaves signed directly by the root",
        "Depth 0 allows no intermediate at all, even one the client sends (F3.2, F3.3).",
        "F3.2 F3.3", S(verify_depth=0),
        C("root-direct", "root-direct", ok()),
        C("one-intermediate", "good", rejected(*_LOCAL_ISSUER, depth_exceeded=True)),
        broken=True, fix="remove ssl_verify_depth 0 (default 1) or set it to the intermediates count"),
    _sc("depth-0-inter-trusted", "ssl_verify_depth 0 with the intermediate in the CA file",
        "Intermediates count against the depth even when they come from nginx's own trust "
        "file: depth 0 with root + inter trusted still fails a client under inter (F3.2).",
        "F3.2 F3.3", S(client_certificate=("root", "inter"), verify_depth=0),
        C("good-leaf-only", "good", rejected(2, "unable to get issuer certificate", depth_exceeded=True),
          send_chain=False),
        C("root-direct", "root-direct", ok()),
        broken=True, fix="remove ssl_verify_depth 0 (default 1)"),
    _sc("ca-intermediate-only", "ssl_client_certificate holds only the intermediate",
        "nginx never accepts partial chains: an intermediate without its root is no trust "
        "anchor, every client fails with 2 'unable to get issuer certificate' (F3.4).",
        "F3.4 F4.2", S(client_certificate=("inter",)),
        C("good", "good", rejected(2, "unable to get issuer certificate")),
        C("good-leaf-only", "good", rejected(2, "unable to get issuer certificate"), send_chain=False),
        broken=True, fix="ssl_client_certificate must end in the root: put root (and inter) in it, "
        "or the root in ssl_trusted_certificate"),
    _sc("client-omits-intermediate", "Root-only CA file and a client that does not send its intermediate",
        "With only the root trusted, the client must send its intermediate; a bare leaf fails "
        "with 21 'unable to verify the first certificate' (F3.4).",
        "F3.4 F4.2", S(),
        C("good-leaf-only", "good", rejected(*_UNTRUSTED_LEAF), send_chain=False),
        C("good", "good", ok()),
        broken=True, fix="make the client send leaf + intermediate (curl --cert chain.pem), or add "
        "the intermediate to ssl_client_certificate"),
    _sc("ca-root-and-inter", "Root + intermediate in ssl_client_certificate: bare leaves verify",
        "Every certificate in the file is trusted and advertised (F1.1), so a client may send "
        "its leaf alone.", "F1.1 F3.4", S(client_certificate=("root", "inter")),
        C("good-leaf-only", "good", ok(), send_chain=False),
        C("good", "good", ok())),
    _sc("trusted-only-optional-no-ca", "ssl_trusted_certificate only, optional_no_ca: no CA names sent",
        "ssl_trusted_certificate is never advertised (F1.3): the CertificateRequest carries no "
        "CA names (F1.4), yet the chain is verified against it; optional_no_ca serves untrusted "
        "clients with FAILED (F2.4), so the application must check $ssl_client_verify.",
        "F1.3 F1.4 F1.6 F2.2 F2.4",
        S(verify_client="optional_no_ca", client_certificate=(), trusted_certificate=("root",)),
        C("none", None, ok("NONE")),
        C("good", "good", ok()),
        C("foreign", "foreign", tolerated(*_UNTRUSTED_LEAF))),
    _sc("trusted-only-on", "ssl_verify_client on with ssl_trusted_certificate only",
        "Before nginx 1.27.2, on/optional need ssl_client_certificate: nginx -t fails with "
        "'no ssl_client_certificate for ssl_verify_client'; since 1.27.2 the trusted file "
        "suffices and sends no CA names (F1.5, F1.4).", "F1.5 F1.4",
        S(client_certificate=(), trusted_certificate=("root",)),
        C("good", "good", ok()),
        C("none", None, missing()),
        broken=True, config_error="no ssl_client_certificate for ssl_verify_client",
        config_error_before=(1, 27, 2),
        fix="ssl_client_certificate with the root (or upgrade to nginx >= 1.27.2)"),
    _sc("optional-unchecked", "optional without a $ssl_client_verify check",
        "optional lets requests WITHOUT a certificate through (NONE, 200): unless the "
        "application checks $ssl_client_verify, anyone gets in (F2.2).",
        "F2.2 F2.3", S(verify_client="optional"),
        C("none", None, ok("NONE")),
        C("good", "good", ok()),
        C("foreign", "foreign", rejected(*_UNTRUSTED_LEAF)),
        broken=True, fix='if ($ssl_client_verify != SUCCESS) { return 403; } (or ssl_verify_client on)'),
    _sc("optional-checked", "optional with a $ssl_client_verify check",
        "The fix for optional-unchecked: NONE is refused with 403 by the check (F2.2, F2.3).",
        "F2.2 F2.3", S(verify_client="optional", check_verify=True),
        C("none", None, Expect(403, "NONE", None, PAGES["forbidden"])),
        C("good", "good", ok())),
    _sc("optional-no-ca-foreign", "optional_no_ca serves foreign and self-signed certificates",
        "optional_no_ca tolerates exactly 18, 19, 20, 21 and 27 (200 with FAILED, nothing "
        "logged); every other error, e.g. expired (10), is still a 400 (F2.4).",
        "F2.4 F2.2", S(verify_client="optional_no_ca"),
        C("foreign", "foreign", tolerated(*_UNTRUSTED_LEAF)),
        C("self-signed", "self-signed", tolerated(18, "self-signed certificate")),
        C("expired", "expired", rejected(10, "certificate has expired")),
        C("server-eku", "server-eku", rejected(26, "unsuitable certificate purpose")),
        C("good", "good", ok()),
        broken=True, fix="ssl_verify_client on (or check $ssl_client_verify = SUCCESS in the app)"),
    _sc("no-sni-default-server", "The mTLS server is not the default server; a client without SNI",
        "Without SNI the handshake uses the default server, which asked for no certificate; the "
        "Host-selected mTLS server then finds none: 400 'No required SSL certificate was sent' "
        "even for a valid client (F7.3).",
        "F7.1 F7.3", S(),
        C("good-sni", "good", ok()),
        C("good-no-sni", "good", missing(), sni=False),
        default_server=S(verify_client="off", client_certificate=(), server_name="default.invalid"),
        broken=True, fix="make the mTLS server the default_server, or ssl_reject_handshake on in "
        "the default server; clients must send SNI"),
    _sc("no-sni-cross-ca", "Default server verifies against another CA: cross-CA bypass without SNI",
        "Without SNI the certificate is verified with the DEFAULT server's CA store, then the "
        "Host-selected server accepts the result: a certificate from the other CA gets 200 "
        "SUCCESS at the mTLS server, a valid one is refused (F7.3).",
        "F7.3 F7.1", S(),
        C("foreign-no-sni", "foreign", ok(), sni=False,
          note="a certificate of the OTHER CA is served by the mTLS server: cross-CA bypass"),
        C("good-no-sni", "good", rejected(*_LOCAL_ISSUER), sni=False),
        # The facts sheet (F7.3) saw 21 here. OpenSSL clients (curl, Python ssl) complete a
        # bare leaf's chain from their OWN trust store, so they send the lab root too, which
        # the default server does not trust: 19 (measured on nginx 1.22.1, curl and Python).
        C("root-direct-no-sni", "root-direct",
          rejected(19, "self-signed certificate in certificate chain"), sni=False,
          note="the client auto-completes its chain with the root from its own trust store"),
        C("foreign-sni", "foreign", rejected(*_UNTRUSTED_LEAF)),
        C("good-sni", "good", ok()),
        default_server=S(verify_client="optional", client_certificate=("other-root",),
                         server_name="default.invalid"),
        broken=True, fix="ssl_reject_handshake on; in the default server (F7.3)"),
    _sc("no-sni-rejected", "ssl_reject_handshake on in the default server",
        "The fix for the no-SNI cases: clients without SNI get no TLS at all (alert "
        "unrecognized_name), clients with SNI reach the mTLS server (F7.3, F4.3).",
        "F7.3 F4.3", S(),
        C("foreign-no-sni", "foreign", handshake_fails("unrecognized name"), sni=False),
        C("good-no-sni", "good", handshake_fails("unrecognized name"), sni=False),
        C("foreign-sni", "foreign", rejected(*_UNTRUSTED_LEAF)),
        C("good-sni", "good", ok()),
        default_server=S(verify_client="off", client_certificate=(), server_name="default.invalid",
                         reject_handshake=True),
        # ssl_reject_handshake exists from nginx 1.19.4 (section 9; measured on 1.18.0)
        config_error='unknown directive "ssl_reject_handshake"', config_error_before=(1, 19, 4)),
    _sc("crl-valid", "ssl_crl with the CRLs of root and inter: a revoked client",
        "With ssl_crl, every CA in the chain needs its CRL; a listed client fails with 23 "
        "'certificate revoked' (F6.1).", "F6.1 F4.2", S(crl=("root", "inter")),
        C("good", "good", ok()),
        C("revoked", "revoked", rejected(23, "certificate revoked")),
        C("root-direct", "root-direct", ok())),
    _sc("crl-expired", "An expired CRL in ssl_crl",
        "A CRL past its nextUpdate fails every client under that CA with 12 'CRL has expired' "
        "(F6.1); clients of other CAs with fresh CRLs are unaffected.",
        "F6.1 F4.2", S(crl=("root", "inter-expired")),
        C("good", "good", rejected(12, "CRL has expired")),
        C("root-direct", "root-direct", ok()),
        broken=True, fix="publish a fresh CRL and reload nginx; monitor nextUpdate"),
    _sc("crl-missing-root", "ssl_crl without the root's CRL",
        "CRL checking covers the whole chain (CRL_CHECK_ALL): without the root's CRL every client "
        "fails with 3 'unable to get certificate CRL' (F6.1).", "F6.1 F4.2", S(crl=("inter",)),
        C("good", "good", rejected(3, "unable to get certificate CRL")),
        C("root-direct", "root-direct", rejected(3, "unable to get certificate CRL")),
        broken=True, fix="put the CRLs of every CA (root and intermediates) into the ssl_crl file"),
    _sc("server-eku-client", "A client certificate with EKU serverAuth only",
        "OpenSSL's ssl_client purpose rejects any EKU without clientAuth with 26 'unsuitable "
        "certificate purpose'; a certificate without EKU passes (F6.3).", "F6.3 F4.2", S(),
        C("server-eku", "server-eku", rejected(26, "unsuitable certificate purpose")),
        C("no-eku", "no-eku", ok()),
        broken=True, fix="issue client certificates with extendedKeyUsage clientAuth"),
    _sc("expired-client", "Expired and not-yet-valid client certificates",
        "Validity is checked whatever the depth: 10 'certificate has expired', 9 'certificate is "
        "not yet valid' (F4.2, F2.4).", "F4.2 F2.4", S(),
        C("expired", "expired", rejected(10, "certificate has expired")),
        C("not-yet-valid", "not-yet-valid", rejected(9, "certificate is not yet valid")),
        broken=True, fix="renew the client certificate; check clocks"),
    _sc("tls12-only", "ssl_protocols TLSv1.2 only",
        "Client verification works the same in TLS 1.2 (F2.2); a TLS 1.3-only client gets a "
        "protocol_version alert during the handshake, before any HTTP (F7.5).",
        "F7.5 F2.2", S(protocols=("TLSv1.2",)),
        C("good", "good", ok(protocol="TLSv1.2")),
        C("none", None, missing()),
        C("good-tls13", "good", handshake_fails("protocol version"), tls="TLSv1.3")),
    _sc("tls13-only", "ssl_protocols TLSv1.3 only",
        "In TLS 1.3 too nginx rejects a missing or bad certificate with an HTTP 400 after the "
        "handshake, never with an alert (§0, F2.2); a TLS 1.2-only client cannot connect.",
        "F2.2 F7.5", S(protocols=("TLSv1.3",)),
        C("good", "good", ok(protocol="TLSv1.3")),
        C("none", None, missing()),
        C("foreign", "foreign", rejected(*_UNTRUSTED_LEAF)),
        C("good-tls12", "good", handshake_fails("protocol version"), tls="TLSv1.2")),
    _sc("proxy-headers-overwritten", "Proxy to an application: identity headers always overwritten",
        "With optional, the application decides; it can only trust X-Client-Verify / "
        "X-Client-DN if nginx overwrites them with proxy_set_header, whatever the client sent "
        "($ssl_client_verify is the only verdict, §5, F2.2).", "F2.2 F2.3",
        S(verify_client="optional", proxy="overwrite"),
        C("none-spoofing", None, Expect(200, "NONE", None, PAGES["echo"],
                                        body="x-client-verify=[NONE] x-client-dn=[]"), headers=SPOOF),
        C("good", "good", Expect(200, "SUCCESS", None, PAGES["echo"], body="x-client-verify=[SUCCESS]"))),
    _sc("proxy-headers-passed-through", "Proxy to an application: X-Client-Verify not overwritten",
        "Only X-Client-DN is set by nginx; a client without any certificate sends "
        "'X-Client-Verify: SUCCESS' itself and the application believes it (F2.2, F2.3).",
        "F2.2 F2.3", S(verify_client="optional", proxy="dn-only"),
        C("none-spoofing", None, Expect(200, "NONE", None, PAGES["echo"],
                                        body="x-client-verify=[SUCCESS]"), headers=SPOOF,
          note="no certificate, yet the application reads X-Client-Verify: SUCCESS (sent by "
               "the client itself)"),
        C("good", "good", Expect(200, "SUCCESS", None, PAGES["echo"], body="x-client-verify=[]"),
          note="the genuine client's verdict never reaches the application"),
        broken=True, fix="proxy_set_header X-Client-Verify $ssl_client_verify; (and every other "
        "identity header the application reads)"),
)


def get(name: str) -> Scenario | None:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    return None

