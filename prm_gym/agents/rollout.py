"""Run an :class:`LLMAgent` on a text env (single or vector env) and collect trajectories.

One ``backend.generate`` call per env step serves every sub-env that acts, so a vector env of
``K`` sub-envs keeps ``K`` prompts in each batch. Per-step token ids and log-probs travel in each
step's ``info["generation"]``; :func:`token_level_rewards` turns step rewards into per-token
rewards for token-level trainers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from prm_gym.agents.llm_agent import LLMAgent
from prm_gym.core.transcript import Trajectory
from prm_gym.core.vector import AutoresetTracker, info_at
from prm_gym.llm.base import Generation

__all__ = [
    "CONTEXT_OVERFLOW",
    "rollout",
    "step_token_counts",
    "token_level_rewards",
    "trajectory_to_dict",
]

#: ``truncated_reason`` of an episode cut because its next prompt did not fit the model's context.
CONTEXT_OVERFLOW = "context_overflow"


def rollout(
    env: gym.Env[Any, Any] | VectorEnv[Any, Any, Any],
    agent: LLMAgent,
    episodes: int,
    *,
    seed: int | None = None,
    options: dict[str, Any] | None = None,
    progress: bool = True,
    backend: str = "local",
) -> list[Trajectory]:
    """Play ``episodes`` episodes with ``agent`` and return them, in the order they started.

    A vector env runs its sub-envs in lockstep: every step, the agent generates one action for
    each sub-env with an episode in progress, in one backend call. Exactly ``episodes`` episodes
    are started (sub-envs left without one idle, so short episodes are not over-represented).
    Gymnasium's autoreset modes ``NEXT_STEP`` (the default: the step after a done only resets the
    sub-env, so the agent skips it) and ``SAME_STEP`` are both handled.

    Each :class:`~prm_gym.core.Trajectory` holds the actions (stripped generated text), the env's
    responses, the rewards the (wrapped) env returned and each step's info: the env's keys
    (``task_id``, ``action_valid``, ``outcome``, ``step_label``...), the wrappers'
    ``reward_components``, and ``generation`` = ``{"token_ids", "logprobs", "finish_reason",
    "prompt_token_ids"}`` from the backend. NumPy values in infos become plain Python values.

    An episode whose next prompt no longer fits the model's context (the backend raises
    :class:`~prm_gym.llm.ContextOverflowError`) ends there, as truncated: ``truncated=True``,
    ``truncated_reason="context_overflow"`` (also in its last step's info, when it has one), and
    counts as one of the ``episodes``; the run goes on. In a vector env that sub-env then plays
    its episode out with ``""`` actions (not recorded, no generations) until it resets.

    Args:
        env: A text env (``gym.make``) or a Gymnasium vector env of text envs
            (``gym.make_vec(..., vectorization_mode="sync")``), wrapped as you like.
        agent: The policy. Its histories are reset here.
        episodes: How many episodes to collect (>= 1).
        seed: Seeds the first ``reset`` (later episodes follow from the env's RNG).
        options: Passed to ``reset``.
        progress: Show a tqdm bar of finished episodes on stderr.
        backend: ``"local"`` (this process) or ``"ray"``: the env's sub-envs run as Ray env
            workers (:mod:`prm_gym.distributed`; a single env becomes one worker) and the same
            trajectories come back for the same seeds; workers that die or hang are replaced
            without losing an episode. An env already built with
            :func:`prm_gym.distributed.make_ray_vec` (wrapped or not) is used as it is.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    if backend not in ("local", "ray"):
        raise ValueError(f"backend must be 'local' or 'ray', got {backend!r}")
    from tqdm.auto import tqdm

    owned: VectorEnv[Any, Any, Any] | None = None
    if backend == "ray":
        from prm_gym.distributed.rollout import ray_env_for

        env, owned = ray_env_for(env)
    try:
        with tqdm(total=episodes, desc="rollout", unit="ep", disable=not progress) as bar:
            if isinstance(env, VectorEnv):
                return _rollout_vector(env, agent, episodes, seed, options, bar)
            return _rollout_single(env, agent, episodes, seed, options, bar)
    finally:
        if owned is not None:
            owned.close()


def _env_id(env: Any) -> str | None:
    spec = getattr(env, "spec", None)
    return getattr(spec, "id", None)


def _text(observation: Any) -> str:
    """A text observation, or the last message's content of a chat observation."""
    if isinstance(observation, list | tuple) and observation and isinstance(observation[-1], dict):
        return str(observation[-1].get("content", ""))
    return str(observation)


def _plain(value: Any) -> Any:
    """``value`` with NumPy scalars/arrays turned into Python numbers/lists (JSON-ready)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _generation_info(gen: Generation | None) -> dict[str, Any] | None:
    if gen is None:
        return None
    return {
        "token_ids": list(gen.token_ids),
        "logprobs": list(gen.logprobs),
        "finish_reason": gen.finish_reason,
        "prompt_token_ids": list(gen.prompt_token_ids),
    }


def _record(
    traj: Trajectory,
    action: str,
    obs: Any,
    reward: Any,
    info: dict[str, Any],
    gen: Generation | None,
) -> None:
    info = _plain(info)
    generation = _generation_info(gen)
    if generation is not None:
        info["generation"] = generation
    traj.append(action, _text(obs), float(reward), info)


def _rollout_single(
    env: gym.Env[Any, Any],
    agent: LLMAgent,
    episodes: int,
    seed: int | None,
    options: dict[str, Any] | None,
    bar: Any,
) -> list[Trajectory]:
    agent.reset(1, env_id=_env_id(env))
    out = []
    for k in range(episodes):
        obs, info = env.reset(seed=seed if k == 0 else None, options=options)
        agent.reset()
        traj = Trajectory(task_id=str(info.get("task_id", "")), prompt=_text(obs))
        while True:
            action = agent.act_batch([obs])[0]
            if agent.overflowed[0]:
                _cut_by_overflow(traj)
                break
            gen = agent.last_generations[0]
            obs, reward, terminated, truncated, info = env.step(action)
            _record(traj, action, obs, reward, info, gen)
            if terminated or truncated:
                traj.terminated, traj.truncated = bool(terminated), bool(truncated)
                break
        out.append(traj)
        bar.update(1)
    return out


def _rollout_vector(
    env: VectorEnv[Any, Any, Any],
    agent: LLMAgent,
    episodes: int,
    seed: int | None,
    options: dict[str, Any] | None,
    bar: Any,
) -> list[Trajectory]:
    n = env.num_envs
    mode = AutoresetTracker(env).mode  # raises a clear error for AutoresetMode.DISABLED
    obs, infos = env.reset(seed=seed, options=options)
    agent.reset(n, env_id=_env_id(env))
    order: list[Trajectory] = []
    current: list[Trajectory | None] = [None] * n

    def start(i: int, observation: Any, info: dict[str, Any]) -> None:
        if len(order) < episodes:
            traj = Trajectory(task_id=str(info.get("task_id", "")), prompt=_text(observation))
            order.append(traj)
            current[i] = traj
        else:
            current[i] = None

    for i in range(n):
        start(i, obs[i], info_at(infos, i))
    resetting = np.zeros(n, dtype=bool)  # NEXT_STEP: this sub-env's next step only resets it
    finished = 0
    while finished < episodes:
        idle = np.array([current[i] is None for i in range(n)])
        actions = agent.act_batch(list(obs), dones=resetting | idle)
        generations = list(agent.last_generations)
        for i in range(n):
            traj = current[i]
            if agent.overflowed[i] and traj is not None:
                # The sub-env plays its episode out with "" actions, unrecorded, then resets.
                _cut_by_overflow(traj)
                current[i] = None
                finished += 1
                bar.update(1)
        if finished >= episodes:
            break
        obs, rewards, terminated, truncated, infos = env.step(tuple(actions))
        for i in range(n):
            if resetting[i]:  # the reset step: obs[i] is the next episode's first observation
                resetting[i] = False
                start(i, obs[i], info_at(infos, i))
                continue
            done = bool(terminated[i] or truncated[i])
            traj = current[i]
            if traj is not None:
                info = info_at(infos, i)
                step_obs = obs[i]
                if mode == AutoresetMode.SAME_STEP and done:
                    step_obs, info = _same_step_final(infos, i, info)
                _record(traj, actions[i], step_obs, rewards[i], info, generations[i])
                if done:
                    traj.terminated, traj.truncated = bool(terminated[i]), bool(truncated[i])
                    finished += 1
                    bar.update(1)
            if done:
                if mode == AutoresetMode.NEXT_STEP:
                    resetting[i] = True
                    current[i] = None
                else:
                    agent.reset(indices=[i])
                    start(i, obs[i], info_at(infos, i))
    return order


def _cut_by_overflow(traj: Trajectory) -> None:
    """End ``traj`` as truncated because its next prompt overflowed the model's context."""
    traj.terminated, traj.truncated = False, True
    traj.truncated_reason = CONTEXT_OVERFLOW
    if traj.infos:
        traj.infos[-1]["truncated_reason"] = CONTEXT_OVERFLOW


def _same_step_final(
    infos: dict[str, Any], i: int, info: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The final observation and info of sub-env ``i`` under SAME_STEP autoreset.

    The sub-env's own final info sits in ``infos["final_info"]``; what vector wrappers added at
    the top level (``reward_components``) describes the finished step too, so it is kept.
    """
    final_obs = infos["final_obs"][i] if "final_obs" in infos else None
    final = info_at(infos["final_info"], i) if "final_info" in infos else {}
    if "reward_components" in info:
        final["reward_components"] = info["reward_components"]
    return final_obs, final


# ---------------------------------------------------------------------------------------------
# token-level rewards
# ---------------------------------------------------------------------------------------------
def token_level_rewards(
    step_rewards: Sequence[float] | np.ndarray, step_token_counts: Sequence[int] | np.ndarray
) -> list[np.ndarray]:
    """Per-token rewards: each step's reward on the last token of that step, 0 elsewhere.

    Args:
        step_rewards: One reward per step (e.g. ``trajectory.rewards`` or
            ``trajectory.step_rewards``).
        step_token_counts: Generated tokens per step (e.g. :func:`step_token_counts`).

    Returns:
        One float array per step, of that step's length; ``np.concatenate`` gives the
        trajectory's token-level reward sequence.

    Example:
        >>> [r.tolist() for r in token_level_rewards([0.5, 1.0], [2, 3])]
        [[0.0, 0.5], [0.0, 0.0, 1.0]]
    """
    rewards = np.asarray(step_rewards, dtype=np.float64).reshape(-1)
    counts = np.asarray(step_token_counts).reshape(-1)
    if len(rewards) != len(counts):
        raise ValueError(
            f"got {len(rewards)} step rewards but {len(counts)} token counts; pass one of each "
            "per step"
        )
    out = []
    for t, (reward, count) in enumerate(zip(rewards, counts, strict=True)):
        count = int(count)
        if count < 0 or (count == 0 and reward != 0.0):
            raise ValueError(
                f"step {t} has {count} tokens but reward {reward}: a rewarded step needs at "
                "least one token to carry it"
            )
        per_token = np.zeros(count, dtype=np.float64)
        if count:
            per_token[-1] = reward
        out.append(per_token)
    return out


def step_token_counts(trajectory: Trajectory) -> list[int]:
    """Generated tokens per step of a :func:`rollout` trajectory (from ``info["generation"]``)."""
    counts = []
    for t, info in enumerate(trajectory.infos):
        generation = info.get("generation")
        if generation is None:
            raise ValueError(
                f"step {t} of the trajectory has no info['generation']; token counts exist only "
                "for trajectories collected by prm_gym.agents.rollout"
            )
        counts.append(len(generation["token_ids"]))
    return counts


def trajectory_to_dict(trajectory: Trajectory, *, prompt_token_ids: bool = False) -> dict[str, Any]:
    """A JSON-ready dict of a trajectory (one line of ``prm-gym rollout`` output).

    Keys: ``task_id``, ``prompt``, ``actions``, ``observations``, ``rewards``, ``terminated``,
    ``truncated``, ``truncated_reason``, ``outcome``, ``total_reward``, ``reward_components``
    (per-step lists per component), ``step_rewards`` (or ``None``) and ``infos``. Each step's
    ``info["generation"]["prompt_token_ids"]`` is dropped unless ``prompt_token_ids`` is true.
    """
    infos = []
    for info in trajectory.infos:
        info = dict(info)
        generation = info.get("generation")
        if isinstance(generation, dict) and not prompt_token_ids:
            info["generation"] = {k: v for k, v in generation.items() if k != "prompt_token_ids"}
        infos.append(_plain(info))
    step_rewards = trajectory.step_rewards
    return {
        "task_id": trajectory.task_id,
        "prompt": trajectory.prompt,
        "actions": list(trajectory.actions),
        "observations": list(trajectory.observations),
        "rewards": [float(r) for r in trajectory.rewards],
        "terminated": trajectory.terminated,
        "truncated": trajectory.truncated,
        "truncated_reason": trajectory.truncated_reason,
        "outcome": _plain(trajectory.outcome),
        "total_reward": trajectory.total_reward,
        "reward_components": {k: v.tolist() for k, v in trajectory.components().items()},
        "step_rewards": None if step_rewards is None else step_rewards.tolist(),
        "infos": infos,
    }
