"""One nginx error-log line -> one ``LogEvent`` (or ``None`` for a line that is not nginx's).

Invariants of this module:
- no I/O, no clock: text in, frozen dataclasses out; ``parse_line`` never raises on any ``str``
  (a hypothesis test feeds it arbitrary text);
- two line forms are recognised, as nginx writes them (``src/core/ngx_log.c``
  ``ngx_log_error_core()``):
  ``2026/11/28 01:05:41 [info] 6501#6501: *3 MESSAGE while ACTION, client: A, server: S, ...``
  (the error-log file) and ``nginx: [emerg] MESSAGE in FILE:LINE`` (what ``nginx -t`` prints on
  stderr before the error log is open); any text before the timestamp (a syslog, journald or
  container prefix) is skipped; any level word is accepted;
- the context after the message is the log handler's ``, key: value`` list: ``client``,
  ``server``, ``request``, ``upstream``, ``host``, ... for http
  (``ngx_http_log_error()``), ``client``/``server``/``upstream``/``bytes ...`` for stream and
  ``client``/``server``/``login``/``upstream`` for mail. Because a request line or Host header
  is client-controlled text, the context is taken from the FIRST ``, client: `` whose remainder
  parses completely as such a list;
- ``action`` is what nginx was doing (``log->action``, printed as `` while ACTION``), e.g.
  ``SSL handshaking`` or ``reading client request headers`` (F4.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: nginx's error-log timestamp and header: "YYYY/MM/DD HH:MM:SS [level] PID#TID: [*CID ]"
HEAD = _HEAD = re.compile(
    r"(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[([A-Za-z]+)\] (\d+)#(\d+): (?:\*(\d+) )?"
)
#: what nginx writes to stderr when the error log is not open yet: "nginx: [emerg] ..."
_STDERR = re.compile(r"^nginx: \[([A-Za-z]+)\] ")
#: " in /etc/nginx/nginx.conf:12" at the end of configuration errors (ngx_conf_log_error)
_CONF_AT = re.compile(r" in (\S+):(\d+)$")
#: one context key and its separator; stream writes "bytes from/to client:0/0" without a space
_KEY = re.compile(r"([a-z][a-z/ ]{0,30}?): ?")
#: an unquoted value (client, server addresses) ends at the next comma and holds no quote
_BARE = re.compile(r'[^,"]*')
#: where a quoted value may end: a quote followed by ", <known key>:" or by the end of the line
_QUOTE_END = re.compile(r'"(?=, [a-z][a-z/ ]{0,30}?: ?|$)')
#: bounds on the work spent on one hostile line
_MAX_CANDIDATES = 4
_MAX_STEPS = 50

#: context keys nginx's log handlers write (http, stream, mail); others are refused so that a
#: message containing ", client: " cannot shift the split point.
KNOWN_KEYS = frozenset(
    {
        "client", "server", "request", "subrequest", "upstream", "host", "referrer",
        "login", "bytes from/to client", "bytes from/to upstream",
    }
)

_VERIFY_MESSAGES = ("client SSL certificate verify error", "client sent no required SSL certificate")
LEVELS = ("debug", "info", "notice", "warn", "error", "crit", "alert", "emerg")
MAX_LINE = 65536


@dataclass(frozen=True)
class LogEvent:
    """One parsed error-log line. Text fields are as nginx wrote them; quotes are removed."""

    time: str | None  # "2026/11/28 01:05:41" (server local time), None in the stderr form
    level: str  # lower-case level word: "info", "error", "emerg", ...
    pid: int | None
    tid: int | None
    connection: int | None  # the "*N" connection number, when nginx wrote one
    message: str  # the text before " while ..." and before the context list
    action: str | None = None  # the text after " while " (what nginx was doing)
    client: str | None = None
    server: str | None = None
    request: str | None = None
    host: str | None = None
    upstream: str | None = None
    context: tuple[tuple[str, str], ...] = ()  # every context pair, in order (login, referrer, ...)
    conf_file: str | None = None  # "... in FILE:LINE" of configuration errors
    conf_line: int | None = None

    @property
    def protocol(self) -> str | None:
        """``http``, ``mail``, ``stream``, ``stream-or-mail`` or ``None`` when the line does not say.

        http lines carry ``request``/``host``; mail lines ``login``; stream lines ``bytes
        from/to ...``. A handshake-time line with only client/server may be any of them.
        """
        keys = {k for k, _ in self.context}
        if self.request is not None or self.host is not None or (self.action or "").find("client request") >= 0:
            return "http"
        if "login" in keys:
            return "mail"
        if keys & {"bytes from/to client", "bytes from/to upstream"}:
            return "stream"
        if self.action == "SSL handshaking" and self.message.startswith(_VERIFY_MESSAGES):
            # http checks client certificates while reading the request; stream and mail right
            # after the handshake, with the same texts (F4.1, section 0.4)
            return "stream-or-mail"
        return None


#: the common shapes in one step (ngx_http_log_error order: client, server, request, upstream,
#: host, referrer; handshake lines: client, server), a fast path before the general loop
_FAST = re.compile(
    r'client: ([^,"]*), server: ([^,"]*)(?:, request: "([^"]*)")?(?:, upstream: "([^"]*)")?'
    r'(?:, host: "([^"]*)")?(?:, referrer: "([^"]*)")?$'
)
_FAST_KEYS = ("client", "server", "request", "upstream", "host", "referrer")


def _parse_context(text: str) -> tuple[tuple[str, str], ...] | None:
    """``client: A, server: S, request: "..."`` -> pairs, or None if it is not such a list.

    Each key must be known and appear once. A quoted value is client-controlled and may itself
    contain ``", key: `` text, so every possible end of it is tried (shortest first) until the
    rest of the line parses; the work is bounded by ``_MAX_STEPS``.
    """
    fast = _FAST.match(text)
    if fast is not None:
        return tuple((k, v) for k, v in zip(_FAST_KEYS, fast.groups()) if v is not None)
    steps = [0]

    def rest_from(pos: int, seen: frozenset) -> list[tuple[str, str]] | None:
        steps[0] += 1
        if steps[0] > _MAX_STEPS:
            return None
        k = _KEY.match(text, pos)
        if k is None or k.group(1) not in KNOWN_KEYS or k.group(1) in seen:
            return None
        key, start = k.group(1), k.end()
        seen = seen | {key}
        if text.startswith('"', start):
            for end in _QUOTE_END.finditer(text, start + 1):
                after = end.end()
                if after == len(text):
                    return [(key, text[start + 1 : end.start()])]
                tail = rest_from(after + 2, seen)
                if tail is not None:
                    return [(key, text[start + 1 : end.start()])] + tail
                if steps[0] > _MAX_STEPS:
                    return None
            return None
        bare = _BARE.match(text, start)
        after = bare.end()
        if after == len(text):
            return [(key, bare.group())]
        if not text.startswith(", ", after):
            return None
        tail = rest_from(after + 2, seen)
        return [(key, bare.group())] + tail if tail is not None else None

    pairs = rest_from(0, frozenset()) if text else None
    return tuple(pairs) if pairs else None


def _split_context(rest: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    start = 0
    for _ in range(_MAX_CANDIDATES):
        i = rest.find(", client: ", start)
        if i < 0:
            return rest, ()
        pairs = _parse_context(rest[i + 2 :])
        if pairs is not None:
            return rest[:i], pairs
        start = i + 1
    return rest, ()


#: the raw fields of a line, as ``parse_fields`` returns them (a plain tuple: cheap to build)
Fields = tuple  # (time, level, pid, tid, connection, message, action, context, conf_file, conf_line)


def parse_fields(line: str) -> Fields | None:
    """The fields of one line as a plain tuple (the fast path of ``parse_line``), or ``None``."""
    line = line[:MAX_LINE].rstrip("\r\n")
    m = _HEAD.match(line) or _HEAD.search(line)  # match: the common case, no prefix
    if m is not None:
        time, level, pid, tid, conn = m.groups()
        level = level.lower()
        rest = line[m.end() :]
    else:
        s = _STDERR.match(line)
        if s is None:
            return None
        time, level, pid, tid, conn = None, s.group(1).lower(), None, None, None
        rest = line[s.end() :]
    body, pairs = _split_context(rest)
    conf_file = conf_line = None
    at = _CONF_AT.search(body) if not pairs else None
    if at is not None:
        conf_file, conf_line = at.group(1), int(at.group(2))
        body = body[: at.start()]
    message, action = body, None
    k = body.rfind(" while ")
    if k >= 0:
        message, action = body[:k], body[k + 7 :]
    return (time, level, pid, tid, conn, message, action, pairs, conf_file, conf_line)


def event_from_fields(f: Fields) -> LogEvent:
    values = dict(f[7])
    return LogEvent(
        time=f[0],
        level=f[1],
        pid=int(f[2]) if f[2] is not None else None,
        tid=int(f[3]) if f[3] is not None else None,
        connection=int(f[4]) if f[4] is not None else None,
        message=f[5],
        action=f[6],
        client=values.get("client"),
        server=values.get("server"),
        request=values.get("request"),
        host=values.get("host"),
        upstream=values.get("upstream"),
        context=f[7],
        conf_file=f[8],
        conf_line=f[9],
    )


def parse_line(line: str) -> LogEvent | None:
    """Parse one error-log line; ``None`` when it is not an nginx error-log line."""
    fields = parse_fields(line)
    return event_from_fields(fields) if fields is not None else None


def line_level(line: str) -> str | None:
    """Just the level word of a line (a cheap pre-check used when streaming large logs)."""
    m = _HEAD.match(line) or _HEAD.search(line[:MAX_LINE])
    if m is not None:
        return m.group(2).lower()
    s = _STDERR.match(line)
    return s.group(1).lower() if s else None


__all__ = ["LogEvent", "parse_line", "parse_fields", "event_from_fields", "Fields", "line_level", "LEVELS", "KNOWN_KEYS", "MAX_LINE"]
