"""Bad input raises ValueError naming the field, at the public boundary."""

from __future__ import annotations

import math

import pytest

from kernels import (
    AsianOption,
    Binomial,
    Config,
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
    simulate,
)

NAN = math.nan
OPTION = EuropeanOption(100.0, 100.0, 1.0, 0.01, 0.2)
PORTFOLIO = Portfolio([PolicyGroup(10, Poisson(0.5), Gamma(2.0, 100.0))])


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Poisson(-1.0), "Poisson.lam"),
        (lambda: Poisson(NAN), "Poisson.lam"),
        (lambda: NegativeBinomial(2.0, 1.5), "NegativeBinomial.p"),
        (lambda: NegativeBinomial(2.0, 0.0), "NegativeBinomial.p"),
        (lambda: NegativeBinomial(-2.0, 0.5), "NegativeBinomial.n"),
        (lambda: Binomial(10, 1.0), "Binomial.p"),
        (lambda: Binomial(10, -0.1), "Binomial.p"),
        (lambda: Binomial(0, 0.5), "Binomial.n"),
        (lambda: Binomial(2.5, 0.5), "Binomial.n"),
        (lambda: Gamma(0.0, 1.0), "Gamma.shape"),
        (lambda: Gamma(1.0, NAN), "Gamma.scale"),
        (lambda: Lognormal(NAN, 1.0), "Lognormal.mu"),
        (lambda: Lognormal(1.0, -1.0), "Lognormal.sigma"),
        (lambda: Pareto(2.0, -5.0), "Pareto.scale"),
        (lambda: Exponential(math.inf), "Exponential.scale"),
        (lambda: Weibull(-1.0, 1.0), "Weibull.shape"),
        (lambda: PolicyTerms(deductible=-1.0), "PolicyTerms.deductible"),
        (lambda: PolicyTerms(deductible=500.0, limit=100.0), "PolicyTerms.limit"),
        (lambda: PolicyTerms(deductible=100.0, limit=100.0), "PolicyTerms.limit"),
        (lambda: PolicyTerms(aggregate_deductible=10.0, aggregate_limit=5.0), "PolicyTerms.aggregate_limit"),
        (lambda: PolicyTerms(limit=NAN), "PolicyTerms.limit"),
        (lambda: PolicyGroup(-3, Poisson(1.0), Gamma(1.0, 1.0)), "PolicyGroup.n_policies"),
        (lambda: PolicyGroup(0, Poisson(1.0), Gamma(1.0, 1.0)), "PolicyGroup.n_policies"),
        (lambda: PolicyGroup(1, Gamma(1.0, 1.0), Gamma(1.0, 1.0)), "PolicyGroup.frequency"),
        (lambda: PolicyGroup(1, Poisson(1.0), Poisson(1.0)), "PolicyGroup.severity"),
        (lambda: Portfolio([]), "Portfolio.groups"),
        (lambda: Portfolio([PolicyGroup(1, Poisson(1.0), Gamma(1.0, 1.0))], levels=[1.0]), "Portfolio.levels"),
        (lambda: EuropeanOption(-100.0, 100.0, 1.0, 0.01, 0.2), "EuropeanOption.S0"),
        (lambda: EuropeanOption(100.0, NAN, 1.0, 0.01, 0.2), "EuropeanOption.K"),
        (lambda: EuropeanOption(100.0, 100.0, 0.0, 0.01, 0.2), "EuropeanOption.T"),
        (lambda: EuropeanOption(100.0, 100.0, 1.0, 0.01, -0.2), "EuropeanOption.sigma"),
        (lambda: EuropeanOption(100.0, 100.0, 1.0, 0.01, 0.2, kind="straddle"), "EuropeanOption.kind"),
        (lambda: AsianOption(100.0, 100.0, 1.0, 0.01, 0.2, n_steps=0), "AsianOption.n_steps"),
        (lambda: AsianOption(100.0, 100.0, 1.0, 0.01, 0.2, antithetic=True), "has moved to Config.antithetic"),
        (lambda: AsianOption(100.0, 100.0, 1.0, 0.01, 0.2, antithetic=False), "has moved to Config.antithetic"),
        (lambda: AsianOption(100.0, 100.0, 1.0, 0.01, 0.2, control_variate=True),
         "has moved to Config.control_variate"),
        (lambda: Config(backend="cuda"), "Config.backend"),
        (lambda: Config(workers=0), "Config.workers"),
        (lambda: Config(workers=-2, executor="threads"), "Config.workers"),
        (lambda: Config(executor="mpi"), "Config.executor"),
        (lambda: Config(precision="float16"), "Config.precision"),
        (lambda: Config(chunk_size=-5), "Config.chunk_size"),
        (lambda: Config(chunk_size=0), "Config.chunk_size"),
        (lambda: Config(workers=4), "Config.workers"),
        (lambda: Config(shared_memory=True), "Config.shared_memory"),
        (lambda: Config(shared_memory=True, executor="threads", workers=2), "Config.shared_memory"),
        (lambda: Config(qmc="yes"), "Config.qmc"),
        (lambda: Config(qmc_scrambles=1), "Config.qmc_scrambles"),
        (lambda: Config(antithetic=1), "Config.antithetic"),
        (lambda: Config(control_variate="yes"), "Config.control_variate"),
        (lambda: simulate(OPTION, -10), "n_sims"),
        (lambda: simulate(OPTION, 1), "n_sims"),
        (lambda: simulate(OPTION, 10.5), "n_sims"),
        (lambda: simulate(OPTION, 3, Config(executor="threads", workers=4)), "Config.workers"),
        (lambda: simulate(OPTION, 20, Config(qmc=True)), "Config.qmc"),
        (lambda: simulate(OPTION, 100, seed=-1), "seed"),
        (lambda: simulate(OPTION, 100, seed="abc"), "seed"),
        (lambda: simulate("portfolio", 100), "workload"),
        (lambda: simulate(PORTFOLIO, 100, Config(antithetic=True)), "Config.antithetic"),
        (lambda: simulate(PORTFOLIO, 100, Config(control_variate=True)), "Config.control_variate"),
        (lambda: simulate(OPTION, 100, config={"backend": "numpy"}), "config"),
    ],
)
def test_bad_input_names_the_field(build, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace(".", r"\.")):
        build()


def test_config_round_trips_through_a_dict() -> None:
    cfg = Config(backend="numba", workers=2, executor="processes", precision="float32", chunk_size=4096,
                 qmc=True, shared_memory=True, antithetic=True, control_variate=True)
    assert Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown Config field"):
        Config.from_dict({"backend": "numpy", "threads": 3})


def test_config_normalises_case() -> None:
    assert Config(backend="NumPy", executor="Threads", workers=2).backend == "numpy"
