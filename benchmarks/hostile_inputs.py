"""Step time of every hostile action from issue 15 on its env, with the maximum.

Each action used to freeze the process (a big-integer power inside sympy, ``round(1, -10**18)``)
or take minutes (SQLite built-ins quadratic in their arguments, action parsers quadratic in the
length of the action). This runs each one through ``env.step`` in this process and prints the
step time; the target is that no step takes more than 5 s. Maths answers are checked after one
warm-up step (math-verify builds its LaTeX grammar on first use; that time is shown apart).

Usage::

    PYTHONPATH=. python benchmarks/hostile_inputs.py [--bound 5] [--max-action-length 2000000]

Exits with status 1 when a step exceeds the bound.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time

import gymnasium as gym

import prm_gym  # registers the envs

MATH_ANSWERS = [
    r"10^{10^{10}}",
    r"9^{9^{9^{9}}}",
    r"10^{10000000}",
    r"{10}^{{10}^{10}}",
    r"\frac{1}{10^{10^{10}}}",
    r"(10^{10})!",
    r"(10^5)!!",
    r"\binom{10^{10}}{10^{5}}",
    r"x+\binom{100000000}{50000000}",
    r"\Gamma(100000000)",
    r"\gcd(10^{10^{10}}, 3)",
    r"\sin(10^{10^{10}})",
    r"\sum_{i=1}^{10^{9}} i^i",
    r"\prod_{i=1}^{10^{6}} i",
    r"\int_0^{10^{10}} x^{10^{6}} dx",
    r"\lfloor e^{10^{10}} \rfloor",
    r"x = 10^{10^{10}}",
    r"(-1)^{10^{10^{10}}}",
    r"(x+y+z)^{1000}",
    r"\begin{pmatrix}1&1\\1&0\end{pmatrix}^{10^{9}}",
    "x^" * 100 + "x",
    "1" * 4000,
]
MATH_ACTIONS = [
    "\\boxed{" * 20000,
    "a" + "\n" * 100_000,
    ". " + " " * 100_000 + "x",
    "step 1" + " " * 100_000 + "x",
    "answer: x" + " " * 100_000 + "y",
    "(" * 100_000 + "1=1",
]
CALCULATOR = [
    "round(1, -10**18)", "round(1, -10**7)", "10**10**10", "9**9**9", "2**(2**64)",
    "(10**1000)**1000", "1e308*10", "1<<10**9", "math.factorial(10**6)", "sqrt(10**400)",
    "(-8)**(1/3)", "'a'*10**9", "abs(-10**400)", "round(1.5, 10**18)",
]  # fmt: skip
TOOL_ACTIONS = [
    "<tool_call>{" * 8000,
    "<tool_call>{" * 100_000,
    "<answer>" * 100_000,
    "<tool_call>" + "[" * 100_000 + "</tool_call>",
]
SQL_QUERIES = [
    "SELECT length(trim(printf('%.*c',60000,'a'), printf('%.*c',60000,'b')||'a'))",
    "SELECT length(ltrim(printf('%.*c',60000,'a'), printf('%.*c',60000,'b')||'a'))",
    "SELECT instr(printf('%.*c',999000,'a'), printf('%.*c',500000,'a')||'b')",
    "SELECT length(replace(printf('%.*c',999000,'a'), printf('%.*c',500000,'a')||'b', 'c'))",
    "SELECT printf('%.*c',999000,'a') LIKE printf('%.*c',40000,'%')||'b'",
    "SELECT count(*) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) "
    "SELECT x FROM c)",
    "SELECT * FROM pragma_compile_options",
    "SELECT printf('%.*c', 2147483647, 'x')",
    "SELECT format('%2147483647c', 'x')",
    "SELECT replace(printf('%.*c', 100000, 'a'), 'a', printf('%.*c', 100000, 'b'))",
]
SQL_ACTIONS = ["<sql>" * 100_000, "<solution>" * 100_000, "<sql>```" + " " * 100_000]


def _short(action: str, width: int = 58) -> str:
    text = action.replace("\n", "\\n")
    if len(text) <= width:
        return text
    return f"{text[: width - 16]}… ({len(action):,} chars)"


def _step(env: gym.Env, action: str) -> tuple[float, str]:
    env.reset(seed=0)
    start = time.perf_counter()
    _, _, _, _, info = env.step(action)
    seconds = time.perf_counter() - start
    note = str(info.get("error") or info.get("outcome", ""))
    return seconds, note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bound", type=float, default=5.0, help="seconds allowed per step")
    parser.add_argument(
        "--max-action-length",
        type=int,
        default=2_000_000,
        help="the envs' max_action_length (large, so parsers see long actions)",
    )
    args = parser.parse_args()
    length = args.max_action_length
    print(f"hostile inputs — prm_gym {prm_gym.__version__}, Python {platform.python_version()}")
    rows: list[tuple[str, str, float, str]] = []

    math_env = gym.make("prm/Math-v0", max_action_length=length)
    warm, _ = _step(math_env, "\\boxed{x + 1}")
    print(f"Math-v0 warm-up step (math-verify loads its grammar): {warm:.2f} s")
    for answer in MATH_ANSWERS:
        rows.append(("Math-v0", f"\\boxed{{{answer}}}", *_step(math_env, f"\\boxed{{{answer}}}")))
    for action in MATH_ACTIONS:
        rows.append(("Math-v0", action, *_step(math_env, action)))
    math_env.close()
    single = gym.make("prm/Math-v0", max_action_length=length, single_turn=True)
    for action in MATH_ACTIONS:
        rows.append(("Math-v0 single", action, *_step(single, action)))
    single.close()

    tools = gym.make("prm/ToolUse-v0", max_action_length=length)
    for expression in CALCULATOR:
        call = {"name": "calculator", "parameters": {"expression": expression}}
        action = f"<tool_call>{json.dumps(call)}</tool_call>"
        rows.append(("ToolUse-v0", f"calculator {expression}", *_step(tools, action)))
    for action in TOOL_ACTIONS:
        rows.append(("ToolUse-v0", action, *_step(tools, action)))
    tools.close()

    with tempfile.TemporaryDirectory() as cache:
        sql = gym.make("prm/SQL-v0", cache_dir=cache, schemas=("library",),
                       max_action_length=length)  # fmt: skip
        for query in SQL_QUERIES:
            rows.append(("SQL-v0", f"<sql>{query}</sql>", *_step(sql, f"<sql>{query}</sql>")))
        for action in SQL_ACTIONS:
            rows.append(("SQL-v0", action, *_step(sql, action)))
        sql.close()

    print(f"\n{'env':15} {'action':60} {'step s':>7}  result")
    print("-" * 110)
    for env_id, action, seconds, note in rows:
        print(f"{env_id:15} {_short(action):60} {seconds:7.3f}  {_short(note, 40)}")
    worst = max(rows, key=lambda row: row[2])
    print("-" * 110)
    verdict = "met" if worst[2] <= args.bound else "NOT MET"
    print(f"max step time {worst[2]:.3f} s ({worst[0]}: {_short(worst[1], 40)}); "
          f"{len(rows)} hostile actions; target <= {args.bound:g} s: {verdict}")  # fmt: skip
    return 0 if worst[2] <= args.bound else 1


if __name__ == "__main__":
    sys.exit(main())
