"""The ``backend="ray"`` hook of :func:`prm_gym.agents.rollout`."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
from gymnasium.vector import VectorEnv, VectorWrapper

from prm_gym.distributed.envs import RayVectorEnv

__all__ = ["ray_env_for"]


def ray_env_for(
    env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any],
) -> tuple[VectorEnv[Any, Any, Any], RayVectorEnv | None]:
    """The Ray version of ``env`` for a rollout, and the env to close afterwards (if built here).

    * a :class:`RayVectorEnv` (wrapped or not): itself, nothing to close;
    * a sync/async/threaded vector env: one env worker per sub-env, built from its ``env_fns``
      (sub-env wrappers included), same autoreset mode;
    * a single env with a ``spec``: one env worker running ``gym.make(env.spec)``.

    A vector env with vector wrappers on top cannot be rebuilt (the wrappers hold local state):
    a :class:`ValueError` says to wrap :func:`~prm_gym.distributed.make_ray_vec` instead.
    """
    base = env
    while isinstance(base, VectorWrapper):
        base = base.env
    if isinstance(base, RayVectorEnv):
        return env, None  # type: ignore[return-value]
    if isinstance(env, VectorWrapper):
        raise ValueError(
            "rollout(backend='ray') cannot move a wrapped vector env to Ray: build it with "
            "prm_gym.distributed.make_ray_vec(...) and put the vector wrappers on that"
        )
    if isinstance(env, VectorEnv):
        env_fns = getattr(env, "env_fns", None)
        if not env_fns:
            raise ValueError(
                "rollout(backend='ray') needs a vector env with env_fns (sync, async or "
                f"threaded); got {type(env).__name__}"
            )
        mode = env.metadata.get("autoreset_mode")
        kwargs = {} if mode is None else {"autoreset_mode": mode}
        ray_env = RayVectorEnv(list(env_fns), len(env_fns), **kwargs)
        return ray_env, ray_env
    spec = env.spec
    if spec is None:
        raise ValueError(
            "rollout(backend='ray') needs an env made with gym.make (it rebuilds it from its spec "
            "in a worker); or pass make_ray_vec(...)"
        )

    def env_fn() -> gym.Env[Any, Any]:
        import prm_gym  # noqa: F401 - registers the prm/ envs inside the worker

        return gym.make(spec)

    ray_env = RayVectorEnv(env_fn, 1)
    return ray_env, ray_env
