"""The ``prm-gym`` command: list the environments, play one by hand, run the demo.

Usage::

    prm-gym list                         # every prm/* id with a one-line description
    prm-gym play prm/Math-v0 --seed 0    # solve a task yourself, one step per line
    prm-gym demo --episodes 200          # noisy solvers under three reward setups + SAC on Reach
    prm-gym demo --quick --no-rl         # the Math table only, 30 episodes per noise level
    prm-gym rollout prm/Math-v0 --model DIR --episodes 32 --num-envs 8 --out runs.jsonl
    prm-gym train prm/Reach-v0 --algo sac --shaping potential --steps 20000 --out run.csv
    prm-gym plot run.csv other.csv --out curves.png
    prm-gym train-prm prm/Math-v0 --n 600 --labels rule --format reward_head --out prm_dir
    prm-gym train-prm prm/Math-v0 --levels 1 --n 4000 --lr 5e-3 --batch-size 64 \\
        --pretrain-steps 300 --steps 1000 --lm-weight 1 --out prm_dir   # beats the baseline
    prm-gym eval-prm prm_dir --n 200 --out prm_report.png
    prm-gym --version

``main(argv)`` returns the exit code instead of exiting, so it can be called from Python and
tests. The demo itself lives in :mod:`prm_gym.demo`.
"""

from __future__ import annotations

import argparse
import difflib
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import gymnasium as gym

import prm_gym
from prm_gym.core.scorer import Scorer

__all__ = ["DEFAULT_SCORERS", "build_parser", "main"]


def _rule_verifier() -> Scorer:
    from prm_gym.rewards import RuleVerifier

    return RuleVerifier()


#: Default step scorer per env id, used by ``play`` (ids not listed play on the outcome alone).
DEFAULT_SCORERS: dict[str, Callable[[], Scorer]] = {
    "prm/Math-v0": _rule_verifier,
}


# ---------------------------------------------------------------------------------------------
# list
# ---------------------------------------------------------------------------------------------
def _cmd_list(out: TextIO) -> int:
    """Print every registered ``prm/*`` id and its description in aligned columns."""
    ids = sorted(prm_gym.ENV_IDS)
    width = max(len(i) for i in ids)
    for env_id in ids:
        description = prm_gym.ENV_IDS[env_id][2]
        out.write(f"{env_id:<{width}}  {description}\n")
    return 0


# ---------------------------------------------------------------------------------------------
# play
# ---------------------------------------------------------------------------------------------
def _unknown_env_message(env_id: str) -> str:
    known = sorted(prm_gym.ENV_IDS)
    lines = [f"prm-gym: error: unknown environment id {env_id!r}."]
    close = difflib.get_close_matches(env_id, known, n=1, cutoff=0.6)
    if not close:
        lowered = {k.lower(): k for k in known}
        close = [lowered[env_id.lower()]] if env_id.lower() in lowered else []
    if close:
        lines.append(f"Did you mean {close[0]!r}?")
    lines.append("Known ids (see `prm-gym list`): " + ", ".join(known))
    return "\n".join(lines)


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


def _cmd_play(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Let a person play a text env step by step from stdin."""
    env_id: str = args.env_id
    if env_id not in gym.registry:
        err.write(_unknown_env_message(env_id) + "\n")
        return 2
    kwargs: dict[str, Any] = {"single_turn": True} if args.single_turn else {}
    try:
        env: gym.Env[Any, Any] = gym.make(env_id, **kwargs)
    except TypeError as exc:
        hint = "; drop --single-turn for envs without a single-turn mode" if kwargs else ""
        err.write(f"prm-gym: error: could not build {env_id} ({exc}){hint}.\n")
        return 2
    except (ImportError, gym.error.Error) as exc:
        err.write(
            f"prm-gym: error: could not build {env_id} ({type(exc).__name__}: {exc}); "
            "install the extra it needs (see the README) or pick another id (`prm-gym list`).\n"
        )
        return 2
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
        return _play_episode(env, env_id, setup, args, out, err)
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
    env: gym.Env[Any, Any],
    env_id: str,
    setup: str,
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
) -> int:
    obs, info = env.reset(seed=args.seed)
    if not isinstance(obs, str):
        err.write(
            f"prm-gym: error: {env_id} has {type(obs).__name__} observations; `play` supports "
            "text envs (str observations) only.\n"
        )
        return 2
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


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------
def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    from prm_gym.demo import demo_rows, format_demo_table, interpret_demo

    if args.episodes is None:
        args.episodes = 30 if args.quick else 200
    rows = demo_rows(args.episodes, args.seed, args.coef, progress=not args.quiet)
    out.write(
        f"Noisy solver on prm/Math-v0: {args.episodes} episodes per noise level, seed {args.seed}, "
        f"process coef {args.coef:g}.\n"
        "p = chance a step's arithmetic result is wrong (later steps continue correctly); "
        "q = chance the final answer is wrong.\n"
        "process/gate/return: per-episode means of the reward components; ret|fail: mean return "
        "of failed episodes.\n\n"
    )
    out.write(format_demo_table(rows) + "\n\n")
    for text in interpret_demo(rows):
        out.write(f"* {text}\n")
    if args.no_rl:
        return 0
    from prm_gym.demo import RL_SAC_SETTINGS, format_rl_table, interpret_rl, rl_rows

    steps = args.rl_steps if args.rl_steps is not None else (4_000 if args.quick else 5_000)
    eval_every = max(int(RL_SAC_SETTINGS["n_envs"]), steps // 5)
    out.write(
        f"\nShaped vs sparse reward: SAC on prm/Reach-v0, {steps:,} env steps each, seed "
        f"{args.seed}, success rate on {args.rl_eval_episodes} evaluation episodes every "
        f"{eval_every:,} steps (skip with --no-rl).\n"
    )
    out.flush()
    rl = rl_rows(
        total_timesteps=steps,
        seed=args.seed,
        eval_every=eval_every,
        eval_episodes=args.rl_eval_episodes,
        progress=not args.quiet,
    )
    out.write("\n" + format_rl_table(rl) + "\n\n")
    for text in interpret_rl(rl):
        out.write(f"* {text}\n")
    return 0


# ---------------------------------------------------------------------------------------------
# rollout
# ---------------------------------------------------------------------------------------------
def _build_backend(args: argparse.Namespace) -> Any:
    if args.backend == "openai":
        from prm_gym.llm.openai_backend import OpenAIBackend

        return OpenAIBackend(args.model, base_url=args.base_url)
    if args.backend == "vllm":
        from prm_gym.llm.vllm_backend import VLLMBackend

        return VLLMBackend(args.model, seed=args.seed)
    from prm_gym.llm.transformers_backend import TransformersBackend

    return TransformersBackend(args.model)


def _load_backend(args: argparse.Namespace, err: TextIO) -> Any:
    """The backend ``--backend``/``--model`` name, or ``None`` after explaining the failure."""
    try:
        return _build_backend(args)
    except (ImportError, OSError, ValueError) as exc:
        err.write(
            f"prm-gym: error: could not load the {args.backend} backend for {args.model!r} "
            f"({type(exc).__name__}: {exc}). For --backend transformers pass a local model "
            "directory (save_pretrained output); install the extra it needs ([llm], [vllm] or "
            "[openai]).\n"
        )
        return None


def _cmd_rollout(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Roll out an LLM on a text env and write one JSON line per trajectory."""
    import json

    from prm_gym.agents.llm_agent import LLMAgent
    from prm_gym.agents.rollout import rollout, trajectory_to_dict
    from prm_gym.llm.base import SamplingParams
    from prm_gym.wrappers.vector import VectorProcessReward

    env_id: str = args.env_id
    if env_id not in gym.registry:
        err.write(_unknown_env_message(env_id) + "\n")
        return 2
    backend = _load_backend(args, err)
    if backend is None:
        return 2
    envs: Any = gym.make_vec(env_id, num_envs=args.num_envs, vectorization_mode="sync")
    factory = DEFAULT_SCORERS.get(env_id)
    if factory is not None and not args.no_process_reward:
        envs = VectorProcessReward(envs, factory(), coef=args.coef)
    params = SamplingParams(
        max_tokens=args.max_tokens, temperature=args.temperature, top_p=args.top_p, seed=args.seed
    )
    agent = LLMAgent(backend, params, system_prompt=args.system_prompt)
    try:
        trajectories = rollout(envs, agent, args.episodes, seed=args.seed, progress=not args.quiet)
    finally:
        envs.close()
    lines = [json.dumps(trajectory_to_dict(t), ensure_ascii=False) + "\n" for t in trajectories]
    if args.out is None:
        out.writelines(lines)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.writelines(lines)
    outcomes = [t.outcome or 0.0 for t in trajectories]
    returns = [t.total_reward for t in trajectories]
    where = f" to {args.out}" if args.out is not None else ""
    err.write(
        f"{len(trajectories)} trajectories{where}: mean outcome "
        f"{sum(outcomes) / len(outcomes):.3f}, mean return {sum(returns) / len(returns):+.3f}\n"
    )
    return 0


def _cmd_reward_code(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Let an LLM write dense reward code for ENV_ID (checked and run in the sandbox)."""
    from prm_gym.rewards.reward_code import search_reward_code

    env_id: str = args.env_id
    if env_id not in gym.registry:
        err.write(_unknown_env_message(env_id) + "\n")
        return 2
    backend = _load_backend(args, err)
    if backend is None:
        return 2
    evaluate = None
    if args.evaluator == "sb3":
        from prm_gym.agents.reward_code import sb3_evaluator

        evaluate = sb3_evaluator(env_id, total_timesteps=args.timesteps, seed=args.seed)
    try:
        result = search_reward_code(
            backend,
            env_id,
            rounds=args.rounds,
            candidates=args.candidates,
            evaluate=evaluate,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            seed=args.seed,
        )
    except TypeError as exc:  # the env has no describe_state()
        err.write(f"prm-gym: error: {exc}\n")
        return 2
    for r in result.records:
        verdict = f"score {r.score:.3f}" if r.score is not None else f"rejected: {r.reason}"
        err.write(f"round {r.round} candidate {r.index}: {verdict}\n")
    if result.best is None:
        err.write("no candidate was accepted\n")
        return 1
    if args.out is None:
        out.write(result.best.code)
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(result.best.code)
    err.write(f"best task score {result.best_score:.3f}\n")
    return 0


# ---------------------------------------------------------------------------------------------
# train / plot
# ---------------------------------------------------------------------------------------------
def _default_run_path(args: argparse.Namespace) -> str:
    name = args.env_id.split("/")[-1]
    her = "-her" if args.her else ""
    return f"{name}-{args.algo}-{args.shaping}{her}-seed{args.seed}.csv"


def _cmd_train(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Train an SB3 agent and write its learning curve (success rate vs env steps) to CSV."""
    if args.env_id not in gym.registry:
        err.write(_unknown_env_message(args.env_id) + "\n")
        return 2
    from prm_gym.agents.sb3 import train

    path = args.out or _default_run_path(args)
    try:
        curve = train(
            args.env_id,
            algo=args.algo,
            shaping=args.shaping,
            her=args.her,
            obs_norm=args.obs_norm,
            total_timesteps=args.steps,
            seed=args.seed,
            n_envs=args.n_envs,
            gradient_steps=args.gradient_steps,
            gamma=args.gamma,
            shaping_scale=args.shaping_scale,
            eval_every=args.eval_every,
            eval_episodes=args.eval_episodes,
            progress_bar=not args.quiet,
            log_path=path,
        )
    except (ValueError, ImportError) as exc:
        err.write(f"prm-gym: error: {exc}\n")
        return 2
    final = curve.success_rate[-1] if curve.success_rate else float("nan")
    reached = curve.steps_to(args.threshold)
    when = (
        f"reached {args.threshold:g} at step {reached}"
        if reached is not None
        else f"never reached {args.threshold:g}"
    )
    out.write(
        f"{curve.label}: final success rate {final:.2f} after {curve.steps[-1]} steps "
        f"({when}; {curve.config.get('wall_time_s', 0.0):.0f} s).\n"
        f"Wrote the learning curve to {path}\n"
    )
    return 0


def _cmd_plot(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Plot success rate vs env steps for one or more learning-curve CSVs to a PNG."""
    from prm_gym.agents.curves import LearningCurve, plot_learning_curves

    try:
        curves = [LearningCurve.from_csv(path) for path in args.csv]
    except (OSError, ValueError) as exc:
        err.write(f"prm-gym: error: {exc}\n")
        return 2
    path = args.out or str(Path(args.csv[0]).with_suffix(".png"))
    plot_learning_curves(curves, path, title=args.title)
    out.write(f"Wrote a plot of {len(curves)} learning curve(s) to {path}\n")
    return 0


def _add_train_plot_parsers(sub: Any) -> None:
    train = sub.add_parser(
        "train",
        help="train an SB3 agent (SAC/TD3/PPO, optional HER) with or without shaping",
        description="Train SAC, TD3 or PPO on a goal-conditioned env, optionally shaped by the "
        "env's staged potential or a learned progress potential, and write the success-rate "
        "learning curve (evaluated on separate episodes) to a CSV.",
    )
    train.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Reach-v0")
    train.add_argument("--algo", choices=("sac", "td3", "ppo"), default="sac", help="(sac)")
    train.add_argument(
        "--shaping",
        choices=("none", "potential", "learned"),
        default="none",
        help="none: sparse reward; potential: staged hand-written potential; learned: progress "
        "model trained on expert demos (none)",
    )
    train.add_argument("--her", action="store_true", help="hindsight experience replay (sac/td3)")
    train.add_argument(
        "--obs-norm",
        choices=("none", "experts"),
        default="none",
        help="experts: normalise policy inputs with fixed statistics of noisy scripted-expert "
        "episodes (manipulation envs) (none)",
    )
    train.add_argument(
        "--steps", type=_positive_int, default=20_000, help="environment steps (20000)"
    )
    train.add_argument("--seed", type=int, default=0, help="seed (0)")
    train.add_argument("--n-envs", type=_positive_int, default=1, help="parallel envs (1)")
    train.add_argument(
        "--gradient-steps",
        type=_positive_int,
        default=None,
        help="sac/td3: gradient steps per update, one update per env step of each sub-env "
        "(SB3 default 1; the sample-efficiency benchmark uses 2 with --n-envs 4)",
    )
    train.add_argument(
        "--gamma", type=_finite_float, default=0.95, help="discount of learner and shaping (0.95)"
    )
    train.add_argument(
        "--shaping-scale",
        type=_finite_float,
        default=10.0,
        help="scale of the staged or learned potential: |Φ| ≤ scale (10)",
    )
    train.add_argument(
        "--eval-every", type=_positive_int, default=1_000, help="env steps between evaluations"
    )
    train.add_argument(
        "--eval-episodes", type=_positive_int, default=20, help="episodes per evaluation (20)"
    )
    train.add_argument(
        "--threshold",
        type=_finite_float,
        default=0.8,
        help="success rate reported as reached in the summary (0.8)",
    )
    train.add_argument(
        "--out", default=None, help="CSV path (default: ENV-ALGO-SHAPING-seedS.csv here)"
    )
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    plot = sub.add_parser(
        "plot",
        help="plot learning-curve CSVs (success rate vs env steps) to a PNG",
        description="One line per CSV written by `prm-gym train`, labelled from its config.",
    )
    plot.add_argument("csv", nargs="+", metavar="RUN.csv", help="learning-curve CSV files")
    plot.add_argument("--out", default=None, help="PNG path (default: the first CSV's name .png)")
    plot.add_argument("--title", default=None, help="plot title (default: the env ids)")


# ---------------------------------------------------------------------------------------------
# entry point
# ---------------------------------------------------------------------------------------------
def _int_at_least(minimum: int, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
    return value


def _positive_int(text: str) -> int:
    return _int_at_least(1, text)


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The ``prm-gym`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="prm-gym",
        description="Gymnasium environments and wrappers for process-reward RL.",
    )
    parser.add_argument("--version", action="version", version=f"prm-gym {prm_gym.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    sub.add_parser("list", help="list the registered prm/* environments")

    play = sub.add_parser(
        "play",
        help="play a text environment in the terminal",
        description="Play a text environment: one action per line; :hint, :quit, :help.",
    )
    play.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Math-v0")
    play.add_argument("--seed", type=int, default=None, help="reset seed (default: random)")
    play.add_argument("--single-turn", action="store_true", help="the whole solution in one action")
    play.add_argument(
        "--coef", type=_finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    play.add_argument(
        "--no-gate", action="store_true", help="pay process reward at once instead of on success"
    )

    demo = sub.add_parser(
        "demo",
        help="a noisy scripted solver on prm/Math-v0 under three reward setups, then shaped vs "
        "sparse SAC on prm/Reach-v0",
        description="Compare outcome-only, process and gated process rewards on a scripted "
        "solver that makes arithmetic slips and wrong final answers; then train SAC on "
        "prm/Reach-v0 with the staged potential and with the sparse reward (--no-rl skips it).",
    )
    demo.add_argument(
        "--episodes",
        type=_positive_int,
        default=None,
        help="episodes per noise level (200; 30 with --quick)",
    )
    demo.add_argument("--seed", type=int, default=0, help="base seed (0)")
    demo.add_argument(
        "--coef", type=_finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.add_argument(
        "--quick",
        action="store_true",
        help="a shorter demo: 30 episodes per noise level, 4,000 SAC steps per Reach-v0 run",
    )
    demo.add_argument(
        "--no-rl", action="store_true", help="skip the SAC run on prm/Reach-v0 (shaped vs sparse)"
    )
    demo.add_argument(
        "--rl-steps",
        type=_positive_int,
        default=None,
        help="env steps per Reach-v0 SAC run (5,000; 4,000 with --quick)",
    )
    demo.add_argument(
        "--rl-eval-episodes",
        type=_positive_int,
        default=20,
        help="evaluation episodes per point of the Reach-v0 curves (20)",
    )

    roll = sub.add_parser(
        "rollout",
        help="roll out an LLM on a text environment, one JSON line per trajectory",
        description="Run an LLM agent (one env step per generation, batched over --num-envs "
        "sub-envs) and write each trajectory as a JSON line: actions, observations, rewards, "
        "reward components, token ids and log-probs.",
    )
    roll.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Math-v0")
    roll.add_argument(
        "--model", required=True, help="local model directory (or served model name for openai)"
    )
    roll.add_argument("--episodes", type=_positive_int, default=8, help="episodes to collect (8)")
    roll.add_argument("--num-envs", type=_positive_int, default=4, help="parallel sub-envs (4)")
    roll.add_argument(
        "--temperature", type=_finite_float, default=1.0, help="sampling temperature; 0 = greedy"
    )
    roll.add_argument("--top-p", type=_finite_float, default=1.0, help="nucleus sampling (1.0)")
    roll.add_argument(
        "--max-tokens", type=_positive_int, default=128, help="tokens per step at most (128)"
    )
    roll.add_argument("--out", default=None, help="JSONL file to write (default: stdout)")
    roll.add_argument("--seed", type=int, default=0, help="reset and sampling seed (0)")
    roll.add_argument(
        "--backend",
        choices=("transformers", "vllm", "openai"),
        default="transformers",
        help="LLM backend (transformers)",
    )
    roll.add_argument(
        "--base-url", default=None, help="server URL for --backend openai, e.g. http://host:8000/v1"
    )
    roll.add_argument("--system-prompt", default=None, help="system message for the agent")
    roll.add_argument(
        "--coef", type=_finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    roll.add_argument(
        "--no-process-reward", action="store_true", help="outcome reward only (no step scorer)"
    )
    roll.add_argument("--quiet", action="store_true", help="no progress bar")

    rc = sub.add_parser(
        "reward-code",
        help="let an LLM write dense reward code (Eureka-style), run in the sandbox",
        description="Sample --candidates reward functions per round from an LLM shown the env's "
        "describe_state() view, reject unsafe or broken ones, score the rest and feed "
        "per-component statistics back for --rounds rounds. Writes the best code.",
    )
    rc.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Reach-v0")
    rc.add_argument("--model", required=True, help="local model directory (or served name)")
    rc.add_argument("--rounds", type=_positive_int, default=2, help="refinement rounds (2)")
    rc.add_argument("--candidates", type=_positive_int, default=4, help="candidates/round (4)")
    rc.add_argument("--backend", choices=("transformers", "vllm", "openai"), default="transformers")
    rc.add_argument("--base-url", default=None, help="server URL for --backend openai")
    rc.add_argument("--max-tokens", type=_positive_int, default=512, help="tokens per reply")
    rc.add_argument("--temperature", type=_finite_float, default=1.0, help="sampling temperature")
    rc.add_argument(
        "--evaluator",
        choices=("proxy", "sb3"),
        default="proxy",
        help="task score: expert-progress proxy (fast) or a short SB3 run (slow)",
    )
    rc.add_argument("--timesteps", type=_positive_int, default=1000, help="SB3 steps (1000)")
    rc.add_argument("--seed", type=int, default=0, help="seed (0)")
    rc.add_argument("--out", default=None, help="file for the best code (default: stdout)")
    _add_train_plot_parsers(sub)
    _add_prm_parsers(sub)
    return parser


# ---------------------------------------------------------------------------------------------
# train-prm / eval-prm
# ---------------------------------------------------------------------------------------------
def _probability(text: str) -> float:
    value = _finite_float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    return _int_at_least(0, text)


def _non_negative_float(text: str) -> float:
    value = _finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def _cmd_train_prm(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Make labelled solutions, train a small PRM on them and save it with save_pretrained."""
    if args.env_id not in gym.registry:
        err.write(_unknown_env_message(args.env_id) + "\n")
        return 2
    import json

    from prm_gym.rewards.prm_training import make_prm_dataset, save_prm, train_prm

    data = make_prm_dataset(
        args.env_id,
        args.n,
        args.seed,
        labels=args.labels,
        noise=tuple(args.noise),
        levels=args.levels,
        progress=not args.quiet,
    )
    model, tokenizer = train_prm(
        data,
        args.model,
        format=args.format,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        steps=args.steps,
        pretrain_steps=args.pretrain_steps,
        lm_weight=args.lm_weight,
        seed=args.seed,
        progress=not args.quiet,
    )
    save_prm(model, tokenizer, args.out, args.format)
    meta = {
        "env_id": args.env_id,
        "n": args.n,
        "seed": args.seed,
        "labels": args.labels,
        "noise": list(args.noise),
        "levels": list(args.levels) if args.levels else None,
    }
    Path(args.out, "prm_training.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
    out.write(
        f"Trained a {args.format} PRM on {len(data)} {args.labels}-labelled solutions of "
        f"{args.env_id} (task seeds {args.seed}..{args.seed + args.n - 1}); saved to {args.out}\n"
    )
    return 0


def _cmd_eval_prm(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """ProcessBench-style first-error F1 and best-of-N of a saved PRM on held-out problems."""
    import json

    from prm_gym.rewards.prm_training import eval_prm, load_prm, make_prm_dataset, plot_prm_report

    try:
        scorer = load_prm(args.prm_dir)
    except (OSError, ValueError) as exc:
        err.write(f"prm-gym: error: cannot load a PRM from {args.prm_dir}: {exc}\n")
        return 2
    meta_path = Path(args.prm_dir, "prm_training.json")
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.exists() else {}
    env_id = args.env_id or meta.get("env_id", "prm/Math-v0")
    # Held out: task seeds far past the training ones.
    seed = args.seed if args.seed is not None else meta.get("seed", 0) + 1_000_000
    levels = args.levels if args.levels is not None else meta.get("levels")
    data = make_prm_dataset(
        env_id,
        args.n,
        seed,
        samples_per_task=args.samples_per_task,
        levels=levels,
        progress=not args.quiet,
    )
    result = eval_prm(scorer, data, threshold=args.threshold, progress=not args.quiet)
    summary = result.summary()
    out.write(json.dumps(summary, indent=2) + "\n")
    out.write(
        f"first-error F1 {result.f1:.3f} vs constant baseline {result.baseline['f1']:.3f} "
        f"(acc on erroneous {result.acc_error:.3f}, on correct {result.acc_correct:.3f}); "
        f"step AUROC {result.step_auroc:.3f} (0.5: no information)\n"
    )
    if args.out:
        plot_prm_report({"trained PRM": result}, args.out, title=f"{args.prm_dir} on {env_id}")
        out.write(f"Wrote the report to {args.out}\n")
    return 0


def _add_prm_parsers(sub: Any) -> None:
    from prm_gym.envs.math.generator import LEVELS

    train = sub.add_parser(
        "train-prm",
        help="train a small process reward model on labelled procedural solutions",
        description="Play noisy scripted solutions, label their steps (exact rule labels or "
        "Monte-Carlo Math-Shepherd labels), fine-tune a small GPT-2 PRM and save it so that "
        "RewardHeadPRM / TokenProbPRM load it.",
    )
    train.add_argument("env_id", help="procedural maths env id, e.g. prm/Math-v0")
    train.add_argument("--n", type=_positive_int, default=600, help="training solutions (600)")
    train.add_argument("--labels", choices=("rule", "mc"), default="rule", help="step labels")
    train.add_argument(
        "--format",
        choices=("reward_head", "token_prob", "step_features"),
        default="reward_head",
        help="PRM kind: transformer reward head or token prob, or an MLP over step features",
    )
    train.add_argument("--epochs", type=_positive_int, default=4, help="epochs (4)")
    train.add_argument("--lr", type=_finite_float, default=2e-3, help="learning rate (2e-3)")
    train.add_argument("--batch-size", type=_positive_int, default=16, help="batch size (16)")
    train.add_argument(
        "--steps",
        type=_non_negative_int,
        default=None,
        help="optimiser steps of the step-label phase (default: --epochs passes)",
    )
    train.add_argument(
        "--pretrain-steps",
        type=_non_negative_int,
        default=0,
        help="steps of next-token loss on the prompt and correct steps only, before the "
        "step labels (0); the transformer recipe that beats the baseline: --levels 1 --n 4000 "
        "--lr 5e-3 --batch-size 64 --pretrain-steps 300 --steps 1000 --lm-weight 1",
    )
    train.add_argument(
        "--lm-weight",
        type=_non_negative_float,
        default=0.0,
        help="weight of that next-token loss added to the step loss (0)",
    )
    train.add_argument(
        "--levels",
        type=int,
        choices=LEVELS,
        nargs="+",
        default=None,
        metavar="L",
        help="procedural difficulty levels (1-5) to draw problems from (default: all)",
    )
    train.add_argument(
        "--noise",
        type=_probability,
        nargs=2,
        metavar=("P", "Q"),
        default=(0.15, 0.2),
        help="training solutions' slip probability per step and wrong-answer probability "
        "(0.15 0.2; eval-prm always uses these defaults)",
    )
    train.add_argument("--model", default=None, help="local checkpoint to fine-tune")
    train.add_argument("--seed", type=int, default=0, help="first task seed and init seed (0)")
    train.add_argument("--out", required=True, help="directory to save the PRM to")
    train.add_argument("--quiet", action="store_true", help="no progress bars")
    ev = sub.add_parser(
        "eval-prm",
        help="first-error F1 and best-of-N of a trained PRM on held-out problems",
        description="ProcessBench-style evaluation of a PRM saved by train-prm, against the "
        "constant 'no error' baseline, with an optional PNG report.",
    )
    ev.add_argument("prm_dir", help="directory written by train-prm")
    ev.add_argument("--n", type=_positive_int, default=200, help="held-out solutions (200)")
    ev.add_argument("--env-id", default=None, help="env id (default: the one trained on)")
    ev.add_argument("--seed", type=int, default=None, help="first task seed (train seed + 1e6)")
    ev.add_argument(
        "--samples-per-task", type=_positive_int, default=4, help="solutions per problem (4)"
    )
    ev.add_argument("--threshold", type=_finite_float, default=0.5, help="error threshold")
    ev.add_argument(
        "--levels",
        type=int,
        choices=LEVELS,
        nargs="+",
        default=None,
        metavar="L",
        help="difficulty levels of the held-out problems (default: the ones trained on)",
    )
    ev.add_argument("--out", default=None, help="PNG report to write")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")


def main(argv: list[str] | None = None) -> int:
    """Run ``prm-gym`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    out = sys.stdout
    if args.command == "list":
        return _cmd_list(out)
    if args.command == "play":
        return _cmd_play(args, out, sys.stderr)
    if args.command == "demo":
        return _cmd_demo(args, out)
    if args.command == "rollout":
        return _cmd_rollout(args, out, sys.stderr)
    if args.command == "train":
        return _cmd_train(args, out, sys.stderr)
    if args.command == "plot":
        return _cmd_plot(args, out, sys.stderr)
    if args.command == "reward-code":
        return _cmd_reward_code(args, out, sys.stderr)
    if args.command == "train-prm":
        return _cmd_train_prm(args, out, sys.stderr)
    if args.command == "eval-prm":
        return _cmd_eval_prm(args, out, sys.stderr)
    parser.error(f"unknown command {args.command!r}")
    return 2  # pragma: no cover - parser.error exits


if __name__ == "__main__":
    raise SystemExit(main())
