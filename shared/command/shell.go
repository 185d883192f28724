package command

import "strings"

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

	cmd     cmdState    // the simple command being read
	stack   [8]cmdState // the commands around open ( or $( ...
	sp      int         // how many of stack are in use
	deep    bool        // more ( than stack holds: every command is unknown
	intVars bool        // some declare/typeset/local -i was seen: assignments may be arithmetic
	// plumbing: the text has an unquoted |, < or > outside [[ ]], through
	// which a command's output may reach something that runs it.
	plumbing    bool
	pendingPipe bool // the previous character was a | that may start ||
	// arith: the text evaluates arithmetic ((( )), $(( )), $[ ], let,
	// declare -i, [[ -gt ]], ...), where bash reads a variable's value,
	// and so a value stored in a variable or parameter, as an expression.
	arith bool
	// dynamic: a command name, or an argument of something that runs code
	// (eval, sh -c, ...), is expanded when the command runs ($v, $(...)):
	// it may be a value stored in a variable.
	dynamic bool
	// codeReader: some command runs code it may read from a pipe or a
	// file (sh, bash, eval, source, xargs, ...).
	codeReader bool
}

// cmdState is what is known about the simple command being read: enough to
// tell which value types may go where (see valueContext).
type cmdState struct {
	start    bool   // the next word is the command name (or a reserved word, or an assignment)
	name     string // the command name as written; unknownName when a value or $(...) is in it
	words    int    // completed words, the name included
	dashdash bool   // a literal -- word was read
	test     bool   // inside [[ ... ]]
	redirect bool   // the next word is a redirection's file
	needProg bool   // a wrapper (sudo, env, xargs, ...) whose program is still to come
	progArgs int    // positional words the wrapper takes before its program (timeout DURATION)
	optVal   bool   // the previous word is a wrapper's option that takes a value
	fmtOK    bool   // printf: the format is literal and converts with %s only
	interp   bool   // an interpreter: more code may follow -e, -f, ...

	word     []byte // the current word's text so far (at most maxWord bytes)
	wordLen  int    // its length
	wordDyn  bool   // a value or a $(...) is in it
	wordEq   bool   // it holds an unquoted = (an assignment in command position)
	wordBrkt bool   // it holds an unquoted [ (a subscript or a glob)
	// wordDollar: it holds an expansion ($ or ` outside single quotes).
	wordDollar bool
}

// fdNumber reports whether the current word is a file descriptor number
// (the 2 of 2>file).
func (c cmdState) fdNumber() bool {
	if c.wordLen == 0 || c.wordLen > 2 || c.wordDyn {
		return false
	}
	for _, b := range c.word[:c.wordLen] {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

const (
	maxWord     = 32
	unknownName = "?"
)

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

// literal adds an argv element's literal text to the current word.
func (s shellState) literal(text []byte) shellState {
	for _, c := range text {
		s.addWord(c)
		if c == '=' {
			s.cmd.wordEq = true
		}
	}
	return s
}

// addWord appends c to the current word's text.
func (s *shellState) addWord(c byte) {
	if s.cmd.wordLen < maxWord {
		s.cmd.word = append(s.cmd.word[:s.cmd.wordLen:s.cmd.wordLen], c)
	}
	s.cmd.wordLen++
}

func (s shellState) step(c byte) shellState {
	prev := s.prev
	s.prev = c
	if s.pendingPipe && c != '|' {
		s.plumbing, s.pendingPipe = true, false
	}
	switch s.mode {
	case modeNormal, modeHeredoc, modeComment:
	default:
		s.addWord(c)
	}
	switch s.mode {
	case modeSingle:
		if c == '\'' {
			s.mode = modeNormal
		}
		return s
	case modeANSI, modeDouble, modeBacktick:
		if s.mode != modeANSI && !s.escaped && (c == '$' || c == '`') {
			s.cmd.wordDollar = true
		}
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
			s.newCommand()
		}
		return s
	case modeArith, modeParam:
		if s.mode == modeArith && (c == '$' || c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			s.arith = true // reads a variable
		}
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
		if c != '\n' { // a backslash-newline joins lines
			s.addWord(c)
		}
		return s
	}
	dollar := s.afterDollar
	s.afterDollar = false
	wordStart := s.wordStart
	s.wordStart = false
	switch c {
	case ' ', '\t', '\n', ';', '&', '|', '(', ')', '<', '>':
		s.operator(c, prev)
	default:
		s.addWord(c)
		switch c {
		case '=':
			s.cmd.wordEq = true
		case '[':
			s.cmd.wordBrkt = true
		}
	}
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
		s.cmd.wordDollar = true
	case '$':
		s.afterDollar = true
		s.cmd.wordDollar = true
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

// operator handles an unquoted metacharacter: it ends the current word,
// and may end the simple command or start a nested one.
func (s *shellState) operator(c, prev byte) {
	if c == '&' && (prev == '>' || prev == '<') {
		s.addWord(c) // >&2, <&0: a file descriptor follows
		return
	}
	if (c == '<' || c == '>') && !s.cmd.test && s.cmd.fdNumber() {
		// 2>file: the 2 is the redirection's, not a word of the command
		s.cmd.word, s.cmd.wordLen, s.cmd.wordDollar = nil, 0, false
	}
	s.endWord()
	if s.cmd.test {
		return // && || ( ) < > are test operators inside [[ ]]
	}
	switch c {
	case '|':
		s.pendingPipe = prev != '|'
	case '<', '>':
		s.plumbing = true
	}
	switch c {
	case ';', '&', '|', '\n':
		s.newCommand()
	case '(':
		if prev == '(' { // (( or $((: arithmetic, not a subshell
			s.pop()
			return
		}
		s.push()
	case ')':
		s.pop()
	case '<', '>':
		s.cmd.redirect = true
	}
}

func (s *shellState) newCommand() {
	s.cmd = cmdState{start: true}
}

// push starts a nested command ($(...), (...), <(...)).
func (s *shellState) push() {
	if s.sp == len(s.stack) {
		s.deep = true
	} else {
		s.stack[s.sp] = s.cmd
		s.sp++
	}
	s.newCommand()
}

// pop returns to the command around a closed (...): the word it was in
// now holds something computed.
func (s *shellState) pop() {
	if s.sp == 0 {
		s.newCommand()
		return
	}
	empty := s.cmd.start && s.cmd.wordLen == 0 && !s.cmd.wordDyn
	s.sp--
	s.cmd = s.stack[s.sp]
	if empty && !s.cmd.start && s.cmd.words == 1 && s.cmd.wordLen == 0 {
		s.newCommand() // name() : a function's body follows
		return
	}
	s.cmd.wordDyn = true
	s.cmd.word = append([]byte(nil), s.cmd.word[:min(s.cmd.wordLen, maxWord)]...)
}

// reserved are words after which a command name still follows.
var reserved = map[string]bool{"if": true, "then": true, "else": true, "elif": true, "do": true,
	"while": true, "until": true, "!": true, "{": true, "time": true, "fi": true, "done": true, "}": true, "esac": true, "coproc": true}

// endWord records a completed word in the command.
func (s *shellState) endWord() {
	c := &s.cmd
	if c.wordLen == 0 && !c.wordDyn {
		return
	}
	w := string(c.word[:min(c.wordLen, maxWord)])
	if c.wordDyn || c.wordLen > maxWord {
		w = unknownName
	}
	dyn, eq, dollar := c.wordDyn, c.wordEq, c.wordDollar
	c.word, c.wordLen, c.wordDyn, c.wordEq, c.wordBrkt, c.wordDollar = nil, 0, false, false, false, false
	if dollar && (c.start && !eq || !c.start && (codeRunners[c.name] || c.needProg && !c.optVal && c.progArgs == 0)) {
		s.dynamic = true
	}
	switch {
	case c.redirect:
		c.redirect = false
		return
	case c.start && eq && !dyn:
		return // NAME=value before the command
	case c.start && reserved[w]:
		return
	case c.start:
		w = progName(w)
		*c = cmdState{name: w, words: 1, test: w == "[["}
		s.named(w)
		if w == "let" {
			s.arith = true
		}
		c.setWrapper(w)
		return
	}
	c.words++
	switch {
	case c.test && w == "]]":
		c.test = false
	case w == "--":
		c.dashdash = true
	}
	if intDeclarers[c.name] && strings.HasPrefix(w, "-") && strings.Contains(w, "i") {
		s.intVars, s.arith = true, true
	}
	if c.test && arithTestOps[w] {
		s.arith = true
	}
	if c.name == "printf" && c.words == 2 {
		c.fmtOK = !dyn && !strings.HasPrefix(w, "-") && onlyPercentS(w)
	}
	if c.interp && !c.needProg && codeOptions[w] {
		c.needProg, c.progArgs, c.optVal = true, 0, false
		return
	}
	if c.name == "find" && findExec[w] {
		c.needProg, c.progArgs, c.optVal = true, 0, false
		return
	}
	if !c.needProg {
		return
	}
	switch {
	case c.optVal:
		c.optVal = false
	case strings.HasPrefix(w, "-") && w != "-":
		c.optVal = wrapperOpts[c.name][w]
	case c.name == "env" && eq:
	case c.progArgs > 0:
		c.progArgs--
	default: // the wrapper's program: what follows is its arguments
		c.needProg = false
		if w != unknownName && !c.interp { // an interpreter keeps its name: its program is a script
			c.name = progName(w)
			c.setWrapper(c.name)
			s.named(c.name)
		}
	}
}

// progName is the program a command word names: its base name
// ("/usr/bin/sudo" is sudo).
func progName(w string) string {
	if i := strings.LastIndexByte(w, '/'); i >= 0 && i < len(w)-1 && w != unknownName {
		return w[i+1:]
	}
	return w
}

func (s *shellState) named(name string) {
	if codeRunners[name] || name == "xargs" {
		s.codeReader = true
	}
}

func (c *cmdState) setWrapper(name string) {
	if n, ok := wrappers[name]; ok {
		c.needProg, c.progArgs, c.optVal = true, n, false
	}
	if interpreters[name] {
		c.interp = true
	}
}

// interpreters read code from their arguments (see wrappers).
var interpreters = map[string]bool{"perl": true, "python": true, "python2": true, "python3": true, "ruby": true,
	"node": true, "php": true, "lua": true, "tclsh": true, "expect": true, "awk": true, "gawk": true, "mawk": true,
	"nawk": true, "sed": true}

// codeOptions are interpreter options whose next argument is more code.
var codeOptions = map[string]bool{"-e": true, "-E": true, "-f": true, "-c": true, "-r": true, "-m": true,
	"--expression": true, "--file": true, "--eval": true, "--exec": true, "--source": true}

// onlyPercentS reports whether a literal printf format (quotes and all)
// converts with %s only.
func onlyPercentS(f string) bool {
	for i := 0; i < len(f); i++ {
		if f[i] == '%' {
			if i+1 < len(f) && (f[i+1] == 's' || f[i+1] == '%') {
				i++
				continue
			}
			return false
		}
	}
	return true
}

// wrappers run a program named by one of their arguments; the number is
// how many positional arguments come before it.
var wrappers = map[string]int{"sudo": 0, "doas": 0, "env": 0, "exec": 0, "command": 0, "builtin": 0, "nohup": 0,
	"nice": 0, "ionice": 0, "setsid": 0, "stdbuf": 0, "time": 0, "xargs": 0, "strace": 0, "watch": 0,
	"timeout": 1, "chroot": 1, "flock": 1, "taskset": 1, "unshare": 0, "nsenter": 0, "systemd-run": 0,
	// Interpreters read their program (a script file, -e/-c code, awk's or
	// sed's script) from their first argument that is not an option: it
	// must be written out, like a wrapper's program; values may follow.
	"perl": 0, "python": 0, "python2": 0, "python3": 0, "ruby": 0, "node": 0, "php": 0,
	"lua": 0, "tclsh": 0, "expect": 0, "awk": 0, "gawk": 0, "mawk": 0, "nawk": 0, "sed": 0}

// wrapperOpts are the wrappers' options that take the next word as value.
var wrapperOpts = map[string]map[string]bool{
	"sudo":    {"-u": true, "-g": true, "-h": true, "-p": true, "-C": true, "-D": true, "-r": true, "-t": true, "-U": true, "-T": true},
	"doas":    {"-u": true, "-C": true},
	"env":     {"-u": true, "-C": true},
	"nice":    {"-n": true},
	"ionice":  {"-c": true, "-n": true},
	"stdbuf":  {"-i": true, "-o": true, "-e": true},
	"time":    {"-f": true, "-o": true},
	"xargs":   {"-a": true, "-d": true, "-E": true, "-I": true, "-L": true, "-n": true, "-P": true, "-s": true},
	"strace":  {"-o": true, "-e": true, "-s": true, "-u": true},
	"watch":   {"-n": true},
	"timeout": {"-s": true, "-k": true},
	"flock":   {"-w": true, "-E": true},
	"exec":    {"-a": true},
	"awk":     {"-v": true, "-F": true},
	"gawk":    {"-v": true, "-F": true},
	"mawk":    {"-v": true, "-F": true},
	"nawk":    {"-v": true, "-F": true},
}

// arithTestOps compare arithmetic expressions inside [[ ]].
var arithTestOps = map[string]bool{"-eq": true, "-ne": true, "-lt": true, "-le": true, "-gt": true, "-ge": true}

// findExec are find's actions whose next word is a program.
var findExec = map[string]bool{"-exec": true, "-execdir": true, "-ok": true, "-okdir": true}

// intDeclarers may give variables the integer attribute (-i).
var intDeclarers = map[string]bool{"declare": true, "typeset": true, "local": true, "export": true, "readonly": true}

// arithCommands evaluate their arguments (or assignments) as arithmetic.
var arithCommands = map[string]bool{"let": true, "declare": true, "typeset": true, "local": true, "readonly": true}

// codeRunners run their arguments as shell code (or a script, or a remote
// command).
var codeRunners = map[string]bool{"eval": true, "source": true, ".": true, "trap": true, "alias": true,
	"sh": true, "bash": true, "dash": true, "ksh": true, "mksh": true, "zsh": true, "busybox": true,
	"ssh": true, "su": true, "runuser": true, "sg": true, "script": true, "parallel": true, "function": true}

// textCommands print their arguments and nothing else.
func (c cmdState) textOK() bool {
	switch c.name {
	case "echo":
		return true
	case "logger":
		return c.dashdash
	case "printf":
		return c.words >= 2 && c.fmtOK
	}
	return false
}

// optionOrAssignment reports whether the current word is an --opt= or
// (for env) a NAME= before the value.
func (c cmdState) optionOrAssignment() bool {
	return c.wordEq && (c.name == "env" || c.wordLen > 0 && c.word[0] == '-')
}

// valueContext says whether a value of type kind may be inserted here:
// "" if it may, else why not.
func (s shellState) valueContext(kind string) string {
	c := s.cmd
	isInt := kind == TypeInt
	switch {
	case s.deep:
		return "nested too deep to tell what reads it"
	case c.redirect:
		if kind == TypeText {
			return "a redirection's file name: text is only allowed as an argument of echo, printf '%s…' or logger --"
		}
		return ""
	case c.start && c.wordBrkt && !c.wordEq:
		if !isInt {
			return "inside [...] of a word (an array subscript is arithmetic): use | int"
		}
		return ""
	case c.start && !c.wordEq:
		return "in the command name's place: a value never chooses the program"
	case c.start:
		if s.intVars && !isInt {
			return "an assignment after declare -i (it may be arithmetic, which runs $(...) in subscripts): use | int"
		}
		if kind == TypeText {
			return "an assignment: text is only allowed as an argument of echo, printf '%s…' or logger --"
		}
		return ""
	case c.test && !isInt:
		return "inside [[ ]], where bash evaluates words as arithmetic (and runs $(...) in subscripts): use | int"
	case c.wordBrkt && !isInt:
		return "inside [...] of a word (an array subscript is arithmetic): use | int"
	case arithCommands[c.name] && !isInt:
		return "an argument of " + c.name + ", which may evaluate it as arithmetic: use | int"
	case s.arith && !isInt:
		return "in a command that evaluates arithmetic (bash reads a variable or parameter holding a value there as an expression, and runs $(...) in its subscripts): every value in it must be | int"
	case c.name == "export" && s.intVars && !isInt:
		return "an argument of export after declare -i: use | int"
	case codeRunners[c.name] && !isInt:
		return "an argument of " + c.name + ", which runs it as code: only | int is allowed there"
	case c.interp && !isInt && c.wordLen > 0 && c.word[0] == '-' && !c.wordEq:
		return "glued to an option of " + c.name + ", which may be code: write the option and its value out"
	case c.needProg && !c.optVal && c.progArgs == 0 && !isInt && !c.optionOrAssignment():
		return "where " + c.name + " reads the program or code it runs: write it out before any value"
	case kind == TypeText && (!c.textOK() || s.sp > 0):
		return "not where text is inert: text is only allowed as an argument of echo, printf '%s…' (fixed format) or logger after --, not inside $(…) or (…)"
	}
	return ""
}

// merge is the state after if/else branches that end in s and o (their
// quoting states are the same): what is known in both.
func (s shellState) merge(o shellState) shellState {
	if s.cmd.name != o.cmd.name || s.cmd.start != o.cmd.start || s.sp != o.sp {
		s.cmd.name = unknownName
		s.cmd.start = s.cmd.start || o.cmd.start
	}
	s.cmd.words = max(s.cmd.words, o.cmd.words)
	s.cmd.dashdash = s.cmd.dashdash && o.cmd.dashdash
	s.cmd.fmtOK = s.cmd.fmtOK && o.cmd.fmtOK
	s.cmd.test = s.cmd.test || o.cmd.test
	s.cmd.redirect = s.cmd.redirect || o.cmd.redirect
	s.cmd.needProg = s.cmd.needProg || o.cmd.needProg
	s.cmd.optVal = s.cmd.optVal && o.cmd.optVal
	s.cmd.progArgs = min(s.cmd.progArgs, o.cmd.progArgs)
	s.cmd.wordDyn = s.cmd.wordDyn || o.cmd.wordDyn || s.cmd.wordLen != o.cmd.wordLen
	s.cmd.wordEq = s.cmd.wordEq && o.cmd.wordEq
	s.cmd.wordBrkt = s.cmd.wordBrkt || o.cmd.wordBrkt
	s.deep = s.deep || o.deep || s.sp != o.sp
	s.intVars = s.intVars || o.intVars
	s.arith = s.arith || o.arith
	s.dynamic = s.dynamic || o.dynamic
	s.codeReader = s.codeReader || o.codeReader
	s.plumbing = s.plumbing || o.plumbing || s.pendingPipe || o.pendingPipe
	return s
}
