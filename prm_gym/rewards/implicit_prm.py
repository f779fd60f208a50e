"""The implicit process reward model: step rewards from two language models' log-ratio.

A causal LM πθ trained only on outcome labels, read against a frozen reference πref, gives a
process reward for free ("Free Process Rewards without Process Labels", Yuan et al., 2024;
"Process Reinforcement through Implicit Rewards", Cui et al., 2025 -- PRIME). For a response
``y`` to prompt ``x`` the token reward is

.. math:: r_t = \\beta\\, q_t, \\qquad q_t = \\log \\pi_\\theta(y_t \\mid x, y_{<t})
          - \\log \\pi_{\\mathrm{ref}}(y_t \\mid x, y_{<t}),

and with ``Q_k`` the sum of ``r_t`` over the tokens up to the end of step ``k``, the step
reward is ``Q_k − Q_{k−1}`` (``mode="single"``) or ``Q_k`` (``"accumulative"``). Training is
outcome-only: ``BCE(σ(β Σ_t q_t), outcome)`` over rollouts (:func:`implicit_prm_loss`,
:func:`train_implicit_prm`).

:class:`ImplicitPRM` talks to the two models through the backend protocol
(:meth:`~prm_gym.llm.LLMBackend.logprobs`), so any pair of backends works. ``Q_k`` is computed
as β times the log-ratio of the whole prefix ``y_{≤k}`` (the steps so far, each followed by
``step_separator``), which equals the token sum above for the prefix's own tokenisation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.llm.base import LLMBackend, Prompt

if TYPE_CHECKING:
    import torch

__all__ = ["ImplicitPRM", "implicit_prm_loss", "sequence_logprobs", "train_implicit_prm"]


class ImplicitPRM:
    """Step rewards β·log πθ/πref from a policy backend and a reference backend.

    Args:
        policy: Backend of the trained implicit PRM πθ (``logprobs`` is all that is used).
        reference: Backend of the reference model πref.
        beta: β (PRIME: 0.05 during RL, 0.1 for the standalone implicit PRM).
        mode: ``"single"`` (``Q_k − Q_{k−1}``) or ``"accumulative"`` (``Q_k``).
        step_separator: Written after every step when building the response text.
        prompt_fn: Builds the backend prompt from the task prompt (default: the text itself;
            e.g. ``lambda p: [{"role": "user", "content": p}]`` for a chat model).
        cache: Remember each ``(prompt, response prefix)``'s reward, so that ``Q_{k−1}``,
            already computed when step ``k − 1`` was scored, is not computed again (half the
            forward passes of a multi-step episode in ``"single"`` mode). The remembered values
            belong to the models' current weights: call :meth:`clear_cache` whenever either
            model changes (after each :func:`train_implicit_prm`), or the rewards are stale.

    Example:
        >>> from prm_gym.core import StepContext
        >>> class Fixed:  # a stand-in backend: every character has log-probability -1 or -2
        ...     def __init__(self, lp): self.lp = lp
        ...     def logprobs(self, prompts, conts): return [[self.lp] * len(c) for c in conts]
        >>> prm = ImplicitPRM(Fixed(-1.0), Fixed(-2.0), beta=0.1, step_separator="")
        >>> round(float(prm.score([StepContext("q", ("ab",), "cde")])[0]), 6)  # 0.1·3·(−1 + 2)
        0.3
    """

    def __init__(
        self,
        policy: LLMBackend,
        reference: LLMBackend,
        *,
        beta: float = 0.05,
        mode: Literal["single", "accumulative"] = "single",
        step_separator: str = "\n",
        prompt_fn: Callable[[str], Prompt] | None = None,
        cache: bool = False,
    ) -> None:
        if mode not in ("single", "accumulative"):
            raise ValueError(f"mode must be 'single' or 'accumulative', got {mode!r}")
        self.policy = policy
        self.reference = reference
        self.beta = beta
        self.mode = mode
        self.step_separator = step_separator
        self.prompt_fn = prompt_fn
        self.cache = cache
        self._cached: dict[tuple[str, str], float] = {}

    def clear_cache(self) -> None:
        """Forget the remembered rewards (``cache=True``): call it when a model's weights change."""
        self._cached.clear()

    def response_text(self, steps: Sequence[str]) -> str:
        """The response prefix ``y_{≤k}`` for ``steps``: each step then the separator."""
        return "".join(f"{step}{self.step_separator}" for step in steps)

    def prefix_rewards(self, prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
        """``β · (log πθ(y|x) − log πref(y|x))`` per (prompt, response), float64."""
        keys = list(zip(prompts, responses, strict=True))  # ValueError on a length mismatch
        todo = list(dict.fromkeys(k for k in keys if k not in self._cached))
        if todo:
            rendered = [self.prompt_fn(p) if self.prompt_fn else p for p, _ in todo]
            pol = self.policy.logprobs(rendered, [r for _, r in todo])
            ref = self.reference.logprobs(rendered, [r for _, r in todo])
            fresh = {
                key: self.beta * (float(np.sum(a)) - float(np.sum(b)))
                for key, a, b in zip(todo, pol, ref, strict=True)
            }
        else:
            fresh = {}
        values = np.asarray(
            [fresh[k] if k in fresh else self._cached[k] for k in keys], dtype=np.float64
        )
        if self.cache:
            if len(self._cached) > 1_000_000:  # a bound on memory for callers that never clear
                self._cached.clear()
            self._cached.update(fresh)
        return values

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """``Q_k − Q_{k−1}`` or ``Q_k`` for each context's step, float32 (one call per model)."""
        prompts: list[str] = []
        responses: list[str] = []
        for ctx in contexts:
            prompts.append(ctx.prompt)
            responses.append(self.response_text([*ctx.previous_steps, ctx.action]))
        needs_previous = [
            i for i, ctx in enumerate(contexts) if self.mode == "single" and ctx.previous_steps
        ]
        for i in needs_previous:
            prompts.append(contexts[i].prompt)
            responses.append(self.response_text(contexts[i].previous_steps))
        q = self.prefix_rewards(prompts, responses)
        out = q[: len(contexts)].copy()
        for j, i in enumerate(needs_previous):
            out[i] -= q[len(contexts) + j]
        return out.astype(np.float32)


def sequence_logprobs(
    model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, response_mask: torch.Tensor
) -> torch.Tensor:
    """Per-token log-probabilities of ``input_ids[:, 1:]``, zeroed outside ``response_mask``.

    Returns shape ``(B, L − 1)``: entry ``t`` is ``log p(input_ids[:, t + 1])`` times
    ``response_mask[:, t + 1]``.
    """
    import torch

    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    logits = model(
        input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids
    ).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    token_logp = logp.gather(-1, input_ids[:, 1:, None]).squeeze(-1)
    return token_logp * response_mask[:, 1:].to(token_logp.dtype)


def implicit_prm_loss(
    policy_logprobs: torch.Tensor,
    reference_logprobs: torch.Tensor,
    outcomes: torch.Tensor,
    beta: float = 0.05,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Outcome-only implicit-PRM loss: ``BCE(σ(β Σ_t q_t), outcome)``, averaged over rollouts.

    .. math:: \mathcal{L} = -\frac{1}{B}\sum_b \left[o_b \log \sigma(R_b)
              + (1 - o_b) \log(1 - \sigma(R_b))\right], \qquad
              R_b = \beta \sum_t m_{bt} \left(\log \pi_\theta - \log \pi_{\mathrm{ref}}\right)_{bt}

    (Yuan et al., 2024; PRIME, 2025.) ``policy_logprobs`` and ``reference_logprobs`` have shape
    ``(B, T)``; ``mask`` (same shape, default all ones) marks response tokens; ``outcomes`` is
    ``(B,)`` in ``[0, 1]``.
    """
    import torch

    ratio = policy_logprobs - reference_logprobs.detach()
    if mask is not None:
        ratio = ratio * mask.to(ratio.dtype)
    reward = beta * ratio.sum(dim=-1)
    return torch.nn.functional.binary_cross_entropy_with_logits(reward, outcomes.to(reward.dtype))


def train_implicit_prm(
    model: Any,
    reference: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    responses: Sequence[str],
    outcomes: Sequence[float],
    *,
    beta: float = 0.05,
    lr: float = 1e-4,
    epochs: int = 1,
    batch_size: int = 8,
    seed: int = 0,
) -> list[float]:
    """Fit πθ (``model``, trained in place) on rollouts with outcome labels; returns batch losses.

    Each rollout is ``prompt + response`` tokenised as one text, with the response's tokens
    (those after the prompt's own tokenisation) entering the loss; ``reference`` stays frozen.
    Adam, mini-batches in a seeded random order. The batches go to ``model``'s device;
    ``reference`` must be on the same one.
    """
    import torch

    if not len(prompts) == len(responses) == len(outcomes):
        raise ValueError("prompts, responses and outcomes must have the same length")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    rows: list[tuple[list[int], int]] = []
    for prompt, response in zip(prompts, responses, strict=True):
        p_ids = list(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        r_ids = list(tokenizer(response, add_special_tokens=False)["input_ids"])
        if not p_ids or not r_ids:
            raise ValueError("every prompt and response must tokenise to at least one token")
        rows.append((p_ids + r_ids, len(p_ids)))
    reference.eval()
    model.train()
    device = next(model.parameters()).device  # batches go where the models are (cpu, cuda)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor(list(outcomes), dtype=torch.float32, device=device)
    losses: list[float] = []
    for _ in range(epochs):
        order = torch.randperm(len(rows), generator=generator).tolist()
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            ids, attn, resp = (
                t.to(device)
                for t in _right_padded([rows[i] for i in chosen], int(tokenizer.pad_token_id))
            )
            with torch.no_grad():
                ref_lp = sequence_logprobs(reference, ids, attn, resp)
            pol_lp = sequence_logprobs(model, ids, attn, resp)
            loss = implicit_prm_loss(pol_lp, ref_lp, labels[chosen], beta=beta)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
    model.eval()
    return losses


def _right_padded(
    rows: Sequence[tuple[list[int], int]], pad_id: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    import torch

    width = max(len(ids) for ids, _ in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attn = torch.zeros((len(rows), width), dtype=torch.long)
    resp = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (row, n_prompt) in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        attn[i, : len(row)] = 1
        resp[i, n_prompt : len(row)] = 1
    return ids, attn, resp
