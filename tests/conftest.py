import logging
import os

import pytest
import torch

os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def pytest_itemcollected(item: pytest.Item) -> None:
    """Multi-process tests (``ddp``: several gloo processes) are slow by definition: the default run skips them."""
    if item.get_closest_marker("ddp") is not None and item.get_closest_marker("slow") is None:
        item.add_marker(pytest.mark.slow)


class _RankZeroLines(logging.Handler):
    """Records of Lightning's rank-zero logger (which may not propagate to pytest's caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def rank_zero_lines():
    """The messages Lightning's rank-zero utilities log at INFO and above during the test."""
    logger = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    handler, level = _RankZeroLines(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)
