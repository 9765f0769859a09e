# tap.sh — TAP output for the shell drivers of suite sandbox (test_cli.sh,
# test_check.sh, test_pidns.sh); sourced.
#   ok STATUS DESCRIPTION  prints "ok N - DESCRIPTION" when STATUS is 0, else
#                          "not ok N - DESCRIPTION", and counts the failure
#   tap_done               prints the plan and exits 1 when any ok failed, else 0
n=0
fails=0
ok() { # ok COND-EXIT-STATUS DESCRIPTION
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fails=$((fails + 1)); fi
}
tap_done() {
    echo "1..$n"
    exit $((fails > 0))
}
