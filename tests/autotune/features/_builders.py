"""Workloads shared by the feature tests and the subprocesses they start (importable as a module)."""

from __future__ import annotations

import math

from kernels import (
    AsianOption,
    Binomial,
    EuropeanOption,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Weibull,
)


def european() -> EuropeanOption:
    return EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.03, sigma=0.2, q=0.01, kind="put")


def asian() -> AsianOption:
    return AsianOption(S0=100.0, K=100.0, T=0.5, r=0.02, sigma=0.3, n_steps=64)


def portfolio() -> Portfolio:
    return Portfolio(
        groups=[
            PolicyGroup(1000, Poisson(0.1), Gamma(2.0, 500.0)),
            PolicyGroup(200, NegativeBinomial(2.5, 0.4), Lognormal(7.0, 1.1),
                        PolicyTerms(deductible=100.0, limit=5e4, aggregate_limit=2e5)),
            PolicyGroup(50, Binomial(4, 0.2), Pareto(2.5, 3000.0), PolicyTerms(limit=1e5)),
            PolicyGroup(10, Poisson(1.5), Exponential(800.0), PolicyTerms(aggregate_deductible=50.0)),
            PolicyGroup(30, Poisson(0.3), Weibull(0.8, 1200.0), PolicyTerms(limit=math.inf)),
        ],
        levels=(0.99, 0.95),
    )


def all_workloads() -> dict[str, object]:
    return {"european": european(), "asian": asian(), "portfolio": portfolio()}
