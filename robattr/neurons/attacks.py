r"""Crafted corruptions of a probing set that steer a unit's explanation (Srivastava et al., ICCV 2023).

All variants share one engine: pick the images where a *source* mask :math:`S(x)` or a *target* mask :math:`G(x)`
is non-empty, run PGD (L-inf, in ``[0, 1]`` pixel space) on them to **minimise** the reference's "basic" loss on the
attacked unit :math:`k`, batch by batch,

.. math:: \mathcal{L} = \frac{\sum_{x \in B} \langle a(\tilde x), S(x) \rangle}{\sum_{x \in B} |S(x)| + 10^{-8}}
          - \frac{\sum_{x \in B} \langle a(\tilde x), G(x) \rangle}{\sum_{x \in B} |G(x)| + 10^{-8}}

(mean activation on the source pixels minus mean activation on the target pixels, :math:`a` the unit's activation
map resized bilinearly to the mask size), store the images, and leave the rest of the probing set untouched. The
explanation method is then re-run unchanged on the corrupted set. The variants differ in the masks:

- :class:`ConceptAttack` (4.2): :math:`S, G` are the ground-truth pixels of the unit's clean concept :math:`s` and of a
  target concept :math:`t` (untargeted when no target: :math:`G \equiv 0`).
- :class:`UnitAttack` (4.3): :math:`S(x) = f_k(x) > T_k`, :math:`G(x) = f_j(x) > T_j` at feature resolution, for a
  target unit :math:`j`: unit :math:`k` should inherit :math:`j`'s explanation under any method.
- :class:`ExemplarAttack` (4.4, MILAN): :math:`S, G` are the exemplar masks of the source and target units on their
  top-``n_images`` exemplars.

The loss is a sum of per-image terms once the batch denominators are fixed, and images are independent in eval mode,
so the joint sign-gradient step of the reference equals a per-sample one: the loop is
:class:`robattr.attacks.PGD` with ``random_start=False`` and ``keep_best=False`` (the reference returns the last
iterate), step size ``2 eps / steps`` by default. Batches follow the dataset order in ``batch_size`` images, as the
reference's loader (the denominators depend on the batch, as there).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from robattr.attacks.pgd import PGD
from robattr.checks import check_real, is_int, is_real
from robattr.data.broden import BrodenBatch, BrodenDataset
from robattr.models.utils import eval_mode, model_device, to_model
from robattr.neurons.comparison import exemplar_overlap
from robattr.neurons.dissection import DissectionResult
from robattr.neurons.exemplars import Exemplars, compute_exemplars
from robattr.neurons.hooks import LayerActivations
from robattr.neurons.phases import track
from robattr.neurons.storage import Poisoning, Storage, check_storage, prepare_out_dir, store_images


def activation_shift_loss(acts: Tensor, source: Tensor, target: Tensor) -> Tensor:
    """Per-image terms ``(N,)`` of the "basic" loss: ``<a, S> / sum|S| - <a, G> / sum|G|`` over the batch.

    ``acts`` ``(N, h, w)`` is the attacked unit's map, resized bilinearly to the masks' ``(N, H, W)`` size if needed.
    The terms sum to the reference's batch loss.

    Example:
        >>> acts = torch.tensor([[[1.0, 2.0]], [[3.0, 4.0]]])
        >>> src, tgt = torch.tensor([[[1.0, 0.0]], [[0.0, 0.0]]]), torch.tensor([[[0.0, 0.0]], [[0.0, 1.0]]])
        >>> activation_shift_loss(acts, src, tgt)
        tensor([ 1., -4.])
    """
    if acts.shape[-2:] != source.shape[-2:]:
        acts = F.interpolate(acts[:, None], size=tuple(source.shape[-2:]), mode="bilinear", align_corners=False)[:, 0]
    s_den = source.sum() + 1e-8
    g_den = target.sum() + 1e-8
    return (acts * source).flatten(1).sum(1) / s_den - (acts * target).flatten(1).sum(1) / g_den


def _check_target_unit(unit: int, target_unit: object) -> None:
    """Raise unless ``target_unit`` is a non-negative integer other than ``unit``."""
    message = f"Expected `target_unit` to be a non-negative integer other than `unit` ({unit}), but got {target_unit!r}"
    if not is_int(target_unit):
        raise TypeError(message)
    if target_unit < 0 or target_unit == unit:
        raise ValueError(message)


def _check_positive_int(name: str, value: object) -> None:
    message = f"Expected `{name}` to be a positive integer, but got {value!r}"
    if not is_int(value):
        raise TypeError(message)
    if value < 1:
        raise ValueError(message)


def _check_eps(eps: object) -> None:
    """``eps`` is a radius in ``[0, 1]`` pixel units: NaN, a negative value, infinity or more than 1 is an error."""
    if not is_real(eps):
        raise TypeError(f"Expected `eps` to be a non-negative float, but got {eps!r}")
    if not eps >= 0:  # NaN fails too
        raise ValueError(f"Expected `eps` to be a non-negative float, but got {eps}")
    check_real("eps", eps, 0.0, 1.0)  # pixels lie in [0, 1]: a larger radius means another pixel convention


class ProbingAttack:
    """Base of the crafted attacks: hyperparameters at construction, then ``prepare`` -> ``poison`` -> ``outcome``.

    The contract every variant follows (what :func:`robattr.neurons.jobs.run_attack` calls, in this order):

    1. :meth:`prepare` ``(model, layer, dataset, clean)``: take from the clean dissection what the masks need (the
       unit's concept, the thresholds, the exemplars) and check the units against the layer;
    2. :meth:`poison` ``(model, layer, dataset, out_dir)``: perturb the images whose source or target mask is
       non-empty and store them under ``out_dir`` (a :class:`~robattr.neurons.storage.Poisoning`);
    3. :meth:`outcome` ``(...)``: the variant's own results once the corrupted set was dissected again.

    Each variant's ``__call__`` is ``prepare`` + ``poison`` for direct use.

    Args:
        unit: the attacked unit ``k`` (channel index of the dissected layer).
        eps: L-inf radius in ``[0, 1]`` pixel units (4/255 in the reference's NetDissect CLI).
        steps: PGD iterations (10 in the reference's CLI).
        step_size: PGD step; ``None`` means ``2 * eps / steps`` (the reference's).
        storage: how poisoned images are stored: ``lossless`` or ``jpeg`` (see :mod:`robattr.neurons.storage`).
        batch_size: images per batch, in dataset order (64 in the reference).

    Raises:
        TypeError: for a non-integer ``unit``, ``steps`` or ``batch_size``, a non-number ``eps`` or ``step_size``.
        ValueError: for a negative ``unit``, ``eps`` that is NaN, negative or above 1, ``steps < 1``, a non-positive
            or non-finite ``step_size`` or an unknown ``storage``.
    """

    uses_labels: ClassVar[bool] = False  # whether `masks` reads the label planes

    def __init__(
        self,
        unit: int,
        eps: float = 4 / 255,
        steps: int = 10,
        step_size: float | None = None,
        storage: Storage = "lossless",
        batch_size: int = 64,
    ) -> None:
        message = f"Expected `unit` to be a non-negative integer, but got {unit!r}"
        if not is_int(unit):
            raise TypeError(message)
        if unit < 0:
            raise ValueError(message)
        _check_eps(eps)
        _check_positive_int("steps", steps)
        if step_size is not None:
            message = f"Expected `step_size` to be a positive float or None, but got {step_size}"
            if not is_real(step_size):
                raise TypeError(message)
            if not (step_size > 0 and math.isfinite(step_size)):
                raise ValueError(message)
        check_storage(storage)
        _check_positive_int("batch_size", batch_size)
        self.unit = unit
        self.eps = eps
        self.steps = steps
        self.step_size = step_size
        self.storage = storage
        self.batch_size = batch_size
        self.prepared = False

    @property
    def pgd(self) -> PGD | None:
        """The PGD loop (``None`` when ``eps == 0``: the images are stored unperturbed)."""
        if self.eps == 0:
            return None
        step = self.step_size if self.step_size is not None else 2.0 * self.eps / self.steps
        return PGD(eps=self.eps, step_size=step, steps=self.steps, random_start=False, keep_best=False)

    @property
    def target_label(self) -> int | None:
        """The global label number the unit should take (targeted concept attack), else ``None``."""
        return None

    def check_unit(self, num_units: int, name: str = "unit", unit: int | None = None) -> None:
        """Raise ``ValueError`` unless the unit exists in a layer of ``num_units`` units."""
        unit = self.unit if unit is None else unit
        if not 0 <= unit < num_units:
            raise ValueError(f"Expected `{name}` to be in [0, {num_units - 1}], but got {unit}")

    def _check_clean(self, clean: DissectionResult, layer: str) -> None:
        if not isinstance(clean, DissectionResult):
            raise TypeError(f"Expected `clean` to be a DissectionResult, but got {type(clean).__name__}")
        if clean.layer != layer:
            raise ValueError(f"Expected `clean` to be a dissection of layer {layer!r}, but got one of {clean.layer!r}")
        self.check_unit(clean.num_units)

    def prepare(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        clean: DissectionResult,
        batch_size: int = 64,
        progress: bool = False,
    ) -> None:
        """Take from the clean dissection ``clean`` of ``layer`` what the masks need; check the units.

        Args:
            model: the network.
            layer: the dissected layer.
            dataset: the clean probing set.
            clean: the clean :class:`~robattr.neurons.dissection.DissectionResult` of ``layer``.
            batch_size: images per batch, for variants that stream the set once more (the exemplar attack).
            progress: show tqdm bars in those passes (else summary lines).

        Raises:
            TypeError: if ``clean`` is not a dissection result.
            ValueError: if it is a dissection of another layer, or a unit is not in the layer.
        """
        raise NotImplementedError

    def masks(self, model: nn.Module, acts_fn: LayerActivations, batch: BrodenBatch) -> tuple[Tensor, Tensor]:
        """Source and target masks ``(B, H, W)`` (float, on the model's device) of a batch."""
        raise NotImplementedError

    def perturb(self, model: nn.Module, acts_fn: LayerActivations, x: Tensor, source: Tensor, target: Tensor) -> Tensor:
        """PGD on images ``x`` ``(N, 3, H, W)`` lowering the unit on ``source`` and raising it on ``target``."""
        pgd = self.pgd
        if pgd is None:
            return x.detach().clone()
        unit = self.unit

        def loss_fn(_model: nn.Module, x_adv: Tensor, rows: Tensor) -> Tensor:
            return -activation_shift_loss(acts_fn(x_adv)[:, unit], source[rows], target[rows])

        with eval_mode(model):
            return pgd(model, x, torch.arange(x.shape[0], device=x.device), loss_fn=loss_fn)

    def _batches(self, dataset: BrodenDataset, progress: bool) -> Iterator[BrodenBatch]:
        loader = dataset.loader(self.batch_size, images_only=not self.uses_labels)
        yield from track(loader, f"{type(self).__name__} on unit {self.unit}", progress)

    def poison(
        self, model: nn.Module, layer: str, dataset: BrodenDataset, out_dir: str, progress: bool = False
    ) -> Poisoning:
        """Perturb the images with a non-empty source or target mask and store them under ``out_dir``.

        Raises:
            RuntimeError: if :meth:`prepare` (or ``__call__``) did not run first.
        """
        if not self.prepared:
            raise RuntimeError(
                f"Expected {type(self).__name__}.prepare(model, layer, dataset, clean) to run before poison(), "
                "but it did not"
            )
        acts_fn = LayerActivations(model, layer)
        prepare_out_dir(out_dir)
        poisoned: list[int] = []
        for batch in self._batches(dataset, progress):
            with eval_mode(model), torch.no_grad():
                source, target = self.masks(model, acts_fn, batch)
            rows = ((source.flatten(1) > 0) | (target.flatten(1) > 0)).any(1).nonzero().flatten()
            if rows.numel() == 0:
                continue
            # the other images of the batch have empty masks: the loss's denominators are the batch's (as the reference)
            adv = self.perturb(model, acts_fn, to_model(model, batch.images)[rows], source[rows], target[rows])
            indices = batch.indices[rows.cpu()].tolist()
            store_images(adv.float(), [dataset.rows[i].image for i in indices], out_dir, self.storage)
            poisoned.extend(indices)
        return Poisoning(out_dir, poisoned, len(dataset))

    def outcome(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        corrupted_dataset: BrodenDataset,
        clean: DissectionResult,
        corrupted: DissectionResult,
        batch_size: int = 64,
        progress: bool = False,
    ) -> dict[str, Any]:
        """The variant's own results after the corrupted set was dissected again (``{}`` by default).

        Keys set here override the job's common ones (the exemplar attack redefines ``attack/success``).
        """
        return {}

    def _describe(self) -> str:
        return (
            f"unit={self.unit}, eps={self.eps}, steps={self.steps}, step_size={self.step_size}, "
            f"storage={self.storage!r}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._describe()})"


class ConceptAttack(ProbingAttack):
    """The crafted NetDissect attack: move unit ``k`` from its clean concept to ``target``.

    The source concept is the unit's clean label (from a clean :class:`~robattr.neurons.dissection.DissectionResult`).
    Only images containing the source or the target concept are perturbed; with ``target=None`` the attack is
    untargeted (suppress the source). Masks are the union over all label planes of the pixels equal to the concept
    (the reference used the planes of the concept's category; the two differ only for a label that lives in
    several categories).

    Args:
        unit: the attacked unit.
        target: the target concept, by name (e.g. ``green``) or global number; ``None`` for the untargeted variant.
        target_category: the category to look the name up in, when a name is ambiguous.
        eps, steps, step_size, storage, batch_size: see :class:`ProbingAttack`.

    Example:
        >>> ConceptAttack(unit=1, target="green")
        ConceptAttack(unit=1, eps=0.01568..., steps=10, step_size=None, storage='lossless', target='green')
    """

    uses_labels = True

    def __init__(
        self,
        unit: int,
        target: str | int | None = None,
        target_category: str | None = None,
        eps: float = 4 / 255,
        steps: int = 10,
        step_size: float | None = None,
        storage: Storage = "lossless",
        batch_size: int = 64,
    ) -> None:
        super().__init__(unit, eps, steps, step_size, storage, batch_size)
        if target is not None and not isinstance(target, (str, int)) or isinstance(target, bool):
            raise TypeError(f"Expected `target` to be a label name, a label number or None, but got {target!r}")
        self.target = target
        self.target_category = target_category
        self.source_label = -1
        self._target_label = -1

    @property
    def target_label(self) -> int | None:
        """The global number of ``target`` once prepared (``None`` for the untargeted variant or before)."""
        return self._target_label if self._target_label >= 0 else None

    def setup(self, clean: DissectionResult, dataset: BrodenDataset) -> None:
        """Fix the source (clean label of ``unit``) and target label numbers."""
        self.check_unit(clean.num_units)
        self.source_label = int(clean.label[self.unit])
        self._target_label = -1 if self.target is None else dataset.label_number(self.target, self.target_category)
        if self._target_label == self.source_label:
            name, unit = clean.label_name(self.unit), self.unit
            raise ValueError(
                f"Expected `target` to differ from the clean label of unit {unit} ({name!r}), but got {self.target!r}"
            )
        self.prepared = True

    def prepare(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        clean: DissectionResult,
        batch_size: int = 64,
        progress: bool = False,
    ) -> None:
        """Fix the source (the unit's clean label) and the target label number; see :meth:`ProbingAttack.prepare`."""
        self._check_clean(clean, layer)
        self.setup(clean, dataset)

    def masks(self, model: nn.Module, acts_fn: LayerActivations, batch: BrodenBatch) -> tuple[Tensor, Tensor]:
        device = model_device(model)
        planes = batch.planes.to(device)
        source = (planes == self.source_label).any(1).float()
        target = (planes == self._target_label).any(1).float() if self._target_label >= 0 else torch.zeros_like(source)
        return source, target

    def __call__(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        clean: DissectionResult,
        out_dir: str,
        progress: bool = False,
    ) -> Poisoning:
        """Poison ``dataset`` against the clean dissection ``clean`` of ``layer``; see :meth:`ProbingAttack.poison`."""
        self.prepare(model, layer, dataset, clean)
        return self.poison(model, layer, dataset, out_dir, progress)

    def _describe(self) -> str:
        return super()._describe() + f", target={self.target!r}"


class UnitAttack(ProbingAttack):
    """Unit-to-unit attack: unit ``k`` should fire where unit ``target_unit`` fires, and stop where it fires.

    Masks at feature resolution from the clean thresholds: :math:`S(x) = f_k(x) > T_k`, :math:`G(x) = f_j(x) > T_j`,
    computed through the model (normalisation inside it, so the reference's un-normalised-mask quirk does not arise).

    Args:
        unit: the attacked unit ``k``.
        target_unit: the unit ``j`` whose explanation ``k`` should inherit.
        eps, steps, step_size, storage, batch_size: see :class:`ProbingAttack`.

    Example:
        >>> UnitAttack(unit=1, target_unit=3).target_unit
        3
    """

    def __init__(
        self,
        unit: int,
        target_unit: int,
        eps: float = 4 / 255,
        steps: int = 10,
        step_size: float | None = None,
        storage: Storage = "lossless",
        batch_size: int = 64,
    ) -> None:
        super().__init__(unit, eps, steps, step_size, storage, batch_size)
        _check_target_unit(unit, target_unit)
        self.target_unit = target_unit
        self.thresholds: Tensor | None = None

    def prepare(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        clean: DissectionResult,
        batch_size: int = 64,
        progress: bool = False,
    ) -> None:
        """Take the clean thresholds of both units; see :meth:`ProbingAttack.prepare`."""
        self._check_clean(clean, layer)
        self.check_unit(clean.num_units, "target_unit", self.target_unit)
        self.thresholds = clean.thresholds
        self.prepared = True

    def masks(self, model: nn.Module, acts_fn: LayerActivations, batch: BrodenBatch) -> tuple[Tensor, Tensor]:
        if self.thresholds is None:
            raise RuntimeError("Expected UnitAttack.prepare(...) to set the clean thresholds, but it did not run")
        acts = acts_fn(to_model(model, batch.images)).float()
        t = self.thresholds.to(acts.device)
        return (acts[:, self.unit] > t[self.unit]).float(), (acts[:, self.target_unit] > t[self.target_unit]).float()

    def outcome(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        corrupted_dataset: BrodenDataset,
        clean: DissectionResult,
        corrupted: DissectionResult,
        batch_size: int = 64,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Whether unit ``k`` took the clean label of the target unit."""
        return {
            "attack/target_unit_label": clean.label_name(self.target_unit),
            "attack/label_of_target_unit_taken": int(corrupted.label[self.unit]) == int(clean.label[self.target_unit]),
        }

    def __call__(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        clean: DissectionResult,
        out_dir: str,
        progress: bool = False,
    ) -> Poisoning:
        """Poison ``dataset`` using the clean thresholds of ``clean``; see :meth:`ProbingAttack.poison`."""
        self.prepare(model, layer, dataset, clean)
        return self.poison(model, layer, dataset, out_dir, progress)

    def _describe(self) -> str:
        return super()._describe() + f", target_unit={self.target_unit}"


class ExemplarAttack(ProbingAttack):
    """MILAN exemplar attack: replace unit ``k``'s top exemplars by those of ``target_unit``.

    The clean exemplars (top ``k`` images by spatial max, masks above the top-``quantile`` level, see
    :func:`~robattr.neurons.exemplars.compute_exemplars`) are computed first. On the first ``n_images`` exemplars of
    each unit, :math:`S(x)` is the source unit's exemplar mask and :math:`G(x)` the target unit's; the activation is
    resized to the image size. The MILAN captioner is then run on the new exemplars of unit ``k`` (not shipped here:
    its weights cannot be fetched); the exemplar sets themselves are compared by
    :func:`robattr.neurons.comparison.exemplar_overlap`.

    Args:
        unit: the source unit ``k``.
        target_unit: the target unit ``j`` (same layer here; the reference allowed another layer).
        n_images: exemplars of each unit to perturb (``--attack-image-count``); ``None`` for all ``k``.
        k: exemplars per unit (15 in MILAN).
        quantile: top fraction of all activations above the mask level (0.01 in MILAN).
        eps, steps, step_size, storage, batch_size: see :class:`ProbingAttack` (MILAN's CLI used eps 0.01).

    Example:
        >>> ExemplarAttack(unit=1, target_unit=3, n_images=10).n_images
        10
    """

    def __init__(
        self,
        unit: int,
        target_unit: int,
        n_images: int | None = None,
        k: int = 15,
        quantile: float = 0.01,
        eps: float = 4 / 255,
        steps: int = 10,
        step_size: float | None = None,
        storage: Storage = "lossless",
        batch_size: int = 64,
    ) -> None:
        super().__init__(unit, eps, steps, step_size, storage, batch_size)
        _check_target_unit(unit, target_unit)
        if n_images is not None:
            _check_positive_int("n_images", n_images)
        _check_positive_int("k", k)
        message = f"Expected `quantile` to be a float in (0, 1), but got {quantile}"
        if not is_real(quantile):
            raise TypeError(message)
        if not 0.0 < quantile < 1.0:
            raise ValueError(message)
        self.target_unit = target_unit
        self.n_images = n_images
        self.k = k
        self.quantile = quantile
        self.exemplars: Exemplars | None = None
        self._source: dict[int, Tensor] = {}
        self._target: dict[int, Tensor] = {}

    def use_exemplars(self, clean: Exemplars) -> None:
        """Take the masks of the first ``n_images`` clean exemplars of both units from ``clean``.

        Raises:
            ValueError: if a unit is not in the layer, or ``clean`` has no masks for it.
        """
        self.check_unit(clean.num_units)
        self.check_unit(clean.num_units, "target_unit", self.target_unit)
        n = self.n_images
        self._source = dict(zip(clean.indices[self.unit, :n].tolist(), clean.unit_masks(self.unit)[:n].float()))
        self._target = dict(
            zip(clean.indices[self.target_unit, :n].tolist(), clean.unit_masks(self.target_unit)[:n].float())
        )
        self.exemplars = clean
        self.prepared = True

    def prepare(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        clean: DissectionResult,
        batch_size: int = 64,
        progress: bool = False,
    ) -> None:
        """Compute the clean exemplars (``k`` per unit, masks at the top ``quantile``) of both units and use them."""
        self._check_clean(clean, layer)
        self.check_unit(clean.num_units, "target_unit", self.target_unit)
        units = [self.unit, self.target_unit]
        exemplars = compute_exemplars(
            model, layer, dataset, self.k, self.quantile, units, batch_size, progress=progress
        )
        self.use_exemplars(exemplars)

    def masks(self, model: nn.Module, acts_fn: LayerActivations, batch: BrodenBatch) -> tuple[Tensor, Tensor]:
        device = model_device(model)
        size = tuple(batch.images.shape[-2:])
        source = torch.zeros((batch.images.shape[0],) + size, device=device)
        target = torch.zeros_like(source)
        for row, index in enumerate(batch.indices.tolist()):
            if index in self._source:
                source[row] = self._source[index].to(device)
            if index in self._target:
                target[row] = self._target[index].to(device)
        return source, target

    def outcome(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        corrupted_dataset: BrodenDataset,
        clean: DissectionResult,
        corrupted: DissectionResult,
        batch_size: int = 64,
        progress: bool = False,
    ) -> dict[str, Any]:
        """The source unit's exemplars recomputed on the corrupted set, their overlaps with the old and the target's
        exemplars; success means the new top-k shares more images with the target's than with the old set.
        """
        if self.exemplars is None:
            raise RuntimeError(
                "Expected ExemplarAttack.prepare(...) to compute the clean exemplars, but it did not run"
            )
        new = compute_exemplars(
            model, layer, corrupted_dataset, self.k, self.quantile, [], batch_size, progress=progress
        ).indices[self.unit]
        out: dict[str, Any] = {
            "exemplars/overlap_with_clean": exemplar_overlap(new, self.exemplars.indices[self.unit]),
            "exemplars/overlap_with_target": exemplar_overlap(new, self.exemplars.indices[self.target_unit]),
        }
        out["attack/success"] = out["exemplars/overlap_with_target"] > out["exemplars/overlap_with_clean"]
        return out

    def __call__(
        self,
        model: nn.Module,
        layer: str,
        dataset: BrodenDataset,
        clean: Exemplars,
        out_dir: str,
        progress: bool = False,
    ) -> Poisoning:
        """Poison ``dataset`` using the clean exemplars ``clean`` (with masks for both units).

        See :meth:`ProbingAttack.poison`.
        """
        self.use_exemplars(clean)
        return self.poison(model, layer, dataset, out_dir, progress)

    def _describe(self) -> str:
        return (
            super()._describe()
            + f", target_unit={self.target_unit}, n_images={self.n_images}, k={self.k}, quantile={self.quantile}"
        )
