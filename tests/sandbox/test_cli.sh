#!/bin/bash
# test_cli.sh — farm-sandbox as a command: flags, exit codes, the meta file,
# --make-box and --cleanup-stale; then the host must hold nothing of it.
# usage: test_cli.sh FARM_SANDBOX ABUSE_PROGRAM      (prints TAP)
set -u
FS=$1
ABUSE=$2
. "$(dirname "$0")/tap.sh"
. "$(dirname "$0")/hostprobe.sh"
T=$(mktemp -d /tmp/nixfarm-sbxcli-XXXXXX)
# a uid range of our own (other checkouts may run this test at the same time)
UID0=$((70000 + ($$ % 1000) * 4))
cleanup() {
    umount -l "$T/boxes/b1" 2>/dev/null
    umount -l "$T/nix/store" 2>/dev/null
    rm -rf --one-file-system -- "$T"
}
trap cleanup EXIT
trap 'exit 1' TERM INT HUP
mkdir -p "$T/nix/store"
mount -t tmpfs -o size=32m teststore "$T/nix/store"
SP=/nix/store/00000000000000000000000000000cli-abuse
mkdir -p "$T$SP/bin"
cp "$ABUSE" "$T$SP/bin/abuse"
P=$SP/bin/abuse
run() { "$FS" --uid $UID0 --store-root "$T" --store $SP "$@"; }

out=$(run -- $P whoami 2>&1); rc=$?
ok $([ $rc -eq 0 ] && [[ $out == *"uid=1000 euid=1000"* ]]; echo $?) "runs a program: exit 0, uid 1000"

# The accounting is the machine's: what hostprobe.sh reads from the mounts.
echo "# accounting expected here: $HP_ACCT (cgroup v2 usable: $HP_V2, v1: $HP_V1)"
run --meta "$T/meta" -- $P exit 3 >/dev/null 2>&1; rc=$?
acct=$(sed -n 's/^accounting://p' "$T/meta")
grep -q '^status:RE$' "$T/meta" && grep -q '^exitcode:3$' "$T/meta" && [[ " $HP_ACCT_OK " == *" $acct "* ]]
ok $([ $rc -eq 1 ] && [ $? -eq 0 ]; echo $?) "exit 1 for a failed program; meta has status:RE, exitcode:3, accounting:$acct (this machine: $HP_ACCT_OK)"

run --order --meta "$T/meta" -- $P interleave >/dev/null 2>&1; rc=$?
ok $([ $rc -eq 0 ] && grep -q '^order:o3,e3,o3,e3,o3,e3,o3,e3$' "$T/meta"; echo $?) "--order: the meta's order line has the 8 alternating runs"

run --meta "$T/meta" --cpu 200 -- $P spin >/dev/null 2>&1; rc=$?
ok $([ $rc -eq 1 ] && grep -q '^status:TO$' "$T/meta" && grep -q '^limit:cpu$' "$T/meta"; echo $?) "CPU limit: status TO, limit:cpu"

# Memory: with cgroups the tree is killed (ML); with rlimits an allocation
# fails and the program lives on. The rlimits path is forced once, so it is
# checked on every machine.
if [ "$acct" != rlimits ]; then
    run --meta "$T/meta" --mem 32768 -- $P membomb-malloc >/dev/null 2>&1; rc=$?
    ok $([ $rc -eq 1 ] && grep -q '^status:ML$' "$T/meta"; echo $?) "memory limit ($acct): status ML"
else
    echo "# no cgroups here: the memory limit is RLIMIT_AS (checked below), no ML verdict to see"
fi
out=$(run --accounting rlimits --meta "$T/meta" --mem 32768 -- $P mem-grab 2>/dev/null); rc=$?
rss=$(sed -n 's/^max-rss://p' "$T/meta")
got=$(echo "$out" | sed -n 's/^got \([0-9]*\) MiB$/\1/p')
ok $([ $rc -eq 0 ] && grep -q '^accounting:rlimits$' "$T/meta" && [ -n "$got" ] && [ "$got" -le 32 ] && [ "$rss" -le 32768 ]; echo $?) "memory limit (rlimits): allocations stop at 32 MiB (got ${got:-?} MiB, max-rss ${rss:-?} KiB)"

run --meta "$T/meta" --output 1K -- $P flood-stdout >"$T/out" 2>/dev/null; rc=$?
ok $([ $rc -eq 1 ] && grep -q '^status:OL$' "$T/meta" && [ "$(stat -c %s "$T/out")" -eq 1024 ]; echo $?) "output limit: status OL, 1 KiB written"

# --stream: the first line is out (through a FIFO we read) while the program
# still sleeps before its second; a file gets every byte exactly once.
mkfifo "$T/fifo"
run --stream -- $P lines >"$T/fifo" 2>/dev/null &
FSPID=$!
exec {RFD}<"$T/fifo"
line=; read -t 30 -r line <&$RFD
kill -0 $FSPID 2>/dev/null; alive=$?
rest=$(cat <&$RFD)
exec {RFD}<&-
wait $FSPID; rc=$?
ok $([ $rc -eq 0 ] && [ "$line" = first ] && [ $alive -eq 0 ] && [ "$rest" = second ]; echo $?) "--stream: the first line arrives while the program runs"
run --stream --stdout "$T/sout" --stderr "$T/serr" -- $P lines; rc=$?
ok $([ $rc -eq 0 ] && [ "$(cat "$T/sout")" = "$(printf 'first\nsecond')" ] && [ "$(cat "$T/serr")" = err-first ]; echo $?) "--stream to files: every byte once"
run --stream --output 1K -- $P flood-stdout >"$T/out" 2>/dev/null; rc=$?
ok $([ $rc -eq 1 ] && [ "$(stat -c %s "$T/out")" -eq 1024 ]; echo $?) "--stream: the output limit caps the stream at 1 KiB"

out=$(run --stdin-data 'abc' -- $P cat); rc=$?
ok $([ $rc -eq 0 ] && [ "$out" = abc ]; echo $?) "--stdin-data reaches the program"

echo -n "from a file" > "$T/in"
out=$(run --stdin "$T/in" -- $P cat); rc=$?
ok $([ $rc -eq 0 ] && [ "$out" = "from a file" ]; echo $?) "--stdin FILE reaches the program"

out=$(run --env A=1 --env B=2 -- $P whoami); rc=$?
ok $([ $rc -eq 0 ] && [[ $out == *"env A=1"*"env B=2"* ]] && [[ $out != *PATH=* ]]; echo $?) "--env passes only what is given"

mkdir -p "$T/boxes"
out=$(run --box "$T/boxes/b1" --make-box --keep-box --box-size 1M -- $P fill-box); rc=$?
ok $([ $rc -eq 0 ] && [[ $out == ENOSPC* ]] && mountpoint -q "$T/boxes/b1"; echo $?) "--make-box: a 1 MiB box, kept"

"$FS" --cleanup-stale "$T/boxes" >/dev/null; rc=$?
ok $([ $rc -eq 0 ] && [ ! -e "$T/boxes/b1" ] && [ -d "$T/boxes" ]; echo $?) "--cleanup-stale removes the boxes left under a directory"

# --share-net keeps the host's network: the same connect that is refused by
# default reaches a listener on the host's loopback.
PORT=$((20000 + RANDOM % 20000))
/bin/busybox nc -l -p $PORT >/dev/null 2>&1 &
NCPID=$!
# wait until it listens (a LISTEN row for the port in /proc/net/tcp), however loaded the machine
hexport=$(printf '%04X' $PORT)
for _ in $(seq 600); do
    grep -q ":$hexport 0*:0000 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null && break
    sleep 0.05
done
out=$(run -- $P network $PORT 2>&1); rc_off=$?
out_on=$(run --share-net -- $P network $PORT 2>&1); rc_on=$?
kill $NCPID 2>/dev/null; wait $NCPID 2>/dev/null
ok $([ $rc_off -eq 0 ] && [ $rc_on -eq 1 ] && [[ $out_on == *"ESCAPE tcp connect"* ]]; echo $?) "no network by default; --share-net reaches the host's loopback"

run --bogus >/dev/null 2>&1; rc=$?
ok $([ $rc -eq 64 ]; echo $?) "an unknown option exits 64"
run --cpu 12x -- $P whoami >/dev/null 2>&1; rc=$?
ok $([ $rc -eq 64 ]; echo $?) "a bad number exits 64"
run -- relative/path >/dev/null 2>&1; rc=$?
ok $([ $rc -eq 64 ]; echo $?) "a relative program exits 64"
run --cwd /nonexistent -- $P whoami >/dev/null 2>"$T/err"; rc=$?
ok $([ $rc -eq 2 ] && grep -q chdir "$T/err"; echo $?) "an internal error exits 2 with a message"
"$FS" --help | grep -q "Exit status"; ok $? "--help documents the exit codes"

left=$(for s in /proc/[0-9]*/status; do awk -v lo=$UID0 '/^Uid:/{if ($2==lo) print FILENAME}' "$s" 2>/dev/null; done | wc -l)
ok $([ "$left" -eq 0 ]; echo $?) "no process of the sandbox uid is left"
ok $(! grep -q "$T" /proc/self/mountinfo || [ "$(grep -c "$T" /proc/self/mountinfo)" -eq 1 ]; echo $?) "no mount left but the test store"
tap_done
