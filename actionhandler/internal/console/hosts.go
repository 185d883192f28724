package console

import (
	"errors"
	"net/http"
	"sort"

	"github.com/alexis-ops/alexis/actionhandler/internal/store"
	"github.com/labstack/echo/v4"
)

// maxHosts is the most hosts the hosts page lists.
const maxHosts = 500

type hostsView struct {
	Range    string
	Ranges   any
	Hosts    []store.HostStats
	Statuses []string
}

// hostRanges are the hosts page's presets (no "any time": the query is
// bounded).
var hostRanges = []struct{ Value, Label string }{
	{"24h", "last 24 hours"}, {"7d", "last 7 days"}, {"30d", "last 30 days"},
}

func (h *Handler) hosts(c echo.Context) error {
	rg := c.QueryParam("range")
	if rg == "" {
		rg = "7d"
	}
	d, ok := rangeDuration(rg)
	if !ok || d == 0 || rg == "1h" {
		return h.badRequest(c, badField{"range", "want one of 24h, 7d, 30d"})
	}
	hs, err := h.o.Store.Hosts(c.Request().Context(), h.o.Now().Add(-d), maxHosts)
	if err != nil {
		return h.storeFailed(c, err)
	}
	return h.render(c, http.StatusOK, "hosts", page{Title: "Hosts", Nav: "hosts",
		Data: hostsView{Range: rg, Ranges: hostRanges, Hosts: hs, Statuses: statusesOf(hs)}})
}

// statusesOf lists the statuses the hosts have, in a fixed order.
func statusesOf(hs []store.HostStats) []string {
	seen := map[string]bool{}
	for _, h := range hs {
		for s := range h.ByStatus {
			seen[s] = true
		}
	}
	var out []string
	for _, s := range execStatuses {
		if seen[s] {
			out = append(out, s)
			delete(seen, s)
		}
	}
	var rest []string
	for s := range seen {
		rest = append(rest, s)
	}
	sort.Strings(rest)
	return append(out, rest...)
}

var execStatuses = []string{store.Success, store.Failure, store.Skipped, store.Interrupted, store.DryRun, store.Refused,
	store.Queued, store.Running, store.Verifying, store.Remediated, store.Ineffective}

type hostView struct {
	Host  string
	Execs []*store.Execution
	Older string
}

func (h *Handler) host(c echo.Context) error {
	host := c.Param("host")
	if len(host) > maxFilter {
		return h.badRequest(c, badField{"host", "too long"})
	}
	pg, err := h.o.Store.List(c.Request().Context(), store.Filter{Entity: host, Limit: pageSize, Cursor: c.QueryParam("cursor")})
	if errors.Is(err, store.ErrCursor) {
		return h.badRequest(c, badField{"cursor", "not one this console gave"})
	}
	if err != nil {
		return h.storeFailed(c, err)
	}
	v := hostView{Host: host, Execs: pg.Executions}
	if pg.Next != "" {
		v.Older = "/console/hosts/" + escapeAll(host) + "?cursor=" + escapeAll(pg.Next)
	}
	return h.render(c, http.StatusOK, "host", page{Title: "Host " + host, Nav: "hosts", Data: v})
}
