"""``evaluate.py`` job: attacks x attribution methods x robustness metrics over a test set."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torchmetrics import MetricCollection

from robattr import metrics as M
from robattr.attacks import PGD, AttributionAttack, RandomSignPerturbation
from robattr.attribution import Attribution, IntegratedGradients, attribution_map
from robattr.attribution.visualize import heatmap, overlay
from robattr.evaluation.base import EvaluationModule
from robattr.metrics.functional import topk_div_mask
from robattr.metrics.functional.masks import topk_mask

Attack = AttributionAttack | RandomSignPerturbation
VARIANTS = ("failed_as_one", "failed_excluded")


class AttributionRobustnessEvaluation(EvaluationModule):
    """Attribution robustness of a classifier: every attack on every attribution method, scored by every metric.

    For each test batch, only correctly classified images are attacked (RAR / LENS protocol). For each
    (method, attack) pair the job accumulates, in torchmetrics synced across DDP:

    - top-k intersection, Kendall tau-b, Spearman rho, centre-of-mass shift;
    - r-LENS-recall@k and r-LENS-prec@k for each radius in ``radii`` (Kamath et al., AAAI 2024);
    - top-k-div intersection and r-LENS-recall / prec @ k-div (greedy diverse top-k with the same radius);
    - the attack's failure rate and the rate of degenerate top-k objectives;

    twice: with failed attacks counted as a perfect 1.0 (RAR's convention: the "perturbed" map is the clean map) and
    with failed attacks excluded. A ``chance`` row scores pairs of clean maps of *different* images (each image
    against the next correctly classified one in its batch): the level a metric gives unrelated maps. Being
    built from pairs inside a batch, only this row depends on the batch size and the number of processes. Natural
    accuracy and, when ``pgd`` is set, PGD accuracy are reported too. Image grids (clean / attacked image, clean /
    attacked map, top-k and top-k-div overlays) of the first batch go to TensorBoard.

    Args:
        net: classifier (see :class:`EvaluationModule`), exclusive with ``checkpoint``.
        checkpoint: robattr training checkpoint.
        attributions: name -> attribution method (default ``{"ig": IntegratedGradients(n_steps=100)}``).
        attacks: name -> attack (``AttributionAttack`` or ``RandomSignPerturbation``; their own ``attribution`` is
            replaced by each method in turn).
        k: top-k size of the metrics (MNIST 100, Flower / ImageNet 1000).
        radii: LENS radii ``r`` (window ``2r + 1``).
        div_pool: candidate pool of top-k-div (``None``: every pixel; the LENS code used 600 on MNIST).
        pgd: optional PGD for the robust-accuracy row.
        output_dir: where ``results.csv`` / ``results.json`` go (default: the TensorBoard log directory).
        num_vis: images in the TensorBoard grids.

    Raises:
        ValueError: for an empty ``attributions`` or ``attacks``, ``k < 1``, or a negative radius.
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        checkpoint: str | None = None,
        attributions: dict[str, Attribution] | None = None,
        attacks: dict[str, Attack] | None = None,
        k: int = 100,
        radii: list[int] = [1],  # noqa: B006 - jsonargparse needs a literal default
        div_pool: int | None = None,
        pgd: PGD | None = None,
        output_dir: str | None = None,
        num_vis: int = 8,
    ) -> None:
        super().__init__(net, checkpoint, output_dir, num_vis)
        attributions = {"ig": IntegratedGradients(n_steps=100)} if attributions is None else attributions
        attacks = {"random_sign": RandomSignPerturbation(eps=0.3)} if attacks is None else attacks
        if not attributions:
            raise ValueError("Expected `attributions` to name at least one method, but got {}")
        if not attacks:
            raise ValueError("Expected `attacks` to name at least one attack, but got {}")
        if k < 1:
            raise ValueError(f"Expected `k` to be a positive integer, but got {k}")
        if any(r < 0 for r in radii):
            raise ValueError(f"Expected every entry of `radii` to be a non-negative integer, but got {radii}")
        self.attributions, self.attacks = attributions, attacks
        self.k, self.radii, self.div_pool, self.pgd = k, list(radii), div_pool, pgd
        pairs = [(m, a) for m in attributions for a in attacks] + [(m, "chance") for m in attributions]
        self.scores = nn.ModuleDict(
            {
                self._key(m, a, v): self._collection()
                for m, a in pairs
                for v in (VARIANTS if a != "chance" else VARIANTS[:1])
            }
        )
        self.rates = nn.ModuleDict(
            {
                self._key(m, a, r): M.MeanScore()
                for m in attributions
                for a in attacks
                for r in ("failure_rate", "degenerate_rate")
            }
        )
        self.accuracy = nn.ModuleDict({"natural": M.MeanScore(), "pgd": M.MeanScore()})

    @staticmethod
    def _key(*parts: str) -> str:
        return "__".join(parts)

    def _collection(self) -> MetricCollection:
        k, pool = self.k, self.div_pool
        metrics: dict[str, Any] = {
            "topk": M.TopKIntersection(k),
            "kendall": M.KendallTau(),
            "spearman": M.SpearmanRho(),
            "com_shift": M.CenterOfMassShift(),
            "topk_div": M.TopKDivIntersection(k, radius=max(self.radii[0], 1) if self.radii else 1, pool=pool),
        }
        for r in self.radii:
            metrics[f"lens_recall_r{r}"] = M.LENSRecall(k, radius=r)
            metrics[f"lens_prec_r{r}"] = M.LENSPrecision(k, radius=r)
            metrics[f"lens_recall_div_r{r}"] = M.LENSRecallDiv(k, radius=r, pool=pool)
            metrics[f"lens_prec_div_r{r}"] = M.LENSPrecisionDiv(k, radius=r, pool=pool)
        return MetricCollection(metrics, compute_groups=False)

    def evaluate_batch(self, x: Tensor, y: Tensor, valid: Tensor, batch_idx: int) -> None:
        with torch.no_grad():
            correct = self.net(x).argmax(1) == y
        self.accuracy["natural"].update(correct.float(), valid)
        if self.pgd is not None:
            x_adv = self.pgd(self.net, x, y)
            with torch.no_grad():
                self.accuracy["pgd"].update((self.net(x_adv).argmax(1) == y).float(), valid)
        keep = valid & correct
        if not keep.any():
            return
        xs, ys = x[keep], y[keep]
        for m_name, method in self.attributions.items():
            for a_name, attack in self.attacks.items():
                result = attack.with_attribution(method)(self.net, xs, ys)
                ok = result.success
                self.scores[self._key(m_name, a_name, VARIANTS[0])].update(result.clean_map, result.adv_map)
                if ok.any():
                    self.scores[self._key(m_name, a_name, VARIANTS[1])].update(result.clean_map[ok], result.adv_map[ok])
                self.rates[self._key(m_name, a_name, "failure_rate")].update((~ok).float())
                self.rates[self._key(m_name, a_name, "degenerate_rate")].update(result.degenerate.float())
                if batch_idx == 0 and self.num_vis > 0:
                    self._log_pair(f"{m_name}/{a_name}", xs, result.x_adv, result.clean_map, result.adv_map)
            if xs.shape[0] > 1:
                clean = attribution_map(method(self.net, xs, ys), normalize=True).detach()
                self.scores[self._key(m_name, "chance", VARIANTS[0])].update(clean, clean.roll(1, 0))

    def _log_pair(self, tag: str, x: Tensor, x_adv: Tensor, clean: Tensor, adv: Tensor) -> None:
        n = min(self.num_vis, x.shape[0])
        k = min(self.k, clean[0].numel() - 1)
        rgb = lambda t: t[:n] if t.shape[1] == 3 else t[:n].expand(-1, 3, -1, -1)
        radius = max(self.radii[0], 1) if self.radii else 1
        rows = [
            rgb(x),
            rgb(x_adv),
            heatmap(clean[:n]),
            heatmap(adv[:n]),
            overlay(rgb(x), topk_mask(clean[:n], k, validate_args=False)),
            overlay(rgb(x_adv), topk_mask(adv[:n], k, validate_args=False)),
            overlay(rgb(x), topk_div_mask(clean[:n], k, radius=radius, pool=self.div_pool), (0.0, 1.0, 0.0)),
            overlay(rgb(x_adv), topk_div_mask(adv[:n], k, radius=radius, pool=self.div_pool), (0.0, 1.0, 0.0)),
        ]
        self.log_grid(f"attack/{tag}", torch.cat(rows), nrow=n)

    def result_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for key, collection in self.scores.items():
            m_name, a_name, variant = key.split("__")
            values = {name: float(v) for name, v in collection.compute().items()}
            row: dict[str, Any] = {
                "attribution": m_name,
                "attack": a_name,
                "failed": variant if a_name != "chance" else "-",
            }
            if a_name != "chance":
                row["failure_rate"] = float(self.rates[self._key(m_name, a_name, "failure_rate")].compute())
                row["degenerate_rate"] = float(self.rates[self._key(m_name, a_name, "degenerate_rate")].compute())
            rows.append({**row, **values})
        rows.append(
            {
                "attribution": "-",
                "attack": "none",
                "failed": "-",
                "natural_acc": float(self.accuracy["natural"].compute()),
            }
        )
        if self.pgd is not None:
            rows.append(
                {"attribution": "-", "attack": "pgd", "failed": "-", "pgd_acc": float(self.accuracy["pgd"].compute())}
            )
        return rows
