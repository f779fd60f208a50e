"""Bookkeeping shared by the reward wrappers, so that they compose safely in any order.

**Per step.** The first wrapper to add a term records the env's own reward as ``"outcome"``; each
wrapper then adds its term under its own name, so ``sum(info["reward_components"].values()) ==
reward``. A wrapper that rewrites another component (:class:`~prm_gym.wrappers.RewardTransform`
maps ``process`` to ``f(process)``) records the change ``f(r) − r`` under its own name and links
it to the component in ``info["reward_modifiers"]`` (``{"transform": "process"}``);
:func:`component_value` gives the component's current value, links included.

**Per episode.** A trajectory-level wrapper (gating, min-form credit, offline SPA, episode-batched
reward code) holds terms back and publishes, on the episode's final step,
``info["step_reward_components"]`` (``{name: [value per step]}``: each component as a
trajectory-level trainer should credit it) and ``info["step_rewards"]``, their sum per step.
Both cover every term of the episode: a per-step wrapper *outside* a trajectory-level one adds
its own per-step terms there on the final step (:class:`EpisodeTerms`), a trajectory-level
wrapper outside another redistributes the inner one's view (:class:`EpisodeLedger`). So on the
final step ``sum(info["step_rewards"])`` always equals the episode's return. A term added with
plain :func:`add_reward_component` on a final step that carries ``step_rewards`` cannot be
spread over the episode, so ``step_rewards`` is removed there rather than left stale.

**Order.** Wrappers act on the terms recorded *inside* them. :func:`check_composition` (called by
every wrapper at construction) refuses the orders that would pay or remove a term twice, with an
error that names the right order: a wrapper that reads a component by name (a transform,
:class:`~prm_gym.wrappers.MinFormCredit`, a gate with explicit ``gated``) outside a
trajectory-level wrapper that already holds that component, and a wrapper that records a
component outside one that acts on that component by name (which would miss it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np

__all__ = [
    "STEP_COMPONENTS",
    "EpisodeLedger",
    "EpisodeTerms",
    "RewardRole",
    "add_reward_component",
    "check_composition",
    "component_keys",
    "component_value",
    "reward_components",
    "reward_role",
]

STEP_COMPONENTS = "step_reward_components"
"""Info key of the per-component, per-step view published on an episode's final step."""

MODIFIERS = "reward_modifiers"
"""Info key linking a modifier term's key to the component it rewrites."""


def reward_components(info: dict[str, Any], reward: SupportsFloat) -> dict[str, float]:
    """The step's components so far, creating ``{"outcome": reward}`` on first use."""
    comps = info.get("reward_components")
    if comps is None:
        comps = {"outcome": float(reward)}
        info["reward_components"] = comps
    return comps


def record_reward_component(
    info: dict[str, Any],
    reward: SupportsFloat,
    name: str,
    value: float,
    modifies: str | None = None,
) -> tuple[float, str]:
    """Record ``value`` under ``name`` (``name_2``… if taken); return the new reward and the key.

    ``modifies`` links the term to the component it rewrites (see :func:`component_value`).
    Unlike :func:`add_reward_component` this leaves ``info["step_rewards"]`` alone: the caller
    keeps it consistent (:class:`EpisodeTerms`, :class:`EpisodeLedger`).

    Raises ``ValueError`` for a non-finite term: a scorer that returns NaN is a bug to surface,
    not a reward to train on.
    """
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"reward component {name!r} is not finite ({value}); check the scorer")
    comps = reward_components(info, reward)
    key, k = name, 2
    while key in comps:
        key, k = f"{name}_{k}", k + 1
    comps[key] = value
    if modifies is not None:
        info.setdefault(MODIFIERS, {})[key] = modifies
    return float(reward) + value, key


def add_reward_component(
    info: dict[str, Any], reward: SupportsFloat, name: str, value: float
) -> float:
    """Record ``value`` under ``name`` (``name_2``, ``name_3``… if taken) and return the new reward.

    For a wrapper that pays its term every step. If an inner trajectory-level wrapper published
    ``info["step_rewards"]`` on this (final) step, this function cannot know the caller's
    earlier terms, so it removes ``step_rewards`` (and ``step_reward_components``) rather than
    leave them short of the episode's return; use :class:`EpisodeTerms` to keep them.

    Raises ``ValueError`` for a non-finite term.
    """
    reward, _ = record_reward_component(info, reward, name, value)
    if "step_rewards" in info:
        info.pop("step_rewards")
        info.pop(STEP_COMPONENTS, None)
    return reward


def component_keys(info: Mapping[str, Any], name: str) -> list[str]:
    """``name`` and the keys of the terms that rewrite it (``info["reward_modifiers"]``)."""
    links = info.get(MODIFIERS) or {}
    return [name, *(key for key, target in links.items() if target == name)]


def component_value(info: Mapping[str, Any], name: str) -> float | None:
    """The current value of component ``name``: its own term plus the terms that rewrite it.

    ``None`` when the step has no such component.
    """
    comps = info.get("reward_components") or {}
    if name not in comps:
        return None
    return float(sum(comps.get(key, 0.0) for key in component_keys(info, name)))


# --------------------------------------------------------------------------------------------
# Episode views


def _publish(info: dict[str, Any], view: Mapping[str, Sequence[float] | np.ndarray]) -> None:
    columns = {key: np.asarray(values, dtype=np.float64) for key, values in view.items()}
    info[STEP_COMPONENTS] = {key: values.tolist() for key, values in columns.items()}
    info["step_rewards"] = np.sum(list(columns.values()), axis=0).tolist()


class EpisodeTerms:
    """A per-step wrapper's memory of its own terms this episode.

    Every per-step reward wrapper holds one, calls :meth:`reset` in its ``reset`` and
    :meth:`add` instead of :func:`add_reward_component`. On the episode's final step, if a
    trajectory-level wrapper inside published ``info["step_rewards"]``, :meth:`add` adds this
    wrapper's per-step terms to it (and to ``info["step_reward_components"]``), so the
    redistributed rewards still sum to the episode's return.
    """

    def __init__(self) -> None:
        self.values: list[float] = []

    def reset(self) -> None:
        """Forget the episode."""
        self.values = []

    def add(
        self,
        info: dict[str, Any],
        reward: SupportsFloat,
        name: str,
        value: float,
        done: bool,
        modifies: str | None = None,
    ) -> float:
        """Record this step's term (as :func:`record_reward_component`); return the new reward."""
        reward, key = record_reward_component(info, reward, name, value, modifies)
        self.values.append(float(value))
        if done:
            self._finish(info, key)
        return reward

    def _finish(self, info: dict[str, Any], key: str) -> None:
        view = info.get(STEP_COMPONENTS)
        inner = info.get("step_rewards")
        if inner is None:
            return
        if len(inner) != len(self.values):
            # Episodes out of step (the env was stepped past its end without a reset, or this
            # wrapper was added mid-episode): the view cannot be made consistent, so drop it.
            info.pop("step_rewards")
            info.pop(STEP_COMPONENTS, None)
            return
        if isinstance(view, dict) and all(len(v) == len(self.values) for v in view.values()):
            _publish(info, {**view, key: self.values})
        else:  # published by a wrapper that keeps no per-component view
            info["step_rewards"] = (np.asarray(inner, np.float64) + self.values).tolist()
            info.pop(STEP_COMPONENTS, None)


class EpisodeLedger:
    """A trajectory-level wrapper's record of the episode: each step's components as it saw them.

    :meth:`record` is called every step with the components recorded inside the wrapper (before
    it adds its own). On the final step :meth:`view` gives each component per step, preferring
    an inner trajectory-level wrapper's published view (its redistribution) over the raw
    stream, and :meth:`publish` writes ``info["step_reward_components"]`` and
    ``info["step_rewards"]``.
    """

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def reset(self) -> None:
        """Forget the episode."""
        self.steps = []

    def record(self, comps: Mapping[str, float]) -> None:
        """Remember one step's components (a copy)."""
        self.steps.append(dict(comps))

    def view(self, info: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Each component recorded so far, one value per step, as trainers should credit it."""
        n = len(self.steps)
        inner = info.get(STEP_COMPONENTS)
        inner = inner if isinstance(inner, dict) else {}
        keys: dict[str, None] = {}
        for comps in self.steps:
            keys.update(dict.fromkeys(comps))
        out: dict[str, np.ndarray] = {}
        for key in keys:
            values = inner.get(key)
            if values is not None and len(values) == n:
                out[key] = np.asarray(values, dtype=np.float64)
            else:
                out[key] = np.array([comps.get(key, 0.0) for comps in self.steps])
        return out

    @staticmethod
    def publish(info: dict[str, Any], view: Mapping[str, Sequence[float] | np.ndarray]) -> None:
        """Publish ``view`` and its per-step sum as the episode's redistributed rewards."""
        _publish(info, view)


# --------------------------------------------------------------------------------------------
# Composition order


@dataclass(frozen=True)
class RewardRole:
    """What a reward wrapper does with components, for :func:`check_composition`.

    Attributes:
        records: Components it adds under its own names.
        reads: Components whose per-step value it reads by name (transforms, min-form credit,
            a gate's explicit ``gated`` list).
        holds: Components it holds back to the episode's end (trajectory-level wrappers).
        holds_all: It holds every component recorded inside it (a gate's default).
    """

    records: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    holds: tuple[str, ...] = ()
    holds_all: bool = False

    @property
    def trajectory_level(self) -> bool:
        return self.holds_all or bool(self.holds)


def reward_role(env: gym.Env[Any, Any]) -> RewardRole:
    """The role of one wrapper: its ``reward_role`` attribute, else inferred.

    A wrapper with a string ``name`` and a ``coef`` (e.g. ``ProgressReward``) records ``name``.
    """
    role = getattr(env, "reward_role", None)
    if isinstance(role, RewardRole):
        return role
    name = getattr(env, "name", None)
    if isinstance(name, str) and hasattr(env, "coef"):
        return RewardRole(records=(name,))
    return RewardRole()


def _chain(env: gym.Env[Any, Any]) -> list[gym.Env[Any, Any]]:
    out: list[gym.Env[Any, Any]] = []
    while isinstance(env, gym.Wrapper):
        out.append(env)
        env = env.env
    return out


def check_composition(wrapper: gym.Wrapper[Any, Any, Any, Any], role: RewardRole) -> None:
    """Refuse an order that would pay or remove a term twice; the error names the right order.

    ``wrapper`` is being built around ``wrapper.env`` with ``role``. Refused:

    * it reads component ``X`` and a trajectory-level wrapper inside it already holds ``X``
      (``MinFormCredit`` outside ``GatedAccumulation``: the gate has removed the process term
      and min-form would remove it again);
    * it records ``X`` outside a wrapper that acts on ``X`` by name (``ProcessReward`` outside
      ``MinFormCredit(component="process")``: the inner one never sees the term).
    """
    outer = type(wrapper).__name__
    chain = _chain(wrapper.env)
    roles = [reward_role(env) for env in chain]
    for i, (env, inner) in enumerate(zip(chain, roles, strict=True)):
        name = type(env).__name__
        recorded_below = {x for r in roles[i + 1 :] for x in r.records}
        for x in role.reads:
            held = x in inner.holds or (
                inner.holds_all and x in recorded_below and x not in _exempt(env)
            )
            if held:
                raise ValueError(
                    f"{outer} reads component {x!r}, which {name} inside it already holds back "
                    f"to the episode's end, so the term would be removed twice. Put {outer} "
                    f"inside {name}: {name}({outer}(...))"
                )
        for x in role.records:
            if x in inner.reads or x in inner.holds:
                raise ValueError(
                    f"{outer} records component {x!r} outside {name}, which acts on {x!r} only "
                    f"as recorded inside it. Put {outer} inside {name}: {name}({outer}(...)), "
                    f"or give {outer} another name"
                )


def _exempt(env: gym.Env[Any, Any]) -> tuple[str, ...]:
    """Components a hold-everything wrapper leaves alone (a gate's outcome and gate channel)."""
    return ("outcome", str(getattr(env, "gate_on", "outcome")))
