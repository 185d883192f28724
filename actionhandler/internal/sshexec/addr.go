package sshexec

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Address turns an entity into the host:port to dial: "app01" gets
// defaultPort, "app01:2222" keeps its port, IPv6 is written "[::1]:2222"
// (or bare "::1" for the default port).
func Address(entity string, defaultPort int) (string, error) {
	e := strings.TrimSpace(entity)
	if e == "" {
		return "", fmt.Errorf("entity %q: empty host", entity)
	}
	host, port := e, strconv.Itoa(defaultPort)
	switch {
	case strings.HasPrefix(e, "["):
		end := strings.Index(e, "]")
		if end < 0 {
			return "", fmt.Errorf("entity %q: missing ]", entity)
		}
		host = e[1:end]
		switch rest := e[end+1:]; {
		case rest == "":
		case strings.HasPrefix(rest, ":"):
			port = rest[1:]
		default:
			return "", fmt.Errorf("entity %q: unexpected %q after ]", entity, rest)
		}
	case strings.Count(e, ":") == 1:
		host, port, _ = strings.Cut(e, ":")
	case strings.Count(e, ":") > 1:
		// A bare IPv6 address; a port needs the [::1]:2222 form.
		if _, err := netip.ParseAddr(e); err != nil {
			return "", fmt.Errorf("entity %q: not a host, host:port or IPv6 address (write [addr]:port)", entity)
		}
	}
	if host == "" {
		return "", fmt.Errorf("entity %q: empty host", entity)
	}
	if !validHost(host) {
		return "", fmt.Errorf("entity %q: %q is not a host name or IP address", entity, host)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("entity %q: bad port %q", entity, port)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), nil
}

// validHost accepts IP addresses (IPv6 with a zone too) and host names made
// of letters, digits, '.', '-' and '_' that do not start with '-'.
func validHost(h string) bool {
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if strings.HasPrefix(h, "-") {
		return false
	}
	for _, r := range h {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return false
		}
	}
	return true
}
