"""The rule registry: an explicit literal of every rule family, nothing discovered at run time.

Each family module exports a tuple ``RULES`` of Rule subclasses. ``REGISTRY`` maps code -> rule.
"""

from __future__ import annotations

from mtls_doctor.rules.base import Rule
from mtls_doctor.rules import bundle, config, files, logs, probe

FAMILIES: tuple[tuple[type[Rule], ...], ...] = (
    files.RULES,
    bundle.RULES,
    config.RULES,
    probe.RULES,
    logs.RULES,
)

REGISTRY: dict[str, type[Rule]] = {rule.code: rule for family in FAMILIES for rule in family}


def get(code: str) -> type[Rule] | None:
    """A rule by code (``MTLS101``) or by name (``ca-bundle-holds-leaf``), case-insensitive."""
    wanted = code.strip()
    rule = REGISTRY.get(wanted.upper())
    if rule is not None:
        return rule
    for candidate in REGISTRY.values():
        if candidate.name == wanted.lower():
            return candidate
    return None


__all__ = ["Rule", "REGISTRY", "FAMILIES", "get"]
