"""Public checks users run on their own envs and reward stacks (DESIGN §2).

* :func:`check_reward_integrity` -- the hack kit: every family's hacking policies against a
  dense stack, next to the gold policy (:mod:`prm_gym.testing.reward_integrity`).
"""

from prm_gym.testing.reward_integrity import (
    IntegrityReport,
    IntegrityRow,
    check_reward_integrity,
)

__all__ = ["IntegrityReport", "IntegrityRow", "check_reward_integrity"]
