"""A MaskablePPO policy for choice-slot observations (``ChoiceActions`` + ``TextFeatures``).

With ``TextFeatures(env, dim=D, choice_dim=C)`` over ``ChoiceActions(env, max_choices=K)`` an
observation is ``D`` page features followed by ``K`` slots of ``C + 4`` numbers (the hashed
candidate action, a "slot filled" flag, two overlaps with the instruction and a taken count; see
:class:`~prm_gym.wrappers.TextFeatures`). A plain ``MlpPolicy`` has to learn each of the ``K``
output logits separately, so it learns slowly which index does what. :class:`SlotPolicy` scores
every slot with one network shared by the slots (the page embedding is an extra input of each
slot), so what it learns about "a slot that names the instruction's colour" holds at any index:
the logits are permutation-equivariant in the slots. The critic pools the embeddings of the
filled slots (max) next to the page embedding.

Example:
    >>> from sb3_contrib import MaskablePPO
    >>> from prm_gym.agents.slot_policy import SlotPolicy
    >>> from prm_gym.envs.webshop import WebShopEnv
    >>> from prm_gym.wrappers import ChoiceActions, TextFeatures
    >>> env = TextFeatures(ChoiceActions(WebShopEnv(num_products=40), max_choices=20),
    ...                    dim=64, choice_dim=16)
    >>> model = MaskablePPO(SlotPolicy, env, n_steps=64, batch_size=32,
    ...                     policy_kwargs=SlotPolicy.kwargs_for(env))
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from torch import nn

__all__ = ["SlotPolicy", "SlotScorer"]

#: Numbers per slot after the hashed action: filled flag, two overlaps, taken count.
SLOT_EXTRA = 4


class SlotScorer(nn.Module):
    """Policy/value body: one logit per choice slot from a network shared by all slots.

    Args:
        page_dim: Leading page features (``TextFeatures``' ``dim``).
        num_slots: Choice slots ``K`` (``ChoiceActions``' ``max_choices``).
        slot_dim: Numbers per slot (``choice_dim + 4``).
        hidden: Width of the page, slot and value layers.
    """

    def __init__(self, page_dim: int, num_slots: int, slot_dim: int, hidden: int = 64) -> None:
        super().__init__()
        if slot_dim <= SLOT_EXTRA:
            raise ValueError(
                f"slot_dim must exceed {SLOT_EXTRA} (TextFeatures with choice_dim > 0), got "
                f"{slot_dim}"
            )
        self.page_dim, self.num_slots, self.slot_dim = page_dim, num_slots, slot_dim
        self.page = nn.Sequential(nn.Linear(page_dim, hidden), nn.Tanh())
        self.slot = nn.Sequential(nn.Linear(slot_dim + hidden, hidden), nn.Tanh())
        self.score = nn.Linear(hidden, 1)
        self.value = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.Tanh())
        self.latent_dim_pi, self.latent_dim_vf = num_slots, hidden

    def _embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        page = self.page(x[:, : self.page_dim])
        slots = x[:, self.page_dim :].reshape(-1, self.num_slots, self.slot_dim)
        joined = torch.cat([slots, page.unsqueeze(1).expand(-1, self.num_slots, -1)], dim=-1)
        return page, slots, self.slot(joined)

    def forward_actor(self, x: torch.Tensor) -> torch.Tensor:
        """Slot logits, shape ``(batch, num_slots)``."""
        return self.score(self._embed(x)[2]).squeeze(-1)

    def forward_critic(self, x: torch.Tensor) -> torch.Tensor:
        """Value latent: the page embedding and the max over filled slots' embeddings."""
        page, slots, hidden = self._embed(x)
        filled = slots[..., self.slot_dim - SLOT_EXTRA : self.slot_dim - SLOT_EXTRA + 1]
        return self.value(torch.cat([page, (hidden * filled).amax(dim=1)], dim=-1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_actor(x), self.forward_critic(x)


class SlotPolicy(MaskableActorCriticPolicy):
    """MaskablePPO's actor-critic with :class:`SlotScorer` as body; its outputs are the logits.

    Pass ``policy_kwargs={"page_dim": D, "num_slots": K}`` (or
    ``policy_kwargs=SlotPolicy.kwargs_for(env)``); the observation must be a flat ``Box`` of
    ``D + K·(C + 4)`` features, as ``TextFeatures(…, dim=D, choice_dim=C)`` gives.
    """

    def __init__(self, *args: Any, page_dim: int, num_slots: int, **kwargs: Any) -> None:
        self._layout = (page_dim, num_slots)
        super().__init__(*args, **kwargs)

    @staticmethod
    def kwargs_for(env: gym.Env[Any, Any]) -> dict[str, int]:
        """``policy_kwargs`` for an env wrapped in ``TextFeatures(…, choice_dim > 0)``."""
        dim = getattr(env, "dim", None)
        choice_dim = getattr(env, "choice_dim", 0)
        if not isinstance(dim, int) or not choice_dim:
            raise TypeError(
                "SlotPolicy needs TextFeatures(..., choice_dim > 0) over ChoiceActions as the "
                "outermost wrapper"
            )
        num_slots = int(env.action_space.n)  # type: ignore[attr-defined]
        return {"page_dim": dim, "num_slots": num_slots}

    def _build_mlp_extractor(self) -> None:
        page_dim, num_slots = self._layout
        rest = self.features_dim - page_dim
        if rest <= 0 or rest % num_slots:
            raise ValueError(
                f"observation size {self.features_dim} is not page_dim {page_dim} + "
                f"{num_slots} slots of equal size"
            )
        self.mlp_extractor = SlotScorer(page_dim, num_slots, rest // num_slots)  # type: ignore[assignment]

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()
        scorer = self.mlp_extractor
        assert isinstance(scorer, SlotScorer)
        nn.init.orthogonal_(scorer.score.weight, gain=0.01)
        nn.init.zeros_(scorer.score.bias)
        # Rebuild the optimizer: the parent made it before action_net was replaced.
        self.optimizer = self.optimizer_class(  # type: ignore[call-arg]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )
