# rbench's image, for `rbench kube` Jobs (and `docker run --rm rbench:0.1.0 -h HOST ...`).
#   docker build -t rbench:0.1.0 .
# Build stage: a release build from the lock file as it is (--locked: no dependency drifts in).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
RUN cargo build --release --locked --bin rbench

# Run stage: the binary, the CA store (rediss:// without --cacert trusts the system's), and the
# shipped profiles in the working dir so `-c profiles/NAME.toml` works as in a checkout.
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/rbench /usr/local/bin/rbench
# A numeric user, so Kubernetes' runAsNonRoot can check it; rbench kube's Job gives this group
# (fsGroup 10001) write access to the results volume.
RUN groupadd --gid 10001 rbench && useradd --uid 10001 --gid 10001 --create-home rbench
WORKDIR /home/rbench
COPY --chown=10001:10001 profiles ./profiles
USER 10001:10001
ENTRYPOINT ["rbench"]
CMD ["--help"]
