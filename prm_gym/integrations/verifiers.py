"""verifiers adapter: a prm-gym text env as a ``verifiers`` multi-turn environment (prime-rl).

`verifiers <https://github.com/PrimeIntellect-ai/verifiers>`_ environments are what prime-rl
trains on and ``vf-eval`` evaluates: a dataset of prompts, a rollout loop that alternates model
turns and environment responses, and a ``Rubric`` that scores the finished rollout.
:func:`load_environment` wraps any prm-gym text env (Math-v0, SQL-v0, ToolUse-v0, Code-v0,
WebShop-v0, ...) as a ``vf.MultiTurnEnv``:

* **Dataset.** ``num_examples`` tasks (and ``num_eval_examples`` for ``eval_dataset``), one row
  each: ``prompt`` (the env's reset observation as a user message, after ``system_prompt`` when
  given), ``answer`` (the gold as text) and ``info`` (``task_id``, ``task_seed``,
  ``task_index``: what the rollout resets the env with, so a row always replays its task).
* **Rollout.** Each rollout plays one episode of its own env instance (instances are pooled and
  reused). Every assistant message is one env action: its text content (thinking the server
  returns as ``reasoning_content`` is not part of it; ``env.parser.parse`` is applied when it
  returns a string: verifiers' default parser keeps the text, ``env.parser = vf.ThinkParser()``
  drops a ``<think>`` block) is passed to ``env.step`` as the action string, the moment the
  model's turn is recorded; the next user
  message is the env's observation (with ``Error: ...`` appended when the env rejected the
  action). The rollout ends when the episode terminates or truncates (the final observation is
  the rollout's ``final_env_response``) or at ``max_turns`` (the episode then stays unfinished;
  its return so far is scored).
* **Tool mode** (``tools=True``): a ``vf.StatefulToolEnv`` whose tools are the family's typed
  tool methods of :func:`~prm_gym.integrations.trl.environment_factory` (``write_step`` /
  ``give_answer``, ``run_query`` / ``submit``, ToolUse-v0's own tools plus ``answer``, ...), for
  models served with function calling. Each tool call is one env action and its result is the
  env's observation; the episode runs on a hidden ``episode`` argument verifiers injects.
* **Rubric.** ``env_return`` (weight 1): the episode's return under
  :func:`prm_gym.make_dense` (``dense=True``: the outcome plus the family's dense terms), or its
  outcome (``dense=False``). Plus one weight-0 metric per entry of ``info["reward_components"]``
  (``outcome``, ``progress``, ...; summed over the episode), so verifiers logs each component
  without counting it twice. The components sum to ``env_return``.
* **Per-turn detail.** Each trajectory step's ``extras["prm_gym"]`` holds that turn's action,
  reward and reward components (text mode; the step's own ``reward`` is left to verifiers,
  which fills in the rollout reward); ``state["prm_gym"]`` holds the episode's summary
  (``return``, ``reward``, ``outcome``, ``reward_components``, ``actions``, ``rewards`` (one
  per env step), ``done``, ``task_id``): ask for it with ``state_columns=["prm_gym"]``.

Only ``verifiers``' classic (v0) API is used: ``verifiers>=0.3.1,<0.4`` (``pip install
'prm-gym[verifiers]'``; 0.4 removed ``MultiTurnEnv``). ``verifiers`` is imported when
:func:`load_environment` is called, not when this module is imported.

This module follows verifiers' environment-module convention, so verifiers' own loader finds
it: ``vf.load_environment("prm_gym.integrations.verifiers", prm_env_id="prm/Math-v0")`` (the
loader's own first argument is named ``env_id``, hence ``prm_env_id``). An env built by
:func:`load_environment` records that module name and its arguments as verifiers' ``env_id`` /
``env_args``, so verifiers' env server (``env.start_server()``, how prime-rl runs environments)
rebuilds the same env in its worker processes.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from prm_gym.integrations._episode import EpisodeRunner
from prm_gym.integrations.trl import EnvironmentFactory, PrmGymEnvironment

__all__ = ["TOOLS_SYSTEM_PROMPT", "load_environment"]

TOOLS_SYSTEM_PROMPT = (
    "Act only by calling the tools provided: each tool call is one action in the environment, "
    "and its result is what the environment shows next. The task below may describe a text "
    "format for actions; the tools send that format for you."
)
"""Tool mode's default system message."""

_EPISODE = "_prm_gym_episode"
_FEEDBACK = "_prm_gym_feedback"


def _content_text(message: Any) -> str:
    """The text of a chat message (a verifiers pydantic message or a dict)."""
    content = message.get("content") if isinstance(message, Mapping) else message.content
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        parts = []
        for part in content:
            text = part.get("text") if isinstance(part, Mapping) else getattr(part, "text", None)
            if isinstance(text, str):
                parts.append(text)
        return "".join(parts)
    return str(content)


def _feedback(obs: Any, info: Mapping[str, Any], done: bool) -> str:
    text = str(obs)
    error = info.get("error")
    if info.get("action_valid") is False and error and str(error) not in text:
        text = f"{text}\nError: {error}"
    if done:
        text += "\n[The episode is over.]"
    return text


class _Episode:
    """One rollout's episode: an :func:`~prm_gym.integrations.trl.environment_factory` instance
    (its tool methods and its :class:`EpisodeRunner`) and the reward of each env step."""

    def __init__(self, instance: PrmGymEnvironment) -> None:
        self.instance = instance
        self.rewards: list[float] = []

    @property
    def runner(self) -> EpisodeRunner:
        return self.instance._runner

    def summary(self) -> dict[str, Any]:
        """What a rollout's ``state["prm_gym"]`` holds once its episode is over or cut off."""
        runner = self.runner
        return {
            "return": float(runner.episode_return),
            "reward": runner.reward(),
            "outcome": runner.outcome,
            "reward_components": dict(runner.reward_components),
            "actions": list(runner.actions),
            "rewards": list(self.rewards),
            "done": runner.done,
            "task_id": str(runner.last_info.get("task_id", "")),
        }


def _tool(name: str, method: Callable[..., str]) -> Callable[..., str]:
    """A verifiers tool calling ``method`` on the rollout's episode, which verifiers passes as
    the hidden ``episode`` argument (``StatefulToolEnv.update_tool_args``)."""
    signature = inspect.signature(method)
    params = [p for p in signature.parameters.values() if p.name != "self"]
    if any(p.name == "episode" for p in params):
        raise ValueError(f"tool {name!r} has an argument named 'episode', which is reserved")

    def tool(*, episode: _Episode, **arguments: Any) -> str:
        before = episode.runner.episode_return
        text = method(episode.instance, **arguments)
        episode.rewards.append(float(episode.runner.episode_return - before))
        return text

    hidden = inspect.Parameter("episode", inspect.Parameter.KEYWORD_ONLY, annotation=object)
    tool.__name__ = tool.__qualname__ = name
    tool.__doc__ = method.__doc__
    tool.__annotations__ = {
        **{p.name: p.annotation for p in params},
        "episode": object,
        "return": str,
    }
    tool.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*params, hidden], return_annotation=str
    )
    return tool


def _rubric(vf: Any, names: Sequence[str]) -> Any:
    def env_return(state: Any) -> float:
        """The episode's return (dense) or its outcome."""
        summary = state.get("prm_gym") or {}
        return float(summary.get("reward", 0.0))

    def metric(name: str) -> Any:
        def component(state: Any) -> float:
            summary = state.get("prm_gym") or {}
            return float(summary.get("reward_components", {}).get(name, 0.0))

        component.__name__ = component.__qualname__ = name
        component.__doc__ = f"The episode's sum of the {name!r} reward component."
        return component

    funcs = [env_return, *(metric(name) for name in names)]
    return vf.Rubric(funcs=funcs, weights=[1.0] + [0.0] * len(names))


@functools.cache
def _environment_classes() -> tuple[type, type]:
    """The text-mode (``vf.MultiTurnEnv``) and tool-mode (``vf.StatefulToolEnv``) classes."""
    import verifiers as vf

    class Episodes:
        """What both modes share: a pool of episodes, one per running rollout."""

        factory: EnvironmentFactory
        _idle: list[PrmGymEnvironment]

        def _episode(self) -> _Episode:
            return _Episode(self._idle.pop() if self._idle else self.factory.env_class(seed=None))

        async def setup_state(self, state: Any) -> Any:
            episode = self._episode()
            state[_EPISODE] = episode
            state["prm_gym"] = None
            info = state.get("info") or {}
            try:
                episode.instance.reset(**(info if isinstance(info, Mapping) else {}))
            except Exception as exc:
                raise vf.InfraError(
                    f"{self.factory.env_id}: could not reset the env on the row's task "
                    f"(info={info!r}): {type(exc).__name__}: {exc}"
                ) from exc
            return state

        @vf.stop(priority=50)
        async def episode_over(self, state: Any) -> bool:
            episode = state.get(_EPISODE)
            return episode is not None and episode.runner.done

        @vf.cleanup(priority=50)
        async def release_episode(self, state: Any) -> None:
            episode = state.pop(_EPISODE, None)
            state.pop(_FEEDBACK, None)
            if episode is None:
                return
            if episode.runner.started:
                state["prm_gym"] = episode.summary()
            self._idle.append(episode.instance)

        @vf.teardown
        async def close_envs(self) -> None:
            while self._idle:
                self._idle.pop()._runner.close()

    text_base: Any = vf.MultiTurnEnv
    tool_base: Any = vf.StatefulToolEnv

    class PrmGymMultiTurnEnv(Episodes, text_base):
        """A prm-gym env as a verifiers ``MultiTurnEnv``: each assistant message is one action."""

        def __init__(self, factory: EnvironmentFactory, **kwargs: Any) -> None:
            self.factory, self._idle = factory, []
            super().__init__(**kwargs)

        async def add_trajectory_step(self, state: Any, trajectory_step: Any) -> None:
            await super().add_trajectory_step(state, trajectory_step)
            episode: _Episode = state[_EPISODE]
            text = "".join(_content_text(m) for m in trajectory_step["completion"])
            parsed = self.parser.parse(text)
            action = parsed if isinstance(parsed, str) else text
            try:
                obs, reward, terminated, truncated, info = episode.runner.step(action)
            except Exception as exc:
                raise vf.InfraError(
                    f"{self.factory.env_id}: env.step failed on action {action[:200]!r}: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            episode.rewards.append(reward)
            trajectory_step["extras"]["prm_gym"] = {
                "action": action,
                "reward": reward,
                "reward_components": dict(info.get("reward_components") or {}),
                "action_valid": info.get("action_valid"),
            }
            done = bool(terminated or truncated)
            message = vf.UserMessage(role="user", content=_feedback(obs, info, done))
            if done:
                state["final_env_response"] = [message]
            else:
                state[_FEEDBACK] = [message]

        async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
            return state.pop(_FEEDBACK, None) or []

    class PrmGymToolEnv(Episodes, tool_base):
        """A prm-gym env as a verifiers ``StatefulToolEnv``: each tool call is one action."""

        def __init__(self, factory: EnvironmentFactory, **kwargs: Any) -> None:
            self.factory, self._idle = factory, []
            super().__init__(tools=[], **kwargs)
            for name in factory.tool_names:
                method = getattr(factory.env_class, name)
                self.add_tool(_tool(name, method), args_to_skip=["episode"])

        def update_tool_args(
            self, tool_name: str, tool_args: dict, messages: Any, state: Any, **kwargs: Any
        ) -> dict:
            return {**tool_args, "episode": state[_EPISODE]}

        async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
            replies = await super().env_response(messages, state, **kwargs)
            if state[_EPISODE].runner.done:  # no model turn after the episode's end
                state["final_env_response"] = replies
            return replies

    return PrmGymMultiTurnEnv, PrmGymToolEnv


def load_environment(
    env_id: str = "prm/Math-v0",
    *,
    dense: bool = True,
    coef: float | None = None,
    num_examples: int = 64,
    num_eval_examples: int = 32,
    seed: int = 0,
    max_turns: int = 32,
    system_prompt: str | None = None,
    tools: bool = False,
    prm_env_id: str | None = None,
    **make_kwargs: Any,
) -> Any:
    """A prm-gym text env as a ``verifiers`` multi-turn environment (see the module docstring).

    Args:
        env_id: Registered prm-gym text env id (e.g. ``"prm/Math-v0"``).
        dense: Reward = the episode's return under the family's dense stack (else its outcome).
        coef: Weight of the dense terms (``None``: the family's default).
        num_examples: Rows of the training ``dataset`` (tasks drawn with ``seed``).
        num_eval_examples: Rows of ``eval_dataset`` (drawn with ``seed + 1``); 0: none
            (verifiers then evaluates on ``dataset``).
        seed: Seeds the task draws. Same arguments, same rows.
        max_turns: verifiers' turn limit (the env's own step limit usually ends the episode
            first); a rollout cut here keeps its return so far.
        system_prompt: Optional system message put before each task (tool mode's default:
            :data:`TOOLS_SYSTEM_PROMPT`).
        tools: Tool mode: a ``vf.StatefulToolEnv`` whose tools are the family's typed tool
            methods of :func:`~prm_gym.integrations.trl.environment_factory` (Math-v0:
            ``write_step``, ``give_answer``; SQL-v0: ``run_query``, ``submit``; ToolUse-v0: the
            env's own tools plus ``answer``; Code-v0: ``submit_code``; WebShop-v0: ``search``,
            ``click``), each call one env action whose observation is the tool's result. The
            rollout also ends when the model replies without a tool call; tool calls of a turn
            cut by ``max_turns`` are not run (verifiers' ``ToolEnv`` rules).
        prm_env_id: Overrides ``env_id``. verifiers' loader takes the module name as its own
            ``env_id``, so name the prm-gym env with this there:
            ``vf.load_environment("prm_gym.integrations.verifiers", prm_env_id="prm/SQL-v0")``.
        **make_kwargs: Passed to ``gym.make`` (e.g. ``level=2``).

    Returns:
        A ``vf.MultiTurnEnv`` (``vf.StatefulToolEnv`` with ``tools=True``): use it with
        ``env.evaluate(client, model)``, ``vf-eval`` or prime-rl.

    Raises:
        ImportError: verifiers (0.3.x) is not installed.
        ValueError: ``num_examples < 1``, ``num_eval_examples < 0`` or ``max_turns < 1``.
    """
    try:
        import verifiers as vf
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "load_environment needs verifiers: pip install 'prm-gym[verifiers]'"
        ) from exc
    if getattr(vf, "MultiTurnEnv", None) is None:  # pragma: no cover - depends on the install
        raise ImportError(
            f"verifiers {getattr(vf, '__version__', '?')} has no MultiTurnEnv (0.4 removed the "
            "classic API): pip install 'verifiers>=0.3.1,<0.4'"
        )
    if prm_env_id is not None:
        env_id = prm_env_id
    if num_examples < 1:
        raise ValueError(f"num_examples must be >= 1, got {num_examples}")
    if num_eval_examples < 0:
        raise ValueError(f"num_eval_examples must be >= 0, got {num_eval_examples}")
    if max_turns < 1:
        raise ValueError(f"max_turns must be >= 1, got {max_turns}")
    factory = EnvironmentFactory(env_id, dense=dense, coef=coef, **make_kwargs)
    if tools and system_prompt is None:
        system_prompt = TOOLS_SYSTEM_PROMPT
    # How verifiers rebuilds this env in its env-server workers (start_server, prime-rl).
    env_args = {
        "prm_env_id": env_id,
        "dense": dense,
        "coef": coef,
        "num_examples": num_examples,
        "num_eval_examples": num_eval_examples,
        "seed": seed,
        "max_turns": max_turns,
        "system_prompt": system_prompt,
        "tools": tools,
        **make_kwargs,
    }
    dataset = _tasks(env_id, num_examples, seed, make_kwargs)
    eval_dataset = _tasks(env_id, num_eval_examples, seed + 1, make_kwargs)
    text_env, tool_env = _environment_classes()
    return (tool_env if tools else text_env)(
        factory,
        dataset=dataset,
        eval_dataset=eval_dataset,
        system_prompt=system_prompt,
        rubric=_rubric(vf, factory.component_names),
        max_turns=max_turns,
        env_id=__name__,
        env_args=env_args,
    )


def _tasks(env_id: str, n: int, seed: int, make_kwargs: Mapping[str, Any]) -> Any:
    """``n`` rows ``prompt`` / ``answer`` / ``info`` (``None`` when ``n == 0``)."""
    if n == 0:
        return None
    from prm_gym.integrations.trl import tasks_dataset

    rows = tasks_dataset(env_id, n=n, seed=seed, chat=True, **make_kwargs)
    keys = ("task_id", "task_seed", "task_index")
    return rows.map(
        lambda row: {"info": {key: row[key] for key in keys}}, remove_columns=list(keys)
    )
