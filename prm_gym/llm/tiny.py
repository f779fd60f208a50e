"""A tiny causal LM built from a config, for tests, examples and benchmarks (no downloads).

:func:`tiny_causal_lm` trains a byte-level BPE tokenizer on a small corpus (by default maths-like
text: digits, ``Step k:``, ``\\boxed{}``, newlines) and builds a randomly initialised GPT-2 of a few
layers around it, with a chat template set on the tokenizer. The weights are random, so the text
it writes is noise, but every code path of a real model (chat templates, padding, KV cache, stop
strings, log-probs) runs, fast, on a CPU.

torch, transformers and tokenizers are imported inside the function, so importing this module is
free.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["TINY_CHAT_TEMPLATE", "math_corpus", "tiny_causal_lm"]

#: The chat template set on the tiny tokenizer: ``<|role|>content<|end|>`` per message, and
#: ``<|assistant|>`` as the generation prompt.
TINY_CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)

_SPECIAL = ("<|endoftext|>", "<|pad|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
_ASCII = "".join(chr(c) for c in range(32, 127)) + "\n\t"
_WORDS = (
    "Ana has apples and buys more marbles. How many are left? Solve the problem step by step, "
    "one step per message. When you know the result, write it as the answer. Step recorded. "
    "Final answer: the total is x so we subtract, multiply, divide and add."
).split()


def math_corpus(n: int = 400, seed: int = 0) -> list[str]:
    """``n`` short maths-like strings (steps with arithmetic, boxed answers, prose, newlines)."""
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for i in range(n):
        a, b = (int(v) for v in rng.integers(0, 100, size=2))
        op = "+-*/"[i % 4]
        words = " ".join(str(w) for w in rng.choice(_WORDS, size=6))
        out.append(f"Step {i % 9 + 1}: {a} {op} {b} = {a + b}\n{words}\n\\boxed{{{a * b}}}")
    return out


def tiny_causal_lm(
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 2,
    n_positions: int = 1024,
    vocab_size: int = 512,
    corpus: Sequence[str] | None = None,
    initializer_range: float = 0.2,
    seed: int = 0,
) -> tuple[Any, Any]:
    """A randomly initialised GPT-2 and a BPE tokenizer trained on ``corpus``.

    The tokenizer's alphabet is printable ASCII, newline and tab (plus what ``corpus`` holds), so
    generated text never contains broken characters; characters outside it are dropped when
    encoding.

    Args:
        n_layer, n_embd, n_head, n_positions: GPT-2 shape.
        vocab_size: Target BPE vocabulary size (special tokens included).
        corpus: Training text for the tokenizer (default: :func:`math_corpus`).
        initializer_range: Std of the random weights; larger than GPT-2's 0.02 so that logits
            are peaked and greedy decoding is not decided by rounding noise.
        seed: Seeds the weights; same seed, same model.

    Returns:
        ``(model, tokenizer)``: a ``GPT2LMHeadModel`` in eval mode on the CPU and a
        ``PreTrainedTokenizerFast`` with ``eos_token``, ``pad_token`` and a chat template
        (:data:`TINY_CHAT_TEMPLATE`). Both ``save_pretrained`` to a directory that
        :class:`~prm_gym.llm.TransformersBackend` loads.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    # Printable ASCII plus newline and tab, so every generated token decodes to whole characters
    # (a byte-level alphabet would let a random model write invalid UTF-8 fragments).
    texts = [*(corpus if corpus is not None else math_corpus()), _ASCII]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(_SPECIAL),
        show_progress=False,
    )
    bpe.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        pad_token="<|pad|>",
        additional_special_tokens=list(_SPECIAL[2:]),
    )
    tokenizer.chat_template = TINY_CHAT_TEMPLATE
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=n_positions,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=n_head,
        initializer_range=initializer_range,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(config)
    model.eval()
    return model, tokenizer
