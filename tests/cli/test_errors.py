"""Errors a person can read: one line naming the argument, the value and what was expected; exit status != 0."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from robattr.cli.common import JobError, condense_parser_error, error_message

ROOT = Path(__file__).resolve().parents[2]
NATURAL = str(ROOT / "configs/mnist5k/natural_quick.yaml")


def cli(script: str, *args: str, cwd: Path, debug: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("ROBATTR_DEBUG", None)
    if debug:
        env["ROBATTR_DEBUG"] = "1"
    cmd = [sys.executable, str(ROOT / script), *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_jsonargparse_messages_condense_to_the_argument_path_and_the_complaint():
    nested = """Parser key "model":
  Does not validate against any of the Union subtypes
  Subtypes: [<class 'robattr.training.classifier.ClassifierModule'>, <class 'NoneType'>]
  Errors:
    - Problem with given class_path 'robattr.training.NaturalTraining':
        Parser key "loss_reduction":
          Expected a typing.Literal['mean', 'sum']. Got value: max
    - Expected a <class 'NoneType'>
  Given value type: <class 'jsonargparse._util.NestedArg'>
  Given value: NestedArg(key='loss_reduction', val='max')"""
    assert (
        condense_parser_error(nested)
        == "--model.init_args.loss_reduction: Expected a typing.Literal['mean', 'sum']. Got value: max"
    )
    unknown = """Parser key "model":
  Errors:
    - Problem with given class_path 'robattr.training.NaturalTraining':
        Option 'foo' is not accepted
    - Expected a <class 'NoneType'>
  Given value: NestedArg(key='foo', val='1')"""
    assert condense_parser_error(unknown) == "--model.init_args.foo: Option 'foo' is not accepted (given: 1)"
    assert condense_parser_error("plain message") == "plain message"


def test_only_input_errors_lose_their_traceback():
    try:
        try:
            raise ValueError("Expected `eps` to be a non-negative float, but got -0.1")
        except ValueError as inner:
            raise ValueError("Does not validate against any of the Union subtypes") from inner
    except ValueError as wrapped:
        assert error_message(wrapped) == "Expected `eps` to be a non-negative float, but got -0.1"
        wrapped.robattr_stage = "run"  # once the job runs, robattr's own checks still speak for themselves
        assert error_message(wrapped) == "Expected `eps` to be a non-negative float, but got -0.1"
    bug = ValueError("too many values to unpack")
    assert error_message(bug) == "too many values to unpack"  # at start-up: a value error is an input error
    bug.robattr_stage = "run"
    assert error_message(bug) is None  # while running: a bug, keep the traceback
    assert error_message(KeyError("x")) is None  # not an input error
    assert error_message(JobError("train/loss is nan at step 3")) == "train/loss is nan at step 3"


@pytest.mark.slow
def test_bad_value_prints_one_line_and_exits_2(tmp_path):
    args = ["fit", "--config", NATURAL, "--model.init_args.val_attack.init_args.eps", "-0.1"]
    out = cli("train.py", *args, cwd=tmp_path)
    assert out.returncode == 2
    line = r"^train\.py: error: Expected `eps` to be .*, but got -0\.1 \(in robattr\.attacks\."
    assert re.search(line, out.stderr, re.M), out.stderr
    assert "Traceback" not in out.stderr and "ROBATTR_DEBUG=1" in out.stderr
    debug = cli("train.py", *args, cwd=tmp_path, debug=True)
    assert debug.returncode != 0 and "Traceback" in debug.stderr and "but got -0.1" in debug.stderr


@pytest.mark.slow
def test_parse_error_names_the_argument_without_the_usage_screen(tmp_path):
    out = cli("train.py", "fit", "--config", NATURAL, "--trainer.max_epochs", "abc", cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert lines[0] == "train.py fit: error: --trainer.max_epochs: Expected a <class 'int'> (given: abc)"
    assert len(lines) == 2 and "usage:" not in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_evaluation_job_prints_one_line(tmp_path):
    missing = tmp_path / "nowhere.ckpt"
    config = str(ROOT / "configs/eval/mnist5k_quick.yaml")
    out = cli("evaluate.py", "--config", config, "--model.init_args.checkpoint", str(missing), cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    expected = f"evaluate.py: error: Expected `checkpoint` to be an existing checkpoint file, but got '{missing}'"
    assert expected in out.stderr


@pytest.mark.slow
def test_neuron_job_prints_one_line_before_any_work(tmp_path):
    config = str(ROOT / "configs/neurons/quickstart_dissect.yaml")
    args = ["dissect", "--config", config, "--dissection.layer", "conv9", "--output_dir", str(tmp_path / "out")]
    out = cli("evaluate.py", *args, "--data.init_args.root", str(tmp_path / "broden"), "--device", "cpu", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    line = r"^evaluate\.py: error: Expected `layer` to name a submodule of PlantedUnitCNN .*but got 'conv9'"
    assert re.search(line, out.stderr, re.M), out.stderr
    assert not (tmp_path / "out").exists()
