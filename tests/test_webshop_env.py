"""prm/WebShop-v0: pages, WebShop's reward, oracle, determinism, read-only catalog, robustness."""

from __future__ import annotations

import hashlib
import random

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import prm_gym  # noqa: F401
from prm_gym.core.task import Task
from prm_gym.envs.webshop import (
    BM25Index,
    Catalog,
    OracleShopper,
    Product,
    WebShopEnv,
    WebShopProgress,
    generate_catalog,
    generate_goal,
    purchase_reward,
    type_reward,
)
from prm_gym.envs.webshop.search import document_text
from prm_gym.wrappers import ChoiceActions, PotentialShaping, TextFeatures
from prm_gym.wrappers.choice import hashed_text_features

HOODIE = Product(
    asin="B0HOODIE01", title="Acme Cotton Hoodie for men, machine wash", category="clothing",
    product_type="hoodie", query="hoodie", breadcrumb=("clothing", "hoodie"),
    attributes=("cotton", "machine wash"),
    options=(("color", ("navy", "red")), ("size", ("small", "large"))), price=30.0,
    description="A warm hoodie.", bullets=("Cotton: soft",), reviews=((5, "great"),),
)  # fmt: skip
PAN = Product(
    asin="B0PAN00001", title="Acme Steel Frying Pan", category="kitchen",
    product_type="frying pan", query="frying pan", breadcrumb=("kitchen", "frying pan"),
    attributes=("non stick",), options=(("color", ("navy", "black")),), price=25.0,
    description="Cooks.", bullets=(), reviews=(),
)  # fmt: skip
GOAL = {"asin": "B0HOODIE01", "attributes": ["cotton", "slim fit"],
        "options": {"color": "navy", "size": "large"}, "price_upper": 40.0, "name": "hoodie",
        "query": "hoodie", "breadcrumb": ["clothing", "hoodie"]}  # fmt: skip


def _small_env(**kwargs: object) -> WebShopEnv:
    return WebShopEnv(num_products=120, **kwargs)  # type: ignore[arg-type]


def _run_oracle(env: WebShopEnv, seed: int) -> dict[str, object]:
    oracle = OracleShopper(env.catalog)
    _, info = env.reset(seed=seed)
    done = False
    while not done:
        assert env.task is not None
        _, _, terminated, truncated, info = env.step(oracle.act(env.task, info))
        done = terminated or truncated
    return info


# -- reward formula (hand-computed) --------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "goal_change", "expected"),
    [
        (["navy", "large"], {}, (1 + 2 + 1) / 5),  # "slim fit" is missing: 4/5
        (["navy", "small"], {}, (1 + 1 + 1) / 5),  # wrong size
        ([], {}, (1 + 0 + 1) / 5),  # no option chosen
        (["navy", "large"], {"price_upper": 20.0}, (1 + 2 + 0) / 5),  # over budget
        (["navy", "large"], {"attributes": ["cotton"]}, 1.0),  # everything matches
        (["navy", "large"], {"price_upper": None}, 1.0 * 4 / 5),  # no bound: price term 1
    ],
)
def test_reward_formula(
    options: list[str], goal_change: dict[str, object], expected: float
) -> None:
    score = purchase_reward(HOODIE, options, {**GOAL, **goal_change})
    assert score.reward == pytest.approx(expected, abs=1e-12)


def test_wrong_product_type_scores_zero_and_type_rules() -> None:
    assert purchase_reward(PAN, ["navy"], GOAL).reward == 0.0  # no title token shared
    # 1 of 5 name tokens in the title, no query/category match: title_score 0.2 -> r_type 0.5
    goal = {"name": "zip hoodie jacket fleece pullover", "query": "x", "breadcrumb": []}
    assert type_reward(HOODIE, goal) == (0.5, 0.2)
    goal["name"] = "hoodie a1 a2 a3 a4 a5 a6 a7 a8 a9 a10"  # 1/11 < 0.1 -> 0.1
    assert type_reward(HOODIE, goal)[0] == 0.1
    assert type_reward(HOODIE, {**goal, "breadcrumb": ["clothing", "hoodie"]})[0] == 0.1
    assert type_reward(HOODIE, GOAL) == (1.0, 1.0)


def test_env_scores_a_purchase_by_the_formula() -> None:
    catalog = Catalog((HOODIE, PAN), key=("test-hand",))
    task = Task("hand-1", "i want a hoodie that is cotton and slim fit, with color: navy", GOAL)
    env = WebShopEnv(tasks=[task], catalog=catalog)
    env.reset(seed=0)
    for action in ["search[Hoodie]", "click[B0HOODIE01]", "click[NAVY]", "click[small]"]:
        _, _, _, _, info = env.step(action)
        assert info["action_valid"], info.get("error")
    _, reward, terminated, _, info = env.step("click[buy now]")
    assert terminated and reward == pytest.approx(3 / 5) and info["outcome"] == reward
    assert info["is_success"] is False and info["purchase"]["options_matched"] == 1
    env.reset(seed=0)
    for action in ["search[pan]", "click[b0pan00001]", "click[navy]", "click[buy now]"]:
        _, reward, terminated, _, info = env.step(action)
    assert terminated and reward == 0.0


# -- oracle ----------------------------------------------------------------------------------
def test_oracle_reaches_reward_one_on_300_goals() -> None:
    env = WebShopEnv()
    rewards = [float(_run_oracle(env, seed)["outcome"]) for seed in range(300)]  # type: ignore[arg-type]
    assert np.mean(np.array(rewards) == 1.0) >= 0.95


# -- API checks ------------------------------------------------------------------------------
def test_check_env_text_and_choice_views() -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    check_env(_small_env(), skip_render_check=True)
    view = TextFeatures(ChoiceActions(_small_env(), max_choices=20), dim=64)
    check_env(view, skip_render_check=True)
    sb3_check_env(view)
    _, info = view.reset(seed=1)
    assert info["action_mask"].sum() == len(info["candidate_actions"]) >= 2


def test_choice_features_describe_each_slot_in_mask_order() -> None:
    """With ``choice_dim`` every slot carries its own candidate's features, aligned with the
    mask: the policy can tell which index clicks the goal's option (a bag of words of the
    whole page cannot), and sees how often an action was taken."""
    k, c = 20, 8
    view = TextFeatures(ChoiceActions(_small_env(), max_choices=k), dim=32, choice_dim=c)
    assert view.observation_space.shape == (32 + k * (c + 4),)
    _, info = view.reset(seed=3)
    task = view.unwrapped.task  # type: ignore[attr-defined]
    product = view.unwrapped.catalog.get(task.answer["asin"])  # type: ignore[attr-defined]
    *_, info = view.step(0)  # the first search candidate
    target = f"click[{product.asin.lower()}]"
    assert target in info["candidate_actions"]
    obs, *_, info = view.step(info["candidate_actions"].index(target))
    slots = obs[32:].reshape(k, c + 4)
    actions = info["candidate_actions"]
    assert info["candidate_descriptions"][actions.index("click[buy now]")] == "buy now"
    np.testing.assert_array_equal(slots[:, c] == 1.0, info["action_mask"])
    assert not slots[len(actions) :].any()  # empty slots are zeros
    for i, action in enumerate(actions):
        np.testing.assert_allclose(slots[i, :c], hashed_text_features(action, c))
    wanted = {str(v).lower() for v in task.answer["options"].values()}
    for group, values in product.options:
        for value in values:
            i = actions.index(f"click[{value.lower()}]")
            assert info["candidate_descriptions"][i] == f"{group}: {value.lower()}"
            # both words of "<group>: <value>" are in the prompt only for the goal's value
            assert (slots[i, c + 1] == 1.0) == (value.lower() in wanted), (group, value)
    goal_value = sorted(wanted)[0]
    i = actions.index(f"click[{goal_value}]")
    obs, *_ = view.step(i)
    obs, *_ = view.step(i)
    assert obs[32:].reshape(k, c + 4)[i, c + 3] == pytest.approx(2 / 3)  # taken twice


def test_pages_actions_and_invalid_actions() -> None:
    env = gym.make("prm/WebShop-v0", num_products=120, max_steps=30)
    obs, info = env.reset(seed=3)
    assert obs.startswith("WebShop [SEP] Instruction: [SEP] ") and info["has_search_bar"]
    assert all(a.startswith("search[") for a in info["candidate_actions"])
    obs, _, _, _, info = env.step("search[black white navy red]")
    assert info["page"]["name"] == "results" and "Page 1 (Total results: " in obs
    assert "click[next >]" in info["available_actions"]
    assert sum(a.startswith("click[b0") for a in info["available_actions"]) == 10
    obs, _, _, _, info = env.step("search[again]")
    assert not info["action_valid"] and "no search bar" in info["error"]
    obs, _, _, _, info = env.step("click[next >]")
    assert "Page 2" in obs and "click[< prev]" in info["available_actions"]
    asin = next(a for a in info["available_actions"] if a.startswith("click[b0"))
    obs, _, _, _, info = env.step(asin.upper().replace("CLICK", "click"))
    assert info["page"]["name"] == "item" and obs.endswith("Buy Now")
    for sub in ("description", "features", "reviews"):
        _, _, _, _, info = env.step(f"click[{sub}]")
        assert info["page"]["name"] == sub
        _, _, _, _, info = env.step("click[< prev]")
    for bad in ("click[nothing here]", "buy the thing", "search[]"):
        _, reward, terminated, _, info = env.step(bad)
        assert not info["action_valid"] and info["error"] and reward == 0 and not terminated
    _, _, _, _, info = env.step("click[back to search]")
    assert info["has_search_bar"]


def test_step_limit_truncates_with_outcome_zero() -> None:
    env = _small_env(max_steps=3)
    env.reset(seed=0)
    for _ in range(3):
        _, reward, terminated, truncated, info = env.step("click[nope]")
    assert truncated and not terminated and reward == 0.0 and info["is_success"] is False


# -- determinism and read-only data ----------------------------------------------------------
def test_same_seed_same_catalog_goals_and_results() -> None:
    a, b = generate_catalog(300, seed=7), generate_catalog(300, seed=7)
    assert a.fingerprint() == b.fingerprint() != generate_catalog(300, seed=8).fingerprint()
    assert len({p.category for p in generate_catalog(1000, 0)}) >= 10
    assert [generate_goal(a, s) for s in range(20)] == [generate_goal(b, s) for s in range(20)]
    ia = BM25Index.build([document_text(p) for p in a])
    ib = BM25Index.build([document_text(p) for p in b])
    for query in ("navy hoodie", "gluten free green tea", "usb charger fast charging"):
        assert ia.search(query) == ib.search(query) and ia.search(query)
    e1, e2 = _small_env(), _small_env()
    o1, _ = e1.reset(seed=11)
    o2, _ = e2.reset(seed=11)
    assert o1 == o2 and e1.step("search[red shoes]")[0] == e2.step("search[red shoes]")[0]


def _index_hash(env: WebShopEnv) -> str:
    h = hashlib.sha256()
    for array in (env.index.indptr, env.index.doc_ids, env.index.weights):
        h.update(array.tobytes())
    h.update(repr(sorted(env.index.vocab.items())).encode())
    return h.hexdigest()


def test_episodes_never_modify_catalog_or_index() -> None:
    env = _small_env()
    before = (env.catalog.fingerprint(), _index_hash(env))
    for seed in range(15):
        _run_oracle(env, seed)
    assert (env.catalog.fingerprint(), _index_hash(env)) == before
    assert not env.index.weights.flags.writeable
    with pytest.raises(AttributeError):
        env.catalog[0].price = 0.0  # type: ignore[misc]


def test_state_snapshot_round_trip() -> None:
    env = _small_env()
    _, info = env.reset(seed=2)
    env.step(info["candidate_actions"][0])
    state = env.get_state()
    obs1 = env.step("click[back to search]")[0]
    env.set_state(state)
    assert env.step("click[back to search]")[0] == obs1


def test_progress_potential_rises_along_the_oracle_path() -> None:
    env = PotentialShaping(_small_env(), WebShopProgress(), gamma=1.0)
    oracle = OracleShopper(env.unwrapped.catalog)  # type: ignore[attr-defined]
    _, info = env.reset(seed=4)
    phis = [WebShopProgress()(None, info)]
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(oracle.act(env.unwrapped.task, info))  # type: ignore[attr-defined]
        done = terminated or truncated
        phis.append(WebShopProgress()(None, info))
    assert phis[0] == 0.0 and max(phis) == 1.0 and info["outcome"] == 1.0


# -- robustness ------------------------------------------------------------------------------
def test_random_searches_and_every_click_never_raise() -> None:
    env = WebShopEnv(num_products=60, max_steps=10**6)
    _, info = env.reset(seed=0)
    rng = random.Random(0)
    alphabet = "abcxyz019 []<>→日本ß\t-_.,'\"\\{}"
    for _ in range(10_000):
        query = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        _, _, terminated, _, info = env.step(f"search[{query}]")
        assert not terminated
        if not info["has_search_bar"]:
            env.step("click[back to search]")
    # every listed action, and unlisted ones, on every page reached from a few searches
    unlisted = ["click[next >]", "click[< prev]", "click[buy now]", "click[b0zzzzzzzz]",
                "click[]", "click[[x]]", "search[shoes]", "click[description]"]  # fmt: skip
    env.reset(seed=1)
    frontier = [env.get_state()]
    seen = 0
    while frontier and seen < 300:
        state = frontier.pop()
        env.set_state(state)
        listed = env.available_actions()
        for action in listed + unlisted:
            env.set_state(state)
            _, _, terminated, truncated, info = env.step(action)
            seen += 1
            if action in listed and not (terminated or truncated):
                assert info["action_valid"], (action, info.get("error"))
                if info["page"]["name"] in ("results", "item") and len(frontier) < 40:
                    frontier.append(env.get_state())
    assert seen >= 100
