"""`ubm-dbt`: the dbt the platform's dbt resource runs (`dbt_cli()`).

dagster-dbt asks `dbt --version` before every invocation, and dbt takes ~3 s to answer (it imports itself,
then asks PyPI for the latest release): three dbt steps a run made that 9 s of a one-day run. The installed
version is known without either, so `ubm-dbt --version` answers it at once; anything else is dbt itself.
"""

import os
import sys
from importlib.metadata import version
from pathlib import Path


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"Core:\n  - installed: {version('dbt-core')}")
        return
    dbt = Path(sys.executable).with_name("dbt")
    os.execv(dbt, [str(dbt), *sys.argv[1:]])
