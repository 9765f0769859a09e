# hostprobe.sh — what this machine offers, read by the tests themselves
# (mountinfo, /proc/self/cgroup, /proc/self/ns), apart from sandbox/features.c.
# Sourced by test_cli.sh and test_check.sh (TAP itself is tap.sh). Sets:
#   HP_V2_MNT   the cgroup2 mount (/sys/fs/cgroup preferred), "" if none
#   HP_V2       1 if our v2 group offers memory, pids and cpu
#   HP_V1       1 if v1 hierarchies with memory, pids and cpuacct are mounted
#   HP_ACCT     the accounting an AUTO pool is expected to take
#   HP_ACCT_OK  the accountings a pool may really end up with here (a v2
#               group that cannot delegate falls back to rlimits)

# "fstype mountpoint superoptions" of every cgroup mount
hp_cg_mounts=$(awk '{for (i = 7; i <= NF; i++) if ($i == "-") { print $(i+1), $5, $(i+3); break }}' \
    /proc/self/mountinfo | grep -E '^cgroup2? ')
HP_V2_MNT=$(echo "$hp_cg_mounts" | awk '$1 == "cgroup2" { print $2 }' | grep -x /sys/fs/cgroup ||
    echo "$hp_cg_mounts" | awk '$1 == "cgroup2" { print $2; exit }')
HP_V2=0
if [ -n "$HP_V2_MNT" ]; then
    hp_own=$(sed -n 's/^0:://p' /proc/self/cgroup)
    [ "$hp_own" = / ] && hp_own=
    hp_ctl=" $(cat "$HP_V2_MNT$hp_own/cgroup.controllers" 2>/dev/null) "
    [[ $hp_ctl == *" memory "* && $hp_ctl == *" pids "* && $hp_ctl == *" cpu "* ]] && HP_V2=1
fi
hp_v1_ctrls=$(echo "$hp_cg_mounts" | awk '$1 == "cgroup" { print $3 }' | tr , '\n')
HP_V1=0
for c in memory pids cpuacct; do
    echo "$hp_v1_ctrls" | grep -qx $c || HP_V1=-1
done
[ $HP_V1 -eq 0 ] && HP_V1=1 || HP_V1=0
if [ $HP_V2 -eq 1 ]; then HP_ACCT=cgroup-v2; HP_ACCT_OK="cgroup-v2 rlimits"
elif [ $HP_V1 -eq 1 ]; then HP_ACCT=cgroup-v1; HP_ACCT_OK=cgroup-v1
else HP_ACCT=rlimits; HP_ACCT_OK=rlimits; fi
