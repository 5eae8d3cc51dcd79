"""Every YAML in configs/ parses against the code it names (catches stale class paths and argument names)."""

from pathlib import Path

import pytest

from robattr.cli.evaluate import main as evaluate_main
from robattr.cli.train import run as train_main

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TRAINING_DIRS = ("mnist5k", "mnist5k/reproduction", "mnist", "flower17")
TRAIN = sorted(p for d in TRAINING_DIRS for p in (CONFIGS / d).glob("*.yaml"))
EVAL = sorted((CONFIGS / "eval").glob("*.yaml"))


@pytest.mark.parametrize("path", TRAIN, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_training_config_parses(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(["fit", "--config", str(path), "--print_config"])
    assert exit_info.value.code in (0, None)
    assert "class_path: robattr.training." in capsys.readouterr().out


@pytest.mark.parametrize("path", EVAL, ids=lambda p: p.name)
def test_evaluation_config_parses(path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_main(["--config", str(path), "--print_config"])
    assert exit_info.value.code in (0, None)
    assert "class_path: robattr.evaluation." in capsys.readouterr().out


def test_every_training_mode_has_a_config_per_dataset():
    for dataset in ("mnist5k", "mnist", "flower17"):
        assert {p.stem for p in (CONFIGS / dataset).glob("*.yaml")} >= {"natural", "pgd", "ig_norm", "ig_sum_norm"}
