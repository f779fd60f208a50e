"""The goal-env API on the outermost wrapper of ``gym.make("prm/Reach-v0")``.

Gymnasium 1.x wrappers do not forward attributes, so ``compute_reward`` (which SB3's
``check_env`` and goal-conditioned tools call on the env they are given) was reachable only
through ``env.unwrapped``. The manipulation ids register :class:`GoalEnvAPI` as an additional
wrapper, so ``gym.make`` returns an env that has it.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["GoalEnvAPI"]


class GoalEnvAPI(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Forwards ``compute_reward(achieved_goal, desired_goal, info)`` to the goal env inside.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/Reach-v0")
        >>> obs, info = env.reset(seed=0)
        >>> float(env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
        -1.0
    """

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        if not callable(getattr(env.unwrapped, "compute_reward", None)):
            raise TypeError("GoalEnvAPI needs an env with compute_reward (a goal env)")
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> np.ndarray:
        """The inner goal env's vectorised ``compute_reward``."""
        return self.env.unwrapped.compute_reward(  # type: ignore[attr-defined]
            achieved_goal, desired_goal, info
        )
