"""Where rollout time goes: LLM generation against env + reward work, in one run.

A 16-env vector ``prm/Math-v0`` wrapped with ``VectorProcessReward(RuleVerifier())`` is driven by
``prm_gym.agents.rollout`` and an ``LLMAgent``; the backend's ``generate`` and the vector env's
``step``/``reset`` are timed in place, so the split is measured on the same rollout:

* generation: time inside ``backend.generate`` (one call per vector step, all active sub-envs);
* env + reward: time inside the wrapped vector env (Math env steps, answer checks, the rule
  verifier's batched scoring, autoresets);
* other: agent and rollout bookkeeping (histories, chat templates, trajectory records).

The target is env + reward <= 5 % of the total. By default the policy is a small GPT-2 built from
a config with random weights (no download), run on the CPU; it is far cheaper per token than any
real model, so the fraction printed here is an upper bound: with a real model (``--model PATH``,
a local ``save_pretrained`` directory) generation dominates even more. Random weights also write
noise, so most episodes run to ``max_steps``, which maximises env calls per generated token.
On a GPU machine ``--backend vllm --model PATH`` measures the vLLM engine instead.

Usage::

    PYTHONPATH=. python benchmarks/rollout.py [--episodes 32] [--num-envs 16] [--max-tokens 32]
    PYTHONPATH=. python benchmarks/rollout.py --model /path/to/local/model [--backend vllm]
"""

from __future__ import annotations

import argparse
import platform
import time
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorWrapper

import prm_gym
from prm_gym.agents import LLMAgent, rollout
from prm_gym.llm import Generation, Prompt, SamplingParams
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers.vector import VectorProcessReward

TARGET_FRACTION = 0.05


class TimedBackend:
    """Forwards to a backend and adds up the time spent in ``generate``."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.seconds = 0.0
        self.calls = 0
        self.rows = 0
        self.tokens = 0

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        start = time.perf_counter()
        out: list[list[Generation]] = self.backend.generate(prompts, params)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        self.rows += len(prompts)
        self.tokens += sum(len(g.token_ids) for gens in out for g in gens)
        return out

    def logprobs(self, prompts: Sequence[Prompt], continuations: Sequence[str]) -> Any:
        return self.backend.logprobs(prompts, continuations)


class TimedVectorEnv(VectorWrapper):
    """Adds up the time spent in the wrapped vector env's ``step`` and ``reset``."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        self.seconds = 0.0
        self.steps = 0

    def reset(self, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = self.env.reset(**kwargs)
        self.seconds += time.perf_counter() - start
        return out

    def step(self, actions: Any) -> Any:
        start = time.perf_counter()
        out = self.env.step(actions)
        self.seconds += time.perf_counter() - start
        self.steps += 1
        return out


def build_backend(args: argparse.Namespace) -> tuple[Any, str]:
    if args.backend == "vllm":
        from prm_gym.llm import VLLMBackend

        if args.model is None:
            raise SystemExit("--backend vllm needs --model PATH (a local model directory)")
        return VLLMBackend(args.model), f"vLLM, {args.model}"
    from prm_gym.llm import TransformersBackend

    if args.model is not None:
        backend = TransformersBackend(args.model)
        return backend, f"transformers, {args.model} on {backend.device}"
    from prm_gym.llm.tiny import tiny_causal_lm

    model, tokenizer = tiny_causal_lm(
        n_layer=args.layers, n_embd=args.embd, n_head=args.heads, n_positions=2048
    )
    backend = TransformersBackend(model, tokenizer)
    n_params = sum(p.numel() for p in model.parameters()) / 1e6
    label = (
        f"transformers, random GPT-2 {args.layers} layers x {args.embd} "
        f"({n_params:.1f}M params) on {backend.device}"
    )
    return backend, label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=32, help="tokens per step at most")
    parser.add_argument("--max-steps", type=int, default=6, help="env steps before truncation")
    parser.add_argument("--model", default=None, help="local model directory (default: tiny)")
    parser.add_argument("--backend", choices=("transformers", "vllm"), default="transformers")
    parser.add_argument("--layers", type=int, default=2, help="tiny model layers")
    parser.add_argument("--embd", type=int, default=128, help="tiny model width")
    parser.add_argument("--heads", type=int, default=4, help="tiny model heads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: steady on a shared CPU)"
    )
    args = parser.parse_args()
    if args.backend == "transformers":
        import torch

        torch.set_num_threads(args.threads)

    backend, label = build_backend(args)
    timed_backend = TimedBackend(backend)
    envs = gym.make_vec(
        "prm/Math-v0", num_envs=args.num_envs, vectorization_mode="sync", max_steps=args.max_steps
    )
    timed_env = TimedVectorEnv(VectorProcessReward(envs, RuleVerifier(), coef=0.1))
    params = SamplingParams(max_tokens=args.max_tokens, temperature=1.0, seed=args.seed)
    agent = LLMAgent(timed_backend, params)

    # Warm-up: first calls pay for lazy imports, allocator growth and kernel selection.
    rollout(timed_env, agent, min(args.num_envs, 4), seed=args.seed + 1, progress=False)
    timed_backend.seconds = timed_env.seconds = 0.0
    timed_backend.calls = timed_backend.rows = timed_backend.tokens = timed_env.steps = 0

    start = time.perf_counter()
    trajectories = rollout(timed_env, agent, args.episodes, seed=args.seed, progress=False)
    total = time.perf_counter() - start
    envs.close()

    generation, env_reward = timed_backend.seconds, timed_env.seconds
    other = total - generation - env_reward
    fraction = env_reward / total
    steps = sum(len(t.actions) for t in trajectories)
    print(
        f"prm-gym {prm_gym.__version__}, Python {platform.python_version()}, {label}, "
        f"{platform.processor() or platform.machine()}"
    )
    print(
        f"{args.episodes} episodes on {args.num_envs} sub-envs (max_steps {args.max_steps}, "
        f"max_tokens {args.max_tokens}): {steps} agent steps, {timed_env.steps} vector steps, "
        f"{timed_backend.calls} generate calls "
        f"({timed_backend.rows / max(timed_backend.calls, 1):.1f} prompts each), "
        f"{timed_backend.tokens} tokens"
    )
    print()
    print(f"{'part':<16}{'seconds':>10}{'share':>9}")
    for name, seconds in (
        ("generation", generation),
        ("env + reward", env_reward),
        ("other", other),
        ("total", total),
    ):
        print(f"{name:<16}{seconds:>10.3f}{seconds / total:>9.1%}")
    print()
    verdict = "meets" if fraction <= TARGET_FRACTION else "MISSES"
    print(
        f"env + reward / total = {fraction:.2%} ({verdict} the <= {TARGET_FRACTION:.0%} target; "
        f"{env_reward / max(timed_env.steps, 1) * 1e3:.2f} ms per vector step of {args.num_envs})"
    )


if __name__ == "__main__":
    main()
