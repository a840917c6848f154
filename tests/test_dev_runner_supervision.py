"""The dev runner's supervision (issue #14): a process of `make run` that dies is restarted with a back-off, and
the others keep running."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from ops.cli import Backoff, Launch, Supervisor


class TestBackoff:
    def test_doubles_from_one_second_up_to_the_cap(self) -> None:
        backoff = Backoff(initial=1.0, cap=30.0, stable_after=60.0)
        assert [backoff.delay(uptime=0.5) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]

    def test_starts_over_after_the_process_stayed_up(self) -> None:
        backoff = Backoff(initial=1.0, cap=30.0, stable_after=60.0)
        assert [backoff.delay(uptime=1) for _ in range(3)] == [1, 2, 4]
        assert backoff.delay(uptime=59) == 8  # not long enough
        assert backoff.delay(uptime=60) == 1
        assert backoff.delay(uptime=2) == 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _python(code: str) -> Launch:
    return Launch([sys.executable, "-c", code], dict(os.environ))


class TestSupervisor:
    def test_a_dying_process_is_restarted_after_its_backoff_and_the_others_keep_running(self) -> None:
        clock = FakeClock()
        said: list[str] = []
        launch = {
            "crashy": _python("import sys; sys.exit(3)"),
            "steady": _python("import time; time.sleep(60)"),
        }
        procs = {name: spec.spawn() for name, spec in launch.items()}
        steady = procs["steady"]
        supervisor = Supervisor(procs, launch, clock=clock, say=said.append)
        try:
            procs["crashy"].wait(timeout=10)
            clock.now += 0.5
            supervisor.poll()  # noticed: due in 1 s
            assert supervisor.waiting() == ["crashy"] and supervisor.restarts["crashy"] == 0
            assert "crashy: exited with status 3 after 0.5s; restarting in 1s" in said[-1]
            clock.now += 0.9
            supervisor.poll()
            assert supervisor.restarts["crashy"] == 0  # not yet
            clock.now += 0.1
            supervisor.poll()
            assert supervisor.restarts["crashy"] == 1 and "restarted" in said[-1]
            assert (
                procs["crashy"] is not None and procs["crashy"].wait(timeout=10) == 3
            )  # a new process, died again
            clock.now += 0.5
            supervisor.poll()
            assert "restarting in 2s" in said[-1]  # backed off
            # The other process was never touched.
            assert procs["steady"] is steady and steady.poll() is None
            assert supervisor.restarts["steady"] == 0
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
                proc.wait(timeout=10)

    def test_real_time_restarts(self) -> None:
        """With the real clock and a short back-off, a process that exits at once is started again and again."""
        launch = {"crashy": _python("pass")}
        procs = {"crashy": launch["crashy"].spawn()}
        supervisor = Supervisor(
            procs, launch, backoff=lambda: Backoff(initial=0.05, cap=0.2), say=lambda _: None
        )
        deadline = time.monotonic() + 20
        try:
            while supervisor.restarts["crashy"] < 3 and time.monotonic() < deadline:
                supervisor.poll()
                time.sleep(0.02)
            assert supervisor.restarts["crashy"] >= 3
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.terminate()
                with_timeout = proc.wait(timeout=10)
                assert with_timeout is not None
        assert isinstance(procs["crashy"], subprocess.Popen)
