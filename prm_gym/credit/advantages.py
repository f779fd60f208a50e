"""Group-relative advantage estimators: RLOO, GRPO / Dr. GRPO, masked whitening and PRIME.

All functions are pure and vectorised over NumPy arrays; no framework tensors are involved.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from prm_gym.credit.returns import BoolArray, FloatArray, _as_bool, _as_float

__all__ = [
    "group_normalized_advantages",
    "masked_whiten",
    "prime_advantages",
    "rloo_advantages",
]


def _group_axis(array: FloatArray, axis: int) -> int:
    if not -array.ndim <= axis < array.ndim:
        raise ValueError(f"axis {axis} is out of range for an array of shape {array.shape}")
    return axis % array.ndim


def _check_eps(eps: float) -> None:
    if not eps >= 0.0:
        raise ValueError(f"eps must be >= 0, got {eps}")


def rloo_advantages(rewards: npt.ArrayLike, axis: int = -1) -> FloatArray:
    r"""REINFORCE leave-one-out (RLOO) advantages over a group of ``K`` samples.

    .. math:: A_i = r_i - \frac{1}{K - 1} \sum_{j \ne i} r_j

    taken along ``axis``, the group axis. (Kool, van Hoof & Welling, "Buy 4 REINFORCE
    Samples, Get a Baseline for Free!", ICLR DeepRLStructPred workshop 2019; Ahmadian et al.,
    "Back to Basics: Revisiting REINFORCE Style Optimization for Learning from Human Feedback
    in LLMs", ACL 2024.) The baseline excludes the sample itself, so it is unbiased, and the
    advantages of a group sum to 0.

    Args:
        rewards: One scalar reward per sample, any shape with at least one axis.
        axis: The group axis (size ``K``).

    Returns:
        Advantages with the shape of ``rewards``, dtype float64.

    Raises:
        ValueError: ``axis`` is out of range or the group size ``K < 2``.
    """
    values = _as_float(rewards)
    group_axis = _group_axis(values, axis)
    group_size = values.shape[group_axis]
    if group_size < 2:
        raise ValueError(f"RLOO needs a group size K >= 2 along axis {axis}, got {group_size}")
    others_mean: FloatArray = (values.sum(axis=group_axis, keepdims=True) - values) / (
        group_size - 1
    )
    return values - others_mean


def group_normalized_advantages(
    rewards: npt.ArrayLike,
    axis: int = -1,
    eps: float = 1e-6,
    scale: bool = True,
) -> FloatArray:
    r"""GRPO group-normalised advantages (or the Dr. GRPO unscaled variant).

    .. math:: A_i = \frac{r_i - \mu}{\sigma + \varepsilon}, \qquad
              \mu = \frac{1}{K}\sum_j r_j, \quad
              \sigma = \sqrt{\frac{1}{K}\sum_j (r_j - \mu)^2}

    along ``axis`` (the group axis of size ``K``). :math:`\sigma` is the *population*
    standard deviation (``ddof=0``). (Shao et al., "DeepSeekMath: Pushing the Limits of
    Mathematical Reasoning in Open Language Models", 2024 -- GRPO.) With ``scale=False`` the
    result is :math:`A_i = r_i - \mu`, which removes the difficulty bias introduced by the
    division (Liu et al., "Understanding R1-Zero-Like Training: A Critical Perspective",
    2025 -- Dr. GRPO).

    Args:
        rewards: One scalar reward per sample, any shape with at least one axis.
        axis: The group axis.
        eps: ``epsilon >= 0`` added to the standard deviation. Where ``sigma + eps == 0``
            the output is 0.
        scale: Divide by ``sigma + eps`` (GRPO) or not (Dr. GRPO).

    Returns:
        Advantages with the shape of ``rewards``, dtype float64.

    Raises:
        ValueError: ``axis`` is out of range, the group is empty, or ``eps < 0``.
    """
    _check_eps(eps)
    values = _as_float(rewards)
    group_axis = _group_axis(values, axis)
    if values.shape[group_axis] < 1:
        raise ValueError(f"group axis {axis} is empty")
    centred: FloatArray = values - values.mean(axis=group_axis, keepdims=True)
    if not scale:
        return centred
    denominator = values.std(axis=group_axis, keepdims=True) + eps
    advantages: FloatArray = np.divide(
        centred, denominator, out=np.zeros_like(centred), where=denominator > 0.0
    )
    return advantages


def masked_whiten(values: npt.ArrayLike, mask: npt.ArrayLike, eps: float = 1e-8) -> FloatArray:
    r"""Whiten ``values`` with statistics pooled over every masked position of the batch.

    .. math:: \hat x = \frac{x - \mu}{\sqrt{s^2 + \varepsilon}}, \qquad
              \mu = \frac{1}{n}\sum_{m} x_m, \quad
              s^2 = \frac{1}{n - 1}\sum_{m} (x_m - \mu)^2,

    where the sums run over the ``n`` positions with ``mask`` true, across *all* axes (one
    mean and one *unbiased* variance for the whole batch, as in verl's ``masked_whiten``
    used by PPO and PRIME). Unmasked positions output 0. If ``n < 2`` the variance is
    undefined; the output is then all zeros (a single position is already centred to 0).

    Args:
        values: Any shape.
        mask: Boolean (or 0/1) array of the same shape.
        eps: ``epsilon >= 0`` added to the variance. Where ``s^2 + eps == 0`` the output is 0.

    Returns:
        Whitened values, same shape, dtype float64.

    Raises:
        ValueError: Shapes differ, the mask is not boolean/0-1, or ``eps < 0``.
    """
    _check_eps(eps)
    data = _as_float(values)
    valid = _as_bool(mask, "mask")
    if valid.shape != data.shape:
        raise ValueError(f"mask shape {valid.shape} does not match values shape {data.shape}")
    count = int(valid.sum())
    if count < 2:
        return np.zeros_like(data)
    mean = data.sum(where=valid) / count
    centred = np.where(valid, data - mean, 0.0)
    variance = float(np.square(centred).sum()) / (count - 1)
    scale = float(np.sqrt(variance + eps))
    if scale == 0.0:
        return np.zeros_like(data)
    return centred / scale


def prime_advantages(
    process_rewards: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    mask: npt.ArrayLike,
    group_size: int,
    process_coef: float = 1.0,
    outcome_coef: float = 1.0,
) -> tuple[FloatArray, FloatArray]:
    r"""PRIME advantages and returns from dense process rewards plus an outcome reward.

    (Cui et al., "Process Reinforcement through Implicit Rewards", 2025, arXiv:2502.01456 --
    PRIME; follows the reference ``compute_rloo_advantage_return`` of PRIME-RL/PRIME.)

    Rows are ``N`` samples laid out as consecutive groups of ``K = group_size`` samples of
    the same prompt (rows ``gK .. gK + K - 1`` form group ``g``). Each reward source
    ``(r, M)`` -- per-position rewards ``r`` and the set ``M_j`` of positions where row ``j``
    carries that source -- gets the leave-one-out transform

    .. math:: m_j = \frac{1}{|M_j|} \sum_{t \in M_j} r_{j,t}, \qquad
              r'_{i,t} = \frac{K}{K - 1} r_{i,t} - \frac{1}{K - 1}\sum_{j \in g(i)} m_j
              \quad (t \in M_i), \qquad r'_{i,t} = 0 \ (t \notin M_i),

    with :math:`m_j = 0` for a row whose :math:`M_j` is empty. Sources:

    * process: ``r = process_rewards``, ``M_i`` = the masked positions of row ``i``;
    * outcome: ``r_{i,t} = outcomes[i]`` at the *last* masked position of row ``i`` only, so
      ``M_i`` is that single position and
      :math:`r'_i = o_i - \frac{1}{K - 1}\sum_{j \ne i} o_j` (plain RLOO).

    For the process source, :math:`r'_{i,t} = r_{i,t} + (r_{i,t} - m_i)/(K - 1) -
    \frac{1}{K-1}\sum_{j \ne i} m_j`: the baseline is the other samples' mean step reward, plus
    a within-trajectory centring term (this is the reference implementation's form).
    Then, with :math:`c_p` = ``process_coef`` and :math:`c_o` = ``outcome_coef``,

    .. math:: \rho_{i,t} = c_p \, r'^{\,\mathrm{proc}}_{i,t} + c_o \, r'^{\,\mathrm{out}}_{i,t},
              \qquad R_{i,t} = \sum_{s \ge t,\ s \in M_i} \rho_{i,s} \quad (\gamma = 1),
    .. math:: A = \mathrm{masked\_whiten}(R, \mathrm{mask}).

    Args:
        process_rewards: ``(N, T)`` per-step or per-token process rewards.
        outcomes: ``(N,)`` outcome rewards (e.g. verifier 0/1).
        mask: ``(N, T)`` boolean (or 0/1); true on real response positions.
        group_size: ``K >= 2``; ``N`` must be divisible by ``K``.
        process_coef: Weight :math:`c_p` of the process source.
        outcome_coef: Weight :math:`c_o` of the outcome source.

    Returns:
        ``(advantages, returns)``, both ``(N, T)`` float64 and 0 off the mask (rows with an
        empty mask are all zeros).

    Raises:
        ValueError: ``process_rewards`` is not 2-D, ``mask`` or ``outcomes`` shapes do not
            match, ``group_size < 2``, or ``N`` is not divisible by ``group_size``.
    """
    rewards, valid, final = _validate_prime_inputs(process_rewards, outcomes, mask, group_size)
    process_term = _prime_leave_one_out(rewards, valid, group_size)
    outcome_rewards, outcome_mask = _place_at_last_step(final, valid)
    outcome_term = _prime_leave_one_out(outcome_rewards, outcome_mask, group_size)
    combined = np.where(valid, process_coef * process_term + outcome_coef * outcome_term, 0.0)
    reward_to_go = np.flip(np.cumsum(np.flip(combined, axis=-1), axis=-1), axis=-1)
    returns = np.where(valid, reward_to_go, 0.0)
    return masked_whiten(returns, valid), returns


def _validate_prime_inputs(
    process_rewards: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    mask: npt.ArrayLike,
    group_size: int,
) -> tuple[FloatArray, BoolArray, FloatArray]:
    rewards = _as_float(process_rewards)
    if rewards.ndim != 2:
        raise ValueError(f"process_rewards must be 2-D (N, T), got shape {rewards.shape}")
    valid = _as_bool(mask, "mask")
    if valid.shape != rewards.shape:
        raise ValueError(f"mask shape {valid.shape} does not match {rewards.shape}")
    final = _as_float(outcomes)
    if final.shape != rewards.shape[:1]:
        raise ValueError(f"outcomes must have shape ({rewards.shape[0]},), got {final.shape}")
    if group_size < 2:
        raise ValueError(f"group_size must be >= 2 for leave-one-out, got {group_size}")
    if rewards.shape[0] % group_size != 0:
        raise ValueError(
            f"number of rows {rewards.shape[0]} is not divisible by group_size {group_size}"
        )
    return rewards, valid, final


def _prime_leave_one_out(rewards: FloatArray, valid: BoolArray, group_size: int) -> FloatArray:
    counts = valid.sum(axis=-1)
    sums = np.where(valid, rewards, 0.0).sum(axis=-1)
    row_means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    group_totals = row_means.reshape(-1, group_size).sum(axis=-1)
    baseline = np.repeat(group_totals, group_size) / (group_size - 1)
    scaled = rewards * (group_size / (group_size - 1)) - baseline[:, np.newaxis]
    return np.where(valid, scaled, 0.0)


def _place_at_last_step(outcomes: FloatArray, valid: BoolArray) -> tuple[FloatArray, BoolArray]:
    n_rows, horizon = valid.shape
    positions = np.where(valid, np.arange(horizon), -1)
    last = positions.max(axis=-1, initial=-1)
    rows = np.flatnonzero(last >= 0)
    placed = np.zeros((n_rows, horizon), dtype=np.float64)
    at_last = np.zeros((n_rows, horizon), dtype=np.bool_)
    placed[rows, last[rows]] = outcomes[rows]
    at_last[rows, last[rows]] = True
    return placed, at_last
