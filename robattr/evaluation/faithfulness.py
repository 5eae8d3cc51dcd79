"""``evaluate.py`` job for attribution faithfulness: methods x re-calibration x metrics.

:class:`FaithfulnessEvaluation` scores every attribution method, plain and re-calibrated (Yang et al., ICLR 2023),
with DiffID (Yang et al., AAAI 2023), sensitivity-n (Ancona et al. 2018) and the cascading-randomisation sanity
check (Adebayo et al. 2018). The metrics never call the model: :func:`diffid_logits` and :func:`sensitivity_logits`
run it on the perturbed inputs here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from robattr.attribution import Attribution, PathIntegral, Recalibrated, attribution_cells, attribution_map
from robattr.attribution.expected_gradients import ExpectedGradients
from robattr.attribution.maps import ChannelReduction
from robattr.attribution.path import check_estimator
from robattr.evaluation.base import EvaluationModule
from robattr.metrics.diffid import DiffID
from robattr.metrics.functional.diffid import DEFAULT_RATIOS, _check_ratios, diffid_inputs
from robattr.metrics.functional.sensitivity import Baseline, sensitivity_n_inputs, sensitivity_n_masks
from robattr.metrics.mean_score import MeanScore
from robattr.metrics.sanity import SanityCheck
from robattr.metrics.sensitivity import SensitivityN
from robattr.models.randomization import cascading_randomization, randomization_order

METRICS: tuple[str, ...] = ("diffid", "sensitivity_n", "sanity")
Target = Literal["label", "prediction"]


@torch.no_grad()
def batched_logits(model: nn.Module, inputs: Tensor, batch_size: int = 512) -> Tensor:
    """``model`` on ``inputs`` ``(..., C, H, W)`` in chunks of ``batch_size``; logits ``(..., K)``."""
    flat = inputs.reshape(-1, *inputs.shape[-3:])
    out = torch.cat([model(flat[i : i + batch_size]) for i in range(0, len(flat), batch_size)])
    return out.view(*inputs.shape[:-3], out.shape[-1])


def diffid_logits(
    model: nn.Module, inputs: Tensor, maps: Tensor, ratios: Sequence[float] = DEFAULT_RATIOS, batch_size: int = 512
) -> Tensor:
    """The model's logits ``(2, R, N, K)`` on the DiffID insertion / deletion images of ``inputs`` and ``maps``.

    Example:
        >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        >>> diffid_logits(model, torch.rand(5, 1, 2, 2), torch.rand(5, 2, 2), ratios=[0.25, 0.5]).shape
        torch.Size([2, 2, 5, 3])
    """
    return batched_logits(model, diffid_inputs(inputs, maps, ratios), batch_size)


def sensitivity_logits(
    model: nn.Module,
    inputs: Tensor,
    masks: Tensor,
    baseline: Baseline = "zero",
    batch_size: int = 512,
    generator: torch.Generator | None = None,
) -> Tensor:
    """The model's logits ``(R, D, N, K)`` on the sensitivity-n images (``masks`` ``(R, D, N, H, W)`` removed)."""
    return batched_logits(model, sensitivity_n_inputs(inputs, masks, baseline, generator), batch_size)


def method_variants(
    attributions: dict[str, Attribution], recalibration: Sequence[str]
) -> dict[str, tuple[str, str, Attribution]]:
    """``{"name/mode": (name, mode, method)}`` for every method and mode; non-integral methods only as ``vanilla``.

    Example:
        >>> from robattr.attribution import IGUniform, Saliency
        >>> list(method_variants({"sg": Saliency(), "igu": IGUniform()}, ["vanilla", "valid_ip"]))
        ['sg/vanilla', 'igu/vanilla', 'igu/valid_ip']
    """
    out: dict[str, tuple[str, str, Attribution]] = {}
    for name, method in attributions.items():
        for mode in recalibration:
            if mode == "vanilla":
                out[f"{name}/{mode}"] = (name, mode, method)
            elif isinstance(method, PathIntegral):
                out[f"{name}/{mode}"] = (name, mode, Recalibrated(method, mode))
    return out


def fit_reference_methods(job: EvaluationModule, attributions: Iterable[Attribution]) -> None:
    """Fit the methods that draw references from training data (EG, LPI) on the job's datamodule, once.

    LPI reads the training split twice in a fixed order; EG keeps the first images of a shuffled (seeded) pass.
    Methods already fitted (e.g. LPI loaded from its ``prototypes_path``) are left alone.

    Raises:
        RuntimeError: if a method needs fitting and the datamodule has no training split.
    """
    fit = [m for m in attributions if getattr(m, "requires_fit", False) and not m.is_fitted]
    if not fit:
        return
    datamodule = getattr(job.trainer, "datamodule", None)
    if datamodule is None or not hasattr(datamodule, "dataset"):
        raise RuntimeError(
            "Expected a robattr datamodule with a training split to fit EG / LPI references, but got none"
        )
    train = datamodule.dataset("train")
    batch = getattr(datamodule, "eval_batch_size", 64)
    for method in fit:
        shuffle = isinstance(method, ExpectedGradients)
        method.fit(
            job.net, DataLoader(train, batch_size=batch, shuffle=shuffle, generator=torch.Generator().manual_seed(0))
        )


class FaithfulnessEvaluation(EvaluationModule):
    """Faithfulness of attribution methods, with and without re-calibration, over a test set.

    For each method of ``attributions`` and each mode of ``recalibration`` (``vanilla`` for every method;
    ``valid_ip`` / ``valid_ref`` only for the integral methods, wrapped in
    :class:`~robattr.attribution.Recalibrated`), the 2-D map is ``attribution_map(A, reduction)`` (default
    ``abs_sum``: the re-calibration code's ``sum_c |A_c|``, a no-op sign-wise for re-calibrated maps) and the job
    accumulates, synced across DDP:

    - ``diffid``: insertion / deletion curves at ``ratios`` and the DiffID scalars (trapezoid area and mean);
    - ``sensitivity_n``: for each map reduction of ``sensitivity_reductions`` (the code runs ``abs_sum`` and ``sum``),
      the mean / std correlation per ratio, with ``sensitivity_draws`` masks per image shared by all methods;
    - ``sanity``: the Spearman rho between the trained model's maps and those of the cascade of randomised models
      (``sanity_layers``, default every layer from the top), one column per stage.

    Methods that draw references from training data (Expected Gradients, LPI) are fitted once at the start of the
    test on the datamodule's training split (LPI on an unshuffled pass, EG on a shuffled one); LPI reuses the file
    named by its ``prototypes_path`` when it exists. The explained class is the label (``target="label"``, as in the
    re-calibration code) or the prediction. Results go to ``results.csv`` / ``results.json`` (one row per method and
    mode) and TensorBoard.

    Args:
        net: classifier (see :class:`~robattr.evaluation.base.EvaluationModule`), exclusive with ``checkpoint``.
        checkpoint: robattr training checkpoint.
        attributions: name -> method (configured with ``class_path`` / ``init_args``).
        recalibration: modes among ``vanilla``, ``valid_ip``, ``valid_ref``.
        metrics: among ``diffid``, ``sensitivity_n``, ``sanity``.
        ratios: DiffID ratios and sensitivity-n probabilities.
        reduction: 2-D map of DiffID and sanity (``abs_sum``, ``sum``, ``max_abs``).
        sensitivity_reductions: 2-D maps for sensitivity-n.
        sensitivity_draws: masks per image and ratio.
        sensitivity_baseline: ``zero`` or ``rand``.
        sanity_layers: cascade order (module names of the classifier); ``None``: every layer, top first.
        target: ``label`` or ``prediction``.
        eval_batch_size: images per forward pass on the perturbed inputs.
        output_dir: the run's directory (default: the TensorBoard log directory); see
            :class:`~robattr.evaluation.base.EvaluationModule` for resuming and ``overwrite``.
        num_vis: images of the first batch drawn to TensorBoard (0: none).
        num_images: evaluate the first ``num_images`` test images (``None``: all).
        overwrite: replace the finished results found in ``output_dir``.
        resume: continue an unfinished run of this configuration found in ``output_dir``.
        save_every_n_batches: save the resume state after every this many batches (0: never).

    Raises:
        ValueError: for an empty ``attributions``, an unknown mode, metric, reduction or target, or a bad ratio.
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        checkpoint: str | None = None,
        attributions: dict[str, Attribution] | None = None,
        recalibration: list[str] = ["vanilla", "valid_ip"],  # noqa: B006 - jsonargparse needs a literal default
        metrics: list[str] = ["diffid"],  # noqa: B006
        ratios: list[float] = list(DEFAULT_RATIOS),  # noqa: B006, B008
        reduction: ChannelReduction = "abs_sum",
        sensitivity_reductions: list[str] = ["abs_sum", "sum"],  # noqa: B006
        sensitivity_draws: int = 10,
        sensitivity_baseline: Baseline = "zero",
        sanity_layers: list[str] | None = None,
        target: Target = "label",
        eval_batch_size: int = 512,
        output_dir: str | None = None,
        num_vis: int = 8,
        num_images: int | None = None,
        overwrite: bool = False,
        resume: bool = True,
        save_every_n_batches: int = 1,
    ) -> None:
        super().__init__(net, checkpoint, output_dir, num_vis, num_images, overwrite, resume, save_every_n_batches)
        if not attributions:
            raise ValueError(f"Expected `attributions` to name at least one method, but got {attributions!r}")
        for mode in recalibration:
            check_estimator(mode)
        for name in metrics:
            if name not in METRICS:
                raise ValueError(f"Expected every entry of `metrics` to be one of {list(METRICS)}, but got {name!r}")
        for red in [reduction, *sensitivity_reductions]:
            if red not in ("abs_sum", "sum", "max_abs"):
                raise ValueError(f"Expected map reductions among ['abs_sum', 'sum', 'max_abs'], but got {red!r}")
        if target not in ("label", "prediction"):
            raise ValueError(f"Expected `target` to be one of ['label', 'prediction'], but got {target!r}")
        _check_ratios(ratios)
        if sensitivity_draws < 2:
            raise ValueError(f"Expected `sensitivity_draws` to be an integer >= 2, but got {sensitivity_draws}")
        if sensitivity_baseline not in ("zero", "rand"):
            raise ValueError(
                f"Expected `sensitivity_baseline` to be one of ['zero', 'rand'], but got {sensitivity_baseline!r}"
            )
        self.attributions = attributions
        self.variants = method_variants(attributions, recalibration)
        self.metric_names = list(metrics)
        self.ratios = [float(r) for r in ratios]
        self.reduction = reduction
        self.sensitivity_reductions = list(sensitivity_reductions)
        self.sensitivity_draws = sensitivity_draws
        self.sensitivity_baseline = sensitivity_baseline
        self.sanity_layers = list(sanity_layers) if sanity_layers is not None else randomization_order(self.net)
        self.target = target
        self.eval_batch_size = eval_batch_size
        keys = [self._key(k) for k in self.variants]
        self.diffid = nn.ModuleDict({k: DiffID(self.ratios) for k in keys} if "diffid" in metrics else {})
        self.sensitivity = nn.ModuleDict(
            {f"{k}__{r}": SensitivityN(self.ratios) for k in keys for r in self.sensitivity_reductions}
            if "sensitivity_n" in metrics
            else {}
        )
        self.sanity = nn.ModuleDict(
            {k: SanityCheck(len(self.sanity_layers)) for k in keys} if "sanity" in metrics else {}
        )
        self.accuracy = MeanScore()

    @staticmethod
    def _key(variant: str) -> str:
        return variant.replace("/", "__")  # ModuleDict keys cannot hold "."; "/" is kept out for clarity

    def on_test_start(self) -> None:
        super().on_test_start()  # resume state, progress display
        fit_reference_methods(self, self.attributions.values())

    # ------------------------------------------------------------------------------------------------ scoring
    def evaluate_batch(self, x: Tensor, y: Tensor, valid: Tensor, batch_idx: int) -> None:
        clean = self.logits(x, batch_idx)
        self.accuracy.update((clean.argmax(1) == y).float(), valid)
        target = y if self.target == "label" else clean.argmax(1)
        masks = None
        if self.sensitivity:
            gen = torch.Generator().manual_seed(batch_idx)  # the same masks for every method
            masks = sensitivity_n_masks(x[:, 0], self.ratios, self.sensitivity_draws, gen)
            sens_logits = sensitivity_logits(self.net, x, masks, self.sensitivity_baseline, self.eval_batch_size, gen)
        grid: dict[str, Tensor] = {}
        for variant, (_, _, method) in self.variants.items():
            key = self._key(variant)
            with self.phase(variant, x.shape[0]):
                attr = method(self.net, x, target).detach()
                maps = attribution_map(attr, self.reduction)
                if self.diffid:
                    self.diffid[key].update(
                        clean, diffid_logits(self.net, x, maps, self.ratios, self.eval_batch_size), target, valid
                    )
                if masks is not None:
                    for red in self.sensitivity_reductions:
                        self.sensitivity[f"{key}__{red}"].update(
                            attribution_map(attr, red), masks, clean, sens_logits, target, valid
                        )
                if self.sanity:
                    self._sanity(key, method, x, target, maps, valid, batch_idx)
            if batch_idx == 0 and self.num_vis > 0:
                grid[variant] = maps[: self.num_vis]
        if grid:
            self.log_grid("faithfulness/maps", attribution_cells(x[: self.num_vis], grid), nrow=1 + len(grid))

    def _sanity(
        self, key: str, method: Attribution, x: Tensor, target: Tensor, maps: Tensor, valid: Tensor, batch_idx: int
    ) -> None:
        gen = torch.Generator().manual_seed(1234)  # the same randomised models for every batch and method
        for stage, (_, randomized) in enumerate(cascading_randomization(self.net, self.sanity_layers, generator=gen)):
            randomized_maps = attribution_map(method(randomized, x, target).detach(), self.reduction)
            self.sanity[key].update(maps, randomized_maps, stage, valid)

    def result_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for variant, (name, mode, _) in self.variants.items():
            key = self._key(variant)
            row: dict[str, Any] = {"method": name, "recalibration": mode}
            if self.diffid:
                out = self.diffid[key].compute()
                for scalar in ("diffid_logit_auc", "diffid_logit_mean", "diffid_acc_auc", "diffid_acc_mean"):
                    row[scalar] = float(out[scalar])
                for curve in (
                    "diffid_logit",
                    "insertion_logit",
                    "deletion_logit",
                    "diffid_acc",
                    "insertion_acc",
                    "deletion_acc",
                ):
                    for r, value in zip(self.ratios, out[curve].reshape(-1).tolist()):
                        row[f"{curve}@{r:g}"] = value
            for red in self.sensitivity_reductions if self.sensitivity else []:
                out = self.sensitivity[f"{key}__{red}"].compute()
                se = self.sensitivity[f"{key}__{red}"].compute_stats()["se"].reshape(-1).tolist()
                for r, m, s, e in zip(
                    self.ratios, out["mean"].reshape(-1).tolist(), out["std"].reshape(-1).tolist(), se
                ):
                    row[f"sensitivity_{red}_mean@{r:g}"] = m
                    row[f"sensitivity_{red}_std@{r:g}"] = s
                    row[f"sensitivity_{red}_se@{r:g}"] = e
            if self.sanity:
                stats = self.sanity[key].compute_stats()
                for layer, rho, e in zip(
                    self.sanity_layers, stats["mean"].reshape(-1).tolist(), stats["se"].reshape(-1).tolist()
                ):
                    row[f"sanity_rho@{layer}"] = rho
                    row[f"sanity_rho_se@{layer}"] = e
            rows.append(row)
        accuracy = self.accuracy.compute_stats()
        rows.append(
            {
                "method": "-",
                "recalibration": "-",
                "accuracy": float(accuracy["mean"]),
                "accuracy_se": float(accuracy["se"]),
                "n": int(accuracy["n"]),
            }
        )
        return rows


__all__ = [
    "METRICS",
    "FaithfulnessEvaluation",
    "batched_logits",
    "diffid_logits",
    "fit_reference_methods",
    "method_variants",
    "sensitivity_logits",
]
