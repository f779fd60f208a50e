"""Every registered env keeps the env contract (issue 15): one conformance report per id.

``test_conformance[<id>-<check>]`` runs :func:`prm_gym.testing.check_env_conformance` once per
id (the first case of an id computes the report, the rest read it), so an env added to
``prm_gym.ENV_IDS`` is covered without touching this file. Short by default (about 150 hostile
actions and 50 make/close cycles per env); ``PRM_GYM_CONFORMANCE_LONG=1`` runs the long version
(3,000 actions, 1,000 cycles) and prints each env's max step time (use ``pytest -s``).
"""

from __future__ import annotations

import os
import random
import threading
import time
from typing import Any, SupportsFloat

import gymnasium as gym
import pytest

import prm_gym
from prm_gym.spaces import Text
from prm_gym.testing import check_env_conformance
from prm_gym.testing.conformance import CHECKS, ConformanceReport

LONG = os.environ.get("PRM_GYM_CONFORMANCE_LONG") == "1"


#: (env id, check) -> why it fails today, for a known fault whose fix has not landed: the case is
#: xfail(strict=False). Empty: every registered env passes every check.
KNOWN_FAILURES: dict[tuple[str, str], str] = {}

_reports: dict[str, ConformanceReport] = {}


def _report(env_id: str) -> ConformanceReport:
    if env_id not in _reports:
        _reports[env_id] = check_env_conformance(env_id, long=LONG)
        print(_reports[env_id])
    return _reports[env_id]


def _cases() -> list[Any]:
    cases = []
    for env_id in prm_gym.ENV_IDS:
        for check in CHECKS:
            reason = KNOWN_FAILURES.get((env_id, check))
            marks = [pytest.mark.xfail(reason=reason, strict=False)] if reason else []
            cases.append(pytest.param(env_id, check, marks=marks, id=f"{env_id}-{check}"))
    return cases


@pytest.mark.timeout(7200 if LONG else 300)
@pytest.mark.parametrize(("env_id", "check"), _cases())
def test_conformance(env_id: str, check: str) -> None:
    report = _report(env_id)
    result = report[check]
    if result.status == "skip":
        pytest.skip(result.details)
    assert result.status == "pass", f"{env_id} {check}: {result.details}\n\n{report}"


# ---------------------------------------------------------------------------- the harness itself

_release = threading.Event()
_leaked: list[Any] = []


class FaultyEnv(gym.Env[str, str]):
    """Breaks the contract on purpose: the harness must report each fault, and not hang."""

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012

    def __init__(self) -> None:
        self.action_space = Text(32)
        self.observation_space = Text(32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        super().reset(seed=seed)
        _leaked.append(open(os.devnull))  # an fd never closed  # noqa: SIM115
        threading.Thread(target=_release.wait, args=(30,), daemon=True).start()
        return "start", {}

    def step(self, action: str) -> tuple[str, SupportsFloat, bool, bool, dict[str, Any]]:
        if action == "\x00":
            time.sleep(60)  # a hang
        if action == "":
            raise KeyError("boom")
        text = action if isinstance(action, str) else repr(action)  # no TypeError
        reward = random.random()  # unseeded: not reproducible
        info = {"reward_components": {"a": 1.0}}  # does not sum to the reward; no action_valid
        return text * 2, reward, False, False, info


_FAULTY_ID = "conformance-test/Faulty-v0"
if _FAULTY_ID not in gym.registry:
    gym.register(id=_FAULTY_ID, entry_point=f"{__name__}:FaultyEnv")


def test_harness_reports_each_fault_of_a_broken_env_in_bounded_time() -> None:
    start = time.perf_counter()
    try:
        report = check_env_conformance(
            _FAULTY_ID, steps=40, step_time_limit=1.0, cycles=10, max_hangs=3, checks=CHECKS
        )
    finally:
        _release.set()
        for f in _leaked:
            f.close()
    seconds = time.perf_counter() - start
    assert not report.ok
    failing = {c.name for c in report.failures}
    expected = {
        "step_time",
        "exceptions",
        "observation_space",
        "reward",
        "info",
        "determinism",
        "determinism_across_processes",
        "no_fd_growth",
        "no_thread_growth",
        "use_after_close",
    }
    assert expected <= failing, str(report)
    assert "\\x00" in report["step_time"].details  # names the action that hung
    assert "KeyError" in report["exceptions"].details
    assert report["state_round_trip"].status == "skip"
    assert report.max_step_time >= 1.0
    assert seconds < 60, f"the harness took {seconds:.0f} s on a hanging env"
    text = str(report)
    for name in CHECKS:
        assert name in text
    assert "max step time" in text


def test_unknown_check_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown checks"):
        check_env_conformance("prm/Math-v0", checks=["no_such_check"])
