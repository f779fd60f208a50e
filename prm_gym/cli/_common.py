"""What every ``prm-gym`` command shares: the error type, argument types, env and backend checks.

A command raises :class:`CLIError` for a mistake the user can fix; :func:`prm_gym.cli.main` is the
one place that turns it (and the library's ``ValueError``/``ImportError``/``OSError``) into a
one-line message on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

import prm_gym
from prm_gym.core.scorer import Scorer

__all__ = [
    "DEFAULT_SCORERS",
    "CLIError",
    "finite_float",
    "load_backend",
    "non_negative_float",
    "non_negative_int",
    "positive_int",
    "probability",
    "require_env",
    "require_text_env",
    "text_env_ids",
]


class CLIError(Exception):
    """A mistake in the command line: ``main`` prints ``prm-gym CMD: error: <message>``, exits 2."""


def _rule_verifier() -> Scorer:
    from prm_gym.rewards import RuleVerifier

    return RuleVerifier()


#: Default step scorer per env id, used by ``play`` and ``rollout`` (ids not listed play on the
#: outcome alone).
DEFAULT_SCORERS: dict[str, Callable[[], Scorer]] = {
    "prm/Math-v0": _rule_verifier,
}


# -- argument types ---------------------------------------------------------------------------
def _int_at_least(minimum: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """An ``int`` ≥ 1 (argparse type)."""
    return _int_at_least(1, text)


def non_negative_int(text: str) -> int:
    """An ``int`` ≥ 0 (argparse type)."""
    return _int_at_least(0, text)


def finite_float(text: str) -> float:
    """A finite ``float`` (argparse type): no nan or inf."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite ``float`` ≥ 0 (argparse type)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def probability(text: str) -> float:
    """A ``float`` in [0, 1] (argparse type)."""
    value = finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
    return value


# -- environments -----------------------------------------------------------------------------
def unknown_env_message(env_id: str) -> str:
    """The error for an unregistered id: the closest known id and the list of known ids."""
    known = sorted(prm_gym.ENV_IDS)
    lines = [f"unknown environment id {env_id!r}."]
    close = difflib.get_close_matches(env_id, known, n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[env_id.lower()]] if env_id.lower() in lowered else []
    if close:
        lines.append(f"Did you mean {close[0]!r}?")
    lines.append("Known ids (see `prm-gym list`): " + ", ".join(known))
    return "\n".join(lines)


def require_env(env_id: str) -> None:
    """Raise :class:`CLIError` unless ``env_id`` is registered with Gymnasium."""
    if env_id not in gym.registry:
        raise CLIError(unknown_env_message(env_id))


def text_env_ids() -> list[str]:
    """The registered ``prm/*`` ids whose env is a text env (str actions and observations)."""
    return sorted(i for i, spec in prm_gym.ENV_IDS.items() if _is_text_entry_point(spec[0]))


def require_text_env(env_id: str, command: str) -> None:
    """Raise :class:`CLIError` unless ``env_id`` is registered and not a non-text ``prm/*`` env."""
    require_env(env_id)
    if env_id in prm_gym.ENV_IDS and env_id not in text_env_ids():
        raise CLIError(
            f"{command} takes the text envs ({', '.join(text_env_ids())}); {env_id} is not one"
        )


@functools.cache
def _is_text_entry_point(entry_point: str) -> bool:
    from prm_gym.core.text_env import TextEnv

    try:
        cls = gym.envs.registration.load_env_creator(entry_point)
    except (ImportError, AttributeError, ModuleNotFoundError):
        return False
    return isinstance(cls, type) and issubclass(cls, TextEnv)


# -- LLM backends -----------------------------------------------------------------------------
def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _build_backend(args: argparse.Namespace) -> Any:
    if args.backend == "openai":
        from prm_gym.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(args.model, base_url=args.base_url)
    if args.backend == "vllm":
        from prm_gym.llm.vllm_backend import VLLMBackend

        return VLLMBackend(args.model, seed=args.seed)
    from prm_gym.llm.transformers_backend import TransformersBackend

    return TransformersBackend(args.model)


def load_backend(args: argparse.Namespace) -> Any:
    """The backend ``--backend``/``--model`` name; :class:`CLIError` explains a failure.

    A ``--model`` that is not a directory is refused before anything is loaded for
    ``--backend transformers`` (which takes local directories only, never downloading), and for
    ``--backend vllm`` when it looks like a path.
    """
    model = str(args.model)
    if args.backend != "openai":
        path = Path(model).expanduser()
        # transformers takes a local directory only; vllm also takes a hub id it can fetch.
        if (args.backend == "transformers" or _looks_like_path(model)) and not path.is_dir():
            raise CLIError(
                f"--model {model!r}: no such model directory; pass a directory written by "
                "save_pretrained (config.json, weights and tokenizer files)"
            )
    try:
        return _build_backend(args)
    except (ImportError, OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        hint = ""
        if args.backend != "openai":
            hint = "; pass a local model directory (save_pretrained output)"
        raise CLIError(
            f"could not load the {args.backend} backend for {model!r} "
            f"({type(exc).__name__}: {first_line}){hint}; install the extra it needs "
            "([llm], [vllm] or [openai])"
        ) from exc
