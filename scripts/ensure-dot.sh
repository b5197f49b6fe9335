#!/usr/bin/env bash
# Make sure graphviz's `dot` program is on PATH, installing it through apt-get
# when it is missing and this user may do so. Without it, chainrule still
# produces DOT source; only rendering to SVG/PNG/PDF needs it.
set -euo pipefail
source "$(dirname "$0")/apt-install.sh"

command -v dot >/dev/null 2>&1 && exit 0
apt_install "graphviz (the dot program)" graphviz && command -v dot >/dev/null 2>&1 && exit 0
missing "graphviz's dot program is missing; install it (apt-get install graphviz, brew install graphviz, or see https://graphviz.org/download/)" \
    "graphs will be written as DOT source only"
