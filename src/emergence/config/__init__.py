"""The study's configuration: the schema (`schema.yaml`, the one file of defaults), its
validation (`validate.py`), the typed dataclasses (`study.py`) and the model grid (`grid.py`)."""

from emergence.config.grid import (
    MODEL_NAME_PATTERN,
    TASK_NAME_PATTERN,
    ModelRun,
    find_run,
    format_tokens,
    model_grid,
    model_name,
    parse_tokens,
)
from emergence.config.study import (
    AnalysisConfig,
    CorpusConfig,
    CorpusFile,
    ModelsConfig,
    ModelSize,
    PlotsConfig,
    StudyConfig,
    SyntheticConfig,
    TaskSpec,
    TokenizerConfig,
    TrainingConfig,
    defaults,
    load_config,
    task_spec,
)
from emergence.config.validate import load_schema, validate

__all__ = [
    "MODEL_NAME_PATTERN",
    "TASK_NAME_PATTERN",
    "AnalysisConfig",
    "CorpusConfig",
    "CorpusFile",
    "ModelRun",
    "ModelSize",
    "ModelsConfig",
    "PlotsConfig",
    "StudyConfig",
    "SyntheticConfig",
    "TaskSpec",
    "TokenizerConfig",
    "TrainingConfig",
    "defaults",
    "find_run",
    "format_tokens",
    "load_config",
    "load_schema",
    "model_grid",
    "model_name",
    "parse_tokens",
    "task_spec",
    "validate",
]
