"""Policy invariance of potential-based shaping (Ng, Harada & Russell 1999), end to end.

The shaped rewards are read from the real :class:`prm_gym.wrappers.PotentialShaping` wrapper on
a small tabular env, solved exactly by value iteration and compared with the unshaped solution.
Negative controls (non-potential bonuses, a terminal potential that is not zeroed, a shaping
discount other than the learner's) show that the comparison is able to fail. The same exact
check covers :class:`~prm_gym.wrappers.vector.VectorPotentialShaping` (both autoreset modes)
and the HER relabelling of :class:`~prm_gym.agents.her.ShapedHerReplayBuffer` (with SB3's plain
buffer as its negative control).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit
from stable_baselines3.common.vec_env import DummyVecEnv
from stable_baselines3.her import HerReplayBuffer

from prm_gym.agents.her import ShapedHerReplayBuffer
from prm_gym.core import Potential
from prm_gym.credit import potential_shaping
from prm_gym.wrappers import PotentialShaping
from prm_gym.wrappers.vector import VectorPotentialShaping

GAMMA = 0.9
N_MDPS = 30

FloatArray = np.ndarray


class TabularMDP(gym.Env[Any, Any]):
    """A finite MDP with ``Discrete`` states and actions.

    ``P`` is either an ``(S, A)`` integer table of deterministic next states or an ``(S, A, S)``
    table of transition probabilities; ``R[s, a]`` is the reward of taking ``a`` in ``s``.
    Entering a state in ``terminal`` terminates the episode. ``reset(options={"state": s})``
    starts the episode in ``s`` (default: state 0). ``info["state"]`` repeats the state.
    """

    def __init__(self, P: np.ndarray, R: np.ndarray, terminal: frozenset[int]) -> None:
        self.P = np.asarray(P)
        self.R = np.asarray(R, dtype=np.float64)
        self.n_states, self.n_actions = self.R.shape
        self.terminal = frozenset(int(s) for s in terminal)
        self.observation_space = spaces.Discrete(self.n_states)
        self.action_space = spaces.Discrete(self.n_actions)
        self.state = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.state = int((options or {}).get("state", 0))
        return self.state, {"state": self.state}

    def step(self, action: int) -> tuple[int, SupportsFloat, bool, bool, dict[str, Any]]:
        s, a = self.state, int(action)
        if self.P.ndim == 2:
            nxt = int(self.P[s, a])
        else:
            nxt = int(self.np_random.choice(self.n_states, p=self.P[s, a]))
        self.state = nxt
        return nxt, float(self.R[s, a]), nxt in self.terminal, False, {"state": nxt}


# --------------------------------------------------------------------------------------------
# Exact solution of a tabular MDP


def transition_tensor(P: np.ndarray, n_states: int) -> FloatArray:
    """``(S, A, S)`` probabilities from a deterministic ``(S, A)`` table (or as given)."""
    if P.ndim == 3:
        return np.asarray(P, dtype=np.float64)
    T = np.zeros((*P.shape, n_states))
    rows, cols = np.indices(P.shape)
    T[rows, cols, P] = 1.0
    return T


def value_iteration(
    T: FloatArray, R: FloatArray, terminal: frozenset[int], gamma: float = GAMMA
) -> FloatArray:
    """Optimal Q for expected rewards ``R[s, a]``; terminal states have value 0."""
    n_states = R.shape[0]
    alive = np.ones(n_states)
    alive[list(terminal)] = 0.0
    V = np.zeros(n_states)
    for _ in range(10_000):
        Q = R + gamma * T @ (alive * V)
        V_new = Q.max(axis=1) * alive
        if np.max(np.abs(V_new - V)) < 1e-13:
            V = V_new
            break
        V = V_new
    else:  # pragma: no cover - gamma < 1 always converges
        raise AssertionError("value iteration did not converge")
    return R + gamma * T @ (alive * V)


def greedy(Q: FloatArray) -> np.ndarray:
    return np.argmax(Q, axis=1)


def non_terminal(n_states: int, terminal: frozenset[int]) -> list[int]:
    return [s for s in range(n_states) if s not in terminal]


def action_gap(Q: FloatArray, states: list[int]) -> float:
    """Smallest gap between the best and second-best action over ``states``."""
    top2 = np.sort(Q[states], axis=1)[:, -2:]
    return float(np.min(top2[:, 1] - top2[:, 0]))


# --------------------------------------------------------------------------------------------
# Random MDPs


def random_mdp(
    rng: np.random.Generator, *, stochastic: bool = False
) -> tuple[np.ndarray, FloatArray, frozenset[int]]:
    """A random MDP with 6–10 states, 2–4 actions, 1–2 terminal states and a clear optimum."""
    while True:
        n_states = int(rng.integers(6, 11))
        n_actions = int(rng.integers(2, 5))
        terminal = frozenset(
            int(s) for s in rng.choice(n_states, size=int(rng.integers(1, 3)), replace=False)
        )
        P: np.ndarray
        if stochastic:
            P = rng.dirichlet(np.full(n_states, 0.5), size=(n_states, n_actions))
        else:
            P = rng.integers(0, n_states, size=(n_states, n_actions))
        R = rng.normal(size=(n_states, n_actions))
        Q = value_iteration(transition_tensor(P, n_states), R, terminal)
        # Ties would make "the" greedy policy ambiguous; continuous rewards make them a
        # measure-zero event, and this guard makes sure none slipped through.
        if action_gap(Q, non_terminal(n_states, terminal)) > 1e-6:
            return P, R, terminal


def random_potential(rng: np.random.Generator, n_states: int) -> FloatArray:
    # Large compared with the rewards, terminal states included (the wrapper must ignore them).
    return rng.normal(scale=5.0, size=n_states)


def table_potential(phi: FloatArray) -> Potential:
    return lambda obs, info: float(phi[int(obs)])


def shaped_reward_table(
    env: gym.Env[Any, Any], n_states: int, n_actions: int, terminal: frozenset[int]
) -> FloatArray:
    """R'[s, a] read from the wrapper: reset to ``s``, take ``a`` once."""
    R_shaped = np.zeros((n_states, n_actions))
    for s in non_terminal(n_states, terminal):
        for a in range(n_actions):
            env.reset(options={"state": s})
            _, reward, _, _, info = env.step(a)
            comps = info["reward_components"]
            assert math.isclose(float(reward), sum(comps.values()), rel_tol=0, abs_tol=1e-12)
            R_shaped[s, a] = float(reward)
    return R_shaped


# --------------------------------------------------------------------------------------------
# Invariance


def test_wrapper_shaping_preserves_optimal_policy_deterministic() -> None:
    rng = np.random.default_rng(1999)
    for _ in range(N_MDPS):
        P, R, terminal = random_mdp(rng)
        n_states, n_actions = R.shape
        phi = random_potential(rng, n_states)
        env = PotentialShaping(TabularMDP(P, R, terminal), table_potential(phi), gamma=GAMMA)
        R_shaped = shaped_reward_table(env, n_states, n_actions, terminal)

        T = transition_tensor(P, n_states)
        Q = value_iteration(T, R, terminal)
        Q_shaped = value_iteration(T, R_shaped, terminal)
        live = non_terminal(n_states, terminal)

        np.testing.assert_array_equal(greedy(Q)[live], greedy(Q_shaped)[live])
        # Ng et al., Theorem 1: Q'(s, a) = Q(s, a) − Φ(s).
        np.testing.assert_allclose(Q_shaped[live], Q[live] - phi[live, None], atol=1e-9)


def test_wrapper_shaped_rewards_match_formula() -> None:
    """Every entry of R' is R + γΦ(s′)·[s′ not terminal] − Φ(s), the potential's own values."""
    rng = np.random.default_rng(7)
    for _ in range(10):
        P, R, terminal = random_mdp(rng)
        n_states, n_actions = R.shape
        phi = random_potential(rng, n_states)
        env = PotentialShaping(TabularMDP(P, R, terminal), table_potential(phi), gamma=GAMMA)
        R_shaped = shaped_reward_table(env, n_states, n_actions, terminal)
        for s in non_terminal(n_states, terminal):
            for a in range(n_actions):
                nxt = int(P[s, a])
                phi_next = 0.0 if nxt in terminal else phi[nxt]
                expected = R[s, a] + GAMMA * phi_next - phi[s]
                assert math.isclose(R_shaped[s, a], expected, rel_tol=1e-12, abs_tol=1e-12)


def expected_shaped_rewards(
    T: FloatArray, R: FloatArray, phi: FloatArray, terminal: frozenset[int], gamma: float
) -> FloatArray:
    """R'(s, a) = R(s, a) + Σ_s′ P(s′ | s, a) · F(s, s′), F from ``credit.potential_shaping``."""
    n_states = R.shape[0]
    phi_s = np.broadcast_to(phi[:, None], (n_states, n_states))
    phi_next = np.broadcast_to(phi[None, :], (n_states, n_states))
    ends = np.zeros((n_states, n_states), dtype=bool)
    ends[:, list(terminal)] = True
    F = potential_shaping(phi_s, phi_next, gamma, ends)  # F[s, s′]
    return R + np.einsum("sap,sp->sa", T, F)


def test_shaping_preserves_optimal_policy_stochastic() -> None:
    rng = np.random.default_rng(2024)
    for _ in range(N_MDPS):
        P, R, terminal = random_mdp(rng, stochastic=True)
        n_states = R.shape[0]
        phi = random_potential(rng, n_states)
        T = transition_tensor(P, n_states)
        R_shaped = expected_shaped_rewards(T, R, phi, terminal, GAMMA)

        Q = value_iteration(T, R, terminal)
        Q_shaped = value_iteration(T, R_shaped, terminal)
        live = non_terminal(n_states, terminal)
        np.testing.assert_array_equal(greedy(Q)[live], greedy(Q_shaped)[live])
        np.testing.assert_allclose(Q_shaped[live], Q[live] - phi[live, None], atol=1e-9)


def test_stochastic_wrapper_rewards_average_to_expected_model() -> None:
    """Sampled through the wrapper, the shaped reward of (s, a) averages to the expected model."""
    rng = np.random.default_rng(3)
    P, R, terminal = random_mdp(rng, stochastic=True)
    n_states = R.shape[0]
    phi = random_potential(rng, n_states)
    env = PotentialShaping(TabularMDP(P, R, terminal), table_potential(phi), gamma=GAMMA)
    expected = expected_shaped_rewards(transition_tensor(P, n_states), R, phi, terminal, GAMMA)
    s = non_terminal(n_states, terminal)[0]
    env.reset(seed=0, options={"state": s})
    for a in range(R.shape[1]):
        samples = []
        for _ in range(4000):
            env.reset(options={"state": s})
            samples.append(float(env.step(a)[1]))
        # Rewards are bounded by |R| + 2·max|Φ| < 40: 4000 samples give a standard error < 0.7.
        stderr = np.std(samples) / np.sqrt(len(samples))
        assert abs(np.mean(samples) - expected[s, a]) < 5 * stderr + 1e-9


# --------------------------------------------------------------------------------------------
# Negative controls: the comparison above can fail


def count_policy_changes(
    shape: Callable[[np.ndarray, FloatArray, frozenset[int], FloatArray], FloatArray],
    seed: int,
) -> int:
    """How many of ``N_MDPS`` random MDPs change their optimal policy under ``shape``."""
    rng = np.random.default_rng(seed)
    changed = 0
    for _ in range(N_MDPS):
        P, R, terminal = random_mdp(rng)
        n_states = R.shape[0]
        phi = random_potential(rng, n_states)
        T = transition_tensor(P, n_states)
        live = non_terminal(n_states, terminal)
        Q = value_iteration(T, R, terminal)
        Q_shaped = value_iteration(T, shape(P, R, terminal, phi), terminal)
        changed += int(np.any(greedy(Q)[live] != greedy(Q_shaped)[live]))
    return changed


def test_negative_control_action_bonus_changes_policy() -> None:
    def action_bonus(
        P: np.ndarray, R: FloatArray, terminal: frozenset[int], phi: FloatArray
    ) -> FloatArray:
        bonus = np.zeros_like(R)
        bonus[:, 0] = 2.0  # pays for an action, not for a change of state
        return R + bonus

    assert count_policy_changes(action_bonus, seed=11) >= 1


def test_negative_control_terminal_potential_kept_changes_policy() -> None:
    """γΦ(s′) − Φ(s) that keeps Φ(terminal) is not invariant: zeroing on termination matters."""

    def keep_terminal_phi(
        P: np.ndarray, R: FloatArray, terminal: frozenset[int], phi: FloatArray
    ) -> FloatArray:
        return R + GAMMA * phi[P] - phi[:, None]  # Φ(s′) even where s′ is terminal

    assert count_policy_changes(keep_terminal_phi, seed=12) >= 1


def test_negative_control_wrong_gamma_changes_policy() -> None:
    """A shaping discount other than the learner's γ breaks invariance."""

    def wrong_gamma(
        P: np.ndarray, R: FloatArray, terminal: frozenset[int], phi: FloatArray
    ) -> FloatArray:
        n_states = R.shape[0]
        T = transition_tensor(P, n_states)
        return expected_shaped_rewards(T, R, phi, terminal, gamma=0.3)

    assert count_policy_changes(wrong_gamma, seed=13) >= 1


# --------------------------------------------------------------------------------------------
# Truncation vs termination


def chain_mdp() -> tuple[np.ndarray, FloatArray, frozenset[int]]:
    """States 0–4 cycle under action 0 (never terminal); action 1 jumps to terminal state 5."""
    n = 6
    P = np.zeros((n, 2), dtype=int)
    P[:, 0] = (np.arange(n) + 1) % 5
    P[:, 1] = 5
    R = np.arange(2 * n, dtype=np.float64).reshape(n, 2) / 10.0
    return P, R, frozenset({5})


PHI_CHAIN = np.array([1.5, -2.0, 3.25, 0.5, -4.0, 7.0])


@pytest.mark.parametrize("k", [1, 2, 3, 7])
def test_truncated_step_keeps_phi_next(k: int) -> None:
    P, R, terminal = chain_mdp()
    env = PotentialShaping(
        TimeLimit(TabularMDP(P, R, terminal), max_episode_steps=k),
        table_potential(PHI_CHAIN),
        gamma=GAMMA,
    )
    s, _ = env.reset(options={"state": 0})
    for t in range(1, k + 1):
        nxt, reward, terminated, truncated, info = env.step(0)
        assert not terminated
        assert truncated == (t == k)
        shaping = info["reward_components"]["shaping"]
        # On the truncated step too: γΦ(s′) with the real Φ(s′), never 0.
        assert math.isclose(shaping, GAMMA * PHI_CHAIN[nxt] - PHI_CHAIN[s], abs_tol=1e-12)
        assert math.isclose(float(reward), R[s, 0] + shaping, abs_tol=1e-12)
        assert info["reward_components"]["outcome"] == R[s, 0]
        s = nxt


def test_terminated_step_drops_phi_next() -> None:
    P, R, terminal = chain_mdp()
    env = PotentialShaping(TabularMDP(P, R, terminal), table_potential(PHI_CHAIN), gamma=GAMMA)
    for start in range(5):
        env.reset(options={"state": start})
        nxt, reward, terminated, truncated, info = env.step(1)
        assert terminated and not truncated and nxt == 5
        assert info["reward_components"]["shaping"] == -PHI_CHAIN[start]  # not γ·7 − Φ(s)
        assert math.isclose(float(reward), R[start, 1] - PHI_CHAIN[start], abs_tol=1e-12)


def test_terminated_and_truncated_together_counts_as_terminated() -> None:
    """When the time limit falls on the terminating step, Φ(s′) is still 0."""
    P, R, terminal = chain_mdp()
    env = PotentialShaping(
        TimeLimit(TabularMDP(P, R, terminal), max_episode_steps=2),
        table_potential(PHI_CHAIN),
        gamma=GAMMA,
    )
    env.reset(options={"state": 0})
    env.step(0)
    _, _, terminated, truncated, info = env.step(1)
    assert terminated and truncated
    assert info["reward_components"]["shaping"] == -PHI_CHAIN[1]


def test_gamma_one_shaping_telescopes() -> None:
    """With γ = 1: ΣF = Φ(s_T) − Φ(s_0) on truncation and −Φ(s_0) on termination."""
    rng = np.random.default_rng(5)
    seen = {"terminated": 0, "truncated": 0}
    for _ in range(20):
        P, R, terminal = random_mdp(rng)
        n_states, n_actions = R.shape
        phi = random_potential(rng, n_states)
        k = int(rng.integers(1, 9))
        env = PotentialShaping(
            TimeLimit(TabularMDP(P, R, terminal), max_episode_steps=k),
            table_potential(phi),
            gamma=1.0,
        )
        for _ in range(10):
            s0 = int(rng.choice(non_terminal(n_states, terminal)))
            s, _ = env.reset(options={"state": s0})
            total, done = 0.0, False
            while not done:
                s, _, terminated, truncated, info = env.step(int(rng.integers(n_actions)))
                total += info["reward_components"]["shaping"]
                done = terminated or truncated
            if terminated:
                seen["terminated"] += 1
                assert math.isclose(total, -phi[s0], abs_tol=1e-9)
            else:
                seen["truncated"] += 1
                assert math.isclose(total, phi[s] - phi[s0], abs_tol=1e-9)
    assert min(seen.values()) > 10, seen  # both endings were exercised


# --------------------------------------------------------------------------------------------
# Never across a reset


def test_first_shaping_term_after_reset_uses_new_start_state() -> None:
    P, R, terminal = chain_mdp()
    env = PotentialShaping(
        TimeLimit(TabularMDP(P, R, terminal), max_episode_steps=2),
        table_potential(PHI_CHAIN),
        gamma=GAMMA,
    )
    # Episode 1 from state 0 ends by truncation in state 2 (Φ = 3.25).
    env.reset(options={"state": 0})
    env.step(0)
    *_, truncated, _ = env.step(0)
    assert truncated
    # Episode 2 from state 3 (Φ = 0.5): F = γΦ(4) − Φ(3), not γΦ(4) − Φ(2).
    env.reset(options={"state": 3})
    nxt, *_, info = env.step(0)
    assert nxt == 4
    assert math.isclose(
        info["reward_components"]["shaping"], GAMMA * PHI_CHAIN[4] - PHI_CHAIN[3], abs_tol=1e-12
    )

    # The same after a terminated episode, and after one abandoned mid-way.
    env.reset(options={"state": 1})
    *_, terminated, _, _ = env.step(1)
    assert terminated
    env.reset(options={"state": 4})
    *_, info = env.step(0)
    assert math.isclose(
        info["reward_components"]["shaping"], GAMMA * PHI_CHAIN[0] - PHI_CHAIN[4], abs_tol=1e-12
    )
    env.reset(options={"state": 2})  # abandon in state 0 after one step of this episode
    *_, info = env.step(0)
    assert math.isclose(
        info["reward_components"]["shaping"], GAMMA * PHI_CHAIN[3] - PHI_CHAIN[2], abs_tol=1e-12
    )


def test_potential_sees_reset_and_step_info() -> None:
    """Φ is called with the env's (obs, info) at reset and at every step."""
    P, R, terminal = chain_mdp()
    calls: list[tuple[int, int]] = []

    def potential(observation: Any, info: Mapping[str, Any]) -> float:
        calls.append((int(observation), int(info["state"])))
        return float(PHI_CHAIN[int(info["state"])])

    env = PotentialShaping(TabularMDP(P, R, terminal), potential, gamma=GAMMA)
    env.reset(options={"state": 3})
    env.step(0)
    env.step(0)
    assert calls == [(3, 3), (4, 4), (0, 0)]


# --------------------------------------------------------------------------------------------
# The same invariance through VectorPotentialShaping (Φ reads each sub-env's own info)


def info_potential(phi: FloatArray) -> Potential:
    """Φ from ``info["state"]`` only: a potential that sees ``{}`` instead of the info fails."""
    return lambda obs, info: float(phi[int(info["state"])])


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_wrapper_shaping_preserves_optimal_policy(mode: AutoresetMode) -> None:
    """R'[s, :] read in one vector step (sub-env j takes action j from s), then solved exactly."""
    rng = np.random.default_rng(2025)
    for _ in range(10):
        P, R, terminal = random_mdp(rng)
        n_states, n_actions = R.shape
        phi = random_potential(rng, n_states)
        envs = VectorPotentialShaping(
            SyncVectorEnv(
                [partial(TabularMDP, P, R, terminal) for _ in range(n_actions)],
                autoreset_mode=mode,
            ),
            info_potential(phi),
            gamma=GAMMA,
        )
        R_shaped = np.zeros_like(R)
        for s in non_terminal(n_states, terminal):
            envs.reset(options={"state": s})
            _, rewards, _, _, info = envs.step(np.arange(n_actions))
            comps = info["reward_components"]
            np.testing.assert_allclose(rewards, comps["outcome"] + comps["shaping"], atol=1e-12)
            R_shaped[s] = rewards
        T = transition_tensor(P, n_states)
        Q = value_iteration(T, R, terminal)
        Q_shaped = value_iteration(T, R_shaped, terminal)
        live = non_terminal(n_states, terminal)
        np.testing.assert_array_equal(greedy(Q)[live], greedy(Q_shaped)[live])
        np.testing.assert_allclose(Q_shaped[live], Q[live] - phi[live, None], atol=1e-9)


class VisitedStates:
    """A history-dependent potential (it has ``reset()``): distinct states seen this episode."""

    def __init__(self) -> None:
        self.seen: set[int] = set()

    def reset(self) -> None:
        self.seen = set()

    def __call__(self, observation: Any, info: Mapping[str, Any]) -> float:
        self.seen.add(int(info["state"]))
        return float(len(self.seen))


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_shaping_gives_each_sub_env_the_single_env_terms(mode: AutoresetMode) -> None:
    """Info-reading and stateful potentials: every sub-env's F equals the single env's, across
    autoresets (the old wrapper passed ``{}`` and shared one potential)."""
    P, R, terminal = chain_mdp()
    n, steps, k = 3, 40, 4
    rng = np.random.default_rng(0)
    for potential in (info_potential(PHI_CHAIN), VisitedStates()):
        envs = VectorPotentialShaping(
            SyncVectorEnv(
                [
                    lambda: TimeLimit(TabularMDP(P, R, terminal), max_episode_steps=k)
                    for _ in range(n)
                ],
                autoreset_mode=mode,
            ),
            potential,
            gamma=GAMMA,
        )
        singles = [
            PotentialShaping(
                TimeLimit(TabularMDP(P, R, terminal), max_episode_steps=k),
                potential if not hasattr(potential, "reset") else VisitedStates(),
                gamma=GAMMA,
            )
            for _ in range(n)
        ]
        envs.reset(options={"state": 2})
        for single in singles:
            single.reset(options={"state": 2})
        pending = np.zeros(n, dtype=bool)
        nonzero = 0
        for _ in range(steps):
            actions = (rng.random(n) < 0.2).astype(int)  # mostly cycle, sometimes terminate
            _, _, terminated, truncated, info = envs.step(actions)
            for i, single in enumerate(singles):
                if pending[i]:  # NEXT_STEP autoreset step: F = 0, a new episode from state 0
                    assert info["reward_components"]["shaping"][i] == 0.0
                    single.reset(options={"state": 0})
                    continue
                *_, s_term, s_trunc, s_info = single.step(int(actions[i]))
                assert (s_term, s_trunc) == (terminated[i], truncated[i])
                expected = s_info["reward_components"]["shaping"]
                assert info["reward_components"]["shaping"][i] == pytest.approx(expected)
                nonzero += expected != 0.0
                if (s_term or s_trunc) and mode == AutoresetMode.SAME_STEP:
                    single.reset(options={"state": 0})
            done = np.logical_or(terminated, truncated)
            pending = done if mode == AutoresetMode.NEXT_STEP else pending
        assert nonzero > steps  # the potential really moved


# --------------------------------------------------------------------------------------------
# The same invariance through HER relabelling (ShapedHerReplayBuffer)


class GoalChain(gym.Env[Any, Any]):
    """A goal-conditioned tabular MDP: one-hot state and goal, reward 0 on reaching the goal
    (else −1), never terminating (episodes end by time limit, as in the Fetch tasks)."""

    def __init__(self, P: np.ndarray, n_goals: int) -> None:
        self.P = np.asarray(P)
        self.n_states, n_actions = self.P.shape
        box = spaces.Box(0.0, 1.0, (self.n_states,), np.float32)
        self.observation_space = spaces.Dict(
            {"observation": box, "achieved_goal": box, "desired_goal": box}
        )
        self.action_space = spaces.Discrete(n_actions)
        self.state, self.goal = 0, 0

    def _obs(self) -> dict[str, np.ndarray]:
        eye = np.eye(self.n_states, dtype=np.float32)
        return {
            "observation": eye[self.state],
            "achieved_goal": eye[self.state],
            "desired_goal": eye[self.goal],
        }

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        self.state, self.goal = int(options.get("state", 0)), int(options.get("goal", 0))
        return self._obs(), {"state": self.state}

    def step(self, action: int) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        self.state = int(self.P[self.state, int(action)])
        obs = self._obs()
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], {}))
        return obs, reward, False, False, {"state": self.state}

    def compute_reward(self, achieved: np.ndarray, desired: np.ndarray, info: Any) -> np.ndarray:
        same = np.argmax(achieved, axis=-1) == np.argmax(desired, axis=-1)
        return np.where(same, 0.0, -1.0)


def goal_potential(phi: FloatArray) -> Potential:
    """Φ(s, g) from the observation dict (unbatched or batched)."""

    def potential(obs: Mapping[str, Any], info: Any = None) -> float:
        s = int(np.argmax(obs["observation"]))
        g = int(np.argmax(obs["desired_goal"]))
        return float(phi[s, g])

    return potential


def filled_her_buffer(
    buffer_class: type[HerReplayBuffer], P: np.ndarray, phi: FloatArray, **kwargs: Any
) -> HerReplayBuffer:
    """Episodes of the shaped env (PotentialShaping, same Φ and γ) covering every (s, a)."""
    n_states, n_actions = P.shape
    env = TimeLimit(GoalChain(P, n_states), max_episode_steps=4)
    shaped = PotentialShaping(env, goal_potential(phi), gamma=GAMMA)
    vec = DummyVecEnv([lambda: TimeLimit(GoalChain(P, n_states), max_episode_steps=4)])
    buffer = buffer_class(
        2000, env.observation_space, env.action_space, env=vec, n_sampled_goal=4, **kwargs
    )
    rng = np.random.default_rng(0)
    seen = np.zeros((n_states, n_actions), dtype=bool)
    while not seen.all() or buffer.size() < 400:
        start, goal = int(rng.integers(n_states)), int(rng.integers(n_states))
        obs, _ = shaped.reset(options={"state": start, "goal": goal})
        done = False
        while not done:
            action = int(rng.integers(n_actions))
            seen[int(np.argmax(obs["observation"])), action] = True
            nxt, reward, terminated, truncated, _ = shaped.step(action)
            done = terminated or truncated
            batch = {key: value[None] for key, value in obs.items()}
            batch_next = {key: value[None] for key, value in nxt.items()}
            infos = [{"TimeLimit.truncated": truncated and not terminated}]
            buffer.add(batch, batch_next, np.array([[action]]), np.array([reward]),
                       np.array([done]), infos)  # fmt: skip
            obs = nxt
    return buffer


def sampled_rewards_match(buffer: HerReplayBuffer, R_shaped: FloatArray) -> tuple[int, int]:
    """(samples, mismatches): each sample's reward against R'_g[s, a] for its replay goal g."""
    samples = buffer.sample(512)
    s = samples.observations["observation"].argmax(-1).cpu().numpy()
    g = samples.observations["desired_goal"].argmax(-1).cpu().numpy()
    a = samples.actions.cpu().numpy().reshape(-1).astype(int)
    rewards = samples.rewards.cpu().numpy().reshape(-1)
    expected = R_shaped[g, s, a]
    return len(rewards), int(np.sum(~np.isclose(rewards, expected, atol=1e-5)))


def test_her_relabelled_shaping_preserves_optimal_goal_policy() -> None:
    """Every transition the buffer replays, with its own goal or a relabelled one, carries
    R_g(s, a) + γΦ(s′, g) − Φ(s, g): the shaped goal-conditioned MDP, solved exactly, has the
    same optimal policy for every goal (Q′_g = Q_g − Φ(·, g))."""
    rng = np.random.default_rng(17)
    n_states, n_actions = 6, 3
    P = rng.integers(0, n_states, size=(n_states, n_actions))
    phi = rng.normal(scale=5.0, size=(n_states, n_states))
    buffer = filled_her_buffer(
        ShapedHerReplayBuffer, P, phi, potential=goal_potential(phi), shaping_gamma=GAMMA
    )
    T = transition_tensor(P, n_states)
    goals = np.eye(n_states, dtype=np.float32)
    # R'_g[s, a] from the buffer's own shaping terms on stored transitions, for every goal.
    R_shaped = np.full((n_states, n_states, n_actions), np.nan)
    stored = buffer.size()
    s_all = buffer.observations["observation"][:stored, 0].argmax(-1)
    a_all = buffer.actions[:stored, 0, 0].astype(int)
    for g in range(n_states):
        terms = buffer.shaping_terms(
            np.arange(stored), np.zeros(stored, dtype=int), np.repeat(goals[g][None], stored, 0)
        )
        nxt = P[s_all, a_all]
        R_shaped[g, s_all, a_all] = np.where(nxt == g, 0.0, -1.0) + terms
    assert not np.isnan(R_shaped).any()  # every (s, a) stored
    for g in range(n_states):
        R = np.where(g == P, 0.0, -1.0)
        Q = value_iteration(T, R, frozenset())
        Q_shaped = value_iteration(T, R_shaped[g], frozenset())
        np.testing.assert_allclose(Q_shaped, Q - phi[:, g, None], atol=1e-6)
        # Same optimal actions (two actions reaching the same state tie exactly: skip those).
        clear = np.sort(Q, axis=1)[:, -1] - np.sort(Q, axis=1)[:, -2] > 1e-6
        np.testing.assert_array_equal(greedy(Q)[clear], greedy(Q_shaped)[clear])
    # And the sampled batches (real and relabelled mixed) carry exactly those rewards.
    n, mismatches = sampled_rewards_match(buffer, R_shaped)
    assert n == 512 and mismatches == 0


def test_negative_control_plain_her_relabels_without_shaping() -> None:
    """SB3's own buffer gives relabelled transitions the outcome reward only: not R + F."""
    rng = np.random.default_rng(17)
    n_states, n_actions = 6, 3
    P = rng.integers(0, n_states, size=(n_states, n_actions))
    phi = rng.normal(scale=5.0, size=(n_states, n_states))
    buffer = filled_her_buffer(HerReplayBuffer, P, phi)
    R_shaped = np.zeros((n_states, n_states, n_actions))
    for g in range(n_states):
        nxt = P
        R_shaped[g] = np.where(nxt == g, 0.0, -1.0) + GAMMA * phi[nxt, g] - phi[:, g, None]
    _, mismatches = sampled_rewards_match(buffer, R_shaped)
    assert mismatches > 100
