"""TRL adapter: an env's tasks as a ``datasets.Dataset`` and its rewards as GRPO reward functions.

TRL's ``GRPOTrainer`` (Shao et al., "DeepSeekMath: Pushing the Limits of Mathematical Reasoning
in Open Language Models", 2024 -- GRPO) samples completions for a dataset's ``prompt`` column and
scores each with reward functions ``f(prompts, completions, **columns) -> list[float]``, where
every other dataset column arrives as a keyword list. :func:`tasks_dataset` writes the columns
that let :class:`EnvOutcomeReward` and :class:`EnvProcessReward` rebuild each completion's task
(``task_id`` plus ``task_seed`` for procedural sources or ``task_index`` for datasets) and play
the completion as a single-turn episode of the env.

``datasets`` is imported by :func:`tasks_dataset`; ``trl`` is never imported here (the reward
functions are plain callables).

Example:
    >>> from prm_gym.integrations.trl import EnvOutcomeReward
    >>> import gymnasium as gym
    >>> import prm_gym
    >>> env = gym.make("prm/Math-v0", single_turn=True)
    >>> _ = env.reset(options={"task_seed": 3})
    >>> solution = "\\n".join(env.unwrapped.task.metadata["gold_steps"])
    >>> reward = EnvOutcomeReward("prm/Math-v0", single_turn=True)
    >>> reward(["..."], [solution], task_id=[env.unwrapped.task.id], task_seed=[3])
    [1.0]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np

from prm_gym.core.scorer import Scorer
from prm_gym.integrations._episode import EpisodeRunner, reset_options_from
from prm_gym.wrappers.process import ProcessReward

__all__ = [
    "EnvOutcomeReward",
    "EnvProcessReward",
    "EnvironmentFactory",
    "PrmGymEnvironment",
    "completion_text",
    "environment_factory",
    "tasks_dataset",
]


def completion_text(completion: Any) -> str:
    """The text of a TRL completion: a string, or chat messages (their assistant contents)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence):
        parts = [
            str(m.get("content", ""))
            for m in completion
            if isinstance(m, Mapping) and m.get("role", "assistant") == "assistant"
        ]
        return "".join(parts)
    return str(completion)


def _reset_options(columns: Mapping[str, Sequence[Any]], row: int) -> dict[str, Any]:
    for key in ("task_seed", "task_index"):
        values = columns.get(key)
        if values is not None and values[row] is not None and int(values[row]) >= 0:
            return {key: int(values[row])}
    ids = columns.get("task_id")
    if ids is None:
        raise ValueError(
            "the reward function needs the dataset's task_seed, task_index or task_id column to "
            "find each completion's task; build the dataset with prm_gym.integrations.trl."
            "tasks_dataset (and keep its columns: GRPOConfig(remove_unused_columns=False) where "
            "needed)"
        )
    return {"task_id": str(ids[row])}


class _EnvReward:
    """Plays each completion as one episode of a (wrapped) env built once and reused."""

    __name__ = "env_reward"

    def __init__(
        self,
        env_id: str,
        wrap: Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]] | None = None,
        **env_kwargs: Any,
    ) -> None:
        self.env_id = env_id
        self.env_kwargs = env_kwargs
        self.wrap = wrap
        self._env: gym.Env[Any, Any] | None = None

    @property
    def env(self) -> gym.Env[Any, Any]:
        if self._env is None:
            env = gym.make(self.env_id, **self.env_kwargs)
            self._env = self.wrap(env) if self.wrap is not None else env
        return self._env

    def _value(self, reward: float, info: dict[str, Any]) -> float:
        raise NotImplementedError

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **columns: Any
    ) -> list[float]:
        """One reward per completion: play it as a single-step episode of its task."""
        out = []
        for row, completion in enumerate(completions):
            self.env.reset(options=_reset_options(columns, row))
            _, reward, _, _, info = self.env.step(completion_text(completion))
            out.append(self._value(float(reward), info))
        return out


class EnvOutcomeReward(_EnvReward):
    """TRL reward function: the env's outcome (``info["outcome"]``) for each completion.

    The completion is the single action of an episode on its task, so the env must take a whole
    solution in one step, e.g. ``EnvOutcomeReward("prm/Math-v0", single_turn=True)``.

    Args:
        env_id: Registered env id.
        wrap: Optional wrapper factory applied to the made env.
        **env_kwargs: Passed to ``gym.make``.
    """

    __name__ = "outcome"

    def _value(self, reward: float, info: dict[str, Any]) -> float:
        return float(info.get("outcome", 0.0) or 0.0)


class EnvProcessReward(_EnvReward):
    """TRL reward function: a scorer's step scores of each completion, aggregated.

    The env splits the completion into steps (``info["steps"]``, single-turn mode);
    :class:`~prm_gym.wrappers.ProcessReward` scores each in context and combines them with
    ``aggregate`` (``"min"`` is the min-form view of Cheng et al., "Stop Summation: Min-Form
    Credit Assignment Is All Process Reward Model Needs for Reasoning", 2025). The returned value
    is the ``process`` component of the episode's step.

    Args:
        env_id: Registered env id (single-turn mode, e.g. ``single_turn=True`` for Math-v0).
        scorer: Any :class:`~prm_gym.core.scorer.Scorer` (e.g. ``RuleVerifier()``).
        aggregate: ``"mean"``, ``"min"`` or ``"sum"`` over the completion's steps.
        **env_kwargs: Passed to ``gym.make``.
    """

    __name__ = "process"

    def __init__(
        self,
        env_id: str,
        scorer: Scorer,
        aggregate: Literal["mean", "min", "sum"] = "mean",
        **env_kwargs: Any,
    ) -> None:
        def wrap(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
            return ProcessReward(env, scorer, coef=1.0, name="process", aggregate=aggregate)

        super().__init__(env_id, wrap, **env_kwargs)

    def _value(self, reward: float, info: dict[str, Any]) -> float:
        return float(info.get("reward_components", {}).get("process", 0.0))


def tasks_dataset(
    env_id: str = "prm/Math-v0",
    n: int = 64,
    seed: int = 0,
    *,
    chat: bool = True,
    system_prompt: str | None = None,
    **env_kwargs: Any,
) -> Any:
    """``n`` of an env's tasks as a ``datasets.Dataset`` for TRL's ``GRPOTrainer``.

    Columns: ``prompt`` (chat messages ``[{"role": "user", "content": obs}]``, with a system
    message first when given, or the plain observation text with ``chat=False``), ``task_id``,
    ``answer`` (the gold as text), ``task_seed`` (procedural sources; ``-1`` otherwise) and
    ``task_index`` (dataset sources; ``-1`` otherwise). The prompt is the env's reset
    observation, so pass the same ``env_kwargs`` (e.g. ``single_turn=True``) as to the reward
    functions. Same arguments, same dataset.

    Args:
        env_id: Registered text env id.
        n: Number of rows.
        seed: Seeds the task draw.
        chat: Conversational (messages) or plain-text prompts.
        system_prompt: Optional system message (chat only).
        **env_kwargs: Passed to ``gym.make``.
    """
    try:
        from datasets import Dataset
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("tasks_dataset needs datasets: pip install 'prm-gym[trl]'") from exc
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    env = gym.make(env_id, **env_kwargs)
    source = getattr(env.unwrapped, "task_source", None)
    rng = np.random.default_rng(seed)
    rows: dict[str, list[Any]] = {k: [] for k in ("prompt", "task_id", "answer")}
    rows.update(task_seed=[], task_index=[])
    for k in range(n):
        if source is not None and hasattr(source, "__len__"):
            index = int(rng.integers(0, len(source)))
            options, task_seed, task_index = {"task_index": index}, -1, index
        else:
            task_seed = int(rng.integers(0, 2**31 - 1))
            options, task_index = {"task_seed": task_seed}, -1
        obs, info = env.reset(seed=seed + k, options=options)
        task = getattr(env.unwrapped, "task", None)
        text = str(obs)
        if chat:
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            messages.append({"role": "user", "content": text})
            rows["prompt"].append(messages)
        else:
            rows["prompt"].append(text)
        rows["task_id"].append(str(info.get("task_id", getattr(task, "id", ""))))
        rows["answer"].append("" if task is None else str(task.answer))
        rows["task_seed"].append(task_seed)
        rows["task_index"].append(task_index)
    env.close()
    return Dataset.from_dict(rows)


# --------------------------------------------------------------------------------------------
# Multi-turn: TRL's GRPOTrainer(environment_factory=...)
# --------------------------------------------------------------------------------------------


class PrmGymEnvironment:
    """Base of the environment classes :func:`environment_factory` builds for TRL.

    TRL's ``GRPOTrainer(environment_factory=...)`` (TRL >= 1.16) makes one instance per rollout,
    calls :meth:`reset` with the dataset row's columns, exposes every public method of the class
    other than ``reset`` and ``get_reward`` to the model as a tool, and calls :meth:`get_reward`
    once the rollout ends. Each family's subclass adds typed, documented tool methods that turn a
    call into the env's action string and step the env; a tool returns the env's observation.

    Attributes (read-only, for logging and tests): ``actions`` (the action strings stepped),
    ``reward_components`` (per-component sums of ``info["reward_components"]`` over the
    episode), ``done`` and ``last_info``.
    """

    _env_id: str = ""
    _dense: bool = True
    _coef: float | None = None
    _make_kwargs: ClassVar[dict[str, Any]] = {}

    def __init__(self, seed: int | None = None) -> None:
        self._runner = EpisodeRunner(
            self._env_id, dense=self._dense, coef=self._coef, seed=seed, **self._make_kwargs
        )

    def reset(self, **columns: Any) -> str:
        """Start an episode on the row's task and return its text (the env's reset observation).

        The task comes from the row's ``task_seed``, ``task_index`` or ``task_id`` column (see
        :meth:`EnvironmentFactory.dataset`); a row with none of them gets the next task of this
        instance's seeded stream. Other columns (``prompt``, ...) are ignored.
        """
        return str(self._runner.reset(options=reset_options_from(columns)))

    def get_reward(self) -> float:
        """The episode's return under the dense stack (``dense=True``) or its outcome (0 when
        the model stopped before the episode ended)."""
        return self._runner.reward()

    def _act(self, action: str) -> str:
        obs, _, terminated, truncated, info = self._runner.step(action)
        text = str(obs)
        error = info.get("error")
        if info.get("action_valid") is False and error and str(error) not in text:
            text = f"{text}\nError: {error}"
        if terminated or truncated:
            text += "\n[The episode is over.]"
        return text

    @property
    def actions(self) -> list[str]:
        return list(self._runner.actions)

    @property
    def reward_components(self) -> dict[str, float]:
        return dict(self._runner.reward_components)

    @property
    def done(self) -> bool:
        return self._runner.done

    @property
    def last_info(self) -> dict[str, Any]:
        return dict(self._runner.last_info)


class _MathTools(PrmGymEnvironment):
    def write_step(self, step: str) -> str:
        """Write one reasoning step of the solution (one computation or deduction).

        Args:
            step: The step, e.g. "12 * 3 = 36".

        Returns:
            The environment's acknowledgement, or why the step was invalid.
        """
        return self._act(step)

    def give_answer(self, answer: str) -> str:
        """Give the final answer; this ends the episode.

        Args:
            answer: The final answer, e.g. "42" or "3/4".

        Returns:
            Whether the answer was correct.
        """
        return self._act(f"\\boxed{{{answer}}}")


class _SQLTools(PrmGymEnvironment):
    def run_query(self, query: str) -> str:
        """Run an exploratory SQL query on the database and see its result.

        Args:
            query: One read-only SQLite query.

        Returns:
            The result as a text table, or the error.
        """
        return self._act(f"<sql>{query}</sql>")

    def submit(self, query: str) -> str:
        """Submit the final SQL query that answers the question; this ends the episode.

        Args:
            query: The SQLite query whose result answers the question.

        Returns:
            Whether its result matched.
        """
        return self._act(f"<solution>{query}</solution>")


class _CodeTools(PrmGymEnvironment):
    def submit_code(self, code: str) -> str:
        """Submit Python code defining the requested function; it is run against the tests.

        Args:
            code: The complete Python source (the function with its imports).

        Returns:
            The test report (how many tests passed, and the failures).
        """
        return self._act(f"```python\n{code}\n```")


class _WebShopTools(PrmGymEnvironment):
    def search(self, query: str) -> str:
        """Search the shop (only on the search page).

        Args:
            query: The search keywords.

        Returns:
            The results page.
        """
        return self._act(f"search[{query}]")

    def click(self, element: str) -> str:
        """Click a button or link shown on the current page (a product id, an option, "buy now",
        "< prev", "back to search", ...); "buy now" ends the episode.

        Args:
            element: The element's text, exactly as shown.

        Returns:
            The new page.
        """
        return self._act(f"click[{element}]")


class _GenericTools(PrmGymEnvironment):
    def act(self, action: str) -> str:
        """Take one action in the environment.

        Args:
            action: The action text, in the format the task describes.

        Returns:
            The environment's observation.
        """
        return self._act(action)


class _ToolUseTools(PrmGymEnvironment):
    def answer(self, answer: str) -> str:
        """Give the final answer to the question; this ends the episode.

        Args:
            answer: The answer (a number, a date or a short text).

        Returns:
            Whether it was correct.
        """
        return self._act(f"<answer>{answer}</answer>")


_JSON_TYPES: dict[str, Any] = {
    "string": str,
    "number": float,
    "integer": int,
    "boolean": bool,
    "array": list,
    "object": dict,
}


def _annotation(schema: Mapping[str, Any]) -> Any:
    if schema.get("enum"):
        return Literal[tuple(schema["enum"])]
    if "anyOf" in schema:
        kinds = [_JSON_TYPES.get(str(s.get("type")), Any) for s in schema["anyOf"]]
        out = kinds[0]
        for kind in kinds[1:]:
            out = out | kind
        return out
    return _JSON_TYPES.get(str(schema.get("type")), Any)


def _tool_method(schema: Mapping[str, Any]) -> Callable[..., str]:
    """A method with the tool's typed signature and a Google-style docstring that sends the
    call as a ``<tool_call>`` action."""
    import inspect
    import json

    function = schema["function"]
    name = str(function["name"])
    params = function.get("parameters", {}).get("properties", {})
    required = set(function.get("parameters", {}).get("required", []))

    def method(self: PrmGymEnvironment, **arguments: Any) -> str:
        body = {"name": name, "parameters": arguments}
        return self._act(f"<tool_call>{json.dumps(body, ensure_ascii=False)}</tool_call>")

    parameters = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {"return": str}
    arg_lines = []
    for pname, pschema in params.items():
        kind = _annotation(pschema)
        annotations[pname] = kind
        default = inspect.Parameter.empty if pname in required else pschema.get("default")
        parameters.append(
            inspect.Parameter(
                pname, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
            )
        )
        description = str(pschema.get("description", pname)).replace("\n", " ")
        arg_lines.append(f"    {pname}: {description}")
    doc = str(function.get("description") or name).strip()
    if arg_lines:
        doc += "\n\nArgs:\n" + "\n".join(arg_lines)
    doc += "\n\nReturns:\n    The tool's result (JSON), or the error."
    method.__name__ = method.__qualname__ = name
    method.__doc__ = doc
    method.__annotations__ = annotations
    method.__signature__ = inspect.Signature(parameters, return_annotation=str)  # type: ignore[attr-defined]
    return method


_FAMILY_TOOLS: dict[str, type[PrmGymEnvironment]] = {
    "MathEnv": _MathTools,
    "SQLEnv": _SQLTools,
    "CodeEnv": _CodeTools,
    "WebShopEnv": _WebShopTools,
    "ToolUseEnv": _ToolUseTools,
}

_RESERVED = {"reset", "get_reward", "actions", "reward_components", "done", "last_info"}


def _environment_class(
    env_id: str, dense: bool, coef: float | None, kwargs: dict[str, Any]
) -> type:
    probe = gym.make(env_id, **kwargs)
    try:
        unwrapped: Any = probe.unwrapped
        base = _FAMILY_TOOLS.get(type(unwrapped).__name__, _GenericTools)
        namespace: dict[str, Any] = {
            "_env_id": env_id,
            "_dense": dense,
            "_coef": coef,
            "_make_kwargs": dict(kwargs),
            "__module__": __name__,
        }
        if base is _ToolUseTools:
            registry = getattr(unwrapped, "tools", None)
            for schema in registry.schemas() if registry is not None else []:
                tool = str(schema["function"]["name"])
                if tool in _RESERVED or tool == "answer" or tool.startswith("_"):
                    raise ValueError(
                        f"{env_id}: tool name {tool!r} clashes with the environment's own methods"
                    )
                namespace[tool] = _tool_method(schema)
        family = type(unwrapped).__name__.removesuffix("Env") or "Text"
        name = f"{family}Environment"
        return type(name, (base,), namespace)
    finally:
        probe.close()


class EnvironmentFactory:
    """What :func:`environment_factory` returns: a zero-argument callable for TRL's
    ``GRPOTrainer(environment_factory=...)``, plus the pieces that go with it.

    * ``factory()`` returns a fresh environment instance (a :class:`PrmGymEnvironment`
      subclass, the same class for every instance, so TRL logs the env-owned reward under one
      name, ``rewards/<Family>Environment``).
    * ``factory.dataset(n, seed)``: rows that pick each rollout group's task (the group's
      ``num_generations`` rollouts share a row, hence a task, which GRPO's group baseline needs).
    * ``factory.reward_funcs`` / ``factory.reward_weights``: one reward function per component of
      ``info["reward_components"]`` (``outcome``, ``progress``, ...), each returning the episode's
      sum of that component, with weight 0: pass them as ``reward_funcs`` with
      ``GRPOConfig(reward_weights=factory.reward_weights)`` and TRL logs each component
      (``rewards/<name>/mean``) without counting it twice (the env's ``get_reward`` already
      returns their total, with weight 1).
    """

    def __init__(
        self,
        env_id: str,
        *,
        dense: bool = True,
        coef: float | None = None,
        seed: int = 0,
        **make_kwargs: Any,
    ) -> None:
        self.env_id = env_id
        self.dense = dense
        self.make_kwargs = dict(make_kwargs)
        self.env_class: type[PrmGymEnvironment] = _environment_class(
            env_id, dense, coef, self.make_kwargs
        )
        self._seed = seed
        self._made = 0
        self.instances: list[PrmGymEnvironment] = []
        probe = self.env_class(seed=None)
        self.component_names: tuple[str, ...] = probe._runner.components
        probe._runner.close()

    def __call__(self) -> PrmGymEnvironment:
        instance = self.env_class(seed=self._seed + 1_000_003 * self._made)
        self._made += 1
        self.instances.append(instance)
        return instance

    @property
    def tool_names(self) -> list[str]:
        """The tools the model sees (the class's public methods but ``reset``/``get_reward``)."""
        import inspect

        return [
            name
            for name, _ in inspect.getmembers(self.env_class, predicate=inspect.isfunction)
            if name not in ("reset", "get_reward") and not name.startswith("_")
        ]

    @property
    def reward_funcs(self) -> list[Callable[..., list[float]]]:
        """One TRL reward function per reward component (see the class docstring)."""

        def make(name: str) -> Callable[..., list[float]]:
            def component(environments: Sequence[Any] | None = None, **_: Any) -> list[float]:
                if environments is None:
                    raise ValueError(
                        f"the {name!r} component reward needs TRL's environments= argument: "
                        "use it with GRPOTrainer(environment_factory=...)"
                    )
                return [float(env.reward_components.get(name, 0.0)) for env in environments]

            component.__name__ = component.__qualname__ = name
            return component

        return [make(name) for name in self.component_names]

    @property
    def reward_weights(self) -> list[float]:
        """Weight 0 for each of :attr:`reward_funcs` (logged, not added to the reward)."""
        return [0.0] * len(self.component_names)

    def dataset(self, n: int = 64, seed: int = 0, *, system_prompt: str | None = None) -> Any:
        """``n`` rows for ``GRPOTrainer(train_dataset=...)``: ``prompt`` (an empty user
        message, after an optional system message: ``reset`` appends the task text to it) and
        ``task_seed`` / ``task_index`` naming each row's task (procedural sources: a seed;
        datasets: an index). Same arguments, same rows."""
        try:
            from datasets import Dataset
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError("dataset() needs datasets: pip install 'prm-gym[trl]'") from exc
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        env = gym.make(self.env_id, **self.make_kwargs)
        source = getattr(env.unwrapped, "task_source", None)
        env.close()
        rng = np.random.default_rng(seed)
        rows: dict[str, list[Any]] = {"prompt": [], "task_seed": [], "task_index": []}
        for _ in range(n):
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            rows["prompt"].append([*messages, {"role": "user", "content": ""}])
            if source is not None and hasattr(source, "__len__"):
                rows["task_seed"].append(-1)
                rows["task_index"].append(int(rng.integers(0, len(source))))
            else:
                rows["task_seed"].append(int(rng.integers(0, 2**31 - 1)))
                rows["task_index"].append(-1)
        return Dataset.from_dict(rows)


def environment_factory(
    env_id: str, dense: bool = True, *, coef: float | None = None, seed: int = 0, **make_kwargs: Any
) -> EnvironmentFactory:
    """A prm-gym text env as TRL's multi-turn ``environment_factory`` (TRL >= 1.16).

    Each rollout gets its own instance: ``reset(**row)`` returns the task text (the env's reset
    observation), the model acts through the family's tools, and ``get_reward()`` returns the
    episode's return under :func:`prm_gym.make_dense` (``dense=True``) or its outcome
    (``dense=False``). Tools per family, each returning the env's observation (with the error
    when the action was invalid, as ``info["error"]`` says):

    * Math-v0: ``write_step(step)``, ``give_answer(answer)`` (sent as ``\\boxed{answer}``);
    * SQL-v0: ``run_query(query)`` (``<sql>``), ``submit(query)`` (``<solution>``);
    * ToolUse-v0: each tool of the env's registry with its own typed arguments (sent as a
      ``<tool_call>``), plus ``answer(answer)``; BFCL tasks, whose tools change per task, are
      not supported;
    * Code-v0: ``submit_code(code)`` (a fenced Python block);
    * WebShop-v0: ``search(query)``, ``click(element)``;
    * any other text env: ``act(action)`` with the raw action text.

    A tool called after the episode ended raises (TRL returns the error to the model) and
    changes nothing. Per-component values: ``factory.reward_funcs`` with
    ``GRPOConfig(reward_weights=factory.reward_weights)``; rows: ``factory.dataset(n)``.

    Args:
        env_id: Registered text env id (e.g. ``"prm/Math-v0"``).
        dense: Reward = return under the family's dense stack (else the outcome).
        coef: Weight of the dense terms (``None``: the family's default).
        seed: Base seed of the task stream used when a row names no task.
        **make_kwargs: Passed to ``gym.make``.

    Example:
        >>> from prm_gym.integrations.trl import environment_factory
        >>> factory = environment_factory("prm/Math-v0")
        >>> env = factory()
        >>> text = env.reset(task_seed=3)
        >>> factory.tool_names
        ['give_answer', 'write_step']
        >>> _ = env.give_answer("0")
        >>> env.get_reward(), env.reward_components["outcome"]
        (0.0, 0.0)
    """
    return EnvironmentFactory(env_id, dense=dense, coef=coef, seed=seed, **make_kwargs)
