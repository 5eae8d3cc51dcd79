"""Path-integral attributions: references x interpolation points, streamed through a pluggable estimator.

Every integral method (IG, IG with uniform / SmoothGrad / squared references, Expected Gradients, LPI, AGI) is a
:class:`PathIntegral`. It exposes its samples as ``references(model, x, target)`` ``(N, R, ...)`` and
``alphas(x, R)`` ``(N, R, K)``; the sample ``(j, m)`` of image ``x`` is the point ``z_jm = x'_j + alpha_jm (x - x'_j)``,
laid out *reference-major* (reference ``j`` with each of its ``K`` alphas, the intended block pairing of the
re-calibration code, not its tiled one). The points go through the network in forward passes of at most
``internal_batch_size`` points (see :func:`forward_blocks`) and each pass is folded into a
:class:`PathAccumulator`, so the ``N * R * K`` points never sit in memory together.

The estimator decides how the samples become one attribution (Yang et al., ICLR 2023, Algorithm 1; robattr's
reading is in ``docs/recalibration.md``, section 2). With reference weights ``rho_j`` and point weights ``w_m``
(each summing to 1, uniform unless the method says otherwise), ``c_jm = g(z_jm) * (x - z_jm)`` and
``C_j = (x - x'_j) * sum_m w_m g(z_jm)``:

- ``vanilla``: ``A = sum_j rho_j C_j`` (the usual Monte-Carlo path integral, signed);
- ``valid_ip``: ``A = sum_jm v_jm rho_j w_m c_jm / sum_jm v_jm rho_j w_m`` with ``v_jm = [c_jm >= 0]`` per feature,
  0 where no sample is valid: the mean of the non-negative point contributions (two running sums per feature);
- ``valid_ref``: ``A = sum_j v_j rho_j C_j / sum_j v_j rho_j`` with ``v_j = [C_j >= 0]`` per feature.

With uniform weights ``valid_ip`` is the code's ``sum v c / max(1, sum v)``; its constant ``1 / k`` is dropped. A
method with ``square = True`` (IG-SQ) squares the averaged unit (``c_jm`` or ``C_j``) after the validity test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from robattr.attribution.base import Attribution
from robattr.attribution.objectives import Objective

Estimator = Literal["vanilla", "valid_ip", "valid_ref"]
ESTIMATORS: tuple[str, ...] = ("vanilla", "valid_ip", "valid_ref")


def check_estimator(estimator: str) -> None:
    """Raise a ``ValueError`` naming ``estimator`` unless it is one of :data:`ESTIMATORS`."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"Expected `estimator` to be one of {list(ESTIMATORS)}, but got {estimator!r}")


def check_positive_int(name: str, value: object) -> None:
    """Raise ``ValueError`` ``Expected `name` to be a positive integer, but got value`` unless ``value >= 1``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"Expected `{name}` to be a positive integer, but got {value!r}")


def check_internal_batch_size(value: int | None) -> None:
    """Raise ``ValueError`` unless ``value`` is ``None`` or a positive integer."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"Expected `internal_batch_size` to be a positive integer or None, but got {value!r}")


def forward_blocks(n_images: int, n_samples: int, internal_batch_size: int | None) -> Iterator[tuple[slice, int]]:
    """Image blocks and samples per pass such that no forward pass holds more than ``internal_batch_size`` points.

    robattr's one ``internal_batch_size`` rule, for every method that sends several samples per image through the
    network (the integral methods and SmoothGrad): ``internal_batch_size`` is a **true upper bound** on the number of
    points ``images x samples`` of one forward pass. A block of ``b = min(N, internal_batch_size)`` images goes
    through ``internal_batch_size // b`` samples per pass; ``None`` sends all ``N * n_samples`` points at once.
    captum's rule is the same when ``internal_batch_size >= N`` (``internal_batch_size // N`` steps of all images per
    pass), but below ``N`` captum raises the pass to ``N`` points with a warning; robattr splits the images instead.

    Yields:
        ``(images, samples_per_pass)``: a slice of the batch and how many samples of each image go in one pass.

    Example:
        >>> [(s.start, s.stop, k) for s, k in forward_blocks(10, 20, 4)]  # 10 images, at most 4 points per pass
        [(0, 4, 1), (4, 8, 1), (8, 10, 2)]
        >>> [(s.start, s.stop, k) for s, k in forward_blocks(4, 20, 10)]
        [(0, 4, 2)]
    """
    if internal_batch_size is None:
        yield slice(0, n_images), n_samples
        return
    block = min(n_images, internal_batch_size)
    for start in range(0, n_images, block):
        images = slice(start, min(start + block, n_images))
        yield images, max(1, min(n_samples, internal_batch_size // (images.stop - images.start)))


@dataclass
class PathChunk:
    """Gradients at a chunk of ``M`` path samples for a block of ``n`` images.

    Attributes:
        grads: ``g(z)`` ``(n, M, ...)``, the objective's gradient at each sample point.
        displacement: ``x - x'`` ``(n, M, ...)``, from the sample's reference to the input.
        alphas: ``(n, M)`` or ``(1, M)``; the point is ``z = x' + alpha (x - x')``, so
            ``x - z = (1 - alpha) * displacement``.
        ref_index: ``(M,)`` reference index ``j`` of each sample.
        point_index: ``(M,)`` point index ``m`` of each sample.
        reference_displacement: ``x - x'_j`` ``(n, R, ...)`` when every sample of reference ``j`` shares it (straight
            paths); the per-reference estimators then multiply by it once, after summing the weighted gradients.
    """

    grads: Tensor
    displacement: Tensor
    alphas: Tensor
    ref_index: Tensor
    point_index: Tensor
    reference_displacement: Tensor | None = None


class PathAccumulator:
    """Running estimator of a path integral from :class:`PathChunk` s (see the module docstring for the formulas).

    ``valid_ip`` keeps two running sums per feature (weighted sum of valid contributions and their weight); the
    other estimators keep one partial sum per reference ``(n, R, ...)`` (the size of the references themselves):
    ``sum_m w_m g(z_jm)`` on straight paths (multiplied by ``x - x'_j`` once, at :meth:`compute`), else
    ``sum_m w_m g(z_jm) (x - x'_jm)``. Samples may arrive in any order and chunking.

    Args:
        estimator: ``vanilla``, ``valid_ip`` or ``valid_ref``.
        reference_weights: ``rho`` ``(n, R)``, each row summing to 1.
        point_weights: ``w`` ``(K,)``, summing to 1.
        square: square the averaged unit (IG-SQ).

    Example:
        >>> g, d = torch.tensor([[[1.0, -1.0]]]), torch.tensor([[[2.0, 2.0]]])  # one image, one sample, 2 features
        >>> acc = PathAccumulator("valid_ip", torch.ones(1, 1), torch.ones(1))
        >>> acc.update(PathChunk(g, d, torch.zeros(1, 1), torch.tensor([0]), torch.tensor([0])))
        >>> acc.compute()
        tensor([[2., 0.]])
    """

    def __init__(
        self, estimator: Estimator, reference_weights: Tensor, point_weights: Tensor, square: bool = False
    ) -> None:
        check_estimator(estimator)
        self.estimator = estimator
        self.reference_weights = reference_weights
        self.point_weights = point_weights
        self.square = square
        self.total: Tensor | float = 0.0
        self.weight: Tensor | float = 0.0
        self.per_reference: Tensor | None = None
        self.reference_displacement: Tensor | None = None

    def _per_sample_shape(self, chunk: PathChunk) -> tuple[int, ...]:
        return (chunk.grads.shape[0], chunk.grads.shape[1]) + (1,) * (chunk.grads.dim() - 2)

    def update(self, chunk: PathChunk) -> None:
        """Fold one chunk into the running sums."""
        shape = self._per_sample_shape(chunk)
        w_point = self.point_weights[chunk.point_index]
        if self.estimator == "valid_ip":
            rho = self.reference_weights[:, chunk.ref_index]
            c = chunk.grads * ((1.0 - chunk.alphas).view(-1, *shape[1:]) * chunk.displacement)
            vw = (c >= 0).to(c.dtype) * (rho * w_point).view(shape)
            self.total = self.total + (vw * (c * c if self.square else c)).sum(1)
            self.weight = self.weight + vw.sum(1)
            return
        term = w_point.view(shape[1:]) * chunk.grads
        if chunk.reference_displacement is None:
            term = term * chunk.displacement
        elif self.reference_displacement is None:
            self.reference_displacement = chunk.reference_displacement
        n_refs = self.reference_weights.shape[1]
        if n_refs == 1:  # one reference (IG): a plain sum over the samples
            part = term.sum(1, keepdim=True)
            self.per_reference = part if self.per_reference is None else self.per_reference + part
            return
        if self.per_reference is None:
            self.per_reference = term.new_zeros(term.shape[0], n_refs, *term.shape[2:])
        self.per_reference = self.per_reference.index_add(1, chunk.ref_index, term)

    def compute(self) -> Tensor:
        """The attribution ``(n, ...)``."""
        if self.estimator == "valid_ip":
            return _safe_ratio(self.total, self.weight)
        if self.per_reference is None:
            raise RuntimeError("Expected at least one `update` before `compute`, but got none")
        c = self.per_reference
        if self.reference_displacement is not None:
            c = self.reference_displacement * c
        rho = self.reference_weights.view(*self.reference_weights.shape, *(1,) * (c.dim() - 2))
        unit = c * c if self.square else c
        if self.estimator == "vanilla":
            return (rho * unit).sum(1)
        v_rho = (c >= 0).to(c.dtype) * rho
        return _safe_ratio((v_rho * unit).sum(1), v_rho.sum(1))


def _safe_ratio(num: Tensor, den: Tensor) -> Tensor:
    """``num / den`` where ``den > 0``, else 0 (a feature without any valid sample)."""
    return torch.where(den > 0, num / den.clamp_min(torch.finfo(den.dtype).tiny), torch.zeros_like(num))


class PathIntegral(Attribution):
    r"""Base class of the integral methods: ``R`` references, ``K`` points each, one estimator.

    .. math:: A_i(x) = \mathbb{E}_{x' \sim D} (x_i - x'_i) \int_0^1 \partial_i S(x' + \alpha (x - x')) d\alpha

    Subclasses define :meth:`references` (and optionally :meth:`alphas`, :meth:`reference_weights`,
    :meth:`point_weights`). A method whose samples are not on straight lines (AGI) overrides :meth:`plan` and
    :meth:`chunks` instead. The default ``alphas`` are ``linspace(0, 1, K)`` (both ends included, as in the
    re-calibration code; ``K = 1`` gives ``alpha = 0``), shared by every reference. Random draws use torch's global
    generator (seed with ``lightning.seed_everything``).

    Call kwargs ``references`` ``(N, R, ...)`` and ``alphas`` ``(N or 1, R, K)`` replace the method's own draws (fixed
    draws for tests, or references from elsewhere). Images are processed independently: the result for an image does
    not depend on the other images of the batch, given its references and alphas.

    Args:
        n_references: ``R``, references per input.
        n_points: ``K``, interpolation points per reference.
        estimator: ``vanilla`` (default), ``valid_ip`` or ``valid_ref`` (re-calibration), see the module docstring.
        internal_batch_size: upper bound on the points of one forward pass (``None``: all ``N * R * K`` at once). A
            block of ``min(N, internal_batch_size)`` images goes through ``internal_batch_size // block`` samples at a
            time (:func:`forward_blocks`; AGI's passes hold ``block`` images x its classes).
        objective: explained scalar (``logit``, ``prob``, ``contrast``, ``loss``).

    Raises:
        ValueError: for a non-positive ``n_references``, ``n_points`` or ``internal_batch_size``, or an unknown
            ``estimator``.
    """

    supports_create_graph = True
    multiplies_by_inputs = True
    square: ClassVar[bool] = False

    def __init__(
        self,
        n_references: int,
        n_points: int,
        estimator: Estimator = "vanilla",
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
    ) -> None:
        super().__init__(objective)
        check_positive_int("n_references", n_references)
        check_positive_int("n_points", n_points)
        check_estimator(estimator)
        check_internal_batch_size(internal_batch_size)
        self.n_references = n_references
        self.n_points = n_points
        self.estimator = estimator
        self.internal_batch_size = internal_batch_size

    # ----------------------------------------------------------------------------------------------- the samples
    def references(self, model: nn.Module, inputs: Tensor, target: Tensor) -> Tensor:
        """References ``(N, R, ...)`` for ``inputs`` ``(N, ...)``."""
        raise NotImplementedError

    def alphas(self, inputs: Tensor, n_references: int) -> Tensor:
        """Interpolation coefficients ``(N or 1, R, K)``; default ``linspace(0, 1, K)`` for every reference."""
        a = torch.linspace(0.0, 1.0, self.n_points, device=inputs.device, dtype=inputs.dtype)
        return a.expand(1, n_references, self.n_points)

    def reference_weights(self, model: nn.Module, inputs: Tensor, target: Tensor, references: Tensor) -> Tensor:
        """Weights ``rho`` ``(N or 1, R)`` of the references, summing to 1; default uniform."""
        r = references.shape[1]
        return references.new_full((1, r), 1.0 / r)

    def point_weights(self, device: torch.device, dtype: torch.dtype) -> Tensor:
        """Weights ``w`` ``(K,)`` of the points of one reference, summing to 1; default uniform."""
        return torch.full((self.n_points,), 1.0 / self.n_points, device=device, dtype=dtype)

    # ----------------------------------------------------------------------------------------------- the engine
    def plan(
        self,
        model: nn.Module,
        inputs: Tensor,
        target: Tensor,
        references: Tensor | None = None,
        alphas: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Per-image tensors (leading dim ``N``) the chunks need; must contain ``reference_weights`` ``(N, R)``."""
        n = inputs.shape[0]
        refs = self.references(model, inputs, target) if references is None else references
        if refs.dim() != inputs.dim() + 1 or refs.shape[0] != n or refs.shape[2:] != inputs.shape[1:]:
            dims = ", ".join(map(str, inputs.shape[1:]))
            raise ValueError(f"Expected `references` of shape ({n}, R, {dims}), but got {tuple(refs.shape)}")
        r = refs.shape[1]
        a = self.alphas(inputs, r) if alphas is None else alphas
        if a.dim() != 3 or a.shape[0] not in (1, n) or a.shape[1:] != (r, self.n_points):
            raise ValueError(f"Expected `alphas` of shape ({n} or 1, {r}, {self.n_points}), but got {tuple(a.shape)}")
        rho = self.reference_weights(model, inputs, target, refs)
        return {
            "references": refs.to(inputs.dtype),
            "alphas": a.to(inputs.dtype).expand(n, r, self.n_points),
            "reference_weights": rho.to(inputs.dtype).expand(n, r),
        }

    def chunks(
        self,
        model: nn.Module,
        inputs: Tensor,
        target: Tensor,
        plan: dict[str, Tensor],
        samples_per_chunk: int,
        create_graph: bool,
    ) -> Iterator[PathChunk]:
        """Straight-line samples of a block of images, ``samples_per_chunk`` (reference, alpha) pairs per pass."""
        refs, alphas = plan["references"], plan["alphas"]
        n, r, k = alphas.shape
        shape = (n, -1) + (1,) * (inputs.dim() - 1)
        reference_displacement = inputs.unsqueeze(1) - refs
        for start in range(0, r * k, samples_per_chunk):
            flat = torch.arange(start, min(start + samples_per_chunk, r * k), device=inputs.device)
            j, m = flat // k, flat % k
            if r == 1:  # one reference (IG): broadcast it instead of copying it per sample
                ref = refs.expand(n, len(flat), *refs.shape[2:])
                displacement = reference_displacement.expand_as(ref)
            else:
                ref, displacement = refs[:, j], reference_displacement[:, j]
            a = alphas[:, j, m]
            # sample-major pass (sample 1 of every image, then sample 2, ...), as captum lays out IG's steps
            points = (ref + a.view(shape) * displacement).transpose(0, 1)
            grads = self.objective_grad(model, points.flatten(0, 1), target.repeat(len(flat)), create_graph)
            yield PathChunk(grads.view(points.shape).transpose(0, 1), displacement, a, j, m, reference_displacement)

    def _attribute(self, model: nn.Module, inputs: Tensor, target: Tensor, *, create_graph: bool, **kwargs) -> Tensor:
        return self.estimate(model, inputs, target, self.estimator, create_graph=create_graph, **kwargs)

    def estimate(
        self,
        model: nn.Module,
        inputs: Tensor,
        target: Tensor,
        estimator: Estimator,
        *,
        create_graph: bool = False,
        **kwargs,
    ) -> Tensor:
        """The attribution with ``estimator`` in place of ``self.estimator`` (what :class:`Recalibrated` calls).

        ``target`` must be a class index tensor ``(N,)``; call inside ``torch.enable_grad()`` (``__call__`` does both).
        """
        check_estimator(estimator)
        plan = self.plan(model, inputs, target, **kwargs)
        n_samples = plan["reference_weights"].shape[1] * self.n_points
        w_point = self.point_weights(inputs.device, inputs.dtype)
        out = []
        for images, per_pass in forward_blocks(inputs.shape[0], n_samples, self.internal_batch_size):
            part = {key: value[images] for key, value in plan.items()}
            acc = PathAccumulator(estimator, part["reference_weights"], w_point, self.square)
            for chunk in self.chunks(model, inputs[images], target[images], part, per_pass, create_graph):
                acc.update(chunk)
            out.append(acc.compute())
        return torch.cat(out) if len(out) > 1 else out[0]
