#!/usr/bin/env bash
# tests/freshroot/run.sh — the README's two commands on a fresh Debian 12 root.
#
# Makes (once; cached as a tarball under /var/tmp) a minimal Debian 12 root:
# debootstrap --variant=minbase bookworm, plus git and ca-certificates, from
# the mirror of /etc/apt/sources.list.d/debian.sources. Clones the checkout's
# committed HEAD into a copy of it, enters it with pivot_root (not chroot:
# chroot breaks the user namespaces the sandbox makes) in new mount and PID
# namespaces, and there:
#   1. ./scripts/demo.sh must end `accepted`, and a hello world in every
#      profile GET /v1/profiles lists must be accepted;
#   2. ./scripts/test.sh must end "tests: N passed, 0 failed".
# The host is left as found: the namespaces end with their processes (so do
# farmd and its mounts), the root is removed, and no cgroup is left beneath
# this script's own (checked). Downloaded .deb files are kept between runs in
# the cache (apt's archive directory is bound there), nothing else.
#
# Needs root, and Debian's mirror. Environment:
#   FRESHROOT_REV=<commit>    clone this commit instead of HEAD
#   FRESHROOT_STEPS=demo,test which steps to run (default both)
#   FRESHROOT_CACHE=DIR       default /var/tmp/nixfarm-freshroot
#   FRESHROOT_MESON_ARGS=...  for test.sh's meson test (default --no-suite pg-e2e)
#   FRESHROOT_PREP='command'  run in the root's checkout before the first step
#                             (to show that the suite fails, e.g. with
#                             deliberately wrong pinned hashes)
# Last line: "freshroot: N passed, N failed" (one check per step and profile).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cache=${FRESHROOT_CACHE:-/var/tmp/nixfarm-freshroot}
steps=${FRESHROOT_STEPS:-demo,test}
rev=$(git -C "$top" rev-parse "${FRESHROOT_REV:-HEAD}")
passed=0
failed=0
say() { echo "freshroot: $*"; }
check() { # check NAME COMMAND...: one pass or one failure
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); say "ok   $name"; else failed=$((failed + 1)); say "FAIL $name"; fi
}
finish() {
  echo "freshroot: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}
[ "$(id -u)" = 0 ] || { say "must run as root"; failed=1; finish; exit 1; }

root=""
ns_pid=""
# The root's processes run in cgroups of this run's own, one per hierarchy
# beneath this script's cgroup there, so whatever the farm makes inside lands
# beneath them (and only there); at the end they must be empty, then go.
cg_dirs=()
make_own_cgroups() {
  local id ctl path mnt d
  while IFS=: read -r id ctl path; do
    case "$ctl" in
      "") mnt=/sys/fs/cgroup/unified; [ -f /sys/fs/cgroup/cgroup.procs ] && mnt=/sys/fs/cgroup ;;
      name=*) mnt=/sys/fs/cgroup/${ctl#name=} ;;
      *) mnt=/sys/fs/cgroup/${ctl%%,*} ;;
    esac
    d="$mnt${path%/}/nixfarm-freshroot-$$"
    [ -d "$mnt" ] && mkdir "$d" 2>/dev/null && cg_dirs+=("$d")
  done </proc/self/cgroup
  return 0
}
cgroups_empty() {
  local d left=""
  for d in "${cg_dirs[@]}"; do
    left+=$(find "$d" -mindepth 1 -type d 2>/dev/null)
    [ -s "$d/cgroup.procs" ] && left+=" $d (processes)"
  done
  [ -z "$left" ] || say "cgroups left: $left"
  [ -z "$left" ]
}
remove_own_cgroups() {
  local d
  for d in "${cg_dirs[@]}"; do
    find "$d" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$d" 2>/dev/null
  done
  cg_dirs=()
}
cleanup() {
  set +e
  if [ -n "$ns_pid" ] && kill -0 "$ns_pid" 2>/dev/null; then
    kill -KILL "$ns_pid"
    wait "$ns_pid" 2>/dev/null
  fi
  remove_own_cgroups
  if [ -n "$root" ] && [ -d "$root" ]; then
    # The mounts live in the namespace that just ended; none should be here.
    grep -o " $root[^ ]*" /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l
    rm -rf --one-file-system "$root"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the cached base root ----
mkdir -p "$cache/apt-archives/partial"
exec 9>"$cache/lock"
flock 9
if [ ! -f "$cache/base.tar" ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap >/dev/null
  fi
  say "debootstrap --variant=minbase bookworm from $mirror (cached in $cache/base.tar)"
  base=$(mktemp -d "$cache/base.XXXXXX")
  root=$base # removed by cleanup if anything below fails
  debootstrap --variant=minbase bookworm "$base" "$mirror" >"$cache/debootstrap.log" 2>&1 ||
    { say "debootstrap failed: $(tail -3 "$cache/debootstrap.log")"; exit 2; }
  cp /etc/apt/sources.list.d/debian.sources "$base/etc/apt/sources.list.d/"
  rm -f "$base/etc/apt/sources.list"
  cp /etc/resolv.conf "$base/etc/resolv.conf" 2>/dev/null || true
  unshare --mount --fork bash -c '
    set -e; mount --make-rprivate /; mount -t proc proc "$1/proc"; mount --rbind /dev "$1/dev"
    chroot "$1" bash -c "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends git ca-certificates >/dev/null && apt-get clean"
  ' _ "$base"
  chmod 755 "$base"
  tar -C "$base" -cf "$cache/base.tar.tmp" . && mv "$cache/base.tar.tmp" "$cache/base.tar"
  rm -rf --one-file-system "$base"
  root=""
fi
flock -u 9
exec 9>&-

# ---- a fresh copy with a clean clone ----
root=$(mktemp -d "$cache/root.XXXXXX")
tar -C "$root" -xf "$cache/base.tar"
chmod 755 "$root" # it becomes "/": mktemp's 0700 would shut out every other user (nixbld, nobody)
git clone -q --no-local "$top" "$root/root/nixfarm"
git -C "$root/root/nixfarm" checkout -q "$rev"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
say "root $root, checkout $(git -C "$root/root/nixfarm" log -1 --format='%h %s' | cut -c1-70)"

cat >"$root/.enter" <<'EOS'
set -e
mount --make-rprivate /
mount --bind "$R" "$R"
cd "$R"
mount --rbind /dev dev
mount --rbind /sys sys
mount --bind "$APT_CACHE" var/cache/apt/archives
mkdir -p .oldroot
pivot_root . .oldroot
cd /
mount -t proc proc /proc
umount -l /.oldroot
rmdir /.oldroot
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
cd /root/nixfarm
exec bash -c "$CMD"
EOS

# Runs CMD inside the root (a PID namespace of its own: everything it
# started, farmd included, ends with it). Output goes to LOG and stdout.
in_root() { # in_root LOG CMD
  local log=$1
  : >"$log"
  R="$root" CMD="$2" APT_CACHE="$cache/apt-archives" \
    sh -c 'for d; do echo $$ >"$d/cgroup.procs"; done; exec unshare --mount --pid --fork --kill-child bash "$R/.enter"' \
    _ "${cg_dirs[@]}" >"$log" 2>&1 &
  ns_pid=$!
  # tail in the background: bash runs the INT/TERM trap (and so cleanup)
  # at once while in `wait`, not only after a foreground command ends.
  tail -n +1 --pid="$ns_pid" -f "$log" &
  local tail_pid=$! rc=0
  wait "$ns_pid" || rc=$?
  wait "$tail_pid" || true
  ns_pid=""
  return $rc
}
# The demo's own verdict line (farm submit's summary), not the hello lines.
demo_ok() { grep -q '^accepted (' "$1" && ! grep -q 'deps_failed' "$1"; }
# What scripts/demo.sh installs makes these (debian-packages.txt).
core_profiles="python3 c cpp c-tcc lua bash c-clang cpp-clang fortran java perl"
line_accepted() { [[ "$1" == *" accepted "* ]]; }
test_ok() { [ "$1" = 0 ] && [[ "$2" == *" passed, 0 failed"* ]]; }
host_clean() {
  ! grep -q " $cache/root\." /proc/self/mountinfo && ! compgen -G "$cache/root.*" >/dev/null
}

make_own_cgroups
t0=$(date +%s)
# Logs stay in the checkout's build tree (ignored by git), not on the host.
logdir=${FRESHROOT_LOGS:-$top/build-freshroot}
mkdir -p "$logdir"
if [[ ",$steps," == *,demo,* ]]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  in_root "$logdir/demo.log" "export FARM_API_LISTEN=127.0.0.1:$port
    ${FRESHROOT_PREP:-true}
    ./scripts/demo.sh 2>&1 | tee /tmp/demo.out
    ./build/cli/farm run --help | sed -n '/^Packages on/,\$p'
    python3 tests/freshroot/hello_profiles.py http://127.0.0.1:$port
    # Stopped as the README says, so it cleans up after itself.
    pid=\$(cat var/nixfarm/farmd.pid) && kill \$pid && while kill -0 \$pid 2>/dev/null; do sleep 0.2; done" || true
  check "demo.sh: the demo submission is accepted" demo_ok "$logdir/demo.log"
  while read -r line; do
    name=$(awk '{print $2}' <<<"$line")
    # The demo installs the core set only: a language whose Debian packages
    # the demo does not install (scripts/install-languages.sh adds them) is
    # reported unavailable, with the reason, and not run. The core profiles
    # must all run: a fresh machine that cannot is the failure this suite is for.
    if [[ "$line" == *" unavailable "* ]] && ! [[ " $core_profiles " == *" $name "* ]]; then
      say "--   $name unavailable on a fresh machine: ${line#* unavailable }" | cut -c1-220
      continue
    fi
    check "hello world in profile $name" line_accepted "$line"
  done < <(grep '^hello [a-z]' "$logdir/demo.log" || true)
  check "every profile of GET /v1/profiles answered" grep -q '^hello: [1-9][0-9]* passed, 0 failed' "$logdir/demo.log"
fi
if [[ ",$steps," == *,test,* ]]; then
  rc=0
  prep=true
  [[ ",$steps," == *,demo,* ]] || prep=${FRESHROOT_PREP:-true}
  # The fuzzers are the machine's least dependent part: in the root they are
  # built and run briefly (the host's run gives them their full time). The
  # end-to-end suites' PostgreSQL twins (suite pg-e2e) are the host's too: the
  # same code on the same kernel, and what a fresh root can break of them, a
  # Debian server that starts, the store unit tests' -pg twins prove here;
  # .ci/run stays within its time that way (FRESHROOT_MESON_ARGS= runs all).
  in_root "$logdir/test.log" "$prep
    FARM_FUZZ_SECONDS=${FRESHROOT_FUZZ_SECONDS:-10} \
    FARM_TEST_MESON_ARGS='${FRESHROOT_MESON_ARGS---no-suite pg-e2e}' ./scripts/test.sh" || rc=$?
  last=$(grep '^tests: ' "$logdir/test.log" | tail -1 || true)
  say "inside the root: ${last:-no summary line}"
  check "test.sh: tests: N passed, 0 failed" test_ok "$rc" "$last"
fi
check "no cgroup left beneath the run's own" cgroups_empty
cleanup
root=""
check "host left clean (no mounts, no root, no own cgroups)" host_clean
check "own cgroups removed" eval '[ ${#cg_dirs[@]} = 0 ]'
say "took $(($(date +%s) - t0)) s; logs in $logdir"
finish
