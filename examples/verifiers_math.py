"""Evaluate a model on a prm-gym env with verifiers' own rollout loop (the loop prime-rl trains
with), the reward being the episode's return under the env's dense stack.

By default the model is a randomly initialised tiny GPT-2 (``prm_gym.llm.tiny``) served on
127.0.0.1 by ``prm_gym.testing.openai_server``, so the script runs offline on a CPU in seconds
(the model writes noise: expect rewards near 0). Point it at a real OpenAI-compatible server
(e.g. ``vllm serve Qwen/Qwen3-0.6B``) with ``--base-url`` and ``--model``. ``--gold`` serves a
scripted policy that writes each task's gold steps instead (Math-v0 only), to see full rewards.

It prints, per rollout, the reward (``env_return``) and its components (``outcome``,
``progress``, ...: weight-0 metrics), then checks each reward against a local replay of the
rollout's actions in ``prm_gym.make_dense``.

Usage: ``python examples/verifiers_math.py [--env prm/Math-v0] [--examples 2] [--rollouts 2]
[--max-turns 4] [--gold] [--base-url URL --model NAME]`` (needs ``pip install
'prm-gym[verifiers]'``).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
from collections.abc import Mapping
from typing import Any


def _gold_policy(env_id: str, dataset: Any) -> Any:
    import gymnasium as gym

    from prm_gym.integrations._episode import reset_options_from

    probe = gym.make(env_id)
    gold = {}
    for row in dataset:
        probe.reset(options=reset_options_from(row["info"]))
        gold[row["prompt"][-1]["content"]] = list(probe.unwrapped.task.metadata["gold_steps"])
    probe.close()

    def respond(messages: list[dict[str, str]], body: Mapping[str, Any]) -> str:
        steps = gold[next(m["content"] for m in messages if m["role"] == "user")]
        turn = sum(m["role"] == "assistant" for m in messages)
        return steps[min(turn, len(steps) - 1)]

    return respond


def _replay(env_id: str, output: Mapping[str, Any]) -> float:
    import prm_gym
    from prm_gym.integrations._episode import reset_options_from

    env = prm_gym.make_dense(env_id)
    env.reset(options=reset_options_from(output["info"]))
    total = 0.0
    for message in output["completion"]:
        if getattr(message, "role", None) != "assistant":
            continue
        _, reward, terminated, truncated, _ = env.step(message.content or "")
        total += float(reward)
        if terminated or truncated:
            break
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="prm/Math-v0")
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--rollouts", type=int, default=2, help="rollouts per example (a group)")
    parser.add_argument("--max-turns", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=32)
    parser.add_argument("--gold", action="store_true", help="serve the gold steps (Math-v0)")
    parser.add_argument("--base-url", default=None, help="an OpenAI-compatible /v1 endpoint")
    parser.add_argument("--model", default="tiny")
    args = parser.parse_args()

    import verifiers as vf
    from openai import AsyncOpenAI

    from prm_gym.integrations.verifiers import load_environment
    from prm_gym.testing.openai_server import OpenAICompatibleServer

    env = load_environment(
        args.env, num_examples=args.examples, num_eval_examples=0, max_turns=args.max_turns
    )
    with contextlib.ExitStack() as stack:
        base_url = args.base_url
        if base_url is None:
            if args.gold:
                policy = _gold_policy(args.env, env.get_dataset())
            else:
                from prm_gym.llm import TransformersBackend
                from prm_gym.llm.tiny import tiny_causal_lm

                policy = TransformersBackend(*tiny_causal_lm())
            base_url = stack.enter_context(OpenAICompatibleServer(policy)).base_url
        client = vf.OpenAIChatCompletionsClient(
            AsyncOpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY", "none"))
        )
        results = env.evaluate_sync(
            client,
            args.model,
            sampling_args={"max_tokens": args.max_tokens, "temperature": 1.0, "seed": 0},
            num_examples=args.examples,
            rollouts_per_example=args.rollouts,
        )
    for k, output in enumerate(results["outputs"]):
        metrics = {name: round(value, 4) for name, value in output["metrics"].items()}
        replayed = _replay(args.env, output)
        same = math.isclose(output["reward"], replayed, abs_tol=1e-9)
        print(
            f"rollout {k} (example {output['example_id']}, {output['stop_condition']}): "
            f"reward {output['reward']:.4f}, local replay {replayed:.4f} "
            f"({'same' if same else 'DIFFERENT'}); {metrics}"
        )


if __name__ == "__main__":
    main()
