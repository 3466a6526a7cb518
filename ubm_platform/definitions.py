"""The Dagster code location: `defs` is what `dg`, `dagster dev`, the CLI and workspace.yaml load.

The assets, checks, jobs, schedules and sensors are found in the `defs/` folder (one folder per asset
family, as `dg` projects lay them out); what differs between the embedded default and AWS (the
resources and the executor) comes from the environment switch.
"""

from pathlib import Path

from dagster import Definitions, colored_console_logger, load_from_defs_folder

from ubm_platform.defs.progress import progress_logger
from ubm_platform.environments import EXECUTOR_BY_ENV, resources_for
from ubm_platform.settings import load_settings

settings = load_settings()

defs = Definitions.merge(
    load_from_defs_folder(path_within_project=Path(__file__).parent),
    Definitions(
        resources=resources_for(settings),
        executor=EXECUTOR_BY_ENV[settings.env],
        loggers={"console": colored_console_logger, "progress": progress_logger},
    ),
)
