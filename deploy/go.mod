module github.com/alexis-ops/alexis/deploy

go 1.26.8
