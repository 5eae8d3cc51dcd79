"""Real processes, real signals: SIGTERM stops an evaluation within seconds with a non-zero status; an evaluation killed
with SIGKILL after its first saved batches and run again ends with exactly the results of an uninterrupted run, in
one process and in two gloo processes; a second run never changes a finished run's files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from robattr.evaluation.results import read_results

ROOT = Path(__file__).resolve().parents[2]

CONFIG = """
seed_everything: 0
trainer: {{accelerator: cpu, enable_progress_bar: false, logger: false}}
model:
  class_path: robattr.evaluation.AttributionRobustnessEvaluation
  init_args:
    checkpoint: {ckpt}
    attributions:
      slow: {{class_path: tests.evaluation.helpers.SlowSaliency, init_args: {{seconds: {seconds}, steps: 2}}}}
    attacks:
      random_sign: {{class_path: robattr.attacks.RandomSignPerturbation, init_args: {{eps: 0.1}}}}
      walk: {{class_path: robattr.attacks.AttributionAttack, init_args: {{objective: random, eps: 0.1, step_size: 0.05,
        steps: {steps}, measure: topk, k_eval: 20}}}}
    k: 20
    radii: [1]
    num_vis: 0
data:
  class_path: robattr.data.SyntheticImages
  init_args: {{train_size: 8, val_size: 0, test_size: {n}, batch_size: 2, eval_batch_size: 2, seed: 0}}
"""


def start(tmp_path: Path, name: str, config: Path, ddp: bool = False) -> tuple[subprocess.Popen, Path, Path]:
    """Start ``evaluate.py`` in its own session (so the whole DDP group can be killed); returns (process, out, log)."""
    out, log = tmp_path / name, tmp_path / f"{name}.log"
    cmd = [sys.executable, str(ROOT / "evaluate.py"), "--config", str(config), "--model.init_args.output_dir", str(out)]
    cmd += ["--trainer.default_root_dir", str(tmp_path / f"{name}_root")]
    if ddp:
        cmd += ["--trainer.strategy", "ddp", "--trainer.devices", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    with open(log, "ab") as f:
        process = subprocess.Popen(
            cmd, cwd=tmp_path, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True
        )
    return process, out, log


def finish(process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    assert process.wait(timeout=timeout) == 0, log.read_text()[-4000:]


def wait_for(condition, process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, f"the run ended before the test could act:\n{log.read_text()[-4000:]}"
        assert time.monotonic() < deadline, log.read_text()[-4000:]
        time.sleep(0.05)


def saved_batches(out: Path, ranks: int) -> int:
    """The smallest number of finished batches saved by any rank (0 while a shard is missing)."""
    done = []
    for rank in range(ranks):
        try:
            done.append(int(torch.load(out / "resume" / f"rank{rank}.pt", weights_only=True)["next_batch"]))
        except (FileNotFoundError, RuntimeError, EOFError):
            return 0
    return min(done)


def files(out: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_sigterm_in_the_middle_of_a_batch_stops_within_seconds(tmp_path, checkpoint):
    """An attack of 100,000 steps: SIGTERM takes effect between two steps, the exit status is not 0."""
    config = tmp_path / "eval.yaml"
    config.write_text(CONFIG.format(ckpt=checkpoint, seconds=0.0, steps=100_000, n=8))
    process, out, log = start(tmp_path, "run", config)
    wait_for(lambda: "Evaluating 8 test images" in log.read_text(), process, log)
    time.sleep(2.0)  # well inside batch 1's walk
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=60)
    elapsed = time.monotonic() - sent
    text = log.read_text()
    assert code != 0, text[-3000:]
    assert elapsed < 10, f"took {elapsed:.1f} s to stop"
    assert "Evaluation stopped by SIGTERM during batch 1/4, slow/walk" in text
    assert not (out / "results.json").exists() and not (out / "results.csv").exists()


@pytest.mark.slow
@pytest.mark.parametrize("ddp", [False, pytest.param(True, marks=pytest.mark.ddp)], ids=["one_process", "two_gloo"])
def test_killed_run_resumes_to_the_results_of_an_uninterrupted_run(tmp_path, checkpoint, ddp):
    ranks = 2 if ddp else 1
    config = tmp_path / "eval.yaml"
    config.write_text(CONFIG.format(ckpt=checkpoint, seconds=0.15, steps=2, n=14 if ddp else 10))
    reference, reference_out, reference_log = start(tmp_path, "reference", config, ddp)
    finish(reference, reference_log)
    expected = read_results(reference_out / "results.json")[1]

    process, out, log = start(tmp_path, "run", config, ddp)
    wait_for(lambda: saved_batches(out, ranks) >= 2, process, log)
    os.killpg(process.pid, signal.SIGKILL)  # the whole run, every rank, at once: a preemption
    process.wait(timeout=60)
    assert not (out / "results.json").exists()  # nothing that looks finished

    rerun, _, log = start(tmp_path, "run", config, ddp)  # the same command
    finish(rerun, log)
    metadata, rows = read_results(out / "results.json")
    assert rows == expected
    assert len(metadata["resumed_at_batch"]) == 1 and metadata["resumed_at_batch"][0] >= 2
    assert metadata["world_size"] == ranks and not (out / "resume").exists()

    before = files(out)
    again, _, log = start(tmp_path, "run", config, ddp)
    assert again.wait(timeout=300) != 0
    assert "a second run never replaces a first" in log.read_text()
    assert files(out) == before
