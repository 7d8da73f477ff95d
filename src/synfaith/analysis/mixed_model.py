"""A linear mixed model of F_syn per explainer that says when it cannot be trusted.

:func:`mixed_model` fits ``fsyn ~ explainer`` (Random as reference) with a random intercept per
instance by REML, tries an optimiser chain, checks the fit, and returns a
:class:`MixedModelResult` that carries ``trustworthy`` and the reason. When the fit is not
trustworthy it also carries a stated fallback (instance-clustered robust OLS) and its table.
Why: statsmodels' L-BFGS alone can stop at log-likelihood +inf with a zero variance and still
report ``converged``, or raise ``LinAlgError`` on small tables (issue 16).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from synfaith.analysis.mixed_model_checks import INSTANCE_FACTOR, VarianceTest, clustered_ols, coefficient_table, dummies, variance_f_tests
from synfaith.analysis.rows import NotComputable, require_values

# (label, statsmodels ``method``): statsmodels' own default chain first, then derivative-free optimisers
OPTIMISERS = (("bfgs → lbfgs → cg (statsmodels default)", None), ("powell", ["powell"]), ("nelder-mead", ["nm"]))
REML_SOURCE = "mixed model (REML)"
UNTRUSTWORTHY = "not trustworthy: "  # prefix of the note a result carries when it is not trustworthy
BOUNDARY_SHARE = 0.01  # a variance that no F-test can test counts as on the boundary below this share of the total
ZERO_SHARE = 1e-6  # a REML variance below this share of the total sits at zero
CONDITION_LIMIT = 1e10  # −Hessian eigenvalues spread wider than this: its inverse (the standard errors) is not usable
# statsmodels warns "MLE may be on the boundary" for any variance below 0.01 in absolute units: on F_syn's scale
# that is nearly every fit. The F-tests of the variances replace it.
_DROPPED_WARNINGS = ("The MLE may be on the boundary",)


@dataclass(frozen=True, eq=False)
class MixedModelResult:
    """A fitted mixed model, whether it can be trusted and why, and the fallback shown when it cannot.

    ``table``: the REML explainer coefficients against ``reference`` (explainer, coefficient, se,
    z, p_value, ci_low, ci_high; Wald intervals at ``confidence``), from the kept fit even when it
    is not trustworthy (empty when every optimiser failed). ``variance_components``: one line per
    random factor and the residual (REML variance, share of the total, the F-test of zero, whether
    it is on the boundary). ``fallback`` / ``fallback_table``: empty / ``None`` when trustworthy.
    """

    table: pd.DataFrame
    variance_components: pd.DataFrame
    log_likelihood: float
    converged: bool
    optimiser: str
    trustworthy: bool
    reason: str
    fallback: str
    fallback_table: pd.DataFrame | None
    reference: str
    formula: str
    method: str
    attempts: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rows: int = 0
    groups: int = 0
    seconds: float = 0.0
    confidence: float = 0.95

    @property
    def source(self) -> str:
        """The name of what :attr:`reported_table` comes from: the mixed model, or the fallback."""
        return REML_SOURCE if self.trustworthy else self.fallback

    @property
    def reported_table(self) -> pd.DataFrame:
        """The coefficients to report: the mixed model's when trustworthy, else the fallback's; a ``source`` column says which."""
        table = self.table if self.trustworthy or self.fallback_table is None else self.fallback_table
        return table.assign(source=self.source)


@dataclass(frozen=True, eq=False)
class _Design:
    data: pd.DataFrame
    formula: str  # fixed part of the mixed model
    ols_formula: str  # the fallback's: every model / dataset term fixed
    prefix: str  # how the explainer terms are named
    fixed: np.ndarray  # fixed-effect design for the F-tests
    random: dict[str, np.ndarray]  # integer codes per random factor
    method: str
    notes: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class _Attempt:
    label: str
    fit: object | None
    model: object
    optimiser: str
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


def mixed_model(
    rows: pd.DataFrame, metric: str = "fsyn", reference: str = "random", min_random_levels: int = 5,
    confidence: float = 0.95, alpha: float = 0.05,
) -> MixedModelResult:
    """Linear mixed model of ``metric`` per explainer, with diagnostics that decide whether it is trustworthy.

    Model: ``metric_{e,m,d,i} = β₀ + β_e + γ_m + δ_d + u_{d,i} + ε``, with β_e the explainer
    effect (Random = 0, the reference), u_{d,i} ~ N(0, σ²_instance) a random intercept per
    (dataset, instance) shared by every model and explainer that scored it, ε ~ N(0, σ²).
    Model and dataset (γ_m, δ_d) are fixed effects when they have 2 to ``min_random_levels`` − 1
    levels (a variance from three levels is not estimable), dropped with one level, and crossed
    random intercepts (variance components, one group) with ``min_random_levels`` or more.
    Fitted by REML (statsmodels ``MixedLM``); Wald intervals β̂ ± z_{(1+confidence)/2}·se.

    Optimisers, in order until one passes every check: statsmodels' default chain (BFGS, then
    L-BFGS, then CG), Powell, Nelder–Mead. Checks of a fit: it converged; the log-likelihood is
    finite; every variance is finite and ≥ 0; the Hessian is usable (not singular, −H positive
    definite with eigenvalue spread < 1e10, finite positive standard errors); and REML does not put
    a variance at zero that its F-test rejects. Checks of the data, whatever the optimiser: every
    random factor has ≥ ``min_random_levels`` levels, and every variance is away from the
    boundary — its exact F-test of zero (:func:`~synfaith.analysis.mixed_model_checks.variance_f_tests`)
    rejects at ``alpha`` (or, where the factor is nested and untestable, REML gives it ≥ 1% of the
    variance). A planted zero variance is so flagged. If any check fails the result is not
    trustworthy, ``reason`` says why, and the fallback is instance-clustered robust OLS with the
    same fixed effects (CR1 errors, t with G − 1 df; :func:`~synfaith.analysis.mixed_model_checks.clustered_ols`).

    Raises :class:`NotComputable` (one line) for rows that allow no such model: fewer than 2
    explainers or instances, a reference without values, non-finite or constant values, bad arguments.
    """
    start = time.perf_counter()
    if not 0 < confidence < 1 or not 0 < alpha < 1:
        raise NotComputable(f"confidence ({confidence}) and alpha ({alpha}) must lie strictly between 0 and 1")
    if int(min_random_levels) < 2:
        raise NotComputable(f"min_random_levels must be at least 2 (a variance needs two levels); got {min_random_levels}")
    design = _prepare(rows, metric, reference, int(min_random_levels))
    y = design.data[metric].to_numpy(float)
    tests = {t.factor: t for t in variance_f_tests(y, design.fixed, design.random)}
    flags = _data_flags(design, tests, int(min_random_levels), alpha)
    attempts = _fit_chain(_statsmodels_model(design), tests, alpha, data_flagged=bool(flags))
    kept = min((a for a in attempts if a.fit is not None), key=lambda a: len(a.problems), default=None)
    variances = _variances(kept.fit, kept.model) if kept is not None else {}
    total = sum(variances.values()) + (kept.fit.scale if kept is not None else 0.0)
    for name, test in tests.items():
        if not np.isfinite(test.p_value) and name in variances and total > 0 and variances[name] / total < BOUNDARY_SHARE:
            flags.append(f"the {name} variance is on the boundary ({variances[name] / total:.1%} of the variance; "
                         f"no F-test: {name} is nested in the instances)")
    if kept is None:
        flags.append("every optimiser failed (" + "; ".join(f"{a.label}: {', '.join(a.problems)}" for a in attempts) + ")")
    elif kept.problems:
        flags.append(f"best fit ({kept.optimiser}): " + ", ".join(kept.problems))
    trustworthy = not flags
    reason = "; ".join(flags)
    table = _coefficients(kept.fit, design.prefix, confidence) if kept is not None else coefficient_table([], "z")
    fallback, fallback_table = "", None
    if not trustworthy:
        clusters = design.random[INSTANCE_FACTOR]
        fallback_table = clustered_ols(design.data, design.ols_formula, clusters, design.prefix, confidence)
        fallback = f"instance-clustered robust OLS (CR1 standard errors, t with {len(np.unique(clusters)) - 1} df)"
    notes = list(design.notes) + (sorted(set(kept.warnings)) if kept is not None else [])
    if not trustworthy:
        notes.append(f"{UNTRUSTWORTHY}{reason}; shown instead: {fallback}")
    return MixedModelResult(
        table=table,
        variance_components=_variance_table(tests, variances, kept.fit.scale if kept is not None else np.nan, alpha),
        log_likelihood=float(kept.fit.llf) if kept is not None else np.nan,
        converged=bool(kept is not None and kept.fit.converged),
        optimiser=kept.optimiser if kept is not None else "",
        trustworthy=trustworthy,
        reason=reason,
        fallback=fallback,
        fallback_table=fallback_table,
        reference=reference,
        formula=design.formula,
        method=design.method,
        attempts=tuple(f"{a.label}: {'ok' if not a.problems else ', '.join(a.problems)}" for a in attempts),
        notes=tuple(notes),
        rows=len(design.data),
        groups=1 if len(design.random) > 1 else len(np.unique(design.random[INSTANCE_FACTOR])),
        seconds=time.perf_counter() - start,
        confidence=confidence,
    )


fit_mixed_model = mixed_model  # the name the leaderboard module exported first


def mixed_models_per_dataset(rows: pd.DataFrame, metric: str = "fsyn", reference: str = "random") -> pd.DataFrame:
    """:func:`mixed_model` on each dataset alone (its dataset term drops out): the reported coefficients, one table.

    Columns: those of :attr:`MixedModelResult.reported_table` (the fallback's where a dataset's fit
    is not trustworthy, named in ``source``), plus ``dataset``, ``trustworthy``, ``reason``, ``notes``.
    """
    tables = []
    for dataset, part in rows.groupby("dataset"):
        try:
            result = mixed_model(part, metric, reference)
        except NotComputable as reason:  # e.g. a dataset of one instance: say so in its line
            tables.append(pd.DataFrame([{"explainer": None, "dataset": dataset, "notes": f"not fitted: {reason}"}]))
            continue
        tables.append(result.reported_table.assign(dataset=dataset, trustworthy=result.trustworthy, reason=result.reason,
                                                   notes="; ".join(result.notes)))
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()


def _prepare(rows: pd.DataFrame, metric: str, reference: str, min_random_levels: int) -> _Design:
    """The rows, formulas and design of the model; :class:`NotComputable` when the rows allow none."""
    missing = [c for c in ("status", "explainer", "model", "dataset", "instance_id") if c not in rows]
    if missing:
        raise NotComputable(f"the rows lack column(s) {', '.join(missing)}: pass result rows (RunStore.read_rows())")
    data = require_values(rows, metric)[["explainer", "model", "dataset", "instance_id", metric]].copy()
    values = pd.to_numeric(data[metric], errors="coerce").to_numpy(float)
    if not np.isfinite(values).all():
        raise NotComputable(f"{int((~np.isfinite(values)).sum())} {metric} value(s) are not finite numbers; drop or fix those rows")
    data[metric] = values
    explainers = sorted(data["explainer"].unique())
    if len(explainers) < 2:  # what the run lacks first, then what its values lack
        raise NotComputable(f"an explainer effect needs at least 2 explainers; this run has {len(explainers)} ({', '.join(explainers)})")
    data["instance"] = data["dataset"].astype(str) + "/" + data["instance_id"].astype(str)
    instances = data["instance"].nunique()
    if instances < 2:
        raise NotComputable(f"a random intercept per instance needs at least 2 instances; this run has {instances}")
    if np.ptp(values) == 0:
        raise NotComputable(f"every {metric} value is {values[0]:g}: with no variation there is no explainer effect to estimate")
    if reference not in explainers:
        raise NotComputable(f"reference explainer {reference!r} has no {metric} values; explainers: {', '.join(explainers)}")
    explainer_codes = pd.Categorical(data["explainer"], categories=[reference, *[e for e in explainers if e != reference]]).codes
    fixed_columns = [np.ones((len(data), 1)), dummies(explainer_codes.astype(int))]
    notes, fixed, fallback = [], [f"C(explainer, Treatment(reference={reference!r}))"], []
    random = {INSTANCE_FACTOR: pd.factorize(data["instance"])[0]}
    for term in ("model", "dataset"):
        levels, codes = data[term].nunique(), pd.factorize(data[term])[0]
        if levels < 2:
            notes.append(f"{term}: one level ({data[term].iloc[0]}), term dropped")
            continue
        fallback.append(f"C({term})")
        if levels < min_random_levels:
            fixed.append(f"C({term})")
            fixed_columns.append(dummies(codes))
            notes.append(f"{term}: {levels} levels — too few to estimate a variance, fitted as a fixed effect "
                         f"instead of a random intercept (needs ≥ {min_random_levels})")
        else:
            random[term] = codes
    formula = f"{metric} ~ " + " + ".join(fixed)
    if len(random) > 1:
        crossed = [name for name in random if name != INSTANCE_FACTOR] + [INSTANCE_FACTOR]
        method = "REML; crossed random intercepts for " + ", ".join(crossed) + " (variance components, one group)"
    else:
        method = "REML; random intercept per instance (dataset/instance groups)"
    return _Design(data, formula, f"{metric} ~ " + " + ".join(fixed[:1] + fallback), fixed[0] + "[T.",
                   np.column_stack(fixed_columns), random, method, tuple(notes))


def _data_flags(design: _Design, tests: dict[str, VarianceTest], min_random_levels: int, alpha: float) -> list[str]:
    """Why the data themselves do not support the random effects, whatever the optimiser: too few levels, a zero variance."""
    flags = [f"only {len(np.unique(codes))} {'instances' if name == INSTANCE_FACTOR else name + ' levels'}: too few to "
             f"estimate the {name} variance (needs ≥ {min_random_levels})"
             for name, codes in design.random.items() if len(np.unique(codes)) < min_random_levels]
    return flags + [_not_zero(t, alpha) for t in tests.values() if np.isfinite(t.p_value) and t.p_value > alpha]


def _fit_chain(model, tests: dict[str, VarianceTest], alpha: float, data_flagged: bool) -> list[_Attempt]:
    """Fit with each optimiser of :data:`OPTIMISERS` in turn until one gives a fit without problems."""
    attempts: list[_Attempt] = []
    for label, method in OPTIMISERS:
        attempts.append(_attempt(model, label, method, tests, alpha))
        last = attempts[-1]
        if not last.problems:
            break
        if data_flagged and last.fit is not None and last.fit.converged and np.isfinite(last.fit.llf):
            break  # the data put a variance on the boundary (its Hessian there is degenerate): no optimiser changes that
    return attempts


def _statsmodels_model(design: _Design):
    """The statsmodels ``MixedLM``: grouped by instance, or (crossed) one group with a variance component per factor."""
    import statsmodels.formula.api as smf

    if len(design.random) > 1:
        # crossed random intercepts: one group holding every row, each factor a variance component
        components = {name: f"0 + C({name})" for name in design.random}
        return smf.mixedlm(design.formula, design.data, groups=np.ones(len(design.data)), vc_formula=components)
    return smf.mixedlm(design.formula, design.data, groups=design.data["instance"])


def _attempt(model, label: str, method: list[str] | None, tests: dict[str, VarianceTest], alpha: float) -> _Attempt:
    """One REML fit with one optimiser (chain), and what is wrong with it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = model.fit(reml=True, method=method)
        except Exception as error:  # noqa: BLE001 - e.g. LinAlgError inside an optimiser: the next one may work
            return _Attempt(label, None, model, label, (f"raised {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}",), ())
        fit_messages = len(caught)
        problems = tuple(_fit_problems(fit, model, tests, alpha))  # numpy's warnings on a degenerate fit: the problems say it
    messages = [str(w.message) for w in caught[:fit_messages]]
    optimiser = label if method is not None else next(
        (m.rsplit(" ", 1)[-1] for m in reversed(messages) if m.startswith("Retrying MixedLM optimization with")), "bfgs")
    kept_warnings = tuple(f"statsmodels: {m}" for m in messages if not m.startswith(_DROPPED_WARNINGS))
    return _Attempt(label, fit, model, optimiser, problems, kept_warnings)


def _fit_problems(fit, model, tests: dict[str, VarianceTest], alpha: float) -> list[str]:
    """What makes one fit unusable: no convergence, infinite likelihood, bad variances, an unusable Hessian."""
    problems = []
    if not fit.converged:
        problems.append("did not converge")
    if not np.isfinite(fit.llf):
        problems.append(f"log-likelihood is {fit.llf}")
    variances = _variances(fit, model)
    if not all(np.isfinite(v) and v >= 0 for v in variances.values()) or not (np.isfinite(fit.scale) and fit.scale > 0):
        problems.append("a variance is negative or not finite")
        return problems
    try:
        hessian, singular = model.hessian(fit.params_object)
        eigenvalues = np.linalg.eigvalsh(-(hessian + hessian.T) / 2) if np.isfinite(hessian).all() else None
    except Exception as error:  # noqa: BLE001 - a Hessian that cannot be formed is itself the finding
        hessian, singular, eigenvalues = None, True, None
        problems.append(f"the Hessian raised {type(error).__name__}")
    if hessian is not None and (singular or eigenvalues is None or eigenvalues.min() <= eigenvalues.max() / CONDITION_LIMIT):
        spread = "" if eigenvalues is None else f"; smallest/largest eigenvalue of −H {eigenvalues.min() / eigenvalues.max():.1e}"
        problems.append(f"the Hessian is not usable ({'singular' if singular else 'not negative definite'}{spread})")
    se = np.asarray(fit.bse_fe, float)
    if not (np.isfinite(se).all() and (se > 0).all()):
        problems.append("a fixed-effect standard error is not finite and positive")
    total = sum(variances.values()) + fit.scale
    for name, variance in variances.items():
        test = tests.get(name)
        if test is not None and test.p_value < alpha and variance / total < ZERO_SHARE:
            problems.append(f"REML put the {name} variance at 0 although its F-test rejects zero (p = {test.p_value:.2g})")
    return problems


def _not_zero(test: VarianceTest, alpha: float) -> str:
    return (f"the {test.factor} variance cannot be told from zero (F({test.df_factor}, {test.df_residual}) = "
            f"{test.f_statistic:.2f}, p = {test.p_value:.2g} > {alpha:g}): its random intercept sits on the boundary")


def _variances(fit, model) -> dict[str, float]:
    """REML variance of each random factor."""
    if model.k_vc:
        return {name: float(v) for name, v in zip(model.exog_vc.names, fit.vcomp)}
    return {INSTANCE_FACTOR: float(np.asarray(fit.cov_re)[0, 0])}


def _coefficients(fit, prefix: str, confidence: float) -> pd.DataFrame:
    """The explainer terms of a fit as a coefficient table (Wald intervals at ``confidence``)."""
    z = stats.norm.ppf(0.5 + confidence / 2)
    lines = []
    for term in fit.fe_params.index:
        if term.startswith(prefix):
            estimate, se = float(fit.fe_params[term]), float(fit.bse_fe[term])
            statistic = estimate / se if se > 0 else np.nan
            lines.append({"explainer": term[len(prefix) : -1], "coefficient": estimate, "se": se, "z": statistic,
                          "p_value": 2 * stats.norm.sf(abs(statistic)), "ci_low": estimate - z * se, "ci_high": estimate + z * se})
    return coefficient_table(lines, "z")


def _variance_table(tests: dict[str, VarianceTest], variances: dict[str, float], residual: float, alpha: float) -> pd.DataFrame:
    """One line per random factor and the residual: REML variance, share, the F-test of zero, on the boundary."""
    total = sum(variances.values()) + residual
    lines = []
    for name, test in tests.items():
        variance = variances.get(name, np.nan)
        share = variance / total if total > 0 else np.nan
        boundary = test.p_value > alpha if np.isfinite(test.p_value) else bool(np.isfinite(share) and share < BOUNDARY_SHARE)
        lines.append({"component": name, "levels": test.levels, "variance": variance, "share": share,
                      "f_statistic": test.f_statistic, "df": f"{test.df_factor}, {test.df_residual}", "p_zero": test.p_value,
                      "on_boundary": boundary})
    lines.append({"component": "residual", "levels": np.nan, "variance": residual, "share": residual / total if total > 0 else np.nan,
                  "f_statistic": np.nan, "df": "", "p_zero": np.nan, "on_boundary": False})
    return pd.DataFrame(lines).astype({"levels": "Int64"})
