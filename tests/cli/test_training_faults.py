"""Training faults through the real command line, in subprocesses: divergence, kills, signals, reruns, resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
import torch

from robattr.training.guards import first_non_finite

ROOT = Path(__file__).resolve().parents[2]
NATURAL = str(ROOT / "configs/mnist5k/natural_quick.yaml")


def env(**extra: str) -> dict[str, str]:
    out = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}
    out.pop("ROBATTR_DEBUG", None)
    return out


def train_args(ckpt_dir: Path, *extra: str) -> list[str]:
    """``robattr-train fit`` of the natural quickstart config, small: validation on one batch every 2 steps."""
    checkpoint = "lightning.pytorch.callbacks.ModelCheckpoint"
    callbacks = [
        {"class_path": checkpoint, "init_args": {"dirpath": str(ckpt_dir), "filename": "last"}},
        {
            "class_path": checkpoint,
            "init_args": {"dirpath": str(ckpt_dir), "filename": "best-{step}", "monitor": "val/acc", "mode": "max"},
        },
    ]
    return [
        str(ROOT / "train.py"),
        "fit",
        "--config",
        NATURAL,
        "--trainer.callbacks",
        json.dumps(callbacks),
        "--trainer.val_check_interval",
        "2",
        "--trainer.limit_val_batches",
        "1",
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.accelerator",
        "cpu",
        "--model.init_args.val_attack.init_args.steps",
        "2",
        "--model.init_args.num_vis",
        "0",
        *extra,
    ]


def all_finite(path: Path) -> bool:
    return first_non_finite(torch.load(path, map_location="cpu", weights_only=False)["state_dict"]) is None


@pytest.mark.slow
def test_diverging_training_exits_1_naming_the_step_and_saves_no_non_finite_weights(tmp_path):
    sgd = '{"class_path": "torch.optim.SGD", "init_args": {"lr": 1e6}}'
    args = train_args(tmp_path / "ckpt", "--model.init_args.optimizer", sgd, "--trainer.max_steps", "60")
    out = subprocess.run([sys.executable, *args], cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stderr[-3000:]
    lines = [line for line in out.stderr.splitlines() if line.startswith("train.py: error: ")]
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert "non-finite" in lines[0] or "train/loss is" in lines[0]
    assert " at step " in lines[0] or " of step " in lines[0]
    saved = sorted((tmp_path / "ckpt").glob("*.ckpt"))
    assert all(all_finite(path) for path in saved), saved


def _default_sigint() -> None:
    # A pytest started in the background of a non-interactive shell (as CI may start it) has SIGINT ignored, and a
    # child inherits that: give the training process the SIGINT of an interactive user, whose Ctrl-C it must handle.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def launch(args: list[str], cwd: Path, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, *args],
        cwd=cwd,
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_default_sigint,  # the test process runs no threads at this point
    )


def wait_for(condition, timeout: float, proc: subprocess.Popen) -> None:
    deadline = time.time() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"the run ended with status {proc.returncode}:\n{proc.stdout.read()[-3000:]}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError("timed out")
        time.sleep(0.2)


def wait_for_line(proc: subprocess.Popen, marker: str, timeout: float) -> None:
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if marker in line:
                return
        raise AssertionError(f"no {marker!r}; the run ended with status {proc.wait()}:\n{''.join(seen)[-3000:]}")
    finally:
        timer.cancel()


@pytest.fixture(params=["same filesystem", "tmpfs"])
def checkpoint_dir(request, tmp_path):
    if request.param == "same filesystem":
        yield tmp_path / "ckpt"
        return
    if not os.path.isdir("/dev/shm"):
        pytest.skip("no /dev/shm tmpfs")
    folder = Path(tempfile.mkdtemp(prefix="robattr-test-", dir="/dev/shm"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_kill_9_during_a_checkpoint_save_leaves_the_previous_one_loadable(tmp_path, checkpoint_dir):
    # TMPDIR on the disk, checkpoints on the disk or on a tmpfs: a save must never depend on moving across them
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    pythonpath = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    plugin = ["--trainer.plugins", "slow_checkpoint_io.PausingCheckpointIO", "--trainer.max_steps", "100"]
    proc = launch(train_args(checkpoint_dir, *plugin), tmp_path, TMPDIR=str(tmpdir), PYTHONPATH=pythonpath,
                  PAUSE_AT_SAVE="2")  # fmt: skip
    wait_for_line(proc, "PAUSED IN SAVE", timeout=300)  # inside the second write of last.ckpt (step 4)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    last = checkpoint_dir / "last.ckpt"
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 2  # the previous one, whole
    assert all_finite(last) and list(checkpoint_dir.glob(".robattr-partial-*.tmp"))  # the killed save's leftover
    resume = train_args(checkpoint_dir, "--ckpt_path", "last", "--trainer.max_steps", "4")
    out = subprocess.run([sys.executable, *resume], cwd=tmp_path, env=env(TMPDIR=str(tmpdir)), capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert not list(checkpoint_dir.glob(".robattr-partial-*.tmp"))
    assert torch.load(last, map_location="cpu", weights_only=False)["global_step"] == 4


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_saves_a_resumable_checkpoint_and_exits_non_zero_within_seconds(tmp_path, sig):
    ckpt = tmp_path / "ckpt"
    proc = launch(train_args(ckpt, "--trainer.max_steps", "100000", "--trainer.max_epochs", "-1"), tmp_path)
    wait_for(lambda: (ckpt / "last.ckpt").exists(), timeout=300, proc=proc)  # training runs: step 2 was saved
    start = time.time()
    proc.send_signal(sig)
    status = proc.wait(timeout=120)
    elapsed = time.time() - start
    log = proc.stdout.read()
    assert status == 128 + int(sig), log[-3000:]
    assert elapsed < 30, elapsed
    saved = torch.load(ckpt / "last.ckpt", map_location="cpu", weights_only=False)
    step = saved["global_step"]
    assert step >= 2 and "loops" in saved and all_finite(ckpt / "last.ckpt")
    assert f"Stopped by {sig.name} at step {step}: saved {ckpt / 'last.ckpt'}" in log
    # one more step; a validation at the end of the (cut) epoch saves it
    resume = train_args(
        ckpt, "--ckpt_path", "last", "--trainer.max_steps", str(step + 1), "--trainer.val_check_interval", "1.0"
    )
    out = subprocess.run([sys.executable, *resume], cwd=tmp_path, env=env(), capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert torch.load(ckpt / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == step + 1
