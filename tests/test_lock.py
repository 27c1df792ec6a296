"""The committed dependency lock agrees with pyproject.toml, and every install uses it.

`make lock` (scripts/lock.sh) writes requirements-dev.txt and
requirements.txt (both locks: exact versions with hashes) with uv from pyproject.toml's ranges. These tests
fail when someone changes a range or adds a dependency without refreshing
the lock, so two installs a month apart keep getting the same code.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
# The platform the locks are resolved for (scripts/lock.sh): CPython 3.11 on Linux.
TARGET = {**default_environment(), "python_version": "3.11", "python_full_version": "3.11.7",
          "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
          "implementation_name": "cpython", "platform_python_implementation": "CPython"}


def pins(name: str) -> dict[str, Version]:
    """The exact versions a lock file pins, by canonical name."""
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[canonicalize_name(match.group(1))] = Version(match.group(2))
    return found


def requirements(*groups: str) -> list[Requirement]:
    listed = []
    if "runtime" in groups:
        listed += PYPROJECT["project"]["dependencies"]
    if "dev" in groups:
        listed += PYPROJECT["project"]["optional-dependencies"]["dev"]
    if "build" in groups:
        listed += [line for line in (ROOT / "requirements-build.in").read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
    return [r for r in map(Requirement, listed) if r.marker is None or r.marker.evaluate(TARGET)]


@pytest.mark.parametrize("lock, groups", [
    ("requirements-dev.txt", ("runtime", "dev", "build")),
    ("requirements.txt", ("runtime", "build")),
])
def test_every_requirement_is_pinned_within_its_range(lock, groups):
    pinned = pins(lock)
    stale = []
    for req in requirements(*groups):
        version = pinned.get(canonicalize_name(req.name))
        if version is None:
            stale.append(f"{req.name}: not in {lock}")
        elif not req.specifier.contains(version, prereleases=True):
            stale.append(f"{req.name}: {version} does not satisfy {req.specifier}")
    assert not stale, "run `make lock`: " + "; ".join(stale)


def test_the_image_gets_the_versions_developers_test():
    dev, runtime = pins("requirements-dev.txt"), pins("requirements.txt")
    assert runtime, "requirements.txt pins nothing"
    differ = {name: (str(v), str(dev.get(name))) for name, v in runtime.items() if dev.get(name) != v}
    assert not differ, f"requirements.txt and requirements-dev.txt disagree: {differ}"


@pytest.mark.parametrize("lock", ["requirements-dev.txt", "requirements.txt"])
def test_every_pin_carries_hashes(lock):
    text = (ROOT / lock).read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text)
    unhashed = [b.split("==")[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
    assert not unhashed


def test_every_install_reads_the_lock():
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes" in makefile and "requirements-dev.txt" in makefile
    assert not re.search(r"pip install[^\n]*-e \"?\.\[dev\]", makefile), "make installs around the lock"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements.txt" in dockerfile
    assert "lock:" in makefile and (ROOT / "scripts" / "lock.sh").is_file()
