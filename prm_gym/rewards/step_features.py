"""A small learned PRM over hand-made arithmetic features of each step (numpy only).

The fallback of :func:`prm_gym.rewards.prm_training.train_prm` (``format="step_features"``)
when a from-scratch transformer cannot learn to check arithmetic in a CI budget: each step is
turned into a few numbers -- how far each written result is from the value its left side
evaluates to (log-scaled), whether their last digits agree, whether a boxed answer repeats the
last value computed so far, whether a result turned negative from non-negative operands -- and
a one-hidden-layer MLP maps them to ``P(step is correct)``. The parsing reuses the maths env's
claim extractor (:func:`prm_gym.envs.math.steps.extract_claims`), so this model is a *learned
weighting of rule-verifier evidence*, not an arithmetic learner; it needs no torch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext

__all__ = ["StepFeaturePRM", "step_features"]

_N_FEATURES = 8


def _boxed(step: str) -> Fraction | None:
    from prm_gym.envs.math.answers import extract_final_answer, parse_number

    answer = extract_final_answer(step)
    return parse_number(answer) if answer is not None else None


def _results(step: str) -> list[Fraction]:
    from prm_gym.envs.math.steps import extract_claims

    out: list[Fraction] = []
    for claim in extract_claims(step):
        out.extend(claim.results)
    return out


def step_features(prompt: str, previous_steps: Sequence[str], step: str) -> np.ndarray:
    """The feature vector (float64, length 8) of ``step`` after ``previous_steps``."""
    from prm_gym.envs.math.steps import extract_claims

    f = np.zeros(_N_FEATURES)
    claims = extract_claims(step)
    f[0] = float(bool(claims))
    gaps = []
    for claim in claims:
        if claim.lhs_value is None or claim.rhs_value is None:
            gaps.append((1e6, 0.0, 1.0))
            continue
        gap = abs(claim.lhs_value - claim.rhs_value)
        gap = max(Fraction(0), gap - claim.tolerance)
        digits_differ = float(int(claim.lhs_value) % 10 != int(claim.rhs_value) % 10)
        negative = float(claim.rhs_value < 0 <= min(claim.operands, default=Fraction(0)))
        gaps.append((float(gap), digits_differ, negative))
    if gaps:
        worst = max(gaps)
        f[1] = np.log1p(worst[0])
        f[2] = float(worst[0] / (1.0 + worst[0]))
        f[3] = max(g[1] for g in gaps)
        f[4] = max(g[2] for g in gaps)
    boxed = _boxed(step)
    if boxed is not None:
        f[5] = 1.0
        earlier = [v for s in previous_steps for v in _results(s)]
        if earlier:
            distance = float(abs(boxed - earlier[-1]))
            f[6] = float(distance != 0.0)
            f[7] = np.log1p(distance)
    return f


class StepFeaturePRM:
    """A step scorer: a one-hidden-layer MLP over :func:`step_features`, ``P(correct)``.

    Built and trained by :meth:`fit` (full-batch gradient descent with Adam on binary cross-
    entropy, soft labels allowed); :meth:`save` / :meth:`load` use ``weights.npz`` plus
    ``prm_format.txt`` in a directory.
    """

    def __init__(self, params: dict[str, np.ndarray]) -> None:
        self.params = params

    # -- scoring ----------------------------------------------------------------------------
    def _forward(self, x: np.ndarray) -> np.ndarray:
        p = self.params
        z = (x - p["mean"]) / p["std"]
        h = np.tanh(z @ p["w1"] + p["b1"])
        logit = h @ p["w2"] + p["b2"]
        return np.asarray(1.0 / (1.0 + np.exp(-logit[:, 0])))

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """``P(correct)`` of each context's step, float32."""
        if not contexts:
            return np.zeros(0, dtype=np.float32)
        x = np.stack([step_features(c.prompt, c.previous_steps, c.action) for c in contexts])
        return self._forward(x).astype(np.float32)

    def score_steps(self, prompt: str, steps: Sequence[str]) -> np.ndarray:
        """Scores of every step of one solution, float32."""
        contexts = [
            StepContext(prompt=prompt, previous_steps=tuple(steps[:k]), action=s)
            for k, s in enumerate(steps)
        ]
        return self.score(contexts)

    # -- training ---------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: np.ndarray,
        *,
        hidden: int = 16,
        epochs: int = 300,
        lr: float = 0.03,
        seed: int = 0,
        progress: Any = None,
    ) -> StepFeaturePRM:
        """Train on features ``x`` (N, 8) and labels ``y`` in [0, 1] (1 = correct step)."""
        rng = np.random.default_rng(seed)
        mean, std = x.mean(0), x.std(0) + 1e-6
        params = {
            "mean": mean,
            "std": std,
            "w1": rng.normal(0, 0.5, (x.shape[1], hidden)),
            "b1": np.zeros(hidden),
            "w2": rng.normal(0, 0.5, (hidden, 1)),
            "b2": np.zeros(1),
        }
        m = {k: np.zeros_like(v) for k, v in params.items()}
        v = {k: np.zeros_like(val) for k, val in params.items()}
        z = (x - mean) / std
        for t in range(1, epochs + 1):
            h = np.tanh(z @ params["w1"] + params["b1"])
            prob = 1.0 / (1.0 + np.exp(-(h @ params["w2"] + params["b2"])[:, 0]))
            d_logit = (prob - y)[:, None] / len(y)
            grads = {
                "w2": h.T @ d_logit,
                "b2": d_logit.sum(0),
            }
            d_h = (d_logit @ params["w2"].T) * (1 - h**2)
            grads["w1"] = z.T @ d_h
            grads["b1"] = d_h.sum(0)
            for k, g in grads.items():
                m[k] = 0.9 * m[k] + 0.1 * g
                v[k] = 0.999 * v[k] + 0.001 * g**2
                m_hat, v_hat = m[k] / (1 - 0.9**t), v[k] / (1 - 0.999**t)
                params[k] = params[k] - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
            if progress is not None:
                progress.update(1)
        return cls(params)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``weights.npz`` and ``prm_format.txt`` (``step_features``) into ``path``."""
        directory = os.fspath(path)
        os.makedirs(directory, exist_ok=True)
        arrays: dict[str, Any] = dict(self.params)
        np.savez(os.path.join(directory, "weights.npz"), **arrays)
        with open(os.path.join(directory, "prm_format.txt"), "w", encoding="utf-8") as fh:
            fh.write("step_features\n")
        with open(os.path.join(directory, "features.json"), "w", encoding="utf-8") as fh:
            json.dump({"n_features": _N_FEATURES}, fh)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> StepFeaturePRM:
        """The model saved by :meth:`save` in ``path``."""
        with np.load(os.path.join(os.fspath(path), "weights.npz")) as data:
            return cls({k: np.asarray(data[k]) for k in data.files})
