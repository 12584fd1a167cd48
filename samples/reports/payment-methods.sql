-- Spending by payment method in one currency. `paid_with` is the column that
-- samples/workload.sql adds with ALTER TABLE on the master: replicas carry it too, and rows
-- from before the change read as 'unknown'. money() prints the total in the currency's minor
-- unit (ISO 4217: no decimals for JPY, three for BHD).
--   report query --store /srv/replica-a --file samples/reports/payment-methods.sql --param currency=EUR
-- params: currency=EUR
SELECT coalesce(paid_with, 'unknown') AS paid_with,
       count(*) AS expenses,
       money(sum(amount_cents), :currency) AS total
FROM expenses
WHERE currency = :currency AND amount_cents IS NOT NULL
GROUP BY 1
ORDER BY sum(amount_cents) DESC, 1
