#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver (chromedriver) are installed, through
# apt-get when they are missing and this user may do so. Only the browser tests
# (tests/browser/, which step through the page of explain(...).to_html()) need them.
set -euo pipefail

have_browser() {
    { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } &&
        command -v chromedriver >/dev/null 2>&1
}

if have_browser; then
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
        echo "installing chromium and chromium-driver (for the browser tests) with apt-get"
        start=$SECONDS
        $sudo apt-get update -qq
        # A font of its own, so that the screenshots show text wherever dot came from.
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver fonts-dejavu-core >/dev/null
        echo "installed chromium and chromium-driver in $((SECONDS - start)) s"
        have_browser && exit 0
    fi
fi

msg="headless Chromium or chromedriver is missing; install them (apt-get install chromium chromium-driver)"
if [ "${CI:-}" = true ]; then
    echo "error: $msg" >&2
    exit 1
fi
echo "warning: $msg; the browser tests will be skipped" >&2
