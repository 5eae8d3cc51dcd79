"""Adversarial Gradient Integration (Pan et al., IJCAI 2021), as in the re-calibration code."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from robattr.attribution.objectives import Objective, select_objective
from robattr.attribution.path import Estimator, PathChunk, PathIntegral


class AdversarialGradientIntegration(PathIntegral):
    r"""AGI: integrate the label's gradient along adversarial steps towards ``R`` random false classes.

    For each false class ``c`` and step ``s = 1..K`` (with ``p_0 = x``):

    .. math:: a = \nabla_p z_c(p_{s-1}), \quad p_s = \mathrm{clip}_{[0,1]}(x + \epsilon\,\mathrm{sign}(a)), \quad
       d_{c,s} = \nabla S(p_s) \odot (x - p_s)

    (the step starts from ``x``, as in the official AGI code). ``vanilla`` averages ``d`` over ``(c, s)`` (the code
    sums; a constant factor); ``valid_ip`` averages the non-negative ``d_{c,s}`` per feature and ``valid_ref`` the
    per-class sums ``D_c = sum_s d_{c,s}`` that are non-negative, as in the re-calibration code. In the estimator's
    terms the class is the reference, the step the point, and ``p_s`` plays both the point and the reference
    (``alpha = 0``).

    Deviations from the released code: the adversarial gradient goes through the model's own normalisation (robattr
    models take ``[0, 1]`` inputs and normalise inside, so "pixel space" is the input space; the code fed
    un-normalised pixels to a model expecting normalised ones), and the false classes never include the label (the
    code returned a fresh, unchecked draw). The adversarial score is the logit ``z_c``, as in the code (AGI's authors
    used the softmax probability); there is no early stop. ``2 * R * K`` forward+backward passes per image (100 at
    ``R = 10``, ``K = 5``). Fixed classes ``classes`` ``(N, R)`` can be passed per call.

    Args:
        n_classes: ``R``, number of random false classes (the code's ``bg_size``, default 10).
        n_steps: ``K``, adversarial steps per class (the code's ``k``, default 5).
        epsilon: step size in ``[0, 1]`` input units (default 0.05).
        estimator: ``vanilla`` (default), ``valid_ip`` or ``valid_ref``.
        internal_batch_size: maximum number of points per forward pass.
        objective: explained scalar of the label.

    Example:
        >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 5))
        >>> agi = AdversarialGradientIntegration(n_classes=3, n_steps=2)
        >>> agi(model, torch.rand(2, 1, 2, 2), target=torch.tensor([0, 4])).shape
        torch.Size([2, 1, 2, 2])
    """

    supports_create_graph = False

    def __init__(
        self,
        n_classes: int = 10,
        n_steps: int = 5,
        epsilon: float = 0.05,
        estimator: Estimator = "vanilla",
        internal_batch_size: int | None = None,
        objective: Objective = "logit",
    ) -> None:
        super().__init__(n_classes, n_steps, estimator, internal_batch_size, objective)
        if not epsilon > 0:
            raise ValueError(f"Expected `epsilon` to be a positive float, but got {epsilon}")
        self.n_classes = n_classes
        self.n_steps = n_steps
        self.epsilon = epsilon

    def plan(
        self, model: nn.Module, inputs: Tensor, target: Tensor, classes: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Random false classes ``(N, R)`` (distinct, never the label) and uniform class weights."""
        n = inputs.shape[0]
        if classes is None:
            with torch.no_grad():
                num_classes = model(inputs[:1]).shape[1]
            if self.n_classes > num_classes - 1:
                raise ValueError(
                    f"Expected `n_classes` to be at most {num_classes - 1} (the model's classes minus the label),"
                    f" but got {self.n_classes}"
                )
            scores = torch.rand(n, num_classes, device=inputs.device).scatter(1, target.view(-1, 1), -1.0)
            classes = scores.topk(self.n_classes, dim=1).indices
        elif classes.dim() != 2 or classes.shape[0] != n:
            raise ValueError(f"Expected `classes` of shape ({n}, R), but got {tuple(classes.shape)}")
        r = classes.shape[1]
        return {"classes": classes.to(inputs.device), "reference_weights": inputs.new_full((n, r), 1.0 / r)}

    def chunks(
        self,
        model: nn.Module,
        inputs: Tensor,
        target: Tensor,
        plan: dict[str, Tensor],
        samples_per_chunk: int,
        create_graph: bool,
    ) -> Iterator[PathChunk]:
        """All steps of a block of classes; each step costs two passes over ``n * block`` points."""
        classes = plan["classes"]
        n, r = classes.shape
        x = inputs.detach()
        block = max(1, samples_per_chunk)
        for start in range(0, r, block):
            cls = classes[:, start : start + block]
            m = cls.shape[1]
            x_rep = x.unsqueeze(1).expand(n, m, *x.shape[1:]).flatten(0, 1)
            p = x_rep
            ref_index = torch.arange(start, start + m, device=x.device)
            for s in range(self.n_steps):
                p = p.detach().requires_grad_(True)
                (a,) = torch.autograd.grad(select_objective(model(p), cls.flatten(), "logit").sum(), p)
                p = (x_rep + self.epsilon * a.sign()).clamp(0.0, 1.0)
                b = self.objective_grad(model, p, target.repeat_interleave(m))
                yield PathChunk(
                    b.view(n, m, *x.shape[1:]),
                    (x_rep - p).view(n, m, *x.shape[1:]),
                    x.new_zeros(1, m),
                    ref_index,
                    torch.full((m,), s, device=x.device, dtype=torch.long),
                )
