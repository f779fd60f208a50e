"""LLM-written dense reward code, checked and run only in the sandbox (DESIGN §4).

Text2Reward (2023), Eureka (2023) and Auto MC-Reward (2023) let an LLM write the reward: the model
is shown a compact Python view of the env state (our envs' ``describe_state()``) and the task,
writes ``compute_dense_reward(state) -> (float, dict_of_components)``; candidates are sampled,
scored by short training runs, and the per-component statistics plus the task score are fed back
into the next prompt. Those projects ``exec`` the code in the trainer's process; here every
candidate runs only inside :mod:`prm_gym.sandbox`.

Pipeline:

1. **State.** :func:`parse_state` turns ``describe_state()`` (``name = literal  # comment`` lines)
   into a JSON-able dict; that dict is the function's ``state`` argument (tuples become lists).
2. **Static check** (:func:`static_check`): syntax, a top-level ``def compute_dense_reward(state)``
   with one required argument, imports only from ``allowed_imports`` (default ``math``), no
   ``open``/``exec``/``eval``/``__import__``/``getattr``… and no dunder attributes. This gives a
   clear reason early; it is not the security boundary, the sandbox is.
3. **Sandboxed run** (:func:`check_candidate`, :meth:`RewardCode.evaluate`): the candidate and a
   JSON list of states go to *one* sandbox job that calls the function on each state and prints
   JSON results; a candidate is rejected if it times out, raises, returns anything but
   ``(number, {str: number})`` or a non-finite value.
4. **Score** (``evaluate(candidate) -> float``): pluggable. Default: :class:`ExpertProgressProxy`
   (cheap: the mean correlation between the candidate's reward and time along scripted-expert
   episodes, i.e. does the reward rise as an expert makes progress).
   :func:`prm_gym.agents.reward_code.sb3_evaluator` scores by a short SB3 training run shaped
   with the candidate (Eureka's choice; seconds per candidate, batched per episode).
5. **Refine** (:func:`search_reward_code`): the next prompt holds the best candidate so far, its
   component statistics over the sample states and its task score, or the rejection reasons.

Speed: a sandbox job costs about 10-150 ms (a fresh interpreter each time), so evaluating per env
step is slow; :class:`~prm_gym.wrappers.RewardCodeShaping` can batch a whole episode into one job.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "ALLOWED_IMPORTS",
    "CandidateRecord",
    "CodeCheck",
    "ExpertProgressProxy",
    "RewardCode",
    "RewardCodeError",
    "RewardCodeSearch",
    "build_prompt",
    "check_candidate",
    "extract_code",
    "parse_state",
    "sample_states",
    "search_reward_code",
    "static_check",
]

FUNCTION_NAME = "compute_dense_reward"
#: Modules reward code may import (the sandbox runs the system interpreter: stdlib only).
ALLOWED_IMPORTS: frozenset[str] = frozenset({"math"})
_FORBIDDEN_NAMES = frozenset(
    {
        "__import__", "open", "exec", "eval", "compile", "globals", "locals", "vars", "getattr",
        "setattr", "delattr", "breakpoint", "input", "help", "exit", "quit", "__builtins__",
    }
)  # fmt: skip
_MARKER = "__PRM_GYM_REWARD_CODE__"
_HARNESS = """

import json as _prm_json
import math as _prm_math

def _prm_number(x):
    return isinstance(x, (int, float))

def _prm_eval(state):
    out = compute_dense_reward(state)
    if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[1], dict)):
        raise TypeError("must return (float, dict_of_components), got " + type(out).__name__)
    reward, comps = out
    if not _prm_number(reward):
        raise TypeError("the reward must be a number, got " + type(reward).__name__)
    clean = {{}}
    for key, value in comps.items():
        if not _prm_number(value):
            raise TypeError("component %r must be a number, got %s" % (key, type(value).__name__))
        clean[str(key)] = float(value)
    return {{"reward": float(reward), "components": clean}}

_prm_results = []
for _prm_state in _prm_json.loads({states!r}):
    try:
        _prm_results.append(_prm_eval(_prm_state))
    except Exception as _prm_exc:
        _prm_results.append({{"error": "%s: %s" % (type(_prm_exc).__name__, str(_prm_exc)[:200])}})
        break
print({marker!r} + _prm_json.dumps(_prm_results))
"""


class RewardCodeError(ValueError):
    """Reward code was rejected; ``str(error)`` is the reason."""


# ------------------------------------------------------------------------------------- states
def parse_state(view: str) -> dict[str, Any]:
    """The ``name = literal`` lines of a ``describe_state()`` view as a JSON-able dict.

    Example:
        >>> parse_state("goal = (0.1, 0.2, 0.5)\\ngripper_to_goal = 0.123  # success below 0.050")
        {'goal': [0.1, 0.2, 0.5], 'gripper_to_goal': 0.123}
    """
    state: dict[str, Any] = {}
    for node in ast.parse(view).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                state[target.id] = json.loads(json.dumps(ast.literal_eval(node.value)))
    return state


def sample_states(env: Any, n: int = 32, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` parsed states from random-action episodes of ``env`` (which needs
    ``describe_state()``; the reset state of each episode included)."""
    base = env.unwrapped
    if not hasattr(base, "describe_state"):
        raise TypeError(f"{type(base).__name__} has no describe_state(); reward code needs it")
    env.action_space.seed(seed)
    states: list[dict[str, Any]] = []
    episode = 0
    while len(states) < n:
        env.reset(seed=seed + episode)
        episode += 1
        states.append(parse_state(base.describe_state()))
        done = False
        while not done and len(states) < n:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            states.append(parse_state(base.describe_state()))
            done = terminated or truncated
    return states


# ------------------------------------------------------------------------------- checking code
def extract_code(text: str) -> str:
    """The last fenced ```python block of an LLM reply, else the last fence, else the text."""
    blocks = re.findall(r"```python[^\n]*\n(.*?)```", text, flags=re.S)
    if not blocks:
        blocks = re.findall(r"```[^\n]*\n(.*?)```", text, flags=re.S)
    return (blocks[-1] if blocks else text).strip() + "\n"


def static_check(code: str, allowed_imports: Iterable[str] = ALLOWED_IMPORTS) -> str | None:
    """``None`` if ``code`` passes the static checks, else the reason it is rejected."""
    allowed = frozenset(allowed_imports)
    try:
        tree = ast.parse(code)
    except SyntaxError as exc:
        return f"syntax error: {exc.msg} (line {exc.lineno})"
    funcs = [
        n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
        and n.name == FUNCTION_NAME
    ]  # fmt: skip
    if not funcs:
        return f"no top-level function `def {FUNCTION_NAME}(state)`"
    func = funcs[-1]
    if isinstance(func, ast.AsyncFunctionDef):
        return f"{FUNCTION_NAME} must be a plain function, not async"
    args = func.args
    positional = args.posonlyargs + args.args
    required = len(positional) - len(args.defaults)
    kw_defaults = zip(args.kwonlyargs, args.kw_defaults, strict=True)
    kw_required = [a.arg for a, d in kw_defaults if d is None]
    if not positional or required > 1 or kw_required:
        names = ", ".join(a.arg for a in positional + args.kwonlyargs)
        return f"wrong signature: {FUNCTION_NAME} must take one argument `state`, got ({names})"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            modules = (
                [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            )
            for module in modules:
                root = (module or "").split(".")[0]
                if root not in allowed:
                    return (
                        f"imports {module!r} (line {node.lineno}); allowed: "
                        f"{', '.join(sorted(allowed)) or 'none'}"
                    )
        elif isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES:
            return f"uses forbidden name {node.id!r} (line {node.lineno})"
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__"):
            return f"accesses dunder attribute {node.attr!r} (line {node.lineno})"
    return None


@dataclass(frozen=True)
class CodeCheck:
    """The verdict on a candidate: ``ok``, or ``reason`` it was rejected; on success the
    reward and each component over the sample states."""

    ok: bool
    reason: str | None = None
    rewards: tuple[float, ...] = ()
    components: Mapping[str, tuple[float, ...]] = field(default_factory=dict)

    def statistics(self) -> dict[str, dict[str, float]]:
        """``{"reward" | component: {"mean", "std", "min", "max"}}`` over the sample states."""
        series = {"reward": self.rewards, **self.components}
        return {
            name: {
                "mean": float(np.mean(v)),
                "std": float(np.std(v)),
                "min": float(np.min(v)),
                "max": float(np.max(v)),
            }
            for name, v in series.items()
            if len(v)
        }


def _run_sandboxed(
    code: str, states: Sequence[Mapping[str, Any]], timeout: float, sandbox: Any
) -> CodeCheck:
    from prm_gym.sandbox import run_tests

    payload = json.dumps(list(states), allow_nan=False)
    program = code + _HARNESS.format(states=payload, marker=_MARKER)
    result = run_tests(program, [], timeout=timeout, sandbox=sandbox)
    if result.status == "timeout":
        return CodeCheck(False, f"timed out after {timeout:g} s (an endless loop?)")
    if result.status != "ok":
        return CodeCheck(False, f"{result.status}: {result.error}")
    lines = [ln for ln in result.stdout.splitlines() if ln.startswith(_MARKER)]
    if not lines:
        return CodeCheck(False, "the code produced no results (did it exit early?)")
    try:
        rows = json.loads(lines[-1][len(_MARKER) :])
    except json.JSONDecodeError:
        return CodeCheck(False, "the code's results could not be parsed")
    rewards: list[float] = []
    components: dict[str, list[float]] = {}
    for i, row in enumerate(rows):
        if "error" in row:
            return CodeCheck(False, f"raised on sample state {i}: {row['error']}")
        values = {"reward": row["reward"], **row["components"]}
        bad = [k for k, v in values.items() if not math.isfinite(v)]
        if bad:
            return CodeCheck(False, f"non-finite {bad[0]} ({values[bad[0]]}) on sample state {i}")
        rewards.append(row["reward"])
        for k, v in row["components"].items():
            components.setdefault(k, []).append(v)
    if len(rewards) != len(states):
        return CodeCheck(False, f"returned {len(rewards)} results for {len(states)} states")
    comps = {k: tuple(v) for k, v in components.items() if len(v) == len(rewards)}
    return CodeCheck(True, None, tuple(rewards), comps)


def check_candidate(
    code: str,
    states: Sequence[Mapping[str, Any]],
    *,
    timeout: float = 5.0,
    sandbox: Any = None,
    allowed_imports: Iterable[str] = ALLOWED_IMPORTS,
) -> CodeCheck:
    """Static checks, then one sandbox job over ``states``; never raises for what the code does.

    ``sandbox`` is a :class:`prm_gym.sandbox.Sandbox` (default: the process-wide one).
    """
    reason = static_check(code, allowed_imports)
    if reason is not None:
        return CodeCheck(False, reason)
    if not states:
        return CodeCheck(True)
    return _run_sandboxed(code, states, timeout, sandbox)


# --------------------------------------------------------------------------------- RewardCode
class RewardCode:
    """Accepted reward code: ``compute_dense_reward(state) -> (float, dict)``, run in the sandbox.

    Build one with :meth:`from_code` (your own code) or :func:`search_reward_code` (an LLM's).
    Every evaluation is a sandbox job; batch states with :meth:`evaluate`.

    Args:
        code: Python source defining ``compute_dense_reward(state)``.
        timeout: Wall-clock seconds per sandbox job.
        sandbox: A :class:`prm_gym.sandbox.Sandbox` (default: the process-wide one).
        allowed_imports: Modules the code may import.

    Raises:
        RewardCodeError: The code fails the static checks.

    Example:
        >>> rc = RewardCode.from_code(
        ...     "def compute_dense_reward(state):\\n"
        ...     "    d = state['gripper_to_goal']\\n"
        ...     "    return -d, {'distance': -d}\\n"
        ... )
        >>> rewards, comps = rc.evaluate([{"gripper_to_goal": 0.5}, {"gripper_to_goal": 0.1}])
        >>> rewards.tolist(), comps["distance"].tolist()
        ([-0.5, -0.1], [-0.5, -0.1])
    """

    def __init__(
        self,
        code: str,
        *,
        timeout: float = 5.0,
        sandbox: Any = None,
        allowed_imports: Iterable[str] = ALLOWED_IMPORTS,
    ) -> None:
        self.allowed_imports = frozenset(allowed_imports)
        reason = static_check(code, self.allowed_imports)
        if reason is not None:
            raise RewardCodeError(reason)
        self.code = code
        self.timeout = timeout
        self.sandbox = sandbox

    @classmethod
    def from_code(
        cls, code: str, sample_states: Sequence[Mapping[str, Any]] | None = None, **kwargs: Any
    ) -> RewardCode:
        """Accept ``code`` after the static checks and, with ``sample_states``, a sandboxed run
        on them; raises :class:`RewardCodeError` with the reason otherwise."""
        rc = cls(code, **kwargs)
        if sample_states:
            check = rc.check(sample_states)
            if not check.ok:
                raise RewardCodeError(check.reason)
        return rc

    def check(self, states: Sequence[Mapping[str, Any]]) -> CodeCheck:
        """Run on ``states`` in one sandbox job and report (never raises)."""
        return check_candidate(
            self.code,
            states,
            timeout=self.timeout,
            sandbox=self.sandbox,
            allowed_imports=self.allowed_imports,
        )

    def evaluate(
        self, states: Sequence[Mapping[str, Any]]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Rewards (float64, one per state) and each component, from one sandbox job.

        Raises:
            RewardCodeError: The code failed on these states (reason in the message).
        """
        if not states:
            return np.zeros(0), {}
        check = self.check(states)
        if not check.ok:
            raise RewardCodeError(check.reason)
        comps = {k: np.asarray(v, dtype=np.float64) for k, v in check.components.items()}
        return np.asarray(check.rewards, dtype=np.float64), comps

    def __call__(self, state: Mapping[str, Any]) -> float:
        """The reward of one state (one sandbox job: slow, prefer :meth:`evaluate`)."""
        return float(self.evaluate([state])[0][0])

    def __repr__(self) -> str:
        return f"RewardCode({len(self.code.splitlines())} lines)"


# ---------------------------------------------------------------------------------- evaluators
class ExpertProgressProxy:
    """A cheap task score: does the reward rise as the scripted expert makes progress?

    Runs ``n_episodes`` expert episodes on a manipulation env, evaluates the candidate on every
    state up to the first success in one sandbox job, and returns the mean Pearson correlation
    of reward with time (in [−1, 1]; a constant reward scores 0).

    Args:
        env_id: An env id whose family has a scripted expert (``FamilyAssets.gold_policy``)
            and a ``describe_state()`` view: the manipulation envs (``prm/Reach-v0`` …).
        n_episodes: Expert episodes (their states are collected once, at construction).
        seed: Base reset seed.
    """

    def __init__(self, env_id: str, n_episodes: int = 4, seed: int = 0) -> None:
        import gymnasium as gym

        import prm_gym  # noqa: F401  (registers the prm/* ids and their family assets)
        from prm_gym.core.assets import family_assets

        make_expert = family_assets(env_id).gold_policy
        if make_expert is None:
            raise ValueError(f"{env_id}'s family has no scripted expert (gold_policy)")
        env = gym.make(env_id)
        self.episodes: list[list[dict[str, Any]]] = []
        try:
            for i in range(n_episodes):
                obs, info = env.reset(seed=seed + i)
                expert = make_expert()
                states = [parse_state(env.unwrapped.describe_state())]  # type: ignore[attr-defined]
                done = bool(info.get("is_success"))
                while not done:
                    obs, _, terminated, truncated, info = env.step(expert(obs, info, env))
                    states.append(parse_state(env.unwrapped.describe_state()))  # type: ignore[attr-defined]
                    done = terminated or truncated or bool(info.get("is_success"))
                self.episodes.append(states)
        finally:
            env.close()

    def __call__(self, candidate: RewardCode) -> float:
        flat = [s for ep in self.episodes for s in ep]
        rewards, _ = candidate.evaluate(flat)
        scores, start = [], 0
        for ep in self.episodes:
            r = rewards[start : start + len(ep)]
            start += len(ep)
            if len(r) > 1 and np.std(r) > 1e-12:
                scores.append(float(np.corrcoef(np.arange(len(r)), r)[0, 1]))
            else:
                scores.append(0.0)
        return float(np.mean(scores)) if scores else 0.0


# ------------------------------------------------------------------------------------- search
_SYSTEM = (
    "You write dense reward functions for reinforcement learning. Reply with one ```python "
    "code block and nothing else."
)


def build_prompt(task: str, state_view: str, feedback: str | None = None) -> list[dict[str, str]]:
    """Chat messages asking for ``compute_dense_reward`` (Text2Reward / Eureka style)."""
    user = (
        f"Task: {task}\n\nThe environment state, as Python variables (an example):\n"
        f"```python\n{state_view}\n```\n\n"
        f"Write `def {FUNCTION_NAME}(state):` where `state` is a dict with those names as keys "
        "(tuples are lists). Return `(reward, components)`: a float and a dict of the named "
        "float terms that make it up. Higher reward must mean closer to solving the task. "
        f"Only these imports are allowed: {', '.join(sorted(ALLOWED_IMPORTS))}. No file, "
        "network or system access."
    )
    if feedback:
        user += f"\n\nFeedback on earlier attempts:\n{feedback}\nWrite an improved function."
    return [{"role": "system", "content": _SYSTEM}, {"role": "user", "content": user}]


@dataclass
class CandidateRecord:
    """One candidate of the search: its round, code, check and task score (if accepted)."""

    round: int
    index: int
    code: str
    check: CodeCheck
    score: float | None = None

    @property
    def reason(self) -> str | None:
        return self.check.reason


@dataclass
class RewardCodeSearch:
    """The result of :func:`search_reward_code`: the best accepted code (or ``None``)."""

    best: RewardCode | None
    best_score: float
    records: list[CandidateRecord]

    @property
    def rejected(self) -> list[CandidateRecord]:
        return [r for r in self.records if not r.check.ok or r.score is None]


def _feedback(best: CandidateRecord | None, rejected: Sequence[CandidateRecord]) -> str:
    parts: list[str] = []
    if best is not None and best.score is not None:
        stats = "\n".join(
            f"  {name}: mean {s['mean']:.4g}, std {s['std']:.4g}, min {s['min']:.4g}, "
            f"max {s['max']:.4g}"
            for name, s in best.check.statistics().items()
        )
        parts.append(
            f"Best function so far (task score {best.score:.3f}):\n```python\n{best.code}```\n"
            f"Its values over sample states:\n{stats}"
        )
    if rejected:
        reasons = "\n".join(f"  - {r.reason}" for r in rejected[-4:])
        parts.append(f"Rejected attempts:\n{reasons}")
    return "\n\n".join(parts)


def search_reward_code(
    backend: Any,
    env: Any,
    *,
    task: str | None = None,
    rounds: int = 2,
    candidates: int = 4,
    evaluate: Callable[[RewardCode], float] | None = None,
    states: Sequence[Mapping[str, Any]] | None = None,
    max_tokens: int = 512,
    temperature: float = 1.0,
    seed: int = 0,
    timeout: float = 5.0,
    sandbox: Any = None,
) -> RewardCodeSearch:
    """The Eureka loop: ``rounds`` × ``candidates`` LLM-written reward functions.

    Each round samples ``candidates`` replies to one prompt, checks each candidate
    (:func:`check_candidate` on ``states``), scores accepted ones with ``evaluate`` and feeds
    the best one's component statistics and score (plus rejection reasons) into the next
    prompt. A candidate whose ``evaluate`` raises is rejected with that reason. When a later
    round's prompt (with the feedback) no longer fits the model's context, the search stops
    there and returns what the earlier rounds found; if the first prompt does not fit,
    :class:`~prm_gym.llm.ContextOverflowError` propagates.

    Args:
        backend: Any :class:`prm_gym.llm.LLMBackend`.
        env: An env with ``describe_state()`` (an id is made with ``gym.make`` and closed; an
            env instance is reset and stepped with random actions to sample states).
        task: The task description (default: the first paragraph of the env's docstring).
        rounds, candidates: Search size.
        evaluate: ``evaluate(candidate) -> float`` (higher is better); default
            :class:`ExpertProgressProxy` for the env's id.
        states: Sample states for the checks (default: :func:`sample_states` of ``env``, 32).
        max_tokens, temperature, seed: Sampling.
        timeout: Seconds per sandbox job.
        sandbox: A :class:`prm_gym.sandbox.Sandbox` (default: the process-wide one).
    """
    import gymnasium as gym

    from prm_gym.llm.base import ContextOverflowError, SamplingParams

    if rounds < 1 or candidates < 1:
        raise ValueError(f"rounds and candidates must be >= 1, got {rounds}, {candidates}")
    own_env = isinstance(env, str)
    if isinstance(env, str):
        import prm_gym  # noqa: F401

        env = gym.make(env)
    try:
        env_id = env.spec.id if env.spec is not None else None
        if states is None:
            states = sample_states(env, 32, seed)
        env.reset(seed=seed)
        view = env.unwrapped.describe_state()
    finally:
        if own_env:
            env.close()
    if task is None:
        doc = (type(env.unwrapped).__doc__ or "").strip()
        task = doc.split("\n\n")[0].replace("\n", " ") or (env_id or "the task")
    if evaluate is None:
        if env_id is None:
            raise ValueError("pass evaluate=... for an env without a registered id")
        evaluate = ExpertProgressProxy(env_id, seed=seed)
    records: list[CandidateRecord] = []
    best: CandidateRecord | None = None
    best_code: RewardCode | None = None
    feedback: str | None = None
    for rnd in range(rounds):
        params = SamplingParams(
            max_tokens=max_tokens, temperature=temperature, n=candidates, seed=seed + rnd
        )
        try:
            replies = backend.generate([build_prompt(task, view, feedback)], params)[0]
        except ContextOverflowError:
            if feedback is None:
                raise  # even the first prompt does not fit: nothing to search with
            break  # the feedback made the prompt too long: keep what the rounds so far found
        round_records: list[CandidateRecord] = []
        for i, reply in enumerate(replies):
            code = extract_code(reply.text)
            check = check_candidate(code, states, timeout=timeout, sandbox=sandbox)
            record = CandidateRecord(rnd, i, code, check)
            if check.ok:
                candidate = RewardCode(code, timeout=timeout, sandbox=sandbox)
                try:
                    record.score = float(evaluate(candidate))
                except Exception as exc:  # the evaluator runs the code: any failure rejects it
                    record.check = CodeCheck(False, f"evaluation failed: {exc}")
                if record.score is not None and not math.isfinite(record.score):
                    record.check, record.score = CodeCheck(False, "non-finite task score"), None
                if record.score is not None and (best is None or record.score > _score_of(best)):
                    best, best_code = record, candidate
            round_records.append(record)
        records += round_records
        feedback = _feedback(best, [r for r in round_records if r.score is None])
    return RewardCodeSearch(best_code, _score_of(best) if best else float("-inf"), records)


def _score_of(record: CandidateRecord) -> float:
    return record.score if record.score is not None else float("-inf")
