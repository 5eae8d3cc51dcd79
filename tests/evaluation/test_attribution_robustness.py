"""evaluate.py's attribution-robustness job: DDP padding, 1 vs 2 processes, the results table, the image budget,
standard errors, degenerate maps and the attack grid."""

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from robattr.attribution import Saliency
from robattr.cli.evaluate import main as evaluate_main
from robattr.cli.evaluate import run as evaluate_run
from robattr.data import SyntheticImages
from robattr.evaluation import AttributionRobustnessEvaluation
from robattr.evaluation.attribution_robustness import degenerate_maps
from robattr.evaluation.results import read_results
from robattr.models import MnistCNN

ROOT = Path(__file__).resolve().parents[2]


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def root(tmp_path: Path) -> list[str]:
    """Keep the CLI's config.yaml (written to the trainer's root directory) out of the working directory."""
    return ["--trainer.default_root_dir", str(tmp_path)]


CONFIG = """
seed_everything: 0
trainer:
  accelerator: cpu
  enable_progress_bar: false
  logger: false
model:
  class_path: robattr.evaluation.AttributionRobustnessEvaluation
  init_args:
    checkpoint: {ckpt}
    attributions:
      saliency: {{class_path: robattr.attribution.Saliency}}
      ig: {{class_path: robattr.attribution.IntegratedGradients, init_args: {{n_steps: 4}}}}
    attacks:
      topk: {{class_path: robattr.attacks.AttributionAttack, init_args: {{objective: topk, eps: 0.2, step_size: 0.05,
        steps: 3, k_attack: 30, k_eval: 30, measure: topk}}}}
    k: 30
    radii: [1]
    num_vis: 0
data:
  class_path: robattr.data.SyntheticImages
  init_args: {{train_size: 64, val_size: 16, test_size: 13, batch_size: 16, eval_batch_size: 4, seed: 0}}
"""


def test_valid_mask_drops_the_distributed_sampler_padding():
    dataset = TensorDataset(torch.arange(7))
    seen = []
    for rank in range(2):
        sampler = DistributedSampler(dataset, num_replicas=2, rank=rank, shuffle=False)
        loader = DataLoader(dataset, batch_size=3, sampler=sampler)
        module = AttributionRobustnessEvaluation(net=MnistCNN(), num_vis=0)
        module.trainer = type("T", (), {"test_dataloaders": loader})()  # minimal stand-in for the attribute read
        for b, (idx,) in enumerate(loader):
            seen += idx[module.valid_mask(len(idx), b)].tolist()
    assert sorted(seen) == list(range(7))


def run_config(tmp_path: Path, checkpoint: Path, extra: list[str], ddp: bool) -> list[dict]:
    config = tmp_path / "eval.yaml"
    config.write_text(CONFIG.format(ckpt=checkpoint))
    out = tmp_path / ("ddp" if ddp else "single")
    args = [
        "--config",
        str(config),
        "--model.init_args.output_dir",
        str(out),
        "--trainer.default_root_dir",
        str(tmp_path),
        *extra,
    ]
    if ddp:
        cmd = [sys.executable, str(ROOT / "evaluate.py"), *args, "--trainer.strategy", "ddp", "--trainer.devices", "2"]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        done = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    else:
        evaluate_main(args)
    return read_results(out / "results.json")[1]


def test_results_table(tmp_path, checkpoint):
    rows = run_config(tmp_path, checkpoint, [], ddp=False)
    pairs = {(r["attribution"], r["attack"], r["failed"]) for r in rows}
    for method in ("saliency", "ig"):
        assert {
            (method, "topk", "failed_as_one"),
            (method, "topk", "failed_excluded"),
            (method, "chance", "-"),
        } <= pairs
    first = next(r for r in rows if r["attack"] == "topk" and r["failed"] == "failed_as_one")
    assert 0 <= first["topk"] <= first["lens_recall_r1"] <= 1
    assert 0 <= first["failure_rate"] <= 1
    assert (tmp_path / "single" / "results.csv").is_file()
    natural = next(r for r in rows if r["attack"] == "none")
    assert natural["natural_acc"] > 0.5
    # every score row, the chance row too, carries the number of pairs and a standard error per score
    for row in rows:
        scores = [c for c in row if f"{c}_se" in row]
        assert scores and "n" in row, row
        if row["attack"] not in ("none", "pgd"):
            assert {"topk", "kendall", "lens_recall_r1", "topk_div", "degenerate_map_rate"} <= set(scores)
    chance = next(r for r in rows if r["attack"] == "chance")
    assert chance["n"] >= 2 and chance["topk_se"] > 0


@pytest.mark.ddp
def test_two_processes_give_the_numbers_of_one(tmp_path, checkpoint):
    """13 test images in batches of 4 over 2 ranks: the sampler pads one duplicate, which must not count."""
    single = run_config(tmp_path, checkpoint, [], ddp=False)
    double = run_config(tmp_path, checkpoint, [], ddp=True)
    assert len(single) == len(double)
    # the chance rows pair each image with its neighbour in the batch: they depend on the batching by design
    for a, b in ((a, b) for a, b in zip(single, double) if a["attack"] != "chance"):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert value == pytest.approx(b[key], abs=1e-5), (a["attribution"], a["attack"], key)
            else:
                assert value == b[key]


BUDGET_CONFIG = """
seed_everything: 0
trainer: {{accelerator: cpu, enable_progress_bar: false, logger: false}}
model:
  class_path: robattr.evaluation.AttributionRobustnessEvaluation
  init_args:
    checkpoint: {ckpt}
    attributions: {{saliency: {{class_path: robattr.attribution.Saliency}}}}
    attacks: {{random_sign: {{class_path: robattr.attacks.RandomSignPerturbation, init_args: {{eps: 0.1}}}}}}
    k: 30
    radii: [1]
    num_vis: 0
    num_images: {n}
data:
  class_path: robattr.data.SyntheticImages
  init_args: {{train_size: 16, val_size: 0, test_size: 64, batch_size: 16, eval_batch_size: 16, seed: 0}}
"""


def test_num_images_scores_exactly_the_first_n_images(tmp_path, checkpoint):
    """num_images: 1 in YAML once meant 100 % (limit_test_batches); num_images: 50 scores 50 images, reported."""
    config = tmp_path / "eval.yaml"
    config.write_text(BUDGET_CONFIG.format(ckpt=checkpoint, n=50))
    evaluate_main(["--config", str(config), "--model.init_args.output_dir", str(tmp_path / "out"), *root(tmp_path)])
    metadata, rows = read_results(tmp_path / "out" / "results.json")
    assert metadata["num_images"] == 50 and metadata["images_evaluated"] == 50
    natural = next(r for r in rows if r["attack"] == "none")
    assert natural["n"] == 50
    attacked = next(r for r in rows if r["attack"] == "random_sign" and r["failed"] == "failed_as_one")
    assert attacked["n_attacked"] == round(natural["natural_acc"] * 50)
    assert read_results(tmp_path / "out" / "results.csv")[0]["num_images"] == 50


def test_num_images_beyond_the_test_set_is_an_error(tmp_path, checkpoint):
    config = tmp_path / "eval.yaml"
    config.write_text(BUDGET_CONFIG.format(ckpt=checkpoint, n=65))
    with pytest.raises(
        ValueError,
        match=whole("Expected `num_images` to be at most the 64 images of the SyntheticImages test set, but got 65"),
    ):
        evaluate_run(["--config", str(config), "--model.init_args.output_dir", str(tmp_path / "out"), *root(tmp_path)])
    assert not (tmp_path / "out" / "results.json").exists()


@pytest.mark.slow
def test_quick_config_scores_50_digits(tmp_path, checkpoint):
    """configs/eval/mnist5k_quick.yaml itself (cheap attacks swapped in) scores exactly its 50 test digits."""
    evaluate_main(
        [
            "--config",
            str(ROOT / "configs/eval/mnist5k_quick.yaml"),
            "--model.init_args.checkpoint",
            str(checkpoint),
            "--model.init_args.attributions",
            "{saliency: {class_path: robattr.attribution.Saliency}}",
            "--model.init_args.attacks",
            "{random_sign: {class_path: robattr.attacks.RandomSignPerturbation, init_args: {eps: 0.3}}}",
            "--model.init_args.pgd",
            "null",
            "--model.init_args.num_vis",
            "0",
            "--model.init_args.output_dir",
            str(tmp_path / "out"),
            "--trainer.logger",
            "false",
            "--trainer.enable_progress_bar",
            "false",
            *root(tmp_path),
        ]
    )
    metadata, rows = read_results(tmp_path / "out" / "results.json")
    assert metadata["num_images"] == 50 and metadata["images_evaluated"] == 50
    assert next(r for r in rows if r["attack"] == "none")["n"] == 50


def test_standard_error_of_the_accuracy(tmp_path, checkpoint):
    """The accuracy row's standard error is the sample standard deviation of 0/1 over sqrt(n): sqrt(p(1-p)/(n-1))."""
    config = tmp_path / "eval.yaml"
    config.write_text(BUDGET_CONFIG.format(ckpt=checkpoint, n=40))
    evaluate_main(["--config", str(config), "--model.init_args.output_dir", str(tmp_path / "out"), *root(tmp_path)])
    rows = read_results(tmp_path / "out" / "results.json")[1]
    natural = next(r for r in rows if r["attack"] == "none")
    p, n = natural["natural_acc"], natural["n"]
    assert natural["natural_acc_se"] == pytest.approx(math.sqrt(p * (1 - p) / (n - 1)), rel=1e-6)
    attacked = next(r for r in rows if r["attack"] == "random_sign" and r["failed"] == "failed_as_one")
    assert attacked["n"] == attacked["n_attacked"] and attacked["topk_se"] >= 0


def test_degenerate_maps_reference():
    maps = torch.rand(6, 4, 5)
    maps[1] = 0.0
    maps[2] = 3.0
    maps[3, 2, 2] = float("nan")
    maps[4, 0, 0] = float("inf")
    expected = [bool(not torch.isfinite(m).all() or m.max() == m.min()) for m in maps]
    assert degenerate_maps(maps).tolist() == expected == [False, True, True, True, True, False]


class ZeroGradientNet(torch.nn.Module):
    """Logits that do not depend on the image: every gradient map is zero (uniform once normalised)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 4)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))

    def forward(self, x):
        return self.linear(x.flatten(1))


def test_degenerate_maps_are_counted_never_scored(tmp_path):
    """All-zero maps of unrelated images would score 1.0 on every top-k metric: they are counted and left out."""
    from robattr.attacks import RandomSignPerturbation

    job = AttributionRobustnessEvaluation(
        net=ZeroGradientNet(),
        attributions={"saliency": Saliency()},
        attacks={"random_sign": RandomSignPerturbation(eps=0.1)},
        k=5,
        radii=[1],
        num_vis=0,
        output_dir=str(tmp_path),
    )
    data = SyntheticImages(num_classes=4, input_shape=(1, 8, 8), train_size=8, val_size=0, test_size=16, seed=0)
    Trainer(logger=False, inference_mode=False, enable_progress_bar=False, enable_model_summary=False).test(job, data)
    rows = read_results(tmp_path / "results.json")[1]
    for row in rows[:-1]:
        assert row["degenerate_map_rate"] == 1.0 and row["n"] == 0, row
        assert row["topk"] is None and row["lens_recall_r1"] is None and row["topk_div"] is None
    assert rows[0]["n_attacked"] == 4  # the class-0 images, the only ones classified correctly


def test_attack_grid_is_saved_as_a_png(tmp_path, checkpoint):
    from PIL import Image

    config = tmp_path / "eval.yaml"
    config.write_text(BUDGET_CONFIG.format(ckpt=checkpoint, n=16).replace("num_vis: 0", "num_vis: 4"))
    evaluate_main(["--config", str(config), "--model.init_args.output_dir", str(tmp_path / "out"), *root(tmp_path)])
    png = Image.open(tmp_path / "out" / "grids" / "attack_saliency_random_sign.png")
    assert png.size[0] > 4 * 28 and png.size[1] > 8 * 28  # 4 columns, 8 labelled rows, enlarged cells


def _job_rows(tmp_path: Path, name: str, **kwargs) -> list[dict]:
    from robattr.attacks import RandomSignPerturbation

    torch.manual_seed(0)
    job = AttributionRobustnessEvaluation(
        net=MnistCNN(num_classes=4),
        attributions={"saliency": Saliency()},
        attacks={"random_sign": RandomSignPerturbation(eps=0.1)},
        k=20,
        radii=[1, 2],
        num_images=8,
        num_vis=0,
        output_dir=str(tmp_path / name),
        **kwargs,
    )
    data = SyntheticImages(num_classes=4, train_size=8, val_size=0, test_size=16, eval_batch_size=8)
    trainer = Trainer(logger=False, inference_mode=False, enable_progress_bar=False, enable_model_summary=False)
    torch.manual_seed(0)
    trainer.test(job, data)
    return read_results(job.run_dir / "results.json")[1]


def test_released_top_k_div_is_scored_beside_the_greedy_one(tmp_path):
    from robattr.metrics.functional import topk_div_mask

    greedy = _job_rows(tmp_path, "greedy")
    both = _job_rows(tmp_path, "both", div_selections=["greedy", "released"])
    div_columns = [c for c in greedy[0] if "div" in c]
    for g, b in zip(greedy, both):
        assert {c: g.get(c) for c in div_columns} == {c: b.get(c) for c in div_columns}  # greedy columns unchanged
        if g["attack"] != "none":
            assert {"topk_div_released", "lens_recall_div_r2_released", "lens_prec_div_r1_released_se"} <= set(b)
    # the two rules pick different pixels on these maps, so the released columns are their own numbers
    maps = torch.rand(4, 28, 28)
    assert not torch.equal(topk_div_mask(maps, 20, 1), topk_div_mask(maps, 20, 1, selection="released"))


def test_div_selections_must_be_known_and_unique():
    with pytest.raises(
        ValueError, match=whole("Expected `div_selections` to be one of ['greedy', 'released'], but got 'best'")
    ):
        AttributionRobustnessEvaluation(net=MnistCNN(), div_selections=["best"])
    message = "Expected `div_selections` to list 'greedy' and / or 'released' once each, but got ['greedy', 'greedy']"
    with pytest.raises(ValueError, match=whole(message)):
        AttributionRobustnessEvaluation(net=MnistCNN(), div_selections=["greedy", "greedy"])
