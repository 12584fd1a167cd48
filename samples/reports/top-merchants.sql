-- The merchants with the most spending in one currency over a date range, with exact totals.
--   report query --store /srv/replica-a --file samples/reports/top-merchants.sql \
--          --param currency=EUR --param from=2024-01-01 --param to=2024-12-31 -f markdown
-- params: currency=EUR from=2024-01-01 to=2024-12-31
-- Amounts are integers in the currency's minor unit; money() prints the total with that unit's
-- decimals (ISO 4217: 0 for JPY, 2 for EUR, 3 for BHD), from the integer, never through
-- floating point. money() is a function of report's connections (docs/REPORTS.md).
SELECT merchant,
       count(*) AS expenses,
       money(sum(amount_cents), :currency) AS total,
       min(spent_at) AS first_seen,
       max(spent_at) AS last_seen
FROM expenses
WHERE currency = :currency
  AND spent_at BETWEEN :from AND :to
  AND amount_cents IS NOT NULL
GROUP BY merchant
ORDER BY sum(amount_cents) DESC, merchant
LIMIT 10
