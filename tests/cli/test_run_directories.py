"""A second fit never mixes into an earlier run's checkpoints; a resume applies the command line or refuses."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

from robattr.cli.train import RunDirectoryError, model_config_changes
from robattr.cli.train import run as train

ROOT = Path(__file__).resolve().parents[2]
NATURAL = str(ROOT / "configs/mnist5k/natural_quick.yaml")


def args(tmp_path: Path, *extra: str, steps: int = 2) -> list[str]:
    ckpt = str(tmp_path / "ckpt")
    last = {"dirpath": ckpt, "filename": "last"}
    callbacks = [{"class_path": "lightning.pytorch.callbacks.ModelCheckpoint", "init_args": last}]
    return [
        "fit", "--config", NATURAL, "--trainer.max_steps", str(steps), "--trainer.limit_val_batches", "1",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.accelerator", "cpu", "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"),
        "--trainer.callbacks", json.dumps(callbacks), "--model.init_args.val_attack.init_args.steps", "2",
        "--model.init_args.num_vis", "0", *extra,
    ]  # fmt: skip


def saved(tmp_path: Path) -> dict:
    return torch.load(tmp_path / "ckpt" / "last.ckpt", map_location="cpu", weights_only=False)


def test_changes_are_listed_per_setting():
    before = {"class_path": "A", "init_args": {"steps": 40, "net": {"class_path": "N"}}}
    after = {"class_path": "A", "init_args": {"steps": 2, "net": {"class_path": "N"}, "new": 1}}
    assert model_config_changes(before, after) == {
        "model.init_args.new": ("(absent)", 1),
        "model.init_args.steps": (40, 2),
    }


@pytest.mark.slow
def test_a_second_fit_into_the_same_checkpoints_refuses_and_changes_nothing(tmp_path):
    train(args(tmp_path))
    first = (tmp_path / "ckpt" / "last.ckpt").read_bytes()
    folder = tmp_path / "ckpt"
    message = (
        f"Expected the checkpoint directories of a new run to hold no checkpoints, but got {folder}: last.ckpt. "
        "Resume that run with --ckpt_path last, save this one elsewhere (the dirpath of the ModelCheckpoint "
        "callbacks in --trainer.callbacks), or pass --overwrite true to delete them and start over"
    )
    with pytest.raises(RunDirectoryError, match=f"^{re.escape(message)}$"):
        train(args(tmp_path, steps=3))
    assert (tmp_path / "ckpt" / "last.ckpt").read_bytes() == first
    cli = train(args(tmp_path, "--overwrite", "true", steps=1))  # explicitly: start over
    assert cli.trainer.global_step == 1 and saved(tmp_path)["global_step"] == 1


@pytest.mark.slow
def test_ckpt_path_last_without_a_checkpoint_starts_a_new_run(tmp_path):
    cli = train(args(tmp_path, "--ckpt_path", "last"))
    assert cli.trainer.global_step == 2 and saved(tmp_path)["global_step"] == 2
    cli = train(args(tmp_path, "--ckpt_path", "last"))  # the same command again: nothing left to train
    assert cli.trainer.global_step == 2


@pytest.mark.slow
def test_resume_applies_the_command_line_and_says_what_changed(tmp_path, rank_zero_lines):
    train(args(tmp_path))
    assert saved(tmp_path)["hyper_parameters"]["val_attack"]["init_args"]["steps"] == 2
    cli = train(args(tmp_path, "--ckpt_path", "last", "--model.init_args.val_attack.init_args.steps", "3",
                     "--model.init_args.loss_reduction", "sum", steps=3))  # fmt: skip
    text = "\n".join(rank_zero_lines)
    assert cli.model.val_attack.steps == 3 and cli.model.loss_reduction == "sum"  # not the checkpoint's values
    assert cli.trainer.global_step == 3
    assert "--model.init_args.val_attack.init_args.steps: 2 -> 3" in text
    assert "--model.init_args.loss_reduction: 'mean' -> 'sum'" in text
    assert saved(tmp_path)["hyper_parameters"]["val_attack"]["init_args"]["steps"] == 3


@pytest.mark.slow
def test_resume_refuses_a_different_optimizer_or_network(tmp_path):
    train(args(tmp_path))
    last = tmp_path / "ckpt" / "last.ckpt"
    lr = '{"class_path": "torch.optim.Adam", "init_args": {"lr": 0.01}}'
    message = (
        f"Expected the settings that {last} was trained with for its network, class count, optimizer and schedule, "
        "but got --model.init_args.optimizer.init_args.lr: 0.001 in the checkpoint, 0.01 now. Start a new run "
        "instead (without --ckpt_path)"
    )
    with pytest.raises(RunDirectoryError, match=f"^{re.escape(message)}$"):
        train(args(tmp_path, "--ckpt_path", "last", "--model.init_args.optimizer", lr, steps=3))
    with pytest.raises(RunDirectoryError, match=re.escape("--model.init_args.net.init_args.num_classes: 10 in")):
        train(args(tmp_path, "--ckpt_path", str(last), "--model.init_args.net.init_args.num_classes", "12", steps=3))
    assert saved(tmp_path)["global_step"] == 2
