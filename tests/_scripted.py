"""A scripted LLM backend for rollout tests over ``prm/Math-v0`` addition tasks."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from prm_gym.llm import Generation, Prompt, SamplingParams

#: Addition tasks for ``gym.make("prm/Math-v0", tasks=ADDITIONS)``.
ADDITIONS = [
    {"id": f"add-{a}-{b}", "prompt": f"What is {a} + {b}?", "answer": str(a + b)}
    for a, b in [(2, 3), (10, 7), (21, 4), (8, 8), (30, 12), (5, 9), (40, 2)]
]


def addition_step(messages: Prompt, *, wrong_when_odd: bool) -> str:
    """The next step for "What is A + B?": ``Step 1: A + B = C`` in a conversation with no
    assistant message yet, else ``\\boxed{C}`` (``C + 1`` when A is odd and ``wrong_when_odd``)."""
    assert not isinstance(messages, str)
    task = next(m["content"] for m in messages if m["role"] == "user")
    a, b = map(int, re.findall(r"\d+", task)[:2])
    if not any(m["role"] == "assistant" for m in messages):
        return f"Step 1: {a} + {b} = {a + b}"
    return f"\\boxed{{{a + b + (a % 2 if wrong_when_odd else 0)}}}"


def generation(text: str) -> Generation:
    """``text`` as a finished generation, one token (log-prob -0.1) per word."""
    ids = tuple(range(len(text.split())))
    return Generation(text, ids, tuple(-0.1 for _ in ids), "stop")


class ScriptedBackend:
    """Answers "What is A + B?" in two steps, ``Step 1: A + B = C`` then a boxed answer that is
    wrong (C + 1) when A is odd; ``on_call(k)`` runs before the k-th ``generate`` call."""

    def __init__(self, on_call: Callable[[int], None] | None = None) -> None:
        self.calls = 0
        self.on_call = on_call

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        self.calls += 1
        if self.on_call is not None:
            self.on_call(self.calls)
        return [[generation(addition_step(messages, wrong_when_odd=True))] for messages in prompts]

    def logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[list[float]]:
        return [[-0.1] for _ in prompts]
