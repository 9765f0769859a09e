#!/usr/bin/env python3
"""Faults: kill -9 of a worker mid-run (the submission finishes exactly once),
kill -9 of the whole farmd with a full queue and a restart (nothing lost,
nothing finished twice), SIGTERM with work in flight (drains, no process
left, sandbox processes included), a crashed worker is restarted."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pipelib import (farmtest, sh, expect, submit_nowait, count_terminal_events, worker_pids,  # noqa: E402
                     sandbox_uid_processes, wait_until, db, FAST_FAULTS, TERMINAL)


def get(farm, sid):
    status, body = farm.request("GET", "/v1/submissions/" + sid)
    expect(status == 200, "GET %s: %s %r" % (sid, status, body))
    return body


def case_kill_worker_mid_run():
    # A long lease: the restarted worker must expire its dead predecessor's
    # lease itself instead of waiting for it to run out.
    settings = dict(FAST_FAULTS)
    settings["lease.ms"] = "60000"
    settings["lease.renew_ms"] = "1000"
    with farmtest.Farm(workers=1, settings=settings) as farm:
        sid = submit_nowait(farm, sh("sleep 2; echo done", tests=[{"expected_output": "done"}],
                                     limits={"run": {"wall_ms": 20000, "cpu_ms": 5000}}))
        wait_until(lambda: get(farm, sid)["state"] == "running", 120, "running")
        time.sleep(0.5)
        victims = worker_pids(farm)
        expect(len(victims) == 1, "expected one worker, found %r" % victims)
        os.kill(victims[0], signal.SIGKILL)
        body = farm.wait_finished(sid, timeout=120)
        expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
        expect(body.get("attempts", 0) >= 2, "attempts %r: the run was not retried" % body.get("attempts"))
        expect(count_terminal_events(farm, sid) == 1, "finished more than once")
        expect("dead-worker-lease-expired" in farm.logs(), "the dead worker's lease was not expired early")
        # the supervisor restarted the worker under a new pid
        new = wait_until(lambda: worker_pids(farm), 30, "a restarted worker")
        expect(new[0] != victims[0], "worker not restarted")
        wait_until(lambda: not sandbox_uid_processes(), 10, "sandbox processes of the killed worker to go")


def case_kill_farmd_full_queue_restart():
    settings = dict(FAST_FAULTS)
    settings["lease.ms"] = "60000"  # recovery must not wait for leases to run out
    settings["lease.renew_ms"] = "1000"
    farm = farmtest.Farm(workers=2, settings=settings)
    try:
        farm.start()
        n = 40
        ids = [submit_nowait(farm, sh("sleep 0.2; echo %d" % i, tests=[{"expected_output": "%d" % i}]))
               for i in range(n)]
        wait_until(lambda: sum(get(farm, s)["state"] in TERMINAL for s in ids[:4]) >= 1, 120, "some progress")
        farm.kill9()
        wait_until(lambda: not sandbox_uid_processes(), 10, "sandbox processes to die with farmd")
        farm.start()
        # Nothing lost and nothing run twice is the promise here; how fast a
        # dead worker's lease is expired is case_kill_worker_mid_run's. The bound
        # leaves room for lease.ms on a loaded machine.
        for i, sid in enumerate(ids):
            body = farm.wait_finished(sid, timeout=150)
            expect(body["state"] == "finished" and body["verdict"] == "accepted", body)
            expect(body["tests"][0]["stdout"] == "%d\n" % i, body)
            expect(count_terminal_events(farm, sid) == 1, "%s finished more than once" % sid)
    finally:
        farm.cleanup()


def case_sigterm_drains_cleanly():
    farm = farmtest.Farm(workers=2, settings=FAST_FAULTS)
    try:
        farm.start()
        ids = [submit_nowait(farm, sh("sleep 1; echo ok", tests=[{"expected_output": "ok"}]))
               for _ in range(6)]
        wait_until(lambda: any(get(farm, s)["state"] == "running" for s in ids), 120, "a running submission")
        rc = farm.stop()  # asserts no process of the group is left
        expect(rc == 0, "farmd exit status %r after SIGTERM" % rc)
        expect(not sandbox_uid_processes(), "sandbox processes left after SIGTERM")
        leftover_boxes = os.listdir(os.path.join(farm.state_dir, "boxes")) if os.path.isdir(
            os.path.join(farm.state_dir, "boxes")) else []
        expect(not leftover_boxes, "boxes left: %r" % leftover_boxes)
        # nothing was lost: a restart finishes what was queued or released
        farm.start()
        for sid in ids:
            body = farm.wait_finished(sid, timeout=120)
            expect(body["verdict"] == "accepted", body)
            expect(count_terminal_events(farm, sid) == 1, "%s finished more than once" % sid)
    finally:
        farm.cleanup()


def case_sigterm_past_grace_releases():
    settings = dict(FAST_FAULTS)
    settings["worker.stop_grace_ms"] = "800"
    farm = farmtest.Farm(workers=1, settings=settings)
    try:
        farm.start()
        sid = submit_nowait(farm, sh("sleep 6; echo ok", tests=[{"expected_output": "ok"}],
                                     limits={"run": {"wall_ms": 30000, "cpu_ms": 5000}}))
        wait_until(lambda: get(farm, sid)["state"] == "running", 120, "running")
        t0 = time.time()
        rc = farm.stop()
        expect(rc == 0, "farmd exit status %r" % rc)
        expect(time.time() - t0 < 5, "stop took %.1fs: the step was not cut at the grace period" % (time.time() - t0))
        expect(not sandbox_uid_processes(), "sandbox processes left")
        conn = db(farm)
        state, = conn.execute("SELECT state FROM submissions WHERE id = ?", (sid,)).fetchone()
        conn.close()
        expect(state == "queued", "released submission is %s, not queued" % state)
        farm.start()
        body = farm.wait_finished(sid, timeout=120)
        expect(body["verdict"] == "accepted", body)
        expect(count_terminal_events(farm, sid) == 1, "finished more than once")
    finally:
        farm.cleanup()


def main():
    sys.exit(farmtest.run_cases([
        ("kill -9 of a worker mid-run finishes exactly once", case_kill_worker_mid_run),
        ("kill -9 of farmd with a full queue, restart: nothing lost", case_kill_farmd_full_queue_restart),
        ("SIGTERM drains cleanly", case_sigterm_drains_cleanly),
        ("SIGTERM past the grace period releases the lease", case_sigterm_past_grace_releases),
    ]))


if __name__ == "__main__":
    main()
