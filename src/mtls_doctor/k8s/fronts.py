"""Recognise a Kubernetes front end from what it answers on the wire (live, read-only).

Two attempts without a client certificate, with the probe engine (``probe.handshake.attempt``):
one with the name the user gives, one with a name no server has (``UNKNOWN_SNI``). What each
controller answers, read from its source (see ``mtls_doctor.k8s.render.SOURCES``):

- ingress-nginx: hosts without a TLS Secret, and every unknown name, get the controller's
  self-signed "Kubernetes Ingress Controller Fake Certificate" (``O=Acme Co``;
  ``internal/net/ssl/ssl.go`` ``GetFakeSSLCert``); a host whose auth-tls secret is unusable
  answers 403 to everything (``return 403;``, MTLS704);
- F5 NGINX Ingress Controller: without ``-default-server-tls-secret`` the default server rejects
  the handshake of an unknown name (``ssl_reject_handshake on``, alert unrecognized_name;
  ``cmd/nginx-ingress/flags.go``), with it a 404 with ``server_tokens off``; a missing client
  certificate is nginx's 400 page (no error page is rendered);
- NGINX Gateway Fabric: the default SSL server rejects unknown names (``servers_template.go``
  ``IsDefaultSSL``) and a missing or failed client certificate is a close without an answer
  (``return 444``).

Invariant: only public facts come back (subjects, statuses, alerts); the verdict is a guess with
its evidence, never a certainty: a hand-written nginx can answer the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

UNKNOWN_SNI = "mtls-doctor-unknown-name.invalid"
FAKE_CERT_CN = "Kubernetes Ingress Controller Fake Certificate"
UNRECOGNIZED_NAME = 112


@dataclass(frozen=True)
class Recognition:
    controller: str | None  # "ingress-nginx", "nginx-ingress", "nginx-gateway-fabric" or None
    signs: tuple[str, ...]  # closed set: fake-certificate, rejects-unknown-name, closes-444, 403-host, nginx-400-page
    evidence: tuple[str, ...]

    def sentence(self) -> str:
        who = {"ingress-nginx": "ingress-nginx", "nginx-ingress": "the F5 NGINX Ingress Controller",
               "nginx-gateway-fabric": "NGINX Gateway Fabric"}.get(self.controller or "", "")
        head = f"the front answers like {who}" if who else "the front is not recognised as a Kubernetes controller"
        return head + (": " + "; ".join(self.evidence) if self.evidence else "")


def judge(named, unknown) -> Recognition:
    """The signs in two attempts (``probe.model.Attempt``: the user's name, an unknown one)."""
    from mtls_doctor.probe.model import Outcome

    signs: list[str] = []
    evidence: list[str] = []
    leaf = unknown.server_chain[0] if unknown is not None and unknown.server_chain else None
    if leaf is not None and FAKE_CERT_CN in leaf.subject:
        signs.append("fake-certificate")
        evidence.append(f"an unknown name gets the certificate {leaf.subject!r} (ingress-nginx's default)")
    named_leaf = named.server_chain[0] if named is not None and named.server_chain else None
    if named_leaf is not None and FAKE_CERT_CN in named_leaf.subject and "fake-certificate" not in signs:
        signs.append("fake-certificate")
        evidence.append(f"your name gets ingress-nginx's fake certificate: no TLS Secret for this host")
    if unknown is not None and unknown.outcome is Outcome.TLS_ALERT and unknown.alert is not None \
            and unknown.alert.code == UNRECOGNIZED_NAME:
        signs.append("rejects-unknown-name")
        evidence.append("an unknown name is refused in the handshake (alert unrecognized_name: ssl_reject_handshake)")
    if named is not None and named.outcome is Outcome.CLOSED and named.certificate_request is not None:
        signs.append("closes-444")
        evidence.append("without a certificate the connection is closed with no answer and no alert (return 444)")
    if named is not None and named.http is not None:
        if named.http.status == 403 and named.certificate_request is None:
            signs.append("403-host")
            evidence.append("403 without a CertificateRequest (ingress-nginx renders `return 403;` for a host "
                            "whose auth-tls secret is unusable)")
        if named.http.page in (495, 496):
            signs.append("nginx-400-page")
            evidence.append(f"nginx's {named.http.page} page (HTTP 400)")
    if "fake-certificate" in signs or "403-host" in signs:
        controller = "ingress-nginx"
    elif "closes-444" in signs:
        controller = "nginx-gateway-fabric"
    elif "rejects-unknown-name" in signs and "nginx-400-page" in signs:
        controller = "nginx-ingress"
    else:
        controller = None
    return Recognition(controller, tuple(signs), tuple(evidence))


def recognise(host: str, port: int, sni: str | None, timeout: float = 3.0,
              ca_file: str | None = None) -> Recognition:
    """Two handshakes (no client certificate) and the judgement. Bounded by ``timeout`` per step."""
    from mtls_doctor.probe.handshake import ProbeConfig, attempt
    from mtls_doctor.probe.model import AttemptSpec, CertKind

    config = ProbeConfig(host=host, port=port, timeout=timeout, ca_file=ca_file, insecure=True,
                         verify_name=sni or host)
    named = attempt(config, AttemptSpec(CertKind.NONE, sni, "auto"))
    unknown = attempt(ProbeConfig(host=host, port=port, timeout=timeout, ca_file=ca_file, insecure=True,
                                  verify_name=UNKNOWN_SNI, host_header=UNKNOWN_SNI),
                      AttemptSpec(CertKind.NONE, UNKNOWN_SNI, "auto"))
    return judge(named, unknown)
