module github.com/alexis-ops/alexis/poller

go 1.26.8
