"""mtls-doctor: find out why mutual TLS does not work on nginx, how to fix it, and prove it works.

The public API is re-exported here lazily so that ``import mtls_doctor`` stays cheap.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Severity",
    "Location",
    "Fix",
    "Finding",
    "Report",
    "InputError",
]


def __getattr__(name: str):  # PEP 562: lazy re-exports
    if name in {"Severity", "Location", "Fix", "Finding", "Report", "InputError"}:
        from mtls_doctor import model

        return getattr(model, name)
    raise AttributeError(name)
