"""Reward transforms and trajectory-level credit rules applied to named components.

* :class:`PosteriorGate` -- process terms count only when the outcome succeeds (P-GRPO).
* :class:`RewardTransform` -- PAR or log-sigmoid centring of one component.
* :class:`RewardNormalize` -- running standardisation of one component (Welford), clipped.
* :class:`MinFormCredit` -- PURE min-form redistribution of one component over the episode.

Each records its term (the change it makes) under its own name in
``info["reward_components"]``, so the components still sum to the reward returned. The
maths lives in :mod:`prm_gym.credit`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.credit import log_sigmoid_centering, min_form_rewards, par_transform, welford_update
from prm_gym.wrappers.components import add_reward_component, reward_components
from prm_gym.wrappers.gating import GatedAccumulation

__all__ = ["MinFormCredit", "PosteriorGate", "RewardNormalize", "RewardTransform"]


class PosteriorGate(GatedAccumulation):
    """Process reward only on success: :class:`GatedAccumulation` gated on the outcome.

    Posterior-GRPO (2025; unverified) applies the process reward only to rollouts whose outcome
    is a success. That is G-RA with the outcome as the gate and success as the threshold, so
    this is :class:`GatedAccumulation` with ``gate_on="outcome"`` and ``threshold=success``
    (terms held each step, paid on the final step if ``info["outcome"] >= success``,
    ``info["step_rewards"]`` and ``info["gate_open"]`` published there).

    Args:
        env: An env whose inner wrappers record ``reward_components``.
        success: The outcome that counts as success.
        gated: Component names to hold back (default: all but ``"outcome"``).
        name: Key of this wrapper's term.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.wrappers import PosteriorGate, ProcessReward
        >>> from prm_gym.rewards import RuleVerifier
        >>> env = PosteriorGate(ProcessReward(gym.make("prm/Math-v0"), RuleVerifier(), coef=0.1))
        >>> obs, info = env.reset(seed=0)
        >>> for step in env.unwrapped.task.metadata["gold_steps"]:
        ...     obs, reward, terminated, truncated, info = env.step(step)
        >>> info["gate_open"], round(sum(info["step_rewards"]), 6)
        (True, 1.4)
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        success: float = 1.0,
        gated: Sequence[str] | None = None,
        name: str = "posterior_gate",
    ) -> None:
        super().__init__(env, threshold=success, gated=gated, gate_on="outcome", name=name)


class RewardTransform(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Replaces component ``component`` by a saturating transform of it against references.

    * ``kind="par"``: :math:`r' = \\frac{1}{M}\\sum_m \\sigma(r - r_{\\mathrm{ref},m})`
      (Preference As Reward -- PAR, 2025);
    * ``kind="log_sigmoid"``: :math:`r' = \\log \\sigma(r - r_{\\mathrm{ref}})` with
      ``r_ref`` the mean of ``references`` ("Transforming and Combining Rewards for Aligning
      Large Language Models", 2024).

    The term recorded under ``name`` is ``r' − r``, so the reward becomes the transformed one
    and the components still sum to it. Steps without the component get a 0 term.

    Args:
        env: An env whose inner wrappers record ``component``.
        references: Reference rewards ``r_ref,m`` (e.g. the scorer's values for reference
            solutions).
        component: The component to transform.
        kind: ``"par"`` or ``"log_sigmoid"``.
        name: Key of this wrapper's term.
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        references: Sequence[float],
        component: str = "process",
        kind: Literal["par", "log_sigmoid"] = "par",
        name: str = "transform",
    ) -> None:
        if kind not in ("par", "log_sigmoid"):
            raise ValueError(f"kind must be 'par' or 'log_sigmoid', got {kind!r}")
        if len(references) == 0:
            raise ValueError("references must hold at least one reference reward")
        gym.utils.RecordConstructorArgs.__init__(
            self, references=references, component=component, kind=kind, name=name
        )
        gym.Wrapper.__init__(self, env)
        self.references = np.asarray(references, dtype=np.float64)
        self.component = component
        self.kind = kind
        self.name = name

    def transform(self, value: float) -> float:
        """``r'`` for a component value ``r``."""
        if self.kind == "par":
            return float(par_transform(value, self.references))
        return float(log_sigmoid_centering(value, self.references.mean()))

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        comps = reward_components(info, reward)
        term = 0.0
        if self.component in comps:
            value = comps[self.component]
            term = self.transform(value) - value
        reward = add_reward_component(info, reward, self.name, term)
        return obs, reward, terminated, truncated, info


class RewardNormalize(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Standardises component ``component`` with its running mean and std, then clips it.

    .. math:: r' = \\mathrm{clip}\\left(\\frac{r - \\mu_n}{\\sqrt{\\sigma_n^2 + \\epsilon}},
              -c, c\\right)

    where :math:`\\mu_n, \\sigma_n^2` are the mean and population variance of every value of
    the component seen so far, this one included (Welford's online update,
    :func:`prm_gym.credit.welford_update`). Statistics persist across episodes; freeze them
    with ``update=False`` for evaluation. The term recorded under ``name`` is ``r' − r``.

    Args:
        env: An env whose inner wrappers record ``component``.
        component: The component to normalise.
        clip: ``c``.
        epsilon: Added to the variance.
        name: Key of this wrapper's term.
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        component: str = "process",
        clip: float = 10.0,
        epsilon: float = 1e-8,
        name: str = "normalize",
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(
            self, component=component, clip=clip, epsilon=epsilon, name=name
        )
        gym.Wrapper.__init__(self, env)
        self.component = component
        self.clip = clip
        self.epsilon = epsilon
        self.name = name
        self.update = True
        self.count, self.mean, self.m2 = 0, 0.0, 0.0

    @property
    def var(self) -> float:
        """Population variance of the values seen so far."""
        return self.m2 / self.count if self.count else 1.0

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        comps = reward_components(info, reward)
        term = 0.0
        if self.component in comps:
            value = comps[self.component]
            if self.update:
                self.count, self.mean, self.m2 = welford_update(
                    self.count, self.mean, self.m2, value
                )
            scaled = (value - self.mean) / math.sqrt(self.var + self.epsilon)
            term = float(np.clip(scaled, -self.clip, self.clip)) - value
        reward = add_reward_component(info, reward, self.name, term)
        return obs, reward, terminated, truncated, info


class MinFormCredit(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """PURE min-form credit: holds ``component`` back and pays its softmin-weighted form at the end.

    ("Stop Summation: Min-Form Credit Assignment Is All Process Reward Model Needs for
    Reasoning", 2025 -- PURE.) With the episode's per-step values ``PR_1..PR_T`` of
    ``component``, the shaped step rewards are :math:`\\tilde r_i = w_i PR_i`,
    :math:`w = \\mathrm{softmax}(-PR/T)` (:func:`prm_gym.credit.min_form_rewards`), whose sum
    lies between :math:`\\min_i PR_i` and the mean: repeating a high-scoring step cannot raise
    it. Like :class:`GatedAccumulation`, each step adds ``−PR_t`` under ``name``; the final
    step adds :math:`\\sum_i \\tilde r_i` and publishes ``info["step_rewards"]`` (each step's
    other reward plus :math:`\\tilde r_i`) for trajectory-level trainers.

    Args:
        env: An env whose inner wrappers record ``component``.
        component: The process component to redistribute.
        temperature: ``T > 0`` (PURE: 0.1).
        name: Key of this wrapper's term.
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        component: str = "process",
        temperature: float = 0.1,
        name: str = "min_form",
    ) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        gym.utils.RecordConstructorArgs.__init__(
            self, component=component, temperature=temperature, name=name
        )
        gym.Wrapper.__init__(self, env)
        self.component = component
        self.temperature = temperature
        self.name = name
        self._held: list[float] = []
        self._kept: list[float] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._held, self._kept = [], []
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        held = reward_components(info, reward).get(self.component, 0.0)
        self._held.append(held)
        self._kept.append(float(reward) - held)
        term = -held
        if terminated or truncated:
            shaped = min_form_rewards(np.asarray(self._held), self.temperature)
            term += float(shaped.sum())
            info["step_rewards"] = (np.asarray(self._kept) + shaped).tolist()
        reward = add_reward_component(info, reward, self.name, term)
        return obs, reward, terminated, truncated, info
