"""Reading the independent witnesses (``openssl s_client``, curl) the same way on every OpenSSL.

OpenSSL 1.1.1 and 3.0 print a DN in s_client's one-line form as ``O = Org, CN = Name``; 3.5 and
later print ``O=Org, CN=Name`` (measured in the Debian 11/12/13/sid roots of tools/roots.sh).
Everything here normalises to the spaceless form, so a test compares names, not spacing.
"""

from __future__ import annotations

import re

_CA_NAMES = "Acceptable client certificate CA names"
_ATTR = re.compile(r"^[A-Za-z][A-Za-z0-9.]* ?= ?")


def oneline(name: str) -> str:
    """``O = Org, CN = Name`` or ``O=Org, CN=Name`` -> ``O=Org, CN=Name``."""
    return ", ".join(re.sub(r"^([A-Za-z][A-Za-z0-9.]*) ?= ?", r"\1=", part)
                     for part in name.strip().split(", "))


def ca_names(s_client_output: str) -> list[str]:
    """The ``Acceptable client certificate CA names`` block of s_client, one normalised DN each;
    [] when s_client printed no such block."""
    lines = s_client_output.splitlines()
    if _CA_NAMES not in lines:
        return []
    names = []
    for line in lines[lines.index(_CA_NAMES) + 1:]:
        if not _ATTR.match(line):
            break
        names.append(oneline(line))
    return names


def oneline_to_rfc4514(name: str) -> str:
    """s_client's ``C=US, O=Org, CN=Name`` (either spacing) -> RFC 4514 ``CN=Name,O=Org,C=US``
    (simple names, no escaping)."""
    return ",".join(reversed(oneline(name).split(", ")))
