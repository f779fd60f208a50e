"""``python -m prm_gym.cli``: the ``prm-gym`` command."""

from prm_gym.cli import main

raise SystemExit(main())
