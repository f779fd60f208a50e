"""Reward wrappers compose safely in any order (issue 14, item 5).

Every ordered 3-deep stack drawn from the reward wrappers is either refused at construction,
with an error that names the right order, or gives, step by step, exactly the components an
independent reference model predicts from the raw terms (each computed alone on a lock-step
copy of the env): the reward equals the sum of the components, no term is paid or removed
twice, and on the final step ``info["step_rewards"]`` sums to the episode's return.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import prm_gym  # noqa: F401 - registers the envs
from prm_gym.core.scorer import StepContext
from prm_gym.credit import min_form_rewards, par_transform, welford_update
from prm_gym.envs.manipulation import StagedPotential
from prm_gym.envs.manipulation.experts import expert_for
from prm_gym.rewards import RuleVerifier
from prm_gym.wrappers import (
    GatedAccumulation,
    MinFormCredit,
    PosteriorGate,
    PotentialShaping,
    ProcessReward,
    RewardNormalize,
    RewardTransform,
)
from prm_gym.wrappers.components import EpisodeTerms, add_reward_component
from prm_gym.wrappers.progress import ProgressReward

Env = gym.Env[Any, Any]
P_COEF, R_COEF, GAMMA = 0.25, 0.5, 0.99
REFS = (0.0, 0.25)
TRAJECTORY = {"G", "PG", "M"}


@dataclass(frozen=True)
class Kind:
    """One wrapper kind: how to build it and what the reference model needs to know."""

    build: Callable[[Env], Env]
    name: str  # the key it records its term under
    source: bool = False  # records a raw term (its values come from a lock-step copy)
    reads: str | None = None  # the component it reads by name
    coef: float = 1.0  # scale of a source's term


MATH_KINDS = {
    "P": Kind(
        lambda e: ProcessReward(e, RuleVerifier(), coef=P_COEF), "process", True, None, P_COEF
    ),
    "R": Kind(
        lambda e: ProgressReward(e, RuleVerifier(), coef=R_COEF), "progress", True, None, R_COEF
    ),
    "G": Kind(lambda e: GatedAccumulation(e), "gate"),
    "PG": Kind(lambda e: PosteriorGate(e), "posterior_gate"),
    "M": Kind(lambda e: MinFormCredit(e), "min_form", reads="process"),
    "T": Kind(lambda e: RewardTransform(e, REFS), "transform", reads="process"),
}

PHI = StagedPotential("prm/Reach-v0")
REACH_KINDS = {
    "S": Kind(lambda e: PotentialShaping(e, PHI, gamma=GAMMA), "shaping", True),
    "G": Kind(lambda e: GatedAccumulation(e), "gate"),
    "PG": Kind(lambda e: PosteriorGate(e), "posterior_gate"),
    "M": Kind(lambda e: MinFormCredit(e, component="shaping"), "min_form", reads="shaping"),
    "N": Kind(
        lambda e: RewardNormalize(e, component="shaping", clip=3.0), "normalize", reads="shaping"
    ),
}


# --------------------------------------------------------------------------------------------
# The reference: the rules of composition, restated independently of the wrappers


def refusal(order: Sequence[str], kinds: dict[str, Kind]) -> tuple[str, str] | None:
    """``(outer, inner)`` wrapper kinds of the first refused pair, innermost wrapper first."""
    for j, outer in enumerate(order):
        ko = kinds[outer]
        for i in range(j - 1, -1, -1):
            inner, ki = order[i], kinds[order[i]]
            recorded_below = {kinds[k].name for k in order[:i] if kinds[k].source}
            if ko.reads is not None:
                held = (inner == "M" and ki.reads == ko.reads) or (
                    inner in ("G", "PG") and ko.reads in recorded_below
                )
                if held:
                    return outer, inner
            if ko.source and ki.reads == ko.name:
                return outer, inner
        if outer == "M" and ko.reads not in {kinds[k].name for k in order[:j] if kinds[k].source}:
            return outer, ""  # nothing inside produces its component: no scale to read
    return None


CLASS_NAMES = {
    "P": "ProcessReward",
    "R": "ProgressReward",
    "S": "PotentialShaping",
    "G": "GatedAccumulation",
    "PG": "PosteriorGate",
    "M": "MinFormCredit",
    "T": "RewardTransform",
    "N": "RewardNormalize",
}


@dataclass
class Normalizer:
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def __call__(self, value: float, clip: float) -> float:
        self.count, self.mean, self.m2 = welford_update(self.count, self.mean, self.m2, value)
        var = self.m2 / self.count
        return float(np.clip((value - self.mean) / math.sqrt(var + 1e-8), -clip, clip))


@dataclass
class Reference:
    """Per-step stream and redistributed view of every component, wrapper by wrapper."""

    order: Sequence[str]
    kinds: dict[str, Kind]
    normalizers: dict[int, Normalizer] = field(default_factory=dict)

    def episode(
        self, outcome: np.ndarray, raw: dict[str, np.ndarray], opened: bool
    ) -> tuple[list[dict[str, float]], dict[str, np.ndarray]]:
        n = len(outcome)
        stream: dict[str, np.ndarray] = {"outcome": outcome.copy()}
        view: dict[str, np.ndarray] = {"outcome": outcome.copy()}
        links: dict[str, str] = {}
        for pos, kind in enumerate(self.order):
            k = self.kinds[kind]
            key, c = k.name, 2
            while key in stream:
                key, c = f"{k.name}_{c}", c + 1
            if k.source:
                stream[key], view[key] = raw[kind].copy(), raw[kind].copy()
                continue
            comp = k.reads
            linked = [comp, *(x for x, y in links.items() if y == comp)] if comp else []
            if kind in ("T", "N"):
                if comp not in stream:
                    term = np.zeros(n)
                else:
                    eff = sum(stream[x] for x in linked)
                    if kind == "T":
                        new = np.array([float(par_transform(v, REFS)) for v in eff])
                    else:
                        norm = self.normalizers.setdefault(pos, Normalizer())
                        new = np.array([norm(float(v), 3.0) for v in eff])
                    term = new - eff
                stream[key], view[key] = term, term.copy()
                links[key] = comp  # type: ignore[assignment]
            elif kind in ("G", "PG"):
                gated = [x for x in stream if x != "outcome"]
                held_s = sum((stream[x] for x in gated), np.zeros(n))
                held_v = sum((view[x] for x in gated), np.zeros(n))
                term = -held_s
                term[-1] += held_s.sum() if opened else 0.0
                stream[key], view[key] = term, np.zeros(n) if opened else -held_v
            else:  # M
                pr_s = sum(stream[x] for x in linked)
                pr_v = sum(view[x] for x in linked)
                producer = next(
                    self.kinds[o]
                    for o in reversed(self.order[:pos])
                    if (o in ("T", "N") and self.kinds[o].reads == comp)
                    or self.kinds[o].name == comp
                )
                scale = producer.coef if producer.source else 1.0
                shaped = min_form_rewards(pr_v, 0.1, scale=scale)
                term = -pr_s
                term[-1] += shaped.sum()
                stream[key], view[key] = term, shaped - pr_v
        steps = [{x: float(v[t]) for x, v in stream.items()} for t in range(n)]
        return steps, view


# --------------------------------------------------------------------------------------------
# Policies


def math_policy(kind: str, seed: int) -> Callable[[Env, int], str]:
    rng = np.random.default_rng(seed)

    def act(env: Env, t: int) -> str:
        gold = env.unwrapped.task.metadata["gold_steps"]
        if kind == "gold":
            return str(gold[min(t, len(gold) - 1)])
        choice = rng.choice(["repeat", "trivial", "gold", "wrong"])
        if choice == "repeat":
            return str(gold[0])
        if choice == "trivial":
            return f"Step {t + 1}: 1 + 1 = 2"
        if choice == "gold":
            return str(gold[min(t, len(gold) - 2)])
        return "The answer is \\boxed{-12345}."

    return act


def reach_policy(kind: str, seed: int) -> Callable[[Env, Any], Any]:
    expert = expert_for("prm/Reach-v0")
    space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32, seed=seed)
    return lambda env, obs: expert(obs) if kind == "gold" else space.sample()


# --------------------------------------------------------------------------------------------
# Running a stack against the reference


def run_stack(
    order: tuple[str, ...],
    kinds: dict[str, Kind],
    make: Callable[[], Env],
    episodes: list[tuple[str, int]],
    text: bool,
) -> None:
    blocked = refusal(order, kinds)
    env = make()
    if blocked is not None:
        with pytest.raises(ValueError) as excinfo:
            for kind in order:
                env = kinds[kind].build(env)
        message = str(excinfo.value)
        outer, inner = blocked
        assert CLASS_NAMES[outer] in message
        if inner:  # the error names the right order: the outer one goes inside
            assert f"{CLASS_NAMES[inner]}({CLASS_NAMES[outer]}(" in message
        return
    for kind in order:
        env = kinds[kind].build(env)
    # Each raw term computed alone, on its own copy of the env, fed the same actions.
    sources = {k: kinds[k].build(make()) for k in set(order) if kinds[k].source}
    bare = make()
    reference = Reference(order, kinds)
    # A per-step wrapper that keeps no EpisodeTerms (ProgressReward today) cannot spread its
    # terms over step_rewards; outside a trajectory-level wrapper it must drop them, not leave
    # them stale.
    keeps = [
        not kinds[k].source or isinstance(getattr(w, "_terms", None), EpisodeTerms)
        for k, w in zip(order, stack_of(env), strict=True)
    ]
    participating = not any(not keeps[j] and TRAJECTORY & set(order[:j]) for j in range(len(order)))
    for policy, seed in episodes:
        obs, _ = env.reset(seed=seed)
        bare.reset(seed=seed)
        for src in sources.values():
            src.reset(seed=seed)
        act: Callable[[Env, Any], Any] = (
            math_policy(policy, seed) if text else reach_policy(policy, seed)
        )
        got: list[dict[str, float]] = []
        outcome: list[float] = []
        raw: dict[str, list[float]] = {k: [] for k in sources}
        total, t, done = 0.0, 0, False
        while not done:
            action = act(env, t) if text else act(env, obs)
            obs, reward, terminated, truncated, info = env.step(action)
            _, native, *_, bare_info = bare.step(action)
            for k, src in sources.items():
                raw[k].append(src.step(action)[4]["reward_components"][kinds[k].name])
            comps = dict(info["reward_components"])
            assert math.isclose(float(reward), sum(comps.values()), abs_tol=1e-9)
            got.append(comps)
            outcome.append(float(native))
            total += float(reward)
            t += 1
            done = terminated or truncated
        opened = float(bare_info.get("outcome", bare_info.get("is_success", 0.0))) >= 1.0
        steps, view = reference.episode(
            np.array(outcome), {k: np.array(v) for k, v in raw.items()}, opened
        )
        # Step by step, exactly the reference's components: nothing paid or removed twice.
        assert len(got) == len(steps)
        for mine, theirs in zip(got, steps, strict=True):
            assert mine.keys() == theirs.keys(), (order, mine, theirs)
            for key in mine:
                assert mine[key] == pytest.approx(theirs[key], abs=1e-9), (order, key)
        expected_return = sum(sum(s.values()) for s in steps)
        assert total == pytest.approx(expected_return, abs=1e-9)
        has_trajectory = bool(TRAJECTORY & set(order))
        if has_trajectory and participating:
            assert "step_rewards" in info, order
        if "step_rewards" in info:
            assert sum(info["step_rewards"]) == pytest.approx(total, abs=1e-9), order
            expected_view = np.sum(list(view.values()), axis=0)
            if participating:  # and each step credited as the reference redistributes it
                np.testing.assert_allclose(info["step_rewards"], expected_view, atol=1e-9)
                assert set(info["step_reward_components"]) == set(view)
        else:  # never stale: only missing where a wrapper outside cannot spread its terms
            assert not has_trajectory or not participating, order


def stack_of(env: Env) -> list[Env]:
    out: list[Env] = []
    while isinstance(env, gym.Wrapper):
        out.append(env)
        env = env.env
    return [w for w in reversed(out) if hasattr(w, "reward_role") or hasattr(w, "coef")]


MATH_ORDERS = list(itertools.product(MATH_KINDS, repeat=3))
REACH_ORDERS = list(itertools.product(REACH_KINDS, repeat=3))


def make_math() -> Env:
    return gym.make("prm/Math-v0", max_steps=6)


def make_reach() -> Env:
    return gym.make("prm/Reach-v0")


def test_every_ordered_math_stack_is_refused_or_exact() -> None:
    refused = 0
    for order in MATH_ORDERS:
        run_stack(order, MATH_KINDS, make_math, [("gold", 3), ("hack", 4)], text=True)
        refused += refusal(order, MATH_KINDS) is not None
    # Both outcomes are exercised, and the orders the issue measured are among the accepted.
    assert 0 < refused < len(MATH_ORDERS)
    assert refusal(("P", "M", "G"), MATH_KINDS) is None
    assert refusal(("P", "G", "M"), MATH_KINDS) == ("M", "G")


def test_every_ordered_reach_stack_is_refused_or_exact() -> None:
    refused = 0
    for order in REACH_ORDERS:
        run_stack(order, REACH_KINDS, make_reach, [("gold", 0), ("random", 1)], text=False)
        refused += refusal(order, REACH_KINDS) is not None
    assert 0 < refused < len(REACH_ORDERS)
    assert refusal(("S", "G", "S"), REACH_KINDS) is None  # shaping outside the gate


# --------------------------------------------------------------------------------------------
# The measured bugs, one regression test each


def play_gold(env: Env, seed: int = 0) -> tuple[float, dict[str, Any]]:
    env.reset(seed=seed)
    total, info = 0.0, {}
    for step in env.unwrapped.task.metadata["gold_steps"]:
        _, reward, terminated, truncated, info = env.step(step)
        total += float(reward)
        if terminated or truncated:
            break
    return total, info


def test_shaping_outside_gate_keeps_step_rewards_consistent() -> None:
    """Measured: PotentialShaping over GatedAccumulation left step_rewards short by 0.86."""
    potential = lambda obs, info: 0.01 * len(str(obs))  # noqa: E731
    env = PotentialShaping(
        GatedAccumulation(ProcessReward(make_math(), RuleVerifier())), potential, gamma=1.0
    )
    for seed in range(5):
        total, info = play_gold(env, seed)
        shaping = info["step_reward_components"]["shaping"]
        assert any(abs(s) > 0.05 for s in shaping)  # the shaping term is really there
        assert sum(info["step_rewards"]) == pytest.approx(total, abs=1e-12)


def test_min_form_outside_gate_is_refused_and_inside_removes_nothing_twice() -> None:
    """Measured: MinFormCredit outside GatedAccumulation returned −5.0 on failure (0 expected)."""
    with pytest.raises(ValueError, match=r"GatedAccumulation\(MinFormCredit\(\.\.\.\)\)"):
        MinFormCredit(GatedAccumulation(ProcessReward(make_math(), RuleVerifier())))
    env = GatedAccumulation(MinFormCredit(ProcessReward(make_math_steps(8), RuleVerifier())))
    env.reset(seed=0)
    first = env.unwrapped.task.metadata["gold_steps"][0]
    total = 0.0
    for _ in range(8):  # a good step repeated, never answered: failure
        *_, reward, _, truncated, info = env.step(first)
        total += float(reward)
    assert truncated and not info["gate_open"]
    assert total == 0.0
    assert info["step_rewards"] == [0.0] * 8


def make_math_steps(max_steps: int) -> Env:
    return gym.make("prm/Math-v0", max_steps=max_steps)


class TrueFalse:
    """A step scorer in [−1, 1]: −1 for the false claim ``2 * 3 = 7``, +1 for anything else."""

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        return np.array([-1.0 if "2 * 3 = 7" in c.action else 1.0 for c in contexts])


def padded_return(coef: float, pad: int) -> float:
    """Return of one false step padded with ``pad`` true ones under min-form credit."""
    env = MinFormCredit(ProcessReward(make_math_steps(pad + 1), TrueFalse(), coef=coef))
    env.reset(seed=0)
    true = env.unwrapped.task.metadata["gold_steps"][0]
    total = 0.0
    for action in ["Step 1: 2 * 3 = 7", *[true] * pad]:
        *_, reward, _, _, info = env.step(action)
        total += float(reward)
    assert info["reward_components"]["outcome"] == 0.0
    return total


@pytest.mark.parametrize("coef", [0.1, 1.0])
def test_min_form_temperature_applies_to_the_unscaled_score(coef: float) -> None:
    """Measured: at coef 0.1, padding a false step with true ones raised the return."""
    base = padded_return(coef, 1)
    padded = padded_return(coef, 6)
    # T = 0.1 on the coef-scaled reward gave −0.076 and −0.010 at coef 0.1 (padding paid 0.066).
    assert padded - base < 1e-6
    # The softmin sits on the false step at any coef: about −coef, as at coef 1.
    assert padded == pytest.approx(-coef, rel=0.01)


def test_min_form_scale_is_read_from_the_producer_or_required() -> None:
    assert MinFormCredit(ProcessReward(make_math(), RuleVerifier(), coef=0.1)).scale == 0.1
    assert (
        MinFormCredit(RewardTransform(ProcessReward(make_math(), RuleVerifier()), REFS)).scale
        == 1.0
    )
    with pytest.raises(ValueError, match="scale="):
        MinFormCredit(make_math())
    assert MinFormCredit(make_math(), scale=0.5).scale == 0.5


def test_gate_opens_on_is_success_without_outcome() -> None:
    """Measured: the default gate never opened on the manipulation envs (no info["outcome"])."""
    env = GatedAccumulation(PotentialShaping(make_reach(), PHI, gamma=GAMMA))
    expert = expert_for("prm/Reach-v0")
    obs, _ = env.reset(seed=0)
    total, done, info = 0.0, False, {}
    while not done:
        obs, reward, terminated, truncated, info = env.step(expert(obs))
        total += float(reward)
        done = terminated or truncated
    assert "outcome" not in info and info["is_success"] == 1.0
    assert info["gate_open"]
    assert sum(info["step_reward_components"]["shaping"]) != 0.0
    assert sum(info["step_rewards"]) == pytest.approx(total)


def test_transform_outside_transform_reads_the_transformed_value() -> None:
    """Two transforms compose (f2(f1(r))) instead of each removing the raw term."""
    env = RewardTransform(RewardTransform(ProcessReward(make_math(), RuleVerifier()), REFS), REFS)
    env.reset(seed=0)
    step = env.unwrapped.task.metadata["gold_steps"][0]
    *_, reward, _, _, info = env.step(step)
    raw = info["reward_components"]["process"]
    once = float(par_transform(raw, REFS))
    assert float(reward) == pytest.approx(float(par_transform(once, REFS)))


def test_source_outside_a_wrapper_naming_its_component_is_refused() -> None:
    with pytest.raises(ValueError, match=r"RewardTransform\(ProcessReward\("):
        ProcessReward(RewardTransform(make_math(), REFS), RuleVerifier())


class PlainBonus(gym.Wrapper[Any, Any, Any, Any]):
    """A third-party per-step wrapper that records its term with plain add_reward_component."""

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        reward = add_reward_component(info, reward, "bonus", 0.5)
        return obs, reward, terminated, truncated, info


def test_plain_per_step_term_outside_a_gate_drops_step_rewards_never_stale() -> None:
    inner = GatedAccumulation(ProcessReward(make_math(), RuleVerifier()))
    _, info = play_gold(inner)
    assert "step_rewards" in info
    total, info = play_gold(
        PlainBonus(GatedAccumulation(ProcessReward(make_math(), RuleVerifier())))
    )
    assert "step_rewards" not in info and "step_reward_components" not in info
    assert total > 0.5  # the bonus itself was paid
