#!/usr/bin/env bash
# Provisions the Asterisk 22 sandbox: a Debian sid chroot (debootstrap) with asterisk installed.
# Cached in $SANDBOX_DIR (default: .sandbox/asterisk-root, git-ignored) and reused when complete.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
root=${SANDBOX_DIR:-$here/.sandbox/asterisk-root}
stamp=$root/.switchboard-provisioned
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# French sounds: the example dialplans let callers choose French (tests/e2e/test_queue_prompts.py)
packages=(asterisk asterisk-modules asterisk-core-sounds-en-gsm asterisk-core-sounds-fr
  asterisk-core-sounds-fr-gsm asterisk-moh-opsound-gsm)
apt_opts=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false)
if [ -f "$stamp" ]; then
  # a sandbox cached before a package joined the list gets it added, not rebuilt
  missing=()
  if [ "$(id -u)" = 0 ]; then
    for package in "${packages[@]}"; do
      chroot "$root" dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
        || missing+=("$package")
    done
  fi
  if [ ${#missing[@]} -gt 0 ]; then
    echo "sandbox: adding ${missing[*]} to the cached sandbox at $root"
    chroot "$root" apt-get "${apt_opts[@]}" update
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" install -y "${missing[@]}"
  fi
  echo "sandbox: cached at $root"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "sandbox: provisioning needs root (debootstrap, chroot)" >&2; exit 2; fi
command -v debootstrap >/dev/null || { echo "sandbox: install debootstrap (apt-get install debootstrap)" >&2; exit 2; }
start=$(date +%s)
rm -rf "$root"; mkdir -p "$root"
debootstrap --variant=minbase sid "$root" "$mirror"
chroot "$root" apt-get "${apt_opts[@]}" update
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" install -y "${packages[@]}"
# Hostname resolution inside the chroot: otherwise every call blocks on DNS look-ups.
echo "127.0.0.1 localhost $(hostname)" > "$root/etc/hosts"
chroot "$root" /usr/sbin/asterisk -V > "$stamp"
echo "sandbox: $(cat "$stamp") provisioned in $(( $(date +%s) - start ))s at $root"
