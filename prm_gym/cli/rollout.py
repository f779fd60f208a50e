"""``prm-gym rollout``: roll out an LLM on a text env and write one JSON line per trajectory."""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

import gymnasium as gym

from prm_gym.cli._common import (
    DEFAULT_SCORERS,
    finite_float,
    load_backend,
    positive_int,
    require_text_env,
)

NAME = "rollout"


def add_parser(sub: Any) -> None:
    """Register ``rollout`` on the ``prm-gym`` subparsers."""
    roll = sub.add_parser(
        NAME,
        help="roll out an LLM on a text environment, one JSON line per trajectory",
        description="Run an LLM agent (one env step per generation, batched over --num-envs "
        "sub-envs) and write each trajectory as a JSON line: actions, observations, rewards, "
        "reward components, token ids and log-probs. An episode whose next prompt no longer "
        "fits the model's context ends as truncated (info['truncated_reason'] = "
        "'context_overflow') and the run goes on.",
    )
    roll.add_argument("env_id", metavar="ENV_ID", help="environment id, e.g. prm/Math-v0")
    roll.add_argument(
        "--model", required=True, help="local model directory (or served model name for openai)"
    )
    roll.add_argument("--episodes", type=positive_int, default=8, help="episodes to collect (8)")
    roll.add_argument("--num-envs", type=positive_int, default=4, help="parallel sub-envs (4)")
    roll.add_argument(
        "--temperature", type=finite_float, default=1.0, help="sampling temperature; 0 = greedy"
    )
    roll.add_argument("--top-p", type=finite_float, default=1.0, help="nucleus sampling (1.0)")
    roll.add_argument(
        "--max-tokens", type=positive_int, default=128, help="tokens per step at most (128)"
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
        "--coef", type=finite_float, default=0.1, help="process reward coefficient (0.1)"
    )
    roll.add_argument(
        "--no-process-reward", action="store_true", help="outcome reward only (no step scorer)"
    )
    roll.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Roll out an LLM on a text env and write one JSON line per trajectory."""
    from prm_gym.agents.llm_agent import LLMAgent
    from prm_gym.agents.rollout import rollout, trajectory_to_dict
    from prm_gym.llm.base import SamplingParams
    from prm_gym.wrappers.vector import VectorProcessReward

    env_id: str = args.env_id
    require_text_env(env_id, "rollout")
    backend = load_backend(args)
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
    overflowed = sum(t.truncated_reason == "context_overflow" for t in trajectories)
    where = f" to {args.out}" if args.out is not None else ""
    note = f"; {overflowed} truncated by context overflow" if overflowed else ""
    err.write(
        f"{len(trajectories)} trajectories{where}: mean outcome "
        f"{sum(outcomes) / len(outcomes):.3f}, mean return {sum(returns) / len(returns):+.3f}"
        f"{note}\n"
    )
    return 0
