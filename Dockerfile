# Builds the msingi binary; used by docker-compose.yml.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --bin msingi

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/msingi /usr/local/bin/msingi
WORKDIR /var/lib/msingi
EXPOSE 8080
ENTRYPOINT ["msingi"]
CMD ["serve"]
