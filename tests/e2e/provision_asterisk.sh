#!/usr/bin/env bash
# Provisions the Asterisk 22 sandbox: a Debian sid chroot (debootstrap) with asterisk installed, then the prompts and
# music on hold converted once to 8 kHz µ-law (a .ulaw beside each .gsm, made by sox installed in the chroot), so
# Asterisk streams them to µ-law callers without transcoding GSM on every call (format_pcm.so in
# asterisk-conf/modules.conf reads them; without it the .gsm files play as before).
# Cached in $SANDBOX_DIR (default: .sandbox/asterisk-root, git-ignored). Each part has its own stamp file and is
# skipped when its stamp is there, so re-running is cheap and an older sandbox only gets the part it lacks.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
root=${SANDBOX_DIR:-$here/.sandbox/asterisk-root}
stamp=$root/.switchboard-provisioned
ulaw_stamp=$root/.switchboard-ulaw-prompts
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -f "$stamp" ] && [ -f "$ulaw_stamp" ]; then
  echo "sandbox: cached at $root"; exit 0
fi
if [ "$(id -u)" != 0 ]; then echo "sandbox: provisioning needs root (debootstrap, chroot)" >&2; exit 2; fi
apt_opts=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false)
start=$(date +%s)
if [ ! -f "$stamp" ]; then
  command -v debootstrap >/dev/null || { echo "sandbox: install debootstrap (apt-get install debootstrap)" >&2; exit 2; }
  rm -rf "$root"; mkdir -p "$root"
  debootstrap --variant=minbase sid "$root" "$mirror"
  chroot "$root" apt-get "${apt_opts[@]}" update
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" install -y asterisk asterisk-modules \
    asterisk-core-sounds-en-gsm asterisk-moh-opsound-gsm
  # Hostname resolution inside the chroot: otherwise every call blocks on DNS look-ups.
  echo "127.0.0.1 localhost $(hostname)" > "$root/etc/hosts"
  chroot "$root" /usr/sbin/asterisk -V > "$stamp"
  echo "sandbox: $(cat "$stamp") provisioned in $(( $(date +%s) - start ))s at $root"
fi
if [ ! -f "$ulaw_stamp" ]; then
  # The package lists may be older than the sandbox: refresh them before asking for sox.
  chroot "$root" apt-get "${apt_opts[@]}" -qq update
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" -qq install -y sox >/dev/null
  # Every core English prompt (other languages fall back to them) and the music on hold. Each file is written
  # under a temporary name and renamed, so an interrupted run never leaves a truncated .ulaw for Asterisk to play.
  chroot "$root" /bin/sh -c '
    set -e
    n=0
    for f in $(find -L /usr/share/asterisk/sounds/en /usr/share/asterisk/moh -name "*.gsm"); do
      sox -q "$f" -r 8000 -c 1 -t ul "${f%.gsm}.ulaw.part"
      mv "${f%.gsm}.ulaw.part" "${f%.gsm}.ulaw"
      n=$((n + 1))
    done
    echo "$n prompts and music on hold files as 8 kHz mu-law"' > "$ulaw_stamp.part"
  mv "$ulaw_stamp.part" "$ulaw_stamp"
  echo "sandbox: $(cat "$ulaw_stamp") in $(( $(date +%s) - start ))s"
fi
