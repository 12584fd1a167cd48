-- The golden fixture: twelve expenses chosen by hand so that every number in the golden
-- outputs can be checked on paper (see GoldenOutputTests for the worked totals).
INSERT INTO expenses (id, spent_at, category, merchant, amount_cents, currency, note) VALUES
  (1,  '2024-01-03',           'groceries', 'Edeka',                 1234,   'EUR', NULL),
  (2,  '2024-01-15T18:30:00Z', 'groceries', 'Café "Grün", Berlin',   999,    'EUR', 'receipt 1, 2'),
  (3,  '2024-01-20',           'rent',      'Acme | Properties',     120000, 'EUR', 'January'),
  (4,  '2024-01-31',           'transport', 'SNCF',                  4550,   'EUR', NULL),
  (5,  '2024-02-01',           'groceries', 'Edeka',                 1,      'EUR', NULL),
  (6,  '2024-02-14',           'groceries', 'Edeka',                 2,      'EUR', 'average of 1.5 cents'),
  (7,  '2024-02-29',           'rent',      'Acme | Properties',     120000, 'EUR', 'February'),
  (8,  '2024-04-02',           'groceries', '<Tesco & Co>',          5005,   'EUR', 'after an empty March'),
  (9,  '2024-01-10',           'transport', 'TfL',                   250,    'GBP', NULL),
  (10, '2024-02-10',           'transport', 'TfL',                   120,    'GBP', NULL),
  (11, '2024-02-11',           'software',  'Line' || char(10) || 'Break Ltd', 1999, 'GBP', 'two' || char(13, 10) || 'lines'),
  (12, '2024-02-12',           'transport', '#1 Cabs',               5,      'GBP', NULL);
