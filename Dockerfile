# The operator's image, for those who build with Docker or Buildah. `make image` builds the same image without a
# container daemon (hack/image).
#
#   docker build -t <registry>/sidecarset-operator:<tag> .
FROM golang:1.26 AS build
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
# Modules first, so that a code change does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY controllers/ controllers/
COPY internal/ internal/
COPY serving/ serving/
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags='-s -w' -o /sidecarset-operator .

# A static binary needs no distribution: distroless "static", as its non-root user.
FROM gcr.io/distroless/static:nonroot
COPY --from=build /sidecarset-operator /sidecarset-operator
USER 65532:65532
ENTRYPOINT ["/sidecarset-operator"]
