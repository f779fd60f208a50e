"""``prm-gym reward-code``: an LLM writes dense reward code (Eureka-style), run in the sandbox."""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from prm_gym.cli._common import CLIError, finite_float, load_backend, positive_int, require_env

NAME = "reward-code"


def add_parser(sub: Any) -> None:
    """Register ``reward-code`` on the ``prm-gym`` subparsers."""
    rc = sub.add_parser(
        NAME,
        help="let an LLM write dense reward code (Eureka-style), run in the sandbox",
        description="Sample --candidates reward functions per round from an LLM shown the env's "
        "describe_state() view, reject unsafe or broken ones, score the rest and feed "
        "per-component statistics back for --rounds rounds. Writes the best code.",
    )
    rc.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Reach-v0")
    rc.add_argument("--model", required=True, help="local model directory (or served name)")
    rc.add_argument("--rounds", type=positive_int, default=2, help="refinement rounds (2)")
    rc.add_argument("--candidates", type=positive_int, default=4, help="candidates/round (4)")
    rc.add_argument("--backend", choices=("transformers", "vllm", "openai"), default="transformers")
    rc.add_argument("--base-url", default=None, help="server URL for --backend openai")
    rc.add_argument("--max-tokens", type=positive_int, default=512, help="tokens per reply")
    rc.add_argument("--temperature", type=finite_float, default=1.0, help="sampling temperature")
    rc.add_argument(
        "--evaluator",
        choices=("proxy", "sb3"),
        default="proxy",
        help="task score: expert-progress proxy (fast) or a short SB3 run (slow)",
    )
    rc.add_argument("--timesteps", type=positive_int, default=1000, help="SB3 steps (1000)")
    rc.add_argument("--seed", type=int, default=0, help="seed (0)")
    rc.add_argument("--out", default=None, help="file for the best code (default: stdout)")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Let an LLM write dense reward code for ENV_ID (checked and run in the sandbox)."""
    from prm_gym.rewards.reward_code import search_reward_code

    env_id: str = args.env_id
    require_env(env_id)
    backend = load_backend(args)
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
        raise CLIError(str(exc)) from exc
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
