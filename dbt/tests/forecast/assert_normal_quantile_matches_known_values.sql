-- The service level's z (macro normal_quantile) against published standard normal quantiles,
-- in the centre and in both tails.
with known(p, z) as (
    values (0.5, 0.0), (0.8, 0.8416212336), (0.9, 1.2815515655), (0.95, 1.6448536270),
           (0.975, 1.9599639845), (0.99, 2.3263478740), (0.999, 3.0902323062), (0.01, -2.3263478740),
           (0.001, -3.0902323062)
)
select p, z, {{ normal_quantile('p') }} as computed
from known
where abs({{ normal_quantile('p') }} - z) > 1e-6
