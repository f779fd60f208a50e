"""Per-trajectory reward transforms: returns, potential shaping, min-form and gated credit.

All functions are pure and vectorised over NumPy arrays. Trajectory inputs have shape
``(..., T)``: the last axis is time and any leading axes are batch axes. Where a ``mask`` is
accepted it must have exactly the input's shape; ``True`` marks a real step, ``False`` a padded
one. Padded steps never influence real ones (their values may even be NaN) and get output 0.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "discounted_returns",
    "gated_channels",
    "gated_rewards",
    "min_form_rewards",
    "min_form_weights",
    "potential_shaping",
]


def _as_float(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _as_trajectory(values: npt.ArrayLike, name: str) -> FloatArray:
    array = _as_float(values)
    if array.ndim == 0:
        raise ValueError(f"{name} must have at least one dimension (..., T), got a scalar")
    return array


def _as_bool(values: npt.ArrayLike, name: str) -> BoolArray:
    array = np.asarray(values)
    if array.dtype == np.bool_:
        return array
    # Integer or float 0/1 masks are common (e.g. torch-style attention masks); anything
    # else is almost certainly a bug in the caller, so refuse rather than truthiness-cast.
    if array.size and not np.all((array == 0) | (array == 1)):
        raise ValueError(f"{name} must be boolean or contain only 0/1, got dtype {array.dtype}")
    return array.astype(np.bool_)


def _resolve_mask(mask: npt.ArrayLike | None, shape: tuple[int, ...]) -> BoolArray:
    if mask is None:
        return np.ones(shape, dtype=np.bool_)
    valid = _as_bool(mask, "mask")
    if valid.shape != shape:
        raise ValueError(f"mask shape {valid.shape} does not match input shape {shape}")
    return valid


def _check_gamma(gamma: float) -> None:
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma}")


def _check_temperature(temperature: float) -> None:
    if not temperature > 0.0:
        raise ValueError(f"temperature must be > 0, got {temperature}")


def discounted_returns(
    rewards: npt.ArrayLike,
    gamma: float = 1.0,
    mask: npt.ArrayLike | None = None,
) -> FloatArray:
    r"""Discounted reward-to-go along the last axis.

    .. math:: G_t = \sum_{k \ge 0} \gamma^k \, r_{t+k} = r_t + \gamma G_{t+1},
              \qquad G_T = 0.

    (Sutton & Barto, "Reinforcement Learning: An Introduction", 2nd ed., 2018, eq. 3.8.)

    Args:
        rewards: Per-step rewards, shape ``(..., T)``.
        gamma: Discount factor in ``[0, 1]``.
        mask: Optional boolean array of shape ``(..., T)``. Padded steps count as reward 0
            (time still advances through them, so an interior gap is discounted like a
            zero-reward step) and their output is 0.

    Returns:
        ``G`` with the same shape as ``rewards``, dtype float64.

    Raises:
        ValueError: ``rewards`` is a scalar, ``gamma`` is outside ``[0, 1]``, or the mask
            shape differs from ``rewards``.
    """
    _check_gamma(gamma)
    raw = _as_trajectory(rewards, "rewards")
    valid = _resolve_mask(mask, raw.shape)
    step_rewards = np.where(valid, raw, 0.0)
    out = np.zeros_like(step_rewards)
    running = np.zeros(step_rewards.shape[:-1], dtype=np.float64)
    for t in range(step_rewards.shape[-1] - 1, -1, -1):
        running = step_rewards[..., t] + gamma * running
        out[..., t] = running
    return np.where(valid, out, 0.0)


def potential_shaping(
    phi: npt.ArrayLike,
    phi_next: npt.ArrayLike,
    gamma: float,
    terminated: npt.ArrayLike,
) -> FloatArray:
    r"""Potential-based shaping reward, elementwise.

    .. math:: F(s, s') = \gamma \, \Phi(s') \, (1 - \mathrm{terminated}) - \Phi(s)

    (Ng, Harada & Russell, "Policy invariance under reward transformations: Theory and
    application to reward shaping", ICML 1999.) Adding ``F`` to the environment reward
    leaves the optimal policy unchanged.

    ``Phi(s')`` is dropped only where ``terminated`` is true: a terminal state has no future,
    so its potential is defined as 0 (and ``phi_next`` may be NaN there). On *truncation*
    (time limit) ``terminated`` must be false: the learner bootstraps from ``s'`` there, so
    the shaping term must keep ``gamma * Phi(s')`` for the telescoping sum to stay intact.

    Args:
        phi: ``Phi(s)``, any shape.
        phi_next: ``Phi(s')``, same shape as ``phi``.
        gamma: Discount factor in ``[0, 1]``; use the learner's discount.
        terminated: Boolean (or 0/1) array, same shape as ``phi``.

    Returns:
        ``F`` with the shape of ``phi`` (a 0-d array for scalar inputs), dtype float64.

    Raises:
        ValueError: Shapes differ, ``gamma`` is outside ``[0, 1]``, or ``terminated`` is not
            boolean/0-1.
    """
    _check_gamma(gamma)
    current = _as_float(phi)
    following = _as_float(phi_next)
    done = _as_bool(terminated, "terminated")
    if not current.shape == following.shape == done.shape:
        raise ValueError(
            f"phi {current.shape}, phi_next {following.shape} and terminated {done.shape} "
            "must have the same shape"
        )
    return np.where(done, 0.0, gamma * following) - current


def min_form_weights(
    process_rewards: npt.ArrayLike,
    temperature: float = 0.1,
    mask: npt.ArrayLike | None = None,
    scale: float = 1.0,
) -> FloatArray:
    r"""PURE min-form credit weights: a softmin over each trajectory's steps.

    .. math:: w_i = \frac{\exp(-\mathrm{PR}_i / (s \tau))}{\sum_{j \in \mathcal{M}}
              \exp(-\mathrm{PR}_j / (s \tau))}, \qquad i \in \mathcal{M},

    where :math:`\mathcal{M}` is the set of unmasked steps along the last axis,
    :math:`\tau` the temperature and :math:`s` the ``scale`` of the rewards: PURE applies
    :math:`\tau` to the unscaled step score :math:`\mathrm{PR}_i / s \in [-1, 1]`, so a reward
    paid as ``coef * score`` needs ``scale=coef`` (else a small ``coef`` flattens the softmin
    towards the mean, and padding a bad step with good ones raises the return). (Cheng et al.,
    "Stop Summation: Min-Form Credit Assignment Is All Process Reward Model Needs for
    Reasoning", NeurIPS 2025, arXiv:2504.15275 -- PURE.)
    As ``tau -> 0`` the weight concentrates on the worst step; as ``tau -> inf`` it becomes
    uniform. Computed as a max-subtracted softmax, so it is stable for any finite ``PR / tau``.

    Args:
        process_rewards: Per-step process rewards ``PR``, shape ``(..., T)``.
        temperature: ``tau > 0``.
        mask: Optional boolean array of shape ``(..., T)``; padded steps get weight 0.
        scale: ``s > 0``, the factor the step scores were multiplied by.

    Returns:
        Weights of shape ``(..., T)`` that sum to 1 over each row's unmasked steps; rows with
        no unmasked step are all zeros.

    Raises:
        ValueError: ``process_rewards`` is a scalar, ``temperature <= 0`` (or NaN),
            ``scale <= 0`` (or NaN), or the mask shape differs.
    """
    _check_temperature(temperature)
    if not scale > 0.0 or not math.isfinite(scale):
        raise ValueError(f"scale must be a positive finite number, got {scale}")
    values = _as_trajectory(process_rewards, "process_rewards")
    valid = _resolve_mask(mask, values.shape)
    logits = np.where(valid, -values / (scale * temperature), -np.inf)
    peak = np.max(logits, axis=-1, keepdims=True, initial=-np.inf)
    # An all-padded row has peak -inf; shifting by it would give NaN instead of zeros.
    peak = np.where(np.isfinite(peak), peak, 0.0)
    unnormalised = np.exp(logits - peak)
    total = unnormalised.sum(axis=-1, keepdims=True)
    weights: FloatArray = np.divide(
        unnormalised, total, out=np.zeros_like(unnormalised), where=total > 0.0
    )
    return weights


def min_form_rewards(
    process_rewards: npt.ArrayLike,
    temperature: float = 0.1,
    mask: npt.ArrayLike | None = None,
    scale: float = 1.0,
) -> FloatArray:
    r"""PURE min-form shaped rewards: each step's process reward times its softmin weight.

    .. math:: \tilde r_i = w_i \, \mathrm{PR}_i, \qquad
              w = \mathrm{softmax}_{\mathcal{M}}(-\mathrm{PR} / (s \tau))

    with ``w`` exactly as in ``min_form_weights``. (Cheng et al., "Stop Summation: Min-Form
    Credit Assignment Is All Process Reward Model Needs for Reasoning", NeurIPS 2025,
    arXiv:2504.15275 -- PURE.) The undiscounted return of a trajectory is then
    :math:`\sum_i \tilde r_i`, a softmin-weighted average of its process rewards, which
    always lies in ``[min_i PR_i, mean_i PR_i]``: it tends to ``min_i PR_i`` as ``tau -> 0``
    and to the mean as ``tau -> inf``. Bounding the return by the worst step removes the
    incentive to pad trajectories with many mildly positive steps.

    Args:
        process_rewards: Per-step process rewards ``PR``, shape ``(..., T)``.
        temperature: ``tau > 0``.
        mask: Optional boolean array of shape ``(..., T)``; padded steps output 0.
        scale: ``s > 0``: the softmin reads ``PR / s`` (see ``min_form_weights``); the
            shaped rewards keep the scale of ``PR``.

    Returns:
        Shaped rewards, shape ``(..., T)``; all-masked rows are zeros.

    Raises:
        ValueError: As for ``min_form_weights``.
    """
    values = _as_trajectory(process_rewards, "process_rewards")
    valid = _resolve_mask(mask, values.shape)
    weights = min_form_weights(values, temperature, valid, scale)
    # Multiply only on real steps: padded values may be inf/NaN and 0 * inf would warn.
    shaped: FloatArray = np.multiply(weights, values, out=np.zeros_like(values), where=valid)
    return shaped


def gated_rewards(low: npt.ArrayLike, high: npt.ArrayLike, threshold: float) -> FloatArray:
    r"""G-RA gated per-step rewards for one lower-priority channel.

    .. math:: \tilde r_t = r^{\mathrm{low}}_t \cdot \mathbb{1}\!\left[r^{\mathrm{high}}
              \ge \Delta\right]

    (Sun et al., "Stabilizing Long-term Multi-turn Reinforcement Learning with Gated
    Rewards", 2025, arXiv:2508.10548 -- G-RA.) Immediate (low-priority) rewards only count
    in trajectories whose long-term (high-priority, e.g. outcome) value reaches the threshold
    ``Delta``, so the policy cannot farm step rewards while failing the task.

    Args:
        low: Per-step rewards ``r^low``, shape ``(..., T)``.
        high: One long-term value per trajectory, shape ``(...)`` (``low.shape[:-1]``).
        threshold: ``Delta``; the gate is open when ``high >= threshold``.

    Returns:
        Gated rewards, shape ``(..., T)``: equal to ``low`` where the gate is open, else 0.

    Raises:
        ValueError: ``low`` is a scalar, ``high.shape != low.shape[:-1]``, or ``threshold``
            is NaN.
    """
    step_rewards = _as_trajectory(low, "low")
    long_term = _as_float(high)
    if long_term.shape != step_rewards.shape[:-1]:
        raise ValueError(
            f"high shape {long_term.shape} must equal low.shape[:-1] {step_rewards.shape[:-1]}"
        )
    if math.isnan(threshold):
        raise ValueError("threshold must not be NaN")
    gate_open = (long_term >= threshold)[..., np.newaxis]
    return np.where(gate_open, step_rewards, 0.0)


def gated_channels(
    channels: Sequence[npt.ArrayLike],
    finals: npt.ArrayLike,
    thresholds: npt.ArrayLike,
) -> tuple[FloatArray, FloatArray]:
    r"""General G-RA: a priority-ordered cascade of gated reward channels.

    Let ``C = len(channels)`` with channel 0 the highest priority. Channel ``c`` has per-step
    rewards :math:`r^{(c)}_t`, ``t < T``. For every channel except the lowest, ``finals[c]``
    is its long-term value :math:`F_c` and ``thresholds[c]`` its gate :math:`\Delta_c`; both
    therefore have length ``C - 1`` (the lowest channel gates nothing below it, so it needs
    neither). Then

    .. math:: g_0 = 1, \qquad g_c = \prod_{j < c} \mathbb{1}[F_j \ge \Delta_j],
    .. math:: \tilde r^{(c)}_t = g_c \, r^{(c)}_t, \qquad
              \tilde r_t = \sum_{c=0}^{C-1} \tilde r^{(c)}_t .

    So a lower channel counts only if *every* higher channel met its threshold, and the
    highest channel always counts. (Sun et al., "Stabilizing Long-term Multi-turn
    Reinforcement Learning with Gated Rewards", 2025, arXiv:2508.10548 -- G-RA.)

    Args:
        channels: ``C >= 1`` per-step reward arrays, each of shape ``(T,)``, highest priority
            first.
        finals: ``F_0 .. F_{C-2}``, shape ``(C - 1,)``.
        thresholds: ``Delta_0 .. Delta_{C-2}``, shape ``(C - 1,)``.

    Returns:
        ``(total, gated)``: ``total`` of shape ``(T,)`` is :math:`\tilde r_t`; ``gated`` of
        shape ``(C, T)`` stacks the per-channel :math:`\tilde r^{(c)}_t`.

    Raises:
        ValueError: No channels, a channel is not 1-D, channel lengths differ, ``finals`` or
            ``thresholds`` do not have shape ``(C - 1,)``, or a threshold is NaN.
    """
    if len(channels) == 0:
        raise ValueError("channels must contain at least one reward array")
    stacked = _stack_channels(channels)
    n_gates = stacked.shape[0] - 1
    final_values = _as_float(finals)
    gate_thresholds = _as_float(thresholds)
    for name, array in (("finals", final_values), ("thresholds", gate_thresholds)):
        if array.shape != (n_gates,):
            raise ValueError(
                f"{name} must have shape ({n_gates},) = (len(channels) - 1,), got {array.shape}"
            )
    if np.isnan(gate_thresholds).any():
        raise ValueError("thresholds must not be NaN")
    passed = final_values >= gate_thresholds
    open_gates = np.concatenate(([True], np.logical_and.accumulate(passed)))
    gated = np.where(open_gates[:, np.newaxis], stacked, 0.0)
    return gated.sum(axis=0), gated


def _stack_channels(channels: Sequence[npt.ArrayLike]) -> FloatArray:
    arrays = [_as_float(channel) for channel in channels]
    for index, array in enumerate(arrays):
        if array.ndim != 1:
            raise ValueError(f"channel {index} must be 1-D (T,), got shape {array.shape}")
        if array.shape != arrays[0].shape:
            raise ValueError(
                f"channel {index} has length {array.shape[0]}, channel 0 has {arrays[0].shape[0]}"
            )
    return np.stack(arrays)
