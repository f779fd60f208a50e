"""Train Stable-Baselines3 agents on shaped goal-conditioned envs and record learning curves.

:func:`train` builds a (vectorised) env, optionally wraps every sub-env in
:class:`~prm_gym.wrappers.PotentialShaping`, trains SAC, TD3 or PPO (SAC/TD3 optionally with
hindsight experience replay) and returns a :class:`~prm_gym.agents.curves.LearningCurve`: the
success rate on separate evaluation episodes, every ``eval_every`` environment steps.

Shaping and HER
---------------
Potential-based shaping adds F = γΦ(s′) − Φ(s) to the env's reward (Ng, Harada & Russell, 1999);
with γ equal to the learner's discount the optimal policy is unchanged, so :func:`train` passes
one ``gamma`` to both. HER (Andrychowicz et al., "Hindsight Experience Replay", 2017) stores
transitions and, for a share of the sampled ones, replaces the goal and recomputes the reward
with the env's ``compute_reward(achieved_goal, desired_goal, info)``. That function is the env's
own (sparse) reward and knows nothing of the wrapper, so with ``her=True`` and shaping:

* transitions replayed with their original goal carry the shaped reward the wrapper returned;
* relabelled transitions would carry the env's sparse reward only.

So with ``her=True`` and shaping, :func:`train` replays through
:class:`~prm_gym.agents.her.ShapedHerReplayBuffer`, which recomputes γΦ(s′, g′) − Φ(s, g′) from
the stored observations for each relabelled goal g′ and adds it. Every replayed transition then
carries the potential-based shaping of the goal it is replayed with, and shaping stays
policy-invariant under relabelling. (The potential must read the goal from
``obs["desired_goal"]``, as the manipulation potentials do.)

Observation normalisation
-------------------------
``obs_norm="experts"`` (manipulation envs) or ``obs_norm=<stats>`` normalises the policy's and
critics' inputs with fixed statistics through
:class:`~prm_gym.agents.obs_norm.NormalizedExtractor` (HER's normaliser: std floored at 0.01,
clip ±5). The env, replay buffer, potentials and evaluation keep raw observations, and the
statistics travel inside the saved model. Why fixed rather than running statistics: see
:mod:`prm_gym.agents.obs_norm`.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.logger import HumanOutputFormat, Logger
from stable_baselines3.common.noise import NormalActionNoise
from stable_baselines3.common.utils import set_random_seed
from stable_baselines3.her import HerReplayBuffer

from prm_gym.agents.curves import LearningCurve
from prm_gym.agents.her import ShapedHerReplayBuffer
from prm_gym.agents.obs_norm import NormalizedExtractor, expert_observation_stats
from prm_gym.core.scorer import Potential
from prm_gym.core.threads import torch_threads as scoped_torch_threads
from prm_gym.wrappers import PotentialShaping

__all__ = ["ALGOS", "SHAPINGS", "LearningCurve", "SuccessCurveCallback", "evaluate", "train"]

#: Algorithm name -> SB3 class. SAC and TD3 are off-policy (HER works with them), PPO on-policy.
ALGOS: dict[str, type[BaseAlgorithm]] = {"sac": SAC, "td3": TD3, "ppo": PPO}
OFF_POLICY = frozenset({"sac", "td3"})
#: Shaping modes of :func:`train`.
SHAPINGS = ("none", "potential", "learned")
#: ``obs_norm`` choices of :func:`train` besides a statistics mapping.
OBS_NORMS = ("none", "experts")
_GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
#: SB3's default warm-up of SAC/TD3 (env steps before the first update).
_SB3_LEARNING_STARTS = 100
#: Evaluation episodes reset with seeds from here on, far from the training envs' seeds.
EVAL_SEED_OFFSET = 1_000_003


def evaluate(
    model: BaseAlgorithm, env: gym.Env[Any, Any], episodes: int, seed: int
) -> tuple[float, float]:
    """Run ``episodes`` deterministic episodes; return (success rate, mean return).

    Episode ``i`` resets with ``seed + i``, so every evaluation of a run sees the same goals and
    curves differ only by the policy. Success is the final step's ``info["is_success"]`` (0 for
    envs that do not report it); the return is the sum of the env's own rewards.
    """
    successes = 0.0
    returns = 0.0
    for i in range(episodes):
        obs, info = env.reset(seed=seed + i)
        total = 0.0
        while True:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        successes += float(bool(info.get("is_success", False)))
        returns += total
    return successes / episodes, returns / episodes


class SuccessCurveCallback(BaseCallback):
    """Evaluates every ``eval_every`` env steps into a :class:`LearningCurve`; drives a tqdm bar.

    Evaluations run before training (step 0), whenever the step count crosses a multiple of
    ``eval_every`` (with ``n_envs`` sub-envs the count advances ``n_envs`` at a time, so an
    evaluation can land up to ``n_envs − 1`` steps late; the curve records the true count), and
    at the end of training if the last step was not evaluated.

    Args:
        eval_env: An unshaped env (the curve measures the task, not the shaped reward).
        curve: Where results are appended.
        eval_every: Env steps between evaluations.
        eval_episodes: Episodes per evaluation.
        eval_seed: Seed of the first evaluation episode.
        total_timesteps: Length of the progress bar.
        progress_bar: Show a tqdm bar on stderr.
        log_path: If given, the curve is rewritten there (CSV) after every evaluation.
        stop_at: If given, training stops at the first evaluation whose success rate is at least
            this value (the curve ends at that step); ``None`` trains to ``total_timesteps``.
    """

    def __init__(
        self,
        eval_env: gym.Env[Any, Any],
        curve: LearningCurve,
        eval_every: int,
        eval_episodes: int,
        eval_seed: int,
        total_timesteps: int,
        progress_bar: bool = True,
        log_path: str | os.PathLike[str] | None = None,
        stop_at: float | None = None,
    ) -> None:
        super().__init__(verbose=0)
        self.stop_at = stop_at
        self.eval_env = eval_env
        self.curve = curve
        self.eval_every = eval_every
        self.eval_episodes = eval_episodes
        self.eval_seed = eval_seed
        self.total_timesteps = total_timesteps
        self.progress_bar = progress_bar
        self.log_path = log_path
        self._next_eval = eval_every
        self._bar: Any = None
        self._last_step = 0

    def _evaluate(self) -> None:
        rate, ret = evaluate(self.model, self.eval_env, self.eval_episodes, self.eval_seed)
        self.curve.append(self.num_timesteps, rate, ret)
        self.logger.record("eval/success_rate", rate)
        self.logger.record("eval/episode_return", ret)
        if self._bar is not None:
            self._bar.set_postfix(success=f"{rate:.2f}", refresh=False)
        if self.log_path is not None:
            self.curve.to_csv(self.log_path)

    def _on_training_start(self) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.total_timesteps,
            desc=f"train {self.curve.config.get('env_id', '')}".strip(),
            unit="step",
            disable=not self.progress_bar,
            file=sys.stderr,
            dynamic_ncols=True,
        )
        self._last_step = self.num_timesteps
        if not self.curve.steps:
            self._evaluate()

    def _on_step(self) -> bool:
        if self._bar is not None:
            self._bar.update(self.num_timesteps - self._last_step)
        self._last_step = self.num_timesteps
        if self.num_timesteps >= self._next_eval:
            self._evaluate()
            while self._next_eval <= self.num_timesteps:
                self._next_eval += self.eval_every
            if self.stop_at is not None and self.curve.success_rate[-1] >= self.stop_at:
                return False
        return True

    def _on_training_end(self) -> None:
        if not self.curve.steps or self.curve.steps[-1] != self.num_timesteps:
            self._evaluate()
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def _quiet_logger(verbose: int) -> Logger:
    """An SB3 logger that writes no files: stdout at ``verbose >= 1``, nothing otherwise."""
    return Logger(folder=None, output_formats=[HumanOutputFormat(sys.stdout)] if verbose else [])


def _check_choice(name: str, value: str, options: tuple[str, ...] | list[str]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")


def _norm_stats(
    env_id: str,
    obs_space: gym.Space[Any],
    obs_norm: str | Mapping[str, Any] | None,
    algo_kwargs: Mapping[str, Any] | None,
) -> dict[str, Any] | None:
    """The fixed input statistics ``obs_norm`` asks for (None: no normalisation)."""
    if obs_norm is None or obs_norm == "none":
        return None
    if isinstance(obs_norm, str):
        _check_choice("obs_norm", obs_norm, OBS_NORMS)
    elif not isinstance(obs_norm, Mapping):
        raise ValueError(f"obs_norm must be None, 'none', 'experts' or a mapping, got {obs_norm!r}")
    if not isinstance(obs_space, gym.spaces.Dict):
        raise ValueError(f"obs_norm needs a Dict observation space; {env_id} has {obs_space}")
    if "features_extractor_class" in dict(algo_kwargs or {}).get("policy_kwargs", {}):
        raise ValueError(
            "obs_norm sets the policy's features_extractor_class (NormalizedExtractor); drop "
            "obs_norm or the features_extractor_class in algo_kwargs"
        )
    if isinstance(obs_norm, Mapping):
        return dict(obs_norm)
    try:
        return dict(expert_observation_stats(env_id))
    except ValueError as exc:
        raise ValueError(
            f"obs_norm='experts' needs a scripted expert (prm/* manipulation envs): {exc}; pass "
            "statistics from prm_gym.agents.obs_norm.observation_stats"
        ) from exc


def _episode_length(env: gym.Env[Any, Any]) -> int | None:
    """The most steps an episode of ``env`` lasts: its ``TimeLimit`` or own ``max_steps``."""
    limits = [
        int(limit)
        for limit in (
            getattr(env.spec, "max_episode_steps", None),
            getattr(env.unwrapped, "max_steps", None),
        )
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
    ]
    return min(limits) if limits else None


def _her_learning_starts(env: gym.Env[Any, Any], n_envs: int, learning_starts: int | None) -> int:
    """Warm-up steps for HER: enough that one episode of every sub-env has ended.

    SB3's ``HerReplayBuffer`` samples only from finished episodes, and the ``n_envs`` sub-envs
    step together, so the first episode ends after ``n_envs × T`` env steps (T: episode length).
    Learning earlier raises "Unable to sample before the end of the first episode".
    """
    length = _episode_length(env)
    minimum = n_envs * length if length is not None else 0
    if learning_starts is None:
        return max(_SB3_LEARNING_STARTS, minimum)
    if learning_starts < minimum:
        raise ValueError(
            f"her=True needs learning_starts >= n_envs x episode length = {n_envs} x {length} "
            f"= {minimum} (HER samples finished episodes only), got {learning_starts}; raise "
            "learning_starts or leave it unset"
        )
    return learning_starts


def _build_potential(
    env_id: str,
    shaping: str,
    potential: Potential | None,
    scale: float,
    seed: int,
    progress: bool,
) -> Potential | None:
    if shaping == "none":
        if potential is not None:
            raise ValueError(
                "potential= was given but shaping='none'; pass shaping='potential' (or "
                "'learned') to shape with it, or drop potential="
            )
        return None
    if potential is not None:
        return potential
    if shaping == "potential":
        from prm_gym.core.assets import family_assets

        try:
            make_potential = family_assets(env_id).potential
        except KeyError:
            make_potential = None
        if make_potential is None:
            raise ValueError(
                f"shaping='potential': {env_id!r} has no default potential (its family's "
                "FamilyAssets.potential); use an env that provides one (prm/Reach-v0, "
                "prm/Push-v0, prm/PickPlace-v0) or pass potential="
            )
        return make_potential(env_id, scale=scale)
    from prm_gym.rewards.progress import LearnedProgressPotential

    return LearnedProgressPotential.from_experts(env_id, seed=seed, scale=scale, progress=progress)


def train(
    env_id: str,
    algo: str = "sac",
    shaping: str = "none",
    her: bool = False,
    total_timesteps: int = 20_000,
    seed: int = 0,
    n_envs: int = 1,
    gamma: float = 0.95,
    train_freq: int | None = None,
    gradient_steps: int | None = None,
    learning_starts: int | None = None,
    eval_every: int = 1_000,
    eval_episodes: int = 20,
    progress_bar: bool = True,
    potential: Potential | None = None,
    shaping_scale: float = 10.0,
    log_path: str | os.PathLike[str] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    algo_kwargs: Mapping[str, Any] | None = None,
    model_path: str | os.PathLike[str] | None = None,
    torch_threads: int | None = 1,
    obs_norm: str | Mapping[str, Any] | None = None,
    stop_at: float | None = None,
) -> LearningCurve:
    """Train an SB3 agent on ``env_id`` and return its success-rate learning curve.

    Args:
        env_id: A registered Gymnasium id (``import prm_gym`` registers the ``prm/*`` ones). The
            curve needs ``info["is_success"]``; HER needs a goal-conditioned ``Dict``
            observation and ``compute_reward``.
        algo: ``"sac"``, ``"td3"`` (off-policy) or ``"ppo"`` (on-policy).
        shaping: ``"none"``; ``"potential"``: ``PotentialShaping`` with the env's hand-written
            ``StagedPotential(env_id)`` (or ``potential=``); ``"learned"``: with
            ``LearnedProgressPotential.from_experts(env_id, seed=seed)`` (or ``potential=``).
            The wrapper uses ``gamma``, the learner's discount, so the optimal policy is
            unchanged.
        her: Hindsight experience replay (``future`` strategy, 4 sampled goals). SAC/TD3 only.
            With shaping, :class:`~prm_gym.agents.her.ShapedHerReplayBuffer` also shapes the
            relabelled transitions (module docstring).
        total_timesteps: Environment steps to train for (all sub-envs together).
        seed: Seeds Python, NumPy, torch, the envs, the learner and (with ``shaping="learned"``)
            the progress model; evaluation episodes use seeds from ``seed + 1000003`` on.
        n_envs: Parallel sub-envs (``DummyVecEnv``).
        gamma: Discount factor of both learner and shaping.
        train_freq: Off-policy only: env steps (per sub-env) between updates (SB3 default 1).
        gradient_steps: Off-policy only: gradient steps per update (SB3 default 1; -1: as many as
            env steps collected).
        learning_starts: Off-policy only: env steps before learning starts (SB3 default 100).
            With ``her=True`` the default is ``max(100, n_envs × episode length)``, so an
            episode has ended before HER samples; a smaller explicit value raises ValueError.
        eval_every: Env steps between evaluations.
        eval_episodes: Deterministic evaluation episodes per evaluation (unshaped env).
        progress_bar: Show tqdm bars (demo collection, model fitting, training) on stderr.
        potential: A potential Φ(obs, info) to shape with instead of the default one.
        shaping_scale: ``scale`` of the default potentials: Φ ∈ [−scale, 0] for the staged one,
            Φ = scale · p̂ ∈ [0, scale] for the learned one, so with γ = 1 an episode's shaping
            terms sum to at most ``scale`` in magnitude. The native sparse reward is −1 per step
            away from the goal (up to −50 per episode); at scale 1 shaping is too weak next to it
            to speed learning up, at 10 it guides SAC on prm/Reach-v0 within a few thousand steps.
            Ignored when ``potential=`` is given.
        log_path: Rewrite the curve to this CSV after every evaluation. :func:`train` writes
            files only here and at ``model_path`` (SB3's own logger writes none unless
            ``algo_kwargs`` has ``tensorboard_log``).
        env_kwargs: Keyword arguments for ``gym.make``.
        algo_kwargs: Extra keyword arguments for the SB3 constructor (``policy_kwargs``,
            ``learning_rate``, ``batch_size``, ``n_steps``, ...); they override the defaults.
        model_path: Save the trained SB3 model there (``model.save``).
        torch_threads: torch intra-op threads while training (restored afterwards); ``None``
            keeps the current setting. One thread is as fast as several for these small
            networks and does not stall when other processes share the cores.
        obs_norm: Fixed input normalisation (module docstring): ``None``/``"none"``: off;
            ``"experts"``: statistics of 100 noisy scripted-expert episodes (manipulation envs,
            :func:`~prm_gym.agents.obs_norm.expert_observation_stats`); or a mapping from
            observation key to (mean, std) (:func:`~prm_gym.agents.obs_norm.observation_stats`).
            Needs a ``Dict`` observation space.
        stop_at: Stop training at the first evaluation (step 0 excluded) whose success rate
            is at least this value, in (0, 1]; the curve then ends at that step. ``None``:
            train for ``total_timesteps``. For "steps to X% success" runs that need not go on.

    Returns:
        The learning curve; ``config`` records every argument above plus ``wall_time_s``.

    Raises:
        ValueError: An unknown ``algo`` or ``shaping``; ``her=True`` with PPO or without a
            goal-conditioned env; off-policy options with PPO; ``potential=`` with
            ``shaping="none"``; non-positive counts.
    """
    _check_choice("algo", algo, list(ALGOS))
    _check_choice("shaping", shaping, SHAPINGS)
    if her and algo not in OFF_POLICY:
        raise ValueError(
            f"her=True needs an off-policy algorithm with a replay buffer (sac or td3); {algo} "
            "is on-policy. Use algo='sac' or algo='td3', or her=False"
        )
    if algo not in OFF_POLICY:
        given = [
            name
            for name, value in (
                ("train_freq", train_freq),
                ("gradient_steps", gradient_steps),
                ("learning_starts", learning_starts),
            )
            if value is not None
        ]
        if given:
            raise ValueError(
                f"{', '.join(given)} apply to off-policy algorithms (sac, td3) only; for {algo} "
                "set n_steps / batch_size / n_epochs through algo_kwargs"
            )
    if torch_threads is not None and torch_threads < 1:
        raise ValueError(f"torch_threads must be >= 1 or None, got {torch_threads}")
    for name, value in (
        ("total_timesteps", total_timesteps),
        ("n_envs", n_envs),
        ("eval_every", eval_every),
        ("eval_episodes", eval_episodes),
    ):
        if int(value) < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not (math.isfinite(gamma) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if not (math.isfinite(shaping_scale) and shaping_scale > 0):
        raise ValueError(f"shaping_scale must be a positive number, got {shaping_scale}")
    if stop_at is not None and not (math.isfinite(stop_at) and 0.0 < stop_at <= 1.0):
        raise ValueError(f"stop_at must be in (0, 1] or None, got {stop_at}")

    env_kwargs = dict(env_kwargs or {})
    eval_env = gym.make(env_id, **env_kwargs)
    obs_space = eval_env.observation_space
    is_goal_env = isinstance(obs_space, gym.spaces.Dict) and all(
        k in obs_space.spaces for k in _GOAL_KEYS
    )
    if her and not is_goal_env:
        eval_env.close()
        raise ValueError(
            f"her=True needs a goal-conditioned env (Dict observation with {list(_GOAL_KEYS)} "
            f"and compute_reward); {env_id} has {obs_space}"
        )

    set_random_seed(seed)
    try:
        if her:
            learning_starts = _her_learning_starts(eval_env, n_envs, learning_starts)
        stats = _norm_stats(env_id, obs_space, obs_norm, algo_kwargs)
        phi = _build_potential(env_id, shaping, potential, shaping_scale, seed, progress_bar)
    except BaseException:
        eval_env.close()
        raise
    wrapper: Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]] | None = None
    if phi is not None:
        shaping_potential = phi

        def wrapper(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:
            return PotentialShaping(env, shaping_potential, gamma=gamma)

    vec_env = make_vec_env(
        env_id, n_envs=n_envs, seed=seed, wrapper_class=wrapper, env_kwargs=env_kwargs
    )

    kwargs: dict[str, Any] = {"gamma": gamma, "seed": seed, "verbose": 0}
    if algo in OFF_POLICY:
        off_policy_options = {
            "train_freq": train_freq,
            "gradient_steps": gradient_steps,
            "learning_starts": learning_starts,
        }
        kwargs.update({k: v for k, v in off_policy_options.items() if v is not None})
        if her:
            her_kwargs: dict[str, Any] = {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
            if phi is None:
                kwargs["replay_buffer_class"] = HerReplayBuffer
            else:
                kwargs["replay_buffer_class"] = ShapedHerReplayBuffer
                her_kwargs.update(potential=phi, shaping_gamma=gamma)
            kwargs["replay_buffer_kwargs"] = her_kwargs
    if algo == "td3":
        n_actions = int(np.prod(vec_env.action_space.shape or (1,)))
        kwargs["action_noise"] = NormalActionNoise(np.zeros(n_actions), 0.1 * np.ones(n_actions))
    kwargs.update(algo_kwargs or {})
    if isinstance(kwargs.get("policy_kwargs"), Mapping):
        # SB3 writes into policy_kwargs (use_sde, ...): copy so the caller's dict stays as given.
        kwargs["policy_kwargs"] = dict(kwargs["policy_kwargs"])
    if stats is not None:
        kwargs["policy_kwargs"] = {
            **kwargs.get("policy_kwargs", {}),
            "features_extractor_class": NormalizedExtractor,
            "features_extractor_kwargs": {"stats": stats},
        }
    policy = "MultiInputPolicy" if isinstance(obs_space, gym.spaces.Dict) else "MlpPolicy"

    config: dict[str, Any] = {
        "env_id": env_id,
        "algo": algo,
        "shaping": shaping,
        "her": her,
        "total_timesteps": total_timesteps,
        "seed": seed,
        "n_envs": n_envs,
        "gamma": gamma,
        "train_freq": train_freq,
        "gradient_steps": gradient_steps,
        "learning_starts": learning_starts,
        "eval_every": eval_every,
        "eval_episodes": eval_episodes,
        "potential": None if phi is None else repr(phi),
        "shaping_scale": shaping_scale if potential is None and phi is not None else None,
        "env_kwargs": env_kwargs,
        "algo_kwargs": dict(algo_kwargs or {}),
        "obs_norm": obs_norm if obs_norm is None or isinstance(obs_norm, str) else "stats",
        "replay_buffer": getattr(kwargs.get("replay_buffer_class"), "__name__", None),
        "stop_at": stop_at,
    }
    curve = LearningCurve(config=config)
    callback = SuccessCurveCallback(
        eval_env,
        curve,
        eval_every=eval_every,
        eval_episodes=eval_episodes,
        eval_seed=seed + EVAL_SEED_OFFSET,
        total_timesteps=total_timesteps,
        progress_bar=progress_bar,
        log_path=log_path,
        stop_at=stop_at,
    )
    start = time.perf_counter()
    try:
        with scoped_torch_threads(torch_threads):
            model = ALGOS[algo](policy, vec_env, **kwargs)
            if not kwargs.get("tensorboard_log"):
                # SB3's default logger makes an empty tempdir/SB3-<time> folder per run.
                model.set_logger(_quiet_logger(int(kwargs.get("verbose", 0))))
            model.learn(total_timesteps=total_timesteps, callback=callback)
            if model_path is not None:
                model.save(Path(model_path))
    finally:
        vec_env.close()
        eval_env.close()
    config["wall_time_s"] = round(time.perf_counter() - start, 3)
    if log_path is not None:
        curve.to_csv(log_path)
    return curve
