"""The benchmark's targets, its Markdown report and the per-row cost comparison between two runs."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from benchmarks import machine

# (name, what is compared, comparison, limit, the scale the target is set for: None = any)
TARGETS = [
    ("extraction_vs_copy", "extract_history rows/s ÷ PostgreSQL COPY rows/s (same query, same range)",
     ">=", 0.7, 100),
    ("one_day_vs_spark_start", "one_day_pipeline seconds ÷ spark_session_start seconds", "<=", 4.0, 1),
    ("full_vs_one_day", "full_history_backfill seconds ÷ one_day_pipeline seconds", "<=", 5.0, None),
    ("marts_vs_metric", "marts seconds ÷ metric_history seconds (the questions within the metric's own history build)",
     "<=", 1.0, 100),
    ("classify_model_vs_keyword", "per-review cost: model ÷ keyword rule (classify_1m: the same job and session, best of 2 alternating runs)", "<=", 2.0, None),
]


EXTRACTION_DETAILS = [("marginal_ratio", "marginal (fixed costs out)"), ("step_ratio", "the Dagster step alone"),
                      ("one_day_ratio", "one day (extract_one_day ÷ copy_one_day)"),
                      ("floor_ratio", "the most any extraction in a Dagster range run could reach "
                                      "(COPY's seconds ÷ (dagster_floor's + COPY's))")]


def _stage(results: dict, name: str) -> dict | None:
    rec = results["stages"].get(name)
    return rec if rec and rec.get("status") == "ok" else None


def _ratio(results: dict, name: str) -> tuple[float | None, dict]:
    s = lambda n: _stage(results, n)  # noqa: E731
    if name == "extraction_vs_copy":
        ext, copy = s("extract_history"), s("copy_baseline")
        if not (ext and copy and ext.get("rows_per_s") and copy.get("rows_per_s")):
            return None, {}
        detail = {"extract_rows_per_s": ext["rows_per_s"], "copy_rows_per_s": copy["rows_per_s"]}
        # The extraction step alone (Dagster's STEP_START to STEP_SUCCESS: query, Parquet, checks, the
        # partitions' events), without the process start and run launch the verdict's wall time includes.
        step = next((r["steps"].get("user_purchase_staging") for r in (ext.get("dagster") or {}).get("runs", [])
                     if "user_purchase_staging" in r.get("steps", {})), None)
        if step and step.get("seconds"):
            detail["step_ratio"] = round(ext["rows"] / step["seconds"] / copy["rows_per_s"], 3)
        one, copy_day = s("extract_one_day"), s("copy_one_day")
        if one and copy_day and one.get("rows_per_s") and copy_day.get("rows_per_s"):
            detail["one_day_ratio"] = round(one["rows_per_s"] / copy_day["rows_per_s"], 4)
        # Marginal rate: the history run's extra rows over its extra seconds compared with the one-day
        # run, i.e. throughput with the fixed costs (process, Dagster run, first connection) taken out.
        if one and one.get("rows") is not None and ext["seconds"] > one["seconds"] and ext["rows"] > one["rows"]:
            marginal = (ext["rows"] - one["rows"]) / (ext["seconds"] - one["seconds"])
            detail.update(marginal_extract_rows_per_s=round(marginal, 1),
                          marginal_ratio=round(marginal / copy["rows_per_s"], 3))
        # The ceiling: a run that does nothing (dagster_floor) plus PostgreSQL's own time for the rows.
        floor = s("dagster_floor")
        if floor:
            copy_s = copy["seconds"]
            detail.update(dagster_floor_s=floor["seconds"], floor_ratio=round(copy_s / (floor["seconds"] + copy_s), 3))
        return ext["rows_per_s"] / copy["rows_per_s"], detail
    if name == "one_day_vs_spark_start":
        day, spark = s("one_day_pipeline"), s("spark_session_start")
        if not (day and spark):
            return None, {}
        return day["seconds"] / spark["seconds"], {"one_day_pipeline_s": day["seconds"], "spark_session_start_s": spark["seconds"]}
    if name == "full_vs_one_day":
        full, day = s("full_history_backfill"), s("one_day_pipeline")
        if not (full and day):
            return None, {}
        return full["seconds"] / day["seconds"], {"full_history_backfill_s": full["seconds"],
                                                  "one_day_pipeline_s": day["seconds"], "days": full.get("days")}
    if name == "marts_vs_metric":
        marts, metric = s("marts"), s("metric_history")
        if not (marts and metric):
            return None, {}
        return marts["seconds"] / metric["seconds"], {"marts_s": marts["seconds"], "metric_history_s": metric["seconds"]}
    if name == "classify_model_vs_keyword":
        rec = s("classify_1m")
        parts = (rec or {}).get("parts", {})
        if "model" not in parts or "keyword" not in parts:
            return None, {}
        model, keyword = parts["model"], parts["keyword"]
        return model["us_per_row"] / keyword["us_per_row"], {
            "model_rows_per_s": model["rows_per_s"], "keyword_rows_per_s": keyword["rows_per_s"],
            "rows": model["rows"]}
    raise KeyError(name)


def targets(results: dict) -> list[dict]:
    out = []
    for name, what, op, limit, for_scale in TARGETS:
        ratio, detail = _ratio(results, name)
        if ratio is None:
            verdict = "n/a"
        else:
            verdict = "PASS" if (ratio >= limit if op == ">=" else ratio <= limit) else "MISS"
            if verdict == "MISS" and detail.get("floor_ratio", limit) < limit:
                verdict = f"MISS (out of reach of any Dagster range run here: at most {detail['floor_ratio']:.2f})"
        out.append({"name": name, "what": what, "target": f"{op} {limit:g}", "set_for_scale": for_scale,
                    "ratio": round(ratio, 3) if ratio is not None else None, "verdict": verdict, **detail})
    return out


def _fmt(value, spec: str = ",.0f", empty: str = "-") -> str:
    return empty if value is None else format(value, spec)


def _ratio_text(ratio: float | None) -> str:
    return "-" if ratio is None else format(ratio, ".3f" if ratio < 0.1 else ".2f")


def _rows(results: dict) -> list[tuple]:
    rows = []
    for name, rec in results["stages"].items():
        if rec["status"] == "skipped":
            rows.append((name, "-", "-", "-", "-", "-", "skipped"))
            continue
        status = rec["status"] if rec["status"] == "ok" else rec["status"].upper()
        rows.append((name, _fmt(rec.get("rows")), _fmt(rec.get("seconds"), ".2f"), _fmt(rec.get("rows_per_s")),
                     _fmt(rec.get("peak_rss_mb"), ",.0f"), _fmt(rec.get("pg_peak_rss_mb"), ",.0f"), status))
        for part, prec in rec.get("parts", {}).items():
            rows.append((f"{name}: {part}", _fmt(prec.get("rows")), _fmt(prec.get("seconds"), ".2f"),
                         _fmt(prec.get("rows_per_s")), _fmt(prec.get("peak_rss_mb"), ",.0f"), "-",
                         prec["status"] if prec["status"] == "ok" else prec["status"].upper()))
    return rows


def _table(header: list[str], rows: list[tuple], right: set[int]) -> str:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---:" if i in right else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _breakdown(results: dict) -> list[str]:
    """Per stage and asset: process start-up, the asset's fixed cost and its cost per day."""
    rows = []
    for name, rec in results["stages"].items():
        timing = rec.get("dagster") if rec.get("status") == "ok" else None
        if not timing or "runs" not in timing:
            continue
        first = True
        for run in timing["runs"]:
            for asset, step in run["steps"].items():
                rows.append((
                    name if first else "", _fmt(timing.get("before_run_s"), ".1f") if first else "",
                    asset, step["days"], _fmt(step["seconds"], ".2f"), _fmt(step.get("first_day_s"), ".2f"),
                    _fmt(step.get("per_day_s"), ".3f"), _fmt(step.get("fixed_s"), ".2f"),
                    _fmt(timing.get("after_run_s"), ".1f") if first else ""))
                first = False
    if not rows:
        return []
    return [
        "From each Dagster run's event log: start-up = process start to run start (interpreter, imports, "
        "definitions, run creation); for each asset step, its seconds, when its first day was done, its "
        "cost per further day ((last − first day) ÷ (days − 1)) and its fixed cost (seconds − days × per day); "
        "exit = run end to process exit.", "",
        _table(["stage", "start-up (s)", "asset step", "days", "step (s)", "first day (s)", "per further day (s)",
                "fixed (s)", "exit (s)"], rows, {1, 3, 4, 5, 6, 7, 8}), ""]


def markdown(results: dict, comparison: str | None = None) -> str:
    m = results["machine"]
    scale = results["scale"]
    out = [f"# Benchmark, scale {scale:g}", ""]
    out.append(f"{results['days']} days ({results['range'][0]} .. {results['range'][1]}), "
               f"classify_1m on {results['classify_rows']:,} synthetic reviews; "
               f"run {results['started_at']} .. {results.get('finished_at', '?')} (UTC).")
    out.append(f"Machine: {machine.one_line(m)}; dagster {m['packages'].get('dagster')}, "
               f"pyspark {m['packages'].get('pyspark')}, duckdb {m['packages'].get('duckdb')}, "
               f"psycopg {m['packages'].get('psycopg')}. Load average before/after: "
               f"{results['load_before']['loadavg']} / {results.get('load_after', {}).get('loadavg')}.")
    if results.get("quick_run"):
        out.append("**Quick run** (shortened range or fewer classify rows): not the reference numbers.")
    pg = results.get("postgres", {})
    if pg.get("start_s") is not None:
        out.append(f"Embedded PostgreSQL start-up: {pg['start_s']:.2f} s, once (the harness keeps it running).")
    out += ["", _table(["stage", "rows", "seconds", "rows/s", "peak RSS MB", "PostgreSQL RSS MB", "status"],
                       _rows(results), {1, 2, 3, 4, 5}), ""]
    out.append("Peak RSS: peak of the summed RSS of the stage's process tree (Python, Spark JVM, children), "
               "sampled every 50 ms. PostgreSQL RSS: the embedded server's own process tree (postmaster and "
               "backends) during the stage, reported apart. copy_baseline and classify_1m parts time the work "
               "inside the process; every other stage is the wall time of its command.")
    breakdown = _breakdown(results)
    if breakdown:
        out += ["", "## Where the time goes", "", *breakdown]
    out += ["", "## Targets", ""]
    trows = []
    for t in results.get("targets", []):
        note = "" if t["set_for_scale"] in (None, scale) else f" (target set for scale {t['set_for_scale']:g})"
        # the extraction target's other views, shown beside its verdict
        extra = "".join(f"; {label}: {_ratio_text(t[key])}" for key, label in EXTRACTION_DETAILS
                        if t.get(key) is not None)
        trows.append((t["name"], t["what"], t["target"] + note, _ratio_text(t["ratio"]) + extra, t["verdict"]))
    out.append(_table(["target", "measure", "target", "measured", "verdict"], trows, set()))
    failed = {n: r for n, r in results["stages"].items() if r["status"] in ("failed", "timeout")}
    if failed:
        out += ["", "## Failures", ""]
        for name, rec in failed.items():
            first = (rec.get("error") or "").strip().splitlines()
            out.append(f"- `{name}` ({rec['status']}, log `{rec.get('log', '-')}`): "
                       f"{first[-1][:300] if first else 'no output'}")
    if comparison:
        out += ["", comparison]
    return "\n".join(out) + "\n"


def compare(results: dict, other: dict) -> str:
    """Per-stage per-row cost (µs/row) of this run against another, e.g. scale 100 against scale 10.

    A ratio near 1 is linear scaling; below 1, fixed costs are being amortized; above 1, something
    grows faster than the data.
    """
    rows = []
    names = [n for n in results["stages"] if n in other["stages"]]
    for name in names:
        pairs = [(name, results["stages"][name], other["stages"][name])]
        for part in results["stages"][name].get("parts", {}):
            if part in other["stages"][name].get("parts", {}):
                pairs.append((f"{name}: {part}", results["stages"][name]["parts"][part],
                              other["stages"][name]["parts"][part]))
        for label, mine, theirs in pairs:
            a, b = mine.get("us_per_row"), theirs.get("us_per_row")
            rows.append((label, _fmt(theirs.get("rows")), _fmt(b, ",.2f"), _fmt(mine.get("rows")),
                         _fmt(a, ",.2f"), _fmt(a / b if a and b else None, ".2f")))
    title = (f"## Per-row cost, scale {results['scale']:g} vs scale {other['scale']:g} "
             f"({other['days']} days, run {other['started_at']})")
    return "\n".join([title, "", _table(
        ["stage", f"rows @{other['scale']:g}", f"µs/row @{other['scale']:g}", f"rows @{results['scale']:g}",
         f"µs/row @{results['scale']:g}", "ratio"], rows, {1, 2, 3, 4, 5}), "",
        "ratio = µs/row now ÷ µs/row then: ~1 linear, < 1 fixed costs amortized, > 1 super-linear."])


# --- Summary tables across scales, for docs/performance.md and docs/model.md -------------------------------
#
# `python -m benchmarks.report summary|runs|stages|targets|classify|per-row-cost` prints Markdown tables rendered from
# benchmarks/results/scale-*.json. The docs paste that output between
#   <!-- generated by: python -m benchmarks.report ARGS -->  and  <!-- end generated -->
# `python -m benchmarks.report update-doc docs/performance.md` re-renders every such block in place, and
# ubm_platform_tests/test_docs_tables.py fails when a block differs from what its command prints.

RESULTS_DIR = Path(__file__).resolve().parent / "results"
GENERATED_BLOCK = re.compile(
    r"(?P<start><!-- generated by: python -m benchmarks\.report (?P<args>[^\n]*?) -->)\n(?P<body>.*?)"
    r"(?P<end><!-- end generated -->)", re.S)


def load_results(results_dir: Path | str = RESULTS_DIR) -> list[dict]:
    """Every scale-N.json of the folder, by scale."""
    runs = [json.loads(p.read_text(encoding="utf-8")) for p in Path(results_dir).glob("scale-*.json")]
    return sorted(runs, key=lambda r: r["scale"])


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return format(value, ",.0f" if value >= 100 else ".1f" if value >= 10 else ".2f" if value >= 1 else ".3f")


def _stage_names(runs: list[dict]) -> list[str]:
    """Stage names in the harness's order: a stage only some runs have goes after its predecessor there."""
    names: list[str] = []
    for r in runs:
        before = None
        for name in r["stages"]:
            if name not in names:
                names.insert(names.index(before) + 1 if before else len(names), name)
            before = name
    return names


def _records(run: dict, name: str) -> list[tuple[str, dict]]:
    """A stage's record, or its parts' when it has parts (classify_1m: generate, model, keyword)."""
    rec = run["stages"].get(name)
    if rec is None:
        return []
    parts = rec.get("parts") or {}
    return [(f"{name}: {p}", prec) for p, prec in parts.items()] if parts else [(name, rec)]


def _scale(s: float) -> str:
    return format(s, "g")


def summary_runs(runs: list[dict]) -> str:
    """Which run each scale's numbers come from."""
    rows = []
    for r in runs:
        stages = [n for n, rec in r["stages"].items() if rec.get("status") != "skipped"]
        rows.append((_scale(r["scale"]), (r["machine"].get("git_commit") or "?")[:7],
                     f"{r['started_at'][:16].replace('T', ' ')} .. {(r.get('finished_at') or '?')[11:16]}",
                     f"{r['days']} ({r['range'][0]} .. {r['range'][1]})",
                     f"{len(stages)}, fresh state" if r.get("fresh_home") else f"{', '.join(stages)}; state reused",
                     f"{r['load_before']['loadavg'][0]} / {r.get('load_after', {}).get('loadavg', ['?'])[0]}"))
    return _table(["scale", "commit", "run (UTC)", "days", "stages", "load (1 min) before / after"], rows, set())


def summary_stages(runs: list[dict]) -> str:
    """Seconds of every stage at every scale; rows and rows/s at the largest scale it ran; peak RSS range."""
    labels: list[str] = []
    by_label: dict[str, dict] = {}
    for name in _stage_names(runs):
        for r in runs:
            for label, rec in _records(r, name):
                if label not in by_label:
                    labels.append(label)
                    by_label[label] = {}
                by_label[label][r["scale"]] = rec
    rows = []
    for label in labels:
        recs = by_label[label]
        cells = []
        for r in runs:
            rec = recs.get(r["scale"])
            cells.append("-" if rec is None else _seconds(rec.get("seconds")) if rec["status"] == "ok"
                         else rec["status"] if rec["status"] == "skipped" else rec["status"].upper())
        ok = [(s, rec) for s, rec in recs.items() if rec["status"] == "ok"]
        top_scale, top = max(ok, key=lambda x: x[0]) if ok else (None, {})
        rss = [rec["peak_rss_mb"] for _, rec in ok if rec.get("peak_rss_mb") is not None]
        rows.append((label, *cells,
                     f"{_fmt(top.get('rows'))} (@{_scale(top_scale)})" if top.get("rows") is not None else "-",
                     _fmt(top.get("rows_per_s")),
                     "-" if not rss else _fmt(min(rss)) if len(rss) == 1 or round(min(rss)) == round(max(rss))
                     else f"{_fmt(min(rss))} – {_fmt(max(rss))}"))
    header = ["stage", *(f"s @{_scale(r['scale'])}" for r in runs), "rows (largest scale run)",
              "rows/s there", "peak RSS MB (all scales)"]
    return _table(header, rows, set(range(1, len(header))))


def summary_targets(runs: list[dict]) -> str:
    """Each target's ratio and verdict at every scale, then the extraction target's other views."""
    rows = []
    for name, what, op, limit, for_scale in TARGETS:
        cells = []
        for r in runs:
            t = next((t for t in r.get("targets", []) if t["name"] == name), None)
            cells.append("-" if t is None or t["ratio"] is None
                         else f"{_ratio_text(t['ratio'])} {t['verdict'].split(' ')[0]}")
        limit_text = f"{op.replace('>=', '≥').replace('<=', '≤')} {limit:g}" + (
            f" at scale {_scale(for_scale)}" if for_scale is not None else "")
        rows.append((name, what, limit_text, *cells))
    table = _table(["target", "measure", "target", *(f"@{_scale(r['scale'])}" for r in runs)], rows,
                   set(range(3, 3 + len(runs))))
    erows = []
    for r in runs:
        t = next((t for t in r.get("targets", []) if t["name"] == "extraction_vs_copy"), None)
        if not t or t["ratio"] is None:
            continue
        erows.append((_scale(r["scale"]), _fmt(t.get("extract_rows_per_s")), _fmt(t.get("copy_rows_per_s")),
                      _ratio_text(t["ratio"]), *(_ratio_text(t.get(key)) for key, _ in EXTRACTION_DETAILS)))
    etable = _table(["scale", "extract_history rows/s", "COPY rows/s", "command ÷ COPY", "marginal",
                     "step alone", "one day", "ceiling"], erows, set(range(1, 8)))
    return (table + "\n\nextraction_vs_copy, its other views: marginal = fixed costs out (the history run's extra "
            "rows ÷ extra seconds over the one-day run); step alone = the Dagster step without process start and "
            "exit; one day = extract_one_day ÷ copy_one_day; ceiling = the most any extraction in a Dagster range "
            "run could reach, COPY's seconds ÷ (dagster_floor's + COPY's) (- where the run lacked the stage).\n\n"
            + etable)


def classify_table(runs: list[dict]) -> str:
    """classify_1m at every scale that ran it: the model against the keyword rule in the same job."""
    rows = []
    for r in runs:
        parts = (_stage(r, "classify_1m") or {}).get("parts", {})
        model, keyword = parts.get("model"), parts.get("keyword")
        if not (model and keyword and model.get("status") == keyword.get("status") == "ok"):
            continue
        train = _stage(r, "train_model") or {}
        rounds = lambda p: ", ".join(format(s, ".2f") for s in p.get("runs_s", []))  # noqa: E731
        rows.append((_scale(r["scale"]), _fmt(train.get("rows")), _fmt(model["rows"]), _fmt(model["rows_per_s"]),
                     _fmt(keyword["rows_per_s"]), _ratio_text(model["us_per_row"] / keyword["us_per_row"]),
                     f"{rounds(model)} / {rounds(keyword)}"))
    return _table(["scale", "model trained on (reviews)", "reviews classified", "model: reviews/s",
                   "keyword rule, same job: reviews/s", "model ÷ keyword", "rounds, model / keyword (s)"],
                  rows, {1, 2, 3, 4, 5})


def render(argv: list[str]) -> str:
    """The Markdown a `python -m benchmarks.report ARGS` command prints (what the docs' blocks hold)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report",
                                     description="Markdown tables from benchmarks/results/scale-*.json.")
    parser.add_argument("what", choices=["summary", "runs", "stages", "targets", "classify", "per-row-cost"],
                        help="summary = runs + stages + targets")
    parser.add_argument("--results-dir", default=str(RESULTS_DIR))
    parser.add_argument("--scale", type=float, default=100, help="per-row-cost: this scale ...")
    parser.add_argument("--against", type=float, default=10, help="... against this one")
    args = parser.parse_args(argv)
    runs = load_results(args.results_dir)
    tables = {"runs": summary_runs, "stages": summary_stages, "targets": summary_targets}
    if args.what in tables or args.what == "summary":
        return "\n\n".join(f(runs) for w, f in tables.items() if args.what in (w, "summary")) + "\n"
    if args.what == "classify":
        return classify_table(runs) + "\n"
    by_scale = {r["scale"]: r for r in runs}
    text = compare(by_scale[args.scale], by_scale[args.against])
    return text.split("\n", 2)[2].lstrip("\n") + "\n"  # without compare()'s "## Per-row cost" title


def generated_blocks(text: str) -> list[tuple[str, str]]:
    """(the block's arguments, its body) for every generated block of a document."""
    return [(m["args"], m["body"]) for m in GENERATED_BLOCK.finditer(text)]


def update_doc(path: Path | str, results_dir: Path | str | None = None) -> bool:
    """Re-render every generated block of a document in place; True when something changed."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")

    def block(m: re.Match) -> str:
        argv = m["args"].split() + (["--results-dir", str(results_dir)] if results_dir else [])
        return f"{m['start']}\n\n{render(argv).strip()}\n\n{m['end']}"

    new = GENERATED_BLOCK.sub(block, text)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["update-doc"]:
        for doc in argv[1:]:
            print(f"{doc}: {'updated' if update_doc(doc) else 'up to date'}")
        return 0
    sys.stdout.write(render(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
