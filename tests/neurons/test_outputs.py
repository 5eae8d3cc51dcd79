"""Output directories of the neuron jobs: checked before compute, never another job's, never silently replaced,
written atomically, with metadata; a reused clean dissection must match the job's layer, model and probing set."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robattr.data.files import CorruptFileError
from robattr.models import PlantedUnitCNN
from robattr.neurons import NetworkDissection, NoiseCorruption, run_dissect, run_noise
from robattr.neurons.dissection import DissectionResult, dissection_fingerprint, model_digest
from robattr.neurons.outputs import JOB_FILE, atomic_file, open_output_dir, read_job


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_clean(planted, small_set, dissection) -> DissectionResult:
    return dissection(planted, small_set)


@pytest.fixture
def no_compute(monkeypatch):
    """Fail the test if a dissection starts: the checks must come first."""
    monkeypatch.setattr(NetworkDissection, "__call__", lambda *a, **k: pytest.fail("computed before the checks"))


def _dissect(planted, small_set, dissection, out: Path) -> dict[str, bytes]:
    run_dissect(planted, small_set, dissection, str(out), tensorboard=False)
    return snapshot(out)


def test_noise_job_refuses_a_dissect_directory(planted, small_set, dissection, tmp_path, monkeypatch):
    out = tmp_path / "dissect"
    before = _dissect(planted, small_set, dissection, out)
    monkeypatch.setattr(NetworkDissection, "__call__", lambda *a, **k: pytest.fail("computed before the checks"))
    message = (
        "Expected `output_dir` to be a new directory or one holding results of a 'noise' job, but got "
        f"'{out}' holding the results of a 'dissect' job; choose another directory"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run_noise(planted, small_set, dissection, NoiseCorruption(sigma=0.01), str(out), config="noise: {}\n")
    assert snapshot(out) == before  # config.yaml, metrics.json and clean/ untouched


def test_a_second_run_is_refused_unless_overwrite(planted, small_set, dissection, small_clean, tmp_path):
    out = tmp_path / "noise"
    run_noise(planted, small_set, dissection, NoiseCorruption(sigma=0.01), str(out), clean=small_clean)
    before = snapshot(out)
    message = (
        f"Expected `output_dir` to hold no earlier results, but got '{out}' with complete results of an earlier "
        "'noise' job; pass overwrite=True (--overwrite true) to replace them, or choose another directory"
    )
    with pytest.raises(FileExistsError, match=f"^{re.escape(message)}$"):
        run_noise(planted, small_set, dissection, NoiseCorruption(sigma=0.05), str(out), clean=small_clean)
    assert snapshot(out) == before
    metrics = run_noise(
        planted, small_set, dissection, NoiseCorruption(sigma=0.05), str(out), clean=small_clean, overwrite=True
    )
    written = json.loads((out / "metrics.json").read_text())
    assert written["noise/sigma"] == 0.05 == metrics["noise/sigma"] and read_job(str(out))["status"] == "complete"
    assert not list(out.rglob("*.tmp"))


def test_unmarked_results_count_as_results(planted, small_set, dissection, tmp_path, no_compute):
    out = tmp_path / "old"
    (out / "clean").mkdir(parents=True)
    (out / "metrics.json").write_text("{}")
    message = (
        f"Expected `output_dir` to hold no earlier results, but got '{out}' with results ['clean', 'metrics.json']; "
        "pass overwrite=True (--overwrite true) to replace them, or choose another directory"
    )
    with pytest.raises(FileExistsError, match=f"^{re.escape(message)}$"):
        run_dissect(planted, small_set, dissection, str(out))
    assert (out / "metrics.json").read_text() == "{}"


def test_output_dir_under_a_file_fails_before_compute(planted, small_set, dissection, tmp_path, no_compute):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "run"
    message = (
        f"Expected `output_dir` to be a directory robattr can create and write, but got '{out}' "
        "(NotADirectoryError: Not a directory); choose another directory or fix its permissions"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run_noise(planted, small_set, dissection, NoiseCorruption(), str(out))


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_dir_fails_before_compute(planted, small_set, dissection, tmp_path, no_compute):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        message = (
            f"Expected `output_dir` to be a directory robattr can create and write, but got '{out}' "
            "(PermissionError: Permission denied); choose another directory or fix its permissions"
        )
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            run_dissect(planted, small_set, dissection, str(out))
    finally:
        out.chmod(0o755)
    assert os.listdir(out) == []


def _mismatch(detail: str, where: str = "") -> str:
    return (
        "Expected `clean` to be a dissection of the same layer, model and probing set as this job, but got "
        f"one{where} that differs in {detail} (`clean` vs this job); dissect again, or pass the result of a "
        "`dissect` run with these settings"
    )


def test_clean_of_another_layer_is_an_error(planted, small_set, dissection, tmp_path):
    other = NetworkDissection("conv", progress=False)(planted, small_set)
    message = _mismatch("layer: 'conv' vs 'pool'")
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        run_noise(planted, small_set, dissection, NoiseCorruption(), str(tmp_path / "out"), clean=other)
    assert not (tmp_path / "out").exists()  # refused before the output directory was touched


def test_clean_of_another_model_is_an_error(small_set, dissection, small_clean, tmp_path):
    model = PlantedUnitCNN(gain=6.0)
    detail = f"model_hash: {model_digest(PlantedUnitCNN())!r} vs {model_digest(model)!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(_mismatch(detail))}$"):
        run_noise(model, small_set, dissection, NoiseCorruption(), str(tmp_path / "out"), clean=small_clean)


def test_clean_of_another_probing_set_or_quantile_is_an_error(
    planted, probing_set, small_set, dissection, small_clean, tmp_path
):
    mine, theirs = dissection_fingerprint(planted, probing_set, dissection), small_clean.fingerprint
    detail = f"data_root: {theirs['data_root']!r} vs {mine['data_root']!r}; num_images: 64 vs {len(probing_set)}"
    with pytest.raises(ValueError, match=f"^{re.escape(_mismatch(detail))}$"):
        run_noise(planted, probing_set, dissection, NoiseCorruption(), str(tmp_path / "a"), clean=small_clean)
    finer = NetworkDissection("pool", quantile=0.01, progress=False)
    with pytest.raises(ValueError, match=f"^{re.escape(_mismatch('quantile: 0.005 vs 0.01'))}$"):
        run_noise(planted, small_set, finer, NoiseCorruption(), str(tmp_path / "b"), clean=small_clean)


def test_clean_loaded_from_disk_is_named_with_its_file(planted, small_set, dissection, tmp_path):
    _dissect(planted, small_set, dissection, tmp_path / "d")
    loaded = DissectionResult.load(str(tmp_path / "d"))
    path = str(tmp_path / "d" / "clean" / "result.pt")
    assert loaded.source == path and loaded.fingerprint == dissection_fingerprint(planted, small_set, dissection)
    other = NetworkDissection("conv", progress=False)
    detail = "layer: 'pool' vs 'conv'"
    with pytest.raises(ValueError, match=f"^{re.escape(_mismatch(detail, f' (from {path!r})'))}$"):
        run_noise(planted, small_set, other, NoiseCorruption(), str(tmp_path / "y"), clean=loaded)


def test_clean_of_a_corrupted_set_is_an_error(planted, small_set, dissection, tmp_path):
    noisy = tmp_path / "noisy"
    NoiseCorruption(sigma=0.1)(small_set, str(noisy))
    corrupted = dissection(planted, small_set.redirect(str(noisy)))
    detail = f"image_overrides: {os.path.realpath(noisy)!r} vs None"
    with pytest.raises(ValueError, match=f"^{re.escape(_mismatch(detail))}$"):
        run_noise(planted, small_set, dissection, NoiseCorruption(), str(tmp_path / "x"), clean=corrupted)


def test_clean_saved_without_fingerprint_is_checked_on_what_it_holds(planted, small_set, small_clean, tmp_path):
    state = small_clean.state_dict()
    del state["fingerprint"]
    legacy = DissectionResult.from_state_dict(state)
    other = NetworkDissection("conv", progress=False)
    with pytest.warns(UserWarning, match=re.escape("`clean` was saved without a fingerprint (an older robattr)")):
        with pytest.raises(ValueError, match=re.escape("layer: 'pool' vs 'conv'")):
            run_noise(planted, small_set, other, NoiseCorruption(), str(tmp_path / "x"), clean=legacy)


def test_truncated_result_pt_names_the_file(small_clean, tmp_path):
    path = tmp_path / "result.pt"
    torch.save(small_clean.state_dict(), path)
    path.write_bytes(path.read_bytes()[:300])
    prefix = f"Expected '{path}' to be a dissection saved by robattr (result.pt), but loading it failed ("
    suffix = "); run the dissection again (the file is a torn or foreign copy)"
    with pytest.raises(CorruptFileError, match=f"^{re.escape(prefix)}.*{re.escape(suffix)}$"):
        DissectionResult.load(str(path))


def test_results_carry_metadata(planted, small_set, dissection, tmp_path):
    out = tmp_path / "d"
    run_dissect(planted, small_set, dissection, str(out), tensorboard=False, config="dissection: {}\n")
    meta = json.loads((out / "metrics.json").read_text())["metadata"]
    assert meta["job"] == "dissect" and meta["layer"] == "pool" and meta["num_images"] == len(small_set)
    assert meta["model"] == "robattr.models.planted.PlantedUnitCNN" and meta["model_hash"] == model_digest(planted)
    assert meta["data_root"] == os.path.realpath(small_set.root) and meta["quantile"] == 0.005
    assert meta["torch"] == torch.__version__ and meta["robattr"] and meta["lightning"] and meta["started"]
    result_meta = json.loads((out / "clean" / "result.json").read_text())["metadata"]
    assert result_meta["model_hash"] == meta["model_hash"] and result_meta["job"] == "dissect"
    record = read_job(str(out))
    assert record["status"] == "complete" and record["job"] == "dissect" and record["finished"]
    assert (out / "config.yaml").read_text() == "dissection: {}\n"


def test_atomic_file_keeps_the_previous_file_on_error(tmp_path):
    path = tmp_path / "metrics.json"
    path.write_text('{"old": 1}')
    with pytest.raises(RuntimeError, match="^killed$"):
        with atomic_file(str(path)) as f:
            f.write('{"new": ')
            raise RuntimeError("killed")
    assert path.read_text() == '{"old": 1}' and os.listdir(tmp_path) == ["metrics.json"]


def _record(out: Path, pid: int, job: str = "dissect") -> None:
    out.mkdir(parents=True, exist_ok=True)
    record = {"job": job, "status": "running", "host": socket.gethostname(), "pid": pid}
    (out / JOB_FILE).write_text(json.dumps(record))


def test_leftovers_of_an_unfinished_run_are_replaced(planted, small_set, dissection, tmp_path):
    out = tmp_path / "d"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _record(out, dead.pid)
    (out / "metrics.json").write_text("torn")
    run_dissect(planted, small_set, dissection, str(out), tensorboard=False)
    assert json.loads((out / "metrics.json").read_text())["dissect/units"] == 6


def test_a_directory_another_process_is_writing_is_refused(tmp_path):
    out = tmp_path / "busy"
    _record(out, os.getppid())
    message = (
        f"Expected `output_dir` to be free, but got '{out}' being written by another 'dissect' run (process "
        f"{os.getppid()} on {socket.gethostname()}); wait for it or choose another directory"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        open_output_dir(str(out), "dissect")


def test_corrupt_job_record_names_the_file(tmp_path):
    (tmp_path / JOB_FILE).write_text("{")
    with pytest.raises(
        ValueError, match=f"^{re.escape(f'Expected {str(tmp_path / JOB_FILE)!r} to be the job record')}"
    ):
        open_output_dir(str(tmp_path), "noise")
