"""``prm-gym play``: play a text environment by hand, one step per line from stdin."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

import gymnasium as gym

from prm_gym.cli._common import DEFAULT_SCORERS, CLIError, finite_float, require_env

NAME = "play"


def add_parser(sub: Any) -> None:
    """Register ``play`` on the ``prm-gym`` subparsers."""
    play = sub.add_parser(
        NAME,
        help="play a text environment in the terminal",
        description="Play a text environment: one action per line; :hint, :quit, :help.",
    )
    play.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Math-v0")
    play.add_argument("--seed", type=int, default=None, help="reset seed (default: random)")
    play.add_argument("--single-turn", action="store_true", help="the whole solution in one action")
    play.add_argument(
        "--coef", type=finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    play.add_argument(
        "--no-gate", action="store_true", help="pay process reward at once instead of on success"
    )


def _format_components(components: dict[str, float]) -> str:
    # ``+ 0.0`` turns a negative zero (``gate = -0.0``) into ``+0.000``.
    return "  ".join(f"{name}={value + 0.0:+.3f}" for name, value in components.items())


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _hint(task: Any, valid_steps: int, single_turn: bool) -> str:
    gold = (getattr(task, "metadata", None) or {}).get("gold_steps")
    if not gold:
        return "No hint: this task has no gold steps (metadata['gold_steps'])."
    if single_turn:
        return "\n" + "\n".join(gold)
    return str(gold[min(valid_steps, len(gold) - 1)])


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Let a person play a text env step by step from stdin."""
    env_id: str = args.env_id
    require_env(env_id)
    kwargs: dict[str, Any] = {"single_turn": True} if args.single_turn else {}
    try:
        env: gym.Env[Any, Any] = gym.make(env_id, **kwargs)
    except TypeError as exc:
        hint = "; drop --single-turn for envs without a single-turn mode" if kwargs else ""
        raise CLIError(f"could not build {env_id} ({exc}){hint}") from exc
    except (ImportError, gym.error.Error) as exc:
        raise CLIError(
            f"could not build {env_id} ({type(exc).__name__}: {exc}); install the extra it "
            "needs (see the README) or pick another id (`prm-gym list`)"
        ) from exc
    from prm_gym.wrappers import GatedAccumulation, ProcessReward

    factory = DEFAULT_SCORERS.get(env_id)
    if factory is not None:
        scorer = factory()
        env = ProcessReward(env, scorer, coef=args.coef)
        setup = f"outcome + process ({type(scorer).__name__}, coef {args.coef:g})"
        if not args.no_gate:
            env = GatedAccumulation(env, threshold=1.0)
            setup += ", gated: process credit is paid only on success (G-RA)"
    else:
        setup = f"outcome only (no default step scorer for {env_id})"
    try:
        return _play_episode(env, env_id, setup, args, out)
    finally:
        env.close()


def _read_action(prompt: str, single_turn: bool, echo: bool, out: TextIO) -> str | None:
    """One action from stdin, or ``None`` at end of input.

    Multi-step mode reads one line. Single-turn mode reads a whole solution: lines up to an empty
    line (or the end of input), joined with newlines, so each line is one step; a ``:command``
    on the first line is returned at once.
    """
    try:
        line = input(prompt)
    except EOFError:
        return None
    if echo:
        out.write(line + "\n")
    if not single_turn or line.strip().startswith(":"):
        return line
    lines = [line]
    while lines[-1].strip():
        try:
            more = input("...> ")
        except EOFError:
            break
        if echo:
            out.write(more + "\n")
        lines.append(more)
    return "\n".join(lines).strip("\n")


def _play_episode(
    env: gym.Env[Any, Any], env_id: str, setup: str, args: argparse.Namespace, out: TextIO
) -> int:
    obs, info = env.reset(seed=args.seed)
    if not isinstance(obs, str):
        raise CLIError(
            f"{env_id} has {type(obs).__name__} observations; `play` supports text envs "
            "(str observations) only"
        )
    task = getattr(env.unwrapped, "task", None)
    seed_text = "random" if args.seed is None else str(args.seed)
    out.write(f"{env_id}  task {info.get('task_id', '?')}  (seed {seed_text})\n")
    out.write(f"reward: {setup}\n")
    if args.single_turn:
        out.write("Type the whole solution, one step per line; an empty line submits it.\n")
    out.write("Commands: :hint (show the next gold step), :quit (stop), :help.\n\n")
    out.write(obs + "\n\n")

    echo = not _isatty(sys.stdin)  # piped or scripted input: show it, so the log reads well
    episode_return = 0.0
    valid_steps = 0
    turn = 0
    while True:
        try:
            line = _read_action(f"step {turn + 1}> ", args.single_turn, echo, out)
        except KeyboardInterrupt:
            out.write("\n(interrupted)\n")
            return 130
        if line is None:
            out.write("\n(end of input: stopping)\n")
            return 0
        command = line.strip()
        if command in (":quit", ":q", ":exit"):
            out.write(f"Stopped after {turn} steps; return so far {episode_return:+.3f}.\n")
            return 0
        if command == ":help":
            out.write(":hint  show the next gold step (tasks with gold steps)\n")
            out.write(":quit  stop the episode\n")
            continue
        if command == ":hint":
            out.write(f"hint: {_hint(task, valid_steps, args.single_turn)}\n")
            continue
        if command.startswith(":"):
            out.write(f"Unknown command {command!r}; commands are :hint, :quit, :help.\n")
            continue
        turn += 1
        obs, reward, terminated, truncated, info = env.step(line)
        episode_return += float(reward)
        if info.get("action_valid", True):
            valid_steps += 1
        out.write(f"  env: {obs}\n")
        out.write(f"  reward: {float(reward) + 0.0:+.3f}\n")
        components = info.get("reward_components")
        if components:
            out.write(f"  components: {_format_components(components)}\n")
        details = []
        if "action_valid" in info:
            details.append(f"action_valid: {info['action_valid']}")
        if "error" in info:
            details.append(f"error: {info['error']}")
        if "step_label" in info:
            details.append(f"step_label: {info['step_label']}")
        if details:
            out.write("  " + "   ".join(details) + "\n")
        if terminated or truncated:
            how = "terminated" if terminated else f"truncated after {turn} steps"
            out.write(f"\nEpisode over ({how}).\n")
            out.write(f"outcome: {info.get('outcome', float('nan')):g}\n")
            if "gate_open" in info:
                out.write(f"gate open: {info['gate_open']}\n")
            out.write(f"episode return: {episode_return:+.3f}\n")
            return 0
