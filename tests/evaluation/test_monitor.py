"""EvaluationMonitor: a signal stops the work at the next step, summary and heartbeat lines, tqdm bars."""

from __future__ import annotations

import logging
import os
import re
import signal

import pytest

from robattr.evaluation.monitor import EvaluationMonitor
from robattr.progress import Interrupted, report


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def lines():
    logger, handler = logging.getLogger("lightning.pytorch.utilities.rank_zero"), Lines()
    logger.addHandler(handler)
    yield handler.messages
    logger.removeHandler(handler)


def test_sigterm_stops_at_the_next_step_and_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    monitor = EvaluationMonitor(show_bar=False, rank_zero=False)
    steps = []
    with pytest.raises(Interrupted) as info, monitor.batch(0, 3), monitor.phase("ig/topk", 4):
        for i in range(100):
            if i == 5:
                os.kill(os.getpid(), signal.SIGTERM)
            report("attack:topk", i + 1, 100)
            steps.append(i)
    assert str(info.value) == "Evaluation stopped by SIGTERM during batch 1/3, ig/topk"
    assert info.value.signum == signal.SIGTERM
    assert steps == [0, 1, 2, 3, 4]  # the step that saw the signal did not finish
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_second_sigint_stops_at_once():
    monitor = EvaluationMonitor(show_bar=False, rank_zero=False)
    with pytest.raises(KeyboardInterrupt), monitor.batch(1, None):
        os.kill(os.getpid(), signal.SIGINT)  # first: a flag, the work goes on to the next step
        os.kill(os.getpid(), signal.SIGINT)  # second: stop now


def test_lightning_stop_flag_is_honoured_at_the_batch_start():
    monitor = EvaluationMonitor(show_bar=False, rank_zero=False, external_stop=lambda: True)
    with pytest.raises(Interrupted, match="^Evaluation stopped by SIGTERM during batch 2/2$"), monitor.batch(1, 2):
        pass


def test_summary_and_heartbeat_lines(lines):
    monitor = EvaluationMonitor(show_bar=False, rank_zero=True, heartbeat_s=0.0)
    with monitor.batch(0, 2), monitor.phase("ig/random_sign", 1):
        report("attack:random_sign", 1, 2)
    assert lines[0].startswith("batch 1/2 ig/random_sign: attack:random_sign 1/2 (about ")
    assert lines[0].endswith(" left)")
    assert lines[1].startswith("batch 1/2 ig/random_sign: 1 image, ") and lines[1].endswith(" s")


def test_nothing_printed_off_rank_zero(lines):
    monitor = EvaluationMonitor(show_bar=False, rank_zero=False, heartbeat_s=0.0)
    with monitor.batch(0, 2), monitor.phase("ig/topk", 3):
        report("attack:topk", 1, 2)
    assert lines == []


def test_heartbeat_names_every_loop_of_the_phase(lines):
    monitor = EvaluationMonitor(show_bar=False, rank_zero=True, heartbeat_s=0.0)
    with monitor.batch(0, 1), monitor.phase("ig/topk", 2):
        report("attack:topk", 1, 4)
        report("ig", 2, 5)
    assert re.fullmatch(r"batch 1/1 ig/topk: attack:topk 1/4 \(about .* left\), ig 2/5 \(about .* left\)", lines[1])


def test_progress_bars(capsys, lines):
    """One bar per loop of the phase (the attack, the attribution inside it); a restarted loop resets its bar."""
    monitor = EvaluationMonitor(show_bar=True, rank_zero=True)
    with monitor.batch(0, 2), monitor.phase("ig/topk", 3):
        for _restart in range(2):
            for i in range(3):
                report("attack:topk", i + 1, 3)
                report("ig", 1, 1)
            bar = monitor._tasks["attack:topk"]["bar"]
            assert bar.n == 3 and bar.total == 3 and bar.pos in (1, -1)
        assert monitor._tasks["ig"]["bar"].pos in (2, -2)
    assert monitor._tasks == {} and lines == []  # closed after the phase; no summary line besides the bars
    assert "batch 1/2 ig/topk attack:topk" in capsys.readouterr().err
