"""Adapters to outside training libraries (DESIGN §7).

* :mod:`prm_gym.integrations.trl`: an env's outcome and process scorers as reward functions for
  TRL's ``GRPOTrainer`` and an env's tasks as a ``datasets.Dataset``.

Nothing here imports the outside library until it is used.
"""
