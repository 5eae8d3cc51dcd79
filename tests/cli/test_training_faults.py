"""Training faults through the real command line, in subprocesses: divergence, kills, signals, reruns, resumes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
