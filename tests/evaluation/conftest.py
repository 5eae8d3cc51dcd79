"""Fixtures of the evaluation tests: one briefly trained checkpoint for the whole session."""

import pytest

from tests.evaluation.helpers import train_checkpoint


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A MnistCNN trained briefly on generated class patterns, saved as a Lightning checkpoint."""
    return train_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.ckpt")
