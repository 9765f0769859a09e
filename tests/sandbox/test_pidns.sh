#!/bin/bash
# test_pidns.sh — two farms in two PID namespaces at once (issue 10): each is
# PID 1 (or another small pid) in its own namespace, on one cgroup filesystem.
# Their cgroups must not collide, a run of one must never be killed by the
# other starting, and --cleanup-stale in one namespace must not touch what a
# live farm of another made. Then the host holds nothing of them.
# usage: test_pidns.sh FARM_SANDBOX ABUSE_PROGRAM      (prints TAP)
set -u
FS=$1
ABUSE=$2
. "$(dirname "$0")/tap.sh"
T=$(mktemp -d /tmp/nixfarm-sbxpidns-XXXXXX)
UA=64300
UB=64301
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    wait 2>/dev/null
    umount -l "$T/nix/store" 2>/dev/null
    rm -rf --one-file-system -- "$T"
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP
# The pid namespace this script runs in: every farm of the test runs in a new
# one, so a pool group named for this namespace (nixfarm-sandbox.<ns>.<pid>...)
# is another farm's on the same host (another test run), never ours.
HOSTNS=$(stat -L -c %i /proc/self/ns/pid)
# the pool groups (of the naming that says who made them) beneath our own
# cgroups, made from a namespace other than ours
groups() {
    while IFS=: read -r _ ctrl path; do
        case ",$ctrl," in *,memory,*|*,pids,*|*,cpuacct,*) ;; *) continue ;; esac
        c=${ctrl%%,*}
        d=/sys/fs/cgroup/$ctrl$path
        [ -d "$d" ] || d=/sys/fs/cgroup/$c$path
        ls -d "$d"/nixfarm-sandbox.* 2>/dev/null
    done </proc/self/cgroup | grep -v "/nixfarm-sandbox\.$HOSTNS\." | sort
}
procs_of() { # number of processes of uid $1
    ps -e -o uid= | awk -v u="$1" '$1 == u' | wc -l
}
# waits (bounded: a hang must not hang the test) until uid $1 runs something
wait_running() {
    for _ in $(seq 1 1000); do
        [ "$(procs_of "$1")" -gt 0 ] && return 0
        sleep 0.01
    done
    return 1
}
mkdir -p "$T/nix/store"
mount -t tmpfs -o size=32m pidnsstore "$T/nix/store"
SP=/nix/store/0000000000000000000000000000pidn-abuse
mkdir -p "$T$SP/bin"
cp "$ABUSE" "$T$SP/bin/abuse"
P=$SP/bin/abuse
before=$(groups)

# 1. A and B, each PID 1 of its namespace, at once.
unshare --pid --fork --mount-proc "$FS" --uid $UA --store-root "$T" --store $SP --wall 3000 \
    --meta "$T/metaA" -- $P sleep >/dev/null 2>&1 &
a=$!
pids+=($a)
wait_running $UA
ok $? "farm A (PID 1 of its namespace) runs a sleeper"
unshare --pid --fork --mount-proc "$FS" --uid $UB --store-root "$T" --store $SP \
    --meta "$T/metaB" -- $P whoami >"$T/outB" 2>&1
rb=$?
ok $([ $rb -eq 0 ] && grep -q 'uid=1000' "$T/outB"; echo $?) "farm B (PID 1 of another namespace) runs beside it"
wait $a
ra=$?
ok $([ $ra -eq 1 ] && grep -q '^limit:wall$' "$T/metaA"; echo $?) \
    "farm A's run ends by its own wall limit, untouched by B (exit $ra: $(tr '\n' ' ' <"$T/metaA" | cut -c1-200))"

# 2. --cleanup-stale in another namespace, where A's pid is free, while A runs.
unshare --pid --fork --mount-proc sh -c "/bin/true; /bin/true; exec '$FS' --uid $UA --store-root '$T' \
    --store $SP --wall 3000 --meta '$T/metaA2' -- $P sleep" >/dev/null 2>&1 &
a=$!
pids+=($a)
wait_running $UA
ok $? "farm A (pid 4 of its namespace) runs a sleeper"
mkdir -p "$T/boxes"
unshare --pid --fork --mount-proc sh -c "/bin/true; '$FS' --cleanup-stale '$T/boxes'" >"$T/outC" 2>&1
ok $([ "$(procs_of $UA)" -gt 0 ]; echo $?) "--cleanup-stale from another namespace leaves A's sandbox running ($(cat "$T/outC"))"
wait $a
ra=$?
ok $([ $ra -eq 1 ] && grep -q '^limit:wall$' "$T/metaA2"; echo $?) \
    "farm A's run ends by its own wall limit (exit $ra: $(tr '\n' ' ' <"$T/metaA2" | cut -c1-200))"

# 3. Nothing left.
sleep_left=$(($(procs_of $UA) + $(procs_of $UB)))
after=$(groups)
# Only what appeared counts: a group that went meanwhile was another farm's.
new=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
ok $([ $sleep_left -eq 0 ] && [ -z "${new// /}" ]; echo $?) \
    "host clean: no process of the uids ($sleep_left), no new cgroup ($new)"
tap_done
