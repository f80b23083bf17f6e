# confab in a container: build in a Rust image, run in a slim Debian one as a non-root user.
#
#   docker build -t confab .
#   docker run -p 8080:8080 -v confab-data:/data \
#     -e CONFAB_JWKS_URL=https://<ref>.supabase.co/auth/v1/.well-known/jwks.json confab
#
# Without CONFAB_JWT_SECRET / CONFAB_JWKS_URL / CONFAB_JWKS_FILE it runs in development mode
# (a generated secret in /data, a printed demo token): fine to try, not for production.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin confab \
 && strip target/release/confab

FROM debian:bookworm-slim
# ca-certificates: TLS to Postgres and the JWKS URL; curl: the health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home confab
COPY --from=build /src/target/release/confab /usr/local/bin/confab
USER confab
WORKDIR /data
# The SQLite default lives in the /data volume (with the development secret beside it);
# set DATABASE_URL=postgres://... for Postgres.
ENV CONFAB_LISTEN=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/confab.db \
    CONFAB_LOG_FORMAT=json
VOLUME ["/data"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${CONFAB_LISTEN##*:}/healthz" || exit 1
# `docker run IMAGE` serves; `docker run IMAGE migrate` (or token, seed --demo, ...) runs
# another command.
ENTRYPOINT ["/usr/local/bin/confab"]
CMD ["serve"]
