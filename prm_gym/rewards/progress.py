"""A learned task-progress potential for goal-conditioned control (DESIGN §4, issue 3).

:class:`LearnedProgressPotential` is a learned process reward model that scores task progress,
as in Robo-Dopamine (2025): instead of hand-writing a potential, a small network is trained on
demonstrations to predict how far along the task a state is, and its prediction serves as the
potential Φ of :class:`~prm_gym.wrappers.PotentialShaping`. What we implement is the simplest
form of that idea for state-vector observations:

* **Input.** The observation flattened by :func:`flatten_observation`: for Gymnasium-Robotics
  style ``Dict`` observations ``[observation, achieved_goal, desired_goal, desired_goal −
  achieved_goal]``, plain arrays as they are; standardised with the training set's mean and
  standard deviation (stored with the model).
* **Model.** An MLP (tanh hidden layers, sigmoid output), so progress p̂(s) ∈ (0, 1).
* **Labels** (:func:`progress_labels`). States s₀ … s_{N−1} of a demo. In a successful demo whose
  first successful state is s_k, the label of s_i is ``min(1, i / k)``: 0 at the start, 1 at
  success, held at 1 afterwards (equivalently, the state after action t gets ``(t + 1) / T``,
  T = actions taken to reach success). A demo that never succeeds (a perturbed expert that
  failed) gets its time fraction scaled down by how close it finally came:
  ``i / (N − 1) · clip(1 − d_{N−1} / d₀, 0, 1)``, d = ‖achieved_goal − desired_goal‖. So failed
  attempts teach the model that states off the expert's path are worth less.
* **Loss.** Binary cross-entropy between p̂ and the soft labels, Adam, mini-batches.

The potential is Φ(s) = ``scale`` · p̂(s). Shaping with it adds γΦ(s′) − Φ(s) per step, which
leaves the optimal policy unchanged (Ng, Harada & Russell 1999) however good or bad the model
is: a poor progress model only costs sample efficiency.

Inference runs in NumPy on weights copied out of torch after training: for one observation a
tiny MLP is several times faster in NumPy than a torch call, which matters because the wrapper
calls Φ once per env step. torch is imported only by :meth:`LearnedProgressPotential.fit`,
:meth:`~LearnedProgressPotential.save` and :meth:`~LearnedProgressPotential.load`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from prm_gym.core.threads import torch_threads

if TYPE_CHECKING:
    import torch

__all__ = ["LearnedProgressPotential", "flatten_observation", "progress_labels"]

FloatArray = npt.NDArray[np.float64]

#: Keys of a goal-conditioned ``Dict`` observation, in the order they are concatenated.
GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
_FORMAT = "prm_gym.LearnedProgressPotential"
_FORMAT_VERSION = 1


def flatten_observation(obs: Any) -> FloatArray:
    """One flat feature vector per observation (a batch stays a batch).

    A goal-conditioned ``Dict`` observation becomes ``[observation, achieved_goal, desired_goal,
    desired_goal − achieved_goal]``; the relative goal is added because progress depends on it
    more directly than on either goal alone. Any other observation is used as it is.

    Args:
        obs: A mapping with the keys ``observation``, ``achieved_goal`` and ``desired_goal``
            (arrays of shape ``(d,)`` or a batch ``(n, d)``), or an array ``(d,)`` / ``(n, d)``.

    Returns:
        float64 array of shape ``(D,)`` or ``(n, D)``.
    """
    if isinstance(obs, Mapping):
        missing = [k for k in GOAL_KEYS if k not in obs]
        if missing:
            raise KeyError(
                f"Dict observation lacks {missing}; expected the goal-conditioned keys "
                f"{list(GOAL_KEYS)} (Gymnasium-Robotics convention), got {sorted(obs)}"
            )
        o, a, d = (np.asarray(obs[k], dtype=np.float64) for k in GOAL_KEYS)
        return np.concatenate([o, a, d, d - a], axis=-1)
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


def progress_labels(demo: Mapping[str, Any]) -> FloatArray:
    """Progress targets in [0, 1] for every state of one demo (the rule in the module docstring).

    Args:
        demo: A mapping with ``observation`` (``N`` states, or the goal-conditioned keys
            ``observation`` / ``achieved_goal`` / ``desired_goal`` with ``N`` rows each) and
            ``is_success`` (``N`` flags, or ``N − 1`` flags, one per action). Failed demos also
            need ``achieved_goal`` and ``desired_goal`` for their final distance.

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
    if success.any():
        k = int(np.argmax(success))
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


def _demo_inputs(demo: Mapping[str, Any]) -> FloatArray:
    if all(k in demo for k in GOAL_KEYS):
        return flatten_observation({k: demo[k] for k in GOAL_KEYS})
    return flatten_observation(demo["observation"])


class LearnedProgressPotential:
    """Φ(s) = scale · p̂(s): a learned task-progress estimate used as a shaping potential.

    A learned process reward model that scores task progress, as in Robo-Dopamine (2025); see
    the module docstring for the labels and model. Build one with :meth:`fit` (from demos),
    :meth:`from_experts` (collects scripted-expert demos of a ``prm/*`` manipulation env first)
    or :meth:`load`.

    Inference is NumPy only. The input standardisation and the relative goal
    ``desired_goal − achieved_goal`` are linear, so they are folded into the first layer once,
    here; a call is then one concatenation of the raw observation parts and one small matrix
    product per layer (a few microseconds).

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
        if not weights:
            raise ValueError("weights must hold at least one (W, b) layer")
        if not math.isfinite(scale):
            raise ValueError(f"scale must be a finite number, got {scale}")
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
            raise ValueError("the last layer must have one output (the progress logit)")
        self.mean = np.array(mean, dtype=np.float64).reshape(-1)
        std_arr = np.array(std, dtype=np.float64).reshape(-1)
        self.std = np.where(std_arr > 1e-8, std_arr, 1.0)
        if self.mean.shape != (self.input_dim,) or self.std.shape != (self.input_dim,):
            raise ValueError(
                f"mean and std must have shape ({self.input_dim},) to match the first layer, got "
                f"{self.mean.shape} and {self.std.shape}"
            )
        if goal_dim is not None and not 1 <= 3 * goal_dim < self.input_dim + 1:
            raise ValueError(
                f"goal_dim={goal_dim} does not fit {self.input_dim} features "
                "(observation + 3 goal-sized parts)"
            )
        self.goal_dim = goal_dim
        self.scale = float(scale)
        self.config: dict[str, Any] = dict(config or {})
        self._fold()

    def _fold(self) -> None:
        """Fold standardisation and the relative goal into the first layer (raw inputs in)."""
        w0, b0 = self.weights[0]
        scaled = w0 / self.std[:, None]
        bias = b0 - (self.mean / self.std) @ w0
        if self.goal_dim is not None:
            g = self.goal_dim
            n_obs = self.input_dim - 3 * g
            # Raw input x = [o, a, d]; features f = [o, a, d, d − a] = x @ P.
            proj = np.zeros((n_obs + 2 * g, self.input_dim))
            proj[:, : n_obs + 2 * g] = np.eye(n_obs + 2 * g)
            proj[n_obs : n_obs + g, n_obs + 2 * g :] = -np.eye(g)
            proj[n_obs + g : n_obs + 2 * g, n_obs + 2 * g :] = np.eye(g)
            scaled = proj @ scaled
        # float32: a single forward pass is ~15% faster than in float64, and the weights were
        # trained in float32 anyway.
        f32 = np.float32
        self._w0 = np.ascontiguousarray(scaled, dtype=f32)
        self._b0 = bias.astype(f32)
        self._hidden_layers = [
            (np.ascontiguousarray(w, dtype=f32), b.astype(f32)) for w, b in self.weights[1:-1]
        ]
        if len(self.weights) > 1:
            w_out, b_out = self.weights[-1]
            self._w_out: npt.NDArray[np.float32] | None = np.ascontiguousarray(w_out[:, 0], f32)
            self._b_out = float(b_out[0])
        else:
            self._w_out, self._b_out = None, 0.0

    # -- properties -----------------------------------------------------------------------------
    @property
    def input_dim(self) -> int:
        """Length of the feature vector (:func:`flatten_observation`) the model was trained on."""
        return int(self.weights[0][0].shape[0])

    @property
    def raw_dim(self) -> int:
        """Length of the raw input: ``observation + achieved + desired`` or the array itself."""
        return int(self._w0.shape[0])

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer sizes."""
        return tuple(int(w.shape[1]) for w, _ in self.weights[:-1])

    # -- inference ------------------------------------------------------------------------------
    def _raw(self, obs: Any) -> npt.NDArray[np.float32]:
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

    def _check_width(self, x: npt.NDArray[np.float32]) -> None:
        if x.shape[-1:] != (self.raw_dim,):
            raise ValueError(
                f"observation has shape {x.shape} but the model expects {self.raw_dim} values "
                f"per observation (features: {self.input_dim}); use a potential trained on this "
                "env's observations"
            )

    def _logits(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self._check_width(x)
        h = np.dot(x, self._w0) + self._b0
        if self._w_out is None:
            return h[..., 0] + self._b_out
        h = np.tanh(h)
        for w, b in self._hidden_layers:
            h = np.tanh(np.dot(h, w) + b)
        return np.dot(h, self._w_out) + np.float32(self._b_out)

    def progress(self, obs: Any) -> FloatArray:
        """Predicted progress p̂ ∈ (0, 1): a 0-d array for one observation, ``(n,)`` for a batch."""
        return self.progress_from_raw(self._raw(obs))

    def __call__(self, observation: Any, info: Mapping[str, Any] | None = None, /) -> float:
        """Φ(s) = scale · p̂(s) for one observation (``info`` is not used)."""
        # PotentialShaping calls this every env step, so the common case (one goal-conditioned
        # dict observation) runs with no checks: ~5 µs for hidden=(64, 64). Anything unusual
        # takes the checked path, which raises a helpful error for bad input.
        if self._w_out is not None and self.goal_dim is not None and type(observation) is dict:
            try:
                x = np.concatenate(
                    (
                        observation["observation"],
                        observation["achieved_goal"],
                        observation["desired_goal"],
                    ),
                    dtype=np.float32,
                )
                h = np.tanh(np.dot(x, self._w0) + self._b0)
                for w, b in self._hidden_layers:
                    h = np.tanh(np.dot(h, w) + b)
                z = np.dot(h, self._w_out).item() + self._b_out
                return self.scale / (1.0 + math.exp(-max(z, -700.0)))
            except (KeyError, ValueError, TypeError):
                pass
        x = self._raw(observation)
        if x.ndim != 1:
            raise ValueError(
                f"expected one observation, got shape {x.shape}; use .batch() for a batch"
            )
        z = float(self._logits(x))
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

    def progress_from_raw(self, x: npt.NDArray[np.float32]) -> FloatArray:
        """p̂ for raw inputs (``[observation, achieved, desired]`` rows); used by :meth:`batch`."""
        logits = self._logits(np.asarray(x, dtype=np.float32)).astype(np.float64)
        return 1.0 / (1.0 + np.exp(-np.maximum(logits, -700.0)))

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
        progress: bool = True,
    ) -> LearnedProgressPotential:
        """Train a progress model on demos (labels from :func:`progress_labels`).

        Training is deterministic for a given ``seed`` and leaves torch's global random state and
        thread count as they were (it runs on one thread: faster than several for a network this
        small).

        Args:
            demos: Episodes as mappings of per-step arrays: ``observation`` (or the three
                goal-conditioned keys) and ``is_success``; see :func:`progress_labels`.
            epochs: Passes over all states.
            lr: Adam learning rate.
            hidden: Hidden layer sizes.
            seed: Seeds weight initialisation and shuffling.
            scale: Φ = scale · p̂.
            batch_size: Mini-batch size.
            weight_decay: Adam weight decay.
            progress: Show a tqdm bar over epochs on stderr.
        """
        if not demos:
            raise ValueError("fit needs at least one demo")
        if epochs < 1 or batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a positive number, got {lr}")
        hidden = tuple(int(h) for h in hidden)
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden sizes must be >= 1, got {hidden}")
        goal_conditioned = [all(k in d for k in GOAL_KEYS) for d in demos]
        if any(goal_conditioned) and not all(goal_conditioned):
            raise ValueError(
                "mix of goal-conditioned and plain demos: either every demo has "
                f"{list(GOAL_KEYS)} or none has"
            )
        goal_dim = np.shape(demos[0]["achieved_goal"])[-1] if goal_conditioned[0] else None
        inputs = np.concatenate([_demo_inputs(d) for d in demos], axis=0)
        labels = np.concatenate([progress_labels(d) for d in demos])
        if len(inputs) != len(labels):
            raise ValueError("every demo needs as many observations as labels")
        mean = inputs.mean(axis=0)
        std = inputs.std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)

        import torch
        from tqdm.auto import tqdm

        with torch_threads(1), torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = _mlp(inputs.shape[1], hidden)
            x = torch.as_tensor((inputs - mean) / std, dtype=torch.float32)
            y = torch.as_tensor(labels, dtype=torch.float32)
            optimiser = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
            loss_fn = torch.nn.BCEWithLogitsLoss()
            generator = torch.Generator().manual_seed(seed)
            bar = tqdm(range(epochs), desc="progress model", unit="epoch", disable=not progress)
            for _ in bar:
                order = torch.randperm(len(x), generator=generator)
                total = 0.0
                for start in range(0, len(x), batch_size):
                    idx = order[start : start + batch_size]
                    optimiser.zero_grad()
                    loss = loss_fn(net(x[idx]).squeeze(-1), y[idx])
                    loss.backward()
                    optimiser.step()
                    total += float(loss.detach()) * len(idx)
                bar.set_postfix(bce=f"{total / len(x):.4f}", refresh=False)
            bar.close()
        config = {
            "hidden": list(hidden),
            "epochs": epochs,
            "lr": lr,
            "seed": seed,
            "batch_size": batch_size,
            "weight_decay": weight_decay,
            "n_demos": len(demos),
            "n_states": len(x),
        }
        return cls(
            _weights_from_torch(net), mean, std, goal_dim=goal_dim, scale=scale, config=config
        )

    @classmethod
    def from_experts(
        cls,
        env_id: str,
        *,
        n_demos: int = 30,
        noise_levels: Sequence[float] = (0.0, 0.3, 1.0),
        seed: int = 0,
        epochs: int = 150,
        scale: float = 1.0,
        hidden: Sequence[int] = (64, 64),
        progress: bool = True,
    ) -> LearnedProgressPotential:
        """Collect scripted-expert demos of a manipulation env and :meth:`fit` on them.

        ``n_demos`` episodes are collected at each noise level (``collect_demos`` of
        :mod:`prm_gym.envs.manipulation.experts`, seeds ``seed + 1000·k`` for level ``k``):
        clean demos teach the path to success, noisy ones show slower and failed attempts.

        Args:
            env_id: A ``prm/*`` manipulation id with a scripted expert, e.g. ``"prm/Push-v0"``.
            n_demos: Episodes per noise level.
            noise_levels: Expert action-noise levels.
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
        try:
            from prm_gym.envs.manipulation.experts import collect_demos
        except ImportError as exc:
            raise ImportError(
                "from_experts needs the manipulation envs (prm_gym.envs.manipulation) and mujoco; "
                f"install prm-gym with its default dependencies ({exc})"
            ) from exc
        demos: list[Mapping[str, Any]] = []
        for k, noise in enumerate(noise_levels):
            demos.extend(collect_demos(env_id, n_demos, seed=seed + 1000 * k, noise=float(noise)))
        model = cls.fit(
            demos, epochs=epochs, hidden=hidden, seed=seed, scale=scale, progress=progress
        )
        model.config.update(env_id=env_id, noise_levels=[float(n) for n in noise_levels])
        return model

    # -- persistence ----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write weights, input statistics, scale and config to a local file (``torch.save``)."""
        import torch

        layers = [
            {"weight": torch.from_numpy(w.copy()), "bias": torch.from_numpy(b.copy())}
            for w, b in self.weights
        ]
        torch.save(
            {
                "format": _FORMAT,
                "version": _FORMAT_VERSION,
                "layers": layers,
                "mean": torch.from_numpy(self.mean.copy()),
                "std": torch.from_numpy(self.std.copy()),
                "goal_dim": self.goal_dim,
                "scale": self.scale,
                "config": self.config,
            },
            Path(path),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LearnedProgressPotential:
        """Read a model written by :meth:`save` (a local path; tensors only, no pickled code)."""
        import torch

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no saved progress model at {path}")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a LearnedProgressPotential file (see .save())")
        if state.get("version") != _FORMAT_VERSION:
            raise ValueError(
                f"{path} has format version {state.get('version')}; this prm-gym reads "
                f"version {_FORMAT_VERSION}"
            )
        weights = [(layer["weight"].numpy(), layer["bias"].numpy()) for layer in state["layers"]]
        return cls(
            weights,
            state["mean"].numpy(),
            state["std"].numpy(),
            goal_dim=state["goal_dim"],
            scale=float(state["scale"]),
            config=state["config"],
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(input_dim={self.input_dim}, hidden={self.hidden}, "
            f"scale={self.scale:g})"
        )


def _mlp(input_dim: int, hidden: Sequence[int]) -> torch.nn.Sequential:
    import torch

    layers: list[torch.nn.Module] = []
    width = input_dim
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.Tanh()]
        width = h
    layers.append(torch.nn.Linear(width, 1))
    return torch.nn.Sequential(*layers)


def _weights_from_torch(net: torch.nn.Sequential) -> list[tuple[FloatArray, FloatArray]]:
    import torch

    return [
        (
            m.weight.detach().double().numpy().T.copy(),
            m.bias.detach().double().numpy().copy(),
        )
        for m in net
        if isinstance(m, torch.nn.Linear)
    ]
