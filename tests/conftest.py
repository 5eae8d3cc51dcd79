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
