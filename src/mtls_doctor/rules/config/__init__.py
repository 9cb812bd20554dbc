"""Rule family: nginx configuration rules (MTLS2xx settings, MTLS3xx revocation, MTLS4xx identity).

Every rule is a ``ConfigRule`` (``common.py``) whose ``check(ctx: LintContext)`` yields findings
at ``file:line``; ``mtls_doctor.nginx.lint`` builds the context and runs them. ``RULES`` is the
explicit concatenation of the submodules' tuples.
"""

from __future__ import annotations

from mtls_doctor.rules.config import (bypass, ciphers, context, dn, files, identity, inputs, mail, paths, refusals,
                                      revocation, server, sni, upstream, verify, versions)

RULES: tuple = (
    verify.RULES
    + context.RULES
    + (files.VerifyDepthTooLow, files.CaNamesListLarge)
    + versions.RULES
    + sni.RULES
    + ciphers.RULES
    + (files.ConfigFileMissing,)
    + server.RULES
    + paths.RULES
    + upstream.RULES
    + bypass.RULES
    + revocation.RULES
    + identity.RULES
    + dn.RULES
    + refusals.RULES
    + mail.RULES
    + inputs.RULES
)
