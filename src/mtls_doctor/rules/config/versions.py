"""MTLS209: directives and variables the judged nginx version does not have (facts section 9)."""

from __future__ import annotations

import re
from typing import Iterable

from mtls_doctor.model import Finding, Severity
from mtls_doctor.nginx.version import Version
from mtls_doctor.rules.config.common import ConfigRule, LintContext

#: (directive, context "http"/"stream"/None = any) -> first version that has it (section 9)
DIRECTIVES: dict[tuple[str, str | None], Version] = {
    ("ssl_ocsp", "http"): Version(1, 19, 0),
    ("ssl_ocsp_responder", "http"): Version(1, 19, 0),
    ("ssl_ocsp_cache", "http"): Version(1, 19, 0),
    ("ssl_ocsp", "stream"): Version(1, 27, 2),
    ("ssl_ocsp_responder", "stream"): Version(1, 27, 2),
    ("ssl_ocsp_cache", "stream"): Version(1, 27, 2),
    ("ssl_reject_handshake", None): Version(1, 19, 4),
    ("ssl_conf_command", None): Version(1, 19, 4),
    ("ssl_verify_client", "stream"): Version(1, 11, 8),
    ("ssl_client_certificate", "stream"): Version(1, 11, 8),
    ("ssl_trusted_certificate", "stream"): Version(1, 11, 8),
    ("ssl_verify_depth", "stream"): Version(1, 11, 8),
    ("ssl_crl", "stream"): Version(1, 11, 8),
    ("ssl_trusted_certificate", "http"): Version(1, 3, 7),
}
#: variable -> first version that has it (section 5 and 9)
VARIABLES: dict[str, Version] = {
    "ssl_client_escaped_cert": Version(1, 13, 5),
    "ssl_client_s_dn_legacy": Version(1, 11, 6),
    "ssl_client_i_dn_legacy": Version(1, 11, 6),
    "ssl_client_v_start": Version(1, 11, 7),
    "ssl_client_v_end": Version(1, 11, 7),
    "ssl_client_v_remain": Version(1, 11, 7),
    "ssl_client_fingerprint": Version(1, 7, 1),
    "ssl_client_sigalg": Version(1, 29, 3),
}
_VAR = re.compile(r"\$\{?(ssl_client_[a-z_]+)")


class UnsupportedByNginxVersion(ConfigRule):
    """A directive or variable the judged nginx version does not have yet.

    What it checks:
    With a known nginx version (`--nginx-version` or `nginx -v`): mTLS directives and
    variables newer than that version, e.g. `ssl_ocsp` (http 1.19.0, stream 1.27.2),
    `ssl_reject_handshake` and `ssl_conf_command` (1.19.4), client verification in `stream`
    (1.11.8), `$ssl_client_escaped_cert` (1.13.5), `$ssl_client_s_dn_legacy` (1.11.6).

    Why it matters:
    An unknown directive makes `nginx -t` fail (`unknown directive`); an unknown variable
    fails too (`unknown "ssl_client_escaped_cert" variable`). Advice copied from current
    documentation therefore breaks older servers, e.g. Debian 12's nginx 1.22.1 has no
    stream `ssl_ocsp`.

    Example:
    ```nginx
    # nginx 1.22.1
    stream { server { ssl_ocsp on; } }
    ```

    Use instead:
    Upgrade nginx, or use what the version has (`ssl_crl` instead of stream `ssl_ocsp`,
    `$ssl_client_cert` handling in the backend instead of `$ssl_client_escaped_cert`).

    References:
    Section 9 (version boundaries) and section 5 of nginx-mtls-facts.md; nginx CHANGES.
    """

    code = "MTLS209"
    name = "unsupported-by-nginx-version"
    severity = Severity.ERROR
    facts = ("F6.2", "F1.5")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterable[Finding]:
        version = ctx.version
        if version is None:
            return
        for context in ctx.eff.config.root:
            if context.name not in ("http", "stream") or context.block is None:
                continue
            for node in context.walk():
                since = DIRECTIVES.get((node.name, context.name)) or DIRECTIVES.get((node.name, None))
                if since is not None and version < since:
                    yield cls.finding(
                        f"nginx {version} has no `{node.name}` in {context.name} (added in {since}): nginx -t fails.",
                        node.location, f"Upgrade to nginx {since}+ or remove it.")
                    continue
                for var in dict.fromkeys(_VAR.findall(" ".join(node.args))):
                    since = VARIABLES.get(var)
                    if since is not None and version < since:
                        yield cls.finding(
                            f"nginx {version} has no ${var} (added in {since}): nginx -t fails.",
                            node.location, f"Upgrade to nginx {since}+ or use another variable.")


RULES = (UnsupportedByNginxVersion,)
