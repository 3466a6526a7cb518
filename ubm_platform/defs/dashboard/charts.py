"""The dashboard's charts, plotly figures made from the marts' rows, and the page that holds them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import jinja2
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    from ubm_platform.defs.dashboard.assets import CheckState

SENTIMENTS = ("negative", "neutral", "positive")
SENTIMENT_COLORS = {"negative": "#c0392b", "neutral": "#7f8c8d", "positive": "#27ae60"}
STATUS_CODES = {"failed": 0, "warning": 1, "passed": 2}
STATUS_COLORS = [[0, "#c0392b"], [1 / 3, "#c0392b"], [1 / 3, "#f39c12"], [2 / 3, "#f39c12"], [2 / 3, "#27ae60"],
                 [1, "#27ae60"]]
PAGE_TEMPLATE = Path(__file__).with_name("page.html.j2")


@dataclass(frozen=True)
class Chart:
    name: str  # its element's id is chart-<name>
    title: str
    caption: str
    figure: go.Figure

    def html(self) -> str:
        return self.figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"chart-{self.name}",
                                   config={"displaylogo": False, "responsive": True})


@dataclass(frozen=True)
class Answer:
    question: str
    finding: str  # the numbers, as the page shows them
    reading: str


@dataclass(frozen=True)
class Page:
    html: str
    charts: list[Chart]


def number(value, form: str = ".2f") -> str:
    return "–" if value is None else format(value, form)


def _layout(figure: go.Figure, **extra) -> go.Figure:
    figure.update_layout(**{"template": "plotly_white", "margin": {"l": 60, "r": 20, "t": 30, "b": 50},
                            "legend": {"orientation": "h", "y": -0.2}, **extra})
    return figure


def spend_and_reviews(daily: list[dict]) -> Chart:
    days = sorted(daily, key=lambda row: row["day"])
    figure = make_subplots(specs=[[{"secondary_y": True}]])
    figure.add_bar(x=[r["day"] for r in days], y=[r["spend"] for r in days], name="spend", marker_color="#2e86c1")
    for sentiment in SENTIMENTS:
        figure.add_scatter(x=[r["day"] for r in days], y=[r[f"{sentiment}_reviews"] for r in days],
                           name=f"{sentiment} reviews", mode="lines+markers",
                           line_color=SENTIMENT_COLORS[sentiment], secondary_y=True)
    figure.update_yaxes(title_text="spend", secondary_y=False)
    figure.update_yaxes(title_text="reviews", secondary_y=True, rangemode="tozero")
    return Chart("spend-and-reviews", "Spend and reviews by day",
                 "fact_payment's amounts and fact_review's classified reviews per UTC day (mart dashboard_daily).",
                 _layout(figure))


DISTRIBUTIONS = {"amount_spent": "amount spent (whole units)", "purchase_count": "purchases",
                 "review_count": "reviews"}


def metric_distribution(rows: list[dict]) -> Chart:
    figure = make_subplots(rows=1, cols=len(DISTRIBUTIONS), subplot_titles=list(DISTRIBUTIONS.values()))
    for column, (measure, label) in enumerate(DISTRIBUTIONS.items(), start=1):
        bins = sorted((r for r in rows if r["measure"] == measure), key=lambda r: r["value"])
        figure.add_bar(x=[r["value"] for r in bins], y=[r["metric_rows"] for r in bins], name=label,
                       marker_color="#2e86c1", showlegend=False, row=1, col=column)
    figure.update_yaxes(title_text="customer-partitions", row=1, col=1)
    return Chart("metric-distribution", "The metric's distribution",
                 "How many rows of user_behavior_metric (one customer in one partition) spent each amount, "
                 "made each number of purchases and wrote each number of reviews (mart metric_distribution).",
                 _layout(figure))


def genre_transitions(rows: list[dict]) -> Chart:
    genres = sorted({r["from_category"] for r in rows} | {r["to_category"] for r in rows})
    weight = {(r["from_category"], r["to_category"]): r["weight"] for r in rows}
    figure = go.Figure(go.Heatmap(
        x=genres, y=genres, z=[[weight.get((a, b), 0.0) for b in genres] for a in genres], colorscale="Blues",
        hovertemplate="from %{y} to %{x}: %{z:.2f} pairs<extra></extra>", colorbar={"title": {"text": "pairs"}},
    ))
    figure.update_xaxes(title_text="next rental's genre")
    figure.update_yaxes(title_text="rental's genre", autorange="reversed")
    return Chart("genre-transition", "Genre of the next rental",
                 "Consecutive rentals of a customer, from a genre to the next one; a pair of multi-genre films "
                 "spreads a weight of 1 over its genre pairs (mart genre_transition).",
                 _layout(figure, height=560))


def similarity_by_activity(rows: list[dict]) -> Chart:
    quartiles = sorted(rows, key=lambda r: r["activity_quartile"])
    figure = go.Figure(go.Bar(
        x=[f"Q{r['activity_quartile']}: {r['min_rentals']}-{r['max_rentals']} rentals" for r in quartiles],
        y=[r["mean_similarity"] for r in quartiles], customdata=[[r["customers"], r["pairs"]] for r in quartiles],
        hovertemplate="%{x}<br>mean similarity %{y:.3f}<br>%{customdata[0]} customers, %{customdata[1]} pairs"
                      "<extra></extra>", marker_color="#8e44ad",
    ))
    figure.update_yaxes(title_text="mean similarity of consecutive rentals", rangemode="tozero")
    figure.update_xaxes(title_text="activity quartile (1 = least active)")
    return Chart("similarity-by-activity", "Similarity of consecutive rentals by activity",
                 "Similarity = 0.5 x [the films share a genre] + 0.5 x the Jaccard index of their actors, averaged "
                 "over each quartile's pairs (mart similarity_by_activity).", _layout(figure))


def review_effect(rows: list[dict], comparison: dict) -> Chart:
    by_sentiment = {r["sentiment"]: r for r in rows}
    figure = make_subplots(rows=1, cols=2, column_widths=[0.65, 0.35],
                           subplot_titles=["same-genre share of the next 7 days' rentals", "positive minus negative"])
    figure.add_bar(x=list(SENTIMENTS), y=[by_sentiment.get(s, {}).get("same_genre_share") for s in SENTIMENTS],
                   marker_color=[SENTIMENT_COLORS[s] for s in SENTIMENTS], showlegend=False,
                   customdata=[[by_sentiment.get(s, {}).get("reviews"), by_sentiment.get(s, {}).get("follow_rentals")]
                               for s in SENTIMENTS],
                   hovertemplate="%{x}: %{y:.3f}<br>%{customdata[0]} reviews, %{customdata[1]} rentals after them"
                                 "<extra></extra>", row=1, col=1)
    difference, low, high = (comparison.get(k) for k in ("share_difference", "ci_low", "ci_high"))
    interval = difference is not None and low is not None and high is not None
    figure.add_scatter(x=["difference"], y=[difference], mode="markers", marker={"size": 12, "color": "#2c3e50"},
                       error_y={"type": "data", "symmetric": False, "array": [high - difference] if interval else [0],
                                "arrayminus": [difference - low] if interval else [0]},
                       showlegend=False, hovertemplate="%{y:+.3f}<extra></extra>", row=1, col=2)
    figure.add_hline(y=0, line_dash="dot", line_color="#7f8c8d", row=1, col=2)
    return Chart("review-effect", "Rentals after reviews",
                 "For each sentiment, the share of the reviewing customer's rentals 1 to 7 days later that share a "
                 "genre with the reviewed film; right: positive minus negative with its 95% interval (marts "
                 "review_rental_effect, review_rental_effect_comparison).", _layout(figure))


def check_states(states: list[CheckState]) -> Chart:
    latest = {(s.check, s.partitions): s for s in states}  # a later run's evaluation replaces an earlier one
    partitions = list(dict.fromkeys(s.partitions for s in states))
    checks = sorted({s.check for s in states})
    figure = go.Figure(go.Heatmap(
        x=partitions, y=checks, zmin=0, zmax=2, colorscale=STATUS_COLORS, showscale=False, xgap=2, ygap=2,
        z=[[STATUS_CODES[latest[c, p].status] if (c, p) in latest else None for p in partitions] for c in checks],
        text=[[latest[c, p].status if (c, p) in latest else "" for p in partitions] for c in checks],
        hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
    ))
    figure.update_xaxes(type="category", title_text="partitions of the run")
    figure.update_yaxes(type="category", autorange="reversed")
    return Chart("checks", "Checks of the latest runs",
                 "Every asset check evaluated in the latest runs, by the partitions it looked at: green passed, "
                 "amber a warning, red a failure (blocking).",
                 _layout(figure, height=max(300, 24 * len(checks) + 160), margin={"l": 380, "r": 20, "t": 30, "b": 80}))


def _one_row(marts: dict[str, list[dict]], name: str) -> dict:
    """A one-row mart's row ({} before it has been built from any data)."""
    return (marts[name] or [{}])[0]


def answers(marts: dict[str, list[dict]]) -> list[Answer]:
    """The three questions' headline numbers (docs/analytics.md says how to read them)."""
    affinity = _one_row(marts, "genre_affinity")
    summary = _one_row(marts, "similarity_by_activity_summary")
    comparison = _one_row(marts, "review_rental_effect_comparison")

    return [
        Answer("Is a customer's next rental in the same genre?",
               f"lift {number(affinity.get('lift'))} (95% {number(affinity.get('lift_ci_low'))} to "
               f"{number(affinity.get('lift_ci_high'))}), p {number(affinity.get('p_value'), '.3f')}, "
               f"over {affinity.get('consecutive_pairs') or 0} consecutive pairs",
               "observed share of same-genre pairs over the share expected if each customer's rentals came in "
               "random order: 1 means no affinity"),
        Answer("Are consecutive rentals more alike for less active customers?",
               f"Spearman rho {number(summary.get('spearman_rho'), '+.3f')}, "
               f"p {number(summary.get('p_value'), '.3f')}, over {summary.get('customers') or 0} customers",
               "correlation between a customer's rentals and the mean similarity of their consecutive rentals: "
               "negative means less active customers rent more alike films"),
        Answer("Do rentals follow positive reviews?",
               f"same-genre share {number(comparison.get('share_difference'), '+.3f')} after positive vs negative "
               f"reviews (95% {number(comparison.get('ci_low'), '+.3f')} to "
               f"{number(comparison.get('ci_high'), '+.3f')}), p {number(comparison.get('p_value'), '.3f')}",
               "difference in the share of the next 7 days' rentals in the reviewed film's genre: an interval "
               "spanning 0 means no effect shown"),
    ]


def dashboard_page(marts: dict[str, list[dict]], checks: list[CheckState], built_at: dt.datetime) -> Page:
    charts = [
        spend_and_reviews(marts["dashboard_daily"]),
        metric_distribution(marts["metric_distribution"]),
        genre_transitions(marts["genre_transition"]),
        similarity_by_activity(marts["similarity_by_activity"]),
        review_effect(marts["review_rental_effect"], _one_row(marts, "review_rental_effect_comparison")),
        check_states(checks),
    ]
    days = sorted(row["day"] for row in marts["dashboard_daily"])
    template = jinja2.Template(PAGE_TEMPLATE.read_text(), autoescape=True)
    html = template.render(charts=charts, answers=answers(marts), plotly_js=get_plotlyjs(),
                           built_at=built_at.strftime("%Y-%m-%d %H:%M UTC"),
                           days=f"{days[0]} to {days[-1]}" if days else "no data yet")
    return Page(html=html, charts=charts)
