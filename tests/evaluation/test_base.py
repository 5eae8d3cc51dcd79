"""EvaluationModule: checkpoints and models refused with errors that name them, the output directory checked before any
compute and never overwritten, results that carry their metadata, progress lines, and in-process resume after a
signal with exactly the numbers of an uninterrupted run."""

from __future__ import annotations

import hashlib
import logging
import re
import signal

import pytest
import torch
from lightning.pytorch import Trainer

from robattr.attacks import AttributionAttack, RandomSignPerturbation
from robattr.attribution import Saliency
from robattr.data import SyntheticImages
from robattr.evaluation import AttributionRobustnessEvaluation
from robattr.evaluation.base import load_classifier, net_from_config
from robattr.evaluation.results import read_results
from robattr.models import MnistCNN
from robattr.progress import Interrupted
from tests.evaluation.helpers import SignalingSaliency


def whole(message: str) -> str:
    return "^" + re.escape(message) + "$"


def data(**kwargs) -> SyntheticImages:
    args = {"train_size": 8, "val_size": 0, "test_size": 13, "batch_size": 4, "eval_batch_size": 4, "seed": 0}
    return SyntheticImages(**{**args, **kwargs})


def trainer(**kwargs) -> Trainer:
    args = {"logger": False, "inference_mode": False, "enable_progress_bar": False, "enable_model_summary": False}
    return Trainer(**{**args, **kwargs})


def job(checkpoint=None, net=None, **kwargs) -> AttributionRobustnessEvaluation:
    args = {
        "attributions": {"saliency": Saliency()},
        "attacks": {"random_sign": RandomSignPerturbation(eps=0.1)},
        "k": 20,
        "radii": [1],
        "num_vis": 0,
    }
    return AttributionRobustnessEvaluation(
        net=net, checkpoint=None if checkpoint is None else str(checkpoint), **{**args, **kwargs}
    )


# --- checkpoints and models ----------------------------------------------------------------------------------------


def test_missing_and_corrupt_checkpoints_name_the_file(tmp_path, checkpoint):
    missing = tmp_path / "nope.ckpt"
    with pytest.raises(
        ValueError, match=whole(f"Expected `checkpoint` to be an existing checkpoint file, but got '{missing}'")
    ):
        load_classifier(missing)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(checkpoint.read_bytes()[:1000])
    with pytest.raises(ValueError) as info:
        load_classifier(truncated)
    message = str(info.value)
    assert message.startswith(
        f"Expected `checkpoint` to be a readable checkpoint file, but got '{truncated}', which is "
    )
    assert "truncated or corrupt" in message and message.endswith("(last.ckpt or a best-*.ckpt) or train again")
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(ValueError, match=re.escape(f"but got '{garbage}', which is truncated or corrupt")):
        load_classifier(garbage)
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(
        ValueError,
        match=whole(f"Expected `checkpoint` to hold a robattr training module with a `net`, but got '{foreign}'"),
    ):
        load_classifier(foreign)


def test_checkpoint_with_wrong_weights_or_non_finite_weights(tmp_path, checkpoint):
    ckpt = torch.load(checkpoint, weights_only=False)
    ckpt["hyper_parameters"]["net"] = {"class_path": "robattr.models.MnistCNN", "init_args": {"num_classes": 4}}
    wrong = tmp_path / "wrong.ckpt"
    torch.save(ckpt, wrong)
    with pytest.raises(ValueError, match=re.escape(f"Expected the weights of checkpoint '{wrong}' to fit its saved")):
        load_classifier(wrong)
    ckpt = torch.load(checkpoint, weights_only=False)
    ckpt["state_dict"]["net.features.0.weight"][0, 0, 0, 0] = float("nan")  # as a diverged training leaves it
    nan = tmp_path / "nan.ckpt"
    torch.save(ckpt, nan)
    with pytest.raises(ValueError) as info:
        job(checkpoint=nan)
    assert str(info.value).startswith(f"Expected the weights of checkpoint '{nan}' to be finite, but got ")
    assert "got 1 NaN / inf values in `features.0.weight`" in str(info.value)


def test_net_config_errors_name_the_source():
    assert isinstance(net_from_config({"class_path": "robattr.models.MnistCNN"}), MnistCNN)
    with pytest.raises(ValueError, match=re.escape("Expected `net` to describe a torch.nn.Module, but got")):
        net_from_config({"class_path": "robattr.models.NoSuchNet"})


def test_checkpoint_that_does_not_fit_the_data_is_refused_before_any_work(tmp_path, checkpoint):
    """A 10-class checkpoint on 4-class data once ran and reported 1.0 everywhere; 3-channel data once died deep in
    a convolution. Both are start-up errors naming the checkpoint and the data."""
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected the classifier to have one output per class of the configured data (SyntheticImages: 4 "
            f"classes of images (1, 28, 28)), but checkpoint '{checkpoint}' "
            "(MnistCNN) gives outputs of shape (10,)"
        ),
    ):
        trainer().test(job(checkpoint, output_dir=str(tmp_path / "a")), data(num_classes=4))
    with pytest.raises(ValueError) as info:
        trainer().test(job(checkpoint, output_dir=str(tmp_path / "b")), data(input_shape=(3, 28, 28)))
    assert str(info.value).startswith(
        "Expected the classifier to accept the images of the configured data, but checkpoint "
        f"'{checkpoint}' (MnistCNN) fails on the SyntheticImages images "
        "of shape (3, 28, 28) (RuntimeError: "
    )
    assert not (tmp_path / "a" / "results.json").exists() and not (tmp_path / "b" / "results.json").exists()


class InfiniteNet(torch.nn.Module):
    """Finite weights, infinite logits."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 4)

    def forward(self, x):
        return self.linear(x.flatten(1)) * float("inf")


def test_non_finite_logits_are_refused(tmp_path):
    with pytest.raises(
        ValueError,
        match=whole(
            "Expected the classifier of `net` InfiniteNet to give finite logits, but got non-finite logits for 2 of 2 "
            "images of the probe images; a model with NaN or infinite outputs cannot be evaluated (its maps would "
            "score as perfectly robust): use an earlier checkpoint or train again"
        ),
    ):
        trainer().test(job(net=InfiniteNet(), output_dir=str(tmp_path)), data(num_classes=4, input_shape=(1, 8, 8)))


def test_bad_arguments():
    with pytest.raises(TypeError, match=whole("Expected `num_images` to be None or an integer >= 1, but got 1.0")):
        job(net=MnistCNN(), num_images=1.0)
    with pytest.raises(ValueError, match=whole("Expected `num_images` to be None or an integer >= 1, but got 0")):
        job(net=MnistCNN(), num_images=0)
    with pytest.raises(ValueError, match=whole("Expected `save_every_n_batches` to be an integer >= 0, but got -1")):
        job(net=MnistCNN(), save_every_n_batches=-1)
    with pytest.raises(TypeError, match=whole("Expected `overwrite` to be a bool, but got 'yes'")):
        job(net=MnistCNN(), overwrite="yes")
    with pytest.raises(
        ValueError, match=whole("Expected exactly one of `net` and `checkpoint`, but got net=None and checkpoint=None")
    ):
        job()


# --- the output directory ------------------------------------------------------------------------------------------


def test_output_dir_is_checked_before_any_compute(tmp_path, checkpoint):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    evaluation = job(checkpoint, output_dir=str(blocker / "out"))
    with pytest.raises(
        ValueError,
        match=re.escape(f"Expected `output_dir` to be a directory robattr can write to, but got '{blocker / 'out'}' ("),
    ):
        trainer().test(evaluation, data())
    assert float(evaluation.images_evaluated.sum_value) == 0.0  # no batch ran


def test_second_run_never_changes_the_first_runs_files(tmp_path, checkpoint):
    out = tmp_path / "out"
    torch.manual_seed(0)
    trainer().test(job(checkpoint, output_dir=str(out)), data())
    first_rows = read_results(out / "results.json")[1]
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()}
    assert set(before) == {"results.json", "results.csv"} and not (out / "resume").exists()
    metadata = read_results(out / "results.json")[0]
    with pytest.raises(FileExistsError) as info:
        trainer().test(job(checkpoint, output_dir=str(out)), data())
    assert str(info.value) == (
        f"Expected `output_dir` to hold no finished results, but got '{out}' with results.json, results.csv "
        f"(finished {metadata['date']}); a second run never replaces a first: give another `output_dir`, or "
        "`overwrite: true` to replace them"
    )
    assert {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()} == before
    torch.manual_seed(0)
    trainer().test(job(checkpoint, output_dir=str(out), overwrite=True), data())
    assert read_results(out / "results.json")[1] == first_rows  # replaced by the same numbers, deliberately
    assert (out / "results.json").stat().st_mtime_ns != before["results.json"][1]


def test_results_carry_their_metadata(tmp_path, checkpoint):
    out = tmp_path / "out"
    trainer().test(job(checkpoint, output_dir=str(out), num_images=9, k=25, radii=[1, 2]), data())
    for path in (out / "results.json", out / "results.csv"):
        metadata, rows = read_results(path)
        assert metadata["status"] == "complete"
        assert metadata["checkpoint"] == str(checkpoint.resolve())
        assert metadata["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
        assert metadata["k"] == 25 and metadata["radii"] == [1, 2]
        assert metadata["num_images"] == 9 and metadata["images_evaluated"] == 9
        assert {"robattr", "torch", "lightning"} <= set(metadata["versions"])
        assert metadata["date"] >= metadata["started"] and metadata["world_size"] == 1
        assert metadata["config"]["k"] == 25 and metadata["resumed_at_batch"] == []
        assert rows[-1]["attack"] == "none" and rows[-1]["n"] == 9


class Lines(logging.Handler):
    """Collects the messages of Lightning's rank-zero logger (which may not propagate to pytest's handlers)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_one_summary_line_per_pair_and_batch(tmp_path, checkpoint):
    """With progress bars off (CI, the quickstart), one line per (method, attack) pair and batch."""
    logger, lines = logging.getLogger("lightning.pytorch.utilities.rank_zero"), Lines()
    logger.addHandler(lines)
    try:
        trainer().test(job(checkpoint, output_dir=str(tmp_path), num_images=8), data())
    finally:
        logger.removeHandler(lines)
    lines = [m for m in lines.messages if m.startswith("batch ")]
    pairs = [re.sub(r"\d+ images?, .*", "", line) for line in lines]
    assert pairs == [
        "batch 1/2 saliency/random_sign: ",
        "batch 1/2 saliency/chance: ",
        "batch 2/2 saliency/random_sign: ",
        "batch 2/2 saliency/chance: ",
    ]


# --- resume after a signal, in this process ------------------------------------------------------------------------


def resumable_job(checkpoint, out, **kwargs) -> AttributionRobustnessEvaluation:
    """Random attacks (one-shot and the iterative walk) on a saliency that can signal its own process."""
    kwargs.setdefault("output_dir", str(out))
    return job(
        checkpoint,
        attributions={"saliency": SignalingSaliency()},
        attacks={
            "random_sign": RandomSignPerturbation(eps=0.1),
            "walk": AttributionAttack(objective="random", eps=0.1, step_size=0.05, steps=2, measure="topk", k_eval=20),
        },
        **kwargs,
    )


def test_resume_after_sigterm_gives_the_numbers_of_an_uninterrupted_run(tmp_path, checkpoint, monkeypatch):
    torch.manual_seed(0)
    trainer().test(resumable_job(checkpoint, tmp_path / "whole"), data())
    expected = read_results(tmp_path / "whole" / "results.json")[1]

    monkeypatch.setattr(SignalingSaliency, "at_call", 19)  # in batch 3 of 4: SIGTERM to this very process
    torch.manual_seed(0)
    with pytest.raises(Interrupted) as info:
        trainer().test(resumable_job(checkpoint, tmp_path / "cut"), data())
    assert str(info.value).startswith("Evaluation stopped by SIGTERM during batch 3/4, saliency/")
    assert str(info.value).endswith(
        f"The state after 2 finished batches is saved in '{tmp_path / 'cut' / 'resume'}': run the same command again "
        "to continue"
    )
    assert info.value.signum == signal.SIGTERM
    assert not (tmp_path / "cut" / "results.json").exists()
    assert signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None) or callable(signal.getsignal(signal.SIGTERM))

    monkeypatch.setattr(SignalingSaliency, "at_call", None)
    torch.manual_seed(123)  # the generators are restored from the saved state, whatever the seed now
    trainer().test(resumable_job(checkpoint, tmp_path / "cut"), data())
    metadata, rows = read_results(tmp_path / "cut" / "results.json")
    assert rows == expected
    assert metadata["resumed_at_batch"] == [2] and not (tmp_path / "cut" / "resume").exists()


def test_resume_refuses_the_state_of_another_configuration(tmp_path, checkpoint, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(SignalingSaliency, "at_call", 10)
    with pytest.raises(Interrupted):
        trainer().test(resumable_job(checkpoint, out), data())
    monkeypatch.setattr(SignalingSaliency, "at_call", None)
    with pytest.raises(ValueError) as info:
        trainer().test(resumable_job(checkpoint, out, k=15), data())
    assert str(info.value) == (
        f"Expected `output_dir` to hold no unfinished run or one of this configuration, but got '{out}', whose resume "
        "state cannot be continued: it was written by another configuration, checkpoint or image set (differs in: "
        "job.k); give another `output_dir`, or `overwrite: true` to discard that state"
    )
    with pytest.raises(ValueError, match=re.escape("(differs in: job.num_images)")):
        trainer().test(resumable_job(checkpoint, out, num_images=12), data())
    torch.manual_seed(0)
    trainer().test(resumable_job(checkpoint, out, k=15, overwrite=True), data())  # discards the state, starts over
    metadata = read_results(out / "results.json")[0]
    assert metadata["k"] == 15 and metadata["resumed_at_batch"] == []


def test_resume_false_starts_over(tmp_path, checkpoint, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(SignalingSaliency, "at_call", 19)
    with pytest.raises(Interrupted):
        trainer().test(resumable_job(checkpoint, out), data())
    monkeypatch.setattr(SignalingSaliency, "at_call", None)
    trainer().test(resumable_job(checkpoint, out, resume=False), data())
    assert read_results(out / "results.json")[0]["resumed_at_batch"] == []


def test_without_output_dir_a_rerun_resumes_in_the_logger_version_it_left(tmp_path, checkpoint, monkeypatch):
    """The default output_dir is the logger's directory, a new version per run: a rerun finds the unfinished one."""
    from lightning.pytorch.loggers import TensorBoardLogger

    def run(**kwargs):
        logger = TensorBoardLogger(save_dir=str(tmp_path), name="eval")
        trainer(logger=logger).test(resumable_job(checkpoint, tmp_path / "unused", **kwargs), data())

    monkeypatch.setattr(SignalingSaliency, "at_call", 19)
    torch.manual_seed(0)
    with pytest.raises(Interrupted, match=re.escape(f"saved in '{tmp_path / 'eval' / 'version_0' / 'resume'}'")):
        run(output_dir=None)
    monkeypatch.setattr(SignalingSaliency, "at_call", None)
    run(output_dir=None)
    metadata = read_results(tmp_path / "eval" / "version_0" / "results.json")[0]
    assert metadata["resumed_at_batch"] == [2]
    assert (tmp_path / "eval" / "version_1").is_dir() and not (
        tmp_path / "eval" / "version_1" / "results.json"
    ).exists()
    run(output_dir=None)  # nothing unfinished left: a new run in a new version
    assert read_results(tmp_path / "eval" / "version_2" / "results.json")[0]["resumed_at_batch"] == []
