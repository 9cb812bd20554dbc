"""Write ``docs/diagnose-causes.md`` from the cause catalogue: ``python -m mtls_doctor.diagnose.docs``.

A test (``tests/diagnose/test_core.py``) fails when the committed page differs from
``causes_markdown()``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mtls_doctor.diagnose.causes import causes_markdown

PAGE = Path("docs") / "diagnose-causes.md"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else PAGE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(causes_markdown())
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
