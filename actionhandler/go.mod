module github.com/alexis-ops/alexis/actionhandler

go 1.26.8
