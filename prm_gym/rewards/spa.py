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

Two estimators share one interface (:class:`ProgressEstimator`: ``fit``, ``contributions``,
``progress``, ``as_potential``):

* :class:`VectorProgressEstimator` -- an MLP on per-step feature vectors (manipulation and
  classic-control envs). A step's features are ``featurize(previous_obs, obs)``, by default
  :func:`transition_features` (the new observation and its change). Inference runs in NumPy on
  weights copied out of torch (one env step calls it once).
* :class:`TextProgressEstimator` -- a causal LM (any ``transformers`` model that returns hidden
  states; a tiny one from :func:`prm_gym.llm.tiny.tiny_causal_lm` in tests) with a linear scalar
  head read at each step's last token, as in SPA. A trajectory is ``(prompt, steps)``; the text
  is the prompt and the steps, each followed by ``step_separator``, tokenised piece by piece so
  that the value at step t depends only on the prefix up to step t (causal attention): the
  whole-trajectory reading and :meth:`TextProgressEstimator.score` on a
  :class:`~prm_gym.core.scorer.StepContext` agree exactly.

Relation to :class:`~prm_gym.rewards.LearnedProgressPotential`: that model predicts the
*cumulative* progress p̂(s) of a state from demonstrations (Robo-Dopamine style labels), so its
per-step contributions are p̂(s_t) − p̂(s_{t−1}); SPA predicts the per-step contributions from
outcomes alone and its prefix sums are the progress. :meth:`ProgressEstimator.as_potential`
turns any estimator over observations into the potential Φ(s_t) = P̂_t for
:class:`~prm_gym.wrappers.PotentialShaping`, so both are one family with one shaping path.
With γ = 1 the shaping term is γΦ(s_{t+1}) − Φ(s_t) = ĉ_{t+1} on every non-terminal step; at
termination PotentialShaping sets Φ = 0, so the episode's shaping telescopes to 0
(policy-invariant), whereas :class:`~prm_gym.wrappers.ProgressAttribution` pays ĉ_t itself
(Σ_t ĉ_t ≈ R̂, not policy-invariant; that is SPA's choice).

torch (and transformers) are imported only when a model is trained or built.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from prm_gym.core.scorer import StepContext
from prm_gym.core.threads import torch_threads

if TYPE_CHECKING:
    import torch

__all__ = [
    "ProgressEstimator",
    "ProgressPotential",
    "TextProgressEstimator",
    "VectorProgressEstimator",
    "flatten_obs",
    "transition_features",
]

FloatArray = npt.NDArray[np.float64]
#: A text trajectory: the task prompt and the agent's steps, oldest first.
TextTrajectory = tuple[str, Sequence[str]]

_GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")


def flatten_obs(obs: Any) -> FloatArray:
    """One flat float vector per observation; ``Dict`` observations in goal-conditioned order
    (``observation``, ``achieved_goal``, ``desired_goal``), other keys sorted."""
    if isinstance(obs, Mapping):
        keys = [k for k in _GOAL_KEYS if k in obs] + sorted(k for k in obs if k not in _GOAL_KEYS)
        return np.concatenate([np.asarray(obs[k], dtype=np.float64).reshape(-1) for k in keys])
    return np.asarray(obs, dtype=np.float64).reshape(-1)


def transition_features(previous_obs: Any, obs: Any) -> FloatArray:
    """Default step features: ``[x_t, x_t − x_{t−1}]`` with x the flattened observation."""
    x, prev = flatten_obs(obs), flatten_obs(previous_obs)
    return np.concatenate([x, x - prev])


class ProgressEstimator(ABC):
    """A model of per-step contributions ĉ_t with Σ_t ĉ_t ≈ R_final (SPA-RL, 2025).

    Subclasses define what a trajectory is and implement :meth:`fit` and
    :meth:`contributions`.
    """

    @abstractmethod
    def fit(
        self,
        trajectories: Sequence[Any],
        outcomes: Sequence[float],
        epochs: int = 100,
        lr: float = 1e-3,
        seed: int = 0,
    ) -> list[float]:
        """Minimise mean over trajectories of (Σ_t ĉ_t − R)²; returns the loss per epoch."""

    @abstractmethod
    def contributions(self, trajectory: Any) -> FloatArray:
        """ĉ_1 … ĉ_T of one trajectory (float64, one per step)."""

    def progress(self, trajectory: Any) -> FloatArray:
        """Prefix sums P̂_t = Σ_{k≤t} ĉ_k: the progress estimate after each step."""
        return np.cumsum(self.contributions(trajectory))

    def as_potential(
        self, featurize: Callable[[Any, Any], npt.ArrayLike] | None = None
    ) -> ProgressPotential:
        """A potential Φ(s_t) = Σ_{k≤t} ĉ_k for :class:`~prm_gym.wrappers.PotentialShaping`.

        Only for estimators whose step features come from observations (the potential never
        sees actions): :class:`VectorProgressEstimator`.
        """
        raise TypeError(
            f"{type(self).__name__} needs the agent's actions, which a potential never sees; "
            "use prm_gym.wrappers.ProgressAttribution instead"
        )


def _check_fit_args(trajectories: Sequence[Any], outcomes: Sequence[float], epochs: int) -> None:
    if len(trajectories) != len(outcomes):
        raise ValueError(f"{len(trajectories)} trajectories but {len(outcomes)} outcomes")
    if not trajectories:
        raise ValueError("fit needs at least one trajectory")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")


class VectorProgressEstimator(ProgressEstimator):
    """SPA progress estimator for vector observations: ĉ_t = MLP(standardise(x_t)).

    A trajectory is an array of shape ``(T, d)``: one feature row per step (build rows with
    ``featurize(previous_obs, obs)``, default :func:`transition_features`, or use
    :meth:`trajectory_features` on the T + 1 observations of an episode). The MLP has tanh
    hidden layers and a linear output; features are standardised with the training set's mean
    and standard deviation.

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
        self._weights: list[tuple[FloatArray, FloatArray]] = []
        self._mean: FloatArray = np.zeros(0)
        self._std: FloatArray = np.ones(0)

    @property
    def fitted(self) -> bool:
        return bool(self._weights)

    def step_features(self, previous_obs: Any, obs: Any) -> FloatArray:
        """The features of the step that led from ``previous_obs`` to ``obs``."""
        return np.asarray(self.featurize(previous_obs, obs), dtype=np.float64).reshape(-1)

    def trajectory_features(self, observations: Sequence[Any]) -> FloatArray:
        """``(T, d)`` step features from an episode's T + 1 observations (reset obs first)."""
        if len(observations) < 2:
            return np.zeros((0, self._mean.size))
        rows = [self.step_features(a, b) for a, b in itertools.pairwise(observations)]
        return np.stack(rows)

    def fit(
        self,
        trajectories: Sequence[npt.ArrayLike],
        outcomes: Sequence[float],
        epochs: int = 200,
        lr: float = 3e-3,
        seed: int = 0,
        batch_size: int = 64,
        weight_decay: float = 0.0,
    ) -> list[float]:
        """Train on ``(T_i, d)`` feature arrays and final rewards R_i.

        Deterministic for a given ``seed``; runs on one torch thread and leaves torch's global
        random state as it was. Returns the mean training loss of each epoch.
        """
        import torch

        _check_fit_args(trajectories, outcomes, epochs)
        arrays = [_rows(np.asarray(t, dtype=np.float64)) for t in trajectories]
        dims = {a.shape[1] for a in arrays if len(a)}
        if len(dims) != 1:
            raise ValueError(f"all steps must have the same feature width, got {sorted(dims)}")
        dim = dims.pop()
        stacked = np.concatenate([a for a in arrays if len(a)])
        self._mean = stacked.mean(axis=0)
        self._std = np.where(stacked.std(axis=0) > 1e-8, stacked.std(axis=0), 1.0)
        t_max = max(len(a) for a in arrays)
        x = np.zeros((len(arrays), t_max, dim), dtype=np.float32)
        mask = np.zeros((len(arrays), t_max), dtype=np.float32)
        for i, a in enumerate(arrays):
            x[i, : len(a)] = (a - self._mean) / self._std
            mask[i, : len(a)] = 1.0
        y = np.asarray(outcomes, dtype=np.float32)
        history: list[float] = []
        with torch_threads(1), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _mlp(dim, self.hidden)
            opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
            xt, mt, yt = torch.from_numpy(x), torch.from_numpy(mask), torch.from_numpy(y)
            gen = torch.Generator().manual_seed(seed)
            for _ in range(epochs):
                order = torch.randperm(len(arrays), generator=gen)
                total = 0.0
                for start in range(0, len(arrays), batch_size):
                    idx = order[start : start + batch_size]
                    c = net(xt[idx]).squeeze(-1) * mt[idx]
                    loss = ((c.sum(dim=1) - yt[idx]) ** 2).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(idx)
                history.append(total / len(arrays))
            self._weights = [
                (m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy())
                for m in net
                if isinstance(m, torch.nn.Linear)
            ]
        return history

    def contributions(self, trajectory: npt.ArrayLike) -> FloatArray:
        """ĉ_t for each row of a ``(T, d)`` feature array."""
        if not self.fitted:
            raise RuntimeError("VectorProgressEstimator is not trained: call fit(...) first")
        x = np.asarray(trajectory, dtype=np.float64)
        if x.size == 0:
            return np.zeros(0)
        x = x.reshape(len(x), -1)
        if x.shape[1] != self._mean.size:
            raise ValueError(f"expected {self._mean.size} features per step, got {x.shape[1]}")
        h = (x - self._mean) / self._std
        for i, (w, b) in enumerate(self._weights):
            h = h @ w + b
            if i < len(self._weights) - 1:
                h = np.tanh(h)
        return np.asarray(h[:, 0], dtype=np.float64)

    def as_potential(
        self, featurize: Callable[[Any, Any], npt.ArrayLike] | None = None
    ) -> ProgressPotential:
        return ProgressPotential(self, featurize)

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


def _rows(x: FloatArray) -> FloatArray:
    """A trajectory's ``(T, d)`` feature rows (a 1-d array is T steps of one feature)."""
    return x.reshape(len(x), -1) if x.ndim else x.reshape(1, 1)


def _mlp(input_dim: int, hidden: Sequence[int]) -> torch.nn.Sequential:
    import torch

    layers: list[torch.nn.Module] = []
    width = input_dim
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.Tanh()]
        width = h
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


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
        return self._batch_contributions([trajectory])[0]

    def _batch_contributions(self, trajectories: Sequence[TextTrajectory]) -> list[FloatArray]:
        import torch

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
        return np.asarray([v[-1] for v in self._batch_contributions(trajs)], dtype=np.float32)

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

    def __repr__(self) -> str:
        return f"TextProgressEstimator(model={type(self.model).__name__})"
