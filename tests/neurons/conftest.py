"""Shared fixtures: one generated Broden-format probing set, the planted-unit CNN and its clean dissection."""

from __future__ import annotations

import pytest
import torch

from robattr.data.broden_synthetic import SyntheticBrodenDataset
from robattr.models import PlantedUnitCNN
from robattr.neurons import NetworkDissection

N_IMAGES = 400


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """These tensors are small: one intra-op thread is as fast, and far faster when the CPU is shared."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def probing_set(tmp_path_factory) -> SyntheticBrodenDataset:
    return SyntheticBrodenDataset(str(tmp_path_factory.mktemp("broden") / "synthetic"), n_images=N_IMAGES, seed=0)


@pytest.fixture(scope="session")
def small_set(tmp_path_factory) -> SyntheticBrodenDataset:
    return SyntheticBrodenDataset(str(tmp_path_factory.mktemp("broden") / "small"), n_images=64, seed=1)


@pytest.fixture(scope="session")
def planted() -> PlantedUnitCNN:
    return PlantedUnitCNN()


@pytest.fixture(scope="session")
def dissection() -> NetworkDissection:
    return NetworkDissection("pool", progress=False)


@pytest.fixture(scope="session")
def clean_result(planted, probing_set, dissection):
    return dissection(planted, probing_set)
