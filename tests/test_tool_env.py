"""prm/ToolUse-v0: tools and schemas, generated tasks, episodes, step scorers, classic-RL view."""

from __future__ import annotations

import json
import pickle
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.core import StepContext, Task
from prm_gym.envs.tools import (
    FACTS,
    TEMPLATES,
    ToolCallASTMatch,
    ToolEfficiency,
    ToolRegistry,
    ToolRLReward,
    ToolUseConfig,
    ToolUseEnv,
    answers_match,
    ast_check,
    ast_match,
    default_registry,
    format_call,
    generate,
    toolrl_correctness,
    toolrl_format,
)
from prm_gym.wrappers import ChoiceActions, ProcessReward, TextFeatures


def _call(name: str, **parameters: Any) -> dict[str, Any]:
    return {"name": name, "parameters": parameters}


def _block(name: str, **parameters: Any) -> str:
    return format_call(_call(name, **parameters))


def _run_gold(env: ToolUseEnv, task: Task) -> tuple[float, list[dict[str, Any]]]:
    env.reset(options={"task": task})
    infos = []
    for call in task.answer["calls"]:
        *_, info = env.step(format_call(call))
        infos.append(info)
    _, reward, terminated, _, info = env.step(f"<answer>{task.answer['answer']}</answer>")
    assert terminated
    return float(reward), [*infos, info]


# -- tools and schemas ---------------------------------------------------------------------
def test_registry_has_the_required_tools() -> None:
    names = set(default_registry().names)
    assert len(names) >= 8
    assert {"calculator", "convert_units", "add_days", "convert_currency", "search_knowledge",
            "get_weather", "find_flights", "create_event", "list_events",
            "delete_event"} <= names  # fmt: skip
    assert len(FACTS) == 50


def test_schema_is_derived_from_signature_and_docstring() -> None:
    registry = ToolRegistry()

    @registry.register
    def book(city: Literal["Oslo", "Rome"], nights: int, budget: float = 100.0,
             tags: list[str] | None = None) -> str:  # fmt: skip
        """Book a hotel.

        Args:
            city: Where to stay.
            nights: How many nights.
            budget: Most to pay per night.
            tags: Wishes, e.g. "quiet".
        """
        return f"{city}:{nights}"

    schema = registry.schemas()[0]
    assert schema["type"] == "function"
    fn = schema["function"]
    assert fn["name"] == "book" and fn["description"] == "Book a hotel."
    props = fn["parameters"]["properties"]
    assert props["city"] == {"enum": ["Oslo", "Rome"], "type": "string",
                             "description": "Where to stay."}  # fmt: skip
    assert props["nights"]["type"] == "integer" and props["budget"]["type"] == "number"
    assert props["tags"]["type"] == "array" and props["tags"]["items"] == {"type": "string"}
    assert fn["parameters"]["required"] == ["city", "nights"]
    env = ToolUseEnv(tasks=[{"question": "Book 2 nights in Oslo.", "answer": "Oslo:2",
                             "calls": [_call("book", city="Oslo", nights=2)]}],
                     tools=registry)  # fmt: skip
    obs, _ = env.reset(seed=0)
    assert '"name": "book"' in obs and "find_flights" not in obs
    obs, *_ = env.step(_block("book", city="Oslo", nights=2))
    assert json.loads(obs) == [{"name": "book", "result": "Oslo:2"}]


def test_calculator_is_safe_and_tools_are_deterministic() -> None:
    registry = default_registry()
    assert registry.call("calculator", {"expression": "(2 + 3) * 4 - 2 ** 3"}) == 12
    for bad in ("__import__('os').system('true')", "open('x')", "[1, 2]", "2 ** 999"):
        with pytest.raises(Exception, match="calculator failed"):
            registry.call("calculator", {"expression": bad})
    assert registry.call("convert_units", {"value": 100, "from_unit": "C", "to_unit": "F"}) == 212
    assert registry.call("convert_currency", {"amount": 100, "from_currency": "EUR",
                                              "to_currency": "USD"}) == 108  # fmt: skip
    assert registry.call("add_days", {"date": "2025-02-27", "days": 2}) == "2025-03-01"
    a = registry.call("get_weather", {"city": "Tokyo", "date": "2025-05-01"})
    assert a == registry.call("get_weather", {"city": "Tokyo", "date": "2025-05-01"})
    hits = registry.call("search_knowledge", {"query": "Velmora Tower"})
    assert "312" in hits[0]["text"]


# -- generated tasks -----------------------------------------------------------------------
def test_generator_is_pure_and_covers_levels() -> None:
    config = ToolUseConfig()
    assert generate(config, 7) == generate(config, 7)
    for level in (1, 2, 3, 4):
        task = generate(ToolUseConfig(levels=(level,)), 3)
        assert len(task.answer["calls"]) == level == task.metadata["level"]
    assert {lvl for lvl, _ in TEMPLATES.values()} == {1, 2, 3, 4}


def test_gold_calls_score_one_on_300_tasks() -> None:
    env = ToolUseEnv()
    scorer = ToolRLReward()
    for seed in range(300):
        task = generate(env.config, seed)
        reward, infos = _run_gold(env, task)
        assert reward == 1.0, task.id
        assert all(i["action_valid"] for i in infos)
        if seed % 30 == 0:  # each gold call gets the top ToolRL score; the answer format only
            steps = [format_call(c) for c in task.answer["calls"]]
            steps.append(f"<answer>{task.answer['answer']}</answer>")
            contexts = [StepContext(task.prompt, tuple(steps[:i]), s, task=task)
                        for i, s in enumerate(steps)]  # fmt: skip
            assert np.allclose(scorer.score(contexts), [4.0] * (len(steps) - 1) + [1.0])


def test_jsonl_loader(tmp_path: Any) -> None:
    path = tmp_path / "tasks.jsonl"
    record = {"id": "eur", "question": "How much is 10 EUR in USD?", "answer": 10.8,
              "calls": [_call("convert_currency", amount=10, from_currency="EUR",
                              to_currency="USD")]}  # fmt: skip
    path.write_text(json.dumps(record) + "\n")
    env = gym.make("prm/ToolUse-v0", tasks=str(path))
    env.reset(seed=0)
    assert env.unwrapped.task.id == "eur"
    env.step(format_call(record["calls"][0]))
    *_, info = env.step("<answer>10.80 USD</answer>")
    assert info["outcome"] == 1.0


# -- episodes ------------------------------------------------------------------------------
def test_check_env_passes() -> None:
    env = gym.make("prm/ToolUse-v0")
    check_env(env.unwrapped, skip_render_check=True)


def test_skipping_or_wrong_argument_gives_wrong_answer_and_lower_score() -> None:
    env = ToolUseEnv(templates=("flight_currency",))
    task = generate(env.config, 0)
    first, second = task.answer["calls"]
    scorer, ast = ToolRLReward(), ToolCallASTMatch()
    # Skipping find_flights: convert a guessed price straight away.
    skip = format_call({"name": second["name"],
                        "parameters": {**second["parameters"], "amount": 300}})  # fmt: skip
    env.reset(options={"task": task})
    obs, *_ = env.step(skip)
    guess = json.loads(obs)[0]["result"]
    *_, info = env.step(f"<answer>{guess}</answer>")
    assert info["outcome"] == 0.0
    # A wrong argument: the wrong destination.
    dest = "Tokyo" if first["parameters"]["destination"] != "Tokyo" else "Boston"
    if dest == first["parameters"]["origin"]:
        dest = "Sydney"
    wrong = _block("find_flights", origin=first["parameters"]["origin"], destination=dest)
    env.reset(options={"task": task})
    obs, *_ = env.step(wrong)
    flight = json.loads(obs)[0]["result"][0]
    obs, *_ = env.step(_block("convert_currency", amount=flight["price"],
                              from_currency=flight["currency"],
                              to_currency=second["parameters"]["to_currency"]))  # fmt: skip
    *_, info = env.step(f"<answer>{json.loads(obs)[0]['result']}</answer>")
    assert info["outcome"] == 0.0
    gold_ctx = StepContext(task.prompt, (), format_call(first), task=task)
    skip_ctx = StepContext(task.prompt, (), skip, task=task)
    wrong_ctx = StepContext(task.prompt, (), wrong, task=task)
    gold_score, skip_score, wrong_score = scorer.score([gold_ctx, skip_ctx, wrong_ctx])
    assert gold_score > wrong_score > skip_score
    assert list(ast.score([gold_ctx, skip_ctx, wrong_ctx])) == [1.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ('<tool_call>{"name": "calculator", "parameters": {</tool_call>', "malformed JSON"),
        ('<tool_call>{"name": "teleport", "parameters": {}}</tool_call>', "unknown tool"),
        (
            '<tool_call>{"name": "add_days", "parameters": {"date": "2025-01-01"}}</tool_call>',
            "missing required parameter",
        ),
        (
            '<tool_call>{"name": "add_days", "parameters": {"date": "2025-01-01", "days": "3"}}'
            "</tool_call>",
            "parameter 'days' must be a JSON integer",
        ),
        (
            '<tool_call>{"name": "convert_currency", "parameters": {"amount": 5, '
            '"from_currency": "XYZ", "to_currency": "USD"}}</tool_call>',
            "must be one of",
        ),
        (
            '<tool_call>{"name": "calculator", "parameters": {"expression": "1/0"}}</tool_call>',
            "calculator failed: division by zero",
        ),
        (
            '<tool_call>{"name": "delete_event", "parameters": {"event_id": "evt-9"}}</tool_call>',
            "no event with id",
        ),
        ("I think the answer is 5.", "no <tool_call>"),
    ],
)
def test_bad_actions_are_reported_not_raised(action: str, message: str) -> None:
    env = ToolUseEnv()
    env.reset(seed=1)
    obs, reward, terminated, _, info = env.step(action)
    assert info["action_valid"] is False
    assert message in obs and message in info["error"]
    assert (reward, terminated) == (0.0, False)
    obs, *_ = env.step(_block("calculator", expression="2 + 2"))  # the episode goes on
    assert json.loads(obs) == [{"name": "calculator", "result": 4}]


def test_calendar_state_never_leaks_and_is_snapshotted() -> None:
    env = ToolUseEnv()
    env.reset(seed=0)
    obs, *_ = env.step(_block("create_event", title="Dentist", date="2025-03-01"))
    assert json.loads(obs)[0]["result"]["event_id"] == "evt-1"
    snapshot = pickle.loads(pickle.dumps(env.get_state()))
    env.step(_block("create_event", title="Gym", date="2025-03-02"))
    obs, *_ = env.step(_block("list_events"))
    assert len(json.loads(obs)[0]["result"]) == 2
    env.set_state(snapshot)
    obs, *_ = env.step(_block("list_events"))
    assert [e["title"] for e in json.loads(obs)[0]["result"]] == ["Dentist"]
    env.reset(seed=0)  # a new episode starts with an empty calendar
    obs, *_ = env.step(_block("list_events"))
    assert json.loads(obs)[0]["result"] == []
    obs, *_ = env.step(_block("list_events", date=None))  # null for an optional parameter
    assert json.loads(obs)[0]["result"] == []
    other = ToolUseEnv()
    other.reset(seed=0)
    obs, *_ = other.step(_block("create_event", title="X", date="2025-01-01"))
    assert json.loads(obs)[0]["result"]["event_id"] == "evt-1"


def test_answers_match() -> None:
    assert answers_match("It costs 1,234.50 USD", 1234.5)
    assert answers_match("about 235.5", 235.4997)
    assert not answers_match("236", 235.4997)
    assert answers_match("The date is 2025-03-01.", "2025-03-01")
    assert answers_match(" Sunny ", "sunny") and not answers_match("rainy", "sunny")


# -- step scorers, hand-computed -----------------------------------------------------------
def test_toolrl_correctness_by_hand() -> None:
    gold = [_call("add_days", date="2025-01-01", days=3)]
    assert toolrl_correctness(gold, gold) == 3.0
    # S = 1 + (1 + 1) = 3, S_max = 1 + (1 + 2) = 4, R = 6 * 3 / 4 - 3 = 1.5
    assert toolrl_correctness([_call("add_days", date="2025-01-01", days=4)], gold) == 1.5
    # S = 1 + (1/2 + 0) (keys {date} vs {date, days}), R = 6 * 1.5 / 4 - 3 = -0.75
    assert toolrl_correctness([_call("add_days", date="2025-01-02")], gold) == -0.75
    assert toolrl_correctness([_call("calculator", expression="1")], gold) == -3.0
    assert toolrl_correctness(None, gold) == -3.0
    # Two gold calls, one predicted exactly: S = 1/2 + 3, S_max = 1 + 3 + 2, R = 0.5
    two = [*gold, _call("calculator", expression="2 * 3")]
    assert toolrl_correctness(gold, two) == pytest.approx(0.5)
    # Upstream scores a turn whose gold is no call 0 (it used to be +3 here).
    assert toolrl_correctness([], []) == 0.0
    assert toolrl_correctness(gold, []) == 0.0
    assert toolrl_correctness([], gold) == -3.0  # an answer while a call is pending
    assert toolrl_format("<answer>5</answer>") == 1.0
    assert toolrl_format("<answer>5</answer>", "answer") == 1.0
    assert toolrl_format("<answer>5</answer>", "call") == 0.0
    assert toolrl_format(_block("calculator", expression="1"), "answer") == 0.0
    assert toolrl_format(_block("calculator", expression="1") * 2) == 1.0
    assert toolrl_format('<tool_call>{"name": 1}</tool_call>') == 0.0
    assert toolrl_format("<answer>5</answer>" + _block("calculator", expression="1")) == 0.0
    assert toolrl_format("5") == 0.0


def test_ast_match_by_hand() -> None:
    registry = default_registry()
    gold = _call("convert_currency", amount=120, from_currency="EUR", to_currency="USD")
    assert ast_check(
        _call("convert_currency", amount=120.0, from_currency="EUR", to_currency="USD"),
        gold,
        registry,
    )[0]  # int -> float promotion
    assert not ast_check(_call("convert_currency", amount="120", from_currency="EUR",
                               to_currency="USD"), gold, registry)[0]  # fmt: skip
    assert "missing" in ast_check(_call("convert_currency", amount=120, from_currency="EUR"),
                                  gold, registry)[1]  # fmt: skip
    assert "unknown" in ast_check({**gold, "parameters": {**gold["parameters"], "fee": 1}},
                                  gold, registry)[1]  # fmt: skip
    days = _call("add_days", date="2025-01-01", days=3)
    assert not ast_check(_call("add_days", date="2025-01-01", days=3.0), days, registry)[0]
    assert ast_check(_call("add_days", date="2025 01 01", days=3), days, registry)[0]
    search = _call("search_knowledge", query="Velmora Tower")
    assert ast_check(_call("search_knowledge", query="velmora tower", top_k=3), search, registry)[0]
    assert not ast_check(_call("search_knowledge", query="Velmora", top_k=5), search, registry)[0]
    assert ast_match([days, gold], [gold, days], registry)  # parallel calls, any order
    assert not ast_match([days, days], [gold, days], registry)
    assert not ast_match([days], [gold, days], registry)


def test_efficiency_penalises_repeated_calls() -> None:
    x, y = _call("calculator", expression="1 + 1"), _call("calculator", expression="2 + 2")
    z = _call("add_days", date="2025-01-01", days=1)
    task = Task("t", "q", {"calls": [x, y, z], "answer": 0})
    scorer = ToolEfficiency()
    first = StepContext("q", (), format_call(x), task=task)
    again = StepContext("q", (format_call(x),), format_call(x) + format_call(y), task=task)
    extra = StepContext("q", (), format_call(x) + format_call(y) + format_call(z)
                        + _block("calculator", expression="9"), task=task)  # fmt: skip
    # 0; one repeat (x) with two calls for two pending -> -1; four calls, three pending -> -0.5
    assert list(scorer.score([first, again, extra])) == [0.0, -1.0, -0.5]


def test_process_reward_wrapper_uses_toolrl() -> None:
    env = ProcessReward(gym.make("prm/ToolUse-v0", levels=(1,)), ToolRLReward())
    env.reset(seed=0)
    call = env.unwrapped.task.answer["calls"][0]
    _, reward, *_, info = env.step(format_call(call))
    assert reward == pytest.approx(4.0) and info["reward_components"]["process"] == 4.0


# -- classic-RL view -----------------------------------------------------------------------
def _choice_env(dim: int = 256) -> gym.Env[Any, Any]:
    return TextFeatures(ChoiceActions(ToolUseEnv(levels=(1,), max_steps=4), max_choices=6), dim)


@pytest.mark.filterwarnings("ignore:.*is different from the unwrapped version")
def test_choice_view_passes_both_checkers() -> None:
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = _choice_env()
    check_env(env, skip_render_check=True)
    sb3_check_env(env)
    obs, info = env.reset(seed=0)
    assert obs.dtype == np.float32 and np.isclose(np.linalg.norm(obs), 1.0)
    mask = info["action_mask"]
    assert mask.dtype == bool and mask.shape == (6,)
    assert np.array_equal(mask, env.get_wrapper_attr("action_masks")())
    candidates = env.get_wrapper_attr("candidates")
    gold = format_call(env.unwrapped.task.answer["calls"][0])
    assert gold in candidates
    assert env.reset(seed=0)[1]["candidate_actions"] == info["candidate_actions"]
    *_, info = env.step(candidates.index(gold))
    assert info["action_valid"] and any(c.startswith("<answer>") for c in info["candidate_actions"])
    *_, info = env.step(5 if not info["action_mask"][5] else 0)  # an empty slot: no crash
    assert "action_valid" in info


def test_maskable_ppo_beats_random_on_level_one() -> None:
    pytest.importorskip("sb3_contrib")
    import torch
    from sb3_contrib import MaskablePPO

    torch.set_num_threads(1)
    seeds = range(10_000, 10_150)

    def success_rate(policy: Any) -> float:
        env, wins = _choice_env(), 0.0
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            done = False
            while not done:
                action = policy(obs, env.get_wrapper_attr("action_masks")())
                obs, reward, terminated, truncated, _ = env.step(action)
                done = terminated or truncated
            wins += float(reward)
        return wins / len(seeds)

    rng = np.random.default_rng(0)
    random_rate = success_rate(lambda obs, mask: int(rng.choice(np.flatnonzero(mask))))
    model = MaskablePPO("MlpPolicy", _choice_env(), n_steps=128, batch_size=64, n_epochs=8,
                        learning_rate=3e-3, gamma=0.9, ent_coef=0.0,
                        policy_kwargs={"net_arch": [64]}, seed=0, verbose=0)  # fmt: skip
    model.learn(4000)
    ppo_rate = success_rate(
        lambda obs, mask: int(model.predict(obs, action_masks=mask, deterministic=True)[0])
    )
    # Measured (seed 0): random 0.26, MaskablePPO 0.41 (see docs/ARCHITECTURE.md).
    assert ppo_rate > random_rate + 0.08, (ppo_rate, random_rate)
