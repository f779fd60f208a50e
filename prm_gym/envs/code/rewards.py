"""Dense rewards and metrics for code: the progress measure (best pass fraction), the
failed-attempt cost, VeRPO-style weighted test rewards and pass@k."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext

__all__ = ["CodeProgress", "FailedSubmissionCost", "WeightedTestPassReward", "pass_at_k"]


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


class CodeProgress:
    """Verified progress of a Code-v0 episode: the share of tests this step's submission
    passes (``info["num_passed"] / info["num_tests"]``, else the share of ``info["tests"]``
    marked ``passed``); 0 for a step without an executed submission.

    A :class:`~prm_gym.core.scorer.ProgressMeasure` for :class:`~prm_gym.wrappers.ProgressReward`,
    which pays the rise of the running maximum: the episode's dense total is the best pass
    fraction so far, paid once, so resubmitting a partial solution earns nothing more. The
    share comes from the sandbox's judge process, which the submission cannot write to
    (:meth:`prm_gym.sandbox.Sandbox.run_tests`), so printing a fake report or forging test
    events earns 0.

    Example:
        >>> from prm_gym.core import StepContext
        >>> ctx = StepContext("", (), "code", info={"num_passed": 3, "num_tests": 4})
        >>> CodeProgress().progress([ctx]).tolist()
        [0.75]
    """

    def progress(self, contexts: Sequence[StepContext]) -> np.ndarray:
        return np.array([_pass_fraction(ctx) for ctx in contexts], dtype=np.float64)


def _pass_fraction(ctx: StepContext) -> float:
    info = ctx.info if isinstance(ctx.info, Mapping) else {}
    passed, total = info.get("num_passed"), info.get("num_tests")
    if isinstance(passed, int) and isinstance(total, int) and total > 0:
        return min(1.0, max(0.0, passed / total))
    parsed = _passed_vector(ctx)
    return float(parsed[1].mean()) if parsed is not None else 0.0


class FailedSubmissionCost:
    """−1 for a submission that does not pass every test (or has no executed tests), 0 for
    one that passes all: with a small coefficient, a cost per failed attempt, so reaching the
    solution in fewer submissions returns more (partial attempts before the right one no
    longer tie with submitting it at once). Gold-free and never positive; the policy that
    maximises it submits a correct solution first.

    Example:
        >>> from prm_gym.core import StepContext
        >>> ok = StepContext("", (), "c", info={"num_passed": 2, "num_tests": 2})
        >>> bad = StepContext("", (), "c", info={"num_passed": 1, "num_tests": 2})
        >>> FailedSubmissionCost().score([ok, bad]).tolist()
        [0.0, -1.0]
    """

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        return np.array(
            [0.0 if _pass_fraction(ctx) >= 1.0 else -1.0 for ctx in contexts], dtype=np.float32
        )


class WeightedTestPassReward:
    """Dense code reward: the weighted share of passed tests, tests that fewer samples of the
    group pass weighing more, fused with the all-pass outcome.

    After VeRPO (2025; unverified: no public code was found, this implements the rule as
    REFERENCES states it): r_i = (1 − α)·Σ_j w_j·1[sample i passes test j] + α·1[sample i
    passes every test], with w_j ∝ (1 − p̂_j) + ε normalised to sum to 1, where p̂_j is test
    j's pass rate **within the group of samples for the same prompt**, smoothed as
    (k_j + ``prior_pass``) / (G + ``prior_pass`` + ``prior_fail``) for k_j passes among the
    group's G scored samples. A test every sample passes earns little; one few pass earns much.

    * :meth:`score_group` scores one group (e.g. the G completions of a GRPO group) by its own
      pass rates, the paper's rule. Samples without test results score 0 and do not count.
    * :meth:`score` (the :class:`~prm_gym.core.scorer.Scorer` API) groups its contexts by
      problem (``info["task_id"]``, else the task's id, else the prompt): a problem with at
      least ``min_group`` scored contexts in the batch is scored as a group, as above.
      **Online fallback** for a problem with fewer (e.g. one env stepping one submission at a
      time): p̂_j is test j's pass rate over the submissions of this problem scored so far
      (every episode; each :meth:`score` call weighs its batch with the statistics from before
      it, then adds it when ``update``). The fallback is not the paper's rule: a policy's
      earlier attempts, not its group, set the weights.

    Reads ``info["tests"]`` (``prm/Code-v0``: a list of dicts with ``passed``).

    Args:
        outcome_weight: α, the weight of the all-pass outcome in [0, 1].
        prior_pass: Pseudo-count of passes per test.
        prior_fail: Pseudo-count of failures per test.
        epsilon: Floor added to 1 − p̂ so always-passed tests keep a little weight.
        min_group: Contexts of one problem in a :meth:`score` batch from which they are scored
            as a group (``>= 2``).
        update: Whether :meth:`score` updates the online statistics.

    Example:
        >>> scorer = WeightedTestPassReward(outcome_weight=0.0, prior_pass=0, prior_fail=0,
        ...                                 epsilon=0.0)
        >>> group = [[True, False], [True, False], [True, True], [False, False]]
        >>> scorer.score_group(group).round(3).tolist()  # test 1 (1 of 4 pass) counts 3x more
        [0.25, 0.25, 1.0, 0.0]
    """

    def __init__(
        self,
        outcome_weight: float = 0.5,
        prior_pass: float = 1.0,
        prior_fail: float = 1.0,
        epsilon: float = 0.05,
        min_group: int = 2,
        update: bool = True,
    ) -> None:
        if not 0.0 <= outcome_weight <= 1.0:
            raise ValueError(f"outcome_weight must be in [0, 1], got {outcome_weight}")
        if prior_pass < 0 or prior_fail < 0:
            raise ValueError("prior_pass and prior_fail must be >= 0")
        if epsilon < 0:
            raise ValueError(f"epsilon must be >= 0, got {epsilon}")
        if min_group < 2:
            raise ValueError(f"min_group must be >= 2, got {min_group}")
        self.outcome_weight = outcome_weight
        self.prior_pass = prior_pass
        self.prior_fail = prior_fail
        self.epsilon = epsilon
        self.min_group = min_group
        self.update = update
        self._passes: dict[str, np.ndarray] = {}
        self._counts: dict[str, np.ndarray] = {}

    # -- the paper's rule: one group of samples for one prompt ----------------------------
    def group_weights(self, passed: np.ndarray) -> np.ndarray:
        """Test weights (sum to 1) from a ``(G, n_tests)`` 0/1 matrix of one group."""
        passed = np.asarray(passed, dtype=np.float64)
        if passed.ndim != 2 or passed.shape[1] == 0:
            raise ValueError(f"need a (samples, tests) matrix, got shape {passed.shape}")
        rates = self._rates(passed.sum(axis=0), float(passed.shape[0]))
        return self._normalise(rates)

    def score_group(self, results: Sequence[Any]) -> np.ndarray:
        """Rewards of one group of samples for the same prompt (the paper's rule).

        Args:
            results: One entry per sample: a sequence of per-test results (bools or 0/1, dicts /
                objects with ``passed``: ``info["tests"]``), an env ``info`` mapping with
                ``tests``, or ``None`` (no executed submission: reward 0, not counted).
                Scored samples must have the same number of tests.

        Returns:
            float32 rewards, one per sample.
        """
        vectors = [_as_passed(r) for r in results]
        out = np.zeros(len(vectors), dtype=np.float32)
        scored = [i for i, v in enumerate(vectors) if v is not None]
        if not scored:
            return out
        sizes = {len(vectors[i]) for i in scored}  # type: ignore[arg-type]
        if len(sizes) != 1:
            raise ValueError(f"samples of one group must have the same tests, got {sorted(sizes)}")
        matrix = np.stack([vectors[i] for i in scored])  # type: ignore[misc]
        weights = self.group_weights(matrix)
        for row, i in zip(matrix, scored, strict=True):
            out[i] = self._fuse(row, weights)
        return out

    # -- the Scorer API: groups found in the batch, else the online fallback ---------------
    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        out = np.zeros(len(contexts), dtype=np.float32)
        groups: dict[tuple[str, int], list[tuple[int, np.ndarray]]] = {}
        for i, ctx in enumerate(contexts):
            parsed = _passed_vector(ctx)
            if parsed is not None:
                problem, passed = parsed
                groups.setdefault((problem, len(passed)), []).append((i, passed))
        for (problem, num_tests), members in groups.items():
            matrix = np.stack([passed for _, passed in members])
            if len(members) >= self.min_group:
                weights = self.group_weights(matrix)
            else:
                weights = self.weights(problem, num_tests)
            for (i, _), row in zip(members, matrix, strict=True):
                out[i] = self._fuse(row, weights)
        if self.update:
            for (problem, num_tests), members in groups.items():
                passes, counts = self._stats(problem, num_tests)
                for _, passed in members:
                    passes += passed
                    counts += 1.0
        return out

    def pass_rates(self, problem: str, num_tests: int) -> np.ndarray:
        """Online fallback: smoothed pass rate of each test of ``problem`` so far."""
        passes, counts = self._stats(problem, num_tests)
        return (passes + self.prior_pass) / np.maximum(
            counts + self.prior_pass + self.prior_fail, 1e-12
        )

    def weights(self, problem: str, num_tests: int) -> np.ndarray:
        """Online fallback: current test weights of ``problem`` (sum to 1)."""
        return self._normalise(self.pass_rates(problem, num_tests))

    def reset_stats(self) -> None:
        """Forget the online statistics."""
        self._passes.clear()
        self._counts.clear()

    def _rates(self, passes: np.ndarray, samples: float) -> np.ndarray:
        denominator = samples + self.prior_pass + self.prior_fail
        return (passes + self.prior_pass) / max(denominator, 1e-12)

    def _normalise(self, rates: np.ndarray) -> np.ndarray:
        raw = 1.0 - rates + self.epsilon
        total = raw.sum()
        return raw / total if total > 0 else np.full(len(rates), 1.0 / len(rates))

    def _fuse(self, passed: np.ndarray, weights: np.ndarray) -> float:
        dense = float(weights @ passed)
        outcome = float(passed.all())
        return (1.0 - self.outcome_weight) * dense + self.outcome_weight * outcome

    def _stats(self, problem: str, num_tests: int) -> tuple[np.ndarray, np.ndarray]:
        key = f"{problem}\x00{num_tests}"
        if key not in self._passes:
            self._passes[key] = np.zeros(num_tests)
            self._counts[key] = np.zeros(num_tests)
        return self._passes[key], self._counts[key]


def _as_passed(result: Any) -> np.ndarray | None:
    if result is None:
        return None
    if isinstance(result, Mapping):
        result = result.get("tests")
        if result is None:
            return None
    if isinstance(result, (str, bytes)) or not isinstance(result, (Sequence, np.ndarray)):
        raise TypeError(f"a sample's results must be a sequence of tests, got {type(result)}")
    if len(result) == 0:
        return None
    return np.array(
        [
            bool(t)
            if isinstance(t, (bool, int, float, np.bool_, np.number))
            else bool(_get(t, "passed"))
            for t in result
        ],
        dtype=np.float64,
    )


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
