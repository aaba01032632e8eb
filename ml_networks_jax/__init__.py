"""ml_networks_jax: distributions whose samples you can differentiate, for JAX.

Every family is an immutable pytree with pure methods; the module-level functions below are the
same code with the distribution as an argument. ``rsample_implicit`` differentiates any sample
through its CDF (Figurnov et al., 2018): ``dz/dθ = -(∂F(z; θ)/∂θ) / q(z; θ)``.

Example:
    >>> import jax, ml_networks_jax as mnj
    >>> def loss(alpha):
    ...     z = mnj.rsample_implicit(jax.random.key(0), mnj.Gamma(alpha, 1.0), (1000,))
    ...     return (z**2).mean()
    >>> g = jax.jit(jax.grad(loss))(2.0)
"""

from ml_networks_jax.bsq import bits_to_codes, codes_to_bits, codes_to_indices, indices_to_codes
from ml_networks_jax.distributions.base import (
    Distribution,
    batch_shape,
    cdf,
    entropy,
    event_shape,
    icdf,
    log_prob,
    mean,
    mode,
    prob,
    rsample,
    rsample_implicit,
    sample,
    sample_and_log_prob,
    stddev,
    variance,
)
from ml_networks_jax.distributions.bernoulli import Bernoulli, relaxed_bernoulli
from ml_networks_jax.distributions.beta import Beta, LogitBeta
from ml_networks_jax.distributions.categorical import OneHotCategorical, gumbel_softmax
from ml_networks_jax.distributions.cauchy import Cauchy
from ml_networks_jax.distributions.dirichlet import Dirichlet
from ml_networks_jax.distributions.exponential import Exponential
from ml_networks_jax.distributions.factorized import Factorized
from ml_networks_jax.distributions.fisher_snedecor import FisherSnedecor
from ml_networks_jax.distributions.gamma import Chi2, ExpGamma, Gamma
from ml_networks_jax.distributions.gumbel import Gumbel
from ml_networks_jax.distributions.half_normal import HalfNormal
from ml_networks_jax.distributions.independent import Independent
from ml_networks_jax.distributions.inverse_gamma import InverseGamma
from ml_networks_jax.distributions.kl import kl_divergence, register_kl
from ml_networks_jax.distributions.kumaraswamy import Kumaraswamy
from ml_networks_jax.distributions.laplace import Laplace
from ml_networks_jax.distributions.log_normal import LogNormal
from ml_networks_jax.distributions.logistic import Logistic
from ml_networks_jax.distributions.mixture import Mixture, MixtureSameFamily
from ml_networks_jax.distributions.multivariate_normal import MultivariateNormal
from ml_networks_jax.distributions.normal import Normal
from ml_networks_jax.distributions.student_t import StudentT
from ml_networks_jax.distributions.truncated_normal import TruncatedNormal
from ml_networks_jax.distributions.uniform import Uniform
from ml_networks_jax.distributions.von_mises import VonMises
from ml_networks_jax.distributions.weibull import Weibull
from ml_networks_jax.head import Head, head
from ml_networks_jax.implicit import reparameterize
from ml_networks_jax.stoch import (
    BernoulliStoch,
    CategoricalStoch,
    DistributionStoch,
    NormalStoch,
    StochState,
    cat_dist,
    get_dist,
    kl_balancing,
    load_state,
    stack_dist,
)

__version__ = "0.1.0"

__all__ = [
    "Bernoulli",
    "BernoulliStoch",
    "Beta",
    "CategoricalStoch",
    "Cauchy",
    "Chi2",
    "Dirichlet",
    "Distribution",
    "DistributionStoch",
    "ExpGamma",
    "Exponential",
    "Factorized",
    "FisherSnedecor",
    "Gamma",
    "Gumbel",
    "HalfNormal",
    "Head",
    "Independent",
    "InverseGamma",
    "Kumaraswamy",
    "Laplace",
    "LogNormal",
    "Logistic",
    "LogitBeta",
    "Mixture",
    "MixtureSameFamily",
    "MultivariateNormal",
    "Normal",
    "NormalStoch",
    "OneHotCategorical",
    "StochState",
    "StudentT",
    "TruncatedNormal",
    "Uniform",
    "VonMises",
    "Weibull",
    "batch_shape",
    "bits_to_codes",
    "cat_dist",
    "cdf",
    "codes_to_bits",
    "codes_to_indices",
    "entropy",
    "event_shape",
    "get_dist",
    "gumbel_softmax",
    "head",
    "icdf",
    "indices_to_codes",
    "kl_balancing",
    "kl_divergence",
    "load_state",
    "log_prob",
    "mean",
    "mode",
    "prob",
    "register_kl",
    "relaxed_bernoulli",
    "reparameterize",
    "rsample",
    "rsample_implicit",
    "sample",
    "sample_and_log_prob",
    "stack_dist",
    "stddev",
    "variance",
]
