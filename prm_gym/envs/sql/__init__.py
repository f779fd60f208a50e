"""prm/SQL-v0: text-to-SQL over generated (or Spider/BIRD) SQLite databases, scored by
execution match, with guarded read-only query execution and Reasoning-SQL partial rewards."""

from prm_gym.envs.sql.checker import CheckResult, ExecutionChecker
from prm_gym.envs.sql.databases import (
    GENERATOR_VERSION,
    SCHEMAS,
    build_database,
    database_path,
    default_cache_dir,
    describe_database,
)
from prm_gym.envs.sql.env import SQLEnv, extract_sql
from prm_gym.envs.sql.generator import LEVELS, PATTERNS, SQLConfig, generate, pattern_level
from prm_gym.envs.sql.loaders import load_spider, parse_sql_record
from prm_gym.envs.sql.matching import gold_is_ordered, results_match
from prm_gym.envs.sql.rewards import DEFAULT_WEIGHTS, SQLPartialReward
from prm_gym.envs.sql.safety import QueryError, QueryResult, SafeDatabase, format_table

__all__ = [
    "DEFAULT_WEIGHTS",
    "GENERATOR_VERSION",
    "LEVELS",
    "PATTERNS",
    "SCHEMAS",
    "CheckResult",
    "ExecutionChecker",
    "QueryError",
    "QueryResult",
    "SQLConfig",
    "SQLEnv",
    "SQLPartialReward",
    "SafeDatabase",
    "build_database",
    "database_path",
    "default_cache_dir",
    "describe_database",
    "extract_sql",
    "format_table",
    "generate",
    "gold_is_ordered",
    "load_spider",
    "parse_sql_record",
    "pattern_level",
    "results_match",
]
