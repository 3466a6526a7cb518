package ubm.sentiment;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;

import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.ml.PipelineModel;
import org.apache.spark.ml.Transformer;
import org.apache.spark.ml.classification.LogisticRegressionModel;
import org.apache.spark.ml.feature.CountVectorizerModel;
import org.apache.spark.ml.feature.NGram;
import org.apache.spark.ml.feature.RegexTokenizer;
import org.apache.spark.ml.feature.SQLTransformer;
import org.apache.spark.ml.feature.VectorAssembler;
import org.apache.spark.ml.feature.Word2VecModel;
import org.apache.spark.ml.linalg.Matrix;
import org.apache.spark.ml.linalg.Vector;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;

/**
 * The saved sentiment PipelineModel (spark_jobs/train_sentiment_model.py, "compiled" model) applied as ONE
 * Spark SQL function: text -> (prediction, probability per class), the same numbers as
 * {@code PipelineModel.transform}.
 *
 * <p>Why: the saved model is text rules (SQLTransformer regular expressions), tokenisers, n-grams, a vocabulary
 * lookup and a linear model. Run as Spark ML stages, every stage materialises arrays, strings and sparse vectors
 * per row (25x the keyword rule's cost per review); here a review is one pass over its characters and one hash
 * lookup per n-gram.
 *
 * <p>How it stays the same model: the scorer is built FROM the saved stages. The text rules are read from the
 * SQLTransformers' statements and applied with java.util.regex, the engine behind Spark's regexp_replace (the
 * "rules" path, any statement of the supported shape). When the statements are exactly the rules this class knows
 * (the training script's normalisation, negation marking and stems), an ASCII text without "_" takes the "direct"
 * path: only the normalisation rules whose characters it holds run as regular expressions, then one hand-written
 * pass gives the same tokens as the remaining rules. Tests compare both paths with each other and with
 * PipelineModel.transform.
 *
 * <p>Input: {@code lower(coalesce(review_str, ''))} computed by Spark (its lower(), exactly the model's).
 */
public final class LinearTextScorer implements UDF1<String, Row>, Serializable {
    private static final long serialVersionUID = 1L;

    /** The function's SQL type: struct<prediction:int, probability:array<double>>. */
    public static DataType returnType() {
        return DataTypes.createStructType(Arrays.asList(
                DataTypes.createStructField("prediction", DataTypes.IntegerType, false),
                DataTypes.createStructField("probability", DataTypes.createArrayType(DataTypes.DoubleType, false), false)));
    }

    /** The training script's length_factor_sql: sqrt(max(1, characters of the lower-cased text / reference)). */
    static final Pattern LENGTH_FACTOR = Pattern.compile(
            "SELECT \\*, sqrt\\(greatest\\(1\\.0D, length\\(lower\\(coalesce\\(review_str, ''\\)\\)\\) / ([0-9.eE+-]+)D\\)\\) AS (\\w+) FROM __THIS__");

    // ---- the training script's text rules, as its SQL statements hold them (raw SQL literals) --------------------
    static final String[] KNOWN_NORMALIZATION = {
        "<[^>]*>", " ",
        "``|\\x27\\x27|[\\\"\\u201c\\u201d]", " ",
        "[\\u2018\\u2019\\u0060\\u00b4]", "'",
        "-l[rsc]b-", " ( ",
        "-r[rsc]b-", " ) ",
        "\\bcan\\s*not\\b", "can not",
        "n\\x27t\\b", " not",
        "(?<=[a-z])\\x27(s|re|ve|ll|d|m)\\b", " '$1",
        "\\x27+(?![a-z])|(?<![a-z ])\\x27+|(?<= )\\x27+(?!(s|re|ve|ll|d|m)\\b)", " ",
        "(\\.\\.\\.|[.,!?;:()\\[\\]{}*/]|--|\\u2014|\\u2013)", " $1 ",
        "\\s+", " ",
    };
    static final Pattern NEGATION_FIRST = Pattern.compile(
            Pattern.quote("\\b(") + "([a-z]+(?:\\|[a-z]+)*)" + Pattern.quote(") (?!but\\b)([a-z0-9])"));
    static final String NEGATION_NEXT = "\\b(neg_\\S+) (?!but\\b|neg_)([a-z0-9])";
    static final String NEGATION_REPLACEMENT = "$1 neg_$2";
    static final Pattern STEM = Pattern.compile(
            Pattern.quote("(?<!\\S)((?:neg_)?[^\\s_]{1,") + "([1-9][0-9]?)" + Pattern.quote("})\\S*"));
    static final String STEM_REPLACEMENT = "~$1";
    static final String TEXT_INPUT = "lower(coalesce(review_str, ''))";
    static final String TOKEN_PATTERN = "\\s+";

    // ---- the model ------------------------------------------------------------------------------------------------
    /** A text column: the column it rewrites, its regexp_replace rules in order, whether it is trimmed. */
    static final class TextRules implements Serializable {
        final String source;
        final List<String> patterns = new ArrayList<>();
        final List<String> replacements = new ArrayList<>();
        boolean trim;
        transient volatile Pattern[] compiled;  // compiled on first use on each executor

        TextRules(String source) { this.source = source; }

        String apply(String text) {
            for (int i = 0; i < patterns.size(); i++) text = applyRule(i, text);
            return trim ? trimSpaces(text) : text;
        }

        String applyRule(int i, String text) {
            Pattern[] c = compiled;
            if (c == null) {
                c = new Pattern[patterns.size()];
                for (int k = 0; k < c.length; k++) c[k] = Pattern.compile(patterns.get(k));
                compiled = c;
            }
            return c[i].matcher(text).replaceAll(replacements.get(i));
        }
    }

    private final Map<String, TextRules> textColumns = new HashMap<>();
    private final Map<String, String> tokenizerSource = new HashMap<>();  // token column -> text column
    private String wordTokens, stemTokens;                                  // the two tokenizer outputs
    private final List<String> viewTokens = new ArrayList<>();             // per view: its token column
    private final List<Integer> viewOrder = new ArrayList<>();             // per view: its n
    private String embeddingTokens;                                        // Word2VecModel input, or null

    // the direct path (null when the statements are not the known rules)
    private TextRules normalization;
    private Set<String> negators;
    private long[] negatorHashes;
    private int longestNegator;
    private int negationScope, stemLength;
    private boolean direct;

    private final int classes;
    private final double[] intercept;
    private final double[] lengthCoefficients;  // per class, times the text's length factor (0 without one)
    private String lengthColumn;
    private double lengthReference = 1.0;
    private final LongTable terms;     // vocabulary term -> its `classes` coefficients
    private final LongTable words;     // embedding word -> its `classes` logit contributions (vector x coefficients)

    public String describe() {
        return "LinearTextScorer(" + (direct ? "direct path for ASCII texts, rules otherwise" : "rules only")
                + ", " + terms.size() + " terms, " + (words == null ? 0 : words.size()) + " embedding words, "
                + classes + " classes)";
    }

    public boolean directPathEnabled() { return direct; }

    /** The scorer for a saved model; IllegalArgumentException naming the stage when its shape is not supported. */
    public static LinearTextScorer fromPipeline(PipelineModel model) {
        return new LinearTextScorer(model.stages());
    }

    /**
     * This scorer written to {@code path} (a local file or any file system Spark reads: S3 on AWS), for {@link #load}
     * to read back instead of the saved stages: one file, where loading the PipelineModel is a dozen small Spark jobs
     * (most of a one-day classification's time after Spark's start). Written aside, then renamed into place: a reader
     * never sees half of it, and of two writers of the same scorer one wins; {@code replace} replaces a file already
     * there (one that could not be read).
     */
    public void save(String path, JavaSparkContext sc, boolean replace) throws IOException {
        Path target = new Path(path);
        FileSystem fs = target.getFileSystem(sc.hadoopConfiguration());
        Path partial = new Path(target.getParent(), "." + target.getName() + "." + UUID.randomUUID());
        try (ObjectOutputStream out = new ObjectOutputStream(new BufferedOutputStream(new GZIPOutputStream(fs.create(partial, false))))) {
            out.writeObject(this);
        }
        if (replace) fs.delete(target, false);
        if (!fs.rename(partial, target)) {
            fs.delete(partial, false);
            if (!fs.exists(target)) throw new IOException("could not rename " + partial + " to " + target);
        }
    }

    /** The scorer {@link #save} wrote at {@code path}; null when there is none. */
    public static LinearTextScorer load(String path, JavaSparkContext sc) throws IOException, ClassNotFoundException {
        Path source = new Path(path);
        FileSystem fs = source.getFileSystem(sc.hadoopConfiguration());
        if (!fs.exists(source)) return null;
        try (ObjectInputStream in = new ObjectInputStream(new BufferedInputStream(new GZIPInputStream(fs.open(source))))) {
            return (LinearTextScorer) in.readObject();
        }
    }

    private LinearTextScorer(Transformer[] stages) {
        Map<String, Object[]> ngramColumns = new HashMap<>();  // n-gram column -> {token column, n}
        CountVectorizerModel vectorizer = null;
        Word2VecModel embedding = null;
        VectorAssembler assembler = null;
        LogisticRegressionModel regression = null;
        List<String> concatColumns = null;
        for (Transformer stage : stages) {
            if (stage instanceof SQLTransformer) {
                String statement = ((SQLTransformer) stage).getStatement();
                Matcher length = LENGTH_FACTOR.matcher(statement);
                if (length.matches()) {
                    lengthColumn = length.group(2);
                    lengthReference = Double.parseDouble(length.group(1));
                    continue;
                }
                Matcher m = Pattern.compile("SELECT \\*, (.*) AS (\\w+) FROM __THIS__", Pattern.DOTALL).matcher(statement);
                if (!m.matches()) throw unsupported(stage, "statement is not `SELECT *, <expr> AS <column> FROM __THIS__`");
                Expr expr = new ExprParser(m.group(1)).parseAll();
                if (expr.name.equals("concat") && expr.args.stream().allMatch(a -> a.kind == Expr.COLUMN)) {
                    concatColumns = new ArrayList<>();
                    for (Expr a : expr.args) concatColumns.add(a.text);
                    continue;
                }
                textColumns.put(m.group(2), textRules(stage, expr));
            } else if (stage instanceof RegexTokenizer) {
                RegexTokenizer t = (RegexTokenizer) stage;
                if (!t.getGaps() || !TOKEN_PATTERN.equals(t.getPattern()) || t.getToLowercase() || t.getMinTokenLength() != 1
                        || !textColumns.containsKey(t.getInputCol()))
                    throw unsupported(stage, "only whitespace tokenisers of a rules column are supported");
                tokenizerSource.put(t.getOutputCol(), t.getInputCol());
            } else if (stage instanceof NGram) {
                NGram g = (NGram) stage;
                if (!tokenizerSource.containsKey(g.getInputCol())) throw unsupported(stage, "n-grams of an unknown column");
                ngramColumns.put(g.getOutputCol(), new Object[]{g.getInputCol(), g.getN()});
            } else if (stage instanceof Word2VecModel) {
                embedding = (Word2VecModel) stage;
            } else if (stage instanceof CountVectorizerModel) {
                vectorizer = (CountVectorizerModel) stage;
            } else if (stage instanceof VectorAssembler) {
                assembler = (VectorAssembler) stage;
            } else if (stage instanceof LogisticRegressionModel) {
                regression = (LogisticRegressionModel) stage;
            } else {
                throw unsupported(stage, "stage type not supported");
            }
        }
        if (vectorizer == null || regression == null || assembler == null || concatColumns == null)
            throw new IllegalArgumentException("the pipeline needs an n-gram concat, a CountVectorizerModel, a VectorAssembler "
                    + "and a LogisticRegressionModel");
        if (!vectorizer.getBinary() || vectorizer.getMinTF() != 1.0)
            throw unsupported(vectorizer, "only a binary vocabulary with minTF 1 is supported");
        for (String column : concatColumns) {
            if (tokenizerSource.containsKey(column)) { viewTokens.add(column); viewOrder.add(1); }
            else if (ngramColumns.containsKey(column)) {
                viewTokens.add((String) ngramColumns.get(column)[0]);
                viewOrder.add((Integer) ngramColumns.get(column)[1]);
            } else throw new IllegalArgumentException("concat of an unknown column " + column);
        }

        classes = regression.numClasses();
        Matrix coefficients = regression.coefficientMatrix();
        intercept = regression.interceptVector().toArray();
        String[] vocabulary = vectorizer.vocabulary();
        String[] inputs = assembler.getInputCols();
        int offset = 0, termOffset = -1, embeddingOffset = -1, lengthOffset = -1;
        for (String input : inputs) {
            if (input.equals(vectorizer.getOutputCol())) { termOffset = offset; offset += vocabulary.length; }
            else if (input.equals(lengthColumn)) { lengthOffset = offset; offset += 1; }
            else if (embedding != null && input.equals(embedding.getOutputCol())) {
                embeddingOffset = offset; offset += embedding.getVectorSize();
            } else throw unsupported(assembler, "assembles an unknown column " + input);
        }
        if (termOffset < 0 || offset != coefficients.numCols())
            throw unsupported(regression, "coefficients do not match the assembled features");

        lengthCoefficients = new double[classes];
        if (lengthOffset >= 0) for (int k = 0; k < classes; k++) lengthCoefficients[k] = coefficients.apply(k, lengthOffset);
        terms = new LongTable(vocabulary.length, classes);
        for (int j = 0; j < vocabulary.length; j++) {
            double[] w = new double[classes];
            for (int k = 0; k < classes; k++) w[k] = coefficients.apply(k, termOffset + j);
            terms.put(hash(vocabulary[j]), w, vocabulary[j]);
        }
        if (embedding != null && embeddingOffset >= 0) {
            if (!tokenizerSource.containsKey(embedding.getInputCol()))
                throw unsupported(embedding, "embeds an unknown column");
            embeddingTokens = embedding.getInputCol();
            int d = embedding.getVectorSize();
            double[][] slice = new double[classes][d];
            for (int k = 0; k < classes; k++) for (int i = 0; i < d; i++) slice[k][i] = coefficients.apply(k, embeddingOffset + i);
            Map<String, float[]> vectors = wordVectors(embedding, true);
            words = new LongTable(vectors.size(), classes);
            for (Map.Entry<String, float[]> e : vectors.entrySet()) {
                double[] contribution = new double[classes];
                for (int k = 0; k < classes; k++)
                    for (int i = 0; i < d; i++) contribution[k] += slice[k][i] * (double) e.getValue()[i];
                words.put(hash(e.getKey()), contribution, e.getKey());
            }
        } else {
            words = null;
        }
        direct = detectDirectPath();
    }

    /**
     * The embedding's word -> vector. getVectors() is a DataFrame (a Spark job and a Row per word: seconds for the
     * model's 200,000 words, paid by every run); the model object holds them as a word index and one float array,
     * read here directly when this Spark version has them where Spark 3.5 and 4.x keep them.
     */
    public static Map<String, float[]> wordVectors(Word2VecModel embedding, boolean direct) {
        int d = embedding.getVectorSize();
        Map<String, float[]> out = new HashMap<>();
        if (direct) try {
            org.apache.spark.mllib.feature.Word2VecModel inner = null;
            for (java.lang.reflect.Field field : Word2VecModel.class.getDeclaredFields()) {
                if (field.getType() == org.apache.spark.mllib.feature.Word2VecModel.class) {  // Scala names it org$apache$...$$wordVectors
                    field.setAccessible(true);
                    inner = (org.apache.spark.mllib.feature.Word2VecModel) field.get(embedding);
                }
            }
            if (inner == null) throw new NoSuchFieldException("wordVectors");
            float[] flat = inner.wordVectors();
            scala.collection.Iterator<scala.Tuple2<String, Object>> it = inner.wordIndex().iterator();
            while (it.hasNext()) {
                scala.Tuple2<String, Object> e = it.next();
                int at = (Integer) e._2() * d;
                out.put(e._1(), Arrays.copyOfRange(flat, at, at + d));
            }
            return out;
        } catch (ReflectiveOperationException | RuntimeException | LinkageError e) {
            out.clear();
        }
        for (Row row : embedding.getVectors().collectAsList()) {
            Vector v = (Vector) row.get(1);
            float[] f = new float[d];
            for (int i = 0; i < d; i++) f[i] = (float) v.apply(i);
            out.put(row.getString(0), f);
        }
        return out;
    }

    private static IllegalArgumentException unsupported(Object stage, String why) {
        return new IllegalArgumentException(stage + ": " + why);
    }

    private TextRules textRules(Object stage, Expr expr) {
        TextRules rules;
        boolean trim = false;
        if (expr.kind == Expr.CALL && expr.name.equals("trim") && expr.args.size() == 1) { trim = true; expr = expr.args.get(0); }
        List<String[]> chain = new ArrayList<>();
        while (expr.kind == Expr.CALL && expr.name.equals("regexp_replace") && expr.args.size() == 3) {
            chain.add(0, new String[]{literal(stage, expr.args.get(1)), literal(stage, expr.args.get(2))});
            expr = expr.args.get(0);
        }
        if (expr.kind == Expr.COLUMN && textColumns.containsKey(expr.text)) rules = new TextRules(expr.text);
        else if (expr.toString().equals(TEXT_INPUT)) rules = new TextRules(null);
        else throw unsupported(stage, "rules must start from " + TEXT_INPUT + " or an earlier rules column, not " + expr);
        for (String[] rule : chain) { rules.patterns.add(rule[0]); rules.replacements.add(rule[1]); }
        rules.trim = trim;
        return rules;
    }

    private static String literal(Object stage, Expr e) {
        if (e.kind == Expr.LITERAL) return e.text;
        if (e.kind == Expr.CALL && e.name.equals("chr") && e.args.size() == 1 && e.args.get(0).text.equals("39")) return "'";
        if (e.kind == Expr.CALL && e.name.equals("concat")) {
            StringBuilder b = new StringBuilder();
            for (Expr a : e.args) b.append(literal(stage, a));
            return b.toString();
        }
        throw unsupported(stage, "not a string literal: " + e);
    }

    /** Whether the model's text rules are exactly the ones the direct path implements. */
    private boolean detectDirectPath() {
        TextRules norm = null, neg = null, stem = null;
        for (Map.Entry<String, String> t : tokenizerSource.entrySet()) {
            TextRules r = textColumns.get(t.getValue());
            if (r.source != null && textColumns.containsKey(r.source) && textColumns.get(r.source).source != null) {
                stem = r; stemTokens = t.getKey();
            } else if (r.source != null) {
                neg = r; wordTokens = t.getKey();
            }
        }
        if (neg == null || stem == null || tokenizerSource.size() != 2) return false;
        norm = textColumns.get(neg.source);
        if (norm == null || norm.source != null || !norm.trim || neg.trim || stem.trim) return false;
        if (!stem.source.equals(tokenizerSource.get(wordTokens))) return false;
        if (embeddingTokens != null && !embeddingTokens.equals(wordTokens)) return false;
        List<String> known = new ArrayList<>();
        for (int i = 0; i < KNOWN_NORMALIZATION.length; i += 2) known.add(KNOWN_NORMALIZATION[i]);
        List<String> knownReplacements = new ArrayList<>();
        for (int i = 1; i < KNOWN_NORMALIZATION.length; i += 2) knownReplacements.add(KNOWN_NORMALIZATION[i]);
        if (!norm.patterns.equals(known) || !norm.replacements.equals(knownReplacements)) return false;
        normalization = norm;
        negationScope = neg.patterns.size();
        negators = new HashSet<>();
        for (int i = 0; i < negationScope; i++) {
            if (!neg.replacements.get(i).equals(NEGATION_REPLACEMENT)) return false;
            if (i == 0) {
                Matcher m = NEGATION_FIRST.matcher(neg.patterns.get(0));
                if (!m.matches()) return false;
                negators.addAll(Arrays.asList(m.group(1).split("\\|")));
                negatorHashes = negators.stream().mapToLong(LinearTextScorer::hash).toArray();
                longestNegator = negators.stream().mapToInt(String::length).max().orElse(0);
            } else if (!neg.patterns.get(i).equals(NEGATION_NEXT)) return false;
        }
        if (stem.patterns.size() != 1 || !stem.replacements.get(0).equals(STEM_REPLACEMENT)) return false;
        Matcher m = STEM.matcher(stem.patterns.get(0));
        if (!m.matches()) return false;
        stemLength = Integer.parseInt(m.group(1));
        return true;
    }

    // ---- scoring --------------------------------------------------------------------------------------------------
    @Override
    public Row call(String lowered) {
        double[] p = probability(lowered == null ? "" : lowered);
        int best = 0;
        for (int k = 1; k < p.length; k++) if (p[k] > p[best]) best = k;
        return RowFactory.create(best, p);
    }

    /**
     * The function to register: it carries the scorer as a broadcast variable, so each executor deserialises the
     * tables (megabytes) once, not once per task.
     */
    public UDF1<String, Row> udf(JavaSparkContext sc) {
        return new BroadcastUdf(sc.broadcast(this));
    }

    static final class BroadcastUdf implements UDF1<String, Row> {
        private static final long serialVersionUID = 1L;
        private final Broadcast<LinearTextScorer> scorer;
        private transient LinearTextScorer local;

        BroadcastUdf(Broadcast<LinearTextScorer> scorer) { this.scorer = scorer; }

        @Override
        public Row call(String lowered) {
            if (local == null) local = scorer.value();
            return local.call(lowered);
        }
    }

    /** The probability per class of a text already lower-cased by Spark's lower(). */
    public double[] probability(String lowered) {
        Margin m = new Margin(intercept.clone());
        if (lengthColumn != null) {
            // the model's length_factor: Spark's length() counts characters (code points), not UTF-16 units
            double factor = Math.sqrt(Math.max(1.0, lowered.codePointCount(0, lowered.length()) / lengthReference));
            for (int k = 0; k < classes; k++) m.margin[k] += lengthCoefficients[k] * factor;
        }
        if (direct && plain(lowered)) directMargin(lowered, m);
        else rulesMargin(lowered, m);
        return softmax(m.finish());
    }

    /** The linear model's margins: the intercept, each vocabulary term present once (binary counts), the mean of the
     *  embedding words' contributions over all tokens. */
    final class Margin {
        final double[] margin;
        final int[] stamps;  // per vocabulary slot: the text that last counted it (this thread's scratch)
        final int stamp;
        final double[] embedding = new double[classes];
        int embedded = 0;

        Margin(double[] margin) {
            this.margin = margin;
            Scratch scratch = SCRATCH.get();
            if (scratch.stamps.length != terms.capacity()) scratch.stamps = new int[terms.capacity()];
            if (++scratch.stamp == 0) { Arrays.fill(scratch.stamps, 0); scratch.stamp = 1; }
            stamps = scratch.stamps;
            stamp = scratch.stamp;
        }

        void term(long hash) {
            int slot = terms.find(mix(hash));
            if (slot < 0 || stamps[slot] == stamp) return;
            stamps[slot] = stamp;
            terms.addTo(slot, margin);
        }

        void embeddingToken(long hash) {
            embedded++;
            int slot = words.find(mix(hash));
            if (slot >= 0) words.addTo(slot, embedding);
        }

        double[] finish() {
            if (embedded > 0) for (int k = 0; k < classes; k++) margin[k] += embedding[k] / embedded;
            return margin;
        }
    }

    static final class Scratch {
        int[] stamps = new int[0];
        int stamp;
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private void rulesMargin(String lowered, Margin m) {
        Map<String, String[]> tokens = tokens(lowered, false);
        for (int v = 0; v < viewTokens.size(); v++) {
            String[] t = tokens.get(viewTokens.get(v));
            int n = viewOrder.get(v);
            for (int start = 0; start + n <= t.length; start++) {
                long h = hash(t[start]);
                for (int i = 1; i < n; i++) h = combine(h, t[start + i]);
                m.term(h);
            }
        }
        if (words != null) for (String w : tokens.get(embeddingTokens)) m.embeddingToken(hash(w));
    }

    /** The direct path on hashes: every token's hash (and P^length) from one pass over its characters. */
    private void directMargin(String lowered, Margin m) {
        String s = directNormalization(lowered);
        int[] bounds = directTokenBounds(s);
        int n = bounds.length / 2;
        long[] wordHash = new long[n], wordPow = new long[n], stemHash = new long[n], stemPow = new long[n];
        for (int i = 0; i < n; i++) {
            long h = 0, pw = 1, cutHash = 0, cutPow = 1;
            for (int c = bounds[2 * i], end = bounds[2 * i + 1], k = 0; c < end; c++, k++) {
                h = h * P + s.charAt(c);
                pw *= P;
                if (k < stemLength) { cutHash = h; cutPow = pw; }
            }
            wordHash[i] = h; wordPow[i] = pw; stemHash[i] = cutHash; stemPow[i] = cutPow;
        }
        boolean[] negated = markNegation(s, bounds, wordHash);
        for (int i = 0; i < n; i++) {
            if (negated[i]) {  // "neg_" + word, "~neg_" + cut
                wordHash[i] = NEG_HASH * wordPow[i] + wordHash[i]; wordPow[i] *= NEG_POW;
                stemHash[i] = TILDE_NEG_HASH * stemPow[i] + stemHash[i]; stemPow[i] *= TILDE_NEG_POW;
            } else {            // "~" + cut
                stemHash[i] = TILDE_HASH * stemPow[i] + stemHash[i]; stemPow[i] *= P;
            }
        }
        for (int v = 0; v < viewTokens.size(); v++) {
            boolean word = viewTokens.get(v).equals(wordTokens);
            long[] hs = word ? wordHash : stemHash, pws = word ? wordPow : stemPow;
            int order = viewOrder.get(v);
            for (int start = 0; start + order <= n; start++) {
                long h = hs[start];
                for (int i = 1; i < order; i++) h = (h * P + ' ') * pws[start + i] + hs[start + i];
                m.term(h);
            }
        }
        if (words != null) {  // the embedding reads the word tokens (checked in detectDirectPath)
            for (int i = 0; i < n; i++) m.embeddingToken(wordHash[i]);
        }
    }

    /** Spark's multinomial logistic regression: exp(margin - max margin), normalised. */
    private static double[] softmax(double[] margin) {
        double max = Double.NEGATIVE_INFINITY;
        for (double m : margin) max = Math.max(max, m);
        double[] p = new double[margin.length];
        double sum = 0;
        for (int k = 0; k < margin.length; k++) { p[k] = Math.exp(margin[k] - max); sum += p[k]; }
        for (int k = 0; k < margin.length; k++) p[k] /= sum;
        return p;
    }

    private static final long NEG_HASH = hash("neg_"), NEG_POW = pow(4);
    private static final long TILDE_HASH = hash("~"), TILDE_NEG_HASH = hash("~neg_"), TILDE_NEG_POW = pow(5);

    private static long pow(int n) {
        long p = 1;
        for (int i = 0; i < n; i++) p *= P;
        return p;
    }

    /** Every token column of the text, by the rules or by the direct path. */
    public Map<String, String[]> tokens(String lowered, boolean directPath) {
        Map<String, String[]> out = new HashMap<>();
        if (directPath) {
            String normalized = directNormalization(lowered);
            int[] bounds = directTokenBounds(normalized);
            String[] words = new String[bounds.length / 2];
            long[] hashes = new long[words.length];
            for (int i = 0; i < words.length; i++) {
                words[i] = normalized.substring(bounds[2 * i], bounds[2 * i + 1]);
                hashes[i] = hash(words[i]);
            }
            boolean[] negated = markNegation(normalized, bounds, hashes);
            String[] wordOut = new String[words.length], stemOut = new String[words.length];
            for (int i = 0; i < words.length; i++) {
                String w = words[i];
                String cut = w.length() > stemLength ? w.substring(0, stemLength) : w;
                wordOut[i] = negated[i] ? "neg_" + w : w;
                stemOut[i] = negated[i] ? "~neg_" + cut : "~" + cut;
            }
            out.put(wordTokens, wordOut);
            out.put(stemTokens, stemOut);
            return out;
        }
        Map<String, String> texts = new HashMap<>();
        for (Map.Entry<String, String> t : tokenizerSource.entrySet())
            out.put(t.getKey(), split(text(t.getValue(), lowered, texts)));
        return out;
    }

    public boolean directPath(String lowered) { return direct && plain(lowered); }

    private String text(String column, String lowered, Map<String, String> memo) {
        String done = memo.get(column);
        if (done != null) return done;
        TextRules rules = textColumns.get(column);
        String in = rules.source == null ? lowered : text(rules.source, lowered, memo);
        String out = rules.apply(in);
        memo.put(column, out);
        return out;
    }

    private static final Pattern WHITESPACE = Pattern.compile(TOKEN_PATTERN);

    private static String[] split(String text) {  // RegexTokenizer(pattern \s+, gaps, minTokenLength 1)
        String[] parts = WHITESPACE.split(text);
        int n = 0;
        for (String p : parts) if (!p.isEmpty()) n++;
        if (n == parts.length) return parts;
        String[] out = new String[n];
        n = 0;
        for (String p : parts) if (!p.isEmpty()) out[n++] = p;
        return out;
    }

    // ---- the direct path ------------------------------------------------------------------------------------------
    /**
     * A text the direct path takes: printable ASCII or java.util.regex whitespace, without "_" (a word character for
     * \\b and the neg_ mark's separator). Beyond ASCII, \\b's notion of a letter, the typographic quotes and dashes
     * need the rules path.
     */
    static boolean plain(String s) {
        for (int i = 0, n = s.length(); i < n; i++) {
            char c = s.charAt(i);
            if (c >= 0x7f || (c < 0x20 && !isSpace(c)) || c == '_') return false;
        }
        return true;
    }

    /**
     * The known normalisation's first nine rules (tags, quotes, PTB brackets, "cannot", clitics), each applied with its
     * own pattern only when the text holds what the pattern needs to match (otherwise it leaves the text as it is);
     * the last two (punctuation as tokens, whitespace) are directTokenBounds'.
     */
    private String directNormalization(String s) {
        int present = present(s);
        for (int rule = 0; rule < KNOWN_NORMALIZATION.length / 2 - 2; rule++) {
            if (!mayMatch(rule, s, present)) continue;
            String out = normalization.applyRule(rule, s);
            if (!out.equals(s)) { s = out; present = present(s); }
        }
        return s;
    }

    private static final int LT = 1, BACKTICK = 2, APOSTROPHE = 4, QUOTE = 8, DASH = 16, C = 32;

    /** Which of the characters the first nine rules need the text holds (one pass). */
    private static int present(String s) {
        int p = 0;
        for (int i = 0, n = s.length(); i < n; i++) {
            switch (s.charAt(i)) {
                case '<': p |= LT; break;
                case '`': p |= BACKTICK; break;
                case '\'': p |= APOSTROPHE; break;
                case '"': p |= QUOTE; break;
                case '-': p |= DASH; break;
                case 'c': p |= C; break;
                default:
            }
        }
        return p;
    }

    /** Whether KNOWN_NORMALIZATION's rule can match an ASCII text: a character or word each of its matches holds. */
    static boolean mayMatch(int rule, String s, int present) {
        switch (rule) {
            case 0: return (present & LT) != 0;                                    // <[^>]*>
            case 1: return (present & (BACKTICK | APOSTROPHE | QUOTE)) != 0;       // `` '' "
            case 2: return (present & BACKTICK) != 0;                              // typographic apostrophes (ASCII: `)
            case 3: case 4: return (present & DASH) != 0 && s.contains("b-");      // -lrb- -rrb-
            case 5: return (present & C) != 0 && s.contains("can");                // can not
            default: return (present & APOSTROPHE) != 0;                           // n't, clitics, quote marks
        }
    }

    private static boolean isSpace(char c) {  // java.util.regex \s
        return c == ' ' || c == '\t' || c == '\n' || c == 0x0b || c == '\f' || c == '\r';
    }

    private static boolean isPunctuation(char c) {  // [.,!?;:()\[\]{}*/]
        return c == '.' || c == ',' || c == '!' || c == '?' || c == ';' || c == ':' || c == '(' || c == ')'
                || c == '[' || c == ']' || c == '{' || c == '}' || c == '*' || c == '/';
    }

    /** The tokens of trim(regexp_replace(regexp_replace(s, punctuation, ' $1 '), '\s+', ' ')) for a plain text,
     *  as start and end offsets into it. */
    static int[] directTokenBounds(String s) {
        int[] bounds = new int[16];
        int count = 0, n = s.length(), start = -1;
        for (int i = 0; i < n; ) {
            char c = s.charAt(i);
            int unit = 0;
            if (c == '.' && s.startsWith("...", i)) unit = 3;
            else if (isPunctuation(c)) unit = 1;
            else if (c == '-' && i + 1 < n && s.charAt(i + 1) == '-') unit = 2;
            if (unit > 0 || isSpace(c)) {
                if (bounds.length < count + 4) bounds = Arrays.copyOf(bounds, bounds.length * 2);
                if (start >= 0) { bounds[count++] = start; bounds[count++] = i; start = -1; }
                if (unit > 0) { bounds[count++] = i; bounds[count++] = i + unit; i += unit; } else i++;
            } else {
                if (start < 0) start = i;
                i++;
            }
        }
        if (start >= 0) {
            if (bounds.length < count + 2) bounds = Arrays.copyOf(bounds, count + 2);
            bounds[count++] = start; bounds[count++] = n;
        }
        return Arrays.copyOf(bounds, count);
    }

    private static boolean isWord(char c) {  // \b's word characters within a plain lower-case text
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    }

    /** ([a-z0-9]) and (?!but\b) at the start of token [a, b) of s. */
    private static boolean startsMarkable(String s, int a, int b) {
        if (!isWord(s.charAt(a))) return false;
        return !(s.startsWith("but", a) && b - a >= 3 && (b - a == 3 || !isWord(s.charAt(a + 3))));
    }

    /** Whether s[k, b) is a negator: by hash (one per token, already computed for k == a), confirmed by its text. */
    private boolean isNegator(String s, int k, int b, long hashIfWhole) {
        if (b - k > longestNegator) return false;
        long h = hashIfWhole;
        if (hashIfWhole == 0) for (int c = k; c < b; c++) h = h * P + s.charAt(c);
        for (long candidate : negatorHashes) if (candidate == h) return negators.contains(s.substring(k, b));
        return false;
    }

    /** Which tokens the negation rules prefix with neg_ (tokens of a plain text: no underscore, no space). */
    boolean[] markNegation(String s, int[] bounds, long[] wordHash) {
        int n = bounds.length / 2;
        boolean[] negated = new boolean[n];
        if (negationScope == 0 || n < 2) return negated;
        // first rule: \b(negator) (?!but\b)([a-z0-9]) -- a negator is a token's suffix starting at a word boundary;
        // a match consumes the next token's first character, so that token's own suffixes start after it
        boolean consumed = false;
        for (int i = 0; i + 1 < n; i++) {
            int a = bounds[2 * i], b = bounds[2 * i + 1];
            boolean match = false;
            for (int k = consumed ? a + 1 : a; k < b && !match; k++) {
                boolean boundary = k == a ? isWord(s.charAt(a)) : !isWord(s.charAt(k - 1)) && isWord(s.charAt(k));
                match = boundary && isNegator(s, k, b, k == a ? wordHash[i] : 0);
            }
            consumed = match && startsMarkable(s, bounds[2 * i + 2], bounds[2 * i + 3]);
            if (consumed) negated[i + 1] = true;
        }
        // each further rule: \b(neg_\S+) (?!but\b|neg_)([a-z0-9]) -- one more token after a marked one
        for (int rule = 1; rule < negationScope; rule++) {
            boolean[] before = negated.clone();
            for (int i = 0; i + 1 < n; i++)
                if (before[i] && !before[i + 1] && startsMarkable(s, bounds[2 * i + 2], bounds[2 * i + 3])) negated[i + 1] = true;
        }
        return negated;
    }

    // ---- hashing: a term's 64-bit hash from its characters, an n-gram's from its tokens' ----------------------------
    private static final long P = 0x100000001b3L;

    static long hash(String s) {
        long h = 0;
        for (int i = 0, n = s.length(); i < n; i++) h = h * P + s.charAt(i);
        return h;
    }

    /** hash(a + " " + b) from hash(a) and b. */
    static long combine(long h, String b) {
        h = h * P + ' ';
        for (int i = 0, n = b.length(); i < n; i++) h = h * P + b.charAt(i);
        return h;
    }

    static long mix(long h) {
        h ^= h >>> 33; h *= 0xff51afd7ed558ccdL; h ^= h >>> 33; h *= 0xc4ceb9fe1a85ec53L; h ^= h >>> 33;
        return h == 0 ? 1 : h;
    }

    static String trimSpaces(String s) {  // Spark's trim(): spaces (0x20) only
        int a = 0, b = s.length();
        while (a < b && s.charAt(a) == ' ') a++;
        while (b > a && s.charAt(b - 1) == ' ') b--;
        return s.substring(a, b);
    }

    /** Open addressing table: 64-bit term hash -> a row of `width` doubles. */
    static final class LongTable implements Serializable {
        private static final long serialVersionUID = 1L;
        private final long[] keys;
        private final double[] values;
        private final int width, mask;
        private int size;

        LongTable(int expected, int width) {
            int capacity = Integer.highestOneBit(Math.max(4, expected * 2 + 1)) << 1;
            keys = new long[capacity];
            values = new double[capacity * width];
            this.width = width;
            mask = capacity - 1;
        }

        int size() { return size; }

        int capacity() { return keys.length; }

        void put(long rawHash, double[] row, String term) {
            long key = mix(rawHash);
            int i = (int) key & mask;
            while (keys[i] != 0) {
                if (keys[i] == key)  // two terms with one hash: refuse rather than mix them up
                    throw new IllegalStateException("hash collision in the model's vocabulary at " + term);
                i = (i + 1) & mask;
            }
            keys[i] = key;
            System.arraycopy(row, 0, values, i * width, width);
            size++;
        }

        /** The key's slot, or -1. */
        int find(long key) {
            int i = (int) key & mask;
            while (true) {
                long k = keys[i];
                if (k == key) return i;
                if (k == 0) return -1;
                i = (i + 1) & mask;
            }
        }

        void addTo(int slot, double[] sum) {
            for (int k = 0, at = slot * width; k < width; k++) sum[k] += values[at + k];
        }
    }

    // ---- a small parser for the SQLTransformer expressions ----------------------------------------------------------
    static final class Expr implements Serializable {
        static final int CALL = 0, COLUMN = 1, LITERAL = 2, NUMBER = 3;
        final int kind;
        final String name, text;
        final List<Expr> args;

        Expr(int kind, String name, String text, List<Expr> args) {
            this.kind = kind; this.name = name; this.text = text; this.args = args;
        }

        @Override
        public String toString() {
            switch (kind) {
                case CALL: {
                    StringBuilder b = new StringBuilder(name).append('(');
                    for (int i = 0; i < args.size(); i++) b.append(i > 0 ? ", " : "").append(args.get(i));
                    return b.append(')').toString();
                }
                case LITERAL: return "'" + text + "'";
                default: return text;
            }
        }
    }

    /** identifier(args...) | identifier | r'raw literal' | 'literal' | number; literals hold no quote. */
    static final class ExprParser {
        private final String s;
        private int i;

        ExprParser(String s) { this.s = s; }

        Expr parseAll() {
            Expr e = parse();
            skip();
            if (i != s.length()) throw new IllegalArgumentException("cannot read expression at: " + s.substring(i));
            return e;
        }

        private void skip() { while (i < s.length() && s.charAt(i) == ' ') i++; }

        private Expr parse() {
            skip();
            if (s.startsWith("r'", i) || s.startsWith("'", i)) {
                i = s.indexOf('\'', i) + 1;
                int end = s.indexOf('\'', i);
                if (end < 0) throw new IllegalArgumentException("unterminated literal in: " + s);
                String text = s.substring(i, end);
                i = end + 1;
                return new Expr(Expr.LITERAL, null, text, null);
            }
            int start = i;
            while (i < s.length() && (Character.isLetterOrDigit(s.charAt(i)) || s.charAt(i) == '_')) i++;
            if (start == i) throw new IllegalArgumentException("cannot read expression at: " + s.substring(start));
            String word = s.substring(start, i);
            skip();
            if (i < s.length() && s.charAt(i) == '(') {
                i++;
                List<Expr> args = new ArrayList<>();
                skip();
                if (s.charAt(i) != ')') {
                    while (true) {
                        args.add(parse());
                        skip();
                        char c = s.charAt(i++);
                        if (c == ')') break;
                        if (c != ',') throw new IllegalArgumentException("expected , or ) at: " + s.substring(i - 1));
                    }
                } else i++;
                return new Expr(Expr.CALL, word.toLowerCase(), null, args);
            }
            return new Expr(Character.isDigit(word.charAt(0)) ? Expr.NUMBER : Expr.COLUMN, null, word, null);
        }
    }
}
