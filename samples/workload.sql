-- A few changes after the initial load, as an application would make them.
-- Each autocommit statement and each BEGIN … COMMIT block becomes one binlog transaction.

-- A correction to one expense.
UPDATE expenses SET amount_cents = amount_cents + 500, note = 'corrected: tip added' WHERE id = 7;

-- A batch reclassification, atomically, together with a new expense: the Uber rides since
-- October 2024 were business trips.
BEGIN;
UPDATE expenses SET category = 'travel' WHERE merchant = 'Uber' AND spent_at >= '2024-10-01';
INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency, note)
  VALUES ('2024-12-31', 'restaurants', 'Café Grünwald', 4280, 'EUR', 'Silvester — Abendessen');
COMMIT;

-- Duplicates imported twice are removed.
DELETE FROM expenses WHERE id IN (11, 12, 13);

-- A schema change: expenses get a payment method.
ALTER TABLE expenses ADD COLUMN paid_with TEXT;
UPDATE expenses SET paid_with = 'card' WHERE id <= 100;

-- The values a replica receives are the values the master produced, even for random().
INSERT INTO expenses (spent_at, category, merchant, amount_cents, currency, note, paid_with)
  VALUES (date('now'), 'gifts', 'Etsy', abs(random() % 10000), 'EUR', 'surprise', 'cash');
