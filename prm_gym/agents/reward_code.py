"""Score LLM-written reward code by a short SB3 training run (Eureka's task score)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from prm_gym.rewards.reward_code import RewardCode
from prm_gym.wrappers.reward_code import RewardCodeShaping

__all__ = ["sb3_evaluator"]


def sb3_evaluator(
    env_id: str,
    total_timesteps: int = 1_000,
    algo: str = "sac",
    eval_episodes: int = 10,
    coef: float = 1.0,
    seed: int = 0,
) -> Callable[[RewardCode], float]:
    """``evaluate(candidate) -> success rate`` after ``total_timesteps`` of SB3 training on
    ``env_id`` with the candidate's reward added by :class:`RewardCodeShaping` (Eureka, 2023).

    Slow by nature: every training step is one sandbox job (≈10-150 ms), so keep
    ``total_timesteps`` small or use :class:`~prm_gym.rewards.reward_code.ExpertProgressProxy`.
    Evaluation runs the deterministic policy on the unshaped env and reads the final
    ``info["is_success"]``.
    """
    if algo not in ("sac", "td3", "ppo"):
        raise ValueError(f"algo must be 'sac', 'td3' or 'ppo', got {algo!r}")

    def evaluate(candidate: RewardCode) -> float:
        import stable_baselines3 as sb3

        import prm_gym  # noqa: F401  (registers the prm/* ids)

        cls: Any = {"sac": sb3.SAC, "td3": sb3.TD3, "ppo": sb3.PPO}[algo]
        env = RewardCodeShaping(gym.make(env_id), candidate, coef=coef)
        policy = (
            "MultiInputPolicy"
            if isinstance(env.observation_space, gym.spaces.Dict)
            else ("MlpPolicy")
        )
        model = cls(policy, env, seed=seed, verbose=0)
        model.learn(total_timesteps=total_timesteps)
        env.close()
        eval_env = gym.make(env_id)
        successes = []
        for i in range(eval_episodes):
            obs, info = eval_env.reset(seed=seed + 1_000_003 + i)
            done = False
            while not done:
                action, _ = model.predict(obs, deterministic=True)
                obs, _, terminated, truncated, info = eval_env.step(action)
                done = terminated or truncated
            successes.append(float(info.get("is_success", 0.0)))
        eval_env.close()
        return float(np.mean(successes))

    return evaluate
