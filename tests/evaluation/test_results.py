"""Result files: atomic writes, metadata in both files, a round trip, and stable fingerprints of configurations."""

from __future__ import annotations

import pytest
import torch

from robattr.attacks import AttributionAttack
from robattr.attribution import IntegratedGradients
from robattr.evaluation.results import (
    check_writable_dir,
    describe,
    differences,
    fingerprint,
    read_results,
    write_atomic,
    write_results,
    write_text_atomic,
)
from robattr.models import MnistCNN


def test_a_failed_write_leaves_the_previous_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "results.json"
    write_text_atomic(target, "first")

    def half_then_crash(f):
        f.write(b"half of the sec")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="^disk full$"):
        write_atomic(target, half_then_crash)
    assert target.read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_round_trip_with_metadata_in_both_files(tmp_path):
    rows = [
        {"attack": "topk", "topk": 0.25, "topk_se": float("nan"), "n": 1},
        {"attack": "none", "natural_acc": torch.tensor(0.5)},
    ]
    write_results(tmp_path, rows, {"k": 100, "radii": [1, 2], "checkpoint": tmp_path / "a.ckpt"})
    expected = [
        {"attack": "topk", "topk": 0.25, "topk_se": None, "n": 1, "natural_acc": None},
        {"attack": "none", "topk": None, "topk_se": None, "n": None, "natural_acc": 0.5},
    ]
    for name in ("results.json", "results.csv"):
        metadata, back = read_results(tmp_path / name)
        assert metadata == {"k": 100, "radii": [1, 2], "checkpoint": str(tmp_path / "a.ckpt")}
        assert [{c: r.get(c) for c in expected[0]} for r in back] == expected
    assert (tmp_path / "results.csv").read_text().startswith('# k: 100\n# radii: [1, 2]\n# checkpoint: "')


def test_read_results_refuses_other_json(tmp_path):
    (tmp_path / "results.json").write_text("[1, 2]")
    with pytest.raises(
        ValueError,
        match=f"^Expected `path` to be a robattr results.json with `metadata` and `rows`, but got '{tmp_path}",
    ):
        read_results(tmp_path / "results.json")


def test_unwritable_directory_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(
        ValueError, match=f"^Expected `output_dir` to be a directory robattr can write to, but got '{tmp_path}"
    ):
        check_writable_dir("output_dir", tmp_path / "file" / "sub")


def test_fingerprints_are_stable_and_tell_configurations_apart():
    def config(steps: int, seed: int = 0) -> dict:
        torch.manual_seed(seed)
        return {
            "ig": IntegratedGradients(n_steps=steps),
            "attack": AttributionAttack(objective="topk", eps=0.1, step_size=0.01, steps=3),
            "net": MnistCNN(),
        }

    assert fingerprint(describe(config(4))) == fingerprint(describe(config(4)))  # new objects, same description
    assert fingerprint(describe(config(4))) != fingerprint(describe(config(5)))
    assert differences(describe(config(4)), describe(config(5))) == ["ig.n_points", "ig.n_steps"]
    assert differences(describe(config(4)), describe(config(4, seed=1))) == ["net.weights_sha256"]
