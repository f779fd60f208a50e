"""prm/Math-v0: multi-step maths word problems and equations."""

from __future__ import annotations

from functools import partial
from typing import Any

from prm_gym.core.task import ProceduralSource, Task
from prm_gym.core.text_env import ActResult, TextEnv
from prm_gym.envs.math.answers import answers_match, extract_final_answer, warm_up
from prm_gym.envs.math.generator import MathConfig, generate
from prm_gym.envs.math.loaders import parse_math_record
from prm_gym.envs.math.steps import split_steps
from prm_gym.envs.math.verifier import StepChecker

__all__ = ["MathEnv"]

_MULTI_STEP_INSTRUCTIONS = (
    "Solve the problem step by step, one step per message. When you know the result, "
    "write it as \\boxed{answer} (or 'Answer: ...')."
)
_SINGLE_TURN_INSTRUCTIONS = (
    "Write a complete solution, one step per line (or 'Step k: ...'), and give the final "
    "answer as \\boxed{answer}."
)


class MathEnv(TextEnv):
    """Maths problems solved one reasoning step at a time (or in one go).

    ## Description
    Each episode is one problem: by default a procedurally generated one (arithmetic word
    problems, linear equations, fractions and percentages, five difficulty levels each, every
    task with its gold steps and intermediate values), or a record from a GSM8K- or MATH-style
    JSONL file, a list of records or a ``datasets.Dataset`` passed as ``tasks=``. In the default
    multi-step mode the agent writes one reasoning step per ``step`` and ends the episode with a
    final answer (``\\boxed{...}`` or ``Answer: ...``). With ``single_turn=True`` the whole
    solution is one action, which the env splits into steps.

    ## Action Space
    ``prm_gym.spaces.Text(max_action_length)``: any Unicode string. Empty, over-long,
    binary-looking (control characters), invalid-Unicode and letter-and-digit-free actions, and an
    empty ``\\boxed{}``, are invalid: they cost the step, set ``info["action_valid"] = False`` and
    ``info["error"]``, and do not end the episode. A non-``str`` action raises ``TypeError``.

    ## Observation Space
    ``prm_gym.spaces.Text``. ``reset`` returns the problem followed by instructions; each step
    returns a short acknowledgement (``"Step 2 recorded."``) or the reason an action was invalid.

    ## Rewards
    The native reward is the outcome only: 0 on every step, and on the final step 1.0 when the
    final answer equals the gold answer (checked exactly for numbers and fractions, with
    ``math-verify`` otherwise) and 0.0 when it does not or the episode truncates.

    Recommended dense stack: ``prm_gym.make_dense("prm/Math-v0", coef=None)``, which is
    ``ProgressReward(env, MathProgress(), coef)`` with coef 0.5 by default. Φ is the share of
    the task's gold values (intermediate results and the final answer) that correct steps have
    established so far, and each step earns ``coef`` times the rise of its running best. Each
    value is paid once, so an episode's dense total is at most ``coef``; repeating a step,
    padding with true statements (``1 + 1 = 2``), restating numbers or giving the answer with
    no work earn nothing beyond the share really established. Over 30 tasks the gold solution
    earns 1.5 at the default coef, more than every hack in ``prm_gym.envs.math.hacks``
    (the best one, a repeated first step then the right answer, earns 1.41). This is checked
    by ``prm_gym.testing.check_reward_integrity("prm/Math-v0")``.

    The raw per-step sum ``ProcessReward(env, RuleVerifier())`` scores every step by checking
    its arithmetic: +1 for new correct work, −1 for a false claim, an unknown number or a wrong
    answer, and 0 for prose, repeated claims and arithmetic on constants alone. The sum can
    still be farmed: every *new* true computation is paid, relevant or not. Counting up from a
    given number (``8 + 1 = 9``, ``9 + 1 = 10``, ...) and then answering earns 17.0 against the
    gold's 4.6, with or without ``GatedAccumulation``. Use it to score or label steps, not as
    a dense reward to maximise.

    For procedurally generated tasks ``info["step_label"]`` is the ground-truth correctness of
    the step (a list, one per step, in single-turn mode) for training and evaluating PRMs. A
    wrong final answer is labelled ``False`` and idle steps are labelled ``True``. The label
    never enters the reward.

    ## Starting State
    A task drawn from ``tasks`` with the env's seeded generator: ``reset(seed=s)`` fixes it.
    ``reset(options={"task_seed": n})`` builds procedural task ``n``; ``{"task_index": i}`` or
    ``{"task_id": ...}`` pick from a dataset; ``{"task": Task}`` uses the given task.

    The answer checker's library (``math-verify`` and SymPy) loads in a background thread when
    the env is built, and the first ``reset()`` in a process waits for it (2–3 s on a busy
    machine), so no ``step()`` pays the import.

    ## Episode End
    Terminates when an action states a final answer (single-turn: after the one action, valid
    or not, with outcome 0.0 when it was invalid).
    Truncates after ``max_steps`` steps without one. ``info["outcome"]`` is set on the final step.

    ## Info
    ``task_id``, ``action_valid``, ``error`` (when invalid), ``outcome`` (final step), ``answer``
    (the extracted final answer), ``step_label`` (procedural tasks), ``steps`` (single-turn: the
    split solution), plus ``reward_components`` from wrappers.

    ## Arguments
    | argument | default | meaning |
    |---|---|---|
    | ``tasks`` | ``None`` | procedural (``None``), JSONL path, records, ``Task`` list, |
    | | | ``datasets.Dataset``, ``TaskSource`` or ``seed -> Task`` callable |
    | ``single_turn`` | ``False`` | whole solution in one action |
    | ``max_steps`` | ``16`` | steps before truncation (multi-step mode) |
    | ``families`` | all | procedural families: ``"arithmetic"``, ``"linear"``, ``"fraction"`` |
    | ``levels`` | ``(1, 2, 3, 4, 5)`` | procedural difficulty levels |
    | ``arithmetic_ops`` | ``None`` | operations per arithmetic word problem (1-8; ``None``: |
    | | | level + 1), e.g. ``levels=(1,), arithmetic_ops=4`` for long chains of small sums |
    | ``answer_timeout`` | ``2.0`` | seconds allowed for a ``math-verify`` comparison |
    | ``max_action_length`` | ``8192`` | longest valid action, in characters |
    | ``render_mode`` | ``None`` | ``"ansi"`` (``render()`` returns the transcript) or ``"human"`` |

    ## Version History
    * v0: initial release.

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> env = gym.make("prm/Math-v0")
        >>> obs, info = env.reset(seed=0)
        >>> task = env.unwrapped.task
        >>> for gold_step in task.metadata["gold_steps"]:
        ...     obs, reward, terminated, truncated, info = env.step(gold_step)
        >>> reward, terminated, info["outcome"]
        (1.0, True, 1.0)
    """

    def __init__(
        self,
        tasks: Any = None,
        *,
        single_turn: bool = False,
        max_steps: int = 16,
        families: tuple[str, ...] | None = None,
        levels: tuple[int, ...] | None = None,
        arithmetic_ops: int | None = None,
        answer_timeout: float = 2.0,
        max_action_length: int = 8192,
        render_mode: str | None = None,
    ) -> None:
        config = MathConfig(
            families=tuple(families) if families else MathConfig.families,
            levels=tuple(levels) if levels else MathConfig.levels,
            arithmetic_ops=arithmetic_ops,
        )
        super().__init__(
            tasks,
            default_tasks=lambda: ProceduralSource(partial(generate, config)),
            parse_record=parse_math_record,
            max_steps=1 if single_turn else max_steps,
            max_action_length=max_action_length,
            render_mode=render_mode,
        )
        self.config = config
        self.single_turn = single_turn
        self.terminate_on_invalid = single_turn
        self.answer_timeout = answer_timeout
        self._steps: list[str] = []
        self._checker: StepChecker | None = None
        warm_up()  # math-verify loads in the background; reset() waits, so no step pays it

    def _begin(self, task: Task) -> str:
        warm_up(wait=True)
        self._steps = []
        # Only procedural tasks know their true step labels (their gold values are complete).
        self._checker = StepChecker(task.prompt, task) if "gold_steps" in task.metadata else None
        guide = _SINGLE_TURN_INSTRUCTIONS if self.single_turn else _MULTI_STEP_INSTRUCTIONS
        return f"{task.prompt}\n\n{guide}"

    def _check(self, answer: str) -> float:
        assert self.task is not None
        return (
            1.0
            if answers_match(str(self.task.answer), answer, timeout=self.answer_timeout)
            else 0.0
        )

    def _act(self, action: str) -> ActResult:
        answer = extract_final_answer(action)
        empty_box = answer is None and "\\boxed{" in action.replace(" ", "")
        # The outcome first, so the step checker judges the final answer exactly as it does.
        outcome = None if answer is None else self._check(answer)
        reported = None if answer is None else (answer, outcome == 1.0)
        if self.single_turn:
            steps = split_steps(action)
            info: dict[str, Any] = {"steps": steps}
            if self._checker is not None:
                info["step_label"] = [self._checker.check(s, reported).correct for s in steps]
            if answer is None:
                return ActResult(
                    "No final answer found.",
                    terminated=True,
                    outcome=0.0,
                    action_valid=False,
                    error="no final answer: end the solution with \\boxed{answer}",
                    info=info,
                )
            info["answer"] = answer
            return ActResult(f"Final answer: {answer}", True, outcome, info=info)
        if empty_box:
            return ActResult(
                "Invalid action: empty \\boxed{}.",
                action_valid=False,
                error="empty \\boxed{}: put the final answer inside the box",
            )
        self._steps.append(action)
        info = {}
        if self._checker is not None:
            info["step_label"] = self._checker.check(action, reported).correct
        if answer is not None:
            info["answer"] = answer
            return ActResult(f"Final answer: {answer}", True, outcome, info=info)
        return ActResult(f"Step {len(self._steps)} recorded.", info=info)

    def _extra_state(self) -> Any:
        return {"steps": list(self._steps), "checker": self._checker}

    def _restore_extra_state(self, state: Any) -> None:
        self._steps = list(state["steps"])
        self._checker = state["checker"]
