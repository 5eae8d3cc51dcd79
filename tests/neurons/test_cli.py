"""``evaluate.py dissect|noise|attack``: configs parse, jobs run from argv, bad input stops at start-up."""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

import pytest
import yaml

from robattr.cli.evaluate import main as evaluate_main
from robattr.cli.neurons import main

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(glob.glob(str(ROOT / "configs/neurons/*.yaml")))


def _args(job: str, data: Path, out: Path, n_images: int = 64) -> list[str]:
    return [
        job,
        "--config",
        str(ROOT / f"configs/neurons/quickstart_{job}.yaml"),
        "--data.init_args.root",
        str(data),
        "--data.init_args.n_images",
        str(n_images),
        "--output_dir",
        str(out),
        "--dissection.progress",
        "false",
        "--device",
        "cpu",
    ]


@pytest.mark.parametrize("config", CONFIGS, ids=os.path.basename)
def test_every_config_parses(config, capsys):
    name = os.path.basename(config)
    job = name.split("_")[1].split(".")[0] if name.startswith("quickstart") else "dissect"
    with pytest.raises(SystemExit) as exit_info:  # the one evaluation parser, subcommand `job`
        evaluate_main([job, "--config", config, "--print_config"])
    assert exit_info.value.code in (0, None)
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["dissection"]["quantile"] == 0.005


def test_dissect_job_writes_results(tmp_path):
    metrics = main(_args("dissect", tmp_path / "data", tmp_path / "out"))
    assert metrics["dissect/units"] == 6
    assert {"tally.csv", "result.json", "result.pt"} <= set(os.listdir(tmp_path / "out" / "clean"))
    assert glob.glob(str(tmp_path / "out" / "tensorboard" / "events.out.tfevents*"))
    saved = yaml.safe_load((tmp_path / "out" / "config.yaml").read_text())
    assert saved["dissection"]["layer"] == "pool" and saved["model"]["class_path"] == "robattr.models.PlantedUnitCNN"
    # the saved config reruns as is; noise reuses the clean dissection
    noise = main(
        [
            "noise",
            "--config",
            str(tmp_path / "out" / "config.yaml"),
            "--output_dir",
            str(tmp_path / "noise"),
            "--clean",
            str(tmp_path / "out"),
            "--noise.sigma",
            "0.01",
            "--tensorboard",
            "false",
        ]
    )
    assert noise["noise/sigma"] == 0.01 and "noise/changed/all" in noise
    written = json.loads((tmp_path / "noise" / "metrics.json").read_text())
    assert written["noise/changed/all"] == noise["noise/changed/all"]


def test_attack_job_runs_from_argv(tmp_path):
    metrics = main(_args("attack", tmp_path / "data", tmp_path / "out") + ["--tensorboard", "false"])
    assert metrics["attack/kind"] == "ConceptAttack" and metrics["attack/source_label"] == "red"
    assert os.path.isdir(tmp_path / "out" / "poisoned" / "images")


def test_bad_layer_stops_with_a_clear_message(tmp_path):
    message = (
        "Expected `layer` to name a submodule of PlantedUnitCNN (one of ['conv', 'act', 'pool', 'head']), "
        "but got 'conv9'"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        main(_args("dissect", tmp_path / "data", tmp_path / "out", 8) + ["--dissection.layer", "conv9"])
    assert not os.path.exists(tmp_path / "out" / "clean")


def test_negative_eps_stops_at_start_up(tmp_path):
    # jsonargparse wraps the error of a class argument in its own message; ours is inside, whole
    with pytest.raises(ValueError, match=re.escape("Expected `eps` to be a non-negative float, but got -0.1")):
        main(_args("attack", tmp_path / "data", tmp_path / "out", 8) + ["--attack.init_args.eps", "-0.1"])
    assert not os.path.exists(tmp_path / "data")  # the probing set is generated only after every check passed


def test_missing_broden_directory_stops_with_a_clear_message(tmp_path):
    missing = tmp_path / "broden1_224"
    # jsonargparse wraps the error of a class argument in a ValueError of its own; ours is inside, whole
    with pytest.raises(
        ValueError, match=re.escape(f"Expected `root` to be an existing Broden directory, but got {str(missing)!r}")
    ):
        main(
            [
                "dissect",
                "--config",
                str(ROOT / "configs/neurons/broden_resnet18.yaml"),
                "--data.init_args.root",
                str(missing),
                "--model.init_args.weights_path",
                "null",
                "--output_dir",
                str(tmp_path / "out"),
            ]
        )


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def test_a_job_pointed_at_another_jobs_directory_changes_nothing_there(tmp_path):
    out = tmp_path / "dissect"
    main(_args("dissect", tmp_path / "data", out, 32) + ["--tensorboard", "false"])
    before = _files(out)
    message = (
        "Expected `output_dir` to be a new directory or one holding results of a 'noise' job, but got "
        f"'{out}' holding the results of a 'dissect' job; choose another directory"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        main(_args("noise", tmp_path / "data", out, 32) + ["--clean", str(out)])
    assert _files(out) == before  # config.yaml and metrics.json of the dissection untouched


def test_a_rerun_is_refused_unless_overwrite_and_the_saved_config_never_overwrites(tmp_path):
    out = tmp_path / "d"
    args = _args("dissect", tmp_path / "data", out, 32) + ["--tensorboard", "false"]
    main(args)
    before = _files(out)
    with pytest.raises(FileExistsError, match=re.escape("pass overwrite=True (--overwrite true) to replace them")):
        main(args)
    assert _files(out) == before
    main(args + ["--overwrite", "true"])
    assert yaml.safe_load((out / "config.yaml").read_text())["overwrite"] is False
    assert json.loads((out / "robattr_job.json").read_text())["status"] == "complete"
