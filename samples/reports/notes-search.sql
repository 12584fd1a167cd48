-- Expenses whose note or merchant contains some text, matched exactly (instr is case-sensitive;
-- SQLite's LIKE would fold ASCII letters only, not Ü or É). The text is bound, never spliced.
--   report query --store /srv/replica-a --file samples/reports/notes-search.sql --param text=Abendessen
-- params: text=Abendessen
SELECT id, spent_at, category, merchant,
       money(amount_cents, currency) AS amount,   -- in the currency's minor unit (JPY: none)
       currency, note
FROM expenses
WHERE instr(note, :text) > 0 OR instr(merchant, :text) > 0
ORDER BY spent_at, id
