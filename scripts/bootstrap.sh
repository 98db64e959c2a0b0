# Sourced by scripts/demo and scripts/test: installs what the project needs on a fresh machine
# (Debian packages as root, a virtualenv with the project and its dev tools), then activates it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)  # the dashboard's browser tests
# deploy/prometheus: promtool checks the alert rules, tests/integration/ops runs a Prometheus
{ [ -x /usr/bin/prometheus ] && [ -x /usr/bin/promtool ]; } || need_apt+=(prometheus)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  # The packages start a system broker / Prometheus; we never use them (tests and demo run
  # their own, on free loopback ports).
fi

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
# Reinstall only when pyproject.toml changed since the last install.
stamp=.venv/.pes-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "== installing the project and its dev tools into .venv"
  # Quiet unless it fails: setuptools' editable-install notices are noise for a newcomer.
  if ! { .venv/bin/python -m pip install -q --upgrade pip &&
         .venv/bin/python -m pip install -q -e '.[dev]'; } > .venv/pip.log 2>&1; then
    cat .venv/pip.log >&2
    echo "pip install failed (log: .venv/pip.log)" >&2
    exit 1
  fi
  touch "$stamp"
fi
# shellcheck disable=SC1091
source .venv/bin/activate
