"""The HTTP request a probe sends and the reading of the answer (no I/O here).

Invariants:
- the request is one HTTP/1.1 GET with ``Connection: close`` (so that the answer ends at EOF);
- the answer parse is tolerant and bounded: it returns None for bytes that are not HTTP;
- nginx's special pages are recognised by their fixed texts (F2.5, ngx_http_special_response.c):
  the status line is 400 for 495/496/497, the distinguishing text is in the body.
"""

from __future__ import annotations

from mtls_doctor.probe.model import HttpAnswer

#: body text -> nginx internal code (F2.5)
NGINX_PAGES = (
    ("No required SSL certificate was sent", 496),
    ("The SSL certificate error", 495),
    ("The plain HTTP request was sent to HTTPS port", 497),
)

MAX_ANSWER = 256 * 1024


def build_request(host_header: str, path: str) -> bytes:
    safe_path = path if path.startswith("/") else "/" + path
    for bad in ("\r", "\n", " "):
        safe_path = safe_path.replace(bad, "")
        host_header = host_header.replace(bad, "")
    return (
        f"GET {safe_path} HTTP/1.1\r\n"
        f"Host: {host_header}\r\n"
        "User-Agent: mtls-doctor-probe\r\n"
        "Accept: */*\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii", "replace")


def answer_complete(data: bytes) -> bool:
    """True when the bytes hold a whole answer (headers and the Content-Length body)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return len(body) >= int(value.strip())
            except ValueError:
                return False
    return False  # chunked or no length: read until the server closes


def parse_answer(data: bytes) -> HttpAnswer | None:
    """The status, Server header and nginx page of an HTTP/1.x answer, or None."""
    if not data.startswith(b"HTTP/"):
        return None
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit() or len(parts[1]) != 3:
        return None
    server = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"server":
            server = value.strip().decode("latin-1")[:100]
    text = body[:4096].decode("utf-8", "replace")
    page = page_text = None
    for needle, code in NGINX_PAGES:
        if needle in text:
            page, page_text = code, needle
            break
    excerpt = " ".join(text.split())[:200]
    return HttpAnswer(
        status=int(parts[1]),
        reason=parts[2].strip() if len(parts) > 2 else "",
        server=server,
        page=page,
        page_text=page_text,
        body_excerpt=excerpt,
    )
