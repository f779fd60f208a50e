"""Distributed rollouts and scoring on Ray (optional extra: ``pip install 'prm-gym[ray]'``).

* :class:`RayVectorEnv` / :func:`make_ray_vec`: a Gymnasium vector env whose sub-envs run in Ray
  actors (env workers); a worker that dies or hangs is replaced and its history replayed, so no
  episode is lost (see the class).
* :class:`RemoteScorer`: any :class:`~prm_gym.core.Scorer` (an HF PRM, an LLM judge, a
  reward-code sandbox scorer) built inside Ray actors, on a GPU each when the cluster has GPUs;
  batches are split across the actors.
* ``prm_gym.agents.rollout(env, agent, n, backend="ray")`` runs the env's sub-envs as env workers
  and returns the trajectories the local path returns for the same seeds.

Call ``ray.init()`` (a local instance) or ``ray.init(address="ray://head:10001")`` /
``ray.init(address="auto")`` (an existing cluster) first. Importing this package does not import
Ray; using it without Ray installed raises an :class:`ImportError` saying how to install it.
"""

from prm_gym.distributed.envs import EnvWorkerLost, RayVectorEnv, make_ray_vec, require_ray
from prm_gym.distributed.scorers import RemoteScorer

__all__ = ["EnvWorkerLost", "RayVectorEnv", "RemoteScorer", "make_ray_vec", "require_ray"]
