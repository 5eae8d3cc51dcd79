"""Network Dissection (Bau et al., CVPR 2017), as used by Srivastava et al. (ICCV 2023) to study its robustness."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import torch
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from robattr.data.broden import BrodenDataset
from robattr.data.files import CorruptFileError, load_tensors
from robattr.models.utils import eval_mode, model_device, to_model
from robattr.neurons.hooks import LayerActivations
from robattr.neurons.iou import Concepts, IoUTally, assign_concepts, iou_from_counts
from robattr.neurons.phases import track
from robattr.neurons.statistics import unit_statistics


@dataclass
class DissectionResult:
    """The outcome of one dissection of one layer: thresholds, tallies, and the concept of every unit.

    Counts (int64): ``intersection`` ``(K, L)`` :math:`I_{k,c}`, ``unit_category`` ``(K, G)`` :math:`A_{k,g}`,
    ``label_count`` ``(L,)`` :math:`N_c`, ``unit_count`` ``(K,)`` total mask pixels. ``exemplar_indices`` /
    ``exemplar_values`` ``(K, k)``: the top images of each unit by spatial max. ``iou`` and ``concepts`` are derived.
    Label numbers are global Broden numbers; units are 0-based channel indices. ``fingerprint`` records what was
    dissected (:func:`dissection_fingerprint`: layer, model class and parameter hash, probing set, quantile), so a
    result reused as the clean side of a corruption job is checked against the job's (:meth:`check_matches`);
    results saved before robattr recorded it have ``None``.
    """

    layer: str
    quantile: float
    thresholds: Tensor
    intersection: Tensor
    unit_category: Tensor
    label_count: Tensor
    unit_count: Tensor
    primary_category: Tensor
    label_names: list[str]
    categories: list[str]
    num_images: int
    exemplar_indices: Tensor
    exemplar_values: Tensor
    score_threshold: float = 0.04
    fingerprint: dict[str, Any] | None = None
    iou: Tensor = field(init=False, repr=False)
    concepts: Concepts = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.iou = iou_from_counts(self.intersection, self.unit_category, self.label_count, self.primary_category)
        self.concepts = assign_concepts(self.iou, self.primary_category, len(self.categories))

    @property
    def num_units(self) -> int:
        """``K``."""
        return int(self.thresholds.numel())

    @property
    def label(self) -> Tensor:
        """``(K,)`` assigned label numbers."""
        return self.concepts.label

    @property
    def score(self) -> Tensor:
        """``(K,)`` IoU of the assigned labels."""
        return self.concepts.score

    @property
    def interpretable(self) -> Tensor:
        """``(K,)`` bool: score above ``score_threshold`` (NetDissect's 0.04)."""
        return self.concepts.score > self.score_threshold

    def label_name(self, unit: int) -> str:
        """Name of the label assigned to ``unit``."""
        return self.label_names[int(self.label[unit])]

    def names(self) -> list[str]:
        """Names of the labels of all units."""
        return [self.label_names[n] for n in self.label.tolist()]

    _TENSORS = (
        "thresholds",
        "intersection",
        "unit_category",
        "label_count",
        "unit_count",
        "primary_category",
        "exemplar_indices",
        "exemplar_values",
    )

    def state_dict(self) -> dict:
        """Everything needed to rebuild the result (see :meth:`from_state_dict`)."""
        state = {name: getattr(self, name).cpu() for name in self._TENSORS}
        state.update(
            layer=self.layer,
            quantile=self.quantile,
            label_names=list(self.label_names),
            categories=list(self.categories),
            num_images=self.num_images,
            score_threshold=self.score_threshold,
        )
        if self.fingerprint is not None:
            state["fingerprint"] = dict(self.fingerprint)
        return state

    @classmethod
    def from_state_dict(cls, state: dict) -> DissectionResult:
        """Rebuild a result saved with :meth:`state_dict` (``torch.save``)."""
        return cls(**state)

    @classmethod
    def load(cls, path: str) -> DissectionResult:
        """Load a ``result.pt`` written by :func:`robattr.neurons.report.save_result`, given the file, its directory or
        the output directory of a job (``<dir>/clean/result.pt``).
        """
        if os.path.isdir(path):
            candidates = [os.path.join(path, "result.pt"), os.path.join(path, "clean", "result.pt")]
            path = next((c for c in candidates if os.path.isfile(c)), candidates[0])
        if not os.path.isfile(path):
            raise ValueError(f"Expected `path` to be a saved dissection (result.pt), but got {path!r}")
        remedy = "run the dissection again (the file is a torn or foreign copy)"
        state = load_tensors(path, "a dissection saved by robattr (result.pt)", remedy)
        missing = [name for name in cls._TENSORS if not isinstance(state, dict) or name not in state]
        if missing:
            raise CorruptFileError(path, "a dissection saved by robattr (result.pt)", f"{missing} are missing", remedy)
        result = cls.from_state_dict(state)
        result.source = path
        return result

    def check_matches(self, fingerprint: dict[str, Any], name: str = "clean") -> None:
        """Raise unless this result is a dissection of what ``fingerprint`` describes (see
        :func:`dissection_fingerprint`).

        A result saved before fingerprints were recorded is compared on what it holds (layer, quantile, number of
        images, categories), and a warning says the model and the probing set could not be checked.

        Raises:
            ValueError: naming ``name``, every field that differs, with both values, and where the result came from.
        """
        found = self.fingerprint
        if found is None:
            found = {
                "layer": self.layer,
                "quantile": self.quantile,
                "score_threshold": self.score_threshold,
                "num_images": self.num_images,
                "categories": list(self.categories),
            }
            rank_zero_warn(
                f"`{name}` was saved without a fingerprint (an older robattr): its layer, quantile and probing-set"
                " size are checked, the model and the probing set's files are not"
            )
        diffs = [key for key in fingerprint if key in found and found[key] != fingerprint[key]]
        if diffs:
            where = f" (from {self.source!r})" if getattr(self, "source", None) else ""
            detail = "; ".join(f"{key}: {found[key]!r} vs {fingerprint[key]!r}" for key in diffs)
            raise ValueError(
                f"Expected `{name}` to be a dissection of the same layer, model and probing set as this job, but got "
                f"one{where} that differs in {detail} (`{name}` vs this job); dissect again, or pass the result of a "
                "`dissect` run with these settings"
            )


def model_digest(model: nn.Module) -> str:
    """SHA-256 (first 16 hex digits) of a model's parameters and buffers: names, dtypes, shapes and bytes.

    Example:
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> model_digest(a) == model_digest(a), model_digest(a) == model_digest(b)
        (True, False)
    """
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        if not isinstance(tensor, Tensor):
            continue
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b"")
    return digest.hexdigest()[:16]


def dissection_fingerprint(model: nn.Module, dataset: BrodenDataset, dissection: NetworkDissection) -> dict[str, Any]:
    """What a dissection depends on: layer, model class and parameter hash, probing set (root, index, categories,
    size, image overrides), quantile and score threshold. Recorded in every :class:`DissectionResult`.
    """
    overrides = getattr(dataset, "image_overrides", None)
    return {
        "layer": dissection.layer,
        "model": f"{type(model).__module__}.{type(model).__qualname__}",
        "model_hash": model_digest(model),
        "data_root": os.path.realpath(dataset.root),
        "index_file": dataset.index_file,
        "categories": list(dataset.categories),
        "num_images": len(dataset),
        "image_overrides": None if overrides is None else os.path.realpath(overrides),
        "quantile": dissection.quantile,
        "score_threshold": dissection.score_threshold,
    }


class NetworkDissection:
    """Network Dissection of one layer over a Broden-format probing set.

    1. Threshold: per unit, the top-``quantile`` value of its activations over all images and native-resolution
       positions, computed exactly in bounded memory (:mod:`robattr.neurons.quantile`, 2-3 passes).
    2. Masks: activations upsampled bilinearly (``align_corners=False``) to the label resolution, strict ``> T_k``.
    3. IoU per (unit, concept) with the reference's category gate (:mod:`robattr.neurons.iou`), one more pass; the
       unit's concept is its highest-IoU label.

    Batched on the model's device (GPU when the model is there), a tqdm bar per pass. The model is put in eval mode
    for the run and restored after.

    Args:
        layer: name of the probed module in ``model.named_modules()`` (``pool`` for the planted CNN,
            ``net.layer4`` for a :class:`~robattr.models.TorchvisionClassifier` ResNet).
        quantile: the top fraction ``q`` of activations above the threshold (0.005 in NetDissect).
        batch_size: images per batch (64 in the reference).
        num_workers: DataLoader workers.
        score_threshold: IoU above which a unit counts as interpretable (0.04 in NetDissect).
        top_k: exemplars (top images by spatial max) kept per unit, for reports.
        capacity: per-unit bound of the quantile's collecting pass (memory ``K x capacity`` keys).
        progress: show tqdm progress bars.

    Raises:
        ValueError: for an out-of-range argument; at call time, if ``layer`` names no submodule of the model.

    Example:
        >>> import tempfile
        >>> from robattr.data.broden_synthetic import SyntheticBrodenDataset
        >>> from robattr.models.planted import PlantedUnitCNN
        >>> ds = SyntheticBrodenDataset(tempfile.mkdtemp(), n_images=24)
        >>> result = NetworkDissection("pool", progress=False)(PlantedUnitCNN(), ds)
        >>> result.iou.shape
        torch.Size([6, 301])
    """

    def __init__(
        self,
        layer: str,
        quantile: float = 0.005,
        batch_size: int = 64,
        num_workers: int = 0,
        score_threshold: float = 0.04,
        top_k: int = 8,
        capacity: int = 2048,
        progress: bool = True,
    ) -> None:
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"Expected `layer` to be a non-empty module name, but got {layer!r}")
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"Expected `quantile` to be a float in (0, 1), but got {quantile}")
        if batch_size < 1:
            raise ValueError(f"Expected `batch_size` to be a positive integer, but got {batch_size}")
        if num_workers < 0:
            raise ValueError(f"Expected `num_workers` to be a non-negative integer, but got {num_workers}")
        if not 0.0 <= score_threshold <= 1.0:
            raise ValueError(f"Expected `score_threshold` to be a float in [0, 1], but got {score_threshold}")
        if top_k < 1:
            raise ValueError(f"Expected `top_k` to be a positive integer, but got {top_k}")
        self.layer = layer
        self.quantile = quantile
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.score_threshold = score_threshold
        self.top_k = top_k
        self.capacity = capacity
        self.progress = progress
        self.passes = 0  # passes over the data of the last call: 2 or 3 threshold passes + the IoU pass

    def __call__(self, model: nn.Module, dataset: BrodenDataset) -> DissectionResult:
        acts_fn = LayerActivations(model, self.layer)  # fails early on a bad layer name
        stats = unit_statistics(
            model,
            self.layer,
            dataset,
            self.quantile,
            self.top_k,
            self.batch_size,
            self.num_workers,
            self.capacity,
            self.progress,
        )
        tally = self.tally(model, dataset, stats.thresholds, acts_fn)
        self.passes = stats.passes + 1
        return DissectionResult(
            layer=self.layer,
            quantile=self.quantile,
            thresholds=stats.thresholds.cpu(),
            intersection=tally.intersection.cpu(),
            unit_category=tally.unit_category.cpu(),
            label_count=tally.label_count.cpu(),
            unit_count=tally.unit_count.cpu(),
            primary_category=dataset.primary_category.clone(),
            label_names=list(dataset.label_names),
            categories=list(dataset.categories),
            num_images=len(dataset),
            exemplar_indices=stats.top_indices,
            exemplar_values=stats.top_values,
            score_threshold=self.score_threshold,
            fingerprint=dissection_fingerprint(model, dataset, self),
        )

    def __repr__(self) -> str:
        return (
            f"NetworkDissection(layer={self.layer!r}, quantile={self.quantile}, batch_size={self.batch_size}, "
            f"score_threshold={self.score_threshold}, top_k={self.top_k}, capacity={self.capacity})"
        )

    def tally(
        self, model: nn.Module, dataset: BrodenDataset, thresholds: Tensor, acts_fn: LayerActivations | None = None
    ) -> IoUTally:
        """The IoU pass: accumulate :math:`I`, :math:`A`, :math:`N` with the given ``(K,)`` thresholds."""
        acts_fn = acts_fn or LayerActivations(model, self.layer)
        device = model_device(model)
        thresholds = thresholds.to(device)
        tally = IoUTally(thresholds.numel(), dataset.primary_category.to(device), len(dataset.categories))
        loader = dataset.loader(self.batch_size, self.num_workers)
        with eval_mode(model):
            for batch in track(loader, f"{self.layer}: IoU pass", self.progress):
                with torch.no_grad():
                    acts = acts_fn(to_model(model, batch.images))
                tally.update(acts, batch.planes, thresholds)
        return tally
