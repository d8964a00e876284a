#!/usr/bin/env bash
# Installs the Debian packages that provide missing commands, quietly and only when missing.
#   scripts/ensure-packages.sh COMMAND:PACKAGE [COMMAND:PACKAGE ...]
# A COMMAND that starts with "pkg-config=" checks a pkg-config module, one that starts with
# "python=" a Python module importable by /usr/bin/python3 or python3, one that starts with
# "file=" a file (a library's sources, for example), instead of a command. One that starts with
# "pip=" is a Python module that python3 must import; PACKAGE is then a PyPI package, installed
# with pip (for the test clients: grpcio, grpcio-health-checking).
set -euo pipefail
missing=()
pip_missing=()
for pair in "$@"; do
  cmd=${pair%%:*}
  pkg=${pair#*:}
  if [[ $cmd == pip=* ]]; then
    python3 -c "import ${cmd#pip=}" >/dev/null 2>&1 || pip_missing+=("$pkg")
    continue
  elif [[ $cmd == pkg-config=* ]]; then
    pkg-config --exists "${cmd#pkg-config=}" 2>/dev/null && continue
  elif [[ $cmd == file=* ]]; then
    [ -e "${cmd#file=}" ] && continue
  elif [[ $cmd == python=* ]]; then
    for py in /usr/bin/python3 python3; do
      "$py" -c "import ${cmd#python=}" >/dev/null 2>&1 && continue 2
    done
  else
    command -v "$cmd" >/dev/null 2>&1 && continue
  fi
  missing+=("$pkg")
done
install_pip() {
  if [ ${#pip_missing[@]} -gt 0 ]; then
    echo "installing missing Python packages: ${pip_missing[*]}" >&2
    log=$(mktemp)
    # Debian's own Python refuses pip outside a virtual environment (PEP 668) unless told.
    if ! { python3 -m pip install -q --disable-pip-version-check "${pip_missing[@]}" >"$log" 2>&1 ||
           python3 -m pip install -q --disable-pip-version-check --break-system-packages "${pip_missing[@]}" >>"$log" 2>&1; }; then
      cat "$log" >&2
      echo "error: could not install ${pip_missing[*]} with pip" >&2
      exit 1
    fi
    rm -f "$log"
  fi
}
if [ ${#missing[@]} -eq 0 ]; then install_pip; exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "error: missing packages (${missing[*]}); install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "installing missing packages: ${missing[*]}" >&2
log=$(mktemp)
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1 ||
       { $sudo apt-get update -qq >>"$log" 2>&1 && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; }; }; then
  cat "$log" >&2
  echo "error: could not install ${missing[*]}" >&2
  exit 1
fi
rm -f "$log"
install_pip
