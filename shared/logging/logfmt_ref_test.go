package logging

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/rs/zerolog"
)

// refLogfmt is the ConsoleWriter-based Logfmt the direct writer replaced; the
// tests hold the new writer's output to it byte for byte.
func refLogfmt(w io.Writer) io.Writer {
	return zerolog.ConsoleWriter{
		Out:        w,
		NoColor:    true,
		TimeFormat: time.RFC3339Nano,
		PartsOrder: []string{zerolog.TimestampFieldName, zerolog.LevelFieldName, zerolog.MessageFieldName},
		FormatTimestamp: func(i any) string {
			return "time=" + refQuote(fmt.Sprint(i))
		},
		FormatLevel: func(i any) string {
			if i == nil {
				return "level=info"
			}
			return "level=" + refQuote(fmt.Sprint(i))
		},
		FormatMessage: func(i any) string {
			if i == nil || fmt.Sprint(i) == "" {
				return ""
			}
			return "msg=" + refQuote(fmt.Sprint(i))
		},
		FormatFieldName:     func(i any) string { return fmt.Sprint(i) + "=" },
		FormatFieldValue:    refValue,
		FormatErrFieldName:  func(i any) string { return fmt.Sprint(i) + "=" },
		FormatErrFieldValue: refValue,
	}
}

func refValue(i any) string {
	switch v := i.(type) {
	case []byte:
		return string(v)
	case json.RawMessage:
		return string(v)
	}
	return fmt.Sprint(i)
}

func refQuote(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '=' || r == '\\' || r > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}
