"""evaluate.py's attribution-robustness job: DDP padding, 1 vs 2 processes, the results table."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from robattr.cli.evaluate import main as evaluate_main
from robattr.data import SyntheticImages
from robattr.evaluation import AttributionRobustnessEvaluation
from robattr.models import MnistCNN
from robattr.training import NaturalTraining

ROOT = Path(__file__).resolve().parents[2]

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
      topk: {{class_path: robattr.attacks.AttributionAttack, init_args: {{objective: topk, eps: 0.2, step_size: 0.05, steps: 3, k_attack: 30, k_eval: 30, measure: topk}}}}
    k: 30
    radii: [1]
    num_vis: 0
data:
  class_path: robattr.data.SyntheticImages
  init_args: {{train_size: 64, val_size: 16, test_size: 13, batch_size: 16, eval_batch_size: 4, seed: 0}}
"""


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A MnistCNN trained briefly on generated class patterns, saved as a Lightning checkpoint."""
    path = tmp_path_factory.mktemp("ckpt")
    torch.manual_seed(0)
    module = NaturalTraining(MnistCNN(), num_vis=0)
    trainer = Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        inference_mode=False,
        limit_val_batches=0,
    )
    trainer.fit(module, SyntheticImages(train_size=256, val_size=16, test_size=13, batch_size=32, seed=0))
    trainer.save_checkpoint(path / "model.ckpt")
    return path / "model.ckpt"


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
    return json.loads((out / "results.json").read_text())


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
