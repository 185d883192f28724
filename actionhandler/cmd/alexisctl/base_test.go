package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		raw, want, warn, err string
	}{
		{raw: "https://alexis.example.com:8082/", want: "https://alexis.example.com:8082"},
		{raw: "https://alexis.example.com/prefix/", want: "https://alexis.example.com/prefix"},
		{raw: "http://127.0.0.1:8082", want: "http://127.0.0.1:8082"},
		{raw: "http://localhost:8082", want: "http://localhost:8082"},
		{raw: "http://[::1]:8082", want: "http://[::1]:8082"},
		{raw: "http://alexis.example.com:8082", want: "http://alexis.example.com:8082", warn: "plain http"},
		{raw: "ftp://alexis.example.com", err: "want http(s)"},
		{raw: "alexis.example.com:8082", err: "want http(s)"},
		{raw: "https://user:pw@alexis.example.com", err: "credentials"},
		{raw: "https://alexis.example.com/?token=x", err: "query"},
		{raw: "https://us er:pw@x/%zz", err: "want http(s)"},
	} {
		var stderr bytes.Buffer
		a := &app{stderr: &stderr, getenv: func(string) string { return "" }, warned: map[string]bool{}}
		got, err := a.base(tc.raw, "ALEXIS_URL", "action handler")
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: error %v, want %q", tc.raw, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %q %v, want %q", tc.raw, got, err, tc.want)
		}
		if (tc.warn == "") != (stderr.Len() == 0) || !strings.Contains(stderr.String(), tc.warn) {
			t.Errorf("%q: warning %q, want %q", tc.raw, stderr.String(), tc.warn)
		}
		if strings.Contains(stderr.String()+errString(err), "pw") {
			t.Errorf("%q: a password printed: %q %v", tc.raw, stderr.String(), err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
