"""Agents and training helpers (DESIGN §7).

* :mod:`prm_gym.agents.sb3`: :func:`~prm_gym.agents.sb3.train` SAC / TD3 / PPO (optionally with
  HER) on envs shaped by a hand-written or learned potential; returns a :class:`LearningCurve`.
* :mod:`prm_gym.agents.curves`: :class:`LearningCurve` (CSV round-trip, ``steps_to``) and
  :func:`plot_learning_curves` (PNG).
* :mod:`prm_gym.agents.llm_agent`: :class:`LLMAgent`, an LLM policy for text envs over any
  :mod:`prm_gym.llm` backend (one env step per generation).
* :mod:`prm_gym.agents.pg`: :class:`PGTrainer` / :class:`PGConfig`, GRPO / RLOO / PRIME
  policy-gradient training of a transformers policy with step-level advantages.
* :mod:`prm_gym.agents.slot_policy`: :class:`SlotPolicy`, a MaskablePPO policy that scores every
  choice slot of a ``ChoiceActions`` + ``TextFeatures(choice_dim > 0)`` observation with one
  shared network.
* :mod:`prm_gym.agents.rollout`: :func:`rollout` (single or vector envs, batched generation) and
  :func:`token_level_rewards` (step rewards on each step's last token).

SB3 and curve names are loaded on first access, so ``import prm_gym.agents`` imports neither SB3
nor torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prm_gym.agents.curves import LearningCurve, plot_learning_curves
    from prm_gym.agents.pg import PGConfig, PGTrainer
    from prm_gym.agents.sb3 import train

# Light modules (no torch) load eagerly; importing the function ``rollout`` here also keeps the
# submodule of the same name from shadowing it as a package attribute.
from prm_gym.agents.llm_agent import STEP_STOPS, LLMAgent
from prm_gym.agents.rollout import (
    rollout,
    step_token_counts,
    token_level_rewards,
    trajectory_to_dict,
)

__all__ = [
    "STEP_STOPS",
    "LLMAgent",
    "LearningCurve",
    "PGConfig",
    "PGTrainer",
    "plot_learning_curves",
    "rollout",
    "step_token_counts",
    "token_level_rewards",
    "train",
    "trajectory_to_dict",
]

_LAZY = {
    "LearningCurve": "prm_gym.agents.curves",
    "PGConfig": "prm_gym.agents.pg",
    "PGTrainer": "prm_gym.agents.pg",
    "plot_learning_curves": "prm_gym.agents.curves",
    "train": "prm_gym.agents.sb3",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
