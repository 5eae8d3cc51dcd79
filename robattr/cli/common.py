r"""What ``robattr-train`` and ``robattr-evaluate`` share: one LightningCLI base and errors a person can read.

A bad argument stops a job at start-up with one line naming the argument, the value and what was expected, and
exit status 2 (as argparse does); robattr's own run-time stops (a non-finite loss) print one line and exit 1. The
chained jsonargparse / Lightning tracebacks behind them stay one switch away: ``ROBATTR_DEBUG=1`` re-raises every
error with its full traceback.

Example:
    >>> condense_parser_error('Parser key "trainer.max_epochs":\n  Expected a <class \'int\'>\n  Given value: abc')
    "--trainer.max_epochs: Expected a <class 'int'> (given: abc)"
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable
from typing import Any, NoReturn

from jsonargparse import DefaultHelpFormatter, Namespace
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.pytorch import Trainer
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI

TRAINER_DEFAULTS: dict[str, Any] = {
    # attacks and attributions need autograd in validation and test: inference mode cannot be undone by enable_grad
    "inference_mode": False,
    # AdaptiveAvgPool2d has no deterministic CUDA backward; "warn" keeps runs going
    "deterministic": "warn",
}

DEBUG_ENV = "ROBATTR_DEBUG"
"""Set to ``1`` for full tracebacks instead of robattr's one-line messages."""

# exceptions that mean "the configuration is wrong" when they stop a job before it runs
STARTUP_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, OSError, MisconfigurationException)


class JobError(RuntimeError):
    """A job stopped on purpose with a message for a person (a refused output directory, a refused resume).

    The console entry points print its message on one line, without a traceback, and exit with :attr:`exit_code`;
    so do they for any exception that carries an ``exit_code`` (:class:`robattr.training.NonFiniteError`).
    """

    exit_code: int = 1


def debug_mode() -> bool:
    """Whether ``ROBATTR_DEBUG`` asks for full tracebacks."""
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


# jsonargparse's union bookkeeping, and the "a path" alternative of class arguments
_NOISE = ("Does not validate against any of the Union", "Subtypes:", "Errors:", "Given value type:", "Expected a path")


def condense_parser_error(message: str) -> str:
    """One line from jsonargparse's nested error text: the full argument path, then the innermost complaints.

    ``Parser key "model"`` / ``Problem with given class_path '...'`` / ``Parser key "net"`` become
    ``--model.init_args.net``; the ``NoneType`` alternative of optional arguments and the union bookkeeping are
    dropped. Returns the message unchanged when it has no such structure.
    """
    stack: list[tuple[int, str]] = []  # (indent, "key" or "class") entries on the path to the current line
    keys: list[tuple[int, str]] = []
    leaves: list[tuple[str, str]] = []
    given = ""
    for raw in message.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip())
        text = raw.strip().removeprefix("- ").strip()
        while keys and keys[-1][0] >= indent:
            keys.pop()
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = _argument_path(keys)
        if match := re.match(r'Parser key "([^"]+)":\s*(.*)', text):
            keys.append((indent, match[1]))
            if match[2]:
                leaves.append((_argument_path(keys), match[2]))
        elif re.match(r"Problem with given class_path '([^']+)':", text):
            keys.append((indent, "init_args"))
            rest = text.split(":", 1)[1].strip()
            if rest:
                leaves.append((_argument_path(keys), rest))
        elif text.startswith("Given value:"):
            given = given or text.split(":", 1)[1].strip()
        elif text.startswith(_NOISE) or text == "Expected a <class 'NoneType'>":
            continue
        else:
            leaves.append((path, text))
    if not leaves:
        return message.strip()
    path = max((p for p, _ in leaves), key=len)
    text = "; ".join(dict.fromkeys(t for _, t in leaves))
    if nested := re.fullmatch(r"NestedArg\(key='([^']*)', val=(.*)\)", given):  # `--model.init_args.foo 1`
        key, given = nested[1], nested[2].strip("'\"")
        path = path.removesuffix(".init_args")
        if not path.endswith(key):
            path = f"{path}.init_args.{key}"
    path = path.removesuffix(".init_args")
    if given and "Got value" not in text and "given" not in text:
        text += f" (given: {given})"
    return f"--{path}: {text}" if path else text


def _argument_path(keys: list[tuple[int, str]]) -> str:
    return ".".join(k for _, k in keys)


# Lightning's start-up banners (device info, advertising tips): true, and printed by every command
_BANNERS = ("GPU available:", "TPU available:", "HPU available:", "\U0001f4a1 Tip:")
# warnings robattr's jobs trigger on purpose or that say nothing a user can act on
_HARMLESS_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # torch's pytree deprecation inside Lightning
    r".*does not have many workers which may be a bottleneck.*",  # in-memory MNIST-5k needs no workers
    r"Checkpoint directory .* exists and is not empty.*",  # robattr-train checks run directories itself
)


class _DropBanners(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(_BANNERS)


def quiet_console() -> None:
    """Silence Lightning's device banner and tips and the known harmless warnings, for the commands' process only."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropBanners) for f in logger.filters):
            logger.addFilter(_DropBanners())
    for pattern in _HARMLESS_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


class RobattrTrainer(Trainer):
    """Lightning's Trainer with the batch limits typed ``int | float`` (integer first) for the command line.

    Lightning reads ``limit_*_batches: 1`` as one batch and ``1.0`` as 100 %, but its annotation is
    ``float | int``, so jsonargparse turned a YAML or command-line ``1`` into ``1.0`` and a "one batch" smoke test
    ran the whole set. With the integer first, ``1`` stays one batch and ``1.0`` stays 100 %. Everything else is
    :class:`lightning.pytorch.Trainer`.

    Args:
        limit_train_batches: training batches per epoch: an integer is a number of batches, a float a fraction.
        limit_val_batches: validation batches: an integer is a number of batches, a float a fraction.
        limit_test_batches: test batches: an integer is a number of batches, a float a fraction.
        limit_predict_batches: prediction batches: an integer is a number of batches, a float a fraction.
        **kwargs: every other argument of :class:`lightning.pytorch.Trainer`.
    """

    def __init__(
        self,
        *,
        limit_train_batches: int | float | None = None,
        limit_val_batches: int | float | None = None,
        limit_test_batches: int | float | None = None,
        limit_predict_batches: int | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            limit_train_batches=limit_train_batches,
            limit_val_batches=limit_val_batches,
            limit_test_batches=limit_test_batches,
            limit_predict_batches=limit_predict_batches,
            **kwargs,
        )


HELP_ENV = "ROBATTR_HELP"
"""Set to ``full`` for ``--help`` with every Trainer flag and every known subclass."""

# Trainer flags --help shows; every other one is accepted all the same
SHOWN_TRAINER_FLAGS = frozenset(
    {"accelerator", "devices", "strategy", "num_nodes", "precision", "logger", "callbacks", "max_epochs", "max_steps",
     "limit_train_batches", "limit_val_batches", "limit_test_batches", "val_check_interval", "log_every_n_steps",
     "enable_progress_bar", "enable_model_summary", "default_root_dir", "plugins"}
)  # fmt: skip
TRAINER_HEADING = (
    "Lightning Trainer (the usual flags; every Trainer argument is accepted as --trainer.NAME, see "
    f"https://lightning.ai/docs/pytorch/stable/common/trainer.html#trainer-flags; {HELP_ENV}=full lists them)"
)


# group headings that describe a base class instead of what the group takes
_HEADINGS = {
    "Customize every aspect of training via flags": TRAINER_HEADING,
    "Lightning's Trainer": TRAINER_HEADING,
    "A DataModule standardizes": "The data: a robattr.data datamodule (--data.help CLASS lists its arguments)",
    "Base class for all neural network modules": "The network: an nn.Module (--model.help CLASS lists its arguments)",
    "Perform one evaluation epoch over the test set": "Trainer.test options",
    "Base LightningModule of every training mode": "The training mode (--model.help CLASS lists its arguments)",
    "Base class of the evaluation jobs": "The evaluation job (--model.help CLASS lists its arguments)",
}


def full_help() -> bool:
    """Whether ``ROBATTR_HELP=full`` asks ``--help`` for every flag."""
    return os.environ.get(HELP_ENV, "").strip().lower() == "full"


_shown_trainer_flags: frozenset[str] = SHOWN_TRAINER_FLAGS  # set by the running CLI (an evaluation has no epochs)


def _hidden(action: argparse.Action) -> bool:
    parts = str(action.dest).split(".")
    if full_help():
        return False
    if parts[0] == "weights_only":  # a checkpoint-loading detail of Lightning's
        return True
    return parts[0] == "trainer" and len(parts) > 1 and parts[1] not in _shown_trainer_flags


def _shorten_subclasses(text: str) -> str:
    """Keep robattr's classes in a ``known subclasses:`` list (``nn.Module`` has hundreds in torch alone)."""
    match = re.search(r"known subclasses: ([^)]*)", text)
    if match is None or full_help():
        return text
    names = [n.strip() for n in match[1].split(",")]
    ours = [n for n in names if n.startswith("robattr.")]
    kept = [n for n in ours if n.startswith("robattr.models.")] or ours or names[:3]  # networks: robattr's models
    if len(kept) < len(names):
        kept.append(f"... ({len(names) - len(kept)} more: any class path; {HELP_ENV}=full lists them)")
    return text[: match.start(1)] + ", ".join(kept) + text[match.end(1) :]


class RobattrHelpFormatter(DefaultHelpFormatter):
    """``--help`` that shows what a job takes: the usual Trainer flags, robattr's classes, descriptions as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "".join(indent + line for line in text.splitlines(keepends=True))

    def add_argument(self, action: argparse.Action) -> None:
        if not _hidden(action):
            super().add_argument(action)

    def _format_usage(self, usage: Any, actions: Any, *args: Any, **kwargs: Any) -> str:
        return super()._format_usage(usage, [a for a in actions if not _hidden(a)], *args, **kwargs)

    def _get_help_string(self, action: argparse.Action) -> str:
        return _shorten_subclasses(super()._get_help_string(action))

    def start_section(self, heading: str | None) -> None:
        if heading and not full_help():
            heading = next((new for old, new in _HEADINGS.items() if heading.startswith(old)), heading)
        super().start_section(heading)


class RobattrParser(LightningArgumentParser):
    """LightningCLI's parser whose errors are one readable line (full text with ``ROBATTR_DEBUG=1``).

    Its ``--help`` (:class:`RobattrHelpFormatter`) lists the usual Trainer flags only and robattr's classes among
    the known subclasses of an argument; ``ROBATTR_HELP=full`` shows everything.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", RobattrHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str, ex: Exception | None = None) -> NoReturn:
        if debug_mode() or not self.exit_on_error:
            super().error(message, ex)
        prog = self.prog.replace(" [options]", "")
        sys.stderr.write(
            f"{prog}: error: {condense_parser_error(message)}\n"
            f"(`{prog} --help` lists the arguments; {DEBUG_ENV}=1 shows jsonargparse's full message)\n"
        )
        self.exit(2)


class RobattrCLI(LightningCLI):
    """LightningCLI with robattr's trainer defaults, a seed that is always set and the optimizer inside the model.

    robattr's LightningModules take their optimizer as an ``__init__`` argument (``--model.init_args.optimizer``),
    so LightningCLI's top-level ``--optimizer`` / ``--lr_scheduler`` are not added. ``args`` given in Python are
    parsed as they are, whatever ``sys.argv`` holds. An exception raised once the job processed a batch carries
    ``robattr_stage = "run"``; one raised before (parsing, building the classes, ``prepare_data``, ``setup``) is a
    start-up error.
    """

    shown_trainer_flags: frozenset[str] = SHOWN_TRAINER_FLAGS
    """The Trainer flags ``--help`` lists (all are accepted)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        global _shown_trainer_flags
        _shown_trainer_flags = self.shown_trainer_flags
        kwargs.setdefault("auto_configure_optimizers", False)
        kwargs.setdefault("seed_everything_default", 0)
        kwargs.setdefault("parser_class", RobattrParser)
        kwargs.setdefault("trainer_class", RobattrTrainer)
        super().__init__(*args, **kwargs)

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse ``args`` (a list, a dict or a Namespace; ``None``: ``sys.argv[1:]``) into ``self.config``."""
        if isinstance(args, (dict, Namespace)):
            self.config = parser.parse_object(args)
        else:
            self.config = parser.parse_args(args)

    def _run_subcommand(self, subcommand: str) -> None:
        before = getattr(self, f"before_{subcommand}", None)
        if callable(before):
            before()
        try:
            self.run_subcommand(subcommand)
        except Exception as err:
            err.robattr_stage = "run" if self.work_started() else "startup"  # type: ignore[attr-defined]
            raise
        after = getattr(self, f"after_{subcommand}", None)
        if callable(after):
            after()

    def work_started(self) -> bool:
        """Whether the job processed a batch: errors before it (``prepare_data``, ``setup``) are start-up errors."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return False
        loops = (trainer.fit_loop.epoch_loop, trainer.validate_loop, trainer.test_loop, trainer.predict_loop)
        return any(loop.batch_progress.total.started > 0 for loop in loops)

    def run_subcommand(self, subcommand: str) -> None:
        """Run the trainer method ``subcommand`` (``fit``, ``test``, ...) with the parsed arguments."""
        fn = getattr(self, subcommand, getattr(self.trainer, subcommand))
        fn(**self._prepare_subcommand_kwargs(subcommand))


def root_cause(err: BaseException) -> BaseException:
    """The innermost exception of ``err``'s chain (``__cause__`` first, then ``__context__``)."""
    seen = {id(err)}
    while True:
        nxt = err.__cause__ or err.__context__
        if nxt is None or id(nxt) in seen:
            return err
        seen.add(id(nxt))
        err = nxt


def _raised_in(err: BaseException) -> str | None:
    """``module.Class`` of the robattr object whose method raised ``err`` (the ``__init__`` that rejected an argument).

    The innermost frame with a ``self`` of a robattr class outside :mod:`robattr.cli` (a check helper such as
    :func:`robattr.checks.check_real` has no ``self``; its caller has).
    """
    frames = []
    tb = err.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        cls = type(frame.f_locals.get("self"))
        if cls.__module__.startswith("robattr.") and not cls.__module__.startswith("robattr.cli"):
            return f"{cls.__module__}.{cls.__qualname__}"
    return None


def error_message(err: BaseException) -> str | None:
    """The one-line message for ``err``, or ``None`` when it deserves its traceback (a bug, not an input)."""
    cause = root_cause(err)
    if isinstance(err, JobError) or getattr(cause, "exit_code", None) is not None:
        return str(cause)
    if getattr(err, "robattr_stage", None) == "run":  # once the job runs, only robattr's own checks are inputs
        return str(cause) if str(cause).startswith("Expected `") else None
    if not isinstance(cause, STARTUP_ERRORS):
        return None
    text = " ".join(str(cause).split()) or type(cause).__name__
    where = _raised_in(cause)
    return f"{text} (in {where})" if where and where.startswith("robattr.") else text


def console_main(run: Callable[[list[str] | None], Any], args: list[str] | None = None) -> None:
    """Run ``run(args)`` as a console command: readable one-line errors, exit status 2 (input) or 1 (job stopped)."""
    prog = os.path.basename(sys.argv[0]) or "robattr"
    quiet_console()
    try:
        run(args)
    except Exception as err:
        message = None if debug_mode() else error_message(err)
        if message is None:
            raise
        stage = getattr(err, "robattr_stage", "startup")
        sys.stderr.write(f"{prog}: error: {message}\n({DEBUG_ENV}=1 shows the full traceback)\n")
        cause = root_cause(err)
        code = getattr(err, "exit_code", None) or getattr(cause, "exit_code", None) or (1 if stage == "run" else 2)
        raise SystemExit(code) from None


__all__ = [
    "DEBUG_ENV",
    "HELP_ENV",
    "TRAINER_DEFAULTS",
    "JobError",
    "RobattrCLI",
    "RobattrHelpFormatter",
    "RobattrParser",
    "RobattrTrainer",
    "condense_parser_error",
    "console_main",
    "debug_mode",
    "error_message",
    "quiet_console",
    "root_cause",
]
