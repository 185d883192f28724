package command

// shellState is where a POSIX shell's parser is after reading some text:
// enough to tell whether a single-quoted word inserted there stays one
// literal word. It errs on the side of calling a place unsafe.
type shellState struct {
	mode        shellMode
	depth       int  // how many of open are open (modeArith, modeParam)
	open        byte // the bracket modeArith or modeParam counts: ( [ or {
	escaped     bool // the previous character was an unquoted (or double-quoted) backslash
	wordStart   bool // the next character starts a word (a # there starts a comment)
	afterDollar bool // the previous character was an unquoted $
	prev        byte // the previous character, for two-character tokens
}

type shellMode int

const (
	modeNormal   shellMode = iota
	modeSingle             // '...'
	modeDouble             // "..."
	modeANSI               // $'...' (bash, ksh, zsh: backslash escapes)
	modeBacktick           // `...`
	modeComment            // # ... to the end of the line
	modeArith              // $((...)), ((...)), $[...]
	modeParam              // ${...}
	modeHeredoc            // after <<: to the end of the command
)

// unsafe names why a quoted word inserted here would not stay one literal
// word, or returns "" where it would.
func (s shellState) unsafe() string {
	switch {
	case s.mode == modeSingle:
		return "inside '...'"
	case s.mode == modeDouble:
		return `inside "..."`
	case s.mode == modeANSI:
		return "inside $'...'"
	case s.mode == modeBacktick:
		return "inside `...`"
	case s.mode == modeComment:
		return "inside a # comment"
	case s.mode == modeArith:
		return "inside an arithmetic expression"
	case s.mode == modeParam:
		return "inside ${...}"
	case s.mode == modeHeredoc:
		return "after a here-document (<<)"
	case s.escaped:
		return "right after a backslash"
	case s.afterDollar:
		return "right after a $"
	}
	return ""
}

// same reports whether two states read what follows alike.
func (s shellState) same(o shellState) bool {
	return s.mode == o.mode && s.depth == o.depth && s.escaped == o.escaped && s.afterDollar == o.afterDollar
}

// scan advances the state over literal command text.
func (s shellState) scan(text string) shellState {
	for i := 0; i < len(text); i++ {
		s = s.step(text[i])
	}
	return s
}

func (s shellState) step(c byte) shellState {
	prev := s.prev
	s.prev = c
	switch s.mode {
	case modeSingle:
		if c == '\'' {
			s.mode = modeNormal
		}
		return s
	case modeANSI, modeDouble, modeBacktick:
		switch {
		case s.escaped:
			s.escaped = false
		case c == '\\':
			s.escaped = true
		case c == '\'' && s.mode == modeANSI, c == '"' && s.mode == modeDouble, c == '`' && s.mode == modeBacktick:
			s.mode = modeNormal
		}
		return s
	case modeComment:
		if c == '\n' {
			s.mode, s.wordStart = modeNormal, true
		}
		return s
	case modeArith, modeParam:
		switch c {
		case s.open:
			s.depth++
		case closer(s.open):
			s.depth--
		}
		if s.depth <= 0 {
			s.mode, s.depth, s.open = modeNormal, 0, 0
		}
		return s
	case modeHeredoc:
		return s
	}

	// modeNormal
	if s.escaped {
		s.escaped, s.wordStart, s.afterDollar = false, false, false
		return s
	}
	dollar := s.afterDollar
	s.afterDollar = false
	wordStart := s.wordStart
	s.wordStart = false
	switch c {
	case '\\':
		s.escaped = true
	case '\'':
		if dollar {
			s.mode = modeANSI
		} else {
			s.mode = modeSingle
		}
	case '"':
		s.mode = modeDouble
	case '`':
		s.mode = modeBacktick
	case '$':
		s.afterDollar = true
	case '#':
		if wordStart {
			s.mode = modeComment
		}
	case '{':
		if dollar {
			s.mode, s.depth, s.open = modeParam, 1, '{'
		}
	case '[':
		if dollar {
			s.mode, s.depth, s.open = modeArith, 1, '['
		}
	case '(':
		if prev == '(' {
			// $(( or (( : arithmetic (bash and ksh read "((" as one).
			s.mode, s.depth, s.open = modeArith, 2, '('
		} else {
			s.wordStart = true
		}
	case '<':
		if prev == '<' {
			s.mode = modeHeredoc
		}
	case ' ', '\t', '\n', ';', '&', '|', ')':
		s.wordStart = true
	}
	return s
}

func closer(open byte) byte {
	switch open {
	case '(':
		return ')'
	case '[':
		return ']'
	case '{':
		return '}'
	}
	return 0
}
