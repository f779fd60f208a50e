"""Process reward models from Hugging Face checkpoints, read the two usual ways (DESIGN §4).

* :class:`TokenProbPRM` -- a causal LM trained to answer a step tag with a "good" or "bad"
  token (Math-Shepherd style). The solution is written as ``prompt, step_1 <tag>, step_2 <tag>,
  ...``; the score of step ``k`` is the probability of the good token at the ``k``-th tag,
  with the softmax restricted to the good and bad token ids:

  .. math:: s_k = \\frac{\\exp z_k[+]}{\\exp z_k[+] + \\exp z_k[-]}

  where :math:`z_k` are the logits at the ``k``-th tag position ("Math-Shepherd: Verify and
  Reinforce LLMs Step-by-step without Human Annotations", Wang et al., 2024).
* :class:`RewardHeadPRM` -- a model with a per-token two-class head (Qwen2.5-Math-PRM style):
  steps are joined by a separator token and the score of step ``k`` is
  ``softmax(logits)[1]`` at the ``k``-th separator ("The Lessons of Developing Process
  Reward Models in Mathematical Reasoning", Zhang et al., 2025 -- Qwen2.5-Math-PRM).

Both take a local checkpoint path (loaded with ``transformers``) or an already-built model and
tokenizer, score a batch of :class:`~prm_gym.core.scorer.StepContext` in one forward pass
(padding on the tokenizer's side, left or right) and return the score of each context's own
step. :meth:`~_StepTokenPRM.score_steps` returns the scores of every step of one solution.

With ``cache_size > 0`` a scorer keeps the key/value cache of the last ``cache_size``
transcripts it scored. A context whose prompt and previous steps were scored before (the usual
case when a wrapper scores an episode step by step) then tokenises and runs only its new step
against that cache, so a step's cost no longer grows with the transcript; contexts with and
without a cached prefix share one forward pass (cached prefixes left-padded, new tokens
right-padded, positions counted per row). The cache is kept per forward pass: when every row of
a batch continues the same row of one earlier batch, in order (the sub-envs of a vector env
stepping together, or one env scored alone), that batch's keys/values and mask are used as they
are, with no per-row copying; the padding they carry stays in place, hidden by the mask, until
it outnumbers the longest row's tokens and is squeezed out. Any other mix is assembled row by
row (one indexed copy per earlier batch and layer). Tokenising the new step on its own is
exact only when the tokenizer splits text at the marker (a special token); this is checked on
the first cached step and the cache switches itself off, with a warning, when it fails. Call
``clear_cache()`` after changing the model's weights.
torch and transformers are imported only when a model is loaded or run.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from prm_gym.core.scorer import StepContext

__all__ = ["RewardHeadPRM", "TokenProbPRM"]


def _single_token_id(tokenizer: Any, text: str, what: str) -> int:
    ids = tokenizer.encode(text, add_special_tokens=False)
    if len(ids) != 1:
        raise ValueError(
            f"{what} {text!r} encodes to {len(ids)} tokens ({ids}); pass a string that is one "
            "token for this tokenizer (or add it as a special token)"
        )
    return int(ids[0])


class _StepTokenPRM:
    """Shared machinery: build texts, pad, one forward pass, gather marker positions."""

    _auto_class = "AutoModelForCausalLM"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        marker: str,
        step_prefix: str,
        max_batch_size: int | None,
        device: str | None,
        trust_remote_code: bool,
        cache_size: int = 0,
    ) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        if isinstance(model, str | os.PathLike):
            import transformers

            path = os.fspath(model)
            auto = getattr(transformers, self._auto_class)
            model = auto.from_pretrained(path, trust_remote_code=trust_remote_code)
            if tokenizer is None:
                tokenizer = transformers.AutoTokenizer.from_pretrained(
                    path, trust_remote_code=trust_remote_code
                )
        if tokenizer is None:
            raise ValueError("pass a tokenizer with a built model (or a checkpoint path)")
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.tokenizer = tokenizer
        self.marker = marker
        self.marker_id = _single_token_id(tokenizer, marker, "marker")
        self.step_prefix = step_prefix
        self.max_batch_size = max_batch_size
        try:
            params = inspect.signature(self.model.forward).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        self._takes_position_ids = "position_ids" in params
        # transformers 5 renamed ``past_key_values`` to ``cache``; accept either.
        self._cache_kwarg = next((k for k in ("cache", "past_key_values") if k in params), None)
        if cache_size and (self._cache_kwarg is None or not self._takes_position_ids):
            raise ValueError(
                f"cache_size={cache_size} needs a model whose forward takes a key/value cache "
                f"and position_ids; {type(self.model).__name__} does not (pass cache_size=0)"
            )
        self.cache_size = cache_size
        # (prompt, steps) -> (token ids, the forward pass's cache that holds it, row there)
        self._cache: OrderedDict[tuple[str, tuple[str, ...]], tuple[list[int], _KVBatch, int]]
        self._cache = OrderedDict()
        self._split_checked = False

    # -- text -------------------------------------------------------------------------------
    def format(self, prompt: str, steps: Sequence[str]) -> str:
        """The text the model reads: the prompt, then every step followed by the marker."""
        body = "".join(f"{self.step_prefix}{step.strip()}{self.marker}" for step in steps)
        return f"{prompt}{body}"

    # -- scoring ----------------------------------------------------------------------------
    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """The score of each context's own step (its last marker), float32, in order."""
        if self.cache_size and self._extends_prefix:
            return self._score_cached(contexts)
        texts = [self.format(c.prompt, [*c.previous_steps, c.action]) for c in contexts]
        return np.asarray([row[-1] for row in self._marker_scores(texts)], dtype=np.float32)

    def clear_cache(self) -> None:
        """Forget every cached transcript."""
        self._cache.clear()

    @property
    def _extends_prefix(self) -> bool:
        """Whether ``format(p, steps + [s])`` is ``format(p, steps)`` plus the new step's text."""
        return True

    def score_steps(self, prompt: str, steps: Sequence[str]) -> np.ndarray:
        """Scores of every step of one solution, float32, shape ``(len(steps),)``."""
        if not steps:
            return np.zeros(0, dtype=np.float32)
        # The last len(steps) markers are ours; a marker inside the prompt comes before them.
        row = self._marker_scores([self.format(prompt, steps)])[0][-len(steps) :]
        return np.asarray(row, dtype=np.float32)

    def _marker_scores(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        import torch

        size = self.max_batch_size or len(texts)
        out: list[list[float]] = []
        with torch.inference_mode():
            for start in range(0, len(texts), size):
                out.extend(self._forward(texts[start : start + size]))
        return out

    def _forward(self, texts: Sequence[str]) -> list[list[float]]:
        batch = self.tokenizer(list(texts), return_tensors="pt", padding=True)
        device = next(self.model.parameters()).device
        input_ids = batch["input_ids"].to(device)
        attention_mask = batch["attention_mask"].to(device)
        kwargs: dict[str, Any] = {"input_ids": input_ids, "attention_mask": attention_mask}
        if self._takes_position_ids:
            # Left padding must not shift positions: count only real tokens.
            kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        output = self.model(**kwargs)
        logits = output.logits if hasattr(output, "logits") else output[0]
        probs = self._probabilities(logits.float())
        at_marker = (input_ids == self.marker_id) & attention_mask.bool()
        rows: list[list[float]] = []
        for i in range(len(texts)):
            values = probs[i][at_marker[i]]
            if values.numel() == 0:
                raise ValueError(
                    f"no {self.marker!r} marker survived tokenisation in text {i}; "
                    "check that the marker is a single token and not merged with its neighbours"
                )
            rows.append([float(v) for v in values.tolist()])
        return rows

    def _probabilities(self, logits: Any) -> Any:
        raise NotImplementedError

    # -- key/value cache --------------------------------------------------------------------
    def _score_cached(self, contexts: Sequence[StepContext]) -> np.ndarray:
        cache = self._cache
        keys = [(c.prompt, tuple(c.previous_steps)) for c in contexts]
        entries = [cache.get(key) for key in keys]
        hits = [i for i, entry in enumerate(entries) if entry is not None]
        fresh = [i for i, entry in enumerate(entries) if entry is None]
        # Per context: (cached token ids, new token ids, (cached batch, row) or None).
        rows: list[tuple[list[int], list[int], tuple[_KVBatch, int] | None]]
        rows = [([], [], None)] * len(keys)
        if fresh:
            texts = [
                self.format(contexts[i].prompt, [*keys[i][1], contexts[i].action]) for i in fresh
            ]
            for i, ids in zip(fresh, self.tokenizer(texts)["input_ids"], strict=True):
                rows[i] = ([], list(ids), None)
        if hits:
            texts = [f"{self.step_prefix}{contexts[i].action.strip()}{self.marker}" for i in hits]
            encoded = self._encode_steps(texts)
            for i, ids in zip(hits, encoded, strict=True):
                past_ids, batch, row = entries[i]  # type: ignore[misc]
                cache.move_to_end(keys[i])
                rows[i] = (past_ids, ids, (batch, row))
            if not self._split_checked and not self._check_split(contexts[hits[0]], rows[hits[0]]):
                return self.score(contexts)
        import torch

        size = self.max_batch_size or len(rows)
        out: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(rows), size):
                chunk = range(start, min(start + size, len(rows)))
                new_keys = [(keys[i][0], (*keys[i][1], contexts[i].action)) for i in chunk]
                out.extend(self._forward_cached([rows[i] for i in chunk], new_keys))
        return np.asarray(out, dtype=np.float32)

    def _encode_steps(self, texts: Sequence[str]) -> list[list[int]]:
        backend = getattr(self.tokenizer, "backend_tokenizer", None)
        if backend is None:
            return [
                list(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]
            ]
        # One short text at a time: for a few dozen steps the batch call's thread pool costs
        # more than it saves (and competes with torch for the cores).
        return [backend.encode(t, add_special_tokens=False).ids for t in texts]

    def _check_split(self, context: StepContext, row: tuple[list[int], list[int], Any]) -> bool:
        self._split_checked = True
        whole = self.format(context.prompt, [*context.previous_steps, context.action])
        if list(self.tokenizer(whole)["input_ids"]) == row[0] + row[1]:
            return True
        warnings.warn(
            f"the tokenizer does not split text at the marker {self.marker!r}, so a new step "
            "cannot be tokenised on its own; the key/value cache is switched off",
            stacklevel=4,
        )
        self.cache_size = 0
        self._cache.clear()
        return False

    def _forward_cached(
        self,
        rows: Sequence[tuple[list[int], list[int], tuple[_KVBatch, int] | None]],
        new_keys: Sequence[tuple[str, tuple[str, ...]]],
    ) -> list[float]:
        import torch

        device = next(self.model.parameters()).device
        past = [r[2] for r in rows]
        first = past[0]
        if (
            first is not None
            and first[0].rows == len(rows)
            and all(p is not None and p[0] is first[0] and p[1] == r for r, p in enumerate(past))
        ):
            # Row r continues row r of one earlier forward pass, for every r (sub-envs of a
            # vector env stepping together, or one env scored alone): reuse its cache as is.
            layers, past_mask = first[0].layers, first[0].mask
            if past_mask.shape[1] > 2 * max(len(r[0]) for r in rows):
                # The padding kept in place has outgrown the tokens (steps whose lengths
                # vary out of step across rows): squeeze it out once.
                layers, past_mask = _compact(layers, past_mask, max(len(r[0]) for r in rows))
        else:
            layers, past_mask = _assemble(past, len(rows), device)
        new_len = [len(r[1]) for r in rows]
        n_new = max(new_len)
        pad = int(self.tokenizer.pad_token_id)
        # numpy first: torch.tensor on nested lists is several times slower.
        input_ids = torch.from_numpy(
            np.array([ids + [pad] * (n_new - len(ids)) for _, ids, _ in rows], dtype=np.int64)
        ).to(device)
        lengths = torch.from_numpy(
            np.array([[len(r[0]) for r in rows], new_len], dtype=np.int64)
        ).to(device)
        steps = torch.arange(n_new, device=device)
        new_mask = (steps < lengths[1][:, None]).to(past_mask.dtype)
        mask = torch.cat([past_mask, new_mask], dim=1)
        positions = lengths[0][:, None] + steps
        cache = _dynamic_cache(layers)
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "position_ids": positions,
            "use_cache": True,
            str(self._cache_kwarg): cache,
        }
        output = self.model(**kwargs)
        last_marker: list[int] = []
        for ids in (r[1] for r in rows):
            if self.marker_id not in ids:
                raise ValueError(
                    f"no {self.marker!r} marker survived tokenisation of a step; check that the "
                    "marker is a single token and not merged with its neighbours"
                )
            last_marker.append(len(ids) - 1 - ids[::-1].index(self.marker_id))
        logits = output.logits if hasattr(output, "logits") else output[0]
        rows_at = torch.arange(len(rows), device=logits.device)
        at = logits[rows_at, torch.tensor(last_marker, device=logits.device)]
        scores = [float(v) for v in self._probabilities(at.float()).tolist()]
        # The batch's cache tensors were freshly made by this forward pass; they live on while
        # any of their rows is cached (at most cache_size rows in all).
        state = _KVBatch([(layer[0], layer[1]) for layer in cache], mask)
        for r, (past_ids, ids, _) in enumerate(rows):
            self._cache[new_keys[r]] = (past_ids + ids, state, r)
            self._cache.move_to_end(new_keys[r])
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return scores


class _KVBatch:
    """The key/value cache of one cached forward pass, shared by the transcripts it scored.

    ``layers`` holds per layer ``(keys, values)``, each ``(rows, heads, width, head_dim)``;
    ``mask`` ``(rows, width)`` is 1 at a row's real tokens. A row's tokens need not be
    contiguous: the padding of earlier batches (left of a row's cache, right of its new step)
    stays in place, hidden by the mask, so a batch can be extended without copying its rows.
    """

    __slots__ = ("layers", "mask", "rows")

    def __init__(self, layers: list[tuple[Any, Any]], mask: Any) -> None:
        self.layers = layers
        self.mask = mask
        self.rows = int(mask.shape[0])


def _dynamic_cache(layers: Sequence[tuple[Any, Any]]) -> Any:
    """A ``DynamicCache`` holding ``layers``, without copying them where transformers allows.

    ``update`` on an empty layer concatenates onto an empty tensor (a copy of the whole
    cache); transformers >= 4.56 keeps each layer's tensors as ``keys``/``values``, so the
    tensors are handed over directly there. The forward pass never writes into them
    (``update`` concatenates), so a batch's cache can be shared by later passes.
    """
    from transformers import DynamicCache

    cache = DynamicCache()
    held = getattr(cache, "layers", None)
    for i, (keys, values) in enumerate(layers):
        cache.update(keys[:, :, :0], values[:, :, :0], i)  # creates layer i, empty
        layer = held[i] if isinstance(held, list) and i < len(held) else None
        if isinstance(getattr(layer, "keys", None), type(keys)) and hasattr(layer, "values"):
            layer.keys, layer.values = keys, values  # type: ignore[union-attr]
        else:
            cache.update(keys, values, i)
    return cache


def _compact(layers: Sequence[tuple[Any, Any]], mask: Any, width: int) -> tuple[Any, Any]:
    """The same rows with their padding gaps removed: each row's tokens, in order, left-padded
    to ``width`` (the longest row's token count)."""
    import torch

    # A stable sort of the 0/1 mask puts each row's padding first and its tokens after, in order.
    order = torch.sort(mask, dim=1, stable=True).indices[:, mask.shape[1] - width :]
    out = []
    for keys, values in layers:
        at = order[:, None, :, None].expand(-1, keys.shape[1], -1, keys.shape[3])
        out.append((torch.gather(keys, 2, at), torch.gather(values, 2, at)))
    return out, torch.gather(mask, 1, order)


def _assemble(
    past: Sequence[tuple[_KVBatch, int] | None], n: int, device: Any
) -> tuple[list[tuple[Any, Any]], Any]:
    """Per-layer keys/values and mask of ``n`` rows, each row's cache (if any) left-padded.

    Rows are copied one source batch at a time (one indexed copy per batch and layer).
    """
    import torch

    groups: dict[int, tuple[_KVBatch, list[int], list[int]]] = {}
    for r, p in enumerate(past):
        if p is not None:
            group = groups.setdefault(id(p[0]), (p[0], [], []))
            group[1].append(r)
            group[2].append(p[1])
    if not groups:
        return [], torch.zeros((n, 0), dtype=torch.long, device=device)
    width = max(batch.mask.shape[1] for batch, _, _ in groups.values())
    ref = next(iter(groups.values()))[0]
    mask = ref.mask.new_zeros((n, width))
    layers = [
        (
            k.new_zeros((n, k.shape[1], width, k.shape[3])),
            v.new_zeros((n, v.shape[1], width, v.shape[3])),
        )
        for k, v in ref.layers
    ]
    for batch, dest, src in groups.values():
        w = batch.mask.shape[1]
        to = torch.tensor(dest, device=mask.device)
        at = torch.tensor(src, device=mask.device)
        mask[to, width - w :] = batch.mask[at]
        for (keys, values), (k, v) in zip(layers, batch.layers, strict=True):
            keys[to, :, width - w :] = k[at]
            values[to, :, width - w :] = v[at]
    return layers, mask


class TokenProbPRM(_StepTokenPRM):
    """A token-probability PRM (Math-Shepherd style): P(good) at each step tag.

    ``score = softmax(z[[good_id, bad_id]])[0]`` where ``z`` are the causal LM's logits at the
    step tag that ends the scored step (Wang et al., "Math-Shepherd", 2024). Steps are written
    ``prompt + step_prefix + step + step_tag`` each.

    Args:
        model: A local checkpoint path (``AutoModelForCausalLM``) or a built causal LM.
        tokenizer: The tokenizer (loaded from ``model`` when it is a path).
        step_tag: The tag after each step; must be a single token (Math-Shepherd: ``"ки"``).
        good_token, bad_token: The answer tokens (``"+"`` and ``"-"``); one token each.
        step_prefix: Text written before each step (``" "``, or ``"\\n"``).
        max_batch_size: Contexts per forward pass (``None``: the whole batch).
        device: Move the model there (``None``: leave it).
        trust_remote_code: Passed to ``from_pretrained``.
        cache_size: Transcripts whose key/value cache is kept so that scoring their next step
            runs only that step (module docstring); ``0`` (default) recomputes every prefix.
            Set it to at least the number of episodes scored side by side (``num_envs``).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        step_tag: str = "ки",
        good_token: str = "+",
        bad_token: str = "-",
        step_prefix: str = " ",
        max_batch_size: int | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        cache_size: int = 0,
    ) -> None:
        super().__init__(
            model,
            tokenizer,
            marker=step_tag,
            step_prefix=step_prefix,
            max_batch_size=max_batch_size,
            device=device,
            trust_remote_code=trust_remote_code,
            cache_size=cache_size,
        )
        self.good_id = _single_token_id(self.tokenizer, good_token, "good_token")
        self.bad_id = _single_token_id(self.tokenizer, bad_token, "bad_token")

    def _probabilities(self, logits: Any) -> Any:
        pair = logits[..., [self.good_id, self.bad_id]]
        return pair.softmax(dim=-1)[..., 0]


class RewardHeadPRM(_StepTokenPRM):
    """A reward-head PRM (Qwen2.5-Math-PRM style): ``softmax(logits)[1]`` at each separator.

    The model returns two logits per token (a token-classification head, or a custom reward
    head loaded with ``trust_remote_code=True``); the score of step ``k`` is the probability
    of class 1 at the separator that ends it (Zhang et al., "The Lessons of Developing
    Process Reward Models in Mathematical Reasoning", 2025). Qwen2.5-Math-PRM expects its chat
    template around the text; pass ``system_prompt`` to wrap ``prompt`` and the steps as
    system/user/assistant messages with the tokenizer's chat template.

    Args:
        model: A local checkpoint path (``AutoModelForTokenClassification``, or
            ``AutoModel`` with ``trust_remote_code=True``) or a built model.
        tokenizer: The tokenizer (loaded from ``model`` when it is a path).
        separator: The step separator; a single token (Qwen2.5-Math-PRM: ``"<extra_0>"``).
        step_prefix: Text written before each step.
        system_prompt: When set, format with the chat template (see above).
        max_batch_size, device, trust_remote_code, cache_size: As for :class:`TokenProbPRM`.
    """

    _auto_class = "AutoModelForTokenClassification"

    def __init__(
        self,
        model: Any,
        tokenizer: Any = None,
        *,
        separator: str = "<extra_0>",
        step_prefix: str = "",
        system_prompt: str | None = None,
        max_batch_size: int | None = None,
        device: str | None = None,
        trust_remote_code: bool = False,
        cache_size: int = 0,
    ) -> None:
        if trust_remote_code:
            self._auto_class = "AutoModel"
        super().__init__(
            model,
            tokenizer,
            marker=separator,
            step_prefix=step_prefix,
            max_batch_size=max_batch_size,
            device=device,
            trust_remote_code=trust_remote_code,
            cache_size=cache_size,
        )
        self.system_prompt = system_prompt

    @property
    def _extends_prefix(self) -> bool:
        return self.system_prompt is None  # the chat template closes the assistant turn

    def format(self, prompt: str, steps: Sequence[str]) -> str:
        """Steps joined by the separator (one after each), in the chat template if configured."""
        if self.system_prompt is None:
            return super().format(prompt, steps)
        body = "".join(f"{self.step_prefix}{step.strip()}{self.marker}" for step in steps)
        messages = [
            {"role": "system", "content": self.system_prompt},
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": body},
        ]
        return str(self.tokenizer.apply_chat_template(messages, tokenize=False))

    def _probabilities(self, logits: Any) -> Any:
        if logits.shape[-1] < 2:
            raise ValueError(
                f"a reward-head PRM needs >= 2 logits per token, the model gives {logits.shape[-1]}"
            )
        return logits.softmax(dim=-1)[..., 1]
