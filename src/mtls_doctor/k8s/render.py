"""What a controller rendering is: nginx lines that each remember the manifest field they come
from, grouped in server blocks, plus the CA/CRL files the controller would write.

Invariants (no I/O): a rendering is data. ``Rendering.text()`` is the nginx configuration (an
``http`` block) the controller would run for the mTLS-relevant part; line N of that text is
``lines[N - 1]``, whose ``origin`` (or the server's) says which resource and field made it.
``files`` maps the paths the text names to their bytes (from Secrets and ConfigMaps); they are
never printed (``repr=False``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Mapping

from mtls_doctor.k8s.manifests import Resource
from mtls_doctor.model import Location


class Controller(str, Enum):
    """The front ends whose rendering is modelled, with the release their source was read at."""

    INGRESS_NGINX = "ingress-nginx"
    F5_NGINX_INGRESS = "nginx-ingress"
    NGINX_GATEWAY_FABRIC = "nginx-gateway-fabric"

    @property
    def source(self) -> str:
        return SOURCES[self]


#: the release each renderer follows (read with git from the controllers' repositories)
SOURCES = {
    Controller.INGRESS_NGINX: "kubernetes/ingress-nginx controller-v1.15.1 (commit dbb11b92d)",
    Controller.F5_NGINX_INGRESS: "nginx/kubernetes-ingress v5.5.x (main after v5.5.4, commit 0eb3072d1)",
    Controller.NGINX_GATEWAY_FABRIC: "nginx/nginx-gateway-fabric v2.6.x (main after v2.6.7, commit e55bfe339)",
}


@dataclass(frozen=True)
class Origin:
    """The manifest field a rendered line comes from."""

    resource: Resource
    field: str  # e.g. "metadata.annotations.nginx.ingress.kubernetes.io/auth-tls-secret"
    location: Location


@dataclass(frozen=True)
class Line:
    text: str
    origin: Origin | None = None
    #: for a line no manifest field makes: where the controller's value comes from
    note: str = ""


@dataclass(frozen=True)
class RenderedServer:
    controller: Controller
    host: str  # "_" is ingress-nginx's catch-all server
    lines: tuple[Line, ...]
    origin: Origin  # the resource that made this server (its first Ingress, Gateway listener...)
    resources: tuple[Resource, ...] = ()  # every resource that contributed, in the controller's order


@dataclass(frozen=True)
class Rendering:
    controller: Controller
    http: tuple[Line, ...]  # http-level lines before the servers
    servers: tuple[RenderedServer, ...]
    files: Mapping[str, bytes] = field(default_factory=dict, repr=False)

    def lines(self) -> tuple[Line, ...]:
        out: list[Line] = [Line(f"# {self.controller.value}: rendered as {self.controller.source}"), Line("http {")]
        out += [Line("    " + l.text, l.origin, l.note) for l in self.http]
        for server in self.servers:
            out.append(Line(""))
            out += [Line("    " + l.text, l.origin or server.origin, l.note) for l in server.lines]
        out.append(Line("}"))
        return tuple(out)

    def text(self) -> str:
        return "".join(l.text + "\n" for l in self.lines())

    def line(self, number: int) -> Line | None:
        lines = self.lines()
        return lines[number - 1] if 1 <= number <= len(lines) else None


def origin(resource: Resource, *keys: object) -> Origin:
    """An Origin for the field at ``keys`` of ``resource`` (dotted for display)."""
    return Origin(resource, ".".join(str(k) for k in keys), resource.where(*keys))


def annotation_origin(resource: Resource, name: str) -> Origin:
    return Origin(resource, f"metadata.annotations.{name}", resource.annotation_location(name))


def quote(value: str) -> str:
    """An nginx argument, quoted when it holds characters nginx would split on."""
    if value and all(c.isalnum() or c in "/._-:@=*$~^?+" for c in value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
