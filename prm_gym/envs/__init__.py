"""Environment families. Each family is one folder; ``prm_gym.register_envs`` lists the ids."""
