# Cairn on an empty image: the static binary and nothing else, so neither
# a base image nor a registry is needed to build or run it. Build the
# binary first (deploy/README.md):
#   CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o deploy/bin/cairn ./cmd/cairn
FROM scratch
COPY deploy/bin/cairn /cairn
ENV CAIRN_HOME=/data
VOLUME /data
# 8080: HTTP API (Hugging Face, OpenAI, /metrics); 4001: libp2p TCP and QUIC.
EXPOSE 8080 4001 4001/udp
ENTRYPOINT ["/cairn"]
CMD ["daemon", "--init", "--http", "0.0.0.0:8080"]
