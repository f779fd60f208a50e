"""prm_gym.multiagent: PettingZoo API conformance, per-agent credit and reward integrity."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pettingzoo")
pytest.importorskip("mujoco")

from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

from prm_gym.envs.math import corrupt_arithmetic
from prm_gym.multiagent import ENV_NAMES, RoleEnv, make
from prm_gym.multiagent.solver_verifier import parse_first_error, parse_verdict

Policy = Callable[[Any, dict[str, Any]], str]


# ------------------------------------------------------------------------------ helpers
def play(env: Any, solver_steps: list[str], verifier: Policy, seed: int = 0, **reset: Any) -> Any:
    """Play one AEC episode: the solver writes ``solver_steps`` in order, ``verifier(env,
    solver_info)`` answers each turn. Returns the env (its ``returns``, ``verdicts``...)."""
    env.reset(seed=seed, **reset)
    todo = list(solver_steps)
    solver_info: dict[str, Any] = {}
    for agent in env.agent_iter():
        _, _, terminated, truncated, _info = env.last()
        if terminated or truncated:
            env.step(None)
            continue
        if agent == "solver":
            env.step(todo.pop(0))
            solver_info = dict(env.infos["solver"])
        else:
            env.step(verifier(env, solver_info))
    return env


def gold(env: Any, seed: int) -> list[str]:
    env.reset(seed=seed)
    return list(env.math_env.task.metadata["gold_steps"])


def flawed(env: Any, seed: int) -> list[str]:
    """The gold solution with the arithmetic of its first computing step corrupted."""
    steps = gold(env, seed)
    rng = np.random.default_rng(seed)
    for i, step in enumerate(steps[:-1]):
        bad = corrupt_arithmetic(step, rng)
        if bad is not None:
            return [*steps[:i], bad, *steps[i + 1 :]]
    raise AssertionError("no step to corrupt")


def follows_labels(env: Any, solver_info: dict[str, Any]) -> str:
    return "correct" if solver_info.get("step_label", True) else "wrong"


def always(word: str) -> Policy:
    return lambda env, info: word


# ------------------------------------------------------------------------------ registry
def test_make_builds_every_listed_env_and_refuses_unknown_names() -> None:
    assert set(ENV_NAMES) == {"solver_verifier_v0", "team_push_v0"}
    for name in ENV_NAMES:
        env = make(name)
        assert env.metadata["name"] == name
        env.close()
    with pytest.raises(ValueError, match="unknown multi-agent env"):
        make("nope_v0")


def test_cli_list_shows_the_multiagent_envs() -> None:
    import io

    from prm_gym.cli import list_envs

    out = io.StringIO()
    assert list_envs.run(None, out, io.StringIO()) == 0  # type: ignore[arg-type]
    text = out.getvalue()
    assert "solver_verifier_v0" in text and "team_push_v0" in text


# ------------------------------------------------------------------------------ PettingZoo API
@pytest.mark.parametrize("mode", ["step", "first_error"])
def test_solver_verifier_passes_pettingzoo_api_and_seed_tests(mode: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # api_test warns that text is not a NumPy array
        api_test(make("solver_verifier_v0", mode=mode), num_cycles=40)
        seed_test(lambda: make("solver_verifier_v0", mode=mode), num_cycles=40)


@pytest.mark.parametrize("credit", ["team", "difference", "potential"])
def test_team_push_passes_pettingzoo_parallel_api_and_seed_tests(credit: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # api_test warns about unbounded Box observations
        parallel_api_test(make("team_push_v0", credit=credit), num_cycles=60)
        parallel_seed_test(lambda: make("team_push_v0", credit=credit), num_cycles=60)


# ------------------------------------------------------------------------------ solver-verifier
def test_gold_solution_accepted_by_the_verifier_earns_outcome_plus_full_progress() -> None:
    env = make("solver_verifier_v0", coef=0.5)
    play(env, gold(env, 3), always("correct"), seed=3)
    assert env.returns["solver"] == pytest.approx(1.5)
    assert env.returns["verifier"] == 1.0  # every gold step is labelled correct
    assert env.agents == []


@pytest.mark.parametrize("mode", ["step", "first_error"])
def test_a_verifier_that_follows_the_labels_beats_always_correct_and_always_wrong(
    mode: str,
) -> None:
    env = make("solver_verifier_v0", mode=mode)
    earned: dict[str, list[float]] = {"labels": [], "correct": [], "wrong": []}
    for seed in range(6):
        # half flawed solutions, half gold: a fixed verdict can be right on only one kind
        steps = flawed(env, seed) if seed % 2 else gold(env, seed)
        if mode == "step":
            policies = {
                "labels": follows_labels,
                "correct": always("correct"),
                "wrong": always("wrong"),
            }
        else:
            first = next(
                (i + 1 for i, s in enumerate(steps) if s != gold(env, seed)[i]), None
            )  # the oracle: where the corruption is
            answer = str(first) if first else "none"
            policies = {
                "labels": always(answer),
                "correct": always("none"),
                "wrong": always("1"),
            }
        for name, policy in policies.items():
            earned[name].append(play(env, steps, policy, seed=seed).returns["verifier"])
    assert np.mean(earned["labels"]) == 1.0
    assert np.mean(earned["correct"]) < np.mean(earned["labels"])
    assert np.mean(earned["wrong"]) < np.mean(earned["labels"])


def test_without_step_labels_the_verifier_is_paid_for_outcome_consistency() -> None:
    record = {"question": "Ann has 3 bags of 4 apples. How many apples?", "answer": "#### 12"}
    env = make("solver_verifier_v0", tasks=[record])
    right = ["3 * 4 = 12", "\\boxed{12}"]
    wrong = ["3 * 4 = 12", "\\boxed{13}"]
    assert play(env, right, always("correct")).returns["verifier"] == 1.0
    assert play(env, wrong, always("correct")).returns["verifier"] == 0.0
    # RL Tango's rule: the overall verdict (a "wrong" anywhere) must match the checked outcome
    flag_last = lambda env, info: "wrong" if "13" in env.steps[-1] else "correct"  # noqa: E731
    assert play(env, wrong, flag_last).returns["verifier"] == 1.0
    assert play(env, right, always("wrong")).returns["verifier"] == 0.0


def test_padding_with_steps_the_verifier_accepts_does_not_raise_the_solver_reward() -> None:
    env = make("solver_verifier_v0", coef=0.5, max_steps=16)
    for seed in range(4):
        steps = gold(env, seed)
        honest = play(env, steps, always("correct"), seed=seed).returns["solver"]
        padded_steps = [steps[0], steps[0], "1 + 1 = 2", "Let me double check.", *steps[1:]]
        padded = play(env, padded_steps, always("correct"), seed=seed).returns["solver"]
        assert padded <= honest + 1e-12
        assert honest == pytest.approx(1.5)


def test_solver_progress_is_paid_only_for_steps_the_verifier_accepts() -> None:
    env = make("solver_verifier_v0", coef=0.5)
    steps = gold(env, 1)
    rejected = play(env, steps, always("wrong"), seed=1)
    assert rejected.returns["solver"] == pytest.approx(1.0)  # the outcome only
    assert rejected.infos == {}  # episode over: every agent removed


def test_bad_solver_action_costs_its_step_and_leaves_the_verifier_alone() -> None:
    env = make("solver_verifier_v0")
    env.reset(seed=0)
    env.step("\\boxed{}")
    assert env.infos["solver"]["action_valid"] is False
    assert "boxed" in env.infos["solver"]["error"]
    assert env.agent_selection == "solver"  # nothing for the verifier to judge
    assert env._cumulative_rewards["verifier"] == 0.0 and env.steps == []
    with pytest.raises(TypeError, match="must be str"):
        env.step(123)  # type: ignore[arg-type]


def test_bad_verifier_action_costs_its_turn_and_the_game_goes_on() -> None:
    env = make("solver_verifier_v0")
    steps = gold(env, 0)
    env.reset(seed=0)
    env.step(steps[0])
    solver_obs = env.observe("solver")
    env.step("maybe?")
    info = env.infos["verifier"]
    assert info["action_valid"] is False and "correct" in info["error"]
    assert env.agent_selection == "solver" and env.observe("solver") == solver_obs
    assert env.verdicts == [None]


def test_verdict_parsers() -> None:
    assert parse_verdict(" Correct. ") is True
    assert parse_verdict("WRONG") is False
    assert parse_verdict("correct, I think it is wrong") is None
    assert parse_first_error("Step 2", 3) == 2
    assert parse_first_error("none", 3) == 0
    assert parse_first_error("7", 3) is None


def test_role_env_lets_a_single_agent_trainer_play_one_role() -> None:
    env = RoleEnv(make("solver_verifier_v0"), "solver", {"verifier": lambda obs: "correct"})
    env.reset(seed=2)
    steps = list(env.env.math_env.task.metadata["gold_steps"])
    total, components, done = 0.0, {"outcome": 0.0, "process": 0.0}, False
    while not done:
        _obs, reward, terminated, truncated, info = env.step(steps.pop(0))
        total += float(reward)
        for k, v in info["reward_components"].items():
            components[k] += v
        assert float(reward) == pytest.approx(sum(info["reward_components"].values()))
        done = terminated or truncated
    assert info["outcome"] == 1.0
    assert total == pytest.approx(1.5) and components["process"] == pytest.approx(0.5)


# ------------------------------------------------------------------------------ team push
def _push(env: Any, worker: str, steps: int, goal: Any = None) -> dict[str, list[float]]:
    """``worker`` pushes the bar along +y for ``steps`` steps, the other agent idles."""
    env.reset(seed=0, options=None if goal is None else {"goal": goal})
    got: dict[str, list[float]] = {a: [] for a in env.possible_agents}
    for _ in range(steps):
        actions = {a: np.zeros(3) for a in env.possible_agents}
        actions[worker] = np.array([0.0, 1.0, 0.0])
        _, rewards, _, _, infos = env.step(actions)
        for a in got:
            got[a].append(rewards[a])
            assert rewards[a] == pytest.approx(sum(infos[a]["reward_components"].values()))
    return got


@pytest.mark.parametrize("worker", ["pusher_0", "pusher_1"])
def test_difference_rewards_credit_the_agent_that_does_the_work(worker: str) -> None:
    idle = "pusher_1" if worker == "pusher_0" else "pusher_0"
    probe = make("team_push_v0")
    _push(probe, worker, 12)
    x, y, yaw = probe.data.qpos[0:3].tolist()  # where the worker's pushes take the bar
    env = make("team_push_v0", credit="difference")
    got = _push(env, worker, 12, goal=(x, y, yaw))
    assert env._success() == 1.0
    assert sum(got[worker]) > 0.1
    assert got[idle] == [0.0] * 12  # an idle agent gets exactly nothing
    team = make("team_push_v0", credit="team")
    shared = _push(team, worker, 12, goal=(x, y, yaw))
    assert shared[worker] == shared[idle]  # the team reward cannot tell them apart


def test_potential_credit_adds_each_agents_own_shaping() -> None:
    env = make("team_push_v0", credit="potential")
    env.reset(seed=0)
    _, rewards, _, _, infos = env.step({"pusher_0": [1.0, 0.0, 0.0], "pusher_1": [0.0, 0.0, 0.0]})
    c0 = infos["pusher_0"]["reward_components"]
    c1 = infos["pusher_1"]["reward_components"]
    assert c0["team_shaping"] == c1["team_shaping"]
    assert c0["agent_shaping"] != c1["agent_shaping"]
    assert rewards["pusher_0"] == pytest.approx(sum(c0.values()))


@pytest.mark.parametrize(
    "bad", [[np.nan, 0.0, 0.0], [1.0, 0.0], "left", None, [[1.0, 0.0, 0.0]]], ids=repr
)
def test_a_bad_action_idles_that_agent_only(bad: Any) -> None:
    good = np.array([0.3, 1.0, 0.0])
    env, ref = make("team_push_v0", credit="difference"), make("team_push_v0", credit="difference")
    env.reset(seed=4)
    ref.reset(seed=4)
    obs, rew, _, _, infos = env.step({"pusher_0": bad, "pusher_1": good})
    robs, rrew, _, _, _rinfos = ref.step({"pusher_0": np.zeros(3), "pusher_1": good})
    assert infos["pusher_0"]["action_valid"] is False and "action" in infos["pusher_0"]["error"]
    assert infos["pusher_1"]["action_valid"] is True and "error" not in infos["pusher_1"]
    np.testing.assert_array_equal(obs["pusher_1"]["observation"], robs["pusher_1"]["observation"])
    assert rew == rrew


def test_a_missing_action_idles_that_agent() -> None:
    env = make("team_push_v0")
    env.reset(seed=0)
    _, _, _, _, infos = env.step({"pusher_1": [0.0, 1.0, 0.0]})
    assert infos["pusher_0"]["action_valid"] is False and "no action" in infos["pusher_0"]["error"]


def test_team_push_truncates_after_50_steps_and_compute_reward_matches_step() -> None:
    env = make("team_push_v0", team_shaping=0.0)
    obs, _ = env.reset(seed=1)
    for _t in range(50):
        obs, rew, terms, truncs, infos = env.step({a: np.ones(3) * 0.2 for a in env.agents})
        assert not any(terms.values())
        a = obs["pusher_0"]
        native = env.compute_reward(a["achieved_goal"], a["desired_goal"])
        assert rew["pusher_0"] == pytest.approx(float(native))
        assert native == -(1.0 - infos["pusher_0"]["is_success"])
    assert all(truncs.values()) and env.agents == []
    goals = np.stack([a["achieved_goal"], a["desired_goal"]])
    assert env.compute_reward(goals, goals[::-1]).shape == (2,)


def test_shared_policy_vec_env_gives_each_slot_its_own_agents_reward_and_resets() -> None:
    pytest.importorskip("stable_baselines3")
    from prm_gym.multiagent.sb3 import SharedPolicyVecEnv

    venv = SharedPolicyVecEnv([lambda: make("team_push_v0", credit="difference")] * 2, seed=0)
    obs = venv.reset()
    assert venv.num_envs == 4 and obs.shape == (4, 25)
    assert obs[0, 15:17].tolist() == [1.0, 0.0] and obs[1, 15:17].tolist() == [0.0, 1.0]
    actions = np.zeros((4, 3), dtype=np.float32)
    actions[0] = [0.0, 1.0, 0.0]  # only pusher_0 of copy 0 moves
    for t in range(50):
        obs, rewards, dones, infos = venv.step(actions)
        assert rewards[1] == rewards[2] == rewards[3] == 0.0  # idle slots get no credit
        assert dones.all() == (t == 49)
    assert infos[0]["TimeLimit.truncated"] and infos[0]["terminal_observation"].shape == (25,)
    assert venv.envs[0].agents == list(venv.agent_ids)  # reset after the episode
    venv.close()


def test_refiner_passes_the_api_tests_and_is_paid_for_its_own_solution_only() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api_test(make("solver_verifier_v0", refiner=True), num_cycles=40)
        seed_test(lambda: make("solver_verifier_v0", refiner=True), num_cycles=40)
    plain = make("solver_verifier_v0")
    env = make("solver_verifier_v0", refiner=True)
    steps = flawed(env, 1)
    fixed = "\n".join(gold(env, 1))
    base = play(plain, steps, follows_labels, seed=1).returns

    def run(refined: str) -> dict[str, float]:
        env.reset(seed=1)
        todo = list(steps)
        for agent in env.agent_iter():
            _, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                env.step(None)
            elif agent == "solver":
                env.step(todo.pop(0))
            elif agent == "verifier":
                env.step(follows_labels(env, env.infos["solver"]))
            else:
                assert "[wrong]" in env.observe("refiner")  # it sees the verdicts
                env.step(refined)
                info = env.infos["refiner"]
        return {**env.returns, "valid": float(info["action_valid"])}

    good, copied, bad = run(fixed), run("\n".join(steps)), run("")
    assert good["refiner"] == 1.0 and copied["refiner"] == float(base["solver"] >= 1.0)
    assert bad["refiner"] == 0.0 and bad["valid"] == 0.0
    for r in (good, copied, bad):  # the refiner changes nothing the others earn
        assert r["solver"] == base["solver"] and r["verifier"] == base["verifier"]


def _shaping_returns(policy: str, credit: str = "potential", seed: int = 3) -> dict[str, Any]:
    """Discounted (γ = env.gamma) shaping terms of one 50-step team_push_v0 episode played by a
    scripted pair of pushers, with the potentials at the start and the end."""
    env = make("team_push_v0", credit=credit)
    obs, _ = env.reset(seed=seed)
    gamma = env.gamma
    phi0 = [env._agent_potential(env.data, i) for i in range(2)]
    team_phi0 = env._team_potential(env.data)
    agent = [0.0, 0.0]
    team = 0.0
    for t in range(50):
        actions = {}
        for a in env.agents:
            to_end = obs[a]["observation"][13:15]  # own end of the bar minus own position
            if policy == "stall":
                move = np.zeros(3)
            elif policy == "oscillate":  # away and back, forever
                move = np.array([0.0, 1.0 if t % 2 == 0 else -1.0, 0.0])
            else:  # "approach": go to the own end of the bar, then stay
                move = np.array([*np.clip(to_end / 0.05, -1.0, 1.0), 0.0])
            actions[a] = move
        obs, _, _, _, infos = env.step(actions)
        for i, a in enumerate(("pusher_0", "pusher_1")):
            agent[i] += gamma**t * infos[a]["reward_components"]["agent_shaping"]
        team += gamma**t * infos["pusher_0"]["reward_components"]["team_shaping"]
    phi_end = [env._agent_potential(env.data, i) for i in range(2)]
    return {
        "agent": agent,
        "team": team,
        "phi0": phi0,
        "phi_end": phi_end,
        "team_phi0": team_phi0,
        "team_phi_end": env._team_potential(env.data),
        "gamma": gamma,
        "c": env.agent_shaping,
        "team_c": env.team_shaping,
    }


@pytest.mark.parametrize("policy", ["stall", "oscillate", "approach"])
def test_team_push_shaping_telescopes_so_no_policy_farms_it(policy: str) -> None:
    """Potential-based shaping (Ng et al. 1999): under the env's γ the discounted shaping of
    any episode is exactly c·(γ^T Φ(s_T) − Φ(s_0)); stalling or oscillating cannot collect
    more than moving to a better state once."""
    r = _shaping_returns(policy)
    g_t = r["gamma"] ** 50
    for i in range(2):
        expected = r["c"] * (g_t * r["phi_end"][i] - r["phi0"][i])
        assert r["agent"][i] == pytest.approx(expected, abs=1e-9)
    assert r["team"] == pytest.approx(
        r["team_c"] * (g_t * r["team_phi_end"] - r["team_phi0"]), abs=1e-9
    )


def test_team_push_stalling_and_oscillating_earn_less_shaping_than_approaching() -> None:
    """The cheapest policies (stand still, or jitter in place) earn less per-agent shaping
    than going to the own end of the bar."""
    got = {p: _shaping_returns(p) for p in ("stall", "oscillate", "approach")}
    for i in range(2):
        best = got["approach"]["agent"][i]
        assert best > 0.0
        assert got["stall"]["agent"][i] < best
        assert got["oscillate"]["agent"][i] < best
