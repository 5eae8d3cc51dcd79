"""``evaluate.py`` job: attacks x attribution methods x robustness metrics over a test set."""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torchmetrics import Metric, MetricCollection

from robattr import metrics as M
from robattr.attacks import PGD, MapAttack, RandomSignPerturbation
from robattr.attribution import Attribution, IntegratedGradients, attribution_map
from robattr.checks import check_choice, check_int
from robattr.evaluation.base import EvaluationModule
from robattr.evaluation.grids import attack_grid
from robattr.metrics.functional import degenerate_maps
from robattr.metrics.functional.masks import topk_mask

Attack = MapAttack
VARIANTS = ("failed_as_one", "failed_excluded")
RATES = ("failure_rate", "degenerate_rate", "degenerate_map_rate")
DIV_METRIC = {"greedy": "div", "released": "div_released"}  # the collection entry of each top-k-div selection rule


def metric_row_stats(name: str, metric: Metric, suffix: str = "") -> dict[str, float | int | None]:
    """``{name: mean, name_se: standard error, "n": count}`` of a metric, synced across processes.

    A multi-output metric gives one pair of columns per output (its output name followed by ``suffix``); the
    statistics come from ``compute_stats``.
    """

    def number(value: Any) -> float | None:
        value = float(value)
        return value if math.isfinite(value) else None

    stats = metric.compute_stats()
    outputs = {name: stats} if "mean" in stats else stats
    row: dict[str, Any] = {}
    for out, s in outputs.items():
        out = out if out == name else out + suffix
        row[out], row[f"{out}_se"], row["n"] = number(s["mean"]), number(s["se"]), int(s["n"])
    return row


class AttributionRobustnessEvaluation(EvaluationModule):
    """Attribution robustness of a classifier: every attack on every attribution method, scored by every metric.

    For each test batch, only correctly classified images are attacked (RAR / LENS protocol). For each
    (method, attack) pair the job accumulates, in torchmetrics synced across DDP:

    - top-k intersection, Kendall tau-b, Spearman rho, centre-of-mass shift;
    - r-LENS-recall@k and r-LENS-prec@k for each radius in ``radii`` (Kamath et al., AAAI 2024);
    - top-k-div intersection and r-LENS-recall / prec @ k-div (greedy diverse top-k with the same radius);
    - the attack's failure rate, the rate of degenerate top-k objectives (``degenerate_rate``) and the rate of
      degenerate maps (``degenerate_map_rate``: a clean or attacked map with NaN / inf values or constant, e.g. all
      zero, which no ranking metric can score: such pairs are left out of every score, never counted as robust);

    twice: with failed attacks counted as a perfect 1.0 (RAR's convention: the "perturbed" map is the clean map) and
    with failed attacks excluded. Every score comes with its standard error (``<name>_se``) and the number of map
    pairs it averages (``n``); rates with ``n_attacked``. A ``chance`` row scores pairs of clean maps of *different*
    images (each image against the next correctly classified one in its batch): the level a metric gives unrelated
    maps. Being built from pairs inside a batch, only this row depends on the batch size and the number of
    processes. Natural accuracy and, when ``pgd`` is set, PGD accuracy are reported too. A labelled attack grid of the
    first batch (clean / attacked image, the two maps on one colour scale, top-k and top-k-div pixels) is saved as
    ``grids/attack_<method>_<attack>.png`` and logged to TensorBoard.

    Args:
        net: classifier (see :class:`EvaluationModule`), exclusive with ``checkpoint``.
        checkpoint: robattr training checkpoint.
        attributions: name -> attribution method (default ``{"ig": IntegratedGradients(n_steps=100)}``).
        attacks: name -> attack (``AttributionAttack`` or ``RandomSignPerturbation``; their own ``attribution`` is
            replaced by each method in turn).
        k: top-k size of the metrics (MNIST 100, Flower / ImageNet 1000).
        radii: LENS radii ``r`` (window ``2r + 1``).
        div_pool: candidate pool of top-k-div (``None``: every pixel; the LENS code used 600 on MNIST).
        div_selections: top-k-div selection rules scored side by side: ``greedy`` (the definition of Kamath et al.,
            columns ``topk_div``, ``lens_*_div_r{r}``) and ``released`` (the released LENS code's selection with its
            flat-index windows, columns suffixed ``_released``, for comparison with published tables); see
            ``docs/metrics.md``.
        pgd: optional PGD for the robust-accuracy row.
        output_dir: the run's directory for ``results.csv`` / ``results.json`` (default: the TensorBoard log
            directory); see :class:`EvaluationModule` for resuming and ``overwrite``.
        num_vis: images in the attack grids (0: none).
        num_images: evaluate the first ``num_images`` test images (``None``: all).
        overwrite: replace the finished results found in ``output_dir``.
        resume: continue an unfinished run of this configuration found in ``output_dir``.
        save_every_n_batches: save the resume state after every this many batches (0: never).

    Raises:
        ValueError: for an empty ``attributions`` or ``attacks``, ``k < 1``, or a negative radius.

    Example:
        >>> import tempfile
        >>> from lightning.pytorch import Trainer
        >>> from robattr.attribution import Saliency
        >>> from robattr.data import SyntheticImages
        >>> from robattr.evaluation import read_results
        >>> from robattr.models import MnistCNN
        >>> job = AttributionRobustnessEvaluation(
        ...     net=MnistCNN(num_classes=4),
        ...     attributions={"saliency": Saliency()},
        ...     attacks={"random_sign": RandomSignPerturbation(eps=0.1)},
        ...     k=20,
        ...     num_images=8,
        ...     output_dir=tempfile.mkdtemp(),
        ... )
        >>> data = SyntheticImages(num_classes=4, train_size=8, val_size=0, test_size=16, eval_batch_size=8)
        >>> trainer = Trainer(logger=False, inference_mode=False, enable_progress_bar=False, enable_model_summary=False)
        >>> _ = trainer.test(job, data)
        >>> metadata, rows = read_results(job.run_dir / "results.json")
        >>> metadata["images_evaluated"], [(r["attack"], r["failed"]) for r in rows][:2]
        (8, [('random_sign', 'failed_as_one'), ('random_sign', 'failed_excluded')])
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
        div_selections: list[Literal["greedy", "released"]] = ["greedy"],  # noqa: B006 - jsonargparse literal default
        pgd: PGD | None = None,
        output_dir: str | None = None,
        num_vis: int = 8,
        num_images: int | None = None,
        overwrite: bool = False,
        resume: bool = True,
        save_every_n_batches: int = 1,
    ) -> None:
        super().__init__(net, checkpoint, output_dir, num_vis, num_images, overwrite, resume, save_every_n_batches)
        attributions = {"ig": IntegratedGradients(n_steps=100)} if attributions is None else attributions
        attacks = {"random_sign": RandomSignPerturbation(eps=0.3)} if attacks is None else attacks
        if not attributions:
            raise ValueError("Expected `attributions` to name at least one method, but got {}")
        if not attacks:
            raise ValueError("Expected `attacks` to name at least one attack, but got {}")
        check_int("k", k, minimum=1)
        if not div_selections or len(set(div_selections)) != len(div_selections):
            raise ValueError(
                f"Expected `div_selections` to list 'greedy' and / or 'released' once each, but got {div_selections!r}"
            )
        for selection in div_selections:
            check_choice("div_selections", selection, ["greedy", "released"])
        if any(r < 0 for r in radii):
            raise ValueError(f"Expected every entry of `radii` to be a non-negative integer, but got {radii}")
        self.attributions, self.attacks = attributions, attacks
        self.k, self.radii, self.div_pool, self.pgd = k, list(radii), div_pool, pgd
        self.div_selections = list(div_selections)
        pairs = [(m, a) for m in attributions for a in attacks] + [(m, "chance") for m in attributions]
        self.scores = nn.ModuleDict(
            {
                self._key(m, a, v): self._collection()
                for m, a in pairs
                for v in (VARIANTS if a != "chance" else VARIANTS[:1])
            }
        )
        self.rates = nn.ModuleDict(
            {self._key(m, a, r): M.MeanScore() for m in attributions for a in attacks for r in RATES}
        )
        self.chance_degenerate = nn.ModuleDict({m: M.MeanScore() for m in attributions})
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
        }
        for r in self.radii:
            metrics[f"lens_recall_r{r}"] = M.LENSRecall(k, radius=r)
            metrics[f"lens_prec_r{r}"] = M.LENSPrecision(k, radius=r)
        # one multi-output metric per selection rule: topk_div, lens_recall_div_r{r}, lens_prec_div_r{r}, one selection
        # per map and radius; the released rule also takes the released code's flat-index windows
        div_radius = max(self.radii[0], 1) if self.radii else 1
        for selection in self.div_selections:
            metrics[DIV_METRIC[selection]] = M.TopKDivScores(
                k,
                radii=self.radii,
                topk_div_radius=div_radius,
                pool=pool,
                flat_index=selection == "released",
                selection=selection,
            )
        return MetricCollection(metrics, compute_groups=False)

    def _div_masks(self, maps: Tensor, scorable: Tensor) -> dict[str, dict[int, Tensor]]:
        """The top-k-div selections ``{metric: {radius: (N, H, W)}}`` of the scorable maps (empty masks for the others).

        Computed once per map and selection rule and shared by every score collection and the picture.
        """
        collection = next(iter(self.scores.values()))
        out = {}
        for name in (DIV_METRIC[s] for s in self.div_selections):
            div = collection[name]
            masks = {r: torch.zeros_like(maps, dtype=torch.bool) for r in div.selection_radii}
            if scorable.any():
                for r, mask in div.select(maps[scorable]).items():
                    masks[r][scorable] = mask
            out[name] = masks
        return out

    def evaluate_batch(self, x: Tensor, y: Tensor, valid: Tensor, batch_idx: int) -> None:
        correct = self.logits(x, batch_idx).argmax(1) == y
        self.accuracy["natural"].update(correct.float(), valid)
        if self.pgd is not None:
            with self.phase("pgd", int(valid.sum())):
                x_adv = self.pgd(self.net, x, y)
                self.accuracy["pgd"].update((self.logits(x_adv, batch_idx).argmax(1) == y).float(), valid)
        keep = valid & correct
        if not keep.any():
            return
        xs, ys = x[keep], y[keep]
        for m_name, method in self.attributions.items():
            for a_name, attack in self.attacks.items():
                with self.phase(f"{m_name}/{a_name}", xs.shape[0]):
                    result = attack.with_attribution(method)(self.net, xs, ys)
                ok = result.success
                scorable = ~(degenerate_maps(result.clean_map) | degenerate_maps(result.adv_map))
                div = (self._div_masks(result.clean_map, scorable), self._div_masks(result.adv_map, scorable))
                self._score(self._key(m_name, a_name, VARIANTS[0]), result.clean_map, result.adv_map, scorable, div)
                failed_excluded = self._key(m_name, a_name, VARIANTS[1])
                self._score(failed_excluded, result.clean_map, result.adv_map, scorable & ok, div)
                self.rates[self._key(m_name, a_name, "failure_rate")].update((~ok).float())
                self.rates[self._key(m_name, a_name, "degenerate_rate")].update(result.degenerate.float())
                self.rates[self._key(m_name, a_name, "degenerate_map_rate")].update((~scorable).float())
                if batch_idx == 0 and self.num_vis > 0:
                    self._log_pair(f"{m_name}/{a_name}", xs, result.x_adv, result.clean_map, result.adv_map, div)
            if xs.shape[0] > 1:
                with self.phase(f"{m_name}/chance", xs.shape[0]):
                    clean = attribution_map(method(self.net, xs, ys), normalize=True).detach()
                other = clean.roll(1, 0)
                scorable = ~(degenerate_maps(clean) | degenerate_maps(other))
                self.chance_degenerate[m_name].update((~scorable).float())
                masks = self._div_masks(clean, ~degenerate_maps(clean))
                rolled = {name: {r: m.roll(1, 0) for r, m in by_r.items()} for name, by_r in masks.items()}
                div = (masks, rolled)  # `other` is `clean` rolled
                self._score(self._key(m_name, "chance", VARIANTS[0]), clean, other, scorable, div)

    def _score(self, key: str, clean: Tensor, adv: Tensor, keep: Tensor, div: tuple[dict, dict]) -> None:
        """Update the score collection ``key`` with the map pairs selected by ``keep`` ``(N,)``.

        ``div`` holds the top-k-div selections of ``clean`` and of ``adv`` (:meth:`_div_masks`).
        """
        if not keep.any():
            return
        collection = self.scores[key]
        for name, metric in collection.items():
            if name in div[0]:
                clean_div, adv_div = ({r: m[keep] for r, m in masks[name].items()} for masks in div)
                metric.update(clean[keep], adv[keep], clean_selection=clean_div, perturbed_selection=adv_div)
            else:
                metric.update(clean[keep], adv[keep])

    def _log_pair(self, tag: str, x: Tensor, x_adv: Tensor, clean: Tensor, adv: Tensor, div: tuple[dict, dict]) -> None:
        n = min(self.num_vis, x.shape[0])
        k = min(self.k, clean[0].numel() - 1)
        radius = max(self.radii[0], 1) if self.radii else 1
        masks = {
            f"top-{k}": (topk_mask(clean[:n], k, validate_args=False), topk_mask(adv[:n], k, validate_args=False)),
        }
        for selection in self.div_selections:  # the selections scored
            name, label = DIV_METRIC[selection], "" if selection == "greedy" else ", released"
            masks[f"top-{k}-div (r={radius}{label})"] = (div[0][name][radius][:n], div[1][name][radius][:n])
        title = f"{tag}: first {n} attacked images of batch 1"
        picture = attack_grid(x[:n], x_adv[:n], clean[:n], adv[:n], masks, title=title)
        self.save_picture(f"attack/{tag}", picture)

    def result_metadata(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "radii": self.radii,
            "div_pool": self.div_pool,
            "div_selections": self.div_selections,
            "attributions": list(self.attributions),
            "attacks": list(self.attacks),
        }

    def result_rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for key, collection in self.scores.items():
            m_name, a_name, variant = key.split("__")
            row: dict[str, Any] = {
                "attribution": m_name,
                "attack": a_name,
                "failed": variant if a_name != "chance" else "-",
            }
            if a_name != "chance":
                rates = [(rate, self.rates[self._key(m_name, a_name, rate)]) for rate in RATES]
            else:
                rates = [("degenerate_map_rate", self.chance_degenerate[m_name])]
            for rate, metric in rates:
                stats = metric_row_stats(rate, metric)
                row["n_attacked"] = stats.pop("n")
                row.update(stats)
            scores: dict[str, Any] = {}
            for name, metric in collection.items():
                scores.update(metric_row_stats(name, metric, "_released" if name == DIV_METRIC["released"] else ""))
            row["n"] = scores.pop("n", 0)
            row.update(scores)
            rows.append(row)
        rows.append(
            {
                "attribution": "-",
                "attack": "none",
                "failed": "-",
                **metric_row_stats("natural_acc", self.accuracy["natural"]),
            }
        )
        if self.pgd is not None:
            rows.append(
                {
                    "attribution": "-",
                    "attack": "pgd",
                    "failed": "-",
                    **metric_row_stats("pgd_acc", self.accuracy["pgd"]),
                }
            )
        return rows
