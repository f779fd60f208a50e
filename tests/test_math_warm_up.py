"""The answer checker's library loads before the first step, never inside it (issue 15)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_first_step_that_needs_math_verify_does_not_load_it() -> None:
    # A fresh process, so math-verify is not yet imported.
    code = textwrap.dedent(
        """
        import sys, time
        import gymnasium as gym
        import prm_gym
        env = gym.make("prm/Math-v0")
        env.reset(seed=0)
        assert "math_verify" in sys.modules, "reset() returned before math-verify loaded"
        from prm_gym.envs.math import answers
        assert answers._load_math_verify.cache_info().currsize == 1
        start = time.monotonic()
        # A symbolic answer goes to math-verify, which is already loaded.
        env.step(r"The answer is \\boxed{\\sqrt{2} + x}")
        print("step_s", time.monotonic() - start)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "step_s" in out.stdout
