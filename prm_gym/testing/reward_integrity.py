"""The reward-integrity kit: hacking policies against a dense reward stack (DESIGN §5a).

A dense reward is only useful if the cheapest policy that maximises it is the one that solves
the task. Every env family declares a scripted gold policy and the hacking policies that would
farm a naive dense term (repeat a correct step, pad with trivially true statements, answer every
turn, stall with exploration, resubmit, spam duplicate calls, oscillate in continuous control,
forge results in submitted code) in its :class:`~prm_gym.core.assets.FamilyAssets`.
:func:`check_reward_integrity` runs them all on the same tasks and reports each one's mean
undiscounted return next to the gold policy's; it passes when no hack reaches the gold.

Run it on your own stack::

    from prm_gym.testing import check_reward_integrity
    report = check_reward_integrity("prm/Math-v0")            # make_dense at coef default/0.1/1
    report = check_reward_integrity(lambda coef: MyStack(gym.make("prm/Math-v0")), coefs=[None])
    print(report); assert report.ok
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from prm_gym.core.assets import FamilyAssets, PolicyFactory, family_assets

__all__ = [
    "IntegrityReport",
    "IntegrityRow",
    "check_reward_integrity",
    "run_policy",
]

EnvFactory = Callable[[float | None], gym.Env[Any, Any]]
"""``factory(coef) -> env``: builds the stack under test at one dense coefficient."""

_MAX_EPISODE_STEPS = 10_000


@dataclass(frozen=True)
class IntegrityRow:
    """One policy's returns under one stack and coefficient."""

    stack: str
    coef: float | None
    policy: str
    mean_return: float
    std_return: float
    mean_steps: float
    success_rate: float
    is_gold: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class IntegrityReport:
    """Mean returns of the gold and every hack policy, per stack and coefficient.

    ``ok`` is True when, for every (stack, coef) whose stack is meant to resist hacking (all
    but ``"raw"``), no hack's mean return reaches the gold's (``>= gold − tolerance``).
    """

    env_id: str
    episodes: int
    rows: list[IntegrityRow] = field(default_factory=list)
    tolerance: float = 1e-9
    checked_stacks: tuple[str, ...] = ("dense",)

    def gold(self, stack: str, coef: float | None) -> IntegrityRow:
        return next(r for r in self.rows if r.is_gold and r.stack == stack and r.coef == coef)

    @property
    def failures(self) -> list[IntegrityRow]:
        """Hack rows that reach the gold's mean return on a checked stack."""
        bad = []
        for row in self.rows:
            if row.is_gold or row.stack not in self.checked_stacks:
                continue
            gold = self.gold(row.stack, row.coef)
            if row.mean_return >= gold.mean_return - self.tolerance:
                bad.append(row)
        return bad

    @property
    def ok(self) -> bool:
        return not self.failures

    def to_markdown(self) -> str:
        """A Markdown table: one line per (stack, coef, policy)."""
        lines = [
            "| env | stack | coef | policy | mean return | ± std | steps | success | vs gold |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            gold = self.gold(row.stack, row.coef)
            flag = "gold" if row.is_gold else ("REACHES GOLD" if row in self.failures else "below")
            if not row.is_gold and row.stack not in self.checked_stacks:
                flag = "≥ gold" if row.mean_return >= gold.mean_return - self.tolerance else "below"
            coef = "default" if row.coef is None else f"{row.coef:g}"
            lines.append(
                f"| {self.env_id} | {row.stack} | {coef} | {row.policy} | {row.mean_return:.3f} "
                f"| {row.std_return:.3f} | {row.mean_steps:.1f} | {row.success_rate:.2f} | {flag} |"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        verdict = "OK" if self.ok else f"{len(self.failures)} hack(s) reach the gold"
        return (
            f"Reward integrity of {self.env_id} over {self.episodes} episodes: {verdict}\n"
            + self.to_markdown()
        )


def run_policy(
    env: gym.Env[Any, Any], policy_factory: PolicyFactory, seeds: Iterable[int]
) -> tuple[list[float], list[int], list[float]]:
    """Play one episode per seed; returns (undiscounted returns, step counts, successes).

    Success is ``info["outcome"] >= 1`` or ``info["is_success"]`` on the final step.
    """
    returns, steps, successes = [], [], []
    for seed in seeds:
        obs, info = env.reset(seed=seed)
        policy = policy_factory()
        total, n, done = 0.0, 0, False
        while not done:
            if n >= _MAX_EPISODE_STEPS:
                raise RuntimeError(f"episode did not end within {_MAX_EPISODE_STEPS} steps")
            obs, reward, terminated, truncated, info = env.step(policy(obs, info, env))
            total += float(reward)
            n += 1
            done = bool(terminated or truncated)
        returns.append(total)
        steps.append(n)
        successes.append(_success(info))
    return returns, steps, successes


def _success(info: Mapping[str, Any]) -> float:
    if "outcome" in info:
        return float(float(info["outcome"]) >= 1.0)
    return float(bool(info.get("is_success", False)))


def _env_id(env: gym.Env[Any, Any]) -> str:
    spec = getattr(env, "spec", None) or getattr(env.unwrapped, "spec", None)
    if spec is None:
        raise ValueError("the env has no registered spec: pass gold_policy and hacks explicitly")
    return str(spec.id)


def check_reward_integrity(
    env_or_id: str | gym.Env[Any, Any] | EnvFactory,
    gold_policy: PolicyFactory | None = None,
    *,
    hacks: Mapping[str, PolicyFactory] | None = None,
    episodes: int = 30,
    coefs: Sequence[float | None] = (None, 0.1, 1.0),
    seed: int = 0,
    raw: bool = False,
    env_kwargs: Mapping[str, Any] | None = None,
) -> IntegrityReport:
    """Run the gold policy and every hack policy on the same tasks; compare mean returns.

    Args:
        env_or_id: A registered id (its family's ``make_dense`` stack is built at each of
            ``coefs``), a built env (your own stack, used as it is: ``coefs`` is ignored), or a
            factory ``factory(coef) -> env``.
        gold_policy: Factory of the reference policy (default: the family's scripted gold).
        hacks: Name -> factory of hacking policies (default: the family's kit).
        episodes: Episodes per policy (seeds ``seed … seed + episodes − 1``, the same tasks for
            every policy).
        coefs: Dense coefficients to test (``None`` = the family's default).
        seed: First reset seed.
        raw: Also run the family's raw per-step sum stack (``FamilyAssets.make_raw``), reported
            as stack ``"raw"`` and not checked (it is farmable by design; the table shows by
            how much).
        env_kwargs: Passed to ``gym.make`` when ``env_or_id`` is an id.

    Returns:
        An :class:`IntegrityReport`; ``report.ok`` is False if any hack's mean return reaches
        the gold's on the checked stack.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    kwargs = dict(env_kwargs or {})
    factories: dict[str, EnvFactory] = {}
    assets: FamilyAssets | None = None
    if isinstance(env_or_id, str):
        env_id = env_or_id
        assets = family_assets(env_id)
        family = assets

        def dense(coef: float | None) -> gym.Env[Any, Any]:
            return family.make_dense(gym.make(env_id, **kwargs), coef=coef)

        factories["dense"] = dense
        if raw:
            make_raw = family.make_raw
            if make_raw is None:
                raise ValueError(f"{env_id}'s family declares no raw stack (make_raw)")

            def raw_stack(coef: float | None) -> gym.Env[Any, Any]:
                return make_raw(gym.make(env_id, **kwargs), coef=coef)

            factories["raw"] = raw_stack
    elif isinstance(env_or_id, gym.Env):
        built = env_or_id
        env_id = _env_id(built)
        factories["custom"] = lambda coef: built
        coefs = (None,)
    elif callable(env_or_id):
        probe = env_or_id(None)
        env_id = _env_id(probe)
        probe.close()
        factories["custom"] = env_or_id
    else:
        raise TypeError("env_or_id must be an env id, an env, or a factory coef -> env")
    if gold_policy is None or hacks is None:
        assets = assets or family_assets(env_id)
        gold_policy = gold_policy or assets.gold_policy
        hacks = assets.hack_policies if hacks is None else hacks
    if gold_policy is None:
        raise ValueError(f"{env_id} has no gold policy: pass gold_policy")
    if not hacks:
        raise ValueError(f"{env_id} has no hack policies: pass hacks")
    policies: list[tuple[str, PolicyFactory, bool]] = [("gold", gold_policy, True)]
    policies += [(name, factory, False) for name, factory in hacks.items()]
    seeds = list(range(seed, seed + episodes))
    report = IntegrityReport(
        env_id=env_id,
        episodes=episodes,
        checked_stacks=tuple(s for s in factories if s != "raw"),
    )
    for stack, factory in factories.items():
        for coef in coefs:
            env = factory(coef)
            try:
                for name, policy, is_gold in policies:
                    returns, steps, successes = run_policy(env, policy, seeds)
                    report.rows.append(
                        IntegrityRow(
                            stack=stack,
                            coef=coef,
                            policy=name,
                            mean_return=_mean(returns),
                            std_return=float(np.std(returns)),
                            mean_steps=_mean(steps),
                            success_rate=_mean(successes),
                            is_gold=is_gold,
                        )
                    )
            finally:
                if stack != "custom" or not isinstance(env_or_id, gym.Env):
                    env.close()
    return report


def _mean(values: Sequence[float]) -> float:
    mean = float(np.mean(values)) if len(values) else math.nan
    return mean
