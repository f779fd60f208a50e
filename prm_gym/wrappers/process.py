"""Dense step rewards from a scorer (a PRM, a rule verifier, an LLM judge)."""

from __future__ import annotations

from typing import Any, Literal, SupportsFloat

import gymnasium as gym
import numpy as np

from prm_gym.core.scorer import Scorer, StepContext
from prm_gym.wrappers.components import EpisodeTerms, RewardRole, check_composition

__all__ = ["ProcessReward"]


class ProcessReward(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Adds ``coef * scorer(step)`` to every step's reward, recorded as ``name``.

    The wrapper keeps its own history (prompt, earlier actions) from the reset observation and
    the action stream, and passes ``env.unwrapped.task`` to the scorer when the env has one (rule
    verifiers use the task's known values; learned scorers must ignore its gold). When a
    single-turn env splits the action into ``info["steps"]``, each sub-step is scored in context
    and the term is ``coef * aggregate(scores)``; the per-step scores are published as
    ``info["process_scores"]``. Actions the env rejected (``info["action_valid"] is False``) are
    not scored: their term is ``coef * invalid_score`` and they do not enter the history that
    later steps are scored against, matching the env's own view of the solution.

    **Hazard: this is the raw per-step sum, and it can be farmed.** Every step the scorer likes
    is paid again: a policy that pads its solution with true but useless steps, or repeats
    one, collects more than the gold solution (on prm/Math-v0, counting up ``1 + 2 = 3``,
    ``2 + 3 = 5``, ... before the answer returns 17.0 against the gold's 4.6 at coef 1, gated
    or not; ``benchmarks/reward_integrity.py``). Prefer :class:`~prm_gym.wrappers.ProgressReward`
    (each unit of verified progress paid once) or ``prm_gym.make_dense(env_id)``, and check any
    stack with :func:`prm_gym.testing.check_reward_integrity`. A gate
    (:class:`GatedAccumulation`) only stops a failing policy from farming.

    Outside a trajectory-level wrapper the term is paid every step and added to that
    wrapper's ``info["step_rewards"]`` on the final step; it is refused outside a wrapper that
    acts on ``name`` by name (e.g. ``MinFormCredit(component="process")``), which would never
    see it.

    Args:
        env: A text env (observation ``str``).
        scorer: Any :class:`~prm_gym.core.scorer.Scorer`.
        coef: Weight of the scorer's output in the reward.
        name: Key under ``info["reward_components"]``.
        aggregate: How sub-step scores combine in single-turn mode: ``"mean"``, ``"min"``
            or ``"sum"``.
        invalid_score: Score given to an action the env rejected.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.wrappers import ProcessReward
        >>> from prm_gym.rewards import RuleVerifier
        >>> env = ProcessReward(gym.make("prm/Math-v0"), RuleVerifier(), coef=0.1)
        >>> obs, info = env.reset(seed=0)
        >>> first = env.unwrapped.task.metadata["gold_steps"][0]
        >>> obs, reward, terminated, truncated, info = env.step(first)
        >>> info["reward_components"]
        {'outcome': 0.0, 'process': 0.1}
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        scorer: Scorer,
        coef: float = 1.0,
        name: str = "process",
        aggregate: Literal["mean", "min", "sum"] = "mean",
        invalid_score: float = 0.0,
    ) -> None:
        if aggregate not in ("mean", "min", "sum"):
            raise ValueError(f"aggregate must be 'mean', 'min' or 'sum', got {aggregate!r}")
        if not hasattr(scorer, "score"):
            raise TypeError("scorer must have a score(contexts) -> np.ndarray method")
        gym.utils.RecordConstructorArgs.__init__(
            self,
            scorer=scorer,
            coef=coef,
            name=name,
            aggregate=aggregate,
            invalid_score=invalid_score,
        )
        gym.Wrapper.__init__(self, env)
        self.scorer = scorer
        self.coef = coef
        self.name = name
        self.aggregate = aggregate
        self.invalid_score = invalid_score
        self.reward_role = RewardRole(records=(name,))
        check_composition(self, self.reward_role)
        self._terms = EpisodeTerms()
        self._prompt = ""
        self._steps: list[str] = []

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        self._prompt = obs if isinstance(obs, str) else str(obs)
        self._steps = []
        self._terms.reset()
        return obs, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        task = getattr(self.env.unwrapped, "task", None)
        response = obs if isinstance(obs, str) else str(obs)
        sub_steps = info.get("steps")
        if info.get("action_valid") is False:
            value = self.invalid_score
        elif isinstance(sub_steps, list):
            contexts = [
                StepContext(self._prompt, tuple(sub_steps[:i]), s, response, info, task)
                for i, s in enumerate(sub_steps)
            ]
            scores = self._score(contexts)
            info["process_scores"] = scores.tolist()
            value = float(getattr(np, self.aggregate)(scores)) if len(scores) else 0.0
        else:
            context = StepContext(
                self._prompt, tuple(self._steps), str(action), response, info, task
            )
            value = float(self._score([context])[0])
            self._steps.append(str(action))
        done = terminated or truncated
        reward = self._terms.add(info, reward, self.name, self.coef * value, done)
        return obs, reward, terminated, truncated, info

    def _score(self, contexts: list[StepContext]) -> np.ndarray:
        scores = np.asarray(self.scorer.score(contexts), dtype=np.float64).reshape(-1)
        if len(scores) != len(contexts):
            raise ValueError(
                f"{type(self.scorer).__name__}.score returned {len(scores)} values for "
                f"{len(contexts)} contexts"
            )
        return scores
