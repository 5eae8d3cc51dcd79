"""train.py / evaluate.py end to end: resume, bad configuration, DDP on CPU (gloo)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from robattr.cli.train import main as console_main
from robattr.cli.train import run as train_main

ROOT = Path(__file__).resolve().parents[1]
NATURAL = str(ROOT / "configs/mnist5k/natural_quick.yaml")


def fast_args(tmp_path: Path, name: str = "run", max_steps: int = 2) -> list[str]:
    return [
        "--config",
        NATURAL,
        "--trainer.max_steps",
        str(max_steps),
        "--trainer.max_epochs",
        "-1",
        "--trainer.limit_val_batches",
        "1",  # one batch (an integer stays an integer: see test_an_integer_batch_limit_stays_an_integer)
        "--trainer.enable_progress_bar",
        "false",
        "--trainer.enable_model_summary",
        "false",
        "--trainer.accelerator",
        "cpu",
        "--trainer.logger.init_args.save_dir",
        str(tmp_path / "logs"),
        "--trainer.callbacks",
        json.dumps(
            [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {
                        "dirpath": str(tmp_path / "ckpt" / name),
                        "filename": "last",
                        "enable_version_counter": False,
                    },
                },
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {
                        "dirpath": str(tmp_path / "ckpt" / name),
                        "filename": "best",
                        "monitor": "val/acc",
                        "mode": "max",
                    },
                },
            ]
        ),
        "--model.init_args.val_attack.init_args.steps",
        "2",
        "--model.init_args.num_vis",
        "2",
    ]


def test_resume_continues_from_the_saved_step(tmp_path):
    # the console script's entry point returns None (a returned object would make the exit status 1)
    assert console_main(["fit", *fast_args(tmp_path)]) is None
    last = tmp_path / "ckpt" / "run" / "last.ckpt"
    saved = torch.load(last, weights_only=False)
    assert saved["global_step"] == 2
    # resuming with the same budget trains nothing: the parameters are exactly the saved ones
    cli = train_main(["fit", *fast_args(tmp_path), "--ckpt_path", str(last)])
    assert cli.trainer.global_step == 2
    for key, value in cli.model.state_dict().items():
        torch.testing.assert_close(value, saved["state_dict"][key])
    # one more step of budget: exactly one more optimizer step
    cli = train_main(["fit", *fast_args(tmp_path, max_steps=3), "--ckpt_path", "last"])
    assert cli.trainer.global_step == 3
    assert torch.load(last, weights_only=False)["global_step"] == 3  # last.ckpt follows every validation
    assert any(not torch.equal(v, saved["state_dict"][k]) for k, v in cli.model.state_dict().items())


@pytest.mark.parametrize(("value", "expected"), [("1", 1), ("3", 3), ("1.0", 1.0), ("0.25", 0.25)])
def test_an_integer_batch_limit_stays_an_integer(value, expected, tmp_path, capsys):
    # Lightning reads an int as a number of batches and a float as a fraction: `1` must not become 1.0 (100 %)
    config = tmp_path / "limits.yaml"
    config.write_text(f"trainer:\n  limit_test_batches: {value}\n")
    with pytest.raises(SystemExit):
        train_main(["fit", "--config", NATURAL, "--config", str(config), "--trainer.limit_val_batches", value,
                    "--print_config"])  # fmt: skip
    trainer = yaml.safe_load(capsys.readouterr().out)["trainer"]
    for key in ("limit_val_batches", "limit_test_batches"):
        assert trainer[key] == expected and type(trainer[key]) is type(expected)


def test_negative_eps_stops_at_start_up(tmp_path):
    # jsonargparse wraps the error of an optional argument in its own message; ours is inside, whole
    with pytest.raises(ValueError, match=r"Expected `eps` to be a finite number in \[0.0, 1.0\], but got -0.1"):
        train_main(["fit", *fast_args(tmp_path), "--model.init_args.val_attack.init_args.eps", "-0.1"])


def test_missing_dataset_directory_stops_at_start_up(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(
        FileNotFoundError, match=r"^Expected `data_dir` to be a directory holding .*" + str(missing).replace("/", "/")
    ):
        train_main(["fit", *fast_args(tmp_path), "--data", "robattr.data.MNIST", "--data.data_dir", str(missing)])


def test_unknown_model_stops_at_start_up(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_main(["fit", *fast_args(tmp_path), "--model.init_args.net", "robattr.models.NoSuchNet"])
    assert "robattr.models.NoSuchNet" in capsys.readouterr().err
    with pytest.raises(
        ValueError,
        match=r"Expected `arch` to be one of torchvision's classification models \['alexnet', .*'wide_resnet50_2'\], "
        r"but got 'resnet9000'",
    ):
        train_main(
            [
                "fit",
                *fast_args(tmp_path),
                "--model.init_args.net",
                "robattr.models.TorchvisionClassifier",
                "--model.init_args.net.init_args.arch",
                "resnet9000",
            ]
        )


@pytest.mark.ddp
def test_the_same_config_runs_with_ddp_on_two_cpu_processes(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "fit",
        *fast_args(tmp_path, "ddp"),
        "--trainer.strategy",
        "ddp",
        "--trainer.devices",
        "2",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "distributed_backend=gloo" in out.stderr + out.stdout
    saved = torch.load(tmp_path / "ckpt" / "ddp" / "last.ckpt", weights_only=False)
    assert saved["global_step"] == 2
