-- pgbench: the PATCH's statement (src/db/statements.rs PATCH) with song set, singer NULL
-- (left as it is), random id, as bench/patch.lua sends {"song":"patched_<n>"}.
\set id random(1, :rows)
\set n random(1, 1000000)
UPDATE music SET song = COALESCE('patched_' || :n, song), singer = COALESCE(NULL::text, singer), last_modify_date = now() WHERE id = :id RETURNING id, song, singer, last_modify_date, created;
