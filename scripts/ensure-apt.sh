#!/usr/bin/env bash
# Installs the named Debian packages when they are missing (CI runs as root on a fresh machine).
# Usage: scripts/ensure-apt.sh capnproto chromium ...
set -euo pipefail
missing=()
for pkg in "$@"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "flock: installing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "flock: need root to apt-get install ${missing[*]}; install them and run again" >&2
  exit 1
fi
# apt may be busy for a moment right after boot; wait for the lock rather than failing.
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=300 update -qq
apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "flock: installed Debian packages: ${missing[*]}"
