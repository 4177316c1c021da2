#!/usr/bin/env bash
# Install thumbor 7.x into its own venv for the on-demand comparison (bench/ondemand.py).
#
#   bench/setup_thumbor.sh [VENV]      default VENV: bench/out/thumbor-venv
#
# Idempotent: does nothing when VENV/bin/thumbor already runs. thumbor ships a binary
# wheel (its C extensions included) and pulls Pillow and pycurl; pycurl has wheels for
# common Pythons, and when pip has to build it from source it needs libcurl headers,
# which this script installs with apt-get (as root) only in that case.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/out/thumbor-venv}"
python="${PYTHON:-python3}"

if "$venv/bin/thumbor" --version >/dev/null 2>&1; then
    echo "thumbor already installed: $("$venv/bin/thumbor" --version 2>&1 | head -1)"
    exit 0
fi

mkdir -p "$(dirname "$venv")"
"$python" -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip

if ! "$venv/bin/pip" install -q 'thumbor==7.*' pycurl; then
    echo "pip could not install thumbor/pycurl; trying with libcurl headers" >&2
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -q
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q libcurl4-openssl-dev libssl-dev
    fi
    "$venv/bin/pip" install -q 'thumbor==7.*' pycurl
fi

echo "installed: $("$venv/bin/thumbor" --version 2>&1 | head -1)"
