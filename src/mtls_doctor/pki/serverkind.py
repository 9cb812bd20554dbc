"""What stream and mail servers answer where an http server answers 400 (F0.4, section 9).

The verdict itself (``pki.verify``: the verify result, ``optional_no_ca``'s tolerated errors)
is the same in every module; only what goes on the wire and the log context differ. Measured on
nginx 1.22.1, 1.26.3 and 1.30 (tests/probe/test_streammail.py, ``openssl s_client [-starttls]``
as the peer):

- stream: the session is closed right after the handshake (no byte sent); an admitted client's
  session goes on (proxied); the info line ends "while SSL handshaking";
- mail, after the handshake (implicit TLS) or after STARTTLS: the protocol's reply, then the
  connection is closed; an admitted client gets the greeting (implicit TLS) or nothing (after
  STARTTLS the client speaks first); the info line ends "while SSL handshaking" (implicit TLS)
  or "while in starttls state" (STARTTLS).

No I/O: data in, a new ``VerifyResult`` out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

KINDS = ("http", "stream", "mail")

#: ngx_mail_{imap,pop3,smtp}_module's no_cert / cert_error replies (measured, see above)
MAIL_REPLIES = {
    "imap": ("* BYE No required SSL certificate", "* BYE SSL certificate error"),
    "pop3": ("-ERR No required SSL certificate", "-ERR SSL certificate error"),
    "smtp": ("421 4.7.1 No required SSL certificate", "421 4.7.1 SSL certificate error"),
}
#: the greeting an admitted client gets first on implicit TLS (nginx's defaults)
MAIL_GREETINGS = {"imap": "* OK IMAP4 ready", "pop3": "+OK POP3 ready", "smtp": "220 ESMTP ready"}

_HTTP_CONTEXT = " while reading client request headers"


def for_kind(result: Any, kind: str, protocol: str | None = None, starttls: bool = False) -> Any:
    """``result`` (an http ``VerifyResult``) as a ``kind`` server answers it."""
    if kind == "http":
        return result
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    context = " while in starttls state" if kind == "mail" and starttls else \
        " while SSL handshaking"
    log_line = result.log_line
    if log_line and log_line.endswith(_HTTP_CONTEXT):
        log_line = log_line[: -len(_HTTP_CONTEXT)] + context
    rejected = result.status == 400
    if kind == "stream":
        reply = None
        outcome = ("nginx closes the connection right after the TLS handshake (no byte sent; "
                   "the access log shows status 500)" if rejected else
                   "the session goes on to the proxied backend")
    else:
        no_cert, cert_error = MAIL_REPLIES.get(protocol or "", ("the protocol's no-certificate "
                                                                "reply", "its cert_error reply"))
        reply = (no_cert if result.page == 496 else cert_error) if rejected else None
        outcome = (f"nginx replies {reply!r} and closes the connection" if rejected else
                   ("the client is admitted: after STARTTLS it speaks first" if starttls else
                    "the client gets the greeting"))
    why = result.explanation
    if rejected:
        why = why.replace("HTTP 400", f"a {kind} rejection").replace("answers 400",
                                                                    f"rejects the {kind} client")
    return dataclasses.replace(
        result, status=None, page=None, log_line=log_line, server_kind=kind, reply=reply,
        admitted=not rejected and result.ssl_client_verify is not None,
        notes=(*result.notes, f"{kind} server: {outcome} (F0.4)"), explanation=why)


__all__ = ["KINDS", "MAIL_GREETINGS", "MAIL_REPLIES", "for_kind"]
