"""``python -m mtls_doctor.schema [DIR...]``: write every command's schema (default: this
package's directory and docs/schema/ of the source tree)."""

import sys
from pathlib import Path

from mtls_doctor.schema import write

here = Path(__file__).resolve().parent
targets = sys.argv[1:] or [str(here), str(here.parents[2] / "docs" / "schema")]
for target in targets:
    Path(target).mkdir(parents=True, exist_ok=True)
    for path in write(target):
        print(path)
