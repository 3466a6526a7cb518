"""What every script of spark_jobs/ runs through: its command line, declared once, and Dagster Pipes.

Shipped beside the scripts (spark-submit's `--py-files`, or `spark.submit.pyFiles`), so a script is started
the same way everywhere: by the platform on this machine or a standalone cluster (spark-submit under
Dagster Pipes, ubm_platform/resources/spark.py), as an EMR step or an EMR Serverless job run (Pipes through
S3, ubm_platform/resources/emr.py), or by hand.

A script declares `ARGUMENTS = JobArguments(...)`, one `Argument` per keyword argument of its
`run(spark, **arguments) -> dict`, and ends with `if __name__ == "__main__": main(ARGUMENTS, run)`. The
platform turns keyword arguments into the command line with the same `ARGUMENTS.command_line`, so what
it passes and what the script parses cannot disagree.

`main` reports run()'s summary (row counts, class distribution, model version: a JSON-able dict) to Dagster
as a Pipes custom message; the asset, not the job, decides what is materialized (it checks the staged
output and publishes it first, and one job may cover several days).
"""
from __future__ import annotations

import argparse
import inspect
import json
import os
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

from pyspark.sql import SparkSession

PIPES_CONTEXT_VARIABLE = "DAGSTER_PIPES_CONTEXT"


@dataclass(frozen=True)
class Argument:
    name: str  # the keyword argument of run()
    option: str  # its command-line option
    help: str
    type: type = str
    default: object = None  # None: the option is required

    def __post_init__(self):
        if self.type not in (str, int, float):
            raise TypeError(f"{self.name}: only str, int and float arguments fit a command line")


class JobArguments:
    """A job's arguments: the one definition its argparse parser and the platform's command lines come from."""

    def __init__(self, description: str, *arguments: Argument):
        self.description = description
        self.arguments = arguments

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.arguments]

    def parser(self) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(description=self.description)
        for a in self.arguments:
            parser.add_argument(a.option, dest=a.name, type=a.type, help=a.help, required=a.default is None,
                                default=a.default)
        return parser

    def parse(self, argv: list[str] | None = None) -> dict:
        return vars(self.parser().parse_args(argv))

    def command_line(self, values: dict) -> list[str]:
        """The options `parse` reads back as `values` (an argument left out or None takes its default)."""
        unknown = sorted(set(values) - set(self.names))
        if unknown:
            raise ValueError(f"{self.description}: unknown argument(s) {unknown}; known: {self.names}")
        argv: list[str] = []
        for a in self.arguments:
            value = values.get(a.name)
            if value is None:
                if a.default is None:
                    raise ValueError(f"{self.description}: {a.name} ({a.option}) is required")
                continue
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"{self.description}: {a.name}={value!r} cannot be passed on a command line")
            argv += [a.option, repr(value) if isinstance(value, float) else str(value)]
        return argv

    def check_matches(self, run: Callable) -> None:
        """Raise unless run()'s keyword arguments (after `spark`) are exactly these arguments."""
        parameters = list(inspect.signature(run).parameters)[1:]
        if parameters != self.names:
            raise TypeError(f"run{tuple(parameters)} does not take the declared arguments {tuple(self.names)}")


def open_pipes():
    """Dagster Pipes as the launcher set it up: through S3 when it gave a bucket (EMR), else through local
    files (spark-submit on this machine); a no-op context for a hand-run spark-submit."""
    if PIPES_CONTEXT_VARIABLE not in os.environ:
        return nullcontext()
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    if "bucket" not in PipesEnvVarParamsLoader().load_context_params():
        return open_dagster_pipes()
    import boto3
    from dagster_pipes import PipesS3ContextLoader, PipesS3MessageWriter

    s3 = boto3.client("s3")
    return open_dagster_pipes(context_loader=PipesS3ContextLoader(s3), message_writer=PipesS3MessageWriter(s3))


def main(arguments: JobArguments, run: Callable[..., dict], argv: list[str] | None = None) -> None:
    """Parse the command line, run the job under Pipes and report its summary (print it when run by hand)."""
    arguments.check_matches(run)
    values = arguments.parse(argv)
    spark = SparkSession.builder.getOrCreate()
    try:
        with open_pipes() as pipes:
            summary = run(spark, **values)
            if pipes is None:  # run by hand: the summary is the output
                print(json.dumps(summary, sort_keys=True))
            else:
                pipes.report_custom_message(summary)
    finally:
        spark.stop()
