-- Spending by payment method in one currency. `paid_with` is the column that
-- samples/workload.sql adds with ALTER TABLE on the master: replicas carry it too, and rows
-- from before the change read as 'unknown'.
--   report query --store /srv/replica-a --file samples/reports/payment-methods.sql --param currency=EUR
-- params: currency=EUR
SELECT coalesce(paid_with, 'unknown') AS paid_with,
       count(*) AS expenses,
       printf('%d.%02d', sum(amount_cents) / 100, sum(amount_cents) % 100) AS total
FROM expenses
WHERE currency = :currency AND amount_cents IS NOT NULL
GROUP BY 1
ORDER BY sum(amount_cents) DESC, 1
