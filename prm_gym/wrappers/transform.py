"""Reward transforms and trajectory-level credit rules applied to named components.

* :class:`PosteriorGate` -- process terms count only when the outcome succeeds (P-GRPO).
* :class:`RewardTransform` -- PAR or log-sigmoid centring of one component.
* :class:`RewardNormalize` -- running standardisation of one component (Welford), clipped.
* :class:`MinFormCredit` -- PURE min-form redistribution of one component over the episode.

Each records its term (the change it makes) under its own name in
``info["reward_components"]``, so the components still sum to the reward returned. A transform
links its term to the component it rewrites (``info["reward_modifiers"]``), so a transform
outside another sees the already transformed value and :class:`MinFormCredit` or a gate with
an explicit ``gated`` list holds the transformed value. The maths lives in
:mod:`prm_gym.credit`; the composition rules in :mod:`prm_gym.wrappers.components`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.credit import log_sigmoid_centering, min_form_rewards, par_transform, welford_update
from prm_gym.wrappers.components import (
    EpisodeLedger,
    EpisodeTerms,
    RewardRole,
    check_composition,
    component_keys,
    component_value,
    record_reward_component,
    reward_components,
    reward_role,
)
from prm_gym.wrappers.gating import GatedAccumulation

__all__ = ["MinFormCredit", "PosteriorGate", "RewardNormalize", "RewardTransform"]


class PosteriorGate(GatedAccumulation):
    """Process reward only on success: :class:`GatedAccumulation` gated on the outcome.

    Posterior-GRPO (2025; unverified) applies the process reward only to rollouts whose outcome
    is a success. That is G-RA with the outcome as the gate and success as the threshold, so
    this is :class:`GatedAccumulation` with ``gate_on="outcome"`` and ``threshold=success``
    (terms held each step, paid on the final step if the outcome -- ``info["outcome"]``, else
    ``info["is_success"]`` -- is ``>= success``,
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
    and the components still sum to it. Steps without the component get a 0 term. ``r`` is the
    component's current value (a transform inside this one already applied). Refused outside a
    trajectory-level wrapper that holds ``component`` back (put it inside:
    ``GatedAccumulation(RewardTransform(...))``).

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
        self.reward_role = RewardRole(reads=(component,))
        check_composition(self, self.reward_role)
        self._terms = EpisodeTerms()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._terms.reset()
        return self.env.reset(seed=seed, options=options)

    def transform(self, value: float) -> float:
        """``r'`` for a component value ``r``."""
        if self.kind == "par":
            return float(par_transform(value, self.references))
        return float(log_sigmoid_centering(value, self.references.mean()))

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward_components(info, reward)
        value = component_value(info, self.component)
        term = 0.0 if value is None else self.transform(value) - value
        done = terminated or truncated
        reward = self._terms.add(info, reward, self.name, term, done, modifies=self.component)
        return obs, reward, terminated, truncated, info


class RewardNormalize(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Standardises component ``component`` with its running mean and std, then clips it.

    .. math:: r' = \\mathrm{clip}\\left(\\frac{r - \\mu_n}{\\sqrt{\\sigma_n^2 + \\epsilon}},
              -c, c\\right)

    where :math:`\\mu_n, \\sigma_n^2` are the mean and population variance of every value of
    the component seen so far, this one included (Welford's online update,
    :func:`prm_gym.credit.welford_update`). Statistics persist across episodes; freeze them
    with ``update=False`` for evaluation. The term recorded under ``name`` is ``r' − r``, with
    ``r`` the component's current value (transforms inside applied). Refused outside a
    trajectory-level wrapper that holds ``component`` back.

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
        self.reward_role = RewardRole(reads=(component,))
        check_composition(self, self.reward_role)
        self._terms = EpisodeTerms()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._terms.reset()
        return self.env.reset(seed=seed, options=options)

    @property
    def var(self) -> float:
        """Population variance of the values seen so far."""
        return self.m2 / self.count if self.count else 1.0

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward_components(info, reward)
        value = component_value(info, self.component)
        term = 0.0
        if value is not None:
            if self.update:
                self.count, self.mean, self.m2 = welford_update(
                    self.count, self.mean, self.m2, value
                )
            scaled = (value - self.mean) / math.sqrt(self.var + self.epsilon)
            term = float(np.clip(scaled, -self.clip, self.clip)) - value
        done = terminated or truncated
        reward = self._terms.add(info, reward, self.name, term, done, modifies=self.component)
        return obs, reward, terminated, truncated, info


class MinFormCredit(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """PURE min-form credit: holds ``component`` back and pays its softmin-weighted form at the end.

    ("Stop Summation: Min-Form Credit Assignment Is All Process Reward Model Needs for
    Reasoning", 2025 -- PURE.) With the episode's per-step values ``PR_1..PR_T`` of
    ``component`` (transforms of it inside included), the shaped step rewards are
    :math:`\\tilde r_i = w_i PR_i`, :math:`w = \\mathrm{softmax}(-(PR/s)/T)`
    (:func:`prm_gym.credit.min_form_rewards`), whose sum lies between :math:`\\min_i PR_i` and
    the mean: repeating or padding with high-scoring steps cannot raise it. Like
    :class:`GatedAccumulation`, each step adds ``−PR_t`` under ``name``; the final step adds
    :math:`\\sum_i \\tilde r_i` and publishes ``info["step_rewards"]`` (each step's other reward
    plus :math:`\\tilde r_i`) and ``info["step_reward_components"]`` for trajectory-level
    trainers.

    **Temperature on the unscaled score.** PURE applies ``T`` to the step score
    ``PR/s ∈ [−1, 1]``, not to the reward ``coef · score``; otherwise a small ``coef`` turns the
    softmin into a plain mean and padding a false step with true ones raises the return. The
    scale ``s`` is ``scale`` when given, else read from the nearest wrapper inside that
    produces ``component``: the ``coef`` of a :class:`ProcessReward` /
    :class:`~prm_gym.wrappers.ProgressReward` (``abs(coef)``, 1 when it is 0), or 1 for a
    :class:`RewardTransform` / :class:`RewardNormalize` of it (their output is not scaled by
    ``coef``) and for producers without a ``coef``.

    **Order.** Put it inside any gate (``GatedAccumulation(MinFormCredit(ProcessReward(...)))``):
    outside a trajectory-level wrapper that holds ``component`` it would remove the term a
    second time and is refused, as is a wrapper recording ``component`` outside it.

    Args:
        env: An env whose inner wrappers record ``component``.
        component: The process component to redistribute.
        temperature: ``T > 0`` (PURE: 0.1), applied to ``PR / scale``.
        scale: ``s > 0``, the factor the step scores were multiplied by (default: found from the
            producer inside, see above; required when none is found).
        name: Key of this wrapper's term.

    Raises:
        ValueError: ``temperature`` or ``scale`` is not positive, no wrapper inside records
            ``component`` and no ``scale`` is given, or the order is refused.
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        component: str = "process",
        temperature: float = 0.1,
        name: str = "min_form",
        scale: float | None = None,
    ) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if scale is not None and not (scale > 0 and math.isfinite(scale)):
            raise ValueError(f"scale must be a positive finite number, got {scale}")
        gym.utils.RecordConstructorArgs.__init__(
            self, component=component, temperature=temperature, name=name, scale=scale
        )
        gym.Wrapper.__init__(self, env)
        self.component = component
        self.temperature = temperature
        self.name = name
        self.reward_role = RewardRole(reads=(component,), holds=(component,))
        check_composition(self, self.reward_role)
        self.scale = float(scale) if scale is not None else _producer_scale(env, component)
        self._ledger = EpisodeLedger()
        self._held: list[float] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._ledger.reset()
        self._held = []
        return self.env.reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._ledger.record(reward_components(info, reward))
        held = component_value(info, self.component) or 0.0
        self._held.append(held)
        term = -held
        done = terminated or truncated
        shaped = np.zeros(0)
        view: dict[str, np.ndarray] = {}
        if done:
            view = self._ledger.view(info)
            process = np.zeros(len(self._held))
            for key in component_keys(info, self.component):
                if key in view:
                    process += view[key]
            shaped = min_form_rewards(process, self.temperature, scale=self.scale)
            term += float(shaped.sum())
            view["__own__"] = shaped - process
        reward, key = record_reward_component(info, reward, self.name, term)
        if done:
            view[key] = view.pop("__own__")
            self._ledger.publish(info, view)
        return obs, reward, terminated, truncated, info


def _producer_scale(env: gym.Env[Any, Any], component: str) -> float:
    """The scale of ``component`` as the nearest wrapper inside ``env`` produces it."""
    scale: float | None = None
    while isinstance(env, gym.Wrapper):
        role = reward_role(env)
        transform = isinstance(env, (RewardTransform, RewardNormalize))
        if scale is None and component in role.reads and transform:
            scale = 1.0  # a transform's output is not scaled by the producer's coef
        if component in role.records:
            coef = getattr(env, "coef", None)
            if scale is None and isinstance(coef, (int, float)) and coef != 0:
                scale = abs(float(coef))
            return 1.0 if scale is None else scale
        env = env.env
    raise ValueError(
        f"MinFormCredit(component={component!r}) found no wrapper inside it that records "
        f"{component!r}: wrap it around the producer, e.g. MinFormCredit(ProcessReward(env, ...)), "
        "or pass scale= (the factor the step scores were multiplied by)"
    )
