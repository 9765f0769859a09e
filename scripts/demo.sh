#!/usr/bin/env bash
# Fresh Debian 12 machine (root) -> nixfarm running on its embedded defaults,
# plus one demo submission. Installs what is missing, builds a release tree in
# ./build, starts farmd in the background (state in ./var/nixfarm, API on
# 127.0.0.1:8080, log in ./var/nixfarm/farmd.log) and sends a C hello world.
# Stop it with: kill "$(cat var/nixfarm/farmd.pid)"
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"
[ -d build ] || meson setup build --buildtype=release -Dtests=false
ninja -C build
mkdir -p var/nixfarm
listen=${FARM_API_LISTEN:-127.0.0.1:8080}
if [ -f var/nixfarm/farmd.pid ] && kill -0 "$(cat var/nixfarm/farmd.pid)" 2>/dev/null; then
  echo "demo: farmd already running (pid $(cat var/nixfarm/farmd.pid))"
else
  nohup ./build/daemon/farmd >>var/nixfarm/farmd.log 2>&1 </dev/null &
  echo $! > var/nixfarm/farmd.pid
  echo "demo: started farmd pid $! on http://$listen (log: var/nixfarm/farmd.log)"
fi
for _ in $(seq 1 200); do
  curl -fsS "http://$listen/v1/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://$listen/v1/health" >/dev/null || { echo "demo: farmd did not come up"; tail -50 var/nixfarm/farmd.log; exit 1; }
echo "demo: submitting a C hello world (the first run builds the gcc set into the Nix store)"
./build/cli/farm --server "http://$listen" submit --profile c --tests "$top/scripts/demo/tests" \
  "$top/scripts/demo/main.c"
