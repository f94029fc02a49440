"""Child processes of a run: failures carry the log tail, and nothing is left running."""

from __future__ import annotations

import sys

import pytest

from local_lifecycle.processes import free_port, start_logged, stop, wait_until_answering
from local_lifecycle.steps import StepFailed


def test_a_process_that_dies_fails_with_its_log_tail(tmp_path) -> None:
    log = tmp_path / "logs" / "bad.log"
    process = start_logged(
        [sys.executable, "-c", "print('cannot load model'); raise SystemExit(3)"], env={}, log_path=log
    )
    with pytest.raises(StepFailed, match="model server exited with 3") as failure:
        wait_until_answering(process, f"http://127.0.0.1:{free_port()}/ping", what="model server", log_path=log)
    assert "cannot load model" in failure.value.log_tail


def test_a_process_that_never_answers_is_stopped_and_named(tmp_path) -> None:
    log = tmp_path / "silent.log"
    process = start_logged([sys.executable, "-c", "import time; time.sleep(60)"], env={}, log_path=log)
    with pytest.raises(StepFailed, match=r"silent server did not answer .* within 1 s"):
        wait_until_answering(
            process, f"http://127.0.0.1:{free_port()}/ping", what="silent server", log_path=log, timeout=1
        )
    assert process.poll() is not None


def test_stop_ends_a_running_process_and_ignores_an_ended_one(tmp_path) -> None:
    process = start_logged([sys.executable, "-c", "import time; time.sleep(60)"], env={}, log_path=tmp_path / "x.log")
    stop(process)
    assert process.poll() is not None
    stop(process)
