"""A rendering adapted to run on real nginx on 127.0.0.1 (the lab), unchanged where it matters.

Only what cannot run outside the cluster is replaced, line by line:
- ``listen 443 ssl`` / ``listen <port> ssl`` -> ``listen 127.0.0.1:@PORT0@ ssl`` and ``listen 80``
  -> ``listen 127.0.0.1:@PORT1@`` (the ``NginxServer`` placeholders; ``default_server`` kept);
- server certificates (the controller's default or the Ingress/listener TLS Secret) -> the lab
  server certificate and key given;
- the CA/CRL paths the controller writes -> files under the prefix with the same content;
- ``proxy_pass`` to the controller's upstream -> an echo backend on ``@PORT2@`` that answers
  with the ``ssl-client-*`` request headers it received;
- ``error_log`` lines are dropped (the lab sets its own at ``info``).
Every client-verification directive, ``if``, ``return``, ``error_page``, ``proxy_set_header``
and ``location`` stays as rendered. No I/O: text in, (http body, files) out.
"""

from __future__ import annotations

import re
from typing import Mapping

from mtls_doctor.k8s.render import Rendering

BACKEND = """server {
    listen 127.0.0.1:@PORT2@;
    location / {
        return 200 "backend verify=[$http_ssl_client_verify] dn=[$http_ssl_client_subject_dn] cert=[$http_ssl_client_cert]\\n";
    }
}
"""


def lab_http(rendering: Rendering, server_cert: str, server_key: str,
             certs: Mapping[str, tuple[str, str]] | None = None) -> tuple[str, Mapping[str, bytes]]:
    """(the ``http {}`` body for ``lab.nginx.NginxServer``, the files to write under its prefix).
    ``certs`` maps a certificate path the controller renders (e.g. ingress-nginx's fake default
    certificate) to the (certificate, key) lab files used for it instead of the lab server's."""
    files: dict[str, bytes] = {}
    renamed: dict[str, str] = {}
    for i, (path, data) in enumerate(sorted(rendering.files.items())):
        rel = f"k8s/{i}-{path.rsplit('/', 1)[-1]}"
        renamed[path] = rel
        files[rel] = data
    out: list[str] = []
    lines = rendering.lines()[2:-1]  # inside "http {": the comment, "http {" and "}" go
    for line in lines:
        text = line.text
        stripped = text.strip()
        if stripped.startswith("error_log "):
            continue
        if stripped.startswith("listen "):
            default = " default_server" if "default_server" in stripped else ""
            if re.search(r"\bssl\b", stripped):
                text = f"    listen 127.0.0.1:@PORT0@{default} ssl;"
            else:
                text = f"    listen 127.0.0.1:@PORT1@{default};"
        elif stripped.startswith(("ssl_certificate ", "ssl_certificate_key ")):
            indent = text[: len(text) - len(text.lstrip())]
            name, rendered = stripped.split()[0], stripped.split()[1].rstrip(";")
            cert, key = (certs or {}).get(rendered, (server_cert, server_key))
            text = f"{indent}{name} {cert if name == 'ssl_certificate' else key};"
        elif stripped.startswith("proxy_pass "):
            text = text[: len(text) - len(text.lstrip())] + "proxy_pass http://127.0.0.1:@PORT2@;"
        else:
            for path, rel in renamed.items():
                text = text.replace(path, rel)
        out.append(text)
    backend = BACKEND
    if not any("@PORT1@" in line for line in out):  # no plain-HTTP listen rendered: park the port
        backend = backend.replace("listen 127.0.0.1:@PORT2@;", "listen 127.0.0.1:@PORT2@;\n    listen 127.0.0.1:@PORT1@;")
    return "\n".join(out) + "\n" + backend, files
