"""Property tests for prm_gym.credit against independent plain-Python definitions."""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from prm_gym.credit import (
    discounted_returns,
    gated_channels,
    gated_rewards,
    group_normalized_advantages,
    masked_whiten,
    min_form_rewards,
    min_form_weights,
    potential_shaping,
    prime_advantages,
    rloo_advantages,
)

settings.register_profile("credit", deadline=None, max_examples=60)
settings.load_profile("credit")

FLOATS = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)
GAMMAS = st.floats(min_value=0.0, max_value=1.0)
SHAPES = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)


def float_arrays(shape: Any) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=FLOATS)


def bool_arrays(shape: Any) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.bool_, shape)


@st.composite
def masked_batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    shape = draw(SHAPES)
    return draw(float_arrays(shape)), draw(bool_arrays(shape))


def rows(array: np.ndarray) -> np.ndarray:
    """View a (..., T) array as (B, T) so references can loop over plain rows."""
    return array.reshape(-1, array.shape[-1])


def close(a: Any, b: Any, tol: float = 1e-9) -> None:
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# --------------------------------------------------------------------------- returns


def reference_returns(rewards: np.ndarray, gamma: float, mask: np.ndarray) -> np.ndarray:
    out = np.zeros(rewards.shape)
    flat_r, flat_m, flat_out = rows(rewards), rows(mask), rows(out)
    horizon = rewards.shape[-1]
    for b in range(flat_r.shape[0]):
        for t in range(horizon):
            if not flat_m[b, t]:
                continue
            total = 0.0
            for k in range(horizon - t):
                if flat_m[b, t + k]:
                    total += gamma**k * float(flat_r[b, t + k])
            flat_out[b, t] = total
    return out


@given(batch=masked_batches(), gamma=GAMMAS)
def test_discounted_returns_matches_double_loop(
    batch: tuple[np.ndarray, np.ndarray], gamma: float
) -> None:
    rewards, mask = batch
    close(discounted_returns(rewards, gamma, mask), reference_returns(rewards, gamma, mask))


@given(rewards=float_arrays(SHAPES), gamma=GAMMAS)
def test_discounted_returns_bellman_recursion(rewards: np.ndarray, gamma: float) -> None:
    returns = discounted_returns(rewards.tolist(), gamma=gamma)
    close(returns[..., -1], rewards[..., -1])
    close(returns[..., :-1], rewards[..., :-1] + gamma * returns[..., 1:])


@given(batch=masked_batches(), gamma=GAMMAS)
def test_discounted_returns_ignores_padding_values(
    batch: tuple[np.ndarray, np.ndarray], gamma: float
) -> None:
    rewards, mask = batch
    garbage = np.where(mask, rewards, np.nan)
    result = discounted_returns(garbage, gamma, mask)
    assert np.all(result[~mask] == 0.0)
    close(result, discounted_returns(rewards, gamma, mask))


def test_discounted_returns_known_values() -> None:
    close(discounted_returns([1.0, 2.0, 3.0], 0.5), [1 + 1 + 0.75, 2 + 1.5, 3.0])
    close(discounted_returns([[1.0, 1.0, 9.0]], 1.0, [[True, True, False]]), [[2.0, 1.0, 0.0]])


@pytest.mark.parametrize("gamma", [-0.1, 1.5, float("nan")])
def test_discounted_returns_rejects_bad_gamma(gamma: float) -> None:
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns([1.0, 2.0], gamma)


def test_discounted_returns_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="mask shape"):
        discounted_returns([1.0, 2.0], 1.0, [True])
    with pytest.raises(ValueError, match="at least one dimension"):
        discounted_returns(1.0)
    with pytest.raises(ValueError, match="0/1"):
        discounted_returns([1.0, 2.0], 1.0, [0.5, 1.0])


# --------------------------------------------------------------------------- shaping


@st.composite
def transitions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shape = draw(SHAPES)
    return draw(float_arrays(shape)), draw(float_arrays(shape)), draw(bool_arrays(shape))


@given(batch=transitions(), gamma=GAMMAS)
def test_potential_shaping_matches_definition(
    batch: tuple[np.ndarray, np.ndarray, np.ndarray], gamma: float
) -> None:
    phi, phi_next, terminated = batch
    expected = [
        (0.0 if done else gamma * float(nxt)) - float(cur)
        for cur, nxt, done in zip(phi.ravel(), phi_next.ravel(), terminated.ravel(), strict=True)
    ]
    result = potential_shaping(phi, phi_next, gamma, terminated)
    assert result.shape == phi.shape
    close(result.ravel(), expected)


@given(potentials=hnp.arrays(np.float64, st.integers(2, 8), elements=FLOATS))
def test_potential_shaping_telescopes(potentials: np.ndarray) -> None:
    phi, phi_next = potentials[:-1], potentials[1:]
    ends_terminal = np.zeros(phi.shape, dtype=bool)
    ends_terminal[-1] = True
    terminated_sum = potential_shaping(phi, phi_next, 1.0, ends_terminal).sum()
    truncated_sum = potential_shaping(phi, phi_next, 1.0, np.zeros(phi.shape, dtype=bool)).sum()
    close(terminated_sum, -potentials[0])
    close(truncated_sum, potentials[-1] - potentials[0])


def test_potential_shaping_ignores_next_potential_at_termination() -> None:
    result = potential_shaping([1.0, 1.0], [np.nan, 2.0], 0.9, [True, False])
    close(result, [-1.0, 0.8])


def test_potential_shaping_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same shape"):
        potential_shaping([1.0, 2.0], [1.0], 1.0, [False, False])
    with pytest.raises(ValueError, match="same shape"):
        potential_shaping([1.0, 2.0], [1.0, 2.0], 1.0, [False])
    with pytest.raises(ValueError, match="gamma"):
        potential_shaping([1.0], [1.0], 1.01, [False])


# --------------------------------------------------------------------------- min-form


TEMPERATURES = st.floats(min_value=0.01, max_value=100.0)


def reference_softmin(values: list[float], temperature: float) -> list[float]:
    lowest = min(values)
    # Shifting by the minimum is algebraically a no-op and keeps math.exp in range.
    exps = [math.exp((lowest - v) / temperature) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


@given(batch=masked_batches(), temperature=TEMPERATURES)
def test_min_form_weights_match_softmin(
    batch: tuple[np.ndarray, np.ndarray], temperature: float
) -> None:
    values, mask = batch
    weights = min_form_weights(values, temperature, mask)
    shaped = min_form_rewards(values, temperature, mask)
    assert np.all(np.isfinite(weights))
    assert np.all(np.isfinite(shaped))
    for row_v, row_m, row_w, row_s in zip(
        rows(values), rows(mask), rows(weights), rows(shaped), strict=True
    ):
        assert np.all(row_w[~row_m] == 0.0)
        assert np.all(row_s[~row_m] == 0.0)
        kept = [float(v) for v, m in zip(row_v, row_m, strict=True) if m]
        if not kept:
            continue
        expected = reference_softmin(kept, temperature)
        close(row_w[row_m], expected)
        close(row_s[row_m], [w * v for w, v in zip(expected, kept, strict=True)])


@given(values=float_arrays(SHAPES), temperature=TEMPERATURES)
def test_min_form_sum_between_min_and_mean(values: np.ndarray, temperature: float) -> None:
    totals = min_form_rewards(values, temperature).sum(axis=-1)
    assert np.all(totals >= values.min(axis=-1) - 1e-9)
    assert np.all(totals <= values.mean(axis=-1) + 1e-9)


@given(
    values=hnp.arrays(
        np.float64,
        st.integers(1, 6),
        elements=st.integers(-20, 20).map(lambda k: k / 2.0),
        unique=True,
    )
)
def test_min_form_limits(values: np.ndarray) -> None:
    # Values are distinct multiples of 0.5, so at T = 0.01 the others weigh <= e^-50.
    close(min_form_rewards(values, 0.01).sum(), values.min(), tol=1e-12)
    close(min_form_rewards(values, 1e9).sum(), values.mean(), tol=1e-6)


def test_min_form_all_masked_row_is_zero() -> None:
    values = np.array([[1.0, 2.0], [np.nan, np.inf]])
    mask = np.array([[True, True], [False, False]])
    weights = min_form_weights(values, 0.5, mask)
    close(weights[1], [0.0, 0.0])
    close(weights[0].sum(), 1.0)
    close(min_form_rewards(values, 0.5, mask)[1], [0.0, 0.0])


def test_min_form_is_stable_for_tiny_temperature() -> None:
    weights = min_form_weights([1000.0, -1000.0, 0.0], temperature=1e-3)
    close(weights, [0.0, 1.0, 0.0])


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_min_form_rejects_bad_temperature(temperature: float) -> None:
    with pytest.raises(ValueError, match="temperature"):
        min_form_weights([1.0, 2.0], temperature)
    with pytest.raises(ValueError, match="temperature"):
        min_form_rewards([1.0, 2.0], temperature)


@given(
    values=hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-1.0, 1.0)),
    scale=st.floats(0.01, 10.0),
    temperature=TEMPERATURES,
)
def test_min_form_scale_applies_temperature_to_the_unscaled_score(
    values: np.ndarray, scale: float, temperature: float
) -> None:
    """PURE's T acts on PR / s: the weights of s·PR at scale s are those of PR at scale 1, so the
    shaped rewards are exactly s times the unscaled ones."""
    close(
        min_form_weights(scale * values, temperature, scale=scale),
        min_form_weights(values, temperature),
    )
    close(
        min_form_rewards(scale * values, temperature, scale=scale),
        scale * min_form_rewards(values, temperature),
        tol=1e-9,
    )


def test_min_form_without_scale_lets_padding_pay_at_small_coef() -> None:
    """The hazard ``scale`` removes: T = 0.1 on 0.1-scaled scores is T = 1 on the scores."""
    coef, false_then_true = 0.1, np.array([-1.0] + [1.0] * 6)
    short = np.array([-1.0, 1.0])
    unscaled_t = min_form_rewards(coef * false_then_true, 0.1).sum()
    assert unscaled_t > min_form_rewards(coef * short, 0.1).sum() + 0.05  # padding pays
    padded = min_form_rewards(coef * false_then_true, 0.1, scale=coef).sum()
    assert padded == pytest.approx(-coef, rel=1e-6)


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf")])
def test_min_form_rejects_bad_scale(scale: float) -> None:
    with pytest.raises(ValueError, match="scale"):
        min_form_rewards([1.0, 2.0], 0.1, scale=scale)


def test_min_form_rejects_mask_mismatch() -> None:
    with pytest.raises(ValueError, match="mask shape"):
        min_form_rewards([[1.0, 2.0]], 0.1, [True, True])


# --------------------------------------------------------------------------- gating


@st.composite
def gated_batches(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    shape = draw(SHAPES)
    return draw(float_arrays(shape)), draw(float_arrays(shape[:-1]))


@given(batch=gated_batches(), threshold=FLOATS)
def test_gated_rewards_match_indicator(
    batch: tuple[np.ndarray, np.ndarray], threshold: float
) -> None:
    low, high = batch
    result = gated_rewards(low, high, threshold)
    for row_low, row_out, gate_value in zip(rows(low), rows(result), high.reshape(-1), strict=True):
        if gate_value >= threshold:
            assert np.array_equal(row_out, row_low)
        else:
            assert np.all(row_out == 0.0)


def test_gated_rewards_threshold_is_inclusive() -> None:
    close(gated_rewards([[1.0, 2.0], [3.0, 4.0]], [0.5, 0.4], 0.5), [[1.0, 2.0], [0.0, 0.0]])


def test_gated_rewards_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="high shape"):
        gated_rewards([[1.0, 2.0]], [1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="NaN"):
        gated_rewards([1.0], 1.0, float("nan"))
    with pytest.raises(ValueError, match="at least one dimension"):
        gated_rewards(1.0, 1.0, 0.0)


@st.composite
def channel_sets(draw: st.DrawFn) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    n_channels = draw(st.integers(1, 4))
    horizon = draw(st.integers(1, 5))
    channels = [draw(float_arrays(horizon)) for _ in range(n_channels)]
    finals = draw(float_arrays(n_channels - 1))
    thresholds = draw(float_arrays(n_channels - 1))
    return channels, finals, thresholds


@given(data=channel_sets())
def test_gated_channels_match_cascade(
    data: tuple[list[np.ndarray], np.ndarray, np.ndarray],
) -> None:
    channels, finals, thresholds = data
    total, gated = gated_channels(channels, finals, thresholds)
    horizon = len(channels[0])
    assert gated.shape == (len(channels), horizon)
    assert total.shape == (horizon,)
    expected_total = [0.0] * horizon
    for c, channel in enumerate(channels):
        counts = all(finals[j] >= thresholds[j] for j in range(c))
        expected = [float(r) if counts else 0.0 for r in channel]
        close(gated[c], expected)
        expected_total = [a + b for a, b in zip(expected_total, expected, strict=True)]
    close(total, expected_total)
    assert np.array_equal(gated[0], channels[0])


def test_gated_channels_closed_gate_blocks_all_lower() -> None:
    channels = [[1.0, 1.0], [10.0, 10.0], [100.0, 100.0]]
    total, gated = gated_channels(channels, finals=[0.0, 5.0], thresholds=[1.0, 0.0])
    close(total, [1.0, 1.0])
    close(gated[2], [0.0, 0.0])


def test_gated_channels_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="at least one"):
        gated_channels([], [], [])
    with pytest.raises(ValueError, match="length"):
        gated_channels([[1.0, 2.0], [1.0]], [0.0], [0.0])
    with pytest.raises(ValueError, match="1-D"):
        gated_channels([[[1.0]]], [], [])
    with pytest.raises(ValueError, match="finals"):
        gated_channels([[1.0], [2.0]], [0.0, 1.0], [0.0])
    with pytest.raises(ValueError, match="thresholds"):
        gated_channels([[1.0], [2.0]], [0.0], [])


# --------------------------------------------------------------------------- group advantages


GROUPS = hnp.array_shapes(min_dims=1, max_dims=2, min_side=2, max_side=6)


@given(rewards=float_arrays(GROUPS))
def test_rloo_matches_leave_one_out_mean(rewards: np.ndarray) -> None:
    advantages = rloo_advantages(rewards)
    for row, row_adv in zip(rows(rewards), rows(advantages), strict=True):
        group = [float(r) for r in row]
        for i, value in enumerate(group):
            others = group[:i] + group[i + 1 :]
            close(row_adv[i], value - sum(others) / len(others))
    close(advantages.sum(axis=-1), np.zeros(advantages.shape[:-1]), tol=1e-8)


@given(rewards=float_arrays(st.tuples(st.integers(2, 5), st.integers(1, 4))))
def test_rloo_respects_axis(rewards: np.ndarray) -> None:
    close(rloo_advantages(rewards, axis=0), rloo_advantages(rewards.T).T)


def test_rloo_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="K >= 2"):
        rloo_advantages([[1.0], [2.0]])
    with pytest.raises(ValueError, match="axis"):
        rloo_advantages([1.0, 2.0], axis=1)


@given(rewards=float_arrays(GROUPS), scale=st.booleans())
def test_group_normalized_matches_definition(rewards: np.ndarray, scale: bool) -> None:
    eps = 1e-6
    advantages = group_normalized_advantages(rewards, eps=eps, scale=scale)
    for row, row_adv in zip(rows(rewards), rows(advantages), strict=True):
        group = [float(r) for r in row]
        mean = statistics.fmean(group)
        denom = statistics.pstdev(group) + eps if scale else 1.0
        close(row_adv, [(r - mean) / denom for r in group], tol=1e-7)


@given(rewards=float_arrays(GROUPS))
def test_group_normalized_is_standardised(rewards: np.ndarray) -> None:
    advantages = group_normalized_advantages(rewards)
    spread = rewards.std(axis=-1)
    close(advantages.mean(axis=-1), np.zeros(spread.shape), tol=1e-8)
    # With eps = 1e-6 the output std is spread / (spread + eps), within 1e-5 of 1 here.
    wide = spread > 0.1
    close(advantages.std(axis=-1)[wide], np.ones(int(wide.sum())), tol=2e-5)


def test_group_normalized_constant_group_is_zero() -> None:
    close(group_normalized_advantages([2.0, 2.0, 2.0], eps=0.0), [0.0, 0.0, 0.0])


def test_group_normalized_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="eps"):
        group_normalized_advantages([1.0, 2.0], eps=-1.0)
    with pytest.raises(ValueError, match="empty"):
        group_normalized_advantages(np.zeros((2, 0)))
    with pytest.raises(ValueError, match="axis"):
        group_normalized_advantages(1.0)


def reference_whiten(values: np.ndarray, mask: np.ndarray, eps: float) -> np.ndarray:
    kept = [float(v) for v, m in zip(values.ravel(), mask.ravel(), strict=True) if m]
    out = np.zeros(values.shape)
    if len(kept) < 2:
        return out
    mean = statistics.fmean(kept)
    std = math.sqrt(statistics.variance(kept) + eps)
    flat = out.reshape(-1)
    for i, (v, m) in enumerate(zip(values.ravel(), mask.ravel(), strict=True)):
        if m:
            flat[i] = (float(v) - mean) / std
    return out


@given(batch=masked_batches())
def test_masked_whiten_matches_unbiased_definition(batch: tuple[np.ndarray, np.ndarray]) -> None:
    values, mask = batch
    eps = 1e-8
    result = masked_whiten(np.where(mask, values, np.nan), mask, eps)
    close(result, reference_whiten(values, mask, eps), tol=1e-6)
    assert np.all(result[~mask] == 0.0)
    if mask.sum() >= 2:
        close(result[mask].mean(), 0.0, tol=1e-8)


def test_masked_whiten_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="mask shape"):
        masked_whiten([1.0, 2.0], [True])
    with pytest.raises(ValueError, match="eps"):
        masked_whiten([1.0, 2.0], [True, True], eps=-1.0)


# --------------------------------------------------------------------------- PRIME


@st.composite
def prime_batches(draw: st.DrawFn) -> dict[str, Any]:
    group_size = draw(st.integers(2, 4))
    n_rows = group_size * draw(st.integers(1, 3))
    horizon = draw(st.integers(1, 5))
    return {
        "process_rewards": draw(float_arrays((n_rows, horizon))),
        "outcomes": draw(float_arrays(n_rows)),
        "mask": draw(bool_arrays((n_rows, horizon))),
        "group_size": group_size,
        "process_coef": draw(st.floats(0.0, 5.0)),
        "outcome_coef": draw(st.floats(0.0, 5.0)),
    }


def reference_prime(batch: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    process = batch["process_rewards"].tolist()
    outcomes = batch["outcomes"].tolist()
    mask = batch["mask"].tolist()
    k = batch["group_size"]
    n_rows, horizon = len(process), len(process[0])

    def leave_one_out(rewards: list[list[float]], where: list[list[bool]]) -> list[list[float]]:
        means = []
        for i in range(n_rows):
            kept = [rewards[i][t] for t in range(horizon) if where[i][t]]
            means.append(sum(kept) / len(kept) if kept else 0.0)
        out = [[0.0] * horizon for _ in range(n_rows)]
        for i in range(n_rows):
            start = (i // k) * k
            group_total = sum(means[start : start + k])
            for t in range(horizon):
                if where[i][t]:
                    out[i][t] = rewards[i][t] * k / (k - 1) - group_total / (k - 1)
        return out

    outcome_rewards = [[0.0] * horizon for _ in range(n_rows)]
    outcome_where = [[False] * horizon for _ in range(n_rows)]
    for i in range(n_rows):
        real = [t for t in range(horizon) if mask[i][t]]
        if real:
            outcome_rewards[i][real[-1]] = outcomes[i]
            outcome_where[i][real[-1]] = True
    process_adj = leave_one_out(process, mask)
    outcome_adj = leave_one_out(outcome_rewards, outcome_where)
    returns = np.zeros((n_rows, horizon))
    for i in range(n_rows):
        for t in range(horizon):
            if mask[i][t]:
                returns[i, t] = sum(
                    batch["process_coef"] * process_adj[i][s]
                    + batch["outcome_coef"] * outcome_adj[i][s]
                    for s in range(t, horizon)
                    if mask[i][s]
                )
    return reference_whiten(returns, batch["mask"], 1e-8), returns


@settings(max_examples=80)
@given(batch=prime_batches())
def test_prime_matches_reference(batch: dict[str, Any]) -> None:
    advantages, returns = prime_advantages(**batch)
    expected_adv, expected_ret = reference_prime(batch)
    close(returns, expected_ret, tol=1e-8)
    close(advantages, expected_adv, tol=1e-6)
    mask = batch["mask"]
    assert np.all(returns[~mask] == 0.0)
    assert np.all(advantages[~mask] == 0.0)


@given(batch=prime_batches(), lengths=st.data())
def test_prime_outcome_only_returns_are_rloo(batch: dict[str, Any], lengths: st.DataObject) -> None:
    n_rows, horizon = batch["process_rewards"].shape
    row_lengths = lengths.draw(st.lists(st.integers(1, horizon), min_size=n_rows, max_size=n_rows))
    mask = np.arange(horizon)[None, :] < np.array(row_lengths)[:, None]
    outcomes, k = batch["outcomes"], batch["group_size"]
    _, returns = prime_advantages(
        np.zeros((n_rows, horizon)), outcomes, mask, k, process_coef=1.0, outcome_coef=1.0
    )
    for i in range(n_rows):
        start = (i // k) * k
        others = [float(outcomes[j]) for j in range(start, start + k) if j != i]
        expected = float(outcomes[i]) - sum(others) / len(others)
        close(returns[i, mask[i]], np.full(row_lengths[i], expected), tol=1e-8)
        assert np.all(returns[i, ~mask[i]] == 0.0)


def test_prime_empty_rows_are_zero() -> None:
    mask = np.array([[True, True], [False, False]])
    advantages, returns = prime_advantages([[1.0, 2.0], [3.0, 4.0]], [1.0, 0.0], mask, 2)
    close(returns[1], [0.0, 0.0])
    close(advantages[1], [0.0, 0.0])
    advantages, returns = prime_advantages(np.ones((2, 3)), [1.0, 0.0], np.zeros((2, 3)), 2)
    close(advantages, np.zeros((2, 3)))
    close(returns, np.zeros((2, 3)))


def test_prime_rejects_bad_inputs() -> None:
    ok_rewards, ok_mask = np.zeros((4, 3)), np.ones((4, 3), dtype=bool)
    ok_outcomes = np.zeros(4)
    with pytest.raises(ValueError, match="divisible"):
        prime_advantages(ok_rewards, ok_outcomes, ok_mask, 3)
    with pytest.raises(ValueError, match="group_size"):
        prime_advantages(ok_rewards, ok_outcomes, ok_mask, 1)
    with pytest.raises(ValueError, match="mask shape"):
        prime_advantages(ok_rewards, ok_outcomes, ok_mask[:, :2], 2)
    with pytest.raises(ValueError, match="outcomes"):
        prime_advantages(ok_rewards, np.zeros(3), ok_mask, 2)
    with pytest.raises(ValueError, match="2-D"):
        prime_advantages(np.zeros(4), ok_outcomes, np.ones(4, dtype=bool), 2)
