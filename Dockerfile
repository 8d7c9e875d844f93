# Static cairn binary on an empty image: no registry needed at run time.
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /cairn ./cmd/cairn

FROM scratch
COPY --from=build /cairn /cairn
ENV CAIRN_HOME=/data
VOLUME /data
EXPOSE 8080 4001 4001/udp
ENTRYPOINT ["/cairn"]
CMD ["daemon", "--init", "--http", "0.0.0.0:8080"]
