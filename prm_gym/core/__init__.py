"""Core pieces every env family, scorer and wrapper builds on."""

from prm_gym.core.scorer import Potential, ProgressMeasure, Scorer, StepContext
from prm_gym.core.task import (
    DatasetSource,
    ProceduralSource,
    RecordParser,
    Task,
    TaskSource,
    as_task_source,
    load_jsonl,
)
from prm_gym.core.text_env import ActResult, TextEnv, abbreviate_action, validate_text_action
from prm_gym.core.transcript import Trajectory, Transcript, Turn

__all__ = [
    "ActResult",
    "DatasetSource",
    "Potential",
    "ProceduralSource",
    "ProgressMeasure",
    "RecordParser",
    "Scorer",
    "StepContext",
    "Task",
    "TaskSource",
    "TextEnv",
    "Trajectory",
    "Transcript",
    "Turn",
    "abbreviate_action",
    "as_task_source",
    "load_jsonl",
    "validate_text_action",
]
