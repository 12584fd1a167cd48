-- Per year, category and currency: how many expenses and their exact total, with each
-- category's share of the year's spending in that currency (window function).
--   report query --store /srv/replica-a --file samples/reports/yearly-by-category.sql -f csv > yearly.csv
-- params: (none)
WITH totals AS (
  SELECT substr(spent_at, 1, 4) AS year, currency, category,
         count(*) AS expenses, sum(amount_cents) AS cents
  FROM expenses
  WHERE amount_cents IS NOT NULL
  GROUP BY year, currency, category
)
SELECT year, currency, category, expenses,
       money(cents, currency) AS total,
       printf('%.1f', 100.0 * cents / sum(cents) OVER (PARTITION BY year, currency)) AS share_pct
FROM totals
ORDER BY year, currency, cents DESC, category
