"""Family assets (DESIGN §5b): what only an env family knows, found by env id.

A family (one folder under ``prm_gym/envs``) declares a module-level :class:`FamilyAssets` and
names it in its register line (``prm_gym.ENV_IDS``: ``"package.module:NAME"``). Generic layers
(``make_dense``, ``testing.reward_integrity``, ``agents``, ``rewards``, ``cli``) call
:func:`family_assets` with an env id and never import a particular family, so a new family
needs its folder and its register line, nothing else.

Policies here are plain callables ``policy(observation, info, env) -> action`` where ``env`` is
the outermost env the policy acts on (a scripted gold policy may read
``env.unwrapped.task``; a learner must not). A :data:`PolicyFactory` makes a fresh policy for
every episode, so policies may keep per-episode state.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

__all__ = ["FamilyAssets", "Policy", "PolicyFactory", "family_assets", "register_assets"]

Policy = Callable[[Any, Mapping[str, Any], gym.Env], Any]
"""``policy(observation, info, env) -> action`` for one episode."""

PolicyFactory = Callable[[], Policy]
"""Makes a fresh :data:`Policy` for each episode."""


def _no_dense(env: gym.Env, **kwargs: Any) -> gym.Env:
    raise NotImplementedError("this env family declares no recommended dense stack")


@dataclass(frozen=True)
class FamilyAssets:
    """What one env family offers to generic layers.

    Attributes:
        make_dense: ``make_dense(env, *, coef=None) -> env``: wraps an env of the family in its
            recommended, hack-resistant dense stack (``coef`` scales the dense terms; ``None``
            keeps the family's default). Used by :func:`prm_gym.make_dense`.
        gold_policy: Factory of the scripted gold policy (solves the task; reads the gold from
            ``env.unwrapped.task`` or simulator state). The reference of the integrity kit.
        hack_policies: Name -> factory of hacking policies: the cheapest policies that farm a
            dense term without solving more of the task (repeat, pad, stall, resubmit, ...).
        make_raw: ``make_raw(env, *, coef=None) -> env``: the family's raw per-step sum stack
            (e.g. ``ProcessReward`` with the family's step scorer), farmable by design; the
            integrity kit and README table show it next to ``make_dense``. ``None`` if the
            family has no per-step scorer.
        default_coef: The dense coefficient ``make_dense`` uses when ``coef`` is ``None``.
        potential: ``potential(env_id, **kwargs) -> Potential``: the family's default
            potential for :class:`~prm_gym.wrappers.PotentialShaping` (``prm-gym train
            --shaping potential``), or ``None``.
        expert_demos: ``expert_demos(env_id, n_episodes, seed, **kwargs) -> list`` of
            scripted-expert episodes (family-specific records), or ``None``.
        random_start_demos: ``random_start_demos(env_id, n, seed, **kwargs) -> list`` of
            demos that start from random states, or ``None`` (learned progress potentials).
        solutions: ``solutions(n, seed, **kwargs) -> list`` of labelled (possibly noisy)
            solutions for training step scorers, or ``None``.
        extras: Anything else the family exposes by name.
    """

    make_dense: Callable[..., gym.Env] = _no_dense
    gold_policy: PolicyFactory | None = None
    hack_policies: Mapping[str, PolicyFactory] = field(default_factory=dict)
    make_raw: Callable[..., gym.Env] | None = None
    default_coef: float = 1.0
    potential: Callable[..., Any] | None = None
    expert_demos: Callable[..., list[Any]] | None = None
    random_start_demos: Callable[..., list[Any]] | None = None
    solutions: Callable[..., list[Any]] | None = None
    extras: Mapping[str, Any] = field(default_factory=dict)


_REGISTRY: dict[str, str | FamilyAssets] = {}


def register_assets(env_id: str, assets: str | FamilyAssets) -> None:
    """Declare the assets of ``env_id``: a :class:`FamilyAssets` or a lazy ``"module:NAME"``."""
    _REGISTRY[env_id] = assets


def family_assets(env_id: str) -> FamilyAssets:
    """The :class:`FamilyAssets` of a registered env id (imported on first use).

    Raises:
        KeyError: No family declared assets for ``env_id`` (the message lists those that did).
    """
    entry = _REGISTRY.get(env_id)
    if entry is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise KeyError(f"no family assets registered for {env_id!r}; registered: {known}")
    if isinstance(entry, str):
        module_name, _, attr = entry.partition(":")
        loaded = getattr(importlib.import_module(module_name), attr or "ASSETS")
        if not isinstance(loaded, FamilyAssets):
            raise TypeError(f"{entry} is not a FamilyAssets instance")
        _REGISTRY[env_id] = entry = loaded
    return entry
