#!/bin/sh
# Install seoulfall into ./.venv (a virtual environment of its own), on any system: also on
# Debian/Ubuntu and other "externally managed" Pythons (PEP 668), where `pip install` into
# the system Python is refused. Extras go through: `sh install.sh "[test]"`.
#
# 1. `python3 -m venv .venv` (with pip inside when the system has ensurepip);
# 2. where ensurepip is missing (Debian without python3-venv), a venv without pip, into
#    which the system's pip installs (`pip --python`, pip >= 22.3);
# 3. then `pip install -e .` into the venv. Run it again to update; it never touches the
#    system's packages.
set -eu
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
EXTRAS="${1:-}"
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "install.sh: $PY not found; install Python >= 3.10 (Debian/Ubuntu: apt install python3)" >&2
    exit 2
fi
if [ ! -x .venv/bin/python ]; then
    if [ "${SEOULFALL_NO_ENSUREPIP:-}" = "" ] && "$PY" -m venv .venv >/dev/null 2>&1; then
        :
    else
        rm -rf .venv
        "$PY" -m venv --without-pip .venv
    fi
fi
if .venv/bin/python -m pip --version >/dev/null 2>&1; then
    .venv/bin/python -m pip install -q -e ".$EXTRAS"
elif "$PY" -m pip --version >/dev/null 2>&1; then
    "$PY" -m pip --python .venv/bin/python install -q -e ".$EXTRAS"
else
    echo "install.sh: no pip for $PY; install one (Debian/Ubuntu: apt install python3-venv, or python3-pip)" >&2
    exit 2
fi
echo "seoulfall installed in $(pwd)/.venv: run .venv/bin/seoulfall (or '. .venv/bin/activate' first)"
