"""Each script's one argument definition (spark_jobs/entry_point.py), as every environment passes it."""

import pytest

from ubm_platform.resources.emr import EmrServerlessSparkResource, EmrStepsSparkResource
from ubm_platform.resources.spark import SparkSubmitResource, job_command_line, load_entry_point, load_spark_job
from ubm_platform.settings import SPARK_JOBS_DIR

SCRIPTS = sorted(p.name for p in SPARK_JOBS_DIR.glob("*.py") if p.name != "entry_point.py")
SAMPLE_ARGUMENTS = {
    "classify_movie_review.py": {
        "input_path": "s3://b/lake/raw/movie_review",
        "partitions_uri": "s3://b/lake/stage/classified_movie_review/_staging/run-abc/partitions.json",
        "output_path": "s3://b/lake/stage/classified_movie_review/_staging/run-abc/classified",
        "model_dir": "s3://b/lake/models/sentiment/sentiment-123",
    },
    "train_sentiment_model.py": {
        "labeled_path": "s3://b/lake/raw/movie_review/insert_date=*/*.parquet",
        "out_dir": "s3://b/lake/models/sentiment/_staging/unversioned-abc",
        "holdout_fraction": 0.25,
        "seed": 7,
        "params": '{"folds": 3, "word_ngrams": [1, 2]}',
    },
}


def test_every_script_declares_the_arguments_its_run_takes_and_ends_in_the_entry_point():
    assert sorted(SAMPLE_ARGUMENTS) == SCRIPTS, "a new script needs its sample arguments here"
    for script in SCRIPTS:
        job = load_spark_job(script)
        job.ARGUMENTS.check_matches(job.run)
        assert sorted(job.ARGUMENTS.names) == sorted(SAMPLE_ARGUMENTS[script]), script
        assert (SPARK_JOBS_DIR / script).read_text().rstrip().endswith(
            'if __name__ == "__main__":\n    main(ARGUMENTS, run)'), script


def _after(command: list[str], marker: str) -> list[str]:
    return command[command.index(marker) + 1:]


@pytest.mark.parametrize("script", SCRIPTS)
def test_local_emr_steps_and_serverless_pass_what_the_script_parses_back(script):
    """spark-submit here (local or a standalone cluster), an EMR step and an EMR Serverless job run give the
    script the same options, and the script's own parser reads them back as the values given."""
    values = SAMPLE_ARGUMENTS[script]
    command_line = job_command_line(script, values)
    local = _after(SparkSubmitResource().submit_command(script, command_line), str(SPARK_JOBS_DIR / script))
    steps = _after(EmrStepsSparkResource.step_arguments("s3://b/code/h/" + script, command_line, {"k": "v"}),
                   "s3://b/code/h/" + script)
    serverless = EmrServerlessSparkResource(
        code_uri="s3://b/code", runs_uri="s3://b/runs", application_id="a", execution_role_arn="arn:r",
    ).start_job_run_params(script, "s3://b/code/h/" + script, command_line, "r1", {}, {})[
        "jobDriver"]["sparkSubmit"]["entryPointArguments"]
    assert local == steps == serverless == command_line
    assert load_spark_job(script).ARGUMENTS.parse(command_line) == values


def test_a_default_left_out_is_the_scripts_default_and_bad_values_are_refused():
    arguments = load_spark_job("train_sentiment_model.py").ARGUMENTS
    argv = arguments.command_line({"labeled_path": "a", "out_dir": "b", "seed": None})
    assert "--seed" not in argv and arguments.parse(argv) == {
        "labeled_path": "a", "out_dir": "b", "holdout_fraction": 0.2, "seed": 42, "params": "{}"}
    with pytest.raises(ValueError, match=r"unknown argument\(s\) \['model_version'\]"):
        arguments.command_line({"labeled_path": "a", "out_dir": "b", "model_version": "x"})
    with pytest.raises(ValueError, match=r"out_dir \(--out\) is required"):
        arguments.command_line({"labeled_path": "a"})
    with pytest.raises(ValueError, match="cannot be passed on a command line"):
        arguments.command_line({"labeled_path": "a", "out_dir": "b", "seed": True})


def test_a_run_that_does_not_take_the_declared_arguments_is_refused():
    entry_point = load_entry_point()
    arguments = entry_point.JobArguments("job", entry_point.Argument("input_path", "--input", "in"))

    def run(spark, input_file):
        return {}

    with pytest.raises(TypeError, match=r"run\('input_file',\) does not take the declared arguments \('input_path',\)"):
        entry_point.main(arguments, run, ["--input", "x"])


def test_without_a_launcher_a_hand_run_script_opens_no_pipes(monkeypatch):
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    with load_entry_point().open_pipes() as pipes:
        assert pipes is None
