"""The long-context stage's figures and sentences, from reports/tables/long_context.csv
(evaluate/long_context.py): loss by position per method, passkey retrieval by length, and
many-shot accuracy by number of demonstrations per band of pretraining loss."""

from __future__ import annotations

import pandas as pd
import seaborn as sns
from scipy import stats

CUT = "cut"
LABEL = {
    CUT: "cut to L",
    "none": "plain RoPE",
    "linear": "linear (PI)",
    "ntk": "NTK",
    "dynamic_ntk": "dynamic NTK",
    "yarn": "YaRN",
}


def _largest_budget(t: pd.DataFrame) -> pd.DataFrame:
    """Each size's model with the largest token budget (first seed: the stage's models)."""
    return t[t["budget"] == t.groupby("size")["budget"].transform("max")]


def _size_order(t: pd.DataFrame) -> list[str]:
    return list(t.sort_values("val_loss", ascending=False)["size"].drop_duplicates())


TUNED = "_tuned"  # an extended model's reading (train/extend.py): "<method>_tuned"


def label(method: str) -> str:
    base = method.removesuffix(TUNED)
    return LABEL.get(base, base) + (" + fine-tune" if method.endswith(TUNED) else "")


def _order(methods) -> list[str]:
    methods = set(methods)
    return [m for m in LABEL if m in methods] + sorted(m for m in methods if m not in LABEL)


def _vline(g, t: pd.DataFrame) -> None:
    for ax in g.axes.flat:
        ax.axvline(float(t["context"].iloc[0]), color="black", ls="--", lw=0.8)


def loss_by_position(t: pd.DataFrame):
    d = _largest_budget(t[t["probe"] == "position"]).sort_values("x")
    # A running mean over L/16 positions: single positions of a few windows are noisy.
    span = max(1, int(d["context"].iloc[0]) // 16)
    d = d.assign(value=d.groupby(["model", "method"])["value"].transform(lambda v: v.rolling(span, 1, True).mean()))
    hue_order = [label(m) for m in _order(d["method"])]
    d["method"] = d["method"].map(label)
    per_size = {"col": "size", "col_order": _size_order(d), "col_wrap": 3, "height": 2.6, "aspect": 1.2}
    g = sns.relplot(
        data=d, x="x", y="value", hue="method", hue_order=hue_order, kind="line", errorbar=None, lw=1, **per_size
    )
    _vline(g, d)
    g.set_axis_labels("position in the window (tokens)", "loss (nats/token)")
    g.set_titles("{col_name}")
    return g.figure


def passkey(t: pd.DataFrame):
    d = _largest_budget(t[(t["probe"] == "passkey") & (t["metric"] == "exact_match")]).copy()
    d["method"] = d["method"].map(label)
    hue = {"hue": "method", "hue_order": [label(m) for m in _order(t["method"])]}
    per_size = {"col": "size", "col_order": _size_order(d), "col_wrap": 3, "height": 2.6, "aspect": 1.2}
    g = sns.relplot(data=d, x="x", y="value", **hue, kind="line", marker="o", errorbar=None, **per_size)
    _vline(g, d)
    g.set(xscale="log", ylim=(-0.05, 1.05))
    g.set_axis_labels("prompt length (tokens)", "passkey retrieved")
    g.set_titles("{col_name}")
    return g.figure


def loss_band(t: pd.DataFrame, n: int = 3) -> pd.Series:
    """Bands of the probed models' final loss, as many models each, labelled by their range."""
    models = t.drop_duplicates("model").set_index("model")["val_loss"]
    n = max(1, min(n, len(models)))
    band = pd.qcut(models.rank(method="first"), n, labels=False)
    labels = {b: f"loss {models[band == b].min():.2f}-{models[band == b].max():.2f}" for b in range(n)}
    return t["model"].map(band.map(labels))


def many_shot(t: pd.DataFrame):
    d = t[t["probe"] == "many_shot"].copy()
    d["band"] = loss_band(d)
    d["method"] = d["method"].map(label)
    order = sorted(d["band"].unique(), reverse=True)
    hue = {"hue": "method", "hue_order": [label(m) for m in _order(t["method"])]}
    per_band = {"col": "band", "col_order": order, "height": 2.8, "aspect": 1.1}
    g = sns.relplot(data=d, x="x", y="value", **hue, kind="line", marker="o", errorbar=("ci", 95), **per_band)
    if d["chance"].notna().any():
        for ax in g.axes.flat:
            ax.axhline(float(d["chance"].dropna().iloc[0]), color="grey", ls=":", lw=1)
    g.set(xticks=sorted(d["x"].unique()))
    g.set_axis_labels("demonstrations k", "accuracy")
    g.set_titles("{col_name}")
    return g.figure


def _fmt(v: float) -> str:
    return f"{v:.3f}"


def position_sentences(t: pd.DataFrame) -> list[str]:
    d = t[t["probe"] == "position"]
    if not len(d):
        return []
    L = int(d["context"].iloc[0])
    factor = d["x"].max() / L
    d = d.assign(beyond=d["x"] >= L)
    mean = d.groupby(["method", "beyond"])["value"].mean().unstack()
    n_models = d["model"].nunique()
    out = []
    if "none" in mean.index:
        out.append(
            f"Read at {factor:g} x its trained context of {L} tokens, plain RoPE's loss is "
            f"{_fmt(mean.loc['none', False])} nats before position {L} and {_fmt(mean.loc['none', True])} past it "
            f"(mean over {n_models} models)."
        )
    scaled = mean.drop(index=["none"], errors="ignore")
    if len(scaled):
        best = scaled[True].idxmin()
        wins = d[d["beyond"]].groupby(["model", "method"])["value"].mean().unstack().idxmin(axis=1).value_counts()
        out.append(
            f"Past position {L} the lowest loss is {label(best)}'s ({_fmt(scaled.loc[best, True])} nats; before "
            f"{L}: {_fmt(scaled.loc[best, False])}); it is the best method for {int(wins.get(best, 0))} of "
            f"{n_models} models"
            + "".join(f"; {label(m)}: {_fmt(scaled.loc[m, True])}" for m in _order(scaled.index) if m != best)
            + "."
        )
    return out


def passkey_sentences(t: pd.DataFrame) -> list[str]:
    d = t[(t["probe"] == "passkey") & (t["metric"] == "exact_match")]
    if not len(d):
        return []
    L = int(d["context"].iloc[0])
    top = d.loc[d["value"].idxmax()]
    within = d[d["x"] <= L]["value"].max()
    if top["value"] < 0.25:
        return [
            f"Passkey retrieval: no model retrieves the key from any prompt (at most {top['value']:.0%} of prompts, "
            f"{within:.0%} within {L} tokens, where the methods hardly change what the model reads), so the passkey "
            "test cannot rank the methods here."
        ]
    beyond = d[d["x"] > L].groupby("method")["value"].mean()
    best = beyond.idxmax() if len(beyond) else top["method"]
    return [
        f"Passkey retrieval: up to {within:.0%} of prompts within {L} tokens; past {L}, {label(best)} retrieves "
        f"the most ({beyond.get(best, float('nan')):.0%} on average over lengths and models; "
        + "; ".join(f"{label(m)} {v:.0%}" for m, v in beyond.items() if m != best)
        + ")."
    ]


def many_shot_gains(t: pd.DataFrame) -> pd.DataFrame:
    """Per model and method: accuracy with the most demonstrations read in full minus the
    same prompts cut to the trained context (`gain`), with the model's final loss."""
    d = t[t["probe"] == "many_shot"]
    top = d[d["x"] == d["x"].max()].pivot_table(index=["model", "val_loss"], columns="method", values="value")
    if CUT not in top:
        return pd.DataFrame(columns=["model", "val_loss", "method", "gain"])
    gains = top.drop(columns=[CUT]).sub(top[CUT], axis=0)
    return gains.reset_index().melt(id_vars=["model", "val_loss"], var_name="method", value_name="gain")


def many_shot_sentences(t: pd.DataFrame) -> list[str]:
    gains = many_shot_gains(t)
    if not len(gains):
        return []
    k = int(t[t["probe"] == "many_shot"]["x"].max())
    mean = gains.groupby("method")["gain"].mean()
    if mean.abs().max() < 0.01:
        return [
            f"Many-shot in-context learning: with {k} demonstrations, reading the whole prompt instead of cutting "
            f"it to the trained context changes accuracy by less than 0.01 under every method (mean over "
            f"{gains['model'].nunique()} models): these models gain nothing from demonstrations past their context."
        ]
    best = mean.idxmax()
    g = gains[gains["method"] == best]
    text = (
        f"Many-shot in-context learning: with {k} demonstrations, reading the whole prompt with {label(best)} "
        f"instead of cutting it to the trained context changes accuracy by {mean[best]:+.3f} on average over "
        f"{len(g)} models (" + "; ".join(f"{label(m)} {v:+.3f}" for m, v in mean.items() if m != best) + ")."
    )
    if len(g) >= 4 and g["gain"].nunique() > 1:
        rho, p = stats.spearmanr(g["val_loss"], g["gain"])
        if p < 0.05:
            text += f" That gain depends on pretraining loss (Spearman ρ = {rho:+.2f}, p = {p:.3f}): " + (
                "it is larger for models of lower loss." if rho < 0 else "it is larger for models of higher loss."
            )
        else:
            text += (
                f" No dependence of that gain on pretraining loss is detected (Spearman ρ = {rho:+.2f}, p = {p:.2f})."
            )
    return [text]


def sentences(t: pd.DataFrame) -> list[str]:
    """The report's words on the long-context stage, generated from its table."""
    if not len(t):
        return []
    return position_sentences(t) + passkey_sentences(t) + many_shot_sentences(t)


def placeholder_text() -> str:
    return "The long-context stage is off (long_context.enabled in the config)."
