"""The README's Quick start holds on a fresh machine: its links and the files it names exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_link_points_into_the_repository():
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    assert links
    for link in links:
        assert not re.match(r"^[a-z]+://", link) and not link.startswith(".."), link
        assert (ROOT / link).exists(), link


def test_the_files_and_make_targets_it_names_exist():
    for path in ("requirements-dev.txt", "requirements.txt", "scripts/ensure-system-deps.sh",
                 "pieced_admin/clock.py", "tests/conftest.py", "tests/test_lock.py", ".ci/run"):
        assert path in README and (ROOT / path).exists(), path
    makefile = (ROOT / "Makefile").read_text()
    for target in ("dev", "test", "lock", "bench"):
        assert f"make {target}" in README and re.search(rf"^{target}:", makefile, re.M), target


def test_it_says_what_a_fresh_debian_machine_needs_first():
    quick_start = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    for needed in ("make", "git", "Python 3.11", "venv", "root", "sudo", "PORT=", "next port", "[dev]"):
        assert needed in quick_start, needed
