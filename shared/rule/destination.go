package rule

import "github.com/alexis-ops/alexis/shared/task/httptask"

// ErrDestinationRefused is httptask.ErrDestinationRefused: an http task's
// request may not go where its url points. Test with errors.Is.
var ErrDestinationRefused = httptask.ErrDestinationRefused
