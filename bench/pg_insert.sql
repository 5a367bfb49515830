-- pgbench: one POST's row written alone, one transaction per request (what src/db/statements.rs
-- CREATE does for a batch of one; the module batches concurrent POSTs into one INSERT, which
-- this ceiling does not), the same bound values as bench/post.lua (pgbench -D song=bench_song
-- -D singer=bench_singer; -M prepared binds them).
INSERT INTO music (song, singer, last_modify_date, created) VALUES (:song, :singer, now(), now()) RETURNING id, song, singer, last_modify_date, created;
