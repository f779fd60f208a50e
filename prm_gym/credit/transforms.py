"""Pure reward transforms: preference-style centring, running normalisation, MC step rewards.

All functions are NumPy-only and elementwise or vectorised along the last axis, so reward
wrappers (:mod:`prm_gym.wrappers.transform`) and scorers (:mod:`prm_gym.rewards`) share one
definition that property tests check against the formulas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "implicit_step_rewards",
    "log_sigmoid_centering",
    "par_transform",
    "progress_from_values",
    "vsrm_step_rewards",
    "welford_update",
]


def _log_sigmoid(x: FloatArray) -> FloatArray:
    # log σ(x) = −log(1 + e^{−x}) = min(x, 0) − log1p(e^{−|x|}), stable for any finite x.
    out: FloatArray = np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))
    return out


def par_transform(reward: npt.ArrayLike, references: npt.ArrayLike) -> FloatArray:
    r"""Preference As Reward: the mean win probability of ``reward`` against reference rewards.

    .. math:: r_{\mathrm{RL}} = \frac{1}{M} \sum_{m=1}^{M} \sigma(r - r_{\mathrm{ref},m})

    (Preference As Reward -- PAR, 2025; reference code ``PorUna-byte/PAR``
    ``trainers/reward_shaper.py``.) The result lies in ``(0, 1)``, is
    increasing in ``r`` and saturates, so a policy gains little from pushing ``r`` far above
    the references.

    Args:
        reward: Rewards ``r``, any shape ``S``.
        references: Reference rewards, shape ``(M,)`` (shared) or ``S + (M,)`` (per element).

    Returns:
        Transformed rewards, shape ``S``.

    Raises:
        ValueError: No references, or their shape fits neither form.
    """
    r = np.asarray(reward, dtype=np.float64)
    refs = np.asarray(references, dtype=np.float64)
    if refs.ndim == 0 or refs.shape[-1] == 0:
        raise ValueError("references must hold at least one reference reward (shape (..., M))")
    if refs.ndim > 1 and refs.shape[:-1] != r.shape:
        raise ValueError(f"references shape {refs.shape} must be (M,) or {(*r.shape, 'M')}")
    diff = r[..., np.newaxis] - refs
    out: FloatArray = np.exp(_log_sigmoid(diff)).mean(axis=-1)
    return out


def log_sigmoid_centering(reward: npt.ArrayLike, reference: npt.ArrayLike) -> FloatArray:
    r"""Log-sigmoid centring of a reward against a reference reward.

    .. math:: r' = \log \sigma(r - r_{\mathrm{ref}})

    (Wang et al., "Transforming and Combining Rewards for Aligning Large Language Models",
    2024.) ``r'`` is the log-probability that the sample beats the reference; it is ``<= 0``,
    saturates at 0 for ``r >> r_ref`` and falls linearly for ``r << r_ref``, so summing ``r'``
    over several properties behaves like a soft logical AND. Broadcasts like NumPy.
    """
    diff = np.asarray(reward, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    return _log_sigmoid(diff)


def welford_update(count: int, mean: float, m2: float, value: float) -> tuple[int, float, float]:
    r"""One step of Welford's online mean/variance algorithm.

    .. math:: n' = n + 1, \quad \mu' = \mu + \frac{x - \mu}{n'}, \quad
              M_2' = M_2 + (x - \mu)(x - \mu')

    The population variance after ``n`` values is ``M_2 / n`` (Welford, "Note on a method for
    calculating corrected sums of squares and products", Technometrics 1962).

    Returns:
        ``(n', mu', M2')``.
    """
    count += 1
    delta = value - mean
    mean += delta / count
    m2 += delta * (value - mean)
    return count, mean, m2


def progress_from_values(values: npt.ArrayLike) -> FloatArray:
    r"""Per-step progress from prefix values: :math:`A_h = V(s_{h+1}) - V(s_h)`.

    ("Rewarding Progress: Scaling Automated Process Verifiers for LLM Reasoning", Setlur et
    al., 2024 -- PAV; partly unverified.) ``values`` has shape ``(..., T + 1)``
    (``V(s_0) .. V(s_T)``); the result has shape ``(..., T)`` and sums to ``V(s_T) − V(s_0)``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.ndim == 0 or v.shape[-1] < 1:
        raise ValueError("values must have shape (..., T + 1) with T + 1 >= 1")
    out: FloatArray = np.diff(v, axis=-1)
    return out


def vsrm_step_rewards(
    accuracies: npt.ArrayLike, lookahead: int = 4, discount: float = 0.7
) -> FloatArray:
    r"""VSRM step rewards from the accuracies of completions sampled after each prefix.

    With ``acc_0 .. acc_T`` (``acc_j`` = fraction of completions from prefix ``j`` that are
    correct; ``acc_0`` is the empty prefix), step ``j`` (0-based) gets

    .. math:: d_j = acc_{j+1} - acc_j, \qquad
              r_j = \begin{cases} d_j & d_j \ne 0 \\
                                  \gamma^{k} d_{j+k} & d_j = 0,\
                                  k = \min\{1 \le k \le K : d_{j+k} \ne 0\} \\
                                  0 & \text{no such } k \end{cases}

    with ``K = lookahead`` and ``gamma = discount``: a flat step inherits the next change
    within ``K`` steps, discounted by its distance. (VSRM, verifiable stepwise reward, 2025;
    reference code ``1benwu1/VSRM-Efficient-LRMs``. The look-ahead rule is our reading of the
    paper's description, not checked against its code.)

    Args:
        accuracies: Shape ``(T + 1,)``.
        lookahead: ``K >= 0``.
        discount: ``gamma`` in ``[0, 1]``.

    Returns:
        Step rewards, shape ``(T,)``.
    """
    acc = np.asarray(accuracies, dtype=np.float64)
    if acc.ndim != 1 or acc.shape[0] < 1:
        raise ValueError(f"accuracies must have shape (T + 1,), got {acc.shape}")
    if lookahead < 0 or not 0.0 <= discount <= 1.0:
        raise ValueError("lookahead must be >= 0 and discount in [0, 1]")
    diffs = np.diff(acc)
    out = diffs.copy()
    for j in np.flatnonzero(diffs == 0.0):
        for k in range(1, lookahead + 1):
            if j + k >= len(diffs):
                break
            if diffs[j + k] != 0.0:
                out[j] = discount**k * diffs[j + k]
                break
    return out


def implicit_step_rewards(
    token_log_ratios: npt.ArrayLike,
    step_ends: Sequence[int],
    beta: float = 0.05,
    mode: Literal["single", "accumulative"] = "single",
) -> FloatArray:
    r"""Implicit-PRM step rewards from per-token log-ratios of a response.

    With :math:`q_t = \log \pi_\theta(y_t) - \log \pi_{\mathrm{ref}}(y_t)` and ``step_ends[k]``
    the (exclusive) token index where step ``k`` ends,

    .. math:: Q_k = \sum_{t < e_k} \beta\, q_t, \qquad
              \text{single: } Q_k - Q_{k-1} \ (Q_{-1} = 0), \qquad
              \text{accumulative: } Q_k .

    ("Free Process Rewards without Process Labels", Yuan et al., 2024; "Process Reinforcement
    through Implicit Rewards", Cui et al., 2025 -- PRIME.)
    """
    q = np.asarray(token_log_ratios, dtype=np.float64)
    if q.ndim != 1:
        raise ValueError(f"token_log_ratios must be 1-D, got shape {q.shape}")
    ends = np.asarray(step_ends, dtype=np.int64)
    if ends.size and (np.any(np.diff(ends) < 0) or ends[0] < 0 or ends[-1] > len(q)):
        raise ValueError("step_ends must be non-decreasing indices in [0, len(token_log_ratios)]")
    if mode not in ("single", "accumulative"):
        raise ValueError(f"mode must be 'single' or 'accumulative', got {mode!r}")
    cumulative = np.concatenate(([0.0], np.cumsum(beta * q)))
    values: FloatArray = cumulative[ends]
    if mode == "single":
        values = np.diff(np.concatenate(([0.0], values)))
    return values
