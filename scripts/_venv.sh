# Sourced by scripts/serve and scripts/test: makes .venv with Python >= 3.11 and installs the
# project into it (with the extras named in $1, if any). Installs Debian packages it needs as root.
set -euo pipefail

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "incidentd: please install the Debian packages: $*" >&2
    exit 1
  fi
  if [ -z "${_APT_UPDATED:-}" ]; then
    apt-get update -qq
    _APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

python_bin() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "incidentd: Python 3.11 or newer is required" >&2
  exit 1
}

make_venv() {
  local extras="${1:-}" py
  py=$(python_bin)
  if [ ! -x .venv/bin/python ]; then
    if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
      apt_install python3-venv
    fi
    "$py" -m venv .venv
    .venv/bin/python -m pip install -q --upgrade pip
  fi
  .venv/bin/python -m pip install -q -e ".${extras:+[$extras]}"
}
