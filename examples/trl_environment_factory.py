"""Train a tiny model with TRL's multi-turn ``GRPOTrainer(environment_factory=...)`` on a
prm-gym env, the reward being the episode's return under the env's dense stack.

The model is a randomly initialised tiny GPT-2 (``prm_gym.llm.tiny``) with Qwen3's chat template
(which TRL can parse tool calls from), so it runs on a CPU in a minute and learns nothing
useful; swap in a real instruct model (e.g. ``Qwen/Qwen3-0.6B``) for real training. Each rollout
plays one episode through the family's tools (Math-v0: ``write_step``, ``give_answer``), TRL
logs the env reward (``rewards/MathEnvironment/mean``) and each reward component
(``rewards/outcome/mean``, ``rewards/progress/mean``: weight 0, logged only).

Usage: ``python examples/trl_environment_factory.py [--env prm/Math-v0] [--steps 2]``
(needs ``pip install 'prm-gym[trl]'``: TRL >= 1.16, transformers >= 5.2).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="prm/Math-v0")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--model", default=None, help="a Hugging Face model id (default: tiny)")
    args = parser.parse_args()
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

    import torch
    import trl
    from trl import GRPOConfig, GRPOTrainer

    from prm_gym.integrations.trl import environment_factory

    factory = environment_factory(args.env)
    if args.model is None:
        from prm_gym.llm.tiny import tiny_causal_lm

        model, tokenizer = tiny_causal_lm(n_positions=8192)
        template = Path(trl.__file__).parent / "chat_templates" / "qwen3.jinja"
        tokenizer.chat_template = template.read_text()
    else:
        model, tokenizer = args.model, None
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="prm_gym_trl_"),
        max_steps=args.steps,
        per_device_train_batch_size=2,
        num_generations=2,
        max_completion_length=128,
        max_tool_calling_iterations=4,
        learning_rate=1e-5,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        reward_weights=factory.reward_weights,  # components: logged, weight 0
        use_cpu=not torch.cuda.is_available(),
        bf16=torch.cuda.is_available(),
    )
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=factory.reward_funcs,
        args=config,
        train_dataset=factory.dataset(n=16),
        processing_class=tokenizer,
        environment_factory=factory,
    )
    trainer.train()
    for entry in trainer.state.log_history:
        rewards = {k: round(v, 3) for k, v in entry.items() if k.startswith("rewards/")}
        if rewards:
            print(rewards)


if __name__ == "__main__":
    main()
