"""Learned task-progress estimators: one family, one MLP core (DESIGN §4, issues 3 and 6).

A *progress estimator* rates how much each step of a trajectory moved the task forward: its
contributions ĉ_1 … ĉ_T, whose prefix sums are a progress estimate. The family
(:class:`ProgressEstimator`) has one interface -- ``contributions``, ``contributions_batch``,
``progress``, ``as_potential``, ``save`` / ``load`` -- and members that differ only in their
input and their training objective:

=====================================  ==========================  ==============================
estimator                              input                       objective
=====================================  ==========================  ==============================
:class:`LearnedProgressPotential`      one state s (observation)   supervised progress p̂(s)
                                                                   (Robo-Dopamine, 2025);
                                                                   ĉ_t = Φ(s_t) − Φ(s_{t−1})
:class:`~prm_gym.rewards.spa.          one step (prev. obs, obs)   Σ_t ĉ_t = final reward
VectorProgressEstimator`                                           (SPA-RL, 2025)
:class:`~prm_gym.rewards.spa.          prompt + text steps         Σ_t ĉ_t = final reward
TextProgressEstimator`                                             (SPA-RL, 2025)
=====================================  ==========================  ==============================

The two estimators over vector observations share everything but the loss, in this module:
observation featurising (:func:`flatten_observation`), input standardisation, the network
(:class:`MLP`: tanh hidden layers, one linear output), the torch training loop
(:func:`fit_mlp`: Adam, mini-batches, deterministic per seed, one thread, torch's global random
state left alone), NumPy inference on weights copied out of torch (a tiny MLP is several times
faster in NumPy than a torch call, which matters because shaping calls it every env step) and
the file format (:meth:`ProgressEstimator.save`: weights, normalisation and config in one
``.npz``-format file that loads without torch or pickle).

**The learned progress potential.** :class:`LearnedProgressPotential` is a learned process
reward model that scores task progress, as in Robo-Dopamine ("General Process Reward Modeling
for High-Precision Robotic Manipulation", 2025): a network trained on demonstrations predicts
how far along the task a state is, and its prediction is the potential Φ of
:class:`~prm_gym.wrappers.PotentialShaping`. Robo-Dopamine labels a frame of an expert video by
its place between the initial state K₀ and the success state K_N (interpolated within
human-annotated sub-task segments); with one segment, that is the rule here:

* **Input.** :func:`flatten_observation`: for Gymnasium-Robotics ``Dict`` observations
  ``[observation, achieved_goal, desired_goal, desired_goal − achieved_goal]``, plain arrays as
  they are; standardised with the training set's statistics. Standardisation and the relative
  goal are linear, so they are folded into the first layer: the model reads raw observations.
* **Labels** (:func:`progress_labels`). In a successful demo whose first successful state is
  s_k, s_i gets ``min(1, i / k)``: 0 at the start, 1 at success and after (Robo-Dopamine's
  rule). With a fixed ``horizon`` H it gets ``clip(1 − (k − i) / H, 0, 1)`` instead: the steps
  the demo still needed, as a fraction of H, which for a memoryless expert is a property of the
  state rather than of where the demo began. A demo that never succeeds gets its time fraction
  scaled by how close it came: ``i / (N − 1) · clip(1 − d_{N−1} / d₀, 0, 1)``,
  d = ‖achieved_goal − desired_goal‖.
* **Loss.** Binary cross-entropy between p̂(s) = σ(MLP(s)) and the soft labels.
* **Data** (:meth:`LearnedProgressPotential.from_experts`). Clean scripted-expert demos plus
  *random-start* demos: the env is driven by uniform random actions for a random number of
  steps, and the demo starts where the expert takes over; labels use the fixed horizon
  H = 25. Clean demos from the reset state with the per-demo
  rule cover only the narrow tube around the expert's straight path and label every start 0
  however far it is from the goal; a model fitted on them was flat and noisy on the states an
  exploring agent visits (Spearman with −distance 0.38 on random-policy states of
  prm/Reach-v0, against 0.82 with random starts and H = 25), and SAC shaped with it never
  succeeded in 6k steps.

Φ(s) = ``scale`` · p̂(s). Shaping adds γΦ(s′) − Φ(s) per step, which leaves the optimal policy
unchanged (Ng, Harada & Russell 1999) however good or bad the model is: a poor progress model
only costs sample efficiency.
"""

from __future__ import annotations

import json
import math
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import numpy.typing as npt

from prm_gym.core.threads import torch_threads

if TYPE_CHECKING:
    import torch

__all__ = [
    "GOAL_KEYS",
    "MLP",
    "LearnedProgressPotential",
    "ProgressEstimator",
    "RowProgressEstimator",
    "fit_mlp",
    "flatten_observation",
    "progress_labels",
    "random_start_demos",
    "standardisation",
]

FloatArray = npt.NDArray[np.float64]
F32Array = npt.NDArray[np.float32]

#: Keys of a goal-conditioned ``Dict`` observation, in the order they are concatenated.
GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
#: ``format`` field of every file :meth:`ProgressEstimator.save` writes.
FILE_FORMAT = "prm_gym.ProgressEstimator"
FILE_VERSION = 2
#: Name of the metadata file in a directory written by a text estimator's ``save``.
META_FILE = "progress_estimator.json"


# -- observations -------------------------------------------------------------------------------
def flatten_observation(obs: Any) -> FloatArray:
    """One flat feature vector per observation (a batch stays a batch).

    A goal-conditioned ``Dict`` observation becomes ``[observation, achieved_goal, desired_goal,
    desired_goal − achieved_goal]``; the relative goal is added because progress depends on it
    more directly than on either goal alone. Any other ``Dict`` observation is its values
    concatenated in sorted key order; an array is used as it is.

    Args:
        obs: A mapping of arrays of shape ``(d,)`` (or a batch ``(n, d)``), or an array ``(d,)``
            / ``(n, d)``.

    Returns:
        float64 array of shape ``(D,)`` or ``(n, D)``.
    """
    if isinstance(obs, Mapping):
        if all(k in obs for k in GOAL_KEYS):
            o, a, d = (np.asarray(obs[k], dtype=np.float64) for k in GOAL_KEYS)
            return np.concatenate([o, a, d, d - a], axis=-1)
        if not obs:
            raise ValueError("empty Dict observation")
        parts = [np.atleast_1d(np.asarray(obs[k], dtype=np.float64)) for k in sorted(obs)]
        return np.concatenate(parts, axis=-1)
    return np.asarray(obs, dtype=np.float64)


def _success_per_state(demo: Mapping[str, Any], n_states: int) -> npt.NDArray[np.bool_]:
    success = np.asarray(demo["is_success"], dtype=bool).reshape(-1)
    if len(success) == n_states:
        return success
    if len(success) == n_states - 1:
        # One flag per action: flag t belongs to the state the action led to, s_{t+1}.
        return np.concatenate([[False], success])
    raise ValueError(
        f"demo has {n_states} observations but {len(success)} is_success flags; expected one "
        "flag per observation or one per action (observations = actions + 1)"
    )


def progress_labels(demo: Mapping[str, Any], horizon: int | None = None) -> FloatArray:
    """Progress targets in [0, 1] for every state of one demo (the rule in the module docstring).

    Args:
        demo: A mapping with ``observation`` (``N`` states, or the goal-conditioned keys
            ``observation`` / ``achieved_goal`` / ``desired_goal`` with ``N`` rows each) and
            ``is_success`` (``N`` flags, or ``N − 1`` flags, one per action). Failed demos also
            need ``achieved_goal`` and ``desired_goal`` for their final distance.
        horizon: ``None``: Robo-Dopamine's per-demo rule, ``min(1, i / k)``. An integer H:
            a successful demo's s_i gets ``clip(1 − (k − i) / H, 0, 1)``, the steps still
            needed to reach success as a fraction of a fixed horizon (equal to the per-demo
            rule when k = H). Failed demos use the rule above either way.

    Returns:
        float64 array of shape ``(N,)``.

    Example:
        >>> import numpy as np
        >>> demo = {"observation": np.zeros((5, 2)), "is_success": [0, 0, 1, 1]}
        >>> progress_labels(demo).tolist()  # success first at s_3
        [0.0, 0.3333333333333333, 0.6666666666666666, 1.0, 1.0]
    """
    n = len(demo["observation"])
    if n == 0:
        raise ValueError("demo has no observations")
    success = _success_per_state(demo, n)
    steps = np.arange(n, dtype=np.float64)
    if horizon is not None and horizon < 1:
        raise ValueError(f"horizon must be >= 1 or None, got {horizon}")
    if success.any():
        k = int(np.argmax(success))
        if horizon is not None:
            return np.clip(1.0 - (k - steps) / horizon, 0.0, 1.0)
        return np.ones(n) if k == 0 else np.minimum(1.0, steps / k)
    if "achieved_goal" not in demo or "desired_goal" not in demo:
        raise KeyError(
            "a demo that never succeeds needs achieved_goal and desired_goal to measure how "
            "close it came; drop failed demos or include the goal keys"
        )
    distance = np.linalg.norm(
        np.asarray(demo["achieved_goal"], dtype=np.float64)
        - np.asarray(demo["desired_goal"], dtype=np.float64),
        axis=-1,
    )
    final = float(np.clip(1.0 - distance[-1] / max(float(distance[0]), 1e-8), 0.0, 1.0))
    return (steps / max(n - 1, 1)) * final


# -- the shared MLP core --------------------------------------------------------------------------
def standardisation(rows: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Mean and standard deviation of feature rows ``(n, d)``; deviations ≤ 1e-8 become 1."""
    x = np.asarray(rows, dtype=np.float64)
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std > 1e-8, std, 1.0)


class MLP:
    """A scalar-output MLP on standardised features, evaluated in NumPy (float32).

    ``f(x) = W_L · tanh(… tanh(W_1 · z + b_1) …) + b_L`` with ``z = (x·M − mean) / std``: ``M``
    (``input_map``) is an optional linear featurisation of the raw input (e.g. appending the
    relative goal), ``mean`` / ``std`` the training set's feature statistics. ``M`` and the
    standardisation are folded into the first layer once, so a call is one small matrix product
    per layer.

    Args:
        weights: ``[(W, b), ...]`` per layer, ``W`` of shape ``(in, out)``; the last layer has one
            output.
        mean: Feature mean, shape ``(in,)``.
        std: Feature standard deviation (values ≤ 1e-8 are treated as 1).
        input_map: ``(raw_dim, in)`` matrix from raw inputs to features; ``None``: identity.
    """

    def __init__(
        self,
        weights: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
        mean: npt.ArrayLike,
        std: npt.ArrayLike,
        input_map: npt.ArrayLike | None = None,
    ) -> None:
        if not weights:
            raise ValueError("weights must hold at least one (W, b) layer")
        self.weights = [
            (np.array(w, dtype=np.float64, ndmin=2), np.array(b, dtype=np.float64, ndmin=1))
            for w, b in weights
        ]
        width = self.weights[0][0].shape[0]
        for i, (w, b) in enumerate(self.weights):
            if w.shape[0] != width or b.shape != (w.shape[1],):
                raise ValueError(
                    f"layer {i}: expected W of shape ({width}, out) and b of shape (out,), got "
                    f"{w.shape} and {b.shape}"
                )
            width = w.shape[1]
        if width != 1:
            raise ValueError("the last layer must have one output")
        self.mean = np.array(mean, dtype=np.float64).reshape(-1)
        std_arr = np.array(std, dtype=np.float64).reshape(-1)
        self.std = np.where(std_arr > 1e-8, std_arr, 1.0)
        if self.mean.shape != (self.input_dim,) or self.std.shape != (self.input_dim,):
            raise ValueError(
                f"mean and std must have shape ({self.input_dim},) to match the first layer, got "
                f"{self.mean.shape} and {self.std.shape}"
            )
        self.input_map = None if input_map is None else np.array(input_map, dtype=np.float64)
        if self.input_map is not None and (
            self.input_map.ndim != 2 or self.input_map.shape[1] != self.input_dim
        ):
            raise ValueError(
                f"input_map must have shape (raw_dim, {self.input_dim}), got {self.input_map.shape}"
            )
        w0, b0 = self.weights[0]
        first = w0 / self.std[:, None]
        if self.input_map is not None:
            first = self.input_map @ first
        # float32: a forward pass is ~15% faster than in float64; the weights were trained in
        # float32 anyway.
        f32 = np.float32
        self.w0 = np.ascontiguousarray(first, dtype=f32)
        self.b0 = (b0 - (self.mean / self.std) @ w0).astype(f32)
        self.hidden_layers = [
            (np.ascontiguousarray(w, dtype=f32), b.astype(f32)) for w, b in self.weights[1:-1]
        ]
        self.w_out: F32Array | None = None
        self.b_out = 0.0
        if len(self.weights) > 1:
            w_out, b_out = self.weights[-1]
            self.w_out = np.ascontiguousarray(w_out[:, 0], dtype=f32)
            self.b_out = float(b_out[0])

    @property
    def input_dim(self) -> int:
        """Length of the feature vector the first layer reads."""
        return int(self.weights[0][0].shape[0])

    @property
    def raw_dim(self) -> int:
        """Length of the raw input (``input_dim`` unless an ``input_map`` is set)."""
        return int(self.w0.shape[0])

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer sizes."""
        return tuple(int(w.shape[1]) for w, _ in self.weights[:-1])

    def __call__(self, x: npt.ArrayLike) -> F32Array:
        """Outputs for raw input ``(raw_dim,)`` (0-d) or ``(n, raw_dim)`` (shape ``(n,)``)."""
        x = np.asarray(x, dtype=np.float32)
        if x.shape[-1:] != (self.raw_dim,):
            raise ValueError(
                f"input has shape {x.shape} but the model expects {self.raw_dim} values per row "
                f"(features: {self.input_dim}); use a model trained on this input"
            )
        h = np.dot(x, self.w0) + self.b0
        if self.w_out is None:
            out: F32Array = h[..., 0] + np.float32(self.b_out)
            return out
        h = np.tanh(h)
        for w, b in self.hidden_layers:
            h = np.tanh(np.dot(h, w) + b)
        out = np.dot(h, self.w_out) + np.float32(self.b_out)
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """The model as named arrays (what :meth:`ProgressEstimator.save` writes)."""
        out: dict[str, np.ndarray] = {"mean": self.mean, "std": self.std}
        for i, (w, b) in enumerate(self.weights):
            out[f"layer{i}_weight"], out[f"layer{i}_bias"] = w, b
        if self.input_map is not None:
            out["input_map"] = self.input_map
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> MLP:
        """Inverse of :meth:`arrays`."""
        n_layers = sum(1 for k in arrays if k.startswith("layer") and k.endswith("_weight"))
        weights = [(arrays[f"layer{i}_weight"], arrays[f"layer{i}_bias"]) for i in range(n_layers)]
        return cls(weights, arrays["mean"], arrays["std"], arrays.get("input_map"))


def fit_mlp(
    features: npt.ArrayLike,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    hidden: Sequence[int],
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int,
    weight_decay: float = 0.0,
    progress: bool = False,
    desc: str = "progress model",
) -> tuple[list[tuple[FloatArray, FloatArray]], list[float]]:
    """Train a tanh MLP with one output on standardised ``features`` (the family's one loop).

    ``features`` has shape ``(n, d)`` (one item per state) or ``(n, t, d)`` (one item per padded
    trajectory); mini-batches draw items. The objective is ``loss(outputs, index)``: the net's
    outputs for the batch (shape ``(b,)`` or ``(b, t)``) and the batch's item indices. Adam,
    deterministic for a given ``seed``, on one torch thread, with torch's global random state and
    thread count left as they were.

    Returns:
        ``(weights, history)``: ``[(W, b), ...]`` with ``W`` of shape ``(in, out)`` (float64) for
        :class:`MLP`, and the mean loss of each epoch.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
    hidden = tuple(int(h) for h in hidden)
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden sizes must be >= 1, got {hidden}")
    import torch
    from tqdm.auto import tqdm

    x_np = np.asarray(features, dtype=np.float32)
    history: list[float] = []
    with torch_threads(1), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[torch.nn.Module] = []
        width = x_np.shape[-1]
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.Tanh()]
            width = h
        layers.append(torch.nn.Linear(width, 1))
        net = torch.nn.Sequential(*layers)
        x = torch.from_numpy(x_np)
        optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
        generator = torch.Generator().manual_seed(seed)
        bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
        for _ in bar:
            order = torch.randperm(len(x), generator=generator)
            total = 0.0
            for start in range(0, len(x), batch_size):
                idx = order[start : start + batch_size]
                value = loss(net(x[idx]).squeeze(-1), idx)
                optimiser.zero_grad()
                value.backward()
                optimiser.step()
                total += float(value.detach()) * len(idx)
            history.append(total / len(x))
            bar.set_postfix(loss=f"{history[-1]:.4f}", refresh=False)
        bar.close()
        weights = [
            (m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy().copy())
            for m in net
            if isinstance(m, torch.nn.Linear)
        ]
    return weights, history


# -- persistence helpers --------------------------------------------------------------------------
def write_model_file(
    path: str | os.PathLike[str],
    kind: str,
    arrays: Mapping[str, np.ndarray],
    meta: Mapping[str, Any],
) -> None:
    """Write arrays plus a JSON header to ``path`` exactly (``.npz`` format, no pickle)."""
    header = {"format": FILE_FORMAT, "version": FILE_VERSION, "kind": kind, **meta}
    with open(Path(path), "wb") as f:
        payload: dict[str, Any] = {"__meta__": np.array(json.dumps(header)), **arrays}
        np.savez(f, **payload)


def read_meta(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The header of a saved estimator: a file (MLP estimators) or a directory (text)."""
    path = Path(path)
    if path.is_dir():
        meta_path = path / META_FILE
        if not meta_path.is_file():
            raise ValueError(f"{path} is not a saved progress estimator (no {META_FILE})")
        meta = json.loads(meta_path.read_text())
    elif path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"])) if "__meta__" in data.files else {}
        except (ValueError, OSError, KeyError):
            meta = {}
    else:
        raise FileNotFoundError(f"no saved progress estimator at {path}")
    if not isinstance(meta, dict) or meta.get("format") != FILE_FORMAT:
        return {}
    if meta.get("version") != FILE_VERSION:
        raise ValueError(
            f"{path} has format version {meta.get('version')}; this prm-gym reads version "
            f"{FILE_VERSION}"
        )
    return meta


def read_model_file(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Arrays and header of a file written by :func:`write_model_file`."""
    with np.load(Path(path), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files if k != "__meta__"}
        meta = json.loads(str(data["__meta__"]))
    return arrays, meta


# -- the family ---------------------------------------------------------------------------------
class ProgressEstimator(ABC):
    """A learned model of per-step progress contributions ĉ_1 … ĉ_T (see the module docstring).

    Subclasses define what a trajectory is, train with their own objective (``fit``), and
    implement :meth:`contributions`, :meth:`save` and ``_load``. :meth:`load` on this class
    reads any saved estimator and returns the right subclass.
    """

    _kinds: ClassVar[dict[str, type[ProgressEstimator]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        ProgressEstimator._kinds.setdefault(cls.__name__, cls)

    @abstractmethod
    def contributions(self, trajectory: Any) -> FloatArray:
        """ĉ_1 … ĉ_T of one trajectory (float64, one per step)."""

    def contributions_batch(self, trajectories: Sequence[Any]) -> list[FloatArray]:
        """:meth:`contributions` of several trajectories (subclasses do it in one model call)."""
        return [self.contributions(t) for t in trajectories]

    def progress(self, trajectory: Any) -> FloatArray:
        """Prefix sums P̂_t = Σ_{k≤t} ĉ_k: the progress estimate after each step."""
        return np.cumsum(self.contributions(trajectory))

    def as_potential(self) -> Any:
        """A potential Φ(obs, info) for :class:`~prm_gym.wrappers.PotentialShaping`.

        Only for estimators whose input is observations (a potential never sees actions).
        """
        raise TypeError(
            f"{type(self).__name__} needs the agent's actions, which a potential never sees; "
            "use prm_gym.wrappers.ProgressAttribution instead"
        )

    @abstractmethod
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the estimator (weights, normalisation, config) to a local path."""

    @classmethod
    def load(cls, path: str | os.PathLike[str], **options: Any) -> Any:
        """Read an estimator written by :meth:`save` (local path; no pickled code is run).

        Called on :class:`ProgressEstimator` it returns whichever estimator was saved; called on
        a subclass it also checks that the file holds one. ``options`` go to the subclass (e.g.
        ``featurize=`` for a :class:`~prm_gym.rewards.spa.VectorProgressEstimator` saved with a
        custom featurizer).
        """
        meta = read_meta(path)
        if meta.get("kind") not in ProgressEstimator._kinds:
            import prm_gym.rewards.spa  # noqa: F401  (registers the SPA estimators)
        target = ProgressEstimator._kinds.get(str(meta.get("kind")))
        if target is None or not issubclass(target, cls):
            raise ValueError(
                f"{path} is not a {cls.__name__} file (see {cls.__name__}.save()); it holds "
                f"{meta.get('kind', 'something else')}"
            )
        return target._load(Path(path), meta, **options)

    @classmethod
    @abstractmethod
    def _load(cls, path: Path, meta: dict[str, Any], **options: Any) -> Any:
        """Build the estimator from a saved path whose header ``meta`` names this class."""


class RowProgressEstimator(ProgressEstimator):
    """Shared core of the estimators over vector observations (one MLP over step-feature rows).

    A trajectory is a ``(T, d)`` array of step-feature rows, ``step_features(previous_obs,
    obs)`` for each step. ĉ_t depends on row t only, so the rows of many trajectories are scored
    in one MLP call (:meth:`contributions_batch`), which is what the vector wrappers use.
    """

    @abstractmethod
    def step_features(self, previous_obs: Any, obs: Any) -> FloatArray:
        """The feature row of the step that led from ``previous_obs`` to ``obs``."""

    @property
    @abstractmethod
    def feature_dim(self) -> int:
        """Length of a step-feature row."""

    @abstractmethod
    def _row_contributions(self, rows: FloatArray) -> FloatArray:
        """ĉ for a ``(n, feature_dim)`` array of rows."""

    def trajectory_features(self, observations: Sequence[Any]) -> FloatArray:
        """``(T, d)`` step features from an episode's T + 1 observations (reset obs first)."""
        if len(observations) < 2:
            return np.zeros((0, self.feature_dim))
        rows = [self.step_features(observations[i], observations[i + 1])
                for i in range(len(observations) - 1)]  # fmt: skip
        return np.stack(rows)

    def _rows(self, trajectory: npt.ArrayLike) -> FloatArray:
        x = np.asarray(trajectory, dtype=np.float64)
        if x.size == 0:
            return np.zeros((0, self.feature_dim))
        x = x.reshape(len(x), -1) if x.ndim else x.reshape(1, 1)
        if x.shape[1] != self.feature_dim:
            raise ValueError(f"expected {self.feature_dim} features per step, got {x.shape[1]}")
        return x

    def contributions(self, trajectory: npt.ArrayLike) -> FloatArray:
        """ĉ_t for each row of a ``(T, d)`` step-feature array."""
        rows = self._rows(trajectory)
        return self._row_contributions(rows) if len(rows) else np.zeros(0)

    def contributions_batch(self, trajectories: Sequence[npt.ArrayLike]) -> list[FloatArray]:
        """ĉ of several trajectories from one MLP call over all their rows."""
        arrays = [self._rows(t) for t in trajectories]
        if not arrays:
            return []
        stacked = np.concatenate(arrays)
        values = self._row_contributions(stacked) if len(stacked) else np.zeros(0)
        bounds = np.cumsum([len(a) for a in arrays])[:-1]
        return [np.asarray(v, dtype=np.float64) for v in np.split(values, bounds)]


# -- the learned progress potential (Robo-Dopamine labels) --------------------------------------
def _goal_input_map(n_obs: int, goal_dim: int) -> FloatArray:
    """Raw ``[o, a, d]`` → features ``[o, a, d, d − a]`` as a matrix (rows: raw, cols: features)."""
    g = goal_dim
    raw = n_obs + 2 * g
    proj = np.zeros((raw, raw + g))
    proj[:, :raw] = np.eye(raw)
    proj[n_obs : n_obs + g, raw:] = -np.eye(g)
    proj[n_obs + g : raw, raw:] = np.eye(g)
    return proj


def _demo_inputs(demo: Mapping[str, Any]) -> FloatArray:
    if all(k in demo for k in GOAL_KEYS):
        return flatten_observation({k: demo[k] for k in GOAL_KEYS})
    return flatten_observation(demo["observation"])


class LearnedProgressPotential(RowProgressEstimator):
    """Φ(s) = scale · p̂(s): a learned task-progress estimate used as a shaping potential.

    A learned process reward model that scores task progress, as in Robo-Dopamine (2025): the
    member of the :class:`ProgressEstimator` family trained by supervised progress regression
    (labels and data in the module docstring). Build one with :meth:`fit` (from demos),
    :meth:`from_experts` (collects scripted-expert demos of a ``prm/*`` manipulation env first)
    or :meth:`load`. It is its own potential (:meth:`as_potential` returns it): Φ depends on the
    state only, so shaping with it is policy-invariant. As an estimator its contributions are
    ĉ_t = Φ(s_t) − Φ(s_{t−1}) (step features: the raw previous and new observation), so it
    also works with :class:`~prm_gym.wrappers.ProgressAttribution`.

    Inference is NumPy only (a few microseconds per call for hidden=(64, 64)).

    Args:
        weights: ``[(W, b), ...]`` per layer, ``W`` of shape ``(in, out)``, acting on
            standardised features (:func:`flatten_observation`); tanh between layers, sigmoid
            at the end.
        mean: Feature mean.
        std: Feature standard deviation (values ≤ 1e-8 are treated as 1).
        goal_dim: Length of ``achieved_goal`` for a model of goal-conditioned ``Dict``
            observations (features ``[observation, achieved, desired, desired − achieved]``);
            ``None`` for plain array observations.
        scale: Φ's maximum: Φ = scale · p̂.
        config: Free-form training record (hidden sizes, epochs, seed, ...) saved with the model.

    Example:
        >>> import numpy as np
        >>> from prm_gym.rewards import LearnedProgressPotential
        >>> rng = np.random.default_rng(0)
        >>> demos = []
        >>> for _ in range(8):  # a point walks from 0 to 1 along a line in 10 steps
        ...     x = np.linspace(0, 1, 11)[:, None] + rng.normal(0, 0.01, (11, 1))
        ...     demos.append({"observation": x, "is_success": np.arange(11) >= 10})
        >>> phi = LearnedProgressPotential.fit(demos, epochs=300, seed=0, progress=False)
        >>> bool(phi(np.array([0.9]), {}) > phi(np.array([0.1]), {}))
        True
    """

    def __init__(
        self,
        weights: Sequence[tuple[npt.ArrayLike, npt.ArrayLike]],
        mean: npt.ArrayLike,
        std: npt.ArrayLike,
        *,
        goal_dim: int | None = None,
        scale: float = 1.0,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        if not math.isfinite(scale):
            raise ValueError(f"scale must be a finite number, got {scale}")
        input_map = None
        if goal_dim is not None:
            width = np.shape(weights[0][0])[0] if weights else 0
            if not 1 <= 3 * goal_dim < width + 1:
                raise ValueError(
                    f"goal_dim={goal_dim} does not fit {width} features "
                    "(observation + 3 goal-sized parts)"
                )
            input_map = _goal_input_map(width - 3 * goal_dim, goal_dim)
        self.mlp = MLP(weights, mean, std, input_map)
        if self.mlp.w_out is None:
            raise ValueError("a progress model needs at least one hidden layer")
        self._w_out: F32Array = self.mlp.w_out
        self.goal_dim = goal_dim
        self.scale = float(scale)
        self.config: dict[str, Any] = dict(config or {})

    # -- properties -----------------------------------------------------------------------------
    @property
    def weights(self) -> list[tuple[FloatArray, FloatArray]]:
        """``[(W, b), ...]`` per layer, on standardised features."""
        return self.mlp.weights

    @property
    def mean(self) -> FloatArray:
        """Feature mean of the training set."""
        return self.mlp.mean

    @property
    def std(self) -> FloatArray:
        """Feature standard deviation of the training set."""
        return self.mlp.std

    @property
    def input_dim(self) -> int:
        """Length of the feature vector (:func:`flatten_observation`) the model was trained on."""
        return self.mlp.input_dim

    @property
    def raw_dim(self) -> int:
        """Length of the raw input: ``observation + achieved + desired`` or the array itself."""
        return self.mlp.raw_dim

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer sizes."""
        return self.mlp.hidden

    @property
    def feature_dim(self) -> int:
        """Length of a step-feature row: the raw previous and new observation."""
        return 2 * self.raw_dim

    # -- inference ------------------------------------------------------------------------------
    def _raw(self, obs: Any) -> F32Array:
        """The raw model input: ``[observation, achieved, desired]`` or the array, as float32."""
        if self.goal_dim is None:
            if isinstance(obs, Mapping):
                raise TypeError(
                    "this progress model was trained on plain array observations but got a "
                    "Dict observation; train it on this env's observations"
                )
            return np.asarray(obs, dtype=np.float32)
        if not isinstance(obs, Mapping):
            raise TypeError(
                "this progress model was trained on goal-conditioned Dict observations "
                f"({', '.join(GOAL_KEYS)}) but got {type(obs).__name__}"
            )
        try:
            parts = [np.asarray(obs[k], dtype=np.float32) for k in GOAL_KEYS]
        except KeyError:
            raise KeyError(
                f"Dict observation lacks one of {list(GOAL_KEYS)}; got {sorted(obs)}"
            ) from None
        return np.concatenate(parts, axis=-1)

    def progress_from_raw(self, x: npt.ArrayLike) -> FloatArray:
        """p̂ for raw inputs (``[observation, achieved, desired]`` rows)."""
        logits = self.mlp(x).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-np.maximum(logits, -700.0)))

    def progress(self, obs: Any) -> FloatArray:
        """Predicted progress p̂ ∈ (0, 1) of states: 0-d for one observation, ``(n,)`` for a batch.

        (Unlike the other estimators, whose ``progress`` is the prefix sum of contributions,
        this is the absolute progress of each state; the prefix sums of :meth:`contributions`
        are Φ(s_t) − Φ(s_0).)
        """
        return self.progress_from_raw(self._raw(obs))

    def __call__(self, observation: Any, info: Mapping[str, Any] | None = None, /) -> float:
        """Φ(s) = scale · p̂(s) for one observation (``info`` is not used)."""
        # PotentialShaping calls this every env step, so the common case (one goal-conditioned
        # dict observation) runs with no checks: ~5 µs for hidden=(64, 64). Anything unusual
        # takes the checked path, which raises a helpful error for bad input.
        m = self.mlp
        if self.goal_dim is not None and type(observation) is dict:
            try:
                x = np.concatenate(
                    (
                        observation["observation"],
                        observation["achieved_goal"],
                        observation["desired_goal"],
                    ),
                    dtype=np.float32,
                )
                h = np.tanh(np.dot(x, m.w0) + m.b0)
                for w, b in m.hidden_layers:
                    h = np.tanh(np.dot(h, w) + b)
                z = np.dot(h, self._w_out).item() + m.b_out
                return self.scale / (1.0 + math.exp(-max(z, -700.0)))
            except (KeyError, ValueError, TypeError):
                pass
        x = self._raw(observation)
        if x.ndim != 1:
            raise ValueError(
                f"expected one observation, got shape {x.shape}; use .batch() for a batch"
            )
        z = float(m(x))
        return self.scale / (1.0 + math.exp(-max(z, -700.0)))

    def batch(self, observations: Any) -> FloatArray:
        """Φ for a batch in one forward pass: a dict of ``(n, d)`` arrays or an ``(n, d)`` array.

        Returns:
            float64 array of shape ``(n,)``, equal (to float32 rounding) to calling the potential
            on each row.
        """
        x = self._raw(observations)
        if x.ndim != 2:
            raise ValueError(
                f"batch expects a batch of observations (arrays of shape (n, d)), got shape "
                f"{x.shape}; call the potential directly for one observation"
            )
        return self.scale * self.progress_from_raw(x)

    def as_potential(self) -> LearnedProgressPotential:
        """The potential Φ = scale · p̂ for :class:`~prm_gym.wrappers.PotentialShaping`: itself."""
        return self

    # -- estimator interface --------------------------------------------------------------------
    def step_features(self, previous_obs: Any, obs: Any) -> FloatArray:
        """``[raw(previous_obs), raw(obs)]``: enough to compute ĉ = Φ(obs) − Φ(previous_obs)."""
        prev, new = self._raw(previous_obs), self._raw(obs)
        if prev.ndim != 1 or new.ndim != 1:
            raise ValueError("step_features takes one previous and one new observation")
        return np.concatenate([prev, new]).astype(np.float64)

    def _row_contributions(self, rows: FloatArray) -> FloatArray:
        r = self.raw_dim
        phi = self.scale * self.progress_from_raw(np.concatenate([rows[:, :r], rows[:, r:]]))
        return phi[len(rows) :] - phi[: len(rows)]

    # -- training -------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        demos: Sequence[Mapping[str, Any]],
        *,
        epochs: int = 200,
        lr: float = 3e-3,
        hidden: Sequence[int] = (64, 64),
        seed: int = 0,
        scale: float = 1.0,
        batch_size: int = 256,
        weight_decay: float = 1e-5,
        horizon: int | None = None,
        progress: bool = True,
    ) -> LearnedProgressPotential:
        """Train a progress model on demos (labels from :func:`progress_labels`, BCE loss).

        Training is deterministic for a given ``seed`` and leaves torch's global random state and
        thread count as they were (it runs on one thread: faster than several for a network this
        small).

        Args:
            demos: Episodes as mappings of per-step arrays: ``observation`` (or the three
                goal-conditioned keys) and ``is_success``; see :func:`progress_labels`.
            epochs: Passes over all states.
            lr: Adam learning rate.
            hidden: Hidden layer sizes (at least one).
            seed: Seeds weight initialisation and shuffling.
            scale: Φ = scale · p̂.
            batch_size: Mini-batch size.
            weight_decay: Adam weight decay.
            horizon: Label rule: ``None`` for Robo-Dopamine's per-demo rule, an integer for
                the fixed-horizon rule (see :func:`progress_labels`).
            progress: Show a tqdm bar over epochs on stderr.
        """
        if not demos:
            raise ValueError("fit needs at least one demo")
        if not tuple(hidden):
            raise ValueError("a progress model needs at least one hidden layer")
        goal_conditioned = [all(k in d for k in GOAL_KEYS) for d in demos]
        if any(goal_conditioned) and not all(goal_conditioned):
            raise ValueError(
                "mix of goal-conditioned and plain demos: either every demo has "
                f"{list(GOAL_KEYS)} or none has"
            )
        goal_dim = np.shape(demos[0]["achieved_goal"])[-1] if goal_conditioned[0] else None
        inputs = np.concatenate([_demo_inputs(d) for d in demos], axis=0)
        labels = np.concatenate([progress_labels(d, horizon) for d in demos])
        if len(inputs) != len(labels):
            raise ValueError("every demo needs as many observations as labels")
        mean, std = standardisation(inputs)

        import torch

        targets = torch.as_tensor(labels, dtype=torch.float32)
        bce = torch.nn.BCEWithLogitsLoss()
        weights, _ = fit_mlp(
            (inputs - mean) / std,
            lambda out, idx: bce(out, targets[idx]),
            hidden=hidden,
            epochs=epochs,
            lr=lr,
            seed=seed,
            batch_size=batch_size,
            weight_decay=weight_decay,
            progress=progress,
        )
        config = {
            "hidden": [int(h) for h in hidden],
            "epochs": epochs,
            "lr": lr,
            "seed": seed,
            "batch_size": batch_size,
            "weight_decay": weight_decay,
            "horizon": horizon,
            "n_demos": len(demos),
            "n_states": len(inputs),
        }
        return cls(weights, mean, std, goal_dim=goal_dim, scale=scale, config=config)

    @classmethod
    def from_experts(
        cls,
        env_id: str,
        *,
        n_demos: int = 30,
        noise_levels: Sequence[float] = (0.0,),
        random_starts: int = 200,
        max_random_steps: int = 25,
        horizon: int | None = 25,
        seed: int = 0,
        epochs: int = 150,
        scale: float = 1.0,
        hidden: Sequence[int] = (64, 64),
        progress: bool = True,
    ) -> LearnedProgressPotential:
        """Collect scripted-expert demos of a manipulation env and :meth:`fit` on them.

        ``n_demos`` episodes are collected at each noise level (the family's
        ``expert_demos``: the manipulation envs' scripted experts; seeds ``seed + 1000·k`` for
        level ``k``), and
        ``random_starts`` more start where 1 to ``max_random_steps`` uniform random actions left
        the env (:func:`random_start_demos`; the expert uses the noise levels in turn), so that
        the states an exploring agent visits are in the training set.

        Labels use the fixed-horizon rule of :func:`progress_labels` by default. With the
        memoryless scripted expert, k − i is the expert's time to success from s_i, a property
        of the state, so every demo through a state labels it alike, and Φ keeps rising over
        the whole range of distances an exploring agent wanders to. Under the per-demo rule
        (``horizon=None``) every start state is labelled 0 however far it is from the goal, and
        Φ came out flat beyond the demos' typical start distance. The default H = 25 (half the
        manipulation envs' 50-step episodes) was chosen on prm/Reach-v0 (SAC, scale 10, 6k
        steps, seed 0; success at 6k): H = 9 (the longest time to success in the demos) 15%,
        15 → 45%, 25 → 85% (seed 1: 35%), 50 → 40%; a smaller H leaves the far states clipped
        at 0, a larger one flattens Φ. The default uses the clean expert only: a noisy expert's
        time to success is a property of its noise, not of the state (H = 50 with the noise
        levels 0, 0.3, 1: 0%).

        Args:
            env_id: A ``prm/*`` manipulation id with a scripted expert, e.g. ``"prm/Push-v0"``.
            n_demos: Episodes per noise level.
            noise_levels: Expert action-noise levels.
            random_starts: Random-start demos in all (0: none).
            max_random_steps: Most random actions before the expert takes over.
            horizon: Label rule: an integer H (fixed horizon) or ``None`` (per-demo rule).
            seed: Seeds demo collection and training.
            epochs: Training epochs.
            scale: Φ = scale · p̂.
            hidden: Hidden layer sizes.
            progress: Show progress bars.
        """
        if n_demos < 1:
            raise ValueError(f"n_demos must be >= 1, got {n_demos}")
        if not noise_levels:
            raise ValueError("noise_levels must name at least one level (0.0: the clean expert)")
        if random_starts < 0 or max_random_steps < 1:
            raise ValueError(
                f"random_starts must be >= 0 and max_random_steps >= 1, got {random_starts}, "
                f"{max_random_steps}"
            )
        collect_demos = _assets(env_id).expert_demos
        if collect_demos is None:
            raise ValueError(f"{env_id}'s family has no scripted-expert demos (expert_demos)")
        demos: list[Mapping[str, Any]] = []
        for k, noise in enumerate(noise_levels):
            demos.extend(collect_demos(env_id, n_demos, seed=seed + 1000 * k, noise=float(noise)))
        demos.extend(
            random_start_demos(
                env_id,
                random_starts,
                seed=seed + 1000 * len(noise_levels),
                noise_levels=noise_levels,
                max_random_steps=max_random_steps,
            )
        )
        model = cls.fit(
            demos,
            epochs=epochs,
            hidden=hidden,
            seed=seed,
            scale=scale,
            horizon=horizon,
            progress=progress,
        )
        model.config.update(
            env_id=env_id,
            noise_levels=[float(n) for n in noise_levels],
            random_starts=random_starts,
            max_random_steps=max_random_steps,
        )
        return model

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights, input statistics, goal layout, scale and config to one local file."""
        meta = {"goal_dim": self.goal_dim, "scale": self.scale, "config": self.config}
        arrays = {k: v for k, v in self.mlp.arrays().items() if k != "input_map"}
        write_model_file(path, type(self).__name__, arrays, meta)

    @classmethod
    def _load(cls, path: Path, meta: dict[str, Any], **options: Any) -> LearnedProgressPotential:
        if options:
            raise TypeError(f"unexpected options for {cls.__name__}.load: {sorted(options)}")
        arrays, meta = read_model_file(path)
        mlp = MLP.from_arrays(arrays)
        return cls(
            mlp.weights,
            mlp.mean,
            mlp.std,
            goal_dim=meta["goal_dim"],
            scale=float(meta["scale"]),
            config=meta["config"],
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_dim={self.input_dim}, hidden={self.hidden}, "
            f"scale={self.scale:g})"
        )


def random_start_demos(
    env_id: str,
    n_demos: int,
    *,
    seed: int,
    noise_levels: Sequence[float] = (0.0,),
    max_random_steps: int = 25,
) -> list[dict[str, Any]]:
    """Demos that start where random actions left the env, then follow its scripted expert.

    Provided by the env's family (``FamilyAssets.random_start_demos``; the manipulation
    envs: :func:`prm_gym.envs.manipulation.experts.random_start_demos`), in the format of its
    ``expert_demos``.
    """
    make = _assets(env_id).random_start_demos
    if make is None:
        raise ValueError(f"{env_id}'s family has no random-start demos")
    return make(
        env_id, n_demos, seed=seed, noise_levels=noise_levels, max_random_steps=max_random_steps
    )


def _assets(env_id: str) -> Any:
    import prm_gym  # noqa: F401  (registers the prm/* ids and their assets)
    from prm_gym.core.assets import family_assets

    return family_assets(env_id)
