-- pgbench: the single-object GET's statement (src/db/statements.rs RETRIEVE), random id.
-- pgbench -M prepared -D rows=N -f pg_single.sql
\set id random(1, :rows)
SELECT id, song, singer, last_modify_date, created FROM music WHERE id = :id;
