"""Any prm-gym env as an OpenEnv environment server, and a thin client for it.

OpenEnv (``openenv-core``, Meta's environment interface that TRL's and Unsloth's OpenEnv
paths train against) serves an ``Environment`` (``reset``/``step``/``state``) over a WebSocket
at ``/ws``, one environment instance per connected client. :func:`create_openenv_app` wraps a
prm-gym env (text or manipulation, native or under :func:`prm_gym.make_dense`) that way;
``prm-gym serve ENV_ID`` runs it with uvicorn; :class:`PrmGymEnvClient` talks to it.

Wire format: an action is ``{"action": <str for text envs, list of floats for Box spaces>}``;
an observation is :class:`PrmGymObservation`: ``observation`` (text, or nested lists for array
and ``Dict`` observations), ``reward``, ``done`` (terminated or truncated), ``terminated``,
``truncated`` and ``info`` (the step's ``info`` made JSON-safe, ``reward_components``,
``action_valid`` and ``error`` included). OpenEnv 0.3 drops an observation's ``metadata`` from
the wire, so ``info`` is a field of its own (and also the server-side ``metadata``).
``reset`` takes ``seed`` and ``options`` (e.g. ``{"task_seed": 3}``), passed through.

``openenv-core`` is imported only here (``pip install 'prm-gym[openenv]'``).

Example (a server in one process, the client in another)::

    $ prm-gym serve prm/Math-v0 --dense --port 8011

    >>> from prm_gym.integrations.openenv import PrmGymEnvClient
    >>> with PrmGymEnvClient("http://127.0.0.1:8011").sync() as client:  # doctest: +SKIP
    ...     result = client.reset(seed=0)
    ...     result = client.step("\\boxed{4}")
    ...     result.observation.info["reward_components"]
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np

try:
    from openenv.core.client_types import StepResult
    from openenv.core.env_client import EnvClient
    from openenv.core.env_server import Action, Environment, Observation, State
    from openenv.core.env_server.http_server import create_fastapi_app
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "prm_gym.integrations.openenv needs openenv-core: pip install 'prm-gym[openenv]'"
    ) from exc
from pydantic import Field

__all__ = [
    "PrmGymAction",
    "PrmGymEnvClient",
    "PrmGymObservation",
    "PrmGymOpenEnv",
    "create_openenv_app",
    "to_jsonable",
]


def to_jsonable(value: Any) -> Any:
    """``value`` with arrays as nested lists, numpy scalars as Python numbers, tuples as lists
    and other non-JSON objects as their ``repr`` (what travels over the wire)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


class PrmGymAction(Action):
    """One env action: a string for text envs, a list of numbers for ``Box`` action spaces."""

    action: Any = Field(description="the env action (str, or a list of floats for Box spaces)")


class PrmGymObservation(Observation):
    """A step's result: the env's observation and the whole (JSON-safe) ``info``."""

    observation: Any = Field(default=None, description="the env observation (JSON-safe)")
    terminated: bool = Field(default=False, description="the episode reached a terminal state")
    truncated: bool = Field(default=False, description="the episode was cut (step limit)")
    info: dict[str, Any] = Field(default_factory=dict, description="the step's info (JSON-safe)")


class PrmGymOpenEnv(Environment):  # type: ignore[misc, unused-ignore]
    """A prm-gym env behind OpenEnv's ``Environment`` interface (one per client session).

    Args:
        env_id: Registered id (text or manipulation).
        dense: Wrap the env in its family's dense stack (``prm_gym.make_dense``).
        coef: Weight of the dense terms (``None``: the family's default).
        **make_kwargs: Passed to ``gym.make``.
    """

    SUPPORTS_CONCURRENT_SESSIONS = True

    def __init__(
        self, env_id: str, *, dense: bool = False, coef: float | None = None, **make_kwargs: Any
    ) -> None:
        super().__init__()
        import prm_gym

        self.env = (
            prm_gym.make_dense(env_id, coef=coef, **make_kwargs)
            if dense
            else gym.make(env_id, **make_kwargs)
        )
        self._state = State(episode_id=None, step_count=0)

    def reset(
        self,
        seed: int | None = None,
        episode_id: str | None = None,
        options: dict[str, Any] | None = None,
        **_: Any,
    ) -> PrmGymObservation:
        """``env.reset(seed=seed, options=options)``."""
        obs, info = self.env.reset(seed=seed, options=options)
        self._state = State(episode_id=episode_id or uuid.uuid4().hex, step_count=0)
        return PrmGymObservation(
            observation=to_jsonable(obs), info=to_jsonable(info), metadata=to_jsonable(info)
        )

    def step(
        self, action: PrmGymAction, timeout_s: float | None = None, **_: Any
    ) -> PrmGymObservation:
        """``env.step(action)`` (a list becomes an array of the action space's dtype)."""
        raw = action.action
        space = self.env.action_space
        if isinstance(space, gym.spaces.Box):
            raw = np.asarray(raw, dtype=space.dtype)
        obs, reward, terminated, truncated, info = self.env.step(raw)
        self._state.step_count += 1
        safe_info = to_jsonable(info)
        return PrmGymObservation(
            observation=to_jsonable(obs),
            reward=float(reward),
            done=bool(terminated or truncated),
            terminated=bool(terminated),
            truncated=bool(truncated),
            info=safe_info,
            metadata=safe_info,
        )

    @property
    def state(self) -> State:
        return self._state

    def close(self) -> None:
        self.env.close()


def create_openenv_app(
    env_id: str,
    *,
    dense: bool = False,
    coef: float | None = None,
    max_sessions: int = 64,
    **make_kwargs: Any,
) -> Any:
    """The FastAPI app of OpenEnv's server for ``env_id`` (one env per WebSocket session,
    at most ``max_sessions`` at once). Serve it with ``uvicorn.run(app, host, port)`` or
    ``prm-gym serve``."""
    gym.spec(env_id)  # unknown ids fail here, not on the first client

    def factory() -> PrmGymOpenEnv:
        return PrmGymOpenEnv(env_id, dense=dense, coef=coef, **make_kwargs)

    return create_fastapi_app(
        factory, PrmGymAction, PrmGymObservation, max_concurrent_envs=max_sessions
    )


class PrmGymEnvClient(EnvClient):  # type: ignore[misc, unused-ignore]
    """OpenEnv client of a ``prm-gym serve`` server (async; ``.sync()`` for a blocking one).

    ``step`` takes a :class:`PrmGymAction` or the raw action (a string, or an array / list for
    ``Box`` spaces); results are OpenEnv ``StepResult``s whose ``observation`` is a
    :class:`PrmGymObservation`. ``reset(seed=..., options=...)`` is passed to the env.
    """

    def _step_payload(self, action: Any) -> dict[str, Any]:
        if isinstance(action, PrmGymAction):
            action = action.action
        return {"action": to_jsonable(action)}

    def _parse_result(self, payload: dict[str, Any]) -> StepResult:
        fields = dict(payload.get("observation", {}))
        fields.update(reward=payload.get("reward"), done=bool(payload.get("done", False)))
        observation = PrmGymObservation(**fields)
        return StepResult(observation=observation, reward=observation.reward, done=observation.done)

    def _parse_state(self, payload: dict[str, Any]) -> State:
        return State(**payload)
