# llm-router in a container: `docker build -t llm-router .` then see docs/operations.md.
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY data ./data
COPY completions ./completions
RUN cargo build --release --locked && strip target/release/llm-router

FROM debian:bookworm-slim
# CA certificates for TLS to the relay; nothing else is needed at run time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --create-home --home-dir /data llm-router
COPY --from=build /src/target/release/llm-router /usr/local/bin/llm-router
USER llm-router
# Config and state live on the volume; the gateway listens on all interfaces inside the
# container, which requires a router key (ROUTER_API_KEY).
ENV LLM_ROUTER_CONFIG_DIR=/data/config \
    LLM_ROUTER_STATE_DIR=/data/state \
    LLM_ROUTER_RUNTIME_DIR=/data/run \
    LLM_ROUTER_SERVER_HOST=0.0.0.0
VOLUME ["/data"]
EXPOSE 8787
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
    CMD ["llm-router", "healthcheck"]
ENTRYPOINT ["llm-router"]
CMD ["start", "--foreground"]
