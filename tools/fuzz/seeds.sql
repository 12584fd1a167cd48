-- Seed segments for the fuzzer (tools/fuzz/run): every event type, every value type, a
-- WITHOUT ROWID table, a generated column, a moved rowid, a multi-row statement, DDL between
-- row changes, and rows large enough to be split into frames and compressed.
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, photo BLOB, qty INTEGER);
CREATE TABLE tags (tag TEXT PRIMARY KEY, label TEXT GENERATED ALWAYS AS (upper(tag)), uses INTEGER) WITHOUT ROWID;
INSERT INTO items (name, price, photo, qty) VALUES ('Zoë ✓', 12.5, x'00ff10', 3), (NULL, -0.0, NULL, -9223372036854775808);
INSERT INTO items (name, price, photo, qty) VALUES ('inf', 1e308 * 10, randomblob(64), 9223372036854775807);
INSERT INTO tags (tag, uses) VALUES ('a', 1), ('b', 2), ('ç', 3);
UPDATE items SET id = id + 100, name = 'moved' WHERE id = 1;
UPDATE tags SET uses = uses + 1;
DELETE FROM tags WHERE tag = 'b';
BEGIN; INSERT INTO items (name, qty) VALUES ('in a transaction', 1); SAVEPOINT s; UPDATE items SET qty = 2; RELEASE s; COMMIT;
ALTER TABLE items ADD COLUMN note TEXT DEFAULT 'n';
INSERT INTO items (name, note) VALUES (hex(zeroblob(600)), 'compressible ' || hex(zeroblob(400)));
CREATE INDEX items_by_name ON items (name);
DELETE FROM items WHERE qty IS NULL OR qty < 0;
