#!/usr/bin/env bash
# Installs the Debian packages of the languages in debian-languages.txt.
#   scripts/install-languages.sh            all of them
#   scripts/install-languages.sh ci         the ones CI tests (column 2 "ci")
#   scripts/install-languages.sh ruby go    a chosen few (profile names)
# Needs root. The farm notices the dpkg change by itself and regenerates its
# package set on its next use (docs/packages.md); no restart is needed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
list=$top/debian-languages.txt
want=("$@")
[ ${#want[@]} -gt 0 ] || want=(all)
pkgs=()
for w in "${want[@]}"; do
  found=0
  while read -r name ci debs; do
    if [ "$w" = all ] || [ "$w" = "$name" ] || { [ "$w" = ci ] && [ "$ci" = ci ]; }; then
      read -ra d <<<"$debs"
      pkgs+=("${d[@]}")
      found=1
    fi
  done < <(grep -v '^\s*#' "$list" | awk 'NF')
  if [ $found = 0 ]; then
    echo "install-languages: unknown language $w (see $list)" >&2
    exit 2
  fi
done
missing=()
for p in $(printf '%s\n' "${pkgs[@]}" | sort -u); do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-languages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
