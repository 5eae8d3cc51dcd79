"""Atomic checkpoint writes: the previous checkpoint survives a failed save; signals wait for the save to finish."""

from __future__ import annotations

import re
import signal

import pytest
import torch

from robattr.training import NonFiniteError
from robattr.training.checkpointing import PARTIAL_PREFIX, AtomicCheckpointIO, deferred_signals, remove_partial_files


class FailingIO(AtomicCheckpointIO):
    def write(self, checkpoint, f) -> None:
        f.write(b"half a checkpoint")
        raise OSError("disk full")


def test_a_failed_save_keeps_the_previous_checkpoint_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"state_dict": {"w": torch.ones(3)}, "global_step": 1}, path)
    with pytest.raises(OSError, match="disk full"):
        FailingIO().save_checkpoint({"state_dict": {"w": torch.zeros(3)}, "global_step": 2}, path)
    assert torch.load(path, weights_only=False)["global_step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]


def test_non_finite_weights_are_never_written(tmp_path):
    path = tmp_path / "best.ckpt"
    message = f"Expected finite weights in a checkpoint, but `net.w` holds NaN or inf: {path} was not written"
    with pytest.raises(NonFiniteError, match=f"^{re.escape(message)}$"):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {"net.w": torch.tensor([1.0, float("inf")])}}, path)
    assert not path.exists() and not list(tmp_path.iterdir())


def test_storage_options_are_refused(tmp_path):
    with pytest.raises(TypeError, match=re.escape("Expected `storage_options` to be None, but got {'a': 1}")):
        AtomicCheckpointIO().save_checkpoint({"state_dict": {}}, tmp_path / "x.ckpt", storage_options={"a": 1})


def test_leftovers_of_killed_saves_are_removed(tmp_path):
    (tmp_path / f"{PARTIAL_PREFIX}abc.tmp").write_bytes(b"partial")
    (tmp_path / "last.ckpt").write_bytes(b"kept")
    assert [p.name for p in remove_partial_files(tmp_path)] == [f"{PARTIAL_PREFIX}abc.tmp"]
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_signal_during_a_save_is_delivered_after_it():
    # A process started in the background of a non-interactive shell (as CI may start pytest) inherits SIGINT as
    # ignored, and Python then installs no KeyboardInterrupt handler: install it for this test.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        done = []
        with pytest.raises(KeyboardInterrupt):
            with deferred_signals():
                signal.raise_signal(signal.SIGINT)  # Ctrl-C in the middle of torch.save
                done.append("the save finished")
        assert done == ["the save finished"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
