"""benchmarks/llm_learning.py writes its table and curves (the output, not a result)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest
from _benchmarks import load_benchmark

from prm_gym.core.task import Task
from prm_gym.core.transcript import Trajectory
from prm_gym.envs.math.experts import carry_forward
from prm_gym.llm import ContextOverflowError, Generation, Prompt, SamplingParams

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("matplotlib")


def _bench() -> ModuleType:
    return load_benchmark("llm_learning")


def _check_outputs(out: Path, variants: tuple[str, ...], updates: int) -> None:
    md = (out / "llm_learning.md").read_text()
    header = md.splitlines()[0]
    for column in (
        "greedy acc",
        "pass@K",
        "updates to outcome's final greedy",
        "steps/episode",
        "idle share",
        "gen s/upd",
        "env+reward s/upd",
        "opt s/upd",
    ):
        assert column in header
    rows = [line.split("|")[1].strip() for line in md.splitlines()[2:] if line.startswith("| ")]
    assert rows == list(variants)
    png = out / "llm_learning.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = json.loads((out / "llm_learning.json").read_text())
    assert sorted({r["variant"] for r in data["runs"]}) == sorted(variants)
    for run in data["runs"]:
        assert run["curve"][0]["update"] == 0.0
        assert run["curve"][-1]["update"] == float(updates)
        for point in run["curve"]:
            for key in ("greedy", "pass_at_k", "sample_acc"):
                assert 0.0 <= point[key] <= 1.0
            assert point["sample_acc"] <= point["pass_at_k"]
            assert 0.0 <= point["idle_share"] <= 1.0
        assert min(run["gen_s"], run["env_s"], run["opt_s"]) >= 0.0
    # Every variant starts from the same cached base policy.
    assert len({json.dumps(r["curve"][0]["greedy"]) for r in data["runs"]}) == 1


def test_one_variant_one_update(tmp_path: Path) -> None:
    """Fast smoke: the outcome-only variant, one update, a tiny base policy."""
    bench = _bench()
    argv = ["--quick", "--variants", "outcome", "--updates", "1", "--sft-steps", "5"]
    argv += ["--sft-solutions", "50", "--eval-tasks", "2"]
    bench.main([*argv, "--out", str(tmp_path)])
    _check_outputs(tmp_path, ("outcome",), 1)
    assert list(tmp_path.glob("base_policy_*/sft.json"))
    # The base policy is evaluated once (cached next to it); every run's point at update 0 is
    # that evaluation, which is what evaluating the loaded policy gives.
    (base,) = tmp_path.glob("base_policy_*")
    settings = bench.Settings(
        **json.loads((tmp_path / "llm_learning.json").read_text())["settings"]
    )
    cached = json.loads((base / bench._eval_file(settings)).read_text())
    start = json.loads((tmp_path / "llm_learning.json").read_text())["runs"][0]["curve"][0]
    assert {k: start[k] for k in cached} == cached
    policy = bench.load_policy(base, settings, "cpu")
    assert (
        bench.evaluate(policy, bench.eval_tasks(settings, settings.eval_tasks), settings) == cached
    )
    assert bench.base_eval(base, settings, "cpu") == cached

    # --first-seed adds seeds in a second invocation; --from-json merges the two runs.
    second = tmp_path / "second"
    bench.main([*argv, "--first-seed", "1", "--out", str(second)])
    assert [r["seed"] for r in json.loads((second / "llm_learning.json").read_text())["runs"]] == [
        1
    ]
    merged = tmp_path / "merged"
    bench.main(
        [
            "--from-json",
            str(tmp_path / "llm_learning.json"),
            str(second / "llm_learning.json"),
            "--out",
            str(merged),
        ]
    )
    assert "| outcome | 2 |" in (merged / "llm_learning.md").read_text()
    data = json.loads((tmp_path / "llm_learning.json").read_text())
    other = tmp_path / "other.json"
    for run in data["runs"]:
        run["seed"] += 1
    other.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="in two of the files"):
        bench.main(["--from-json", str(other), str(other), "--out", str(merged)])
    data["settings"]["lr"] *= 2
    other.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="other settings"):
        bench.main(["--from-json", str(tmp_path / "llm_learning.json"), str(other)])


def test_a_failing_run_is_reported_and_the_others_still_make_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _bench()
    run_one = bench.run_one

    def failing(variant: str, *args: object) -> dict[str, object]:
        if variant == "raw_sum":
            raise RuntimeError("a run that breaks")
        return dict(run_one(variant, *args))

    monkeypatch.setattr(bench, "run_one", failing)
    argv = ["--quick", "--variants", "outcome", "raw_sum", "--updates", "1", "--sft-steps", "5"]
    argv += ["--sft-solutions", "50", "--eval-tasks", "2", "--out", str(tmp_path)]
    with pytest.raises(SystemExit, match="1 of 2 runs failed: raw_sum seed 0"):
        bench.main(argv)
    _check_outputs(tmp_path, ("outcome",), 1)


def test_train_pool_trains_on_its_problems_and_measures_them(tmp_path: Path) -> None:
    """``--train-tasks N``: a pool disjoint from the held-out problems, its accuracy reported."""
    bench = _bench()
    settings = bench.Settings()
    pool = {t.prompt for t in bench.eval_tasks(settings, 3, bench.POOL_SEED)}
    held_out = {t.prompt for t in bench.eval_tasks(settings, 2)}
    assert not pool & held_out
    argv = ["--quick", "--variants", "outcome", "--updates", "2", "--sft-steps", "5"]
    argv += ["--sft-solutions", "50", "--eval-tasks", "2", "--train-tasks", "3"]
    bench.main([*argv, "--out", str(tmp_path)])
    _check_outputs(tmp_path, ("outcome",), 2)
    data = json.loads((tmp_path / "llm_learning.json").read_text())
    assert data["settings"]["train_tasks"] == 3
    for point in data["runs"][0]["curve"]:
        assert 0.0 <= point["pool_greedy"] <= 1.0
    for record in data["runs"][0]["train"]:
        assert 0.0 <= record["zero_var_groups"] <= 1.0
    md = (tmp_path / "llm_learning.md").read_text()
    assert "pool greedy (final)" in md.splitlines()[0]
    assert md.splitlines()[1].count("---") == md.splitlines()[0].count("|") - 1


@pytest.mark.slow
def test_quick_runs_every_variant(tmp_path: Path) -> None:
    """``--quick`` runs every variant end to end and writes the table, JSON and PNG."""
    bench = _bench()
    bench.main(["--quick", "--out", str(tmp_path)])
    _check_outputs(tmp_path, bench.VARIANTS, bench.QUICK.updates)


class ArithmeticProver:
    """A scripted prover for ``arithmetic`` level-1 word problems: it does each remaining
    operation right, carrying on from the last value the conversation reached."""

    def __init__(self) -> None:
        self.calls = 0

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        self.calls += 1
        out = []
        for messages in prompts:
            assert not isinstance(messages, str)
            problem = messages[0]["content"]
            ops = re.findall(r"(gets|gives) (\d+)", problem)
            done = [m["content"] for m in messages if m["role"] == "assistant"]
            value = int(re.search(r"has (\d+)", problem)[1])  # type: ignore[index]
            for step in done:
                value = int(re.findall(r"= (-?\d+)", step)[-1])
            if len(done) < len(ops):
                verb, k = ops[len(done)]
                new = value + int(k) if verb == "gets" else value - int(k)
                sign = "+" if verb == "gets" else "-"
                text = f"Step {len(done) + 1}: {value} {sign} {k} = {new}."
            else:
                text = f"Step {len(done) + 1}: The answer is \\boxed{{{value}}}."
            out.append([Generation(text)])
        return out


def _play(bench: ModuleType, task: Task, actions: list[str]) -> Trajectory:
    """One episode of the benchmark's env on ``task`` with ``actions`` (at most 4 steps)."""
    env = bench.task_env(task, 4)
    obs, info = env.reset()
    traj = Trajectory(task_id=info["task_id"], prompt=str(obs))
    for action in actions:
        obs, reward, terminated, truncated, info = env.step(action)
        traj.append(action, str(obs), float(reward), dict(info))
        if terminated or truncated:
            break
    return traj


def test_prover_progress_charges_the_step_that_went_wrong() -> None:
    """PAV: a step after which the prover can no longer win loses the prover's value there."""
    bench = _bench()
    settings = bench.Settings()
    task = bench.eval_tasks(settings, 1)[0]
    seen = {task.id: task}
    prover = bench.ProverProgress(ArithmeticProver(), seen, max_new_tokens=32, n_rollouts=2)
    gold = list(task.metadata["gold_steps"])
    first = re.search(r"(\d+) ([-+]) (\d+) = (-?\d+)", gold[0])
    assert first is not None
    a, op, b, gold_value = first.groups()
    wrong_value = str(int(a) - int(b) if op == "+" else int(a) + int(b))
    flipped = f"Step 1: {a} {'-' if op == '+' else '+'} {b} = {wrong_value}."
    carried = {gold_value: wrong_value}
    consistent = [flipped, *(carry_forward(step, carried) for step in gold[1:])]

    right = _play(bench, task, gold)
    wrong = _play(bench, task, consistent)
    late = _play(bench, task, [*gold[:-1], gold[-1].replace("{", "{1")])  # a wrong final answer
    assert (right.outcome, wrong.outcome, late.outcome) == (1.0, 0.0, 0.0)
    prover.label([right, wrong, late])
    # The prover wins from every prefix of the gold solution: no step moves its value.
    assert right.components()["pav"].tolist() == [0.0] * len(gold)
    # The flipped first step takes V from 1 to 0; the steps carried on from it change nothing.
    assert wrong.components()["pav"].tolist() == [-1.0] + [0.0] * (len(gold) - 1)
    # A wrong final step loses the value there (V after the last step is the outcome).
    assert late.components()["pav"].tolist() == [0.0] * (len(gold) - 1) + [-1.0]


class HalfWrongProver(ArithmeticProver):
    """:class:`ArithmeticProver`, except that every second final answer it writes is wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.answers = 0

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        out = super().generate(prompts, params)
        for row in out:
            if "boxed" in row[0].text:
                self.answers += 1
                if self.answers % 2 == 0:
                    row[0] = Generation(row[0].text.replace("{", "{1"))
        return out


def test_best_of_k_prover_values_follow_the_subset_estimator() -> None:
    """``best_of=k``: the Best-of-k prover's value from ``w`` wins in ``n`` rollouts is
    ``1 - C(n - w, k) / C(n, k)`` (here w = 2 of n = 4: 1/2, 5/6 and 1 for k = 1, 2, 4)."""
    bench = _bench()
    task = bench.eval_tasks(bench.Settings(), 1)[0]
    gold = list(task.metadata["gold_steps"])
    starts = [(task, ()), (task, tuple(gold[:1]))]
    for k, value in [(1, 0.5), (2, 5 / 6), (4, 1.0)]:
        prover = bench.ProverProgress(
            HalfWrongProver(), {task.id: task}, max_new_tokens=32, n_rollouts=4, best_of=k
        )
        assert prover.values(starts) == pytest.approx([value, value]), k
    with pytest.raises(ValueError, match="best_of"):
        bench.ProverProgress(HalfWrongProver(), {}, max_new_tokens=32, n_rollouts=2, best_of=3)


class ShortContextProver(ArithmeticProver):
    """:class:`ArithmeticProver` with a context that holds ``fits`` messages: a longer
    conversation gets :class:`ContextOverflowError` naming it, as a real backend raises it."""

    def __init__(self, fits: int) -> None:
        super().__init__()
        self.fits = fits

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Generation]]:
        over = [i for i, messages in enumerate(prompts) if len(messages) > self.fits]
        if over:
            raise ContextOverflowError("does not fit", over)
        return super().generate(prompts, params)


def test_a_prover_rollout_that_outgrows_the_context_ends_unsolved() -> None:
    """PAV on long episodes: a rollout whose conversation no longer fits the prover's context
    ends without a win (the run goes on; it crashed a chain-regime run before)."""
    bench = _bench()
    task = bench.eval_tasks(bench.Settings(), 1)[0]
    gold = list(task.metadata["gold_steps"])
    starts = [(task, ()), (task, tuple(gold[:1]))]
    # Room for the whole gold solution and its answer: every rollout wins.
    roomy = bench.ProverProgress(ShortContextProver(99), {task.id: task}, 32, n_rollouts=2)
    assert roomy.values(starts).tolist() == [1.0, 1.0]
    # Room for the problem and one exchange: the prover never reaches its answer.
    short = bench.ProverProgress(ShortContextProver(3), {task.id: task}, 32, n_rollouts=2)
    assert short.values(starts).tolist() == [0.0, 0.0]
    assert short.backend.calls >= 1


def test_padding_does_not_raise_an_episodes_prover_progress() -> None:
    """The cheapest farming policy, padding a right solution with a repeated step, gains
    nothing under PAV, with either prover: an episode's progress sums to ``outcome - V(s_0)``."""
    bench = _bench()
    task = bench.eval_tasks(bench.Settings(), 1)[0]
    gold = list(task.metadata["gold_steps"])

    for best_of in (1, 4):
        prover = bench.ProverProgress(
            ArithmeticProver(), {task.id: task}, 32, n_rollouts=4, best_of=best_of
        )
        plain, padded = _play(bench, task, gold), _play(bench, task, [gold[0], *gold])
        assert (plain.outcome, padded.outcome, len(padded.actions)) == (1.0, 1.0, len(gold) + 1)
        prover.label([plain, padded])
        v0 = prover.values([(task, ())])[0]
        for traj in (plain, padded):
            assert sum(traj.components()["pav"]) == pytest.approx(1.0 - v0)


def test_every_regime_leaves_room_for_its_gold_solutions() -> None:
    """Each ``--regime``'s episodes fit its gold solutions, with at least one step to spare."""
    from dataclasses import replace

    bench = _bench()
    for regime in bench.REGIMES:
        settings = replace(bench.Settings(), regime=regime)
        longest = max(len(t.metadata["gold_steps"]) for t in bench.eval_tasks(settings, 50))
        assert longest < settings.max_steps, regime
        assert bench._env_kwargs(settings)["max_steps"] == settings.max_steps


def test_chain_regime_trains_and_evaluates_on_four_operation_problems() -> None:
    """``--regime chain``: the ``procedure`` problems' numbers and mistakes, four operations,
    in the SFT data, the held-out set and the env alike."""
    from dataclasses import replace

    bench = _bench()
    settings = replace(bench.Settings(), regime="chain", sft_solutions=4)
    for task in bench.eval_tasks(settings, 20):
        assert task.metadata["arithmetic_ops"] == 4 and task.metadata["level"] == 1
        assert len(task.metadata["gold_steps"]) == 5
    examples = bench._sft_examples(settings)
    # One (history, step) pair per step of each of the 4 solutions: 4 operations + the answer.
    assert len(examples) == 4 * 5
    assert examples[0][0][0]["content"].count("Then ") == 4
    assert bench._env_kwargs(settings)["arithmetic_ops"] == 4


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--updates", "0"), ("--eval-every", "0"), ("--gen-batch", "0"), ("--micro-batch", "-1")],
)
def test_settings_that_would_make_no_table_are_refused_up_front(
    tmp_path: Path, flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        _bench().main(["--quick", flag, value, "--out", str(tmp_path)])
    assert f"{flag} must be at least 1, got {value}" in capsys.readouterr().err
    assert not list(tmp_path.glob("base_policy_*"))  # refused before any training


def test_each_finished_run_is_saved_before_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An invocation stopped before its table (a time limit) still leaves the runs it finished,
    which ``--from-json`` turns into the table."""
    bench = _bench()

    def stopped(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "report", stopped)
    argv = ["--quick", "--variants", "outcome", "--updates", "1", "--sft-steps", "5"]
    argv += ["--sft-solutions", "50", "--eval-tasks", "2", "--out", str(tmp_path)]
    with pytest.raises(KeyboardInterrupt):
        bench.main(argv)
    runs = json.loads((tmp_path / "llm_learning.json").read_text())["runs"]
    assert [(r["variant"], r["seed"]) for r in runs] == [("outcome", 0)]
    monkeypatch.undo()
    bench.main(["--from-json", str(tmp_path / "llm_learning.json"), "--out", str(tmp_path / "t")])
    assert "| outcome | 1 |" in (tmp_path / "t" / "llm_learning.md").read_text()


def test_table_reports_updates_to_outcome_only_final_for_greedy_pass_at_k_and_sampled() -> None:
    bench = _bench()
    s = bench.Settings(updates=20, eval_every=10)

    def run(
        variant: str, greedy: list[float], pass_k: list[float], sampled: list[float]
    ) -> dict[str, object]:
        curve = [
            {"update": 10.0 * i, "tokens": 0.0, "greedy": g, "pass_at_k": p, "sample_acc": a}
            | {"steps": 3.0, "idle_share": 0.0}
            for i, (g, p, a) in enumerate(zip(greedy, pass_k, sampled, strict=True))
        ]
        return {"variant": variant, "seed": 0, "curve": curve, "train": []}

    timing = {"gen_s": 1.0, "env_s": 0.0, "opt_s": 1.0}
    results = [
        run("outcome", [0.1, 0.2, 0.4], [0.3, 0.4, 0.6], [0.1, 0.15, 0.2]) | timing,
        run("progress", [0.1, 0.5, 0.5], [0.3, 0.5, 0.7], [0.1, 0.25, 0.3]) | timing,
    ]
    md = bench.table(results, s)
    header = [c.strip() for c in md.splitlines()[0].split("|")[1:-1]]
    row = dict(zip(header, [c.strip() for c in md.splitlines()[3].split("|")[1:-1]], strict=True))
    assert row["variant"] == "progress"
    assert row["updates to outcome's final greedy (ratio)"] == "10 (0.50)"
    assert row["updates to outcome's final pass@K (ratio)"] == "20 (1.00)"
    assert row["updates to outcome's final sampled (ratio)"] == "10 (0.50)"
    assert len(md.splitlines()[1].split("|")) == len(md.splitlines()[0].split("|"))
