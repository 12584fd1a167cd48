-- The merchants with the most spending in one currency over a date range, with exact totals.
--   report query --store /srv/replica-a --file samples/reports/top-merchants.sql \
--          --param currency=EUR --param from=2024-01-01 --param to=2024-12-31 -f markdown
-- params: currency=EUR from=2024-01-01 to=2024-12-31
-- Amounts are integer cents; the total is printed with two decimals from the integer, never
-- through floating point (amount_cents >= 0 in the schema, so no sign handling is needed).
SELECT merchant,
       count(*) AS expenses,
       printf('%d.%02d', sum(amount_cents) / 100, sum(amount_cents) % 100) AS total,
       min(spent_at) AS first_seen,
       max(spent_at) AS last_seen
FROM expenses
WHERE currency = :currency
  AND spent_at BETWEEN :from AND :to
  AND amount_cents IS NOT NULL
GROUP BY merchant
ORDER BY sum(amount_cents) DESC, merchant
LIMIT 10
