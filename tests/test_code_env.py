"""prm/Code-v0: API conformance, shipped references, bad submissions, containment, loaders,
snapshots and the dense test-weighted reward."""

from __future__ import annotations

import json
import os
import pickle
import platform
import socket
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import prm_gym  # noqa: F401  (registers prm/*)
from prm_gym.core import StepContext, Task
from prm_gym.envs.code import CodeEnv, extract_code, load_shipped_problems
from prm_gym.rewards import WeightedTestPassReward
from prm_gym.wrappers import ProcessReward

TIMEOUT = 4.0


def fenced(code: str) -> str:
    return f"Here is my solution:\n```python\n{code}\n```\n"


@pytest.fixture(scope="module")
def env() -> CodeEnv:
    environment = CodeEnv(max_turns=1, timeout=TIMEOUT, pool_size=2)
    yield environment
    environment.close()


def attack_task(code_name: str, tests: list[str]) -> Task:
    return Task(
        id=f"attack-{code_name}",
        prompt="Write f.",
        answer="",
        metadata={"entry_point": "f", "tests": tuple(tests), "setup": "", "prefix": ""},
    )


def test_check_env_passes() -> None:
    environment = gym.make("prm/Code-v0", timeout=TIMEOUT)
    check_env(environment.unwrapped, skip_render_check=True)
    environment.close()


def test_shipped_problems_are_many_original_and_well_formed() -> None:
    source = load_shipped_problems()
    assert len(source) >= 60
    ids = [t.id for t in source.tasks]
    assert len(set(ids)) == len(ids)
    for task in source.tasks:
        assert len(task.metadata["tests"]) >= 5
        assert task.metadata["difficulty"] in (1, 2, 3)
        assert f"def {task.metadata['entry_point']}(" in task.answer
        assert all(t.lstrip().startswith(("assert", "a =", "x =")) for t in task.metadata["tests"])
    assert {t.metadata["difficulty"] for t in source.tasks} == {1, 2, 3}


def test_every_shipped_reference_scores_one(env: CodeEnv) -> None:
    for index in range(len(env.task_source)):  # type: ignore[arg-type]
        env.reset(options={"task_index": index})
        _, reward, terminated, _, info = env.step(fenced(env.task.answer))  # type: ignore[union-attr]
        assert (reward, terminated) == (1.0, True), (env.task.id, info.get("error"))  # type: ignore[union-attr]
        assert info["num_passed"] == info["num_tests"] >= 5


def test_empty_broken_and_wrong_submissions_score_zero() -> None:
    environment = CodeEnv(max_turns=3, timeout=TIMEOUT, pool_size=1)
    environment.reset(options={"task_id": "factorial"})
    obs, reward, terminated, truncated, info = environment.step("```python\n\n```")
    assert not info["action_valid"] and "empty submission" in info["error"] and reward == 0
    obs, reward, terminated, truncated, info = environment.step(fenced("def factorial(n) return 1"))
    assert info["action_valid"] and info["execution_status"] == "syntax_error"
    assert "syntax error" in info["error"] and "syntax error" in obs
    obs, reward, terminated, truncated, info = environment.step(
        fenced("def factorial(n):\n    return n")
    )
    assert truncated and not terminated and reward == 0.0 and info["outcome"] == 0.0
    assert "expected 1, got 0" in obs and "tests failed" in info["error"]
    assert [t["passed"] for t in info["tests"]][:2] == [False, True]
    environment.close()
    environment.close()  # idempotent


def test_revision_after_a_failed_attempt_succeeds() -> None:
    environment = CodeEnv(max_turns=2, timeout=TIMEOUT, pool_size=1)
    environment.reset(options={"task_id": "gcd"})
    _, reward, terminated, _, info = environment.step("def gcd(a, b):\n    return 1")
    assert (reward, terminated) == (0.0, False) and "Revise" in environment.transcript.turns[
        -1
    ].observation
    _, reward, terminated, _, info = environment.step(environment.task.answer)  # raw code
    assert (reward, terminated, info["outcome"]) == (1.0, True, 1.0)
    environment.close()


def _contained(env: CodeEnv, code: str, tests: list[str], words: tuple[str, ...]) -> dict:
    env.reset(options={"task": attack_task("x", tests)})
    start = time.monotonic()
    _, reward, terminated, truncated, info = env.step(fenced(code))
    assert time.monotonic() - start < TIMEOUT + 2.0
    assert reward == 0.0 and (terminated or truncated) and info["outcome"] == 0.0
    assert any(w in info["error"] for w in words), info["error"]
    # The next episode works.
    env.reset(options={"task_id": "reverse_words"})
    assert env.step(fenced(env.task.answer))[1] == 1.0  # type: ignore[union-attr]
    return info


def test_contains_infinite_loop(env: CodeEnv) -> None:
    _contained(env, "def f():\n    while True:\n        pass", ["f()"], ("time limit",))


def test_contains_fork_bomb(env: CodeEnv) -> None:
    probe = env.sandbox.run_tests(
        "import os, resource\nU = os.getuid()\nN = resource.getrlimit(resource.RLIMIT_NPROC)",
        ["assert U != 0 and N[0] == 32"],
    )
    if os.geteuid() != 0 or not probe.passed:
        pytest.skip("process limit not verified in the child")
    code = (
        "import os, time\ndef f():\n    for _ in range(3000):\n        if os.fork() == 0:\n"
        "            time.sleep(20)\n            os._exit(0)\n"
    )
    _contained(env, code, ["f()"], ("process limit",))


def test_contains_10gb_allocation(env: CodeEnv) -> None:
    code = (
        "def f():\n    x = []\n    for _ in range(100):\n        x.append(bytearray(100 * 2**20))\n"
    )
    _contained(env, code, ["f()"], ("memory limit",))


def test_contains_1gb_write(env: CodeEnv) -> None:
    code = (
        "def f():\n    with open('out.bin', 'wb') as fh:\n        for _ in range(1024):\n"
        "            fh.write(b'x' * 2**20)\n"
    )
    _contained(env, code, ["f()"], ("file size limit",))


def test_contains_writes_and_deletes_outside_the_work_dir(env: CodeEnv, tmp_path: Path) -> None:
    escape = Path("/tmp/prm_gym_escape_test")
    escape.unlink(missing_ok=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    code = (
        "import os\ndef f():\n"
        f"    open({str(escape)!r}, 'w').write('escaped')\n"
        f"    os.remove({str(victim)!r})\n"
        "    return 'done'\n"
    )
    info = _contained(env, code, ["assert f() == 'done'"], ("Error",))
    assert not escape.exists()
    assert victim.read_text() == "keep me"
    assert info["isolation"]["filesystem"] or os.geteuid() != 0
    assert info["isolation"]["host_files_hidden"] or os.geteuid() != 0
    assert info["isolation"]["syscalls_filtered"] or platform.machine() not in ("x86_64", "aarch64")


def test_contains_environment_secrets(env: CodeEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PRM_GYM_TEST_SECRET", "s3cr3t-value-1234")
    code = (
        "import glob, os\ndef f():\n"
        "    found = [k for k, v in os.environ.items() if 's3cr3t' in v]\n"
        "    for path in glob.glob('/proc/*/environ'):\n"
        "        try:\n            data = open(path, 'rb').read()\n"
        "        except OSError:\n            continue\n"
        "        if b's3cr3t' in data:\n            found.append(path)\n"
        "    print(found)\n    return found\n"
    )
    env.reset(options={"task": attack_task("env", ["assert f() != []"])})
    obs, reward, *_, info = env.step(fenced(code))
    assert reward == 0.0 and "s3cr3t" not in obs
    assert info["tests"][0]["message"] == "expected [], got []" or "AssertionError" in info["error"]


def test_contains_network_connections(env: CodeEnv) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    code = (
        "import socket\ndef f():\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'hi')\n"
        "    return True\n"
    )
    try:
        info = _contained(env, code, ["assert f() is True"], ("Network is unreachable", "Error"))
        if info["isolation"]["network"]:
            with pytest.raises(BlockingIOError):
                server.accept()  # nobody connected
        else:
            pytest.skip("the OS does not allow a network namespace here (recorded in info)")
    finally:
        server.close()


def test_contains_kill_of_the_parent(env: CodeEnv) -> None:
    code = (
        f"import os, signal\ndef f():\n    os.kill({os.getpid()}, signal.SIGKILL)\n    return 1\n"
    )
    _contained(env, code, ["assert f() == 1"], ("ProcessLookupError", "PermissionError"))


@pytest.mark.parametrize(
    "code", ["import sys\ndef f():\n    sys.exit(0)", "import os\ndef f():\n    os._exit(0)"]
)
def test_contains_exit(env: CodeEnv, code: str) -> None:
    _contained(env, code, ["f()", "assert True"], ("exit",))


def test_contains_100mb_of_output(env: CodeEnv) -> None:
    code = "def f():\n    for _ in range(100):\n        print('x' * 2**20)\n"
    _contained(env, code, ["f()"], ("output limit",))


def test_invalid_actions_never_crash(env: CodeEnv) -> None:
    env.reset(options={"task_id": "gcd"})
    _, _, _, _, info = env.step("   ")
    assert info["action_valid"] is False
    with pytest.raises(TypeError):
        env.step(b"code")  # type: ignore[arg-type]


def test_get_state_set_state_branches(env: CodeEnv) -> None:
    environment = CodeEnv(max_turns=3, timeout=TIMEOUT, sandbox=env.sandbox)
    environment.reset(options={"task_id": "is_prime"})
    environment.step(fenced("def is_prime(n):\n    return False"))
    state = pickle.loads(pickle.dumps(environment.get_state()))
    _, reward, terminated, *_ = environment.step(fenced(environment.task.answer))  # type: ignore[union-attr]
    assert (reward, terminated) == (1.0, True)
    environment.set_state(state)
    assert environment.num_steps == 1
    _, reward, terminated, *_ = environment.step(fenced("def is_prime(n):\n    return True"))
    assert (reward, terminated) == (0.0, False)
    environment.close()
    assert not env.sandbox.closed  # a shared sandbox is not closed by the env


def test_humaneval_and_mbpp_records(tmp_path: Path) -> None:
    humaneval = {
        "task_id": "Toy/0",
        "prompt": 'def double(x: int) -> int:\n    """Twice x."""\n',
        "canonical_solution": "    return 2 * x\n",
        "test": "METADATA = {}\n\ndef check(candidate):\n    assert candidate(1) == 2\n"
        "    assert candidate(0) == 0\n    assert candidate(-3) == -6\n",
        "entry_point": "double",
    }
    mbpp = {
        "task_id": 7,
        "text": "Write a function to return the last element of a list.",
        "code": "def last(items):\n    return items[-1]",
        "test_list": ["assert last([1, 2]) == 2", "assert last(['a']) == 'a'"],
    }
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(humaneval) + "\n" + json.dumps(mbpp) + "\n")
    environment = CodeEnv(str(path), max_turns=1, timeout=TIMEOUT, pool_size=1)
    environment.reset(options={"task_id": "Toy/0"})
    assert environment.task.metadata["tests"] == (  # type: ignore[union-attr]
        "assert candidate(1) == 2", "assert candidate(0) == 0", "assert candidate(-3) == -6",
    )  # fmt: skip
    assert environment.step(fenced(environment.task.answer))[1] == 1.0  # type: ignore[union-attr]
    environment.reset(options={"task_id": "Toy/0"})
    assert environment.step("    return x + x\n")[1] == 1.0  # body only, HumanEval style
    environment.reset(options={"task_id": "mbpp-7"})
    assert "assert last([1, 2]) == 2" in environment.transcript.prompt
    assert environment.step(environment.task.answer)[1] == 1.0  # type: ignore[union-attr]
    environment.close()


def test_extract_code() -> None:
    assert extract_code("x\n```python\na = 1\n```\ntext\n```py\nb = 2\n```") == "b = 2\n"
    assert extract_code("```\nc = 3\n```") == "c = 3\n"
    assert extract_code("d = 4") == "d = 4"


def test_weighted_test_reward_with_process_reward() -> None:
    scorer = WeightedTestPassReward(outcome_weight=0.5)
    environment = ProcessReward(CodeEnv(max_turns=3, timeout=TIMEOUT, pool_size=1), scorer)
    environment.reset(options={"task_id": "gcd"})
    _, reward, _, _, info = environment.step(fenced("def gcd(a, b):\n    return a"))
    passed = np.array([t["passed"] for t in info["tests"]], dtype=float)
    assert 0 < passed.sum() < len(passed)
    assert reward == pytest.approx(0.5 * passed.mean())  # equal weights before any statistics
    assert info["reward_components"]["process"] == pytest.approx(reward)
    _, reward, terminated, _, info = environment.step(fenced(environment.unwrapped.task.answer))
    assert terminated and reward == pytest.approx(1.0 + 1.0)  # outcome + (dense 1, all-pass 1)
    weights = scorer.weights("gcd", len(passed))
    assert weights.sum() == pytest.approx(1.0)
    # Tests the first attempt failed have a lower observed pass rate, so they weigh more.
    assert weights[passed == 0].min() > weights[passed == 1].max()
    environment.close()


def test_weighted_test_reward_rules() -> None:
    scorer = WeightedTestPassReward(outcome_weight=0.0, update=False)

    def ctx(*passed: bool) -> StepContext:
        tests = [{"passed": p} for p in passed]
        return StepContext("", (), "code", info={"task_id": "p", "tests": tests})

    assert scorer.score([ctx(True, True)]).tolist() == [1.0]
    assert scorer.score([ctx(False, False)]).tolist() == [0.0]
    assert scorer.score([StepContext("", (), "x", info={})]).tolist() == [0.0]
    online = WeightedTestPassReward(outcome_weight=0.0)
    for _ in range(5):
        online.score([ctx(True, False, False)])
    w = online.weights("p", 3)
    assert w[0] < w[1] == pytest.approx(w[2])
    fused = WeightedTestPassReward(outcome_weight=1.0)
    assert fused.score([ctx(True, False)]).tolist() == [0.0]
    with pytest.raises(ValueError):
        WeightedTestPassReward(outcome_weight=2.0)
