"""The one rich Console of a CLI run, configured once.

Honours ``NO_COLOR`` (https://no-color.org) and non-TTY output (no colour, no markup
surprises), and is deterministic under test: width comes from ``COLUMNS`` or defaults to 100.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from rich.console import Console
from rich.text import Text

from mtls_doctor.report.safe import terminal_safe


#: -1 quiet, 0 normal, 1 verbose (``--quiet`` / ``--verbose`` of every command)
_VERBOSITY = 0


def set_verbosity(level: int) -> None:
    global _VERBOSITY
    _VERBOSITY = level


def verbosity() -> int:
    return _VERBOSITY


class WholeWords(Console):
    """A Console whose text wraps between words only: a word longer than the line (a path, a
    DN) stays whole on a line of its own, longer than the width (the terminal shows the rest on
    the next row; copied, it is one word), instead of being folded in two or cropped."""

    def print(self, *objects, overflow=None, crop: bool = True, **kwargs) -> None:  # type: ignore[override]
        if overflow is None:
            overflow, crop = "ignore", False
        super().print(*(_safe(o) for o in objects), overflow=overflow, crop=crop, **kwargs)

    def render_str(self, text: str, **kwargs):  # type: ignore[override]
        """Every str rich renders (print arguments, table cells) without terminal controls:
        subjects, SANs, alerts and paths come from hostile inputs (``report.safe``)."""
        return super().render_str(terminal_safe(text), **kwargs)


def _safe(obj):
    """A rich ``Text`` with its controls replaced in place of one character each (its styled
    spans keep their positions); a str is made safe by ``render_str``."""
    if isinstance(obj, Text):
        plain = obj.plain
        safe = terminal_safe(plain)
        if safe is not plain:
            obj = obj.copy()
            obj.plain = safe
    return obj


@lru_cache(maxsize=None)
def console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    is_tty = stream.isatty()
    no_color = "NO_COLOR" in os.environ or not is_tty
    columns = os.environ.get("COLUMNS", "").strip()
    width = (int(columns) if columns.isdigit() else 0) or (None if is_tty else 100)
    return WholeWords(
        file=stream,
        no_color=no_color,
        color_system=None if no_color else "auto",
        highlight=False,
        emoji=False,
        width=width,
        soft_wrap=not is_tty,
        force_terminal=False if not is_tty else None,
    )


def heading(out: Console, title: str) -> None:
    """A section heading: ``out.rule(title)`` when the title fits the width (a rule cuts a longer
    title with an ellipsis), else the title on its own lines (wrapped between words), then the
    rule: a scenario name in it must stay whole, it is typed in the next command."""
    if len(title) + 6 <= out.width:
        out.rule(title, align="left")
        return
    from rich.text import Text

    out.print(Text(title, style="bold"))
    out.rule()
