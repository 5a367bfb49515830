-- pgbench: the POST's statement (src/db/statements.rs CREATE), the same bound values as
-- bench/post.lua (pgbench -D song=bench_song -D singer=bench_singer; -M prepared binds them).
INSERT INTO music (song, singer, last_modify_date, created) VALUES (:song, :singer, now(), now()) RETURNING id, song, singer, last_modify_date, created;
