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
        out = []
        for messages in prompts:
            assert not isinstance(messages, str)
            task = next(m["content"] for m in messages if m["role"] == "user")
            a, b = map(int, re.findall(r"\d+", task)[:2])
            steps = sum(m["role"] == "assistant" for m in messages)
            text = f"Step 1: {a} + {b} = {a + b}" if steps == 0 else f"\\boxed{{{a + b + a % 2}}}"
            ids = tuple(range(len(text.split())))
            out.append([Generation(text, ids, tuple(-0.1 for _ in ids), "stop")])
        return out

    def logprobs(
        self, prompts: Sequence[Prompt], continuations: Sequence[str]
    ) -> list[list[float]]:
        return [[-0.1] for _ in prompts]
