-- The sample schema: one row per expense. Money is integer cents (never floating point).
CREATE TABLE expenses (
  id           INTEGER PRIMARY KEY,
  spent_at     TEXT    NOT NULL,            -- ISO 8601 date, UTC
  category     TEXT    NOT NULL,
  merchant     TEXT    NOT NULL,
  amount_cents INTEGER NOT NULL CHECK (amount_cents >= 0),
  currency     TEXT    NOT NULL,            -- ISO 4217 code
  note         TEXT
);
CREATE INDEX expenses_spent_at ON expenses (spent_at);
