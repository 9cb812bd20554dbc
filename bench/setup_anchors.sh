#!/usr/bin/env bash
# The tools a user would otherwise run, in their OWN virtualenv (gixy-ng ships a module that
# replaces crossplane, so it must never share a venv with mtls-doctor).
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-anchors/bin/python ] || python3 -m venv .venv-anchors
.venv-anchors/bin/python -m pip install -q --disable-pip-version-check sslyze gixy-ng
