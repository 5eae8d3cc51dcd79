"""The faithfulness jobs end to end on a tiny CNN and generated data, through the evaluate CLI and in Python."""

from __future__ import annotations

import re

import pytest
import torch
import yaml
from lightning.pytorch import Trainer

from robattr.attribution import GradCAM, IGUniform, LocalPathIntegration, Saliency
from robattr.cli.evaluate import main as evaluate
from robattr.data.synthetic import SyntheticImages
from robattr.evaluation.faithfulness import FaithfulnessEvaluation, diffid_logits, method_variants
from robattr.evaluation.results import read_results
from robattr.evaluation.visualize import VisualizeAttributions
from robattr.models import MnistCNN


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def data() -> SyntheticImages:
    return SyntheticImages(num_classes=4, input_shape=(1, 8, 8), train_size=40, val_size=0, test_size=8, batch_size=4)


def small_cnn() -> torch.nn.Module:
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 4),
    )


def trainer(tmp_path) -> Trainer:
    return Trainer(
        logger=False,
        inference_mode=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )


def test_every_metric_method_and_mode_gets_a_row(tmp_path):
    job = FaithfulnessEvaluation(
        net=small_cnn(),
        attributions={
            "grad": Saliency(),
            "cam": GradCAM(),
            "igu": IGUniform(n_references=2, n_points=2),
            "lpi": LocalPathIntegration(n_prototypes=3, n_points=2, prototypes_path=str(tmp_path / "lpi.pt")),
        },
        recalibration=["vanilla", "valid_ip", "valid_ref"],
        metrics=["diffid", "sensitivity_n", "sanity"],
        ratios=[0.25, 0.5, 0.75],
        sensitivity_draws=3,
        sanity_layers=["4", "0"],
        output_dir=str(tmp_path),
        num_vis=2,
    )
    trainer(tmp_path).test(job, datamodule=data())
    rows = read_results(tmp_path / "results.json")[1]
    methods = [(r["method"], r["recalibration"]) for r in rows]
    assert methods[:4] == [("grad", "vanilla"), ("cam", "vanilla"), ("igu", "vanilla"), ("igu", "valid_ip")]
    assert len(rows) == 1 + 2 + 3 + 3
    row = rows[3]
    for column in (
        "diffid_logit_auc",
        "diffid_acc_mean",
        "insertion_logit@0.25",
        "sensitivity_sum_mean@0.5",
        "sanity_rho@0",
    ):
        assert isinstance(row[column], float)
    assert (tmp_path / "lpi.pt").is_file()  # LPI was fitted on the training split and saved
    assert 0 <= rows[-1]["accuracy"] <= 1
    table = [line for line in (tmp_path / "results.csv").read_text().splitlines() if not line.startswith("# ")]
    assert table[0].startswith("method,recalibration,")


def test_visualize_writes_a_png_through_the_cli(tmp_path):
    config = {
        "trainer": {
            "logger": False,
            "enable_progress_bar": False,
            "default_root_dir": str(tmp_path),
        },
        "model": {
            "class_path": "robattr.evaluation.VisualizeAttributions",
            "init_args": {
                "net": {"class_path": "robattr.models.MnistCNN", "init_args": {"num_classes": 4}},
                "attributions": {
                    "grad": {"class_path": "robattr.attribution.Saliency"},
                    "igu": {
                        "class_path": "robattr.attribution.IGUniform",
                        "init_args": {"n_references": 2, "n_points": 2},
                    },
                },
                "num_images": 3,
                "output_dir": str(tmp_path),
            },
        },
        "data": {
            "class_path": "robattr.data.SyntheticImages",
            "init_args": {"num_classes": 4, "train_size": 8, "val_size": 0, "test_size": 6},
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    evaluate(["--config", str(path)])
    from PIL import Image

    png = Image.open(tmp_path / "attributions.png")
    assert png.size == (2 + 4 * 30, 2 + 3 * 30)  # image + grad + igu/vanilla + igu/valid_ip, 3 rows, 2-pixel padding
    columns = [r["content"] for r in read_results(tmp_path / "results.json")[1]]
    assert columns == ["image", "grad/vanilla", "igu/vanilla", "igu/valid_ip"]


def test_diffid_logits_shape_and_variants():
    model = MnistCNN()
    assert diffid_logits(model, torch.rand(2, 1, 28, 28), torch.rand(2, 28, 28), [0.5], batch_size=3).shape == (
        2,
        1,
        2,
        10,
    )
    assert list(method_variants({"g": Saliency()}, ["valid_ip"])) == []


def test_bad_arguments():
    net = MnistCNN()
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected every entry of `metrics` to be one of ['diffid', 'sensitivity_n', 'sanity'], but got 'roar'"
        ),
    ):
        FaithfulnessEvaluation(net=net, attributions={"g": Saliency()}, metrics=["roar"])
    with pytest.raises(
        ValueError, match=whole("Expected `ratios` to be a non-empty list of numbers in (0, 1), but got [0.5, 1.0]")
    ):
        FaithfulnessEvaluation(net=net, attributions={"g": Saliency()}, ratios=[0.5, 1.0])
    with pytest.raises(
        ValueError, match=whole("Expected `estimator` to be one of ['vanilla', 'valid_ip', 'valid_ref'], but got 'abs'")
    ):
        FaithfulnessEvaluation(net=net, attributions={"g": Saliency()}, recalibration=["abs"])
    with pytest.raises(ValueError, match=whole("Expected `attributions` to name at least one method, but got {}")):
        VisualizeAttributions(net=net, attributions={})


def test_faithfulness_resumes_after_sigterm_with_the_numbers_of_an_uninterrupted_run(tmp_path, monkeypatch):
    from robattr.progress import Interrupted
    from tests.evaluation.helpers import SignalingSaliency

    def evaluation(out):
        torch.manual_seed(0)
        net = small_cnn()
        return FaithfulnessEvaluation(
            net=net,
            attributions={"sig": SignalingSaliency(), "igu": IGUniform(n_references=2, n_points=2)},
            recalibration=["vanilla", "valid_ip"],
            metrics=["diffid", "sensitivity_n"],
            ratios=[0.25, 0.5],
            sensitivity_draws=3,
            output_dir=str(out),
            num_vis=0,
        )

    torch.manual_seed(1)
    trainer(tmp_path).test(evaluation(tmp_path / "whole"), datamodule=data())
    expected = read_results(tmp_path / "whole" / "results.json")[1]
    monkeypatch.setattr(SignalingSaliency, "at_call", 2)  # in batch 2 of 2
    torch.manual_seed(1)
    with pytest.raises(Interrupted, match="^Evaluation stopped by SIGTERM during batch 2/2, sig/vanilla"):
        trainer(tmp_path).test(evaluation(tmp_path / "cut"), datamodule=data())
    monkeypatch.setattr(SignalingSaliency, "at_call", None)
    trainer(tmp_path).test(evaluation(tmp_path / "cut"), datamodule=data())
    metadata, rows = read_results(tmp_path / "cut" / "results.json")
    assert rows == expected and metadata["resumed_at_batch"] == [1]
