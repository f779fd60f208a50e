"""An LLM policy for text envs: observations become chat messages, one env step per generation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from prm_gym.llm.base import ContextOverflowError, Generation, LLMBackend, Prompt, SamplingParams

__all__ = ["DEFAULT_SAMPLING", "STEP_STOPS", "LLMAgent", "generate_within_context"]

#: Where one env step ends in the text an LLM writes, per env id. For Math-v0 one reasoning step
#: is one line. Envs not listed use ``LLMAgent``'s ``step_stop`` default (a newline).
STEP_STOPS: dict[str, tuple[str, ...]] = {
    "prm/Math-v0": ("\n",),
}

#: Sampling when ``LLMAgent`` gets no ``params``: one short step, sampled at temperature 1.
DEFAULT_SAMPLING = SamplingParams(max_tokens=128, temperature=1.0)


class LLMAgent:
    """Acts on text envs with an LLM backend, one env step per generation.

    The agent keeps its own chat history per env (per sub-env of a vector env): the env's first
    observation (the task prompt) and every later observation become ``user`` messages, the
    agent's actions ``assistant`` messages, after an optional ``system`` prompt. Each call
    renders the histories and asks the backend for one continuation per active env in **one**
    ``generate`` call, stopping at the env's step delimiter. Observations that already are chat
    message lists (``ChatObservation``) are used as they are.

    The step delimiter comes from ``step_stop`` when given, else from :data:`STEP_STOPS` for the
    env id (set by :meth:`reset`, which :func:`~prm_gym.agents.rollout` calls), else a newline.
    It is added to ``params.stop``. The action is the generated text with surrounding whitespace
    stripped; an empty action is sent as it is (the env marks it invalid and charges the step).

    Example:
        >>> import gymnasium as gym
        >>> import prm_gym
        >>> from prm_gym.agents import LLMAgent
        >>> from prm_gym.llm import SamplingParams, TransformersBackend
        >>> from prm_gym.llm.tiny import tiny_causal_lm
        >>> agent = LLMAgent(TransformersBackend(*tiny_causal_lm()), SamplingParams(max_tokens=8))
        >>> env = gym.make("prm/Math-v0")
        >>> obs, info = env.reset(seed=0)
        >>> agent.reset(env_id="prm/Math-v0")
        >>> action = agent.act(obs)
        >>> [m["role"] for m in agent.history(0)]
        ['user', 'assistant']

    Args:
        backend: Any :class:`~prm_gym.llm.LLMBackend`.
        params: Sampling parameters (default :data:`DEFAULT_SAMPLING`); ``n`` must be 1.
        system_prompt: Opens every conversation when given.
        step_stop: Stop strings that end one env step (overrides :data:`STEP_STOPS`).
        env_id: Env id used to look up :data:`STEP_STOPS` before :meth:`reset` names one.
        strip: Strip whitespace around generated actions.

    Context overflow: when an env's prompt (its history plus ``max_tokens``) no longer fits the
    model's context, the backend raises :class:`~prm_gym.llm.ContextOverflowError`. In
    :meth:`act_batch` that env gets the action ``""``, no generation and ``overflowed[i] =
    True``; the other envs act as usual (:func:`~prm_gym.agents.rollout` ends that episode as
    truncated with ``truncated_reason = "context_overflow"``). :meth:`act` (one env) raises the
    error instead.

    Attributes:
        last_generations: The :class:`~prm_gym.llm.Generation` behind each env's latest action
            (``None`` for envs that did not act), with token ids and log-probs for trainers.
        overflowed: ``overflowed[i]`` is true when env ``i``'s latest prompt did not fit the
            model's context (so it got no action).
    """

    def __init__(
        self,
        backend: LLMBackend,
        params: SamplingParams | None = None,
        system_prompt: str | None = None,
        step_stop: Sequence[str] | None = None,
        *,
        env_id: str | None = None,
        strip: bool = True,
    ) -> None:
        params = params or DEFAULT_SAMPLING
        if params.n != 1:
            raise ValueError(
                f"LLMAgent generates one action per env, so params.n must be 1 (got {params.n}); "
                "for several samples per prompt run more envs or call backend.generate directly"
            )
        if isinstance(step_stop, str):
            step_stop = (step_stop,)
        self.backend = backend
        self.params = params
        self.system_prompt = system_prompt
        self.step_stop = tuple(step_stop) if step_stop is not None else None
        self.env_id = env_id
        self.strip = strip
        self._histories: list[list[dict[str, str]]] = [[]]
        self.last_generations: list[Generation | None] = [None]
        self.overflowed: list[bool] = [False]

    # -- configuration ------------------------------------------------------------------------
    @property
    def stop(self) -> tuple[str, ...]:
        """The stop strings sent to the backend: ``params.stop`` plus the step delimiter."""
        if self.step_stop is not None:
            step = self.step_stop
        else:
            step = STEP_STOPS.get(self.env_id or "", ("\n",))
        return tuple(dict.fromkeys((*self.params.stop, *step)))

    @property
    def sampling(self) -> SamplingParams:
        """The sampling parameters of every ``generate`` call (``params`` with :attr:`stop`)."""
        return replace(self.params, stop=self.stop)

    @property
    def num_envs(self) -> int:
        return len(self._histories)

    def reset(
        self,
        num_envs: int | None = None,
        *,
        env_id: str | None = None,
        indices: Sequence[int] | None = None,
    ) -> None:
        """Start new episodes: forget the history of ``indices`` (default: every env).

        Args:
            num_envs: Number of envs to keep histories for (default: unchanged).
            env_id: Env id for the :data:`STEP_STOPS` lookup (default: unchanged).
            indices: Only these envs start over.
        """
        if env_id is not None:
            self.env_id = env_id
        if num_envs is not None:
            if num_envs < 1:
                raise ValueError(f"num_envs must be >= 1, got {num_envs}")
            self._histories = [[] for _ in range(num_envs)]
            self.last_generations = [None] * num_envs
            self.overflowed = [False] * num_envs
            return
        for i in range(self.num_envs) if indices is None else indices:
            self._histories[i] = []
            self.last_generations[i] = None
            self.overflowed[i] = False

    def history(self, index: int = 0) -> list[dict[str, str]]:
        """A copy of env ``index``'s chat messages so far."""
        return [dict(m) for m in self._histories[index]]

    # -- acting ---------------------------------------------------------------------------------
    def _prompt_for(self, index: int, observation: Any) -> list[dict[str, str]]:
        if isinstance(observation, list | tuple) and all(
            isinstance(m, Mapping) for m in observation
        ):
            messages = [dict(m) for m in observation]
            if self.system_prompt and (not messages or messages[0].get("role") != "system"):
                messages.insert(0, {"role": "system", "content": self.system_prompt})
            self._histories[index] = messages
            return messages
        history = self._histories[index]
        if not history and self.system_prompt:
            history.append({"role": "system", "content": self.system_prompt})
        history.append({"role": "user", "content": str(observation)})
        return history

    def act(self, observation: Any) -> str:
        """The next action for a single env (call :meth:`reset` at each episode start)."""
        if self.num_envs != 1:
            self.reset(1)
        action = self.act_batch([observation])[0]
        if self.overflowed[0]:
            raise ContextOverflowError(
                "the prompt no longer fits the model's context (history plus max_tokens); start "
                "a new episode (reset) or lower max_tokens"
            )
        return action

    def act_batch(
        self, observations: Sequence[Any], dones: Sequence[bool] | None = None
    ) -> list[str]:
        """One action per env, from one ``generate`` call for all envs that act.

        Args:
            observations: The latest observation of each env (a vector env's ``obs``).
            dones: ``dones[i]`` true means env ``i``'s episode is over and its next observation
                starts a new one (a NEXT_STEP autoreset): env ``i`` gets the placeholder action
                ``""`` (the vector env ignores it), no generation, and a fresh history.

        Returns:
            The actions, in env order (``""`` for envs whose prompt overflowed the context; see
            :attr:`overflowed`).
        """
        n = len(observations)
        if n != self.num_envs:
            self.reset(n)
        skip = [bool(d) for d in dones] if dones is not None else [False] * n
        if len(skip) != n:
            raise ValueError(f"got {n} observations but {len(skip)} done flags")
        active = [i for i in range(n) if not skip[i]]
        prompts = [self._prompt_for(i, observations[i]) for i in active]
        actions = [""] * n
        for i in range(n):
            if skip[i]:
                self.reset(indices=[i])
        self.overflowed = [False] * n
        if not active:
            return actions
        outputs = generate_within_context(self.backend, prompts, self.sampling)
        for i, gens in zip(active, outputs, strict=True):
            if gens is None:
                self.overflowed[i] = True
                self.last_generations[i] = None
                continue
            gen = gens[0]
            action = gen.text.strip() if self.strip else gen.text
            self._histories[i].append({"role": "assistant", "content": action})
            self.last_generations[i] = gen
            actions[i] = action
        return actions


def generate_within_context(
    backend: LLMBackend, prompts: Sequence[Prompt], params: SamplingParams
) -> list[list[Generation] | None]:
    """``backend.generate(prompts, params)``, with ``None`` for each prompt that no longer fits
    the model's context instead of a :class:`~prm_gym.llm.ContextOverflowError` for the call.

    Prompts the backend names in the error are dropped and the rest generated again in one
    call; when the backend does not say which prompt overflowed, the prompts are generated one
    at a time. :class:`LLMAgent` acts through it; so can any code that rolls a policy out.
    """
    results: list[list[Generation] | None] = [None] * len(prompts)
    todo = list(range(len(prompts)))
    while todo:
        try:
            outputs = backend.generate([prompts[j] for j in todo], params)
        except ContextOverflowError as exc:
            bad = {todo[k] for k in exc.indices if 0 <= k < len(todo)}
            if not bad:
                if len(todo) == 1:  # the one prompt left is the one that overflows
                    return results
                for j in todo:
                    results[j] = generate_within_context(backend, [prompts[j]], params)[0]
                return results
            todo = [j for j in todo if j not in bad]
            continue
        if len(outputs) != len(todo):
            raise RuntimeError(
                f"{type(backend).__name__}.generate returned {len(outputs)} results for "
                f"{len(todo)} prompts"
            )
        for j, gens in zip(todo, outputs, strict=True):
            results[j] = list(gens)
        break
    return results
