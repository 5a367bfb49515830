-- pgbench: one PATCH's change alone, one transaction per request (what src/db/statements.rs
-- PATCH does for a batch of one, without its id-ordered lock of one row; the module batches
-- concurrent PATCHes into one UPDATE, which this ceiling does not), song bound as text, singer
-- NULL (left as it is), random id, as bench/patch.lua sends {"song":"patched_<n>"}
-- (pgbench -D song=patched_500000: the length of patch.lua's typical value; a NULL cannot be
-- bound from pgbench, so singer's is written as NULL::text).
\set id random(1, :rows)
UPDATE music SET song = COALESCE(:song, song), singer = COALESCE(NULL::text, singer), last_modify_date = now() WHERE id = :id RETURNING id, song, singer, last_modify_date, created;
