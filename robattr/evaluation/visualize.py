"""``evaluate.py`` job that draws every attribution method's map, with and without re-calibration."""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn
from torchvision.utils import save_image

from robattr.attribution import Attribution, attribution_cells, attribution_map
from robattr.attribution.path import check_estimator
from robattr.evaluation.base import EvaluationModule
from robattr.evaluation.faithfulness import Target, fit_reference_methods, method_variants
from robattr.evaluation.results import write_atomic


class VisualizeAttributions(EvaluationModule):
    """Draw every method's map, with and without re-calibration, for the first test batch: a PNG and TensorBoard.

    One row per image: the image, then one column per method and mode (the order of ``attributions`` x
    ``recalibration``), coloured with ``reds`` (``abs_sum`` maps, minimum to 99th percentile) or, with
    ``signed=True``, ``coolwarm`` around 0 (``sum`` maps). Written to ``<output_dir>/attributions.png`` with the
    column order in ``results.csv``; the grid is also logged as ``visualize/maps``. Only the first batch of rank 0 is
    drawn.

    Args:
        net: classifier, exclusive with ``checkpoint``.
        checkpoint: robattr training checkpoint.
        attributions: name -> method.
        recalibration: modes among ``vanilla``, ``valid_ip``, ``valid_ref``.
        num_images: the first ``num_images`` test images are drawn (at most one test batch; only these images
            are loaded).
        signed: signed channel sums on a diverging colormap instead of ``sum |A|``.
        target: ``label`` or ``prediction``.
        output_dir: the run's directory for the PNG (default: the TensorBoard log directory); see
            :class:`~robattr.evaluation.base.EvaluationModule` for ``overwrite``.
        overwrite: replace the finished results found in ``output_dir``.

    Raises:
        ValueError: for an empty ``attributions``, an unknown mode or target, or ``num_images < 1``.
    """

    def __init__(
        self,
        net: nn.Module | None = None,
        checkpoint: str | None = None,
        attributions: dict[str, Attribution] | None = None,
        recalibration: list[str] = ["vanilla", "valid_ip"],  # noqa: B006
        num_images: int = 8,
        signed: bool = False,
        target: Target = "label",
        output_dir: str | None = None,
        overwrite: bool = False,
    ) -> None:
        super().__init__(net, checkpoint, output_dir, num_images, num_images, overwrite)
        if not attributions:
            raise ValueError(f"Expected `attributions` to name at least one method, but got {attributions!r}")
        for mode in recalibration:
            check_estimator(mode)
        if target not in ("label", "prediction"):
            raise ValueError(f"Expected `target` to be one of ['label', 'prediction'], but got {target!r}")
        self.attributions = attributions
        self.variants = method_variants(attributions, recalibration)
        self.num_images, self.signed, self.target = num_images, signed, target
        self.png: str | None = None
        self.columns: list[str] = []

    def on_test_start(self) -> None:
        super().on_test_start()  # resume state, progress display
        fit_reference_methods(self, self.attributions.values())

    def evaluate_batch(self, x: Tensor, y: Tensor, valid: Tensor, batch_idx: int) -> None:
        if batch_idx != 0 or not self.trainer.is_global_zero:
            return
        x, y = x[: self.num_images], y[: self.num_images]
        target = y if self.target == "label" else self.logits(x, batch_idx).argmax(1)
        maps = {}
        for v, (_, _, m) in self.variants.items():
            with self.phase(v, x.shape[0]):
                maps[v] = attribution_map(m(self.net, x, target).detach(), "sum" if self.signed else "abs_sum")
        out = self.results_dir()
        cells = attribution_cells(x, maps, signed=self.signed)
        write_atomic(
            out / "attributions.png",
            lambda f: save_image(cells, f, format="png", nrow=1 + len(maps), padding=2, pad_value=1.0),
        )
        self.png, self.columns = str(out / "attributions.png"), ["image", *maps]
        self.log_grid("visualize/maps", cells, nrow=1 + len(maps))

    def result_rows(self) -> list[dict[str, Any]]:
        return [{"column": i, "content": c, "png": self.png or ""} for i, c in enumerate(self.columns)]


__all__ = ["VisualizeAttributions"]
