"""What differs between the OpenSSL releases nginx is linked against: the one home of that table.

Measured, never pinned: the texts of every verify error code come from
``data/openssl-verify-texts.json``, which ``tools/measure_openssl_texts.py`` writes by asking the
libcrypto of each root of ``tools/roots.sh`` (OpenSSL 1.1.1w of Debian 11, 3.0 of Debian 12,
3.5 of Debian 13, 3.6 of sid). Behaviour differences measured on real nginx of those roots
(``tests/lab/test_matrix.py``):

- a chain longer than ``ssl_verify_depth`` allows: 1.1.1 logs 22 "certificate chain too long";
  3.x builds the chain only as far as the depth allows and logs the error of the cut, 20 "unable
  to get local issuer certificate" or 2 "unable to get issuer certificate" (F3.2, F3.3);
- 3.0 renamed "self signed" to "self-signed" (18, 19), 26 "unsupported" to "unsuitable
  certificate purpose", lower-cased several texts, and moved "invalid CA certificate" from 24 to
  79; 3.6 made 9 "certificate is not yet valid or the system clock is incorrect".

No I/O but reading the packaged data file once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mtls_doctor.model import InputError

_DATA = Path(__file__).with_name("data") / "openssl-verify-texts.json"
_NUMBER = re.compile(r"^(?:openssl\s*)?(\d+)\.(\d+)(?:\.(\d+))?([a-z]*)$", re.I)

#: X509_V_ERR_CERT_CHAIN_TOO_LONG: what 1.1.1 reports when the depth is exceeded
CHAIN_TOO_LONG = 22
#: X509_V_ERR_INVALID_CA: 24 in 1.1.1, 79 from 3.0 on
INVALID_CA_3X, INVALID_CA_111 = 79, 24


@dataclass(frozen=True, order=True)
class Release:
    """An OpenSSL release number: ``3.5.9``, ``1.1.1w`` (the letter is kept apart)."""

    major: int
    minor: int
    patch: int = 0
    letter: str = ""

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}{self.letter}"

    @property
    def series(self) -> tuple[int, int]:
        """(major, minor): behaviour and texts change between series, not within one."""
        return (self.major, self.minor)


def parse_release(text: str) -> Release:
    """``3.5.9``, ``1.1.1w``, ``OpenSSL 3.0.19 27 Jan 2026``: InputError otherwise."""
    raw = text.strip()
    word = raw.split()
    candidate = word[1] if len(word) > 1 and word[0].lower() == "openssl" else (word[0] if word else "")
    match = _NUMBER.match(candidate)
    if not match or int(match.group(1)) not in (1, 3, 4):
        raise InputError(f"not an OpenSSL version: {raw!r} (expected e.g. 3.0.13 or 1.1.1w)")
    major, minor = int(match.group(1)), int(match.group(2))
    if (major, minor) < (1, 1):
        raise InputError(f"OpenSSL {raw} is older than 1.1.1, which nginx with mTLS needs here")
    return Release(major, minor, int(match.group(3) or 0), match.group(4).lower())


@lru_cache(maxsize=1)
def _table() -> dict[Release, dict[int, str]]:
    data = json.loads(_DATA.read_text(encoding="utf-8"))
    return {parse_release(number): {int(c): t for c, t in entry["texts"].items()}
            for number, entry in data["releases"].items()}


def measured() -> tuple[Release, ...]:
    """The releases whose texts were measured, oldest first."""
    return tuple(sorted(_table()))


def nearest(release: Release) -> tuple[Release, bool]:
    """The measured release that stands for ``release`` and whether it is of the same series
    (False: the texts are those of the closest older series, or the oldest one: approximate)."""
    known = measured()
    same = [r for r in known if r.series == release.series]
    if same:
        return min(same, key=lambda r: (abs(r.patch - release.patch), r)), True
    older = [r for r in known if r < release]
    return (older[-1] if older else known[0]), False


def text(code: int, release: Release) -> str:
    """``X509_verify_cert_error_string(code)`` as ``release`` prints it."""
    stands_for, _ = nearest(release)
    return _table()[stands_for].get(code, "unknown certificate verification error")


def translate(code: int, *, source: Release, target: Release, depth_exceeded: bool) -> int:
    """The code ``target`` reports for what ``source`` reported as ``code``.

    ``depth_exceeded``: the chain is longer than ssl_verify_depth allows (the explanation's
    finding): 1.1.1 reports 22 where 3.x reports the error of the cut.
    """
    old_target, old_source = target.major == 1, source.major == 1
    if depth_exceeded and old_target and code in (2, 20, 21):
        return CHAIN_TOO_LONG
    if depth_exceeded and old_source and not old_target and code == CHAIN_TOO_LONG:
        return 20  # 3.x: the issuer of the cut-off certificate is "not found"
    if old_target and not old_source and code == INVALID_CA_3X:
        return INVALID_CA_111
    if old_source and not old_target and code == INVALID_CA_111:
        return INVALID_CA_3X
    return code
