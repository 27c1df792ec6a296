#!/usr/bin/env bash
# Refresh the dependency locks from pyproject.toml's ranges (make lock).
#   requirements-dev.txt      runtime + dev extras + build backend: make dev, make test, CI
#   requirements.txt  runtime + build backend only, the same versions: the container image
# Exact versions with hashes; pip installs them with --require-hashes.
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
common=(--python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes --quiet
        --custom-compile-command "make lock")
"$UV" pip compile "${common[@]}" pyproject.toml requirements-build.in --extra dev \
  -o requirements-dev.txt "$@"
"$UV" pip compile "${common[@]}" pyproject.toml requirements-build.in --constraint requirements-dev.txt \
  -o requirements.txt
echo "locks written: requirements-dev.txt, requirements.txt"
