"""Reports: ``results/<family>.{md,json}``, ``results/<case>.png`` (throughput and gradient
accuracy, for the cases with an mpmath reference), and, from every family JSON present and
``results/mixture.json`` / ``results/head.json`` when present, ``results/summary.md``,
``results/throughput.png`` (M samples/s against N) and the "Latest figures" table of
``benchmarks/README.md`` (between its ``latest-figures`` markers)."""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import numpy as np

from benchmarks.families import CASES, FAMILIES, FAMILY_TITLES
from benchmarks.peers import LIBRARIES, SAMPLERS

RESULTS = Path(__file__).parent / "results"
PEERS = ("tfp_jax", "numpyro", "distrax", "jax.random", "torch")


def _worst(errors: list) -> float | None:
    """The largest error, ``None`` where no draw could be checked (all NaN)."""
    errors = np.asarray(errors, dtype=float)
    return None if np.isnan(errors).all() else float(np.nanmax(errors))


def _fmt(v, spec: str) -> str:
    return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def rate(n: int, entry: dict | None) -> float | None:
    """M samples/s of a library that returns a gradient; None otherwise."""
    if not entry or not entry.get("grad") or entry.get("seconds") is None:
        return None
    return n / entry["seconds"] / 1e6


def _rate_cell(n: int, entry: dict | None) -> str:
    if entry is None:
        return "—"
    if not entry["grad"]:
        return f"none (draw only: {n / entry['seconds'] / 1e6:.2f})"
    return f"{rate(n, entry):.2f}"


def _ratio(n: int, speed: dict, lib: str, peer: str) -> float | None:
    a, b = rate(n, speed.get(lib)), rate(n, speed.get(peer))
    return a / b if a and b else None


def case_table(case, res: dict, n: int) -> list[str]:
    speed, acc = res["speed"], res.get("accuracy", {})
    head = [
        "library",
        "M samples/s",
        "× TFP",
        "× torch",
        "compile (s)",
        f"non-finite dz/d{case.grad_name}",
    ]
    if case.reference:
        head += ["max rel. err f32", "max rel. err f64", case.unusable]
    if case.mean_check:
        head += ["mean-gradient check max \\|z\\| f32, f64"]
    if case.bounds:
        head += [f"draws finite, in [{case.bounds[0]:g}, {case.bounds[1]:g}]", "gradient finite"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    notes: dict[str, list[str]] = {}  # note -> libraries it applies to
    for lib in LIBRARIES:
        s = speed.get(lib)
        if s is None and lib not in res["missing"]:
            continue
        row = [lib, _rate_cell(n, s)]
        row += [_fmt(_ratio(n, speed, lib, peer), ".2f") for peer in ("tfp_jax", "torch")]
        checks = (s or {}).get("checks", {})
        row += [_fmt((s or {}).get("compile_s"), ".2f")]
        if s is not None and not s["grad"]:
            row += ["none"]
            notes.setdefault(s["note"], []).append(lib)
        else:
            row += [_fmt(checks.get("nonfinite_grad"), ".1%")]
        if case.reference:
            a = acc.get(lib, {})
            errs = [_worst(a[d]["max_rel_err"]) if d in a else None for d in ("f32", "f64")]
            worst = max(a["f32"]["excluded"]) if "f32" in a else None
            path = getattr(SAMPLERS[case.family].get(lib), "path", "")
            mark = "†" if path else ""
            row += [_fmt(e, ".1e") + (mark if e is not None else "") for e in errs]
            row += [_fmt(worst, ".0%")]
            if mark and s is not None:
                notes.setdefault("† " + path, []).append(lib)
        if case.mean_check:
            a = acc.get(lib, {})
            zs = [np.nanmax(a[d]["mean_z"]) if d in a else None for d in ("f32", "f64")]
            row += [", ".join(_fmt(z, ".1f") for z in zs)]
        if case.bounds:
            row += [_fmt(checks.get("in_bounds"), ".1%"), _fmt(checks.get("grad_finite"), ".1%")]
        if s is None:
            row = [lib] + ["—"] * (len(head) - 1)
            notes.setdefault(res["missing"][lib], []).append(lib)
        lines.append("| " + " | ".join(row) + " |")
    return lines + [""] + [f"- {', '.join(libs)}: {note}." for note, libs in notes.items()]


def run_info(command: str) -> dict:
    """What every report records about its run: the command, the machine and the date."""
    import jax

    return {
        "command": command,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {jax.devices()[0].platform}",
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def save_report(name: str, res: dict, report) -> None:
    """Write ``results/<name>.json`` and ``results/<name>.md`` (``report(res)``); print the
    latter."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=1))
    text = report(json.loads(json.dumps(res)))  # as read back from the JSON
    (RESULTS / f"{name}.md").write_text(text)
    print(text)


def write_family(family: str, res: dict) -> None:
    """``res``: {"n", "command", "machine", "date", "cases": {key: {...}}, optional "import"}."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{family}.json").write_text(json.dumps(res, indent=1))
    n = res["n"]
    cases = [c for c in FAMILIES[family] if c.key in res["cases"]]
    lines = [f"# {FAMILY_TITLES[family]} sample + gradient ({res['machine']})", ""]
    lines += [
        f"`{res['command']}`, {res['date']}. Each library's own reparameterized draw plus the "
        f"gradient of the draws in the named parameter, float32, jitted (torch: eager, "
        f"{res['threads']} threads); median of interleaved calls after "
        "untimed warm-up rounds, compile time best of "
        f"{res['compiles']} fresh trace(s). M samples/s counts scalars drawn. `—`: the library "
        "lacks the family; `none`: "
        "it draws but gives no gradient. Non-finite dz/dθ: share of the N gradients that are "
        "NaN or ±inf.",
        "",
    ]
    for case in cases:
        cres = res["cases"][case.key]
        lines += [f"## {case.title}", "", f"N = {n:,}: {case.draws}.", ""]
        lines += case_table(case, cres, n)
        grid = ", ".join(case.grid_labels)
        if case.reference:
            lines += [
                "",
                f"Accuracy: max relative error of each library's own dz/d{case.grad_name} against "
                f"the CDF (implicit) gradient `-(∂F/∂{case.grad_name})/q`, by mpmath at 40 digits "
                f"at that very draw; {cres.get('accuracy_draws')} draws at each of "
                f"{len(case.grid[0])} parameter sets ({grid}); draws outside the support's "
                "interior are excluded and counted.",
            ]
        if case.mean_check:
            lines += [
                "",
                f"Mean-gradient check (valid whatever path a library differentiates along): at "
                f"each of the parameter sets ({grid}), {cres.get('mean_draws')} draws; the "
                f"distance of the mean of h'(z)·dz/d{case.grad_name} from the exact "
                f"d/d{case.grad_name} E[h(z)], in standard errors, with {case.mean_check[2]}; an "
                "unbiased gradient keeps the largest of the 8 below about 4.",
            ]
        if case.reference or case.mean_check:
            lines += [
                "",
                "Accuracy runs in float32 and float64 (quick: float32 only), each in a fresh "
                "process.",
            ]
        if case.reference:
            lines += ["", f"![throughput and accuracy]({case.key}.png)"]
        lines.append("")
    imp = res.get("import")
    if imp and "error" in imp:
        lines += [f"Import: `import ml_networks_jax` failed in that run ({imp['error']}).", ""]
    elif imp:
        lines += [
            f"Import: `import jax` {imp['jax']:.2f} s, then `import ml_networks_jax` "
            f"{imp['mnj']:.2f} s more (best of {imp['repeats']}, each in a fresh interpreter).",
            "",
        ]
    (RESULTS / f"{family}.md").write_text("\n".join(lines))
    for case in cases:
        if case.reference:
            _plot_case(case, res["cases"][case.key], n, res["machine"])


def _plot_case(case, res: dict, n: int, machine: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    libs = [lib for lib in LIBRARIES if rate(n, res["speed"].get(lib))]
    rates = [rate(n, res["speed"][lib]) for lib in libs]
    axes[0].barh(libs, rates, color=["C3" if lib == "ml_networks_jax" else "C0" for lib in libs])
    axes[0].set_xscale("log")
    axes[0].set_xlabel("M samples/s (sample + gradient)")
    numeric = case.key == "gamma"
    x = case.grid[0] if numeric else np.arange(len(case.grid_labels))
    for ax, dtype in zip(axes[1:], ("f32", "f64"), strict=True):
        for lib in libs:
            acc = res.get("accuracy", {}).get(lib, {}).get(dtype)
            if acc:
                other_path = getattr(SAMPLERS[case.family].get(lib), "path", "")
                style, label = ("o--", f"{lib} † (not the CDF path)") if other_path else ("o-", lib)
                ax.plot(x, acc["max_rel_err"], style, ms=3, label=label)
        ax.set_yscale("log")
        if numeric:
            ax.set_xscale("log")
            ax.set_xlabel(case.grad_name)
        else:
            ax.set_xticks(x, case.grid_labels, rotation=30, fontsize=7)
        ax.set_ylabel(f"max relative error of dz/d{case.grad_name}")
        ax.set_title(dtype)
        ax.grid(True, which="major", alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.suptitle(f"{case.title}, N = {n:,}, {machine}")
    fig.tight_layout()
    fig.savefig(RESULTS / f"{case.key}.png", dpi=110)
    plt.close(fig)


def _load_all() -> dict:
    out = {}
    for family in FAMILIES:
        path = RESULTS / f"{family}.json"
        if path.exists():
            res = json.loads(path.read_text())
            if "cases" in res:  # a report from before the family table has none
                out[family] = res
    return out


def _load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _run_of(res: dict) -> tuple[str, str, str]:
    """(command, date, machine) of the run a report comes from."""
    return res["command"], res["date"], res["machine"]


def _run_cell(run: tuple[str, str, str]) -> str:
    return f"`{run[0]}` {run[1][:10]}"


def _extra_rows(mixture: dict | None, head: dict | None) -> list[tuple]:
    """(label, link, ours ms, peer, peer ms, peer time / ours, run) for the mixture and the head
    step; the ratio is > 1 where ml_networks_jax is faster."""
    rows = []
    if mixture:
        run = _run_of(mixture)
        for d, r in mixture["results"].items():
            ours, tfp = r["ml_networks_jax"]["ms"], r["tfp_jax"]["ms"]
            k, n = mixture["K"], mixture["N"]
            label = f"Mixture of {k} diagonal Gaussians, event size {d}, N = {n:,}"
            rows.append((label, "mixture.md", ours, "tfp_jax", tfp, tfp / ours, run))
    if head:
        run = _run_of(head)
        for key, r in head["results"].items():
            ours, peer = r["speed"]["ml_networks_jax"]["ms"], r["speed"]["distrax"]["ms"]
            label = f"Head + KL step, {key}"
            rows.append((label, "head.md", ours, "distrax", peer, r["ratio"], run))
    return rows


def write_summary() -> None:
    """``summary.md`` and ``throughput.png`` from every family report present, plus the mixture
    and head-step reports when present; and the "Latest figures" block of the README."""
    all_res = _load_all()
    mixture, head = _load("mixture"), _load("head")
    lines = [
        "# Summary: ml_networks_jax against its peers",
        "",
        "One row per benchmarked case, each from its report (linked), where the method is "
        "described; ratios are taken within one run, > 1 where ml_networks_jax is faster. Runs "
        "(command, date, machine) are listed at the end.",
        "",
        "## Reparameterized draw + gradient, M samples/s",
        "",
        "`—`: the library lacks the family (or ml_networks_jax the class, in that run); `none`: "
        "it draws but gives no gradient.",
        "",
        "| case | ml_networks_jax | × TFP | × torch | "
        + " | ".join(p.replace("_jax", "") for p in PEERS)
        + " | N | run |",
        "|---|" + "---|" * (len(PEERS) + 5),
    ]
    runs: dict[tuple[str, str, str], list[str]] = {}  # run -> what it measured
    for case in CASES:
        res = all_res.get(case.family)
        if not res or case.key not in res["cases"]:
            continue
        n, speed = res["n"], res["cases"][case.key]["speed"]
        row = [f"[{case.title}]({case.family}.md)", _rate_cell(n, speed.get("ml_networks_jax"))]
        row += [_fmt(_ratio(n, speed, "ml_networks_jax", p), ".2f") for p in ("tfp_jax", "torch")]
        row += [_rate_cell(n, speed.get(p)) for p in PEERS]
        run = _run_of(res)
        row += [f"{n:,}", _run_cell(run)]
        lines.append("| " + " | ".join(row) + " |")
        names = runs.setdefault(run, [])
        if FAMILY_TITLES[case.family] not in names:
            names.append(FAMILY_TITLES[case.family])
    extra = _extra_rows(mixture, head)
    for title, link, peer, what in (
        (
            "Mixture draw + gradient, ms per call",
            "mixture.md",
            "TFP",
            f"N = {(mixture or {}).get('N')} draws, gradient of their sum in the logits, locs "
            "and scales; TFP: `MixtureSameFamily(reparameterize=True)`, the only peer with a "
            "pathwise mixture gradient",
        ),
        (
            "Head + balanced-KL step, ms per step",
            "head.md",
            "distrax",
            "`jax.value_and_grad` of the world-model head and balanced KL; the same step "
            "written with distrax",
        ),
    ):
        rows = [r for r in extra if r[1] == link]
        if not rows:
            continue
        lines += [
            "",
            f"## {title}",
            "",
            f"{what} ([report]({link})). × {peer}: {peer}'s time over ours.",
            "",
            f"| case | ml_networks_jax (ms) | {peer} (ms) | × {peer} | run |",
            "|---|---|---|---|---|",
        ]
        for label, _, ours, _, other, ratio, run in rows:
            lines.append(f"| {label} | {ours:.2f} | {other:.2f} | {ratio:.2f} | {_run_cell(run)} |")
            runs.setdefault(run, [])
        runs[rows[0][-1]].append("mixtures" if link == "mixture.md" else "head step")
    lines += ["", "## Runs", ""]
    lines += [f"- `{c}`, {d}, {m}: {', '.join(what)}." for (c, d, m), what in runs.items()]
    lines += ["", "![throughput against batch size](throughput.png)", ""]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "summary.md").write_text("\n".join(lines))
    _plot_throughput(all_res)
    _write_readme_block(all_res, extra, runs)


README = Path(__file__).parent / "README.md"
BLOCK = ("<!-- latest-figures:start -->", "<!-- latest-figures:end -->")


def _write_readme_block(all_res: dict, extra: list[tuple], runs: dict) -> None:
    """Rewrite the README's headline-ratio table (between the ``BLOCK`` markers) from the same
    results as ``summary.md``; the README is left alone where it has no markers."""
    if not README.exists():
        return
    text = README.read_text()
    if BLOCK[0] not in text or BLOCK[1] not in text:
        return
    ref = {run: i + 1 for i, run in enumerate(runs)}
    names = {"tfp_jax": "TFP"}
    head = ["case", *(f"× {names.get(p, p)}" for p in PEERS), "run"]
    lines = [
        "ml_networks_jax's speed over each peer's, sample + gradient (mixtures, head step: the "
        "peer's time per call over ours), both measured in the same run on the same inputs; "
        "> 1: ml_networks_jax is faster; `—`: the peer lacks the case or gives no gradient.",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---|" * (len(head) - 1),
    ]
    for case in CASES:
        res = all_res.get(case.family)
        if not res or case.key not in res["cases"]:
            continue
        n, speed = res["n"], res["cases"][case.key]["speed"]
        row = [f"{case.title}, N = {n:,}"]
        row += [_fmt(_ratio(n, speed, "ml_networks_jax", p), ".2f") for p in PEERS]
        lines.append("| " + " | ".join(row + [f"[{ref[_run_of(res)]}]"]) + " |")
    for label, _, _, peer, _, ratio, run in extra:
        row = [label] + [f"{ratio:.2f}" if p == peer else "—" for p in PEERS] + [f"[{ref[run]}]"]
        lines.append("| " + " | ".join(row) + " |")
    lines += [""] + [
        f"- [{ref[run]}] `{run[0]}`, {run[1]}, {run[2]}: {', '.join(what)}."
        for run, what in runs.items()
    ]
    before, rest = text.split(BLOCK[0], 1)
    after = rest.split(BLOCK[1], 1)[1]
    README.write_text(before + BLOCK[0] + "\n" + "\n".join(lines) + "\n" + BLOCK[1] + after)


def _plot_throughput(all_res: dict) -> None:
    cases = [
        c
        for c in CASES
        if c.family in all_res
        and c.key in all_res[c.family]["cases"]
        and any(
            len(s.get("sweep", {})) > 1 for s in all_res[c.family]["cases"][c.key]["speed"].values()
        )
    ]
    if not cases:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(4, len(cases))
    rows = -(-len(cases) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), squeeze=False)
    for ax, case in zip(axes.flat, cases, strict=False):
        speed = all_res[case.family]["cases"][case.key]["speed"]
        for i, lib in enumerate(LIBRARIES):
            s = speed.get(lib)
            if not s or len(s.get("sweep", {})) < 2:
                continue
            ns = sorted(int(k) for k in s["sweep"])
            r = [m / s["sweep"][str(m)] / 1e6 for m in ns]
            style = "-" if s["grad"] else ":"
            label = lib if s["grad"] else f"{lib} (draw only)"
            ax.loglog(
                ns,
                r,
                "o" + style,
                ms=3,
                color=f"C{i}",
                label=label,
                lw=2.5 if lib == "ml_networks_jax" else 1.2,
            )
        ax.set_title(case.title, fontsize=9)
        ax.set_xlabel("N (scalars per call)")
        ax.set_ylabel("M samples/s")
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.flat[len(cases) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(RESULTS / "throughput.png", dpi=100)
    plt.close(fig)
