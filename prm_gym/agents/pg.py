r"""Group policy-gradient training (GRPO / RLOO / PRIME) of an LLM policy on text envs.

One iteration of :class:`PGTrainer`:

1. **Sample groups.** ``prompts_per_iteration`` tasks, each played ``K = group_size`` times
   through the env (a sync vector env of ``prompts_per_iteration * K`` copies, the ``K`` copies
   of a group seeded alike so they draw the same task) by an :class:`~prm_gym.agents.LLMAgent`
   on the trainer's :class:`~prm_gym.llm.TransformersBackend`. Each step's token ids and
   sampling log-probs come back in ``info["generation"]``.
2. **Per-step rewards.** From ``info["reward_components"]``: the outcome ``o_i`` of trajectory
   ``i`` (``info["outcome"]`` of its last step) and the process rewards ``p_{i,t}`` (the
   ``process_key`` component). Optionally PURE min-form credit on ``p`` and G-RA gating by the
   outcome (:func:`step_rewards`).
3. **Per-step advantages** ``A_{i,t}`` by GRPO, RLOO or PRIME (:func:`step_advantages`).
4. **Tokens.** Every generated token of step ``t`` gets ``A_{i,t}``
   (:func:`step_advantages_to_tokens`).
5. **Update.** ``epochs`` passes of the clipped surrogate plus a k3 KL penalty to a frozen copy
   of the initial model (:func:`pg_loss`), AdamW, gradient-norm clipping.

torch is imported when a trainer is built; importing this module is free.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from prm_gym.agents.llm_agent import LLMAgent
from prm_gym.agents.rollout import rollout, step_token_counts
from prm_gym.core.transcript import Trajectory
from prm_gym.credit import (
    discounted_returns,
    gated_rewards,
    group_normalized_advantages,
    masked_whiten,
    min_form_rewards,
    prime_advantages,
    rloo_advantages,
)
from prm_gym.llm.base import SamplingParams

if TYPE_CHECKING:
    from prm_gym.distributed import RayVectorEnv

__all__ = [
    "PGConfig",
    "PGTrainer",
    "pg_loss",
    "step_advantages",
    "step_advantages_to_tokens",
    "step_rewards",
]

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
AdvantageKind = Literal["grpo", "rloo", "prime"]
CreditKind = Literal["sum", "min_form"]
EnvSpec = str | Callable[[], gym.Env[Any, Any]]


@dataclass
class PGConfig:
    """Hyper-parameters of :class:`PGTrainer`.

    Attributes:
        group_size: ``K`` episodes per task (``>= 2``).
        prompts_per_iteration: Tasks (groups) per iteration.
        lr: AdamW learning rate.
        weight_decay: AdamW weight decay.
        beta: Coefficient of the k3 KL penalty to the reference model (0 disables it and the
            reference copy).
        clip: PPO clip range ``epsilon``.
        epochs: Optimisation passes over each iteration's samples.
        max_grad_norm: Gradient-norm clip.
        max_new_tokens: Tokens per generated step.
        temperature: Sampling temperature. The ratio uses the backend's log-probs, which are
            the model's own (temperature 1) distribution; with ``temperature != 1`` the samples
            are slightly off-policy for it, as in most GRPO implementations.
        top_p: Nucleus sampling.
        advantage: ``"grpo"``, ``"rloo"`` or ``"prime"`` (see :func:`step_advantages`).
        credit: ``"sum"`` (process rewards as they are) or ``"min_form"`` (PURE).
        min_form_temperature: PURE softmin temperature ``tau``.
        gate: Keep process rewards only in trajectories whose outcome reaches
            ``gate_threshold`` (G-RA).
        gate_threshold: ``Delta`` of the gate.
        process_coef: Weight of the process rewards against the outcome.
        process_key: Name of the process component in ``info["reward_components"]``.
        micro_batch_size: Step sequences per forward pass (``None``: all at once). Samples
            are sorted by length first, so each micro-batch pads to similar lengths; the
            gradient is the same token-weighted sum either way. On CPU, micro-batches of 16-32
            were 2-4x faster than one batch of 160 steps (``benchmarks/llm_learning.py``).
        pack_steps: Train the steps of one trajectory as one sequence wherever each step's
            prompt begins with the previous step's prompt and tokens, token for token (the
            loss and gradient are the same; the shared prefix is encoded once instead of once
            per step). ``False``: one sequence per step.
        system_prompt: Opens every conversation.
        step_stop: Stop strings ending one env step (default: the agent's per-env choice).
        seed: Seeds torch (sampling) and the task draws.
    """

    group_size: int = 4
    prompts_per_iteration: int = 2
    lr: float = 1e-5
    weight_decay: float = 0.0
    beta: float = 0.04
    clip: float = 0.2
    epochs: int = 1
    max_grad_norm: float = 1.0
    max_new_tokens: int = 64
    temperature: float = 1.0
    top_p: float = 1.0
    advantage: AdvantageKind = "grpo"
    credit: CreditKind = "sum"
    min_form_temperature: float = 0.1
    gate: bool = False
    gate_threshold: float = 1.0
    process_coef: float = 1.0
    process_key: str = "process"
    micro_batch_size: int | None = None
    pack_steps: bool = True
    system_prompt: str | None = None
    step_stop: tuple[str, ...] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.group_size < 2:
            raise ValueError(f"group_size must be >= 2 for a group baseline, got {self.group_size}")
        if self.prompts_per_iteration < 1:
            raise ValueError(
                f"prompts_per_iteration must be >= 1, got {self.prompts_per_iteration}"
            )
        if self.advantage not in ("grpo", "rloo", "prime"):
            raise ValueError(f"advantage must be 'grpo', 'rloo' or 'prime', got {self.advantage!r}")
        if self.credit not in ("sum", "min_form"):
            raise ValueError(f"credit must be 'sum' or 'min_form', got {self.credit!r}")
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.clip <= 0 or self.beta < 0:
            raise ValueError(f"need clip > 0 and beta >= 0, got clip={self.clip} beta={self.beta}")
        if self.micro_batch_size is not None and self.micro_batch_size < 1:
            raise ValueError(f"micro_batch_size must be >= 1 or None, got {self.micro_batch_size}")


# ---------------------------------------------------------------------------------------------
# rewards and advantages (NumPy)
# ---------------------------------------------------------------------------------------------
def _padded(rows: Sequence[Sequence[float]]) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    horizon = max((len(r) for r in rows), default=0)
    values = np.zeros((len(rows), max(horizon, 1)), dtype=np.float64)
    mask = np.zeros(values.shape, dtype=np.bool_)
    for i, row in enumerate(rows):
        values[i, : len(row)] = row
        mask[i, : len(row)] = True
    return values, mask


def trajectory_rewards(
    trajectories: Sequence[Trajectory], process_key: str = "process"
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """Outcomes ``(N,)``, process rewards ``(N, T)`` and the step mask ``(N, T)``.

    The outcome is the last step's ``info["outcome"]`` (else the sum of the ``"outcome"``
    component); process rewards are the ``process_key`` component per step (0 where absent).
    Other components (e.g. a :class:`~prm_gym.wrappers.GatedAccumulation` term) are ignored:
    the trainer applies its own credit rules to the raw process rewards.
    """
    outcomes = np.zeros(len(trajectories), dtype=np.float64)
    rows: list[list[float]] = []
    for i, traj in enumerate(trajectories):
        comps = traj.components()
        outcome = traj.outcome
        if outcome is None:
            outcome = float(comps["outcome"].sum()) if "outcome" in comps else 0.0
        outcomes[i] = float(outcome)
        process = comps.get(process_key)
        rows.append(
            [float(v) for v in process] if process is not None else [0.0] * len(traj.actions)
        )
    process_rewards, mask = _padded(rows)
    return outcomes, process_rewards, mask


def step_rewards(
    process_rewards: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    mask: npt.ArrayLike,
    *,
    credit: CreditKind = "sum",
    min_form_temperature: float = 0.1,
    gate: bool = False,
    gate_threshold: float = 1.0,
) -> FloatArray:
    r"""Process rewards after the trajectory-level credit rules, ``(N, T)``, 0 off the mask.

    * ``credit="min_form"``: PURE, :math:`\tilde p_{i,t} = w_{i,t} p_{i,t}` with
      :math:`w_i = \mathrm{softmax}(-p_i/\tau)` over the steps (Cheng et al., "Stop Summation:
      Min-Form Credit Assignment Is All Process Reward Model Needs for Reasoning", 2025), via
      :func:`prm_gym.credit.min_form_rewards`.
    * ``gate=True``: G-RA, :math:`\tilde p_{i,t} \leftarrow \tilde p_{i,t}\,\mathbb 1[o_i \ge
      \Delta]` (Sun et al., "Stabilizing Long-term Multi-turn Reinforcement Learning with Gated
      Rewards", 2025), via :func:`prm_gym.credit.gated_rewards`.

    Example:
        >>> step_rewards([[1.0, -1.0]], [0.0], [[True, True]], gate=True).tolist()
        [[0.0, 0.0]]
    """
    valid = np.asarray(mask, dtype=np.bool_)
    rewards = np.where(valid, np.asarray(process_rewards, dtype=np.float64), 0.0)
    if credit == "min_form":
        rewards = min_form_rewards(rewards, min_form_temperature, valid)
    elif credit != "sum":
        raise ValueError(f"credit must be 'sum' or 'min_form', got {credit!r}")
    if gate:
        rewards = gated_rewards(rewards, outcomes, gate_threshold)
    return np.where(valid, rewards, 0.0)


def step_advantages(
    process_rewards: npt.ArrayLike,
    outcomes: npt.ArrayLike,
    mask: npt.ArrayLike,
    group_size: int,
    *,
    advantage: AdvantageKind = "grpo",
    process_coef: float = 1.0,
) -> FloatArray:
    r"""Per-step advantages ``(N, T)`` from process rewards and outcomes of groups of ``K``.

    Rows ``gK .. gK + K - 1`` are the ``K`` samples of task ``g``; ``c_p`` is
    ``process_coef``; returns use :math:`\gamma = 1`.

    * ``"grpo"`` (Shao et al., "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in
      Open Language Models", 2024, §4.1.2-4.1.3): the outcome advantage
      :math:`(o_i - \mu_g)/(\sigma_g + \varepsilon)` is given to every step (outcome
      supervision), plus process supervision: step rewards normalised over all steps of the
      group, :math:`\hat p = (p - \mathrm{mean})/\mathrm{std}` (pooled over the group's real
      steps, unbiased std, via :func:`prm_gym.credit.masked_whiten`), summed to go,
      :math:`A^p_{i,t} = c_p \sum_{s \ge t} \hat p_{i,s}`.
    * ``"rloo"`` (Ahmadian et al., "Back to Basics: Revisiting REINFORCE Style Optimization for
      Learning from Human Feedback in LLMs", 2024; Kool et al., "Buy 4 REINFORCE Samples, Get a
      Baseline for Free!", 2019): :math:`o_i - \frac{1}{K-1}\sum_{j \ne i} o_j` on every step,
      plus :math:`A^p_{i,t} = c_p \sum_{s \ge t} (p_{i,s} - \frac{1}{K-1}\sum_{j \ne i} m_j)`
      where :math:`m_j` is sample ``j``'s mean step reward (the leave-one-out baseline).
    * ``"prime"`` (Cui et al., "Process Reinforcement through Implicit Rewards", 2025): RLOO
      per source, returns, then whitening, exactly
      :func:`prm_gym.credit.prime_advantages` with ``process_coef``.

    Example:
        >>> step_advantages([[0.0], [0.0]], [1.0, 0.0], [[True], [True]], 2,
        ...                 advantage="rloo").tolist()
        [[1.0], [-1.0]]
    """
    valid = np.asarray(mask, dtype=np.bool_)
    process = np.where(valid, np.asarray(process_rewards, dtype=np.float64), 0.0)
    final = np.asarray(outcomes, dtype=np.float64)
    n_rows = process.shape[0]
    if group_size < 2 or n_rows % group_size:
        raise ValueError(f"{n_rows} rows do not form groups of group_size={group_size} >= 2")
    if advantage == "prime":
        advantages, _ = prime_advantages(process, final, valid, group_size, process_coef)
        return advantages
    groups = final.reshape(-1, group_size)
    if advantage == "grpo":
        outcome_adv = group_normalized_advantages(groups, axis=-1).reshape(-1)
        centred = np.concatenate(
            [
                masked_whiten(process[g : g + group_size], valid[g : g + group_size])
                for g in range(0, n_rows, group_size)
            ]
        )
    elif advantage == "rloo":
        counts = valid.sum(axis=-1)
        means = np.divide(
            process.sum(axis=-1), counts, out=np.zeros(n_rows), where=counts > 0
        ).reshape(-1, group_size)
        outcome_adv = rloo_advantages(groups, axis=-1).reshape(-1)
        # p - mean_{j != i} m_j = (p - m_i) + RLOO(m)_i
        baseline = means.reshape(-1) - rloo_advantages(means, axis=-1).reshape(-1)
        centred = process - baseline[:, np.newaxis]
    else:
        raise ValueError(f"advantage must be 'grpo', 'rloo' or 'prime', got {advantage!r}")
    process_adv = process_coef * discounted_returns(centred, 1.0, valid)
    return np.where(valid, outcome_adv[:, np.newaxis] + process_adv, 0.0)


def step_advantages_to_tokens(
    advantages: Sequence[float] | npt.ArrayLike, token_counts: Sequence[int]
) -> FloatArray:
    """One advantage per generated token: step ``t``'s advantage on each of its tokens.

    Unlike :func:`~prm_gym.agents.token_level_rewards` (a reward on a step's last token), an
    advantage is already a return-to-go estimate, so every token of the step shares it.

    Args:
        advantages: One advantage per step (a row of :func:`step_advantages`; extra padded
            entries after the last step are ignored).
        token_counts: Generated tokens per step (:func:`~prm_gym.agents.step_token_counts`).

    Example:
        >>> step_advantages_to_tokens([0.5, -1.0], [2, 3]).tolist()
        [0.5, 0.5, -1.0, -1.0, -1.0]
    """
    values = np.asarray(advantages, dtype=np.float64).reshape(-1)
    if len(values) < len(token_counts):
        raise ValueError(f"got {len(values)} step advantages for {len(token_counts)} steps")
    if any(int(c) < 0 for c in token_counts):
        raise ValueError(f"token counts must be >= 0, got {list(token_counts)}")
    return np.repeat(values[: len(token_counts)], np.asarray(token_counts, dtype=np.int64))


def pg_loss(
    logprobs: Any,
    old_logprobs: Any,
    ref_logprobs: Any | None,
    advantages: Any,
    mask: Any,
    clip: float = 0.2,
    beta: float = 0.0,
) -> tuple[Any, dict[str, float]]:
    r"""Clipped policy-gradient loss with a k3 KL penalty, averaged over all tokens (torch).

    .. math:: \rho_t = \exp(\log\pi_\theta(y_t) - \log\pi_{\mathrm{old}}(y_t)), \qquad
              \ell^{\mathrm{pg}}_t = -\min(\rho_t A_t,\ \mathrm{clip}(\rho_t, 1-\epsilon,
              1+\epsilon) A_t)

    (Schulman et al., "Proximal Policy Optimization Algorithms", 2017), and with
    :math:`\delta_t = \log\pi_{\mathrm{ref}}(y_t) - \log\pi_\theta(y_t)` the k3 estimator
    :math:`\mathrm{KL}_t = e^{\delta_t} - \delta_t - 1 \ge 0` (Schulman, "Approximating KL
    Divergence", 2020; used as in GRPO, Shao et al., "DeepSeekMath", 2024). The loss is
    :math:`\sum_t m_t(\ell^{\mathrm{pg}}_t + \beta\,\mathrm{KL}_t) / \sum_t m_t`, a token-level
    mean over the batch (Yu et al., "DAPO: An Open-Source LLM Reinforcement Learning System at
    Scale", 2025), so long steps are not down-weighted per token.

    All tensors have shape ``(B, L)``; ``mask`` is 1 on generated tokens.

    Returns:
        ``(loss, stats)`` with ``stats`` = ``pg_loss``, ``kl``, ``clip_frac`` (floats).
    """
    import torch

    mask = mask.to(logprobs.dtype)
    count = mask.sum().clamp(min=1.0)
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = torch.clamp(ratio, 1.0 - clip, 1.0 + clip) * advantages
    per_token = -torch.min(unclipped, clipped)
    if ref_logprobs is not None:
        delta = ref_logprobs - logprobs
        kl = torch.exp(delta) - delta - 1.0
    else:
        kl = torch.zeros_like(logprobs)
    loss = ((per_token + beta * kl) * mask).sum() / count
    clip_frac = (((ratio - 1.0).abs() > clip).to(mask.dtype) * mask).sum() / count
    stats = {
        "pg_loss": float(((per_token * mask).sum() / count).detach()),
        "kl": float(((kl * mask).sum() / count).detach()),
        "clip_frac": float(clip_frac.detach()),
    }
    return loss, stats


# ---------------------------------------------------------------------------------------------
# trainer
# ---------------------------------------------------------------------------------------------
@dataclass
class _Sample:
    """One sequence to train on: a prompt, then ``token_ids``. Position ``i`` of ``token_ids``
    is trained to predict ``targets[i]`` (the token itself, except where a packed sequence
    replaced a generated stop token by the chat template's; see :meth:`PGTrainer._samples`),
    with sampling log-prob ``old_logprobs[i]`` and advantage ``advantages[i]``. ``mask[i]`` is 1
    where the target was generated by the policy; a packed sample also holds the later steps'
    prompt tokens, with mask 0 (and log-prob and advantage 0)."""

    prompt_ids: list[int]
    token_ids: list[int]
    old_logprobs: list[float]
    advantages: FloatArray
    mask: list[int]
    targets: list[int]

    @property
    def generated(self) -> int:
        return sum(self.mask)


def _env_factory(env: EnvSpec) -> Callable[[], gym.Env[Any, Any]]:
    if isinstance(env, str):
        env_id = env
        return lambda: gym.make(env_id)
    if not callable(env):
        raise TypeError("env_fn_or_id must be a registered env id or a callable returning an env")
    return env


class PGTrainer:
    """GRPO / RLOO / PRIME policy-gradient trainer for an LLM policy on a text env.

    See the module docstring for one iteration, :func:`step_rewards` for the credit rules
    (PURE min-form, G-RA gating), :func:`step_advantages` for the estimators and
    :func:`pg_loss` for the objective. The policy is ``backend.model``, updated in place (the
    backend keeps generating with the new weights); the model stays in eval mode, so dropout is
    off and the sampling log-probs match the training forward pass. Device: the backend's.

    Args:
        backend: A :class:`~prm_gym.llm.TransformersBackend` (needs public ``model``,
            ``tokenizer``, ``device``, ``pad_token_id``).
        env_fn_or_id: A registered env id or a zero-argument callable building the (wrapped)
            env, e.g. ``lambda: ProcessReward(gym.make("prm/Math-v0"), RuleVerifier())``.
        env_backend: ``"local"`` (a sync vector env here) or ``"ray"``: the rollout phase's
            sub-envs run as Ray env workers (:class:`prm_gym.distributed.RayVectorEnv`), with the
            same trajectories for the same seeds.
        config: Hyper-parameters (default :class:`PGConfig`).

    Example:
        >>> from prm_gym.agents.pg import PGConfig, PGTrainer
        >>> from prm_gym.llm import TransformersBackend
        >>> from prm_gym.llm.tiny import tiny_causal_lm
        >>> import prm_gym
        >>> trainer = PGTrainer(TransformersBackend(*tiny_causal_lm()), "prm/Math-v0",
        ...                     PGConfig(group_size=2, prompts_per_iteration=1, max_new_tokens=4))
        >>> trainer.config.advantage
        'grpo'
    """

    def __init__(
        self,
        backend: Any,
        env_fn_or_id: EnvSpec,
        config: PGConfig | None = None,
        *,
        env_backend: str = "local",
    ) -> None:
        import torch

        self._torch = torch
        self.backend = backend
        self.config = config or PGConfig()
        self.model = backend.model
        self.device = backend.device
        cfg = self.config
        self.env_fn = _env_factory(env_fn_or_id)
        n_envs = cfg.prompts_per_iteration * cfg.group_size
        if env_backend not in ("local", "ray"):
            raise ValueError(f"env_backend must be 'local' or 'ray', got {env_backend!r}")
        if env_backend == "ray":
            from prm_gym.distributed import RayVectorEnv

            self.env: gym.vector.SyncVectorEnv | RayVectorEnv = RayVectorEnv(self.env_fn, n_envs)
            spec = self.env.spec
        else:
            self.env = gym.vector.SyncVectorEnv(
                [self.env_fn for _ in range(n_envs)],
                autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP,
            )
            spec = self.env.envs[0].spec
        env_id = spec.id if spec is not None else None
        params = SamplingParams(
            max_tokens=cfg.max_new_tokens, temperature=cfg.temperature, top_p=cfg.top_p
        )
        self.agent = LLMAgent(backend, params, cfg.system_prompt, cfg.step_stop, env_id=env_id)
        self.reference = None
        if cfg.beta > 0:
            self.reference = copy.deepcopy(self.model).eval()
            self.reference.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad],
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
        )
        self._rng = np.random.default_rng(cfg.seed)
        torch.manual_seed(cfg.seed)
        self.iteration = 0
        self.history: list[dict[str, float]] = []

    # -- sampling -----------------------------------------------------------------------------
    def collect(self) -> list[Trajectory]:
        """Play one iteration's groups; rows ``gK .. gK + K - 1`` share task ``g``."""
        cfg = self.config
        group_seeds = self._rng.integers(0, 2**31 - 1, size=cfg.prompts_per_iteration)
        seeds: list[int | None] = [int(s) for s in group_seeds for _ in range(cfg.group_size)]
        # Seed each sub-env, then let rollout() reset them unseeded: copies seeded alike draw
        # the same next task from their identical RNG state.
        self.env.reset(seed=seeds)
        return rollout(self.env, self.agent, self.env.num_envs, progress=False)

    def advantages(self, trajectories: Sequence[Trajectory]) -> FloatArray:
        """Per-step advantages ``(N, T)`` of grouped trajectories, per the config."""
        cfg = self.config
        outcomes, process, mask = trajectory_rewards(trajectories, cfg.process_key)
        shaped = step_rewards(
            process,
            outcomes,
            mask,
            credit=cfg.credit,
            min_form_temperature=cfg.min_form_temperature,
            gate=cfg.gate,
            gate_threshold=cfg.gate_threshold,
        )
        return step_advantages(
            shaped,
            outcomes,
            mask,
            cfg.group_size,
            advantage=cfg.advantage,
            process_coef=cfg.process_coef,
        )

    def _samples(self, trajectories: Sequence[Trajectory], advantages: FloatArray) -> list[_Sample]:
        """The training sequences of ``trajectories``: one per step, or with
        ``PGConfig.pack_steps`` one per run of steps whose prompts extend each other.

        Step ``t + 1``'s prompt usually begins with step ``t``'s prompt and tokens (the chat
        history grows at its end), so both steps fit in one sequence: the causal log-probs at
        step ``t + 1``'s positions are those of its own sequence, and the loss (a mean over
        generated tokens) is unchanged, while the shared prefix is encoded once instead of once
        per step. The history may differ in step ``t``'s last token alone: a chat template
        renders the stop token the policy generated (a newline, say) as its end-of-turn marker.
        The sequence then holds the template's token, and that position is trained on the
        generated one: its log-prob depends only on the tokens before it, which agree. Where
        the prompt differs earlier (the history was re-tokenised, or cut to fit the context),
        a new sequence starts.
        """
        samples: list[_Sample] = []
        for traj, row in zip(trajectories, advantages, strict=True):
            counts = step_token_counts(traj)
            per_token = step_advantages_to_tokens(row, counts)
            start = 0
            current: _Sample | None = None
            for info, count in zip(traj.infos, counts, strict=True):
                gen = info["generation"]
                if count:
                    prompt = list(gen["prompt_token_ids"])
                    tokens = list(gen["token_ids"])
                    logprobs = [float(x) for x in gen["logprobs"]]
                    adv = per_token[start : start + count]
                    if current is not None and self._extends(current, prompt):
                        n = len(current.prompt_ids) + len(current.token_ids)
                        current.token_ids[-1] = prompt[n - 1]  # the input; its target stays
                        gap = prompt[n:]
                        current.token_ids += gap + tokens
                        current.targets += gap + tokens
                        current.old_logprobs += [0.0] * len(gap) + logprobs
                        current.advantages = np.concatenate(
                            [current.advantages, np.zeros(len(gap)), adv]
                        )
                        current.mask += [0] * len(gap) + [1] * count
                    else:
                        current = _Sample(prompt, tokens, logprobs, adv, [1] * count, tokens[:])
                        samples.append(current)
                start += count
        return samples

    def _extends(self, sample: _Sample, prompt: Sequence[int]) -> bool:
        """Whether ``prompt`` continues ``sample``'s sequence, all but its last token equal."""
        if not self.config.pack_steps:
            return False
        n = len(sample.prompt_ids) + len(sample.token_ids)
        k = len(sample.prompt_ids)
        return (
            len(prompt) > n
            and list(prompt[:k]) == sample.prompt_ids
            and list(prompt[k : n - 1]) == sample.token_ids[:-1]
        )

    # -- optimisation -------------------------------------------------------------------------
    def _batch(self, samples: Sequence[_Sample]) -> dict[str, Any]:
        torch = self._torch
        width = max(len(s.prompt_ids) + len(s.token_ids) for s in samples)
        n = len(samples)
        ids = torch.full((n, width), int(self.backend.pad_token_id), dtype=torch.long)
        attention = torch.zeros((n, width), dtype=torch.long)
        # Per-token tensors are aligned with the next tokens ids[:, 1:] (targets: what each
        # position is trained to predict, the next token except at a replaced stop token).
        mask = torch.zeros((n, width - 1))
        old = torch.zeros((n, width - 1))
        adv = torch.zeros((n, width - 1))
        targets = torch.zeros((n, width - 1), dtype=torch.long)
        for i, s in enumerate(samples):
            seq = s.prompt_ids + s.token_ids
            ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
            attention[i, : len(seq)] = 1
            lo, hi = len(s.prompt_ids) - 1, len(seq) - 1
            mask[i, lo:hi] = torch.tensor(s.mask, dtype=torch.float32)
            old[i, lo:hi] = torch.tensor(s.old_logprobs, dtype=torch.float32)
            adv[i, lo:hi] = torch.tensor(s.advantages, dtype=torch.float32)
            targets[i, lo:hi] = torch.tensor(s.targets, dtype=torch.long)
        tensors = {
            "ids": ids,
            "attention": attention,
            "mask": mask,
            "old": old,
            "adv": adv,
            "targets": targets,
        }
        return {k: v.to(self.device) for k, v in tensors.items()}

    def _token_logprobs(self, model: Any, batch: dict[str, Any]) -> Any:
        """Log-probs ``(B, L - 1)`` of ``targets`` (``ids[:, 1:]`` but where a packed sequence's
        input is not the generated token); 0 off the mask.

        The softmax runs only at the generated positions: prompts are most of each sequence,
        and a full-vocabulary ``log_softmax`` over them would be wasted work.
        """
        torch = self._torch
        logits = model(input_ids=batch["ids"], attention_mask=batch["attention"]).logits
        keep = batch["mask"] > 0
        rows = torch.log_softmax(logits[:, :-1][keep].float(), dim=-1)
        picked = rows.gather(-1, batch["targets"][keep][:, None]).squeeze(-1)
        out = torch.zeros(keep.shape, dtype=picked.dtype, device=picked.device)
        return out.masked_scatter(keep, picked)

    def update(self, samples: Sequence[_Sample]) -> dict[str, float]:
        """``epochs`` optimiser steps on the samples (gradients accumulated over micro-batches)."""
        torch = self._torch
        cfg = self.config
        size = cfg.micro_batch_size or len(samples)
        # Length-sorted micro-batches pad less; the gradient is the same token-weighted sum.
        samples = sorted(samples, key=lambda s: len(s.prompt_ids) + len(s.token_ids))
        batches = [self._batch(samples[i : i + size]) for i in range(0, len(samples), size)]
        total_tokens = float(sum(float(b["mask"].sum()) for b in batches)) or 1.0
        refs: list[Any] = []
        if self.reference is not None:
            with torch.no_grad():
                refs = [self._token_logprobs(self.reference, b) for b in batches]
        totals = {"loss": 0.0, "pg_loss": 0.0, "kl": 0.0, "clip_frac": 0.0, "grad_norm": 0.0}
        for _ in range(cfg.epochs):
            self.optimizer.zero_grad(set_to_none=True)
            for k, batch in enumerate(batches):
                logps = self._token_logprobs(self.model, batch)
                loss, stats = pg_loss(
                    logps,
                    batch["old"],
                    refs[k] if refs else None,
                    batch["adv"],
                    batch["mask"],
                    clip=cfg.clip,
                    beta=cfg.beta,
                )
                weight = float(batch["mask"].sum()) / total_tokens
                (loss * weight).backward()
                totals["loss"] += float(loss.detach()) * weight / cfg.epochs
                for key, value in stats.items():
                    totals[key] += value * weight / cfg.epochs
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.max_grad_norm)
            totals["grad_norm"] += float(norm) / cfg.epochs
            self.optimizer.step()
        return totals

    def step(self) -> dict[str, float]:
        """One iteration: sample groups, compute advantages, update. Returns its metrics."""
        trajectories = self.collect()
        advantages = self.advantages(trajectories)
        outcomes, process, _ = trajectory_rewards(trajectories, self.config.process_key)
        samples = self._samples(trajectories, advantages)
        stats = self.update(samples) if samples else {}
        self.iteration += 1
        groups = outcomes.reshape(-1, self.config.group_size)
        sampled = [-lp for s in samples for lp, m in zip(s.old_logprobs, s.mask, strict=True) if m]
        record: dict[str, float] = {
            "iteration": float(self.iteration),
            "reward": float(np.mean([t.total_reward for t in trajectories])),
            "outcome": float(outcomes.mean()),
            "process": float(process.sum(axis=-1).mean()),
            "steps": float(np.mean([len(t.actions) for t in trajectories])),
            "tokens": float(sum(s.generated for s in samples)),
            # Groups whose outcomes are all equal: no outcome signal (GRPO's advantage is 0).
            "zero_var_groups": float(np.mean(groups.max(axis=1) == groups.min(axis=1))),
            # Mean negative log-prob of the sampled tokens: a one-sample entropy estimate.
            "sampled_nll": float(np.mean(sampled)) if sampled else 0.0,
            **stats,
        }
        return record

    def train(
        self,
        iterations: int,
        progress: bool = True,
        callbacks: Sequence[Callable[[dict[str, float]], Any]] = (),
    ) -> list[dict[str, float]]:
        """Run ``iterations`` iterations; return (and append to ``self.history``) their metrics.

        Each record has ``iteration``, ``reward`` (mean episode return as the env paid it),
        ``outcome``, ``process`` (mean episode sum of the raw process component), ``loss``,
        ``pg_loss``, ``kl``, ``clip_frac``, ``grad_norm``, ``steps``, ``tokens``,
        ``zero_var_groups`` (share of groups whose ``K`` outcomes are all equal, so the outcome
        gives them no signal) and ``sampled_nll`` (mean negative sampling log-prob per generated
        token, a one-sample estimate of the policy's entropy: a fall towards 0 is collapse).
        Every record is logged at INFO level and passed to each callback.

        Args:
            iterations: Number of iterations (>= 1).
            progress: Show a tqdm bar on stderr.
            callbacks: Called with each iteration's record.
        """
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        from tqdm.auto import tqdm

        out = []
        with tqdm(total=iterations, desc="pg", unit="it", disable=not progress) as bar:
            for _ in range(iterations):
                record = self.step()
                out.append(record)
                self.history.append(record)
                logger.info("pg iteration %d: %s", self.iteration, record)
                for callback in callbacks:
                    callback(record)
                bar.set_postfix(reward=f"{record['reward']:.3f}", kl=f"{record.get('kl', 0):.4f}")
                bar.update(1)
        return out

    def config_dict(self) -> dict[str, Any]:
        """The config as a plain dict (for logging next to the history)."""
        return asdict(self.config)

    def close(self) -> None:
        """Close the trainer's envs."""
        self.env.close()
