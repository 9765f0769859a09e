#!/bin/bash
# test_check.sh — `farm-sandbox --check [--json]` reports the features this
# machine really has: each is held against a probe of the test's own
# (/proc/self/ns and util-linux's unshare, mountinfo and /proc/self/cgroup,
# raw syscalls and the i386/x32 ABIs tried by the abuse program on the host).
# usage: test_check.sh FARM_SANDBOX ABUSE_PROGRAM [FARMD]      (prints TAP)
set -u
FS=$1
ABUSE=$2
. "$(dirname "$0")/tap.sh"
FARMD=${3:-}
. "$(dirname "$0")/hostprobe.sh"
T=$(mktemp -d /tmp/nixfarm-sbxcheck-XXXXXX)
UID0=$((74000 + ($$ % 1000) * 4)) # our own uids: other checkouts may test at once
FARMD_PID=
cleanup() {
    [ -n "$FARMD_PID" ] && kill "$FARMD_PID" 2>/dev/null && wait "$FARMD_PID" 2>/dev/null
    rm -rf --one-file-system -- "$T"
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP
yn() { [ "$1" -eq 0 ] && echo true || echo false; }

"$FS" --uid $UID0 --check --json >"$T/json" 2>"$T/err"; rc=$?
jq -e . "$T/json" >/dev/null; ok $? "--check --json prints one JSON object"
feat() { jq -r --arg n "$1" '.features[] | select(.name == $n) | .present' "$T/json"; }
missing=$(jq '[.features[] | select(.need == "required" and .present == false)] | length' "$T/json")
pool_err=$(jq -r '.pool_error // empty' "$T/json")
want_rc=0
[ "$missing" -gt 0 ] || [ -n "$pool_err" ] && want_rc=1
ok $([ "$rc" -eq $want_rc ] && [ "$(jq .missing_required "$T/json")" -eq "$missing" ]; echo $?) \
    "exit $rc: $missing required feature(s) missing${pool_err:+, pool: $pool_err}"
jq -r '.features[] | "# \(.name): \(.present) (\(.need)) \(.detail)"' "$T/json"

# namespaces: the kernel has it (/proc/self/ns) and unshare(1) can make it
for ns in pid:pid:pid mnt:mount:mount ipc:ipc:ipc uts:uts:uts net:net:network cgroup:cgroup:cgroup; do
    IFS=: read -r file opt name <<<"$ns"
    [ -e /proc/self/ns/$file ] && unshare --$opt true 2>/dev/null; want=$(yn $?)
    ok $([ "$(feat $name-namespace)" = "$want" ]; echo $?) "$name-namespace: $want, as /proc/self/ns/$file and unshare --$opt say"
done
setpriv --reuid 65534 --regid 65534 --clear-groups unshare --user true 2>/dev/null; want=$(yn $?)
ok $([ "$(feat user-namespaces)" = "$want" ]; echo $?) "user-namespaces: $want, as unshare --user by uid 65534 says"

# seccomp: the kernel shows a Seccomp: field exactly when it has seccomp
grep -q '^Seccomp:' /proc/self/status; want=$(yn $?)
ok $([ "$(feat seccomp-filter)" = "$want" ]; echo $?) "seccomp-filter: $want, as /proc/self/status says"
grep -qw kill_process /proc/sys/kernel/seccomp/actions_avail 2>/dev/null; want=$(yn $?)
ok $([ "$(feat seccomp-kill-process)" = "$want" ]; echo $?) "seccomp-kill-process: $want, as kernel.seccomp.actions_avail says"

# cgroups, from the mounts
want=$(yn $((1 - HP_V2)))
ok $([ "$(feat cgroup-v2)" = "$want" ]; echo $?) "cgroup-v2: $want (cgroup2 at '${HP_V2_MNT}')"
want=$(yn $((1 - HP_V1)))
ok $([ "$(feat cgroup-v1)" = "$want" ]; echo $?) "cgroup-v1: $want (memory, pids, cpuacct mounted)"
exp=$(jq -r .accounting_expected "$T/json")
acct=$(jq -r '.accounting // "none"' "$T/json")
ok $([ "$exp" = "$HP_ACCT" ] && [[ " $HP_ACCT_OK " == *" $acct "* ]]; echo $?) \
    "accounting: $exp expected, a pool uses $acct (the mounts say $HP_ACCT)"

# calls, answered to the abuse program's own probes
"$ABUSE" syscalls >"$T/calls"
answer() { sed -n "s/^$1 //p" "$T/calls"; }
for c in clone3:EINVAL:clone3 openat2:EINVAL:openat2 mount_setattr:EINVAL:mount-setattr \
    close_range:ok:close-range pidfd_open:ok:pidfd-open; do
    IFS=: read -r call good name <<<"$c"
    a=$(answer $call)
    [ "$a" = "$good" ]; want=$(yn $?)
    ok $([ "$(feat $name)" = "$want" ]; echo $?) "$name: $want ($call answered $a)"
done

# foreign ABIs: does a mkdir through them take effect on the host, unfiltered?
for abi in i386 x32; do
    mkdir "$T/$abi"
    "$ABUSE" abi-$abi "$T/$abi" >/dev/null 2>&1; st=$?
    [ -d "$T/$abi/$abi-marker" ]; want=$(yn $?)
    ok $([ "$(feat $abi-abi)" = "$want" ]; echo $?) "$abi-abi: $want (a mkdir through it on the host: exit status $st)"
done

# the human form says the same, a line per feature
"$FS" --uid $UID0 --check >"$T/text" 2>&1; trc=$?
same=0
while read -r name present; do
    here=$(awk -v n="$name" '$1 == n { print $2 }' "$T/text")
    [ "$here" = "$([ "$present" = true ] && echo yes || echo no)" ] || { same=1; echo "# text differs: $name"; }
done < <(jq -r '.features[] | "\(.name) \(.present)"' "$T/json")
grep -q "a pool here uses $acct" "$T/text" || same=1
ok $([ $same -eq 0 ] && [ $trc -eq $rc ]; echo $?) "--check (text) lists the same features, accounting and exit code"
sed 's/^/# /' "$T/text"

# A machine that lacks a required feature: inside a user namespace of ours,
# where only root is mapped and user.max_user_namespaces is 0 (real limits of
# the kernel's, set only there), no unprivileged uid can make a user namespace.
if unshare --user --map-root-user true 2>/dev/null; then
    unshare --user --map-root-user sh -c \
        'echo 0 >/proc/sys/user/max_user_namespaces && exec "$0" --uid "$1" --check --json' \
        "$FS" $((UID0 + 2)) >"$T/json2" 2>/dev/null; rc2=$?
    u=$(jq -r '.features[] | select(.name == "user-namespaces") | .present' "$T/json2")
    ok $([ $rc2 -eq 1 ] && [ "$u" = false ] && [ "$(jq .missing_required "$T/json2")" -ge 1 ]; echo $?) \
        "a required feature missing (user namespaces, in a namespace that has none to give): exit 1, reported missing"
else
    echo "# this machine cannot make the user namespace the missing-feature case needs; the"
    echo "# exit code above is still held against the features reported"
fi

# farmd logs the same list at start when it runs workers
if [ -n "$FARMD" ]; then
    mkdir "$T/state"
    "$FARMD" --role worker --workers 1 --set state_dir="$T/state" \
        --set worker.first_uid=$((UID0 + 1)) >"$T/farmd.log" 2>&1 &
    FARMD_PID=$!
    for _ in $(seq 300); do
        grep -q 'msg="sandbox-features"' "$T/farmd.log" && break
        kill -0 $FARMD_PID 2>/dev/null || break
        sleep 0.1
    done
    kill $FARMD_PID 2>/dev/null; wait $FARMD_PID 2>/dev/null; FARMD_PID=
    same=0
    while read -r name present; do
        grep -q "msg=\"sandbox-feature\" name=$name present=$([ "$present" = true ] && echo yes || echo no) " \
            "$T/farmd.log" || { same=1; echo "# farmd's log differs: $name"; }
    done < <(jq -r '.features[] | "\(.name) \(.present)"' "$T/json")
    grep -q "msg=\"sandbox-features\" missing_required=$missing accounting_expected=$exp" "$T/farmd.log" || same=1
    ok $same "farmd logs at start a line per feature, as --check reports them"
else
    echo "# farmd is not part of this build: its start-up log cannot be checked here; the"
    echo "# same sandbox_features_probe is checked through --check above"
fi

"$FS" --json >/dev/null 2>&1; ok $([ $? -eq 64 ]; echo $?) "--json alone is a bad command line (64)"
tap_done
