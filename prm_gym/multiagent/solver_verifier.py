"""``solver_verifier_v0``: a solver writes a maths solution, a verifier judges it (AEC)."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

import numpy as np
from pettingzoo import AECEnv

from prm_gym.core.scorer import StepContext
from prm_gym.core.text_env import validate_text_action
from prm_gym.envs.math import MathEnv, MathProgress, answers_match, extract_final_answer
from prm_gym.spaces import Text

__all__ = [
    "SolverVerifierEnv",
    "TextObservation",
    "VerdictMode",
    "balanced_agreement",
    "parse_first_error",
    "parse_verdict",
]

VerdictMode = Literal["step", "first_error"]
VerifierReward = Literal["auto", "labels", "outcome"]

_CORRECT = re.compile(r"^\W*(correct|right|true|yes|valid|ok|\+)\W*$", re.IGNORECASE)
_WRONG = re.compile(r"^\W*(wrong|incorrect|false|no|invalid|error|-)\W*$", re.IGNORECASE)
_NONE = re.compile(r"^\W*(none|-1|correct|no error|all correct)\W*$", re.IGNORECASE)
_INDEX = re.compile(r"^\W*(?:step\s*)?(\d{1,4})\W*$", re.IGNORECASE)


class TextObservation(str):
    """A ``str`` observation. ``dtype`` is ``None``, like :class:`prm_gym.spaces.Text`'s, so
    checks that compare an observation's ``dtype`` with its space's (PettingZoo's ``api_test``)
    accept text; in every other respect it is the plain string."""

    __slots__ = ()
    dtype = None


def parse_verdict(action: str) -> bool | None:
    """``True`` for "correct" (also right/true/yes/valid/ok/+), ``False`` for "wrong" (also
    incorrect/false/no/invalid/error/-), ``None`` for anything else. Case and surrounding
    punctuation are ignored; the verdict must be the whole action."""
    if _CORRECT.match(action):
        return True
    if _WRONG.match(action):
        return False
    return None


def parse_first_error(action: str, n_steps: int) -> int | None:
    """ProcessBench-style answer: the 1-based index of the first wrong step, 0 for "none"
    (also -1, "correct", "no error"), ``None`` when unparseable or out of ``1..n_steps``."""
    if _NONE.match(action):
        return 0
    m = _INDEX.match(action)
    if m is None:
        return None
    k = int(m.group(1))
    return k if 1 <= k <= n_steps else None


def balanced_agreement(verdicts: list[bool | None], labels: list[bool]) -> float:
    """Mean over the label classes present of the share of that class's steps judged right.

    A missing verdict (``None``) never agrees. A verifier that always says "correct" scores
    0.5 on an episode with both correct and wrong steps; one that follows the labels, 1.0.
    """
    scores = []
    for cls in (True, False):
        idx = [i for i, lab in enumerate(labels) if lab is cls]
        if idx:
            scores.append(sum(verdicts[i] is cls for i in idx) / len(idx))
    return float(np.mean(scores)) if scores else 0.0


class SolverVerifierEnv(AECEnv[str, str, str]):
    """Two LLM roles on one prm/Math-v0 problem: ``solver`` writes steps, ``verifier`` judges.

    ## Description
    Each episode is one prm/Math-v0 task (procedural by default, or records passed as
    ``tasks=``). Agents act in turn (PettingZoo AEC). With ``mode="step"`` the solver writes one
    step, the verifier judges it ("correct" or "wrong"), and so on until the solver states a
    final answer (``\\boxed{...}``) or runs out of ``max_steps``; the verifier judges the final
    step too. With ``mode="first_error"`` (ProcessBench-style) the solver writes the whole
    episode first and the verifier answers once, naming the first wrong step (``"3"``) or
    ``"none"``.

    With ``refiner=True`` a third agent, ``refiner`` (MALT: "MALT: Improving Reasoning with
    Multi-Agent LLM Training", 2024), then sees the solution with the verifier's verdicts and
    writes one corrected complete solution ending in ``\\boxed{...}``, which ends the episode.

    ## Action Space
    ``prm_gym.spaces.Text(max_action_length)`` for both agents. Solver actions follow
    prm/Math-v0's rules: an invalid step (empty, binary-looking, over-long, ``\\boxed{}``) costs
    a step, sets ``infos["solver"]["action_valid"] = False`` and ``["error"]``, and the solver
    moves again (the verifier has nothing to judge and is unaffected). A verifier action that is
    not a verdict costs its turn the same way and counts as a missing verdict (it agrees with
    nothing). A non-``str`` action raises ``TypeError``; terminated agents are stepped with
    ``None``. A refiner action without a final answer (or invalid text) is refused the same way
    and scores 0; the episode still ends.

    ## Observation Space
    ``prm_gym.spaces.Text`` for both. The solver sees prm/Math-v0's observation (the problem
    with instructions, then acknowledgements). The verifier sees the problem, the solution so
    far as ``Step k: ...`` lines and what to answer. Neither sees the gold or the step labels.

    ## Rewards
    Solver: the outcome (1.0 for the right final answer, paid when the episode ends) plus the
    *verified* process reward in the progress form (DESIGN §5a): Φ is
    :class:`~prm_gym.envs.math.MathProgress` (share of the task's gold values established by
    rule-checked correct steps) measured over the steps the verifier **accepted**, and the
    solver earns ``coef`` times each rise of its running best, once. So progress is paid only
    when both the rules and the verifier agree, an episode's process total is at most ``coef``,
    and padding with steps the verifier accepts (true but useless statements, repeats) adds
    nothing. In ``"first_error"`` mode the accepted steps are those before the named first error
    (all of them for ``"none"``).

    Verifier (``verifier_reward="auto"``): on tasks with exact step labels (procedural tasks,
    ``info["step_label"]`` of prm/Math-v0) its agreement with them, paid when the episode ends:
    ``"step"`` mode, the class-balanced agreement of its verdicts with the labels (mean over
    "correct" and "wrong" steps present of the share judged right, so always answering
    "correct" earns 0.5 on a flawed solution, following the labels 1.0); ``"first_error"``
    mode, 1.0 for naming exactly the first wrong step (or "none" for a flawless solution), else
    0. On tasks without labels (dataset records), the outcome-consistency rule of RL Tango
    ("RL Tango: Reinforcing Generator and Verifier Together for Language Reasoning", 2025): 1.0
    when its overall verdict (every step "correct", or "none") agrees with the checked outcome,
    else 0 (a missing verdict makes the overall verdict missing: 0). ``"labels"`` / ``"outcome"``
    force one rule.

    Refiner: the outcome of its refined solution (1.0 for the right final answer, else 0),
    recorded as ``refined_outcome``. It changes nothing the solver and verifier earn (their
    rewards are paid before it acts), so the solver and verifier cannot be paid through it.
    MALT's credit, by value iteration over a search tree of several samples per role, needs
    branching many samples; with one sample per role it reduces to this outcome.

    ``infos[agent]["reward_components"]`` splits the reward ``last()`` returns for that agent
    (``outcome`` and ``process`` for the solver, ``verification`` for the verifier); the
    components sum to it.

    ## Starting State
    prm/Math-v0's: ``reset(seed=s)`` fixes the task; ``options`` go to the Math env
    (``{"task": Task}``, ``{"task_seed": n}``, ...). The solver moves first.

    ## Episode End
    After the verifier's last judgement both agents terminate (the solver stated a final
    answer) or truncate (``max_steps`` solver steps without one). With a refiner, all three
    terminate when the refiner has written its solution. ``infos[a]["outcome"]`` holds
    the Math outcome on that step, ``infos["verifier"]["verification"]`` the verifier's score.

    ## Info
    Solver: ``task_id``, ``action_valid``, ``error``, ``step_label`` (procedural tasks, as in
    prm/Math-v0: ground truth for PRM training, never read by a fair verifier policy),
    ``answer``. Verifier: ``action_valid``, ``error``, ``verdict``. Both:
    ``reward_components``, and ``outcome`` at the end.

    ## Attributes
    ``math_env`` (the underlying :class:`~prm_gym.envs.math.MathEnv`: its ``task`` holds the
    gold), ``steps`` (the solver's valid steps), ``labels`` (their step labels, ``None`` where
    unknown), ``verdicts`` (the verifier's, ``None`` for a missing one) and ``returns`` (each
    agent's episode return so far).

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | ``tasks`` | ``None`` | as prm/Math-v0's ``tasks`` |
    | ``mode`` | ``"step"`` | ``"step"`` (judge every step) or ``"first_error"`` |
    | ``coef`` | ``0.5`` | weight of the solver's verified progress |
    | ``verifier_reward`` | ``"auto"`` | ``"labels"``, ``"outcome"``, ``"auto"`` (labels if known) |
    | ``max_steps`` | ``8`` | solver steps before truncation |
    | ``families`` / ``levels`` | all | procedural families and levels (prm/Math-v0) |
    | ``max_action_length`` | ``1024`` | longest valid action, in characters |
    | ``refiner`` | ``False`` | add the MALT ``refiner`` role |
    | ``render_mode`` | ``None`` | ``"ansi"``: ``render()`` returns the dialogue |

    ## Version History
    * v0: initial release.

    Example:
        >>> from prm_gym.multiagent import make
        >>> env = make("solver_verifier_v0")
        >>> env.reset(seed=0)
        >>> gold = env.math_env.task.metadata["gold_steps"]
        >>> for agent in env.agent_iter():
        ...     obs, reward, terminated, truncated, info = env.last()
        ...     if terminated or truncated:
        ...         action = None
        ...     elif agent == "solver":
        ...         action = gold[len(env.steps)]
        ...     else:
        ...         action = "correct"
        ...     env.step(action)
        >>> env.returns["solver"], env.returns["verifier"]
        (1.5, 1.0)
    """

    metadata: ClassVar[dict[str, Any]] = {
        "name": "solver_verifier_v0",
        "render_modes": ["ansi"],
        "is_parallelizable": False,
    }

    def __init__(
        self,
        tasks: Any = None,
        *,
        mode: VerdictMode = "step",
        coef: float = 0.5,
        verifier_reward: VerifierReward = "auto",
        max_steps: int = 8,
        families: tuple[str, ...] | None = None,
        levels: tuple[int, ...] | None = None,
        max_action_length: int = 1024,
        refiner: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if mode not in ("step", "first_error"):
            raise ValueError(f"mode must be 'step' or 'first_error', got {mode!r}")
        if verifier_reward not in ("auto", "labels", "outcome"):
            raise ValueError(
                f"verifier_reward must be 'auto', 'labels' or 'outcome', got {verifier_reward!r}"
            )
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        super().__init__()
        self.mode: VerdictMode = mode
        self.coef = float(coef)
        self.verifier_reward: VerifierReward = verifier_reward
        self.render_mode = render_mode
        self.math_env = MathEnv(
            tasks,
            max_steps=max_steps,
            families=families,
            levels=levels,
            max_action_length=max_action_length,
        )
        self.progress = MathProgress()
        self.refiner = refiner
        self.possible_agents = ["solver", "verifier", *(["refiner"] if refiner else [])]
        self.agents: list[str] = []
        obs_len = 8192 + (max_steps + 2) * (max_action_length + 32)
        self.observation_spaces = {a: Text(obs_len) for a in self.possible_agents}
        self.action_spaces = {a: Text(max_action_length) for a in self.possible_agents}
        self.steps: list[str] = []
        self.labels: list[bool | None] = []
        self.verdicts: list[bool | None] = []
        self.returns: dict[str, float] = {}
        self._accepted: list[str] = []
        self._step_infos: list[dict[str, Any]] = []
        self._obs: dict[str, str] = {}
        self._comps: dict[str, dict[str, float]] = {}
        self._best = 0.0
        self._math_over: tuple[bool, bool] = (False, False)
        self._outcome = 0.0

    def observation_space(self, agent: str) -> Text:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> Text:
        return self.action_spaces[agent]

    # -- PettingZoo API -------------------------------------------------------------------
    def reset(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        prompt, info = self.math_env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {"task_id": info["task_id"]} for a in self.agents}
        self._comps = {a: {} for a in self.agents}
        self.returns = {a: 0.0 for a in self.agents}
        self.steps, self.labels, self.verdicts = [], [], []
        self._accepted, self._step_infos = [], []
        self._best = 0.0
        self._math_over = (False, False)
        self._outcome = 0.0
        self._skip_agent_selection = None
        self._obs = {"solver": prompt, "verifier": self._verifier_view("waiting")}
        if self.refiner:
            self._obs["refiner"] = self._verifier_view("waiting")
        self.agent_selection = "solver"

    def observe(self, agent: str) -> str:
        return TextObservation(self._obs[agent])

    def step(self, action: str | None) -> None:
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            self._was_dead_step(action)
            return
        if not isinstance(action, str):
            raise TypeError(
                f"{agent} actions must be str, got {type(action).__name__}; decode token ids "
                "to text before stepping"
            )
        self._cumulative_rewards[agent] = 0.0
        self._comps[agent] = {}
        self.rewards = {a: 0.0 for a in self.agents}
        if agent == "solver":
            self._solver_step(action)
        elif agent == "verifier":
            self._verifier_step(action)
        else:
            self._refiner_step(action)
        self._accumulate_rewards()
        for a in self.agents:
            self.infos[a]["reward_components"] = dict(self._comps[a])
            self.returns[a] += float(self.rewards[a])

    def render(self) -> str | None:
        if self.render_mode != "ansi":
            return None
        task = self.math_env.task
        lines = [task.prompt if task is not None else ""]
        for i, s in enumerate(self.steps):
            v = self.verdicts[i] if i < len(self.verdicts) else None
            mark = {True: "correct", False: "wrong", None: "-"}[v]
            lines.append(f"Step {i + 1}: {s}   [verifier: {mark}]")
        return "\n".join(lines)

    def close(self) -> None:
        self.math_env.close()

    # -- turns ----------------------------------------------------------------------------
    def _pay(self, agent: str, name: str, value: float) -> None:
        if value:
            self.rewards[agent] += value
            self._comps[agent][name] = self._comps[agent].get(name, 0.0) + value

    def _solver_step(self, action: str) -> None:
        obs, _, term, trunc, info = self.math_env.step(action)
        self._obs["solver"] = obs
        self.infos["solver"] = dict(info)
        self._math_over = (term, trunc)
        if term or trunc:
            self._outcome = float(info.get("outcome", 0.0))
        if info.get("action_valid", True):
            self.steps.append(action)
            self._step_infos.append(dict(info))
            label = info.get("step_label")
            self.labels.append(bool(label) if label is not None else None)
            if self.mode == "step":
                self._obs["verifier"] = self._verifier_view("step")
                self.agent_selection = "verifier"
                return
        if term or trunc:
            if self.mode == "first_error":
                self._obs["verifier"] = self._verifier_view("first_error")
                self.agent_selection = "verifier"
            else:
                self._finish()
        # else: the solver moves again (invalid step in "step" mode, or "first_error" mode)

    def _verifier_step(self, action: str) -> None:
        info: dict[str, Any] = {"task_id": self.infos["verifier"].get("task_id")}
        if self.mode == "step":
            verdict = parse_verdict(action)
            self.verdicts.append(verdict)
            info["verdict"] = verdict
            if verdict is None:
                info["action_valid"] = False
                info["error"] = "not a verdict: answer 'correct' or 'wrong'"
            else:
                info["action_valid"] = True
                if verdict:
                    self._accept(len(self.steps) - 1)
            self.infos["verifier"] = info
            if any(self._math_over):
                self._finish()
            else:
                self._obs["verifier"] = self._verifier_view("waiting")
                self.agent_selection = "solver"
            return
        first = parse_first_error(action, len(self.steps))
        info["verdict"] = first
        if first is None:
            info["action_valid"] = False
            info["error"] = (
                f"not a first-error index: answer a step number 1..{len(self.steps)} or 'none'"
            )
            self.verdicts = [None] * len(self.steps)
        else:
            info["action_valid"] = True
            good = len(self.steps) if first == 0 else first - 1
            self.verdicts = [i < good for i in range(len(self.steps))]
            for i in range(good):
                self._accept(i)
        self.infos["verifier"] = info
        self._finish()

    def _accept(self, index: int) -> None:
        """The verifier accepted step ``index``: pay the rise of Φ over the accepted steps."""
        task = self.math_env.task
        assert task is not None
        context = StepContext(
            task.prompt,
            tuple(self._accepted),
            self.steps[index],
            info=self._step_infos[index],
            task=task,
        )
        phi = float(self.progress.progress([context])[0])
        self._accepted.append(self.steps[index])
        if phi > self._best:
            self._pay("solver", "process", self.coef * (phi - self._best))
            self._best = phi

    def _verification(self) -> float:
        known = bool(self.labels) and all(lab is not None for lab in self.labels)
        use_labels = self.verifier_reward == "labels" or (self.verifier_reward == "auto" and known)
        if use_labels and known:
            labels = [bool(lab) for lab in self.labels]
            if self.mode == "step":
                return balanced_agreement(self.verdicts, labels)
            first = next((i + 1 for i, lab in enumerate(labels) if not lab), 0)
            named = self.infos["verifier"].get("verdict")
            return 1.0 if named == first else 0.0
        if use_labels:  # labels asked for but the task has none
            return 0.0
        if not self.verdicts or any(v is None for v in self.verdicts):
            return 0.0  # a missing verdict: no overall verdict
        overall = all(bool(v) for v in self.verdicts)
        return 1.0 if overall == (self._outcome >= 1.0) else 0.0

    def _finish(self) -> None:
        self._pay("solver", "outcome", self._outcome)
        score = self._verification()
        self._pay("verifier", "verification", score)
        self.infos["verifier"]["verification"] = score
        self._obs["verifier"] = self._verifier_view("done")
        if self.refiner:
            self._obs["refiner"] = self._verifier_view("refine")
            self.agent_selection = "refiner"
            return
        self._end(*self._math_over)

    def _end(self, term: bool, trunc: bool) -> None:
        for a in self.agents:
            self.terminations[a] = term
            self.truncations[a] = trunc and not term
            self.infos[a]["outcome"] = self._outcome
        # The solver (first agent) is selected to step its final None; AEC removes them all.
        self.agent_selection = "solver"

    def _refiner_step(self, action: str) -> None:
        """MALT's refiner: one complete solution; its reward is that solution's outcome."""
        task = self.math_env.task
        assert task is not None
        info: dict[str, Any] = {"task_id": task.id, "action_valid": True}
        error = validate_text_action(action, self.action_spaces["refiner"].max_length)
        answer = extract_final_answer(action) if error is None else None
        if error is None and answer is None:
            error = "no final answer: end the refined solution with \\boxed{answer}"
        refined = 0.0
        if error is not None:
            info["action_valid"] = False
            info["error"] = error
        else:
            info["answer"] = answer
            matched = answers_match(
                str(task.answer), str(answer), timeout=self.math_env.answer_timeout
            )
            refined = 1.0 if matched else 0.0
        self._pay("refiner", "refined_outcome", refined)
        self.infos["refiner"] = info
        self._end(True, False)
        self.infos["refiner"]["outcome"] = refined
        for a in self.agents:
            self.infos[a]["refined_outcome"] = refined

    def _verifier_view(self, kind: str) -> str:
        task = self.math_env.task
        assert task is not None
        lines = [f"Problem: {task.prompt}", "", "Solution so far:" if self.steps else ""]
        lines += [f"Step {i + 1}: {s}" for i, s in enumerate(self.steps)]
        if kind == "step":
            lines += ["", f"Is step {len(self.steps)} correct? Answer 'correct' or 'wrong'."]
        elif kind == "first_error":
            lines += [
                "",
                "Which step is the first wrong one? Answer its number, or 'none' if every "
                "step is correct.",
            ]
        elif kind == "refine":
            marks = {True: "correct", False: "wrong", None: "no verdict"}
            lines = [f"Problem: {task.prompt}", "", "Solution, with the verifier's verdicts:"]
            for i, step in enumerate(self.steps):
                mark = marks[self.verdicts[i]] if i < len(self.verdicts) else "no verdict"
                lines.append(f"Step {i + 1}: {step}   [{mark}]")
            lines += [
                "",
                "Write a corrected complete solution, one step per line, ending with "
                "\\boxed{answer}.",
            ]
        elif kind == "waiting":
            lines += ["", "(The solver is writing the next step.)"]
        text = "\n".join(lines)
        limit = self.observation_spaces["verifier"].max_length
        return text if len(text) <= limit else "…" + text[-(limit - 1) :]
