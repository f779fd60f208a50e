"""Stepwise progress attribution: a learned model of each step's contribution (DESIGN §4).

SPA-RL ("Stepwise Progress Attribution", 2025; WangHanLinHenry/SPA-RL-Agent, ``prm/``) trains a
*progress estimator* that maps every step t of a trajectory to a scalar contribution
:math:`\\hat c_t`, supervised only by the trajectory's final reward:

.. math::

    \\mathcal{L} = \\mathbb{E}_{\\tau}\\Big[\\Big(\\sum_{t=1}^{T} \\hat c_t - R_{\\text{final}}
    \\Big)^2\\Big].

The contributions redistribute the sparse outcome over the steps; their prefix sums
:math:`\\hat P_t = \\sum_{k \\le t} \\hat c_k` are a progress estimate. The step reward of SPA is
:math:`r_t = \\alpha \\hat c_t + \\beta g_t` with a grounding term :math:`g_t` for actions that
executed validly (:class:`prm_gym.wrappers.ProgressAttribution`).

Both are members of the progress-estimator family of :mod:`prm_gym.rewards.progress`
(:class:`~prm_gym.rewards.progress.ProgressEstimator`: ``contributions``,
``contributions_batch``, ``progress``, ``as_potential``, ``save`` / ``load``):

* :class:`VectorProgressEstimator` -- an MLP on per-step feature vectors (manipulation and
  classic-control envs). A step's features are ``featurize(previous_obs, obs)``, by default
  :func:`transition_features` (the new observation and its change). It shares the family's MLP
  core with :class:`~prm_gym.rewards.LearnedProgressPotential` (featurising, standardisation,
  training loop, NumPy inference, file format) and differs only in the loss.
* :class:`TextProgressEstimator` -- a causal LM (any ``transformers`` model that returns hidden
  states; a tiny one from :func:`prm_gym.llm.tiny.tiny_causal_lm` in tests) with a linear scalar
  head read at each step's last token, as in SPA. A trajectory is ``(prompt, steps)``; the text
  is the prompt and the steps, each followed by ``step_separator``, tokenised piece by piece so
  that the value at step t depends only on the prefix up to step t (causal attention): the
  whole-trajectory reading and :meth:`TextProgressEstimator.score` on a
  :class:`~prm_gym.core.scorer.StepContext` agree exactly.

Relation to :class:`~prm_gym.rewards.LearnedProgressPotential`: that model predicts the
*cumulative* progress p̂(s) of a state from demonstrations (Robo-Dopamine style labels), so its
per-step contributions are Φ(s_t) − Φ(s_{t−1}); SPA predicts the per-step contributions from
outcomes alone and its prefix sums are the progress. :meth:`VectorProgressEstimator.as_potential`
gives the potential Φ(s_t) = P̂_t for :class:`~prm_gym.wrappers.PotentialShaping`.
With γ = 1 the shaping term is γΦ(s_{t+1}) − Φ(s_t) = ĉ_{t+1} on every non-terminal step; at
termination PotentialShaping sets Φ = 0, so the episode's shaping telescopes to 0
(policy-invariant), whereas :class:`~prm_gym.wrappers.ProgressAttribution` pays ĉ_t itself
(Σ_t ĉ_t ≈ R̂, not policy-invariant; that is SPA's choice).

torch (and transformers) are imported only when a model is trained or built.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from prm_gym.core.scorer import StepContext
from prm_gym.rewards.progress import (
    FILE_FORMAT,
    FILE_VERSION,
    META_FILE,
    MLP,
    ProgressEstimator,
    RowProgressEstimator,
    fit_mlp,
    flatten_observation,
    read_model_file,
    standardisation,
    write_model_file,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "ProgressEstimator",
    "ProgressPotential",
    "TextProgressEstimator",
    "VectorProgressEstimator",
    "transition_features",
]

FloatArray = npt.NDArray[np.float64]
#: A text trajectory: the task prompt and the agent's steps, oldest first.
TextTrajectory = tuple[str, Sequence[str]]
_HEAD_FILE = "progress_head.pt"


def transition_features(previous_obs: Any, obs: Any) -> FloatArray:
    """Default step features: ``[x_t, x_t − x_{t−1}]`` with x = :func:`flatten_observation`."""
    x = flatten_observation(obs).reshape(-1)
    prev = flatten_observation(previous_obs).reshape(-1)
    return np.concatenate([x, x - prev])


def _qualified_name(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def _check_fit_args(trajectories: Sequence[Any], outcomes: Sequence[float], epochs: int) -> None:
    if len(trajectories) != len(outcomes):
        raise ValueError(f"{len(trajectories)} trajectories but {len(outcomes)} outcomes")
    if not trajectories:
        raise ValueError("fit needs at least one trajectory")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")


class VectorProgressEstimator(RowProgressEstimator):
    """SPA progress estimator for vector observations: ĉ_t = MLP(standardise(x_t)).

    A trajectory is an array of shape ``(T, d)``: one feature row per step (build rows with
    ``featurize(previous_obs, obs)``, default :func:`transition_features`, or use
    :meth:`trajectory_features` on the T + 1 observations of an episode). The MLP (the family's
    :class:`~prm_gym.rewards.progress.MLP`) has tanh hidden layers and a linear output; features
    are standardised with the training set's mean and standard deviation.

    Args:
        hidden: Hidden layer widths.
        featurize: ``(previous_obs, obs) -> features`` used by the wrapper and the potential.

    Example:
        >>> import numpy as np
        >>> from prm_gym.rewards.spa import VectorProgressEstimator
        >>> rng = np.random.default_rng(0)
        >>> trajs = [rng.normal(size=(int(rng.integers(2, 8)), 2)) for _ in range(200)]
        >>> outcomes = [float(t[:, 0].sum()) for t in trajs]   # true ĉ_t = x_t[0]
        >>> est = VectorProgressEstimator(hidden=(16,))
        >>> loss = est.fit(trajs, outcomes, epochs=60, lr=1e-2)
        >>> c = est.contributions(trajs[0])
        >>> bool(np.corrcoef(c, trajs[0][:, 0])[0, 1] > 0.9)
        True
    """

    def __init__(
        self,
        hidden: Sequence[int] = (64, 64),
        featurize: Callable[[Any, Any], npt.ArrayLike] | None = None,
    ) -> None:
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden widths must be >= 1, got {tuple(hidden)}")
        self.hidden = tuple(int(h) for h in hidden)
        self.featurize = featurize or transition_features
        self.mlp: MLP | None = None
        self.config: dict[str, Any] = {}

    @property
    def fitted(self) -> bool:
        return self.mlp is not None

    @property
    def feature_dim(self) -> int:
        """Length of a step-feature row (0 before training)."""
        return 0 if self.mlp is None else self.mlp.input_dim

    def step_features(self, previous_obs: Any, obs: Any) -> FloatArray:
        """The features of the step that led from ``previous_obs`` to ``obs``."""
        return np.asarray(self.featurize(previous_obs, obs), dtype=np.float64).reshape(-1)

    def _rows(self, trajectory: npt.ArrayLike) -> FloatArray:
        if self.mlp is None:
            raise RuntimeError("VectorProgressEstimator is not trained: call fit(...) first")
        return super()._rows(trajectory)

    def _row_contributions(self, rows: FloatArray) -> FloatArray:
        assert self.mlp is not None
        return self.mlp(rows).astype(np.float64)

    def fit(
        self,
        trajectories: Sequence[npt.ArrayLike],
        outcomes: Sequence[float],
        epochs: int = 200,
        lr: float = 3e-3,
        seed: int = 0,
        batch_size: int = 64,
        weight_decay: float = 0.0,
        progress: bool = False,
    ) -> list[float]:
        """Train on ``(T_i, d)`` feature arrays and final rewards R_i: minimise the mean over
        trajectories of (Σ_t ĉ_t − R_i)² (SPA-RL).

        Deterministic for a given ``seed``; runs on one torch thread and leaves torch's global
        random state as it was. Returns the mean training loss of each epoch.
        """
        _check_fit_args(trajectories, outcomes, epochs)
        arrays = [_as_rows(np.asarray(t, dtype=np.float64)) for t in trajectories]
        dims = {a.shape[1] for a in arrays if len(a)}
        if len(dims) != 1:
            raise ValueError(f"all steps must have the same feature width, got {sorted(dims)}")
        dim = dims.pop()
        mean, std = standardisation(np.concatenate([a for a in arrays if len(a)]))
        t_max = max(len(a) for a in arrays)
        x = np.zeros((len(arrays), t_max, dim), dtype=np.float32)
        mask = np.zeros((len(arrays), t_max), dtype=np.float32)
        for i, a in enumerate(arrays):
            x[i, : len(a)] = (a - mean) / std
            mask[i, : len(a)] = 1.0

        import torch

        mt = torch.from_numpy(mask)
        yt = torch.as_tensor(np.asarray(outcomes, dtype=np.float32))

        def loss(out: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
            return (((out * mt[idx]).sum(dim=1) - yt[idx]) ** 2).mean()

        weights, history = fit_mlp(
            x,
            loss,
            hidden=self.hidden,
            epochs=epochs,
            lr=lr,
            seed=seed,
            batch_size=batch_size,
            weight_decay=weight_decay,
            progress=progress,
            desc="SPA progress estimator",
        )
        self.mlp = MLP(weights, mean, std)
        self.config = {
            "epochs": epochs,
            "lr": lr,
            "seed": seed,
            "batch_size": batch_size,
            "weight_decay": weight_decay,
            "n_trajectories": len(arrays),
        }
        return history

    def as_potential(
        self, featurize: Callable[[Any, Any], npt.ArrayLike] | None = None
    ) -> ProgressPotential:
        """Φ(s_t) = Σ_{k≤t} ĉ_k along the episode (:class:`ProgressPotential`)."""
        return ProgressPotential(self, featurize)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights, feature statistics, hidden sizes, config and the featurizer's name to
        one local file. A custom ``featurize`` is stored by name only: pass it to :meth:`load`."""
        if self.mlp is None:
            raise RuntimeError("VectorProgressEstimator is not trained: nothing to save")
        meta = {
            "hidden": list(self.hidden),
            "featurize": _qualified_name(self.featurize),
            "config": self.config,
        }
        write_model_file(path, type(self).__name__, self.mlp.arrays(), meta)

    @classmethod
    def _load(
        cls,
        path: Path,
        meta: dict[str, Any],
        featurize: Callable[[Any, Any], npt.ArrayLike] | None = None,
        **options: Any,
    ) -> VectorProgressEstimator:
        if options:
            raise TypeError(f"unexpected options for {cls.__name__}.load: {sorted(options)}")
        arrays, meta = read_model_file(path)
        saved = meta["featurize"]
        if featurize is None and saved != _qualified_name(transition_features):
            raise ValueError(
                f"{path} was saved with featurize={saved}; pass the same function: "
                f"{cls.__name__}.load(path, featurize=...)"
            )
        est = cls(hidden=meta["hidden"], featurize=featurize)
        est.mlp = MLP.from_arrays(arrays)
        est.config = dict(meta["config"])
        return est

    def __repr__(self) -> str:
        return f"VectorProgressEstimator(hidden={self.hidden}, fitted={self.fitted})"


class ProgressPotential:
    """Φ(s_t) = Σ_{k≤t} ĉ_k along the current episode, for :class:`PotentialShaping`.

    The prefix sum depends on the episode so far, so the potential keeps the previous
    observation and the running sum; :meth:`reset` starts a new episode
    (:class:`~prm_gym.wrappers.PotentialShaping` calls it at every env reset, so Φ(s_0) = 0).
    One potential serves one env at a time (not a vector env's sub-envs).
    """

    def __init__(
        self,
        estimator: VectorProgressEstimator,
        featurize: Callable[[Any, Any], npt.ArrayLike] | None = None,
    ) -> None:
        self.estimator = estimator
        self.featurize = featurize or estimator.featurize
        self._previous: Any = None
        self._total = 0.0

    def reset(self) -> None:
        """Forget the episode: the next call is the reset observation, with Φ = 0."""
        self._previous = None
        self._total = 0.0

    def __call__(self, observation: Any, info: Mapping[str, Any] | None = None, /) -> float:
        if self._previous is not None:
            x = np.asarray(self.featurize(self._previous, observation), dtype=np.float64)
            self._total += float(self.estimator.contributions(x.reshape(1, -1))[0])
        self._previous = observation
        return self._total


def _as_rows(x: FloatArray) -> FloatArray:
    """A trajectory's ``(T, d)`` feature rows (a 1-d array is T steps of one feature)."""
    return x.reshape(len(x), -1) if x.ndim else x.reshape(1, 1)


class TextProgressEstimator(ProgressEstimator):
    """SPA progress estimator for text steps: a causal LM with a scalar head at each step's end.

    ĉ_t = w·h_{i_t} + b, where h is the model's last hidden state and i_t the last token of
    step t in ``prompt ⧺ sep ⧺ step_1 ⧺ sep ⧺ … ⧺ step_t ⧺ sep`` (the separator's last token
    when ``step_separator`` is non-empty). Training minimises (Σ_t ĉ_t − R)² per trajectory
    (SPA-RL, 2025), fine-tuning the backbone too unless ``train_backbone=False``.

    Args:
        model: A ``transformers`` model that accepts ``output_hidden_states=True`` (a causal LM,
            e.g. from :func:`~prm_gym.llm.tiny.tiny_causal_lm`).
        tokenizer: Its tokenizer.
        step_separator: Text after the prompt and after each step.
        max_length: Longest token sequence; longer trajectories raise ``ValueError``.
        train_backbone: Fine-tune the model in :meth:`fit` (else only the head).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        step_separator: str = "\n",
        max_length: int = 1024,
        train_backbone: bool = True,
    ) -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.step_separator = step_separator
        self.max_length = max_length
        self.train_backbone = train_backbone
        hidden = int(model.config.hidden_size)
        gen = torch.Generator().manual_seed(0)
        self.head = torch.nn.Linear(hidden, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(1, hidden, generator=gen) * 0.01)
            self.head.bias.zero_()
        pad = getattr(tokenizer, "pad_token_id", None)
        self._pad_id = int(pad if pad is not None else (tokenizer.eos_token_id or 0))

    @classmethod
    def from_pretrained(cls, path: str, **kwargs: Any) -> TextProgressEstimator:
        """Load a local causal LM directory (``save_pretrained`` output) as the backbone."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model = AutoModelForCausalLM.from_pretrained(path)
        return cls(model, AutoTokenizer.from_pretrained(path), **kwargs)

    def _encode(self, trajectory: TextTrajectory) -> tuple[list[int], list[int]]:
        prompt, steps = trajectory
        if isinstance(steps, str):
            raise TypeError("a text trajectory is (prompt, steps) with steps a list of str")
        sep = self.step_separator

        def ids(text: str) -> list[int]:
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

        tokens = ids(prompt + sep)
        ends: list[int] = []
        for step in steps:
            piece = ids(str(step) + sep)
            if not piece:
                raise ValueError(f"step {step!r} encodes to no tokens")
            tokens += piece
            ends.append(len(tokens) - 1)
        if len(tokens) > self.max_length:
            raise ValueError(f"trajectory is {len(tokens)} tokens, max_length={self.max_length}")
        return tokens, ends

    def _values(self, encoded: Sequence[tuple[list[int], list[int]]]) -> list[torch.Tensor]:
        """ĉ for each encoded trajectory, from one right-padded forward pass (causal masks make
        the padding invisible to earlier positions)."""
        import torch

        width = max(max(len(t) for t, _ in encoded), 1)
        ids = torch.full((len(encoded), width), self._pad_id, dtype=torch.long)
        att = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, (t, _) in enumerate(encoded):
            ids[i, : len(t)] = torch.tensor(t, dtype=torch.long)
            att[i, : len(t)] = 1
        out = self.model(input_ids=ids, attention_mask=att, output_hidden_states=True)
        values = self.head(out.hidden_states[-1]).squeeze(-1)
        return [values[i, ends] for i, (_, ends) in enumerate(encoded)]

    def contributions(self, trajectory: TextTrajectory) -> FloatArray:
        """ĉ_t for each step of ``(prompt, steps)``."""
        return self.contributions_batch([trajectory])[0]

    def contributions_batch(self, trajectories: Sequence[TextTrajectory]) -> list[FloatArray]:
        """ĉ of several trajectories from one right-padded forward pass."""
        import torch

        if not trajectories:
            return []

        encoded = [self._encode(t) for t in trajectories]
        self.model.eval()
        with torch.no_grad():
            values = self._values(encoded)
        return [v.double().numpy().copy() for v in values]

    def score(self, contexts: Sequence[StepContext]) -> np.ndarray:
        """Scorer interface: ĉ of each context's own step, given its prompt and earlier steps."""
        if not contexts:
            return np.zeros(0, dtype=np.float32)
        trajs = [(c.prompt, (*c.previous_steps, c.action)) for c in contexts]
        return np.asarray([v[-1] for v in self.contributions_batch(trajs)], dtype=np.float32)

    def fit(
        self,
        trajectories: Sequence[TextTrajectory],
        outcomes: Sequence[float],
        epochs: int = 3,
        lr: float = 1e-4,
        seed: int = 0,
        batch_size: int = 8,
    ) -> list[float]:
        """Train on ``(prompt, steps)`` trajectories and final rewards; loss per epoch."""
        import torch

        _check_fit_args(trajectories, outcomes, epochs)
        encoded = [self._encode(t) for t in trajectories]
        y = torch.tensor(list(outcomes), dtype=torch.float32)
        params = list(self.head.parameters())
        if self.train_backbone:
            params += list(self.model.parameters())
        for p in self.model.parameters():
            p.requires_grad_(self.train_backbone)
        opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
        gen = torch.Generator().manual_seed(seed)
        history: list[float] = []
        self.model.train()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)  # dropout
                for _ in range(epochs):
                    order = torch.randperm(len(encoded), generator=gen).tolist()
                    total = 0.0
                    for start in range(0, len(order), batch_size):
                        idx = order[start : start + batch_size]
                        values = self._values([encoded[i] for i in idx])
                        sums = torch.stack([v.sum() for v in values])
                        loss = ((sums.float() - y[idx]) ** 2).mean()
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
                        total += float(loss.detach()) * len(idx)
                    history.append(total / len(encoded))
        finally:
            self.model.eval()
        return history

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the backbone and tokenizer (``save_pretrained``), the head and the settings to
        the directory ``path`` (created if needed)."""
        import torch

        directory = Path(path)
        directory.mkdir(parents=True, exist_ok=True)
        self.model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        torch.save({k: v.detach().clone() for k, v in self.head.state_dict().items()},
                   directory / _HEAD_FILE)  # fmt: skip
        meta = {
            "format": FILE_FORMAT,
            "version": FILE_VERSION,
            "kind": type(self).__name__,
            "step_separator": self.step_separator,
            "max_length": self.max_length,
            "train_backbone": self.train_backbone,
        }
        (directory / META_FILE).write_text(json.dumps(meta, indent=2))

    @classmethod
    def _load(cls, path: Path, meta: dict[str, Any], **options: Any) -> TextProgressEstimator:
        import torch

        settings = {k: meta[k] for k in ("step_separator", "max_length", "train_backbone")}
        est = cls.from_pretrained(str(path), **{**settings, **options})
        state = torch.load(path / _HEAD_FILE, map_location="cpu", weights_only=True)
        est.head.load_state_dict(state)
        est.model.eval()
        return est

    def __repr__(self) -> str:
        return f"TextProgressEstimator(model={type(self.model).__name__})"
