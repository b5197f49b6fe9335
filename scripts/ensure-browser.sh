#!/usr/bin/env bash
# Make sure headless Chromium and its WebDriver (chromedriver) are installed, through
# apt-get when they are missing and this user may do so. Only the browser tests
# (tests/browser/, which step through the page of explain(...).to_html()) need them.
set -euo pipefail
source "$(dirname "$0")/apt-install.sh"

have_browser() {
    { command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } &&
        command -v chromedriver >/dev/null 2>&1
}

have_browser && exit 0
# A font of its own, so that the screenshots show text wherever dot came from.
apt_install "chromium and chromium-driver (for the browser tests)" chromium chromium-driver fonts-dejavu-core &&
    have_browser && exit 0
missing "headless Chromium or chromedriver is missing; install them (apt-get install chromium chromium-driver)" \
    "the browser tests will be skipped"
