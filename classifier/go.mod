module github.com/alexis-ops/alexis/classifier

go 1.26.8
