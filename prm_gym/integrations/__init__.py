"""Adapters to outside training libraries (DESIGN §7).

* :mod:`prm_gym.integrations.trl`: an env's outcome and process scorers as reward functions for
  TRL's ``GRPOTrainer``, an env's tasks as a ``datasets.Dataset``, and
  :func:`~prm_gym.integrations.trl.environment_factory` for TRL's multi-turn
  ``GRPOTrainer(environment_factory=...)``.
* :mod:`prm_gym.integrations.openenv`: the OpenEnv server behind ``prm-gym serve`` and its
  client, :class:`~prm_gym.integrations.openenv.PrmGymEnvClient`.
* :mod:`prm_gym.integrations.verifiers`: :func:`~prm_gym.integrations.verifiers.load_environment`,
  a verifiers (prime-rl) multi-turn environment whose rubric is the env's return plus each
  reward component as a weight-0 metric.
* :func:`named_rewards`: ``info["reward_components"]`` as named rewards (NeMo-RL GDPO
  ``reward/<name>``, TRL ``rewards/<name>``), so each component can get its own baseline.

Nothing here imports the outside library until it is used.
"""

from prm_gym.integrations.named import named_rewards

__all__ = ["named_rewards"]
