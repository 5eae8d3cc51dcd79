"""What ``robattr-train`` and ``robattr-evaluate`` share: one LightningCLI base with robattr's trainer defaults."""

from __future__ import annotations

from typing import Any

from jsonargparse import Namespace
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

TRAINER_DEFAULTS: dict[str, Any] = {
    # attacks and attributions need autograd in validation and test: inference mode cannot be undone by enable_grad
    "inference_mode": False,
    # AdaptiveAvgPool2d has no deterministic CUDA backward; "warn" keeps runs going
    "deterministic": "warn",
}


class RobattrCLI(LightningCLI):
    """LightningCLI with robattr's trainer defaults, a seed that is always set and the optimizer inside the model.

    robattr's LightningModules take their optimizer as an ``__init__`` argument (``--model.init_args.optimizer``),
    so LightningCLI's top-level ``--optimizer`` / ``--lr_scheduler`` are not added. ``args`` given in Python are
    parsed as they are, whatever ``sys.argv`` holds.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_configure_optimizers", False)
        kwargs.setdefault("seed_everything_default", 0)
        super().__init__(*args, **kwargs)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse ``args`` (a list, a dict or a Namespace; ``None``: ``sys.argv[1:]``) into ``self.config``."""
        if isinstance(args, (dict, Namespace)):
            self.config = parser.parse_object(args)
        else:
            self.config = parser.parse_args(args)


__all__ = ["TRAINER_DEFAULTS", "RobattrCLI"]
