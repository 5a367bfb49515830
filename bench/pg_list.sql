-- pgbench: the list GET's statement (src/db/statements.rs LIST), every row ordered by id.
SELECT id, song, singer, last_modify_date, created FROM music ORDER BY id;
