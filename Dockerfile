# ngx-music: nginx 1.28.3 + the ngx-music module, built by the project's own build step (the one
# build/run runs: build/nginx, then cargo build --release), in a small Debian runtime that runs as
# an unprivileged user.
#
#   docker build -t ngx-music .
#   docker run -p 8080:8080 -e DATABASE_URL=postgres://user:password@host:5432/dbname ngx-music
#   docker compose up -d --build      # PostgreSQL + two apps + the load balancer (docker-compose.yml)
#
# Configuration is by environment only (see nginx-conf/docker/entrypoint): DATABASE_URL or
# PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE, ADMIN_USER/ADMIN_PASSWORD, NGX_MUSIC_PORT (8080),
# LOG_DIR (unset: logs to stdout/stderr), NGX_MUSIC_WORKERS, DJANGO_SECRET_KEY or
# DJANGO_SECRET_KEY_FILE (unset: one generated and kept in the volume /var/lib/ngx-music); `lb` as the command runs the load
# balancer configuration (nginx-conf/lb/nginx.conf) instead of the app.

############################################################ build
FROM rust:1.95.0-bookworm AS builder

# A checkout's layout: build/lib.sh puts nginx's prefix, which is compiled into the binary, at
# $ROOT/.build/nginx, so the runtime stage keeps the same path.
WORKDIR /opt/ngx-music

# The packages build/nginx needs (its own list, build/lib.sh), in a layer of their own.
COPY build/lib.sh build/lib.sh
RUN bash -c '. build/lib.sh && ensure_packages "${BUILD_PACKAGES[@]}"'

# nginx from the nginx-src crate with the flags of build/lib.sh (cached until these change).
COPY Cargo.toml Cargo.lock ./
COPY .cargo .cargo
COPY build/nginx build/build.rs build/
RUN ./build/nginx

# The module, against that nginx tree.
COPY src src
RUN cargo build --release --features mimalloc

############################################################ runtime
FROM debian:12.12-slim

# nginx: libpcre2, zlib, libssl (libcrypt and libgcc are in the base); bootstrap-db: psql and
# python3 (python3-minimal lacks the secrets and hmac modules that it imports); the
# HEALTHCHECK: curl.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libpcre2-8-0 zlib1g libssl3 postgresql-client-15 python3 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 ngxmusic \
    && useradd --system --uid 10001 --gid ngxmusic --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin ngxmusic \
    && install -d -m 0700 -o 10001 -g 10001 /var/lib/ngx-music

WORKDIR /opt/ngx-music
COPY --from=builder /opt/ngx-music/.build/nginx .build/nginx
COPY --from=builder /opt/ngx-music/target/release/libngx_music.so target/release/libngx_music.so
COPY build/lib.sh build/bootstrap-db build/
COPY build/sql build/sql
COPY nginx-conf nginx-conf

# Everything above is root's and read-only to the server; what it writes goes to
# NGX_MUSIC_RUN_DIR (the rendered config, pid, temp files), created at start, so any uid works.
# NGX_MUSIC_DATA_DIR keeps the generated Django SECRET_KEY (when DJANGO_SECRET_KEY and
# DJANGO_SECRET_KEY_FILE are unset): the server's own 0700 directory, for a volume.
ENV NGX_MUSIC_PORT=8080 \
    NGX_MUSIC_RUN_DIR=/tmp/ngx-music \
    NGX_MUSIC_DATA_DIR=/var/lib/ngx-music
USER 10001:10001
EXPOSE 8080

# nginx as PID 1: SIGQUIT is its graceful shutdown (requests in flight finish).
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/opt/ngx-music/nginx-conf/docker/entrypoint", "health"]
ENTRYPOINT ["/opt/ngx-music/nginx-conf/docker/entrypoint"]
CMD ["app"]
