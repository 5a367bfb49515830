-- pgbench: the PATCH's statement (src/db/statements.rs PATCH) with song bound as text, singer
-- NULL (left as it is), random id, as bench/patch.lua sends {"song":"patched_<n>"}
-- (pgbench -D song=patched_500000: the length of patch.lua's typical value; a NULL cannot be
-- bound from pgbench, so singer's is written as NULL::text).
\set id random(1, :rows)
UPDATE music SET song = COALESCE(:song, song), singer = COALESCE(NULL::text, singer), last_modify_date = now() WHERE id = :id RETURNING id, song, singer, last_modify_date, created;
