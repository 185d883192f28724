# alexis/go-builder: a Go toolchain image made from the host's own toolchain,
# for building the service images where no registry can be reached (the
# GO_IMAGE of deploy/docker/Dockerfile). build.sh assembles its context:
#
#   go/                       a copy of the host's GOROOT (/usr/local/go)
#   ca-certificates.crt       the host's CA bundle, copied into the runtime images
#   tmp/                      an empty, world-writable directory
#
# The Go toolchain is statically linked, so nothing else is needed: no libc,
# no shell. Modules come from the vendor/ directory of the build context (go
# uses it without being told); GOPROXY=off makes a missing module an
# immediate error rather than a hang.
FROM scratch
COPY go /usr/local/go
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY tmp /tmp
ENV PATH=/usr/local/go/bin \
    GOTOOLCHAIN=local \
    GOPROXY=off \
    HOME=/tmp \
    GOCACHE=/tmp/go-cache \
    GOPATH=/tmp/go
