#!/usr/bin/env bash
# Provisions the Asterisk 22 sandbox: a Debian sid chroot (debootstrap) with asterisk and its English and French core
# sounds installed, then the prompts and music on hold converted once to 8 kHz µ-law (a .ulaw beside each .gsm, made by
# sox installed in the chroot), so Asterisk streams them to µ-law callers without transcoding GSM on every call
# (format_pcm.so in asterisk-conf/modules.conf reads them; without it the .gsm files play as before).
# Cached in $SANDBOX_DIR (default: .sandbox/asterisk-root, git-ignored). Each part has its own stamp file and is
# skipped when its stamp is there, so re-running is cheap and an older sandbox only gets the part it lacks (a package
# added to the list below is added to a cached sandbox).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
root=${SANDBOX_DIR:-$here/.sandbox/asterisk-root}
stamp=$root/.switchboard-provisioned
# the languages converted to µ-law are in the stamp's name: a new language converts again
ulaw_languages=(en fr)
ulaw_stamp=$root/.switchboard-ulaw-prompts-$(IFS=-; echo "${ulaw_languages[*]}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# French sounds: the example dialplans let callers choose French (tests/e2e/test_queue_prompts.py)
packages=(asterisk asterisk-modules asterisk-core-sounds-en-gsm asterisk-core-sounds-fr
  asterisk-core-sounds-fr-gsm asterisk-moh-opsound-gsm)
apt_opts=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false)
if [ "$(id -u)" != 0 ]; then
  if [ -f "$stamp" ] && [ -f "$ulaw_stamp" ]; then echo "sandbox: cached at $root"; exit 0; fi
  echo "sandbox: provisioning needs root (debootstrap, chroot)" >&2; exit 2
fi
start=$(date +%s)
if [ -f "$stamp" ]; then
  # a sandbox cached before a package joined the list gets it added, not rebuilt
  missing=()
  for package in "${packages[@]}"; do
    chroot "$root" dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "sandbox: adding ${missing[*]} to the cached sandbox at $root"
    chroot "$root" apt-get "${apt_opts[@]}" update
    DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" install -y "${missing[@]}"
    rm -f "$ulaw_stamp"
  fi
else
  command -v debootstrap >/dev/null || { echo "sandbox: install debootstrap (apt-get install debootstrap)" >&2; exit 2; }
  rm -rf "$root"; mkdir -p "$root"
  debootstrap --variant=minbase sid "$root" "$mirror"
  chroot "$root" apt-get "${apt_opts[@]}" update
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" install -y "${packages[@]}"
  # Hostname resolution inside the chroot: otherwise every call blocks on DNS look-ups.
  echo "127.0.0.1 localhost $(hostname)" > "$root/etc/hosts"
  chroot "$root" /usr/sbin/asterisk -V > "$stamp"
  echo "sandbox: $(cat "$stamp") provisioned in $(( $(date +%s) - start ))s at $root"
fi
if [ ! -f "$ulaw_stamp" ]; then
  # The package lists may be older than the sandbox: refresh them before asking for sox.
  chroot "$root" apt-get "${apt_opts[@]}" -qq update
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_opts[@]}" -qq install -y sox >/dev/null
  folders=""
  for language in "${ulaw_languages[@]}"; do folders="$folders /usr/share/asterisk/sounds/$language"; done
  # Every core prompt of those languages and the music on hold. Each file is written under a temporary name and
  # renamed, so an interrupted run never leaves a truncated .ulaw for Asterisk to play.
  chroot "$root" /bin/sh -c '
    set -e
    n=0
    for f in $(find -L '"$folders"' /usr/share/asterisk/moh -name "*.gsm"); do
      sox -q "$f" -r 8000 -c 1 -t ul "${f%.gsm}.ulaw.part"
      mv "${f%.gsm}.ulaw.part" "${f%.gsm}.ulaw"
      n=$((n + 1))
    done
    echo "$n prompts and music on hold files as 8 kHz mu-law"' > "$ulaw_stamp.part"
  mv "$ulaw_stamp.part" "$ulaw_stamp"
  echo "sandbox: $(cat "$ulaw_stamp") in $(( $(date +%s) - start ))s"
else
  echo "sandbox: cached at $root"
fi
