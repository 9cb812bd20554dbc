"""The lint corpus is well-formed: every entry names an existing config, every label has a family
the scorer knows, a fact id of the fact sheet, a source URL and a line that exists and holds the
labelled text. This checks the corpus, not the tool's score (bench/score_lint_corpus.py measures
that)."""

from __future__ import annotations

import importlib.util
import pathlib
import re

import pytest
from ruamel.yaml import YAML

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "lint"
FACTS = ROOT / "docs" / "nginx-mtls-facts.md"


def _scorer():
    spec = importlib.util.spec_from_file_location("score_lint_corpus", ROOT / "bench" / "score_lint_corpus.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SCORER = _scorer()
LABEL_FILES = sorted(CORPUS.glob("*.labels.yaml"))
FACT_IDS = set(re.findall(r"\*\*(F\d+\.\d+)\b", FACTS.read_text())) | {f"§{n}" for n in range(0, 13)}
REQUIRED = {"config", "form", "clean", "pattern", "sources", "mistakes"}


def _load(p: pathlib.Path) -> dict:
    return YAML(typ="safe").load(p.read_text())


def _line(place: str) -> tuple[pathlib.Path, int | None]:
    rel, line = SCORER.split_place(place)
    return CORPUS / rel, line


def test_corpus_size_and_mix():
    docs = [_load(p) for p in LABEL_FILES]
    assert len(docs) >= 70
    assert sum(1 for d in docs if d["clean"]) >= 20
    assert {d["form"] for d in docs} >= {"file", "tree", "nginx-T", "server-fragment", "location-fragment",
                                         "include-snippet", "template-envsubst", "template-jinja",
                                         "template-erb", "template-mustache", "yaml-configmap", "yaml-helm",
                                         "yaml-ansible", "stream", "mail", "openresty"}
    families = {m["family"] for d in docs for m in d["mistakes"]}
    assert families == set(SCORER.FAMILIES), set(SCORER.FAMILIES) ^ families


def test_every_family_code_is_a_rule():
    codes = {c for cs in SCORER.FAMILY_RULES.values() for c in cs}
    assert len(codes) == sum(len(cs) for cs in SCORER.FAMILY_RULES.values()), "a code in two families"
    from mtls_doctor.rules import REGISTRY

    assert codes <= set(REGISTRY), codes - set(REGISTRY)


@pytest.mark.parametrize("path", LABEL_FILES, ids=lambda p: p.name[: -len(".labels.yaml")])
def test_labels_well_formed(path):
    doc = _load(path)
    assert REQUIRED <= set(doc), REQUIRED - set(doc)
    config = CORPUS / doc["config"]
    assert config.is_file(), config
    assert doc["form"] in SCORER.FORMS
    assert doc["sources"] and all(s.startswith("https://") for s in doc["sources"])
    assert doc["clean"] == (not doc["mistakes"])
    text = config.read_text()
    assert "Source: https://" in text, "the config cites its source in a header comment"
    for lab in doc["mistakes"]:
        assert lab["family"] in SCORER.FAMILY_RULES
        assert all(a in SCORER.FAMILY_RULES for a in lab.get("accept", []))
        assert lab["fact"] in FACT_IDS, lab["fact"]
        assert lab["source"].startswith("https://")
        assert len(lab["what"]) > 20
        f, line = _line(lab["line"])
        assert f.is_file() and line is not None, lab["line"]
        lines = f.read_text().splitlines()
        assert 1 <= line <= len(lines), lab["line"]
        assert lab["match"] in lines[line - 1], (lab["line"], lab["match"])
        assert not lines[line - 1].lstrip().startswith("#") or lab["match"].startswith("#")
        for other in lab.get("also_at", []):
            of, oline = _line(other)
            assert of.is_file(), other
            assert oline is None or 1 <= oline <= len(of.read_text().splitlines()), other
