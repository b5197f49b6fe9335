#!/usr/bin/env bash
# Make sure graphviz's `dot` program is on PATH, installing it through apt-get
# when it is missing and this user may do so. Without it, chainrule still
# produces DOT source; only rendering to SVG/PNG/PDF needs it.
set -euo pipefail

if command -v dot >/dev/null 2>&1; then
    exit 0
fi

if command -v apt-get >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        sudo="unavailable"
    fi
    if [ "$sudo" != unavailable ]; then
        echo "installing graphviz (the dot program) with apt-get"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends graphviz >/dev/null
        command -v dot >/dev/null 2>&1 && exit 0
    fi
fi

msg="graphviz's dot program is missing; install it (apt-get install graphviz, brew install graphviz, or see https://graphviz.org/download/)"
if [ "${CI:-}" = true ]; then
    echo "error: $msg" >&2
    exit 1
fi
echo "warning: $msg; graphs will be written as DOT source only" >&2
