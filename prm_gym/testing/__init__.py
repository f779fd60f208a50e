"""Public checks users run on their own envs and reward stacks (DESIGN §2).

* :func:`check_reward_integrity` -- the hack kit: every family's hacking policies against a
  dense stack, next to the gold policy (:mod:`prm_gym.testing.reward_integrity`).
* :func:`check_env_conformance` -- the env contract: hostile actions with a time bound per step,
  determinism, snapshots, vector envs, close and resource leaks
  (:mod:`prm_gym.testing.conformance`).
* :mod:`prm_gym.testing.openai_server` -- ``OpenAICompatibleServer``, a loopback
  OpenAI-compatible chat/completions server over a local backend or a scripted policy, for
  offline tests of HTTP-based trainer stacks.
"""

from prm_gym.testing.conformance import CheckResult, ConformanceReport, check_env_conformance
from prm_gym.testing.reward_integrity import (
    IntegrityReport,
    IntegrityRow,
    check_reward_integrity,
)

__all__ = [
    "CheckResult",
    "ConformanceReport",
    "IntegrityReport",
    "IntegrityRow",
    "check_env_conformance",
    "check_reward_integrity",
]
