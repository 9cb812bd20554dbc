"""The rule registry: an explicit literal of every rule family, nothing discovered at run time.

Each family module exports a tuple ``RULES`` of Rule subclasses. ``REGISTRY`` maps code -> rule.
The registry is built on first use (PEP 562), so a command that needs one family (``probe``
imports ``rules.probe``) does not pay for importing the others.
"""

from __future__ import annotations

import importlib
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mtls_doctor.rules.base import Rule

#: every rule family, in code order (MTLS0xx .. MTLS7xx)
FAMILY_MODULES: tuple[str, ...] = (
    "mtls_doctor.rules.files",
    "mtls_doctor.rules.bundle",
    "mtls_doctor.rules.config",
    "mtls_doctor.rules.probe",
    "mtls_doctor.rules.logs",
    "mtls_doctor.rules.k8s",
)


@lru_cache(maxsize=None)
def _families() -> tuple[tuple[type[Rule], ...], ...]:
    return tuple(importlib.import_module(name).RULES for name in FAMILY_MODULES)


@lru_cache(maxsize=None)
def _registry() -> dict[str, type[Rule]]:
    registry: dict[str, type[Rule]] = {}
    for family in _families():
        for rule in family:
            if rule.code in registry:
                raise RuntimeError(f"rule code {rule.code} is defined twice")
            registry[rule.code] = rule
    return registry


def get(code: str) -> type[Rule] | None:
    """A rule by code (``MTLS101``) or by name (``ca-bundle-holds-leaf``), case-insensitive."""
    wanted = code.strip()
    registry = _registry()
    rule = registry.get(wanted.upper())
    if rule is not None:
        return rule
    for candidate in registry.values():
        if candidate.name == wanted.lower():
            return candidate
    return None


def __getattr__(name: str) -> Any:
    if name == "REGISTRY":
        return _registry()
    if name == "FAMILIES":
        return _families()
    if name == "Rule":
        from mtls_doctor.rules.base import Rule

        return Rule
    raise AttributeError(name)


__all__ = ["Rule", "REGISTRY", "FAMILIES", "FAMILY_MODULES", "get"]
