"""Scale: threaded vs sync env steps on blocking envs; Ray (2 workers) vs local, same run.

Three measurements, each side by side in one run:

1. **Blocking steps.** ``--envs`` (64) ``prm/Math-v0`` envs whose ``step`` blocks ``--delay``
   seconds (50 ms: a SQL query, a tool call, a remote judge). Sync vector env
   (``gym.make_vec(..., "sync")``) against :class:`prm_gym.core.vector.ThreadedVectorEnv`; env
   steps/s = sub-env steps per second of wall time. Target: threaded >= 10x sync.
2. **CPU-bound Code-v0.** ``prm/Code-v0`` envs submitting each task's reference solution (every
   step runs the unit tests in the sandbox): 2 sub-envs in a local sync vector env against
   :func:`prm_gym.distributed.make_ray_vec` with 2 env workers (one CPU each).
3. **PRM scoring.** A tiny randomly initialised GPT-2 read as a Math-Shepherd-style
   ``TokenProbPRM`` (:func:`prm_gym.llm.tiny.tiny_causal_lm`, no downloads) scoring batches of
   ``--prm-batch`` step contexts: one local scorer (torch with its default threads) against
   :class:`prm_gym.distributed.RemoteScorer` with 2 actors (one CPU each, one thread each).

Ray starts a local instance (``ray.init(num_cpus=2)``), or joins a cluster with
``--address``. Times are wall-clock (``time.perf_counter``) after one warm-up round per side; on
a shared machine rerun and compare ratios, not absolute figures.

Usage::

    PYTHONPATH=. python benchmarks/scale.py [--envs 64] [--delay 0.05] [--steps 4]
        [--code-steps 16] [--prm-batches 4] [--prm-batch 64] [--address auto]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from typing import Any

import gymnasium as gym
import numpy as np

import prm_gym  # noqa: F401 - registers the envs
from prm_gym.core import StepContext
from prm_gym.core.vector import ThreadedVectorEnv

TAG = "<|end|>"  # a special token of the tiny tokenizer: always one token


class Blocking(gym.Wrapper[Any, Any, Any, Any]):
    """Each ``step`` sleeps ``delay`` seconds first (an env whose step waits on I/O)."""

    def __init__(self, env: gym.Env[Any, Any], delay: float) -> None:
        super().__init__(env)
        self.delay = delay

    def step(self, action: Any) -> Any:
        time.sleep(self.delay)
        return self.env.step(action)


def _vector_steps_per_s(envs: Any, steps: int, action: Any) -> float:
    envs.reset(seed=0)
    envs.step(tuple(action for _ in range(envs.num_envs)))  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        envs.step(tuple(action for _ in range(envs.num_envs)))
    return steps * envs.num_envs / (time.perf_counter() - start)


def blocking(num_envs: int, delay: float, steps: int) -> tuple[float, float]:
    def fn() -> gym.Env[Any, Any]:
        return Blocking(gym.make("prm/Math-v0"), delay)

    action = "Step 1: 2 + 2 = 4"
    sync = gym.vector.SyncVectorEnv([fn] * num_envs)
    sync_rate = _vector_steps_per_s(sync, max(1, steps // 4), action)
    sync.close()
    with ThreadedVectorEnv([fn] * num_envs) as threaded:
        threaded_rate = _vector_steps_per_s(threaded, steps, action)
    return sync_rate, threaded_rate


def _code_steps_per_s(envs: Any, steps: int) -> float:
    """Sub-env steps/s submitting each current task's reference solution (autoresets excluded)."""
    from prm_gym.envs.code import load_shipped_problems

    answers = {t.id: t.answer for t in load_shipped_problems().tasks}
    _, infos = envs.reset(seed=0)
    ids = list(infos["task_id"])
    resetting = np.zeros(envs.num_envs, dtype=bool)
    done_steps, start, warm = 0, 0.0, True
    while done_steps < steps:
        actions = tuple(f"```python\n{answers[i]}\n```" for i in ids)
        _, _, terminated, truncated, infos = envs.step(actions)
        if warm:  # the first vector step warms the sandboxes up
            warm, start = False, time.perf_counter()
        else:
            done_steps += int((~resetting).sum())
        for k in range(envs.num_envs):
            if "task_id" in infos and infos["_task_id"][k]:
                ids[k] = infos["task_id"][k]
        resetting = np.logical_or(terminated, truncated)
    return done_steps / (time.perf_counter() - start)


def code(steps: int) -> tuple[float, float]:
    from prm_gym.distributed import make_ray_vec

    local = gym.make_vec("prm/Code-v0", 2, vectorization_mode="sync")
    local_rate = _code_steps_per_s(local, steps)
    local.close()
    remote = make_ray_vec("prm/Code-v0", 2, step_timeout=120.0)
    ray_rate = _code_steps_per_s(remote, steps)
    remote.close()
    return local_rate, ray_rate


def _tiny_prm() -> Any:
    import torch

    from prm_gym.llm.tiny import tiny_causal_lm
    from prm_gym.rewards import TokenProbPRM

    torch.manual_seed(0)
    model, tokenizer = tiny_causal_lm(n_layer=4, n_embd=128, n_head=4, seed=0)
    return TokenProbPRM(model, tokenizer, step_tag=TAG)


def _contexts(n: int) -> list[StepContext]:
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        a, b = (int(v) for v in rng.integers(0, 1000, size=2))
        steps = tuple(f"Step {k}: {a} + {k} = {a + k}" for k in range(1, 1 + i % 6))
        out.append(StepContext(f"What is {a} + {b}?", steps, f"So the answer is {a + b}."))
    return out


def _scores_per_s(scorer: Any, batches: int, batch: int) -> tuple[float, np.ndarray]:
    contexts = _contexts(batch)
    first = scorer.score(contexts)  # warm-up
    start = time.perf_counter()
    for _ in range(batches):
        scorer.score(contexts)
    return batches * batch / (time.perf_counter() - start), np.asarray(first)


def prm(batches: int, batch: int) -> tuple[float, float, float]:
    from prm_gym.distributed import RemoteScorer

    local_rate, local_scores = _scores_per_s(_tiny_prm(), batches, batch)
    remote = RemoteScorer(_tiny_prm, num_actors=2, num_cpus=1)
    ray_rate, ray_scores = _scores_per_s(remote, batches, batch)
    remote.close()
    return local_rate, ray_rate, float(np.max(np.abs(local_scores - ray_scores)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.05)
    parser.add_argument("--steps", type=int, default=4, help="threaded vector steps")
    parser.add_argument("--code-steps", type=int, default=16)
    parser.add_argument("--prm-batches", type=int, default=4)
    parser.add_argument("--prm-batch", type=int, default=64)
    parser.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    args = parser.parse_args()

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs")
    sync_rate, threaded_rate = blocking(args.envs, args.delay, args.steps)
    print(
        f"blocking steps ({args.envs} envs, {args.delay * 1000:.0f} ms/step): "
        f"sync {sync_rate:.1f} steps/s, threaded {threaded_rate:.1f} steps/s, "
        f"ratio {threaded_rate / sync_rate:.1f}x"
    )

    from prm_gym.distributed import require_ray

    try:
        ray = require_ray()
    except ImportError as err:
        raise SystemExit(f"{err} (the blocking-step figures above need no Ray)") from err
    if args.address:
        ray.init(address=args.address, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        local_rate, ray_rate = code(args.code_steps)
        print(
            f"Code-v0 (reference solutions, 2 sub-envs): local sync {local_rate:.1f} steps/s, "
            f"Ray 2 workers {ray_rate:.1f} steps/s, ratio {ray_rate / local_rate:.2f}x"
        )
        local_prm, ray_prm, diff = prm(args.prm_batches, args.prm_batch)
        print(
            f"PRM scoring (tiny TokenProbPRM, batch {args.prm_batch}): local {local_prm:.1f} "
            f"contexts/s, Ray 2 actors {ray_prm:.1f} contexts/s, ratio {ray_prm / local_prm:.2f}x "
            f"(max |score diff| {diff:.2e})"
        )
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
