"""Dissection, noise and attacks report every batch to a listener and, with bars off, log a line per pass."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from robattr.neurons import ConceptAttack, NetworkDissection, NoiseCorruption, run_attack, run_dissect
from robattr.neurons.outputs import read_job
from robattr.neurons.phases import track
from robattr.progress import Interrupted, listen


def test_every_pass_of_a_dissection_reports_each_batch(planted, small_set):
    steps = defaultdict(list)
    with listen(lambda task, step, total: steps[task].append((step, total))):
        NetworkDissection("pool", batch_size=16, progress=False)(planted, small_set)
    assert steps["pool: threshold pass 1"] == [(i, 4) for i in range(1, 5)]  # 64 images in batches of 16
    assert steps["pool: IoU pass"] == [(i, 4) for i in range(1, 5)]
    assert all(task.startswith("pool: ") for task in steps)


@pytest.fixture
def lines(monkeypatch) -> list[str]:
    """The lines the neuron passes and jobs log (through Lightning's ``rank_zero_info``)."""
    import robattr.neurons.jobs
    import robattr.neurons.phases

    logged: list[str] = []
    for module in (robattr.neurons.phases, robattr.neurons.jobs):
        monkeypatch.setattr(module, "rank_zero_info", logged.append)
    return logged


def test_noise_and_attack_passes_report_and_log_a_line_each(planted, small_set, tmp_path, lines):
    tasks = set()
    dissection = NetworkDissection("pool", batch_size=32, progress=False)
    with listen(lambda task, step, total: tasks.add(task)):
        NoiseCorruption(sigma=0.01, batch_size=32)(small_set, str(tmp_path / "noise"))
        run_attack(planted, small_set, dissection, ConceptAttack(unit=1, steps=1), str(tmp_path / "a"), write=False)
    assert {"gaussian noise", "ConceptAttack on unit 1", "pool: IoU pass", "accuracy"} <= tasks
    for task in ("gaussian noise", "ConceptAttack on unit 1", "pool: threshold pass 1", "pool: IoU pass"):
        assert any(re.fullmatch(re.escape(task) + r": [12] batch(es)? in \d+\.\d s", line) for line in lines), task
    assert "clean dissection of pool on 64 images" in lines


def test_a_long_pass_logs_its_position_and_the_time_left(lines):
    assert list(track(range(3), "pool: IoU pass", interval=0.0)) == [0, 1, 2]
    assert re.fullmatch(r"pool: IoU pass: batch 1/3, \d+\.\d s so far, about \d+\.\d s left", lines[0])
    assert re.fullmatch(r"pool: IoU pass: 3 batches in \d+\.\d s", lines[-1]) and len(lines) == 4


def test_bars_replace_the_lines_when_progress_is_on(lines):
    assert list(track([1, 2], "x", progress=True)) == [1, 2]
    assert lines == []


def test_an_interrupted_job_stops_between_batches_and_leaves_no_complete_result(planted, small_set, tmp_path):
    def stop(task, step, total):
        if task == "pool: IoU pass" and step == 2:
            raise Interrupted("SIGTERM")

    out = tmp_path / "d"
    dissection = NetworkDissection("pool", batch_size=16, progress=False)
    with pytest.raises(Interrupted, match="^SIGTERM$"), listen(stop):
        run_dissect(planted, small_set, dissection, str(out), tensorboard=False)
    assert read_job(str(out))["status"] == "running"
    assert not (out / "metrics.json").exists() and not (out / "clean").exists()
    run_dissect(planted, small_set, dissection, str(out), tensorboard=False)  # the rerun completes
    assert read_job(str(out))["status"] == "complete"
