"""`lab pki DIRECTORY` on odd targets: one line that names the problem, exit 2, nothing left
behind (it printed `[Errno 20] Not a directory: 'afile/.sub.x.partial'`, naming its own staging
directory); a symbolic link to an empty directory is written through (it failed: a link cannot be
rmdir-ed before the rename)."""

from __future__ import annotations

import os

import pytest

from tests.hardening.conftest import clean, cli


@pytest.mark.parametrize("target, message", [
    ("afile/sub", "cannot write {d}/afile/sub: {d}/afile is not a directory"),
    ("afile/a/b", "cannot write {d}/afile/a/b: {d}/afile is not a directory"),
    ("dangling", "{d}/dangling is a symbolic link to /nonexistent-mtls-doctor, which does not exist"),
])
def test_odd_targets_are_one_line(tmp_path, target, message):
    (tmp_path / "afile").write_text("")
    os.symlink("/nonexistent-mtls-doctor", tmp_path / "dangling")
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = cli("lab", "pki", str(tmp_path / target))
    clean(proc, 2)
    assert proc.stderr.strip() == "mtls-doctor: error: " + message.format(d=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no staging directory left


def test_a_link_to_an_empty_directory_is_written_through(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "link")
    proc = cli("lab", "pki", str(tmp_path / "link"))
    clean(proc, 0)
    assert (real / "manifest.json").is_file() and (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
