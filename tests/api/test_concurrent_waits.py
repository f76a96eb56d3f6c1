"""Waiting holds no thread: 60 API calls waiting at once on a real server (6 accounts x 10 jobs, behind one long job)
all come back, once each, in turns across users, while `/sdapi/v1/progress` keeps answering at once and the server
does not grow a thread per waiting call.

A server whose waiting routes each hold a worker thread fails this: its pool (40 threads in FastAPI's default) fills
up, `/progress` waits for a free thread until the long job ends, the queue never holds more jobs than there are
threads, and turns follow whichever thread frees first. The load is driven by bench/lan_load.py (client threads;
the point is the server's threads). Every claim is checked and all that fail are reported together: one run takes
long on a server that starves.
"""

from bench.lan_load import gradio_auth, run

USERS = [f"user{index}" for index in range(6)]
JOBS_PER_USER = 10
# A thread per waiting call would be 60 more. Short synchronous steps (a sync dependency, admission) may still make
# FastAPI's pool start up to its 40 threads in a burst of 60 requests; those are spare, not held by the waits.
THREADS_ALLOWED_TO_GROW = 45


def test_sixty_waiting_api_calls_hold_no_thread_and_come_back_in_turns(tmp_path, start_server):
    server = start_server(tmp_path, "--api", "--gradio-auth", gradio_auth(USERS),
                          "--queue-per-user", str(JOBS_PER_USER))
    report = run(server, USERS, JOBS_PER_USER, pollers=2, blocker_steps=150, job_fields={"steps": 1},
                 time_limit=240.0)
    print("\n".join(report.lines()))  # shown with -rP: the figures to compare with bench/README.md
    sent = len(USERS) * JOBS_PER_USER
    grown = report.peak_threads - report.before.threads
    claims = {
        "all 60 came back, once each": (report.done, report.failures, report.lost, report.duplicated) ==
                                       (sent, (), 0, 0),
        "all 60 waited in the queue at once, behind the long job": report.peak_job_count == sent + 1,
        "/progress answered while they waited": report.progress.answered >= 10 and report.progress.failed == 0,
        "/progress p95 under 1 s while they waited": report.progress.p95 < 1.0,
        "20 /progress calls sent at once while they waited all answered within 2 s":
            report.burst.answered == 20 and report.burst.max < 2.0,
        "no user had a second job back before every user had one": report.busiest_first_round == 1,
        f"the server grew fewer than {THREADS_ALLOWED_TO_GROW} threads while they waited":
            grown < THREADS_ALLOWED_TO_GROW,
    }
    failed = [claim for claim, held in claims.items() if not held]
    assert failed == [], "\n".join(["claims that failed:", *failed, "the run:", *report.lines()])
