-- POST /api/musics/ with a JSON body; credentials from wrk -H "Authorization: ...".
-- The rows it creates (ids > BENCH_ROWS) are deleted by build/bench afterwards.
wrk.method = "POST"
wrk.path = (os.getenv("BENCH_API_PREFIX") or "/api/") .. "musics/"
wrk.body = '{"song":"bench_song","singer":"bench_singer"}'
wrk.headers["Content-Type"] = "application/json"
