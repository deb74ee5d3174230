#!/usr/bin/env bash
# Provisions the Asterisk 22 sandbox: a Debian sid chroot (debootstrap) with asterisk installed.
# Cached in $SANDBOX_DIR (default: .sandbox/asterisk-root, git-ignored) and reused when complete.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
root=${SANDBOX_DIR:-$here/.sandbox/asterisk-root}
stamp=$root/.switchboard-provisioned
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -f "$stamp" ]; then
  echo "sandbox: cached at $root"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "sandbox: provisioning needs root (debootstrap, chroot)" >&2; exit 2; fi
command -v debootstrap >/dev/null || { echo "sandbox: install debootstrap (apt-get install debootstrap)" >&2; exit 2; }
start=$(date +%s)
rm -rf "$root"; mkdir -p "$root"
debootstrap --variant=minbase sid "$root" "$mirror"
apt_opts=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false)
chroot "$root" apt-get "${apt_opts[@]}" update
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" install -y asterisk asterisk-modules \
  asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm
# Hostname resolution inside the chroot: otherwise every call blocks on DNS look-ups.
echo "127.0.0.1 localhost $(hostname)" > "$root/etc/hosts"
chroot "$root" /usr/sbin/asterisk -V > "$stamp"
echo "sandbox: $(cat "$stamp") provisioned in $(( $(date +%s) - start ))s at $root"
