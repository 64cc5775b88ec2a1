"""The documents the repository cites are in it (issue 21: the README and the code cited a
design document and a reference document that a clone does not have, and named issues by their
titles)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A document: an upper-case name (README.md, docs/PERFORMANCE.md), not an output a program writes.
CITED = re.compile(r"[\w./-]*\b[A-Z][A-Z_-]*\.md\b")


def _tracked() -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", "*.py", "*.md", "*.toml", "*.cfg", ".ci/*"],
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("not a git checkout")
    here = Path(__file__).resolve()
    return [REPO / line for line in out.stdout.splitlines() if line and REPO / line != here]


def test_every_cited_document_is_in_the_repository():
    files = _tracked()
    names = {path.name for path in files}
    missing = []
    for path in files:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for cited in CITED.findall(line):
                cited = cited.strip("./") if cited.startswith("./") else cited
                if "://" in line and cited in line.split("://", 1)[1]:
                    continue  # a web address
                here = [REPO / cited, path.parent / cited]
                if not any(p.is_file() for p in here) and Path(cited).name not in names:
                    missing.append(f"{path.relative_to(REPO)}:{number}: {cited}")
    assert not missing, "\n".join(missing)


def test_no_issue_is_named_by_its_title():
    found = [f"{path.relative_to(REPO)}: {match}" for path in _tracked()
             for match in re.findall(r'issue "[^"]+"', path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)
