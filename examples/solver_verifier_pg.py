"""Train both roles of ``solver_verifier_v0`` with the project's PG trainer (GRPO), in turns.

Each role has its own LLM (here two tiny random-weight GPT-2s from :mod:`prm_gym.llm.tiny`, so
the script runs on a CPU in a minute; pass ``--model PATH`` to use a real local checkpoint for
both) and its own :class:`~prm_gym.agents.PGTrainer`. A trainer sees its role as a single-agent
env through :class:`~prm_gym.multiagent.RoleEnv`, with the other role played by the other
model's :class:`~prm_gym.agents.LLMAgent` (one trainer per role, alternating rounds, as in RL
Tango's interleaved generator / verifier training):

* solver: outcome + verified progress (``process``: MathProgress over the steps the verifier
  accepted, each unit paid once);
* verifier: agreement with the step labels (procedural tasks), or outcome consistency on
  datasets without labels (RL Tango, 2025), as its ``outcome``.

    python examples/solver_verifier_pg.py --rounds 2
    python examples/solver_verifier_pg.py --model ./my-small-chat-model --rounds 4
"""

from __future__ import annotations

import argparse

from prm_gym.agents import LLMAgent
from prm_gym.agents.pg import PGConfig, PGTrainer
from prm_gym.llm import SamplingParams, TransformersBackend
from prm_gym.multiagent import RoleEnv, make

ENV_KWARGS = {"max_steps": 3, "families": ("linear",), "levels": (1,), "max_action_length": 256}


def backend_for(path: str | None, seed: int) -> TransformersBackend:
    if path is None:
        from prm_gym.llm.tiny import tiny_causal_lm

        return TransformersBackend(*tiny_causal_lm(seed=seed))
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return TransformersBackend(
        AutoModelForCausalLM.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="local HF checkpoint (default: tiny)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds")
    parser.add_argument("--updates", type=int, default=1, help="PG updates per role per round")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    solver_backend = backend_for(args.model, seed=0)
    verifier_backend = backend_for(args.model, seed=1)
    partner = SamplingParams(max_tokens=args.max_new_tokens)
    # The partner agents: each role's model plays its role while the other role trains.
    solver_agent = LLMAgent(solver_backend, partner, step_stop=("\n",))
    verifier_agent = LLMAgent(verifier_backend, partner, step_stop=("\n",))
    config = PGConfig(
        group_size=2,
        prompts_per_iteration=1,
        max_new_tokens=args.max_new_tokens,
        lr=1e-4,
        beta=0.0,
        step_stop=("\n",),
    )
    solver_trainer = PGTrainer(
        solver_backend,
        lambda: RoleEnv(
            make("solver_verifier_v0", **ENV_KWARGS), "solver", {"verifier": verifier_agent}
        ),
        config,
    )
    verifier_trainer = PGTrainer(
        verifier_backend,
        lambda: RoleEnv(
            make("solver_verifier_v0", **ENV_KWARGS),
            "verifier",
            {"solver": solver_agent},
            outcome_key="verification",
        ),
        config,
    )
    for r in range(args.rounds):
        s = solver_trainer.train(args.updates, progress=False)[-1]
        v = verifier_trainer.train(args.updates, progress=False)[-1]
        print(
            f"round {r + 1}: solver reward {s['reward']:.3f} (outcome {s['outcome']:.2f}, "
            f"verified progress {s['process']:.3f}) | verifier reward {v['reward']:.3f}",
            flush=True,
        )
    solver_trainer.close()
    verifier_trainer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
