"""Text helpers shared by the backends: the fallback chat template and stop-string cuts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["FALLBACK_GENERATION_PROMPT", "as_messages", "cut_at_stop", "is_chat", "render_fallback"]

#: What :func:`render_fallback` ends with: the model writes the assistant's reply after it.
FALLBACK_GENERATION_PROMPT = "Assistant:"


def is_chat(prompt: object) -> bool:
    """Whether ``prompt`` is a list of chat messages (rather than plain text)."""
    return not isinstance(prompt, str)


def as_messages(prompt: str | Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """A chat prompt as a list of plain message dicts (copies)."""
    if isinstance(prompt, str):
        raise TypeError("expected chat messages, got a text prompt")
    return [dict(m) for m in prompt]


def render_fallback(messages: Sequence[Mapping[str, str]]) -> str:
    """The chat template used when a tokenizer has none.

    One line block per message, ``"{Role}: {content}\\n"`` (role capitalised: ``System``,
    ``User``, ``Assistant``), then ``"Assistant:"`` so the model continues as the assistant::

        System: Be precise.
        User: What is 2 + 3?
        Assistant:
    """
    parts = []
    for message in messages:
        try:
            role, content = message["role"], message["content"]
        except KeyError as exc:
            raise ValueError(
                f"chat messages need 'role' and 'content' keys, got {dict(message)!r}"
            ) from exc
        parts.append(f"{role.capitalize()}: {content}\n")
    return "".join(parts) + FALLBACK_GENERATION_PROMPT


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None, int]:
    """Cut ``text`` before the earliest stop string.

    Returns ``(kept_text, matched_stop_or_None, end_of_stop)`` where ``end_of_stop`` is the index
    just after the matched stop string in ``text`` (``len(text)`` when nothing matched). On ties
    (two stops starting at the same place) the longer stop wins.
    """
    best: tuple[int, int, str] | None = None
    for stop in stops:
        if not stop:
            continue
        at = text.find(stop)
        if at >= 0 and (best is None or (at, -len(stop)) < (best[0], -best[1])):
            best = (at, len(stop), stop)
    if best is None:
        return text, None, len(text)
    at, length, stop = best
    return text[:at], stop, at + length
