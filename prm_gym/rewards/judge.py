"""An LLM judge: any backend rates each step against a rubric (DESIGN §4).

:class:`LLMJudge` renders one prompt per step (the problem, the earlier steps, the step to rate
and a rubric), sends every uncached prompt of a batch in one ``generate`` call, parses a score
from each reply and maps it to ``[0, 1]``. Replies are parsed robustly
(:func:`parse_score`): ``{"score": 7}``, ``[[7]]``, ``Score: 7/10``, ``7/10``, ``Rating: 7`` or a
bare ``7``. A reply with no readable score gets ``failure_score`` and is counted in
``n_failures`` (the latest kept in ``failures``), so a broken judge shows up in the logs
rather than as silent zeros. Judging with an LLM follows "Judging LLM-as-a-Judge with MT-Bench
and Chatbot Arena" (Zheng et al., 2023), whose ``[[rating]]`` format is among those parsed.
"""

from __future__ import annotations

import json
import math
import re
from collections import OrderedDict, deque
from collections.abc import Sequence

import numpy as np

from prm_gym.core.scorer import StepContext
from prm_gym.llm.base import LLMBackend, Prompt, SamplingParams

__all__ = ["DEFAULT_MATH_RUBRIC", "LLMJudge", "parse_score"]

#: The default rubric: rates one maths step for correctness and usefulness.
DEFAULT_MATH_RUBRIC = (
    "You are grading one step of a student's solution to a maths problem.\n"
    "Rate the step from 0 to 10: 10 = correct and clearly moves the solution forward; "
    "5 = correct but does not help; 0 = wrong (an arithmetic or logical error) or irrelevant.\n"
    "Judge only the step to rate; earlier steps are context.\n"
    'Reply with one line of the form "Score: N/10".'
)

_TEMPLATE = (
    "{rubric}\n\n## Problem\n{prompt}\n\n## Earlier steps\n{previous}\n\n## Step to rate\n{action}"
)

_NUMBER = r"[-+]?\d+(?:\.\d+)?"
_PATTERNS = (
    re.compile(r"\[\[\s*(" + _NUMBER + r")\s*(?:/\s*(" + _NUMBER + r"))?\s*\]\]"),
    re.compile(
        r"\b(?:score|rating|grade)\b\s*[:=]?\s*\**\s*("
        + _NUMBER
        + r")\s*(?:/\s*("
        + _NUMBER
        + r"))?",
        re.IGNORECASE,
    ),
    re.compile(r"(?<![\w.])(" + _NUMBER + r")\s*/\s*(" + _NUMBER + r")(?![\w.])"),
)
_BARE = re.compile(r"^\W*(" + _NUMBER + r")\W*$")
_JSON = re.compile(r"\{[^{}]*\}")


def parse_score(text: str, scale: tuple[float, float] = (0.0, 10.0)) -> float | None:
    """The score in ``text`` mapped to ``[0, 1]``, or ``None`` when there is none.

    Tried in order: a JSON object with a ``"score"`` (or ``"rating"``) key; ``[[x]]``;
    ``Score: x`` / ``Rating = x`` (optionally ``/ n``); ``x / n``; a reply that is only a number.
    With an explicit ``/ n`` the score is ``x / n``, otherwise ``(x − lo) / (hi − lo)`` for
    ``scale = (lo, hi)``; the result is clipped to ``[0, 1]``.
    """
    lo, hi = scale
    if not hi > lo:
        raise ValueError(f"scale must be (low, high) with high > low, got {scale}")
    raw: tuple[float, float | None] | None = None
    for blob in _JSON.findall(text):
        try:
            data = json.loads(blob)
        except ValueError:
            continue
        if isinstance(data, dict):
            for key in ("score", "rating"):
                value = data.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    raw = (float(value), None)
                    break
        if raw is not None:
            break
    if raw is None:
        for pattern in _PATTERNS:
            match = pattern.search(text)
            if match:
                denominator = match.group(2)
                raw = (float(match.group(1)), float(denominator) if denominator else None)
                break
    if raw is None:
        match = _BARE.match(text.strip())
        if match:
            raw = (float(match.group(1)), None)
    if raw is None:
        return None
    value, denominator = raw
    if denominator is not None and denominator > 0:
        normalised = value / denominator
    else:
        normalised = (value - lo) / (hi - lo)
    if not math.isfinite(normalised):
        return None
    return float(min(1.0, max(0.0, normalised)))


class LLMJudge:
    """Rates each step with an LLM and a rubric; batched, cached, robust to odd replies.

    Args:
        backend: Any :class:`~prm_gym.llm.LLMBackend`.
        rubric: Instructions placed before the step (default :data:`DEFAULT_MATH_RUBRIC`).
        scale: ``(low, high)`` of the rubric's scale, for replies without an explicit ``/ n``.
        params: Sampling parameters (default: greedy, 32 tokens).
        chat: Send the prompt as one user message (backends render their chat template);
            ``False`` sends plain text.
        cache_size: Most prompts remembered (LRU); ``0`` disables the cache. Unparseable
            replies are cached too: with greedy decoding, asking again gives the same reply.
        failure_score: Score of a reply with no readable score.
        max_failures_kept: How many failing replies ``failures`` keeps (latest first out).

    Example:
        >>> from prm_gym.llm import Generation
        >>> class Canned:
        ...     def generate(self, prompts, params):
        ...         return [[Generation("Score: 7/10")] for _ in prompts]
        ...     def logprobs(self, prompts, conts): raise NotImplementedError
        >>> judge = LLMJudge(Canned())
        >>> judge.score([StepContext("2 + 2?", (), "2 + 2 = 4")]).tolist()
        [0.699999988079071]
    """

    def __init__(
        self,
        backend: LLMBackend,
        rubric: str = DEFAULT_MATH_RUBRIC,
        *,
        scale: tuple[float, float] = (0.0, 10.0),
        params: SamplingParams | None = None,
        chat: bool = True,
        cache_size: int = 4096,
        failure_score: float = 0.0,
        max_failures_kept: int = 32,
    ) -> None:
        if not scale[1] > scale[0]:
            raise ValueError(f"scale must be (low, high) with high > low, got {scale}")
        self.backend = backend
        self.rubric = rubric
        self.scale = scale
        self.params = params or SamplingParams(max_tokens=32, temperature=0.0)
        self.chat = chat
        self.cache_size = cache_size
        self.failure_score = failure_score
        self.n_failures = 0
        self.failures: deque[str] = deque(maxlen=max_failures_kept)
        self._cache: OrderedDict[str, float] = OrderedDict()

    def render(self, context: StepContext) -> str:
        """The judge prompt for one step."""
        previous = "\n".join(f"{i}. {step}" for i, step in enumerate(context.previous_steps, 1))
        return _TEMPLATE.format(
            rubric=self.rubric,
            prompt=context.prompt,
            previous=previous or "(none)",
            action=context.action,
        )

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """One score in ``[0, 1]`` per context (``failure_score`` when unparseable), float32."""
        texts = [self.render(c) for c in contexts]
        known: dict[str, float] = {}
        for text in dict.fromkeys(texts):
            if text in self._cache:
                known[text] = self._cache[text]
                self._cache.move_to_end(text)
        pending = [t for t in dict.fromkeys(texts) if t not in known]
        if pending:
            prompts: list[Prompt] = [
                [{"role": "user", "content": t}] if self.chat else t for t in pending
            ]
            replies = self.backend.generate(prompts, self.params)
            for text, generations in zip(pending, replies, strict=True):
                reply = generations[0].text if generations else ""
                value = parse_score(reply, self.scale)
                if value is None:
                    self.n_failures += 1
                    self.failures.append(reply)
                    value = self.failure_score
                known[text] = value
                self._remember(text, value)
        return np.asarray([known[t] for t in texts], dtype=np.float32)

    def _remember(self, text: str, value: float) -> None:
        if self.cache_size <= 0:
            return
        self._cache[text] = value
        self._cache.move_to_end(text)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
