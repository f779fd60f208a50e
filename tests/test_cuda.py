"""The LLM stack on a CUDA GPU: backend, PG trainer, implicit PRM, the LLM-learning benchmark.

Skipped without a GPU (CI has none); run on one with ``python -m pytest -q tests/test_cuda.py``.
Each test compares the GPU against the CPU on the same weights, or checks that every tensor of
a training step stays on the GPU.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from _benchmarks import load_benchmark

import prm_gym  # noqa: F401  (registers prm/*)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

from prm_gym.llm import SamplingParams, TransformersBackend  # noqa: E402
from prm_gym.llm.tiny import tiny_causal_lm  # noqa: E402

PROMPTS: list[Any] = [
    "Step 1: 12 * 3 =",
    [{"role": "user", "content": "What is 2 + 3?"}],
    "Ana has apples and buys more marbles. How many are left? Step",
]
GREEDY = SamplingParams(max_tokens=10, temperature=0)


def _pair() -> tuple[TransformersBackend, TransformersBackend]:
    model, tok = tiny_causal_lm(vocab_size=256, initializer_range=0.2)
    cpu = TransformersBackend(copy.deepcopy(model), tok, device="cpu")
    gpu = TransformersBackend(model, tok, device="cuda")
    return cpu, gpu


def test_greedy_generation_and_scoring_match_the_cpu() -> None:
    cpu, gpu = _pair()
    assert gpu.device.type == "cuda"
    on_cpu = [g[0] for g in cpu.generate(PROMPTS, GREEDY)]
    on_gpu = [g[0] for g in gpu.generate(PROMPTS, GREEDY)]
    for a, b in zip(on_cpu, on_gpu, strict=True):
        assert a.token_ids == b.token_ids
        assert b.logprobs == pytest.approx(a.logprobs, abs=1e-3)
    scored = gpu.logprobs(PROMPTS, [g.token_ids for g in on_gpu])
    for gen, lps in zip(on_gpu, scored, strict=True):
        assert lps == pytest.approx(gen.logprobs, abs=1e-3)


def test_seeded_sampling_is_reproducible_on_the_gpu() -> None:
    _, gpu = _pair()
    params = SamplingParams(max_tokens=10, temperature=1.0, n=3, seed=7)
    first = [[g.token_ids for g in row] for row in gpu.generate(PROMPTS, params)]
    again = [[g.token_ids for g in row] for row in gpu.generate(PROMPTS, params)]
    assert first == again


def test_pg_trainer_steps_on_the_gpu() -> None:
    from prm_gym.agents.pg import PGConfig, PGTrainer
    from prm_gym.rewards import RuleVerifier
    from prm_gym.wrappers import ProcessReward

    _, gpu = _pair()
    env_fn = lambda: ProcessReward(gym.make("prm/Math-v0", max_steps=2), RuleVerifier())  # noqa: E731
    config = PGConfig(group_size=2, prompts_per_iteration=2, max_new_tokens=6, beta=0.0)
    trainer = PGTrainer(gpu, env_fn, config)
    trajectories = trainer.collect()
    samples = trainer._samples(trajectories, trainer.advantages(trajectories))
    batch = trainer._batch(samples)
    assert all(t.device.type == "cuda" for t in batch.values() if hasattr(t, "device"))
    with torch.no_grad():
        new = trainer._token_logprobs(trainer.model, batch)
    # The PPO ratio starts at 1: the training forward reproduces the sampling log-probs.
    assert float(((new - batch["old"]) * batch["mask"]).abs().max()) < 1e-3
    record = trainer.step()
    assert math.isfinite(record["loss"])
    assert all(p.device.type == "cuda" for p in trainer.model.parameters())
    trainer.close()


def test_implicit_prm_trains_on_the_gpu() -> None:
    from prm_gym.rewards.implicit_prm import train_implicit_prm

    model, tok = tiny_causal_lm(vocab_size=256, initializer_range=0.2)
    for module in model.modules():  # training mode: no dropout, so both devices do the same
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    reference = copy.deepcopy(model).requires_grad_(False)
    on_cpu = train_implicit_prm(
        copy.deepcopy(model), reference, tok, ["2 + 3 ="] * 4, [" 5", " 6", " 5", " 7"],
        [1.0, 0.0, 1.0, 0.0], batch_size=2, seed=0,
    )  # fmt: skip
    on_gpu = train_implicit_prm(
        model.cuda(), reference.cuda(), tok, ["2 + 3 ="] * 4, [" 5", " 6", " 5", " 7"],
        [1.0, 0.0, 1.0, 0.0], batch_size=2, seed=0,
    )  # fmt: skip
    assert on_gpu == pytest.approx(on_cpu, abs=1e-3)
    assert all(p.device.type == "cuda" for p in model.parameters())


@pytest.mark.parametrize("variant", ["progress", "prime", "pav"])
def test_llm_learning_runs_on_the_gpu(tmp_path: Path, variant: str) -> None:
    bench = load_benchmark("llm_learning")
    argv = ["--quick", "--variants", variant, "--updates", "1", "--sft-steps", "5"]
    argv += ["--sft-solutions", "50", "--eval-tasks", "2", "--device", "cuda"]
    bench.main([*argv, "--out", str(tmp_path)])
    data = json.loads((tmp_path / "llm_learning.json").read_text())
    [run] = data["runs"]
    assert run["variant"] == variant
    assert [p["update"] for p in run["curve"]] == [0.0, 1.0]
    assert all(np.isfinite(p["greedy"]) for p in run["curve"])
    (base,) = tmp_path.glob("base_policy_*")
    settings = bench.Settings(**data["settings"])
    assert (base / bench._eval_file(settings, "cuda")).exists()
