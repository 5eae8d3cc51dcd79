"""What a newcomer sees: each job's --help shows what it takes; no banners or known warnings; one TensorBoard run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from robattr.cli.evaluate import main as evaluate_main
from robattr.cli.train import main as train_main
from robattr.cli.train import run as train

ROOT = Path(__file__).resolve().parents[2]
NATURAL = str(ROOT / "configs/mnist5k/natural_quick.yaml")


def help_text(main, args: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--help"])
    assert exit_info.value.code in (0, None)
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("main", "args"),
    [(train_main, ["fit"]), (train_main, ["test"]), (evaluate_main, ["test"]), (evaluate_main, ["dissect"]),
     (evaluate_main, ["noise"]), (evaluate_main, ["attack"])],
    ids=["train fit", "train test", "evaluate test", "dissect", "noise", "attack"],
)  # fmt: skip
def test_help_shows_what_the_job_takes(main, args, capsys, monkeypatch):
    monkeypatch.delenv("ROBATTR_HELP", raising=False)
    text = help_text(main, args, capsys)
    assert len(text.splitlines()) < 260
    assert "--trainer.gradient_clip_val" not in text and "--trainer.detect_anomaly" not in text
    assert "torch.nn.Linear" not in text and "torch.nn.Identity" not in text  # not every nn.Module in torch
    assert f"usage: {os.path.basename(sys.argv[0])} [options] {args[0]}" in text  # the command's own name
    if args[0] in ("dissect", "noise", "attack"):
        assert "robattr.models.PlantedUnitCNN" in text and "--output_dir" in text
    else:
        assert "--trainer.devices" in text and "robattr.data.MNIST5k" in text


def test_full_help_on_request(capsys, monkeypatch):
    monkeypatch.setenv("ROBATTR_HELP", "full")
    assert "--trainer.gradient_clip_val" in help_text(train_main, ["fit"], capsys)


@pytest.mark.slow
def test_test_logs_into_the_training_run(tmp_path):
    ckpt = str(tmp_path / "ckpt")
    callbacks = json.dumps([{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                             "init_args": {"dirpath": ckpt, "filename": "last"}}])  # fmt: skip
    common = ["--config", NATURAL, "--trainer.accelerator", "cpu", "--trainer.enable_progress_bar", "false",
              "--trainer.enable_model_summary", "false", "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"),
              "--trainer.callbacks", callbacks, "--model.init_args.test_attack.init_args.steps", "1"]  # fmt: skip
    train(["fit", *common, "--trainer.max_steps", "1", "--trainer.limit_val_batches", "1"])
    train(["test", *common, "--ckpt_path", "last", "--trainer.limit_test_batches", "1"])
    run_dir = tmp_path / "logs" / "mnist5k_natural_quick"
    assert [p.name for p in run_dir.iterdir()] == ["version_0"]  # no second run holding two scalars
    files = {p.name for p in (run_dir / "version_0").iterdir()}
    assert {"config.yaml", "config_test.yaml"} <= files  # the fit's config.yaml stays the fit's
    assert len([f for f in files if f.startswith("events.out.tfevents")]) == 2


@pytest.mark.slow
def test_the_console_shows_no_banners_or_known_warnings(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, str(ROOT / "train.py"), "fit", "--config", NATURAL, "--trainer.max_steps", "2",
           "--trainer.limit_val_batches", "1", "--trainer.enable_progress_bar", "false",
           "--model.init_args.num_vis", "0"]  # fmt: skip
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    console = out.stdout + out.stderr
    for noise in ("GPU available", "TPU available", "Tip:", "litlogger", "LeafSpec", "does not have many workers"):
        assert noise not in console, noise
    assert "epoch 1/3  step 2" in console  # the summary line of the (cut) epoch
