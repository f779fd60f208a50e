"""Dense rewards and metrics for code: difficulty-weighted test rewards and pass@k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext

__all__ = ["WeightedTestPassReward", "pass_at_k"]


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from ``n`` samples of which ``c`` passed: 1 − C(n−c, k) / C(n, k),
    computed stably as 1 − Π_{i=n−c+1..n} (1 − k/i) (Chen et al., "Evaluating Large Language
    Models Trained on Code", 2021).

    Example:
        >>> round(pass_at_k(10, 3, 1), 6)
        0.3
        >>> round(pass_at_k(5, 2, 2), 6)
        0.7
    """
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


class WeightedTestPassReward:
    """Dense code reward: the weighted share of passed tests, harder tests weighing more,
    fused with the all-pass outcome.

    After VeRPO (2025; unverified: no public code was found, this implements the rule stated
    in its abstract): r = (1 − α)·Σ_j w_j·1[test j passes] + α·1[all tests pass], with
    weights w_j ∝ (1 − p̂_j) + ε normalised to sum to 1, where p̂_j is test j's pass rate
    observed so far on this problem (online, over every scored submission of every episode;
    Beta(``prior_pass``, ``prior_fail``)-smoothed so unseen tests start equal). A test that
    most submissions pass earns little; one that few pass earns much. Statistics update after
    each ``score`` call (a batch is weighed with the statistics from before it).

    Reads ``info["tests"]`` (``prm/Code-v0``: a list of dicts with ``passed``) and the problem
    from ``info["task_id"]``; contexts without tests (invalid submissions) score 0.

    Args:
        outcome_weight: α, the weight of the all-pass outcome in [0, 1].
        prior_pass: Pseudo-count of passes per test.
        prior_fail: Pseudo-count of failures per test.
        epsilon: Floor added to 1 − p̂ so always-passed tests keep a little weight.
        update: Whether scoring updates the pass-rate statistics.

    Example:
        >>> from prm_gym.core import StepContext
        >>> scorer = WeightedTestPassReward(outcome_weight=0.0)
        >>> def ctx(*passed):
        ...     tests = [{"passed": p} for p in passed]
        ...     return StepContext("", (), "code", info={"task_id": "t", "tests": tests})
        >>> scorer.score([ctx(True, False)]).round(3).tolist()  # equal weights at first
        [0.5]
        >>> _ = scorer.score([ctx(True, False)] * 4)  # test 0 is easy, test 1 is hard
        >>> bool(scorer.score([ctx(False, True)])[0] > scorer.score([ctx(True, False)])[0])
        True
    """

    def __init__(
        self,
        outcome_weight: float = 0.5,
        prior_pass: float = 1.0,
        prior_fail: float = 1.0,
        epsilon: float = 0.05,
        update: bool = True,
    ) -> None:
        if not 0.0 <= outcome_weight <= 1.0:
            raise ValueError(f"outcome_weight must be in [0, 1], got {outcome_weight}")
        if prior_pass < 0 or prior_fail < 0 or prior_pass + prior_fail <= 0:
            raise ValueError("prior_pass and prior_fail must be >= 0 with a positive sum")
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        self.outcome_weight = outcome_weight
        self.prior_pass = prior_pass
        self.prior_fail = prior_fail
        self.epsilon = epsilon
        self.update = update
        self._passes: dict[str, np.ndarray] = {}
        self._counts: dict[str, np.ndarray] = {}

    def pass_rates(self, problem: str, num_tests: int) -> np.ndarray:
        """Smoothed observed pass rate of each test of ``problem``."""
        passes, counts = self._stats(problem, num_tests)
        return (passes + self.prior_pass) / (counts + self.prior_pass + self.prior_fail)

    def weights(self, problem: str, num_tests: int) -> np.ndarray:
        """Current test weights of ``problem`` (sum to 1)."""
        raw = 1.0 - self.pass_rates(problem, num_tests) + self.epsilon
        total = raw.sum()
        return raw / total if total > 0 else np.full(num_tests, 1.0 / num_tests)

    def reset_stats(self) -> None:
        """Forget every observed pass rate."""
        self._passes.clear()
        self._counts.clear()

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = np.zeros(len(contexts), dtype=np.float32)
        observed: list[tuple[str, np.ndarray]] = []
        for i, ctx in enumerate(contexts):
            parsed = _passed_vector(ctx)
            if parsed is None:
                continue
            problem, passed = parsed
            dense = float(self.weights(problem, len(passed)) @ passed)
            outcome = float(passed.all())
            out[i] = (1.0 - self.outcome_weight) * dense + self.outcome_weight * outcome
            observed.append((problem, passed))
        if self.update:
            for problem, passed in observed:
                passes, counts = self._stats(problem, len(passed))
                passes += passed
                counts += 1.0
        return out

    def _stats(self, problem: str, num_tests: int) -> tuple[np.ndarray, np.ndarray]:
        key = f"{problem}\x00{num_tests}"
        if key not in self._passes:
            self._passes[key] = np.zeros(num_tests)
            self._counts[key] = np.zeros(num_tests)
        return self._passes[key], self._counts[key]


def _passed_vector(ctx: StepContext) -> tuple[str, np.ndarray] | None:
    tests = ctx.info.get("tests") if isinstance(ctx.info, Mapping) else None
    if not isinstance(tests, Sequence) or isinstance(tests, str) or not tests:
        return None
    passed = np.array([bool(_get(t, "passed")) for t in tests], dtype=np.float64)
    problem = ctx.info.get("task_id")
    if problem is None and ctx.task is not None:
        problem = getattr(ctx.task, "id", None)
    return str(problem if problem is not None else ctx.prompt), passed


def _get(test: Any, key: str) -> Any:
    return test.get(key) if isinstance(test, Mapping) else getattr(test, key, None)
