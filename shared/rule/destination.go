package rule

import "errors"

// ErrDestinationRefused: an http task's request may not go where its url
// points (the action handler's http.allowed_hosts, or an address that is
// refused unless listed there). The task fails without sending anything,
// and nothing rendered from the url is recorded. Test with errors.Is.
var ErrDestinationRefused = errors.New("destination refused")

// HostFromAlert: the http task's url takes its host from the alert
// (http://{{ entity }}:8080/...; the only form validation lets through),
// so the action handler calls it only with a non-empty http.allowed_hosts.
func (t Task) HostFromAlert() bool {
	return entityURL.MatchString(t.URL)
}
