"""A partitioned asset that does nothing: what a Dagster range run costs before any data moves.

Benchmark stage `dagster_floor` materializes it over the benchmark's range in one run, on the same
instance (DAGSTER_HOME) and executor as the platform's local runs. Its wall time is the floor under
`extract_history`: process start-up, run creation with a planned event per partition, a
materialization event per partition, exit. No extraction inside a Dagster range run can take less
than this floor plus the time PostgreSQL needs to produce the rows.
"""

from dagster import BackfillPolicy, Definitions, MaterializeResult, asset, in_process_executor

from ubm_platform.partitions import partitions_def


@asset(partitions_def=partitions_def, backfill_policy=BackfillPolicy.single_run())
def dagster_floor() -> MaterializeResult:
    return MaterializeResult()


defs = Definitions(assets=[dagster_floor], executor=in_process_executor)
