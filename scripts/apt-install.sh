# Sourced by ensure-dot.sh and ensure-browser.sh: install Debian packages when this
# user may (root, or password-less sudo), and report a missing program.

# apt_install WHAT PACKAGE...: install the packages with apt-get; fails when it cannot.
apt_install() {
    local what=$1 sudo=""
    shift
    command -v apt-get >/dev/null 2>&1 || return 1
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null || return 1
        sudo="sudo -n"
    fi
    echo "installing $what with apt-get"
    local start=$SECONDS
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
    echo "installed $what in $((SECONDS - start)) s"
}

# missing MESSAGE CONSEQUENCE: in CI (CI=true) an error; elsewhere a warning saying what follows.
missing() {
    if [ "${CI:-}" = true ]; then
        echo "error: $1" >&2
        exit 1
    fi
    echo "warning: $1; $2" >&2
    exit 0
}
