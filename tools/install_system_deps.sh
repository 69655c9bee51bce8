#!/usr/bin/env bash
# Installs the Debian speech tools the corpus generator uses (flite, festival + voices, sox, espeak-ng).
# Idempotent: does nothing when they are present. Without root/apt it explains and exits 0;
# the tests that need the tools then skip with that reason, except under CI=true where they fail.
set -u
pkgs="flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox espeak-ng"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
echo "installing speech tools:$missing"
if command -v apt-get >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  if $SUDO true 2>/dev/null; then
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null && exit 0
  fi
fi
echo "WARNING: could not install$missing (need root and apt-get). Corpus generation and its tests will be skipped." >&2
exit 0
