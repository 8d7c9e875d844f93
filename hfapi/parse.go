package hfapi

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/cairnhub/cairn/manifest"
)

// Op is the operation a request path names.
type Op int

const (
	OpNone      Op = iota // no route: plain 404
	OpResolve             // /{repo}/resolve/{rev}/{path}
	OpRaw                 // /{repo}/raw/{rev}/{path}: LFS files as their pointer
	OpInfo                // /api/{kinds}/{repo}[/revision/{rev}]
	OpTree                // /api/{kinds}/{repo}/tree/{rev}[/{path}]
	OpPathsInfo           // /api/{kinds}/{repo}/paths-info/{rev}
	OpRefs                // /api/{kinds}/{repo}/refs
	OpList                // /api/{kinds}
	OpWhoami              // /api/whoami-v2
)

// Route is a parsed request path.
type Route struct {
	Op   Op
	Kind manifest.Kind
	// Repo is "org/name"; a one-part legacy id ("gpt2") is kept as it came
	// and found nowhere.
	Repo string
	// Rev is the decoded revision; "" when the path names none. "HEAD" is
	// kept: the handler maps it to the default branch.
	Rev string
	// Path is the file or directory inside the revision, "" for the root.
	Path string
}

// errBadPath marks a path the API refuses with 400.
var errBadPath = errors.New("bad request path")

const maxRevLen = 255

// ParsePath parses an escaped request path (URL.EscapedPath). It fails with
// an error wrapping errBadPath on a bad escape, a "." or ".." element, an
// invalid revision or file path; a well-formed path the API does not serve
// is Route{Op: OpNone}.
func ParsePath(escaped string) (Route, error) {
	if !strings.HasPrefix(escaped, "/") {
		return Route{}, fmt.Errorf("%w: %q does not start with /", errBadPath, escaped)
	}
	raw := strings.Split(escaped[1:], "/")
	segs := make([]string, len(raw))
	for i, s := range raw {
		d, err := url.PathUnescape(s)
		if err != nil {
			return Route{}, fmt.Errorf("%w: segment %d: %v", errBadPath, i, err)
		}
		if !utf8.ValidString(d) {
			return Route{}, fmt.Errorf("%w: segment %d is not UTF-8", errBadPath, i)
		}
		for _, c := range d {
			if c < 0x20 || c == 0x7f {
				return Route{}, fmt.Errorf("%w: control character in segment %d", errBadPath, i)
			}
		}
		for _, e := range strings.Split(d, "/") {
			if e == ".." || e == "." {
				return Route{}, fmt.Errorf("%w: %q element", errBadPath, e)
			}
		}
		segs[i] = d
	}
	if segs[0] == "api" {
		return parseAPI(segs[1:])
	}
	kind := manifest.Model
	if segs[0] == "datasets" {
		kind, segs = manifest.Dataset, segs[1:]
	} else if segs[0] == "models" {
		// The Hub accepts an explicit models/ prefix too.
		segs = segs[1:]
	}
	var op Op
	var repo string
	switch {
	case len(segs) >= 4 && (segs[2] == "resolve" || segs[2] == "raw"):
		repo, op, segs = segs[0]+"/"+segs[1], opOf(segs[2]), segs[3:]
	case len(segs) >= 3 && (segs[1] == "resolve" || segs[1] == "raw"):
		repo, op, segs = segs[0], opOf(segs[1]), segs[2:]
	default:
		return Route{}, nil
	}
	if strings.HasPrefix(repo, "/") || strings.HasSuffix(repo, "/") || repo == "" {
		return Route{}, nil
	}
	rev, rest := splitRev(segs, 1)
	if len(rest) == 0 {
		return Route{}, nil
	}
	r := Route{Op: op, Kind: kind, Repo: repo, Rev: rev}
	if err := checkRev(rev); err != nil {
		return Route{}, err
	}
	p := strings.Join(rest, "/")
	if err := manifest.ValidatePath(p); err != nil {
		return Route{}, fmt.Errorf("%w: file path %q: %v", errBadPath, p, err)
	}
	r.Path = p
	return r, nil
}

func opOf(s string) Op {
	if s == "raw" {
		return OpRaw
	}
	return OpResolve
}

// splitRev takes the revision off segs, leaving at least keep segments
// after it: one segment, or three for an unencoded "refs/X/Y".
func splitRev(segs []string, keep int) (string, []string) {
	if segs[0] == "refs" && len(segs) >= 3+keep {
		return strings.Join(segs[:3], "/"), segs[3:]
	}
	return segs[0], segs[1:]
}

// parseAPI routes the segments after /api/: whoami, then
// {models,datasets}[/org/name[/what…]].
func parseAPI(segs []string) (Route, error) {
	if len(segs) == 0 {
		return Route{}, nil
	}
	if len(segs) == 1 && segs[0] == "whoami-v2" {
		return Route{Op: OpWhoami}, nil
	}
	var kind manifest.Kind
	switch segs[0] {
	case "models":
		kind = manifest.Model
	case "datasets":
		kind = manifest.Dataset
	default:
		return Route{}, nil
	}
	segs = segs[1:]
	if len(segs) == 0 || len(segs) == 1 && segs[0] == "" {
		return Route{Op: OpList, Kind: kind}, nil
	}
	if segs[0] == "" || len(segs) >= 2 && segs[1] == "" && len(segs) > 2 {
		return Route{}, nil
	}
	if len(segs) < 2 || segs[1] == "" {
		// A one-part legacy id: a repo this node cannot hold.
		return Route{Op: OpInfo, Kind: kind, Repo: segs[0]}, nil
	}
	return parseRepoAPI(Route{Kind: kind, Repo: segs[0] + "/" + segs[1]}, segs[2:])
}

// parseRepoAPI routes the segments after /api/{models,datasets}/org/name.
func parseRepoAPI(r Route, segs []string) (Route, error) {
	switch {
	case len(segs) == 0 || len(segs) == 1 && segs[0] == "":
		r.Op = OpInfo
		return r, nil
	case segs[0] == "revision" && len(segs) >= 2:
		r.Op, r.Rev = OpInfo, strings.Join(segs[1:], "/")
	case segs[0] == "paths-info" && len(segs) >= 2:
		r.Op, r.Rev = OpPathsInfo, strings.Join(segs[1:], "/")
	case segs[0] == "refs" && len(segs) == 1:
		r.Op = OpRefs
		return r, nil
	case segs[0] == "tree" && len(segs) >= 2:
		var err error
		if r, err = parseTree(r, segs[1:]); err != nil {
			return Route{}, err
		}
	default:
		return Route{}, nil
	}
	if err := checkRev(r.Rev); err != nil {
		return Route{}, err
	}
	return r, nil
}

// parseTree routes tree/rev[/path]: the revision, then an optional path
// (trailing slashes dropped).
func parseTree(r Route, segs []string) (Route, error) {
	var rest []string
	r.Op = OpTree
	r.Rev, rest = splitRev(segs, 0)
	for len(rest) > 0 && rest[len(rest)-1] == "" {
		rest = rest[:len(rest)-1]
	}
	if p := strings.Join(rest, "/"); p != "" {
		if err := manifest.ValidatePath(p); err != nil {
			return Route{}, fmt.Errorf("%w: path %q: %v", errBadPath, p, err)
		}
		r.Path = p
	}
	return r, nil
}

// checkRev refuses revisions no ref could be named: empty, too long, with
// ".." or characters git refuses.
func checkRev(r string) error {
	switch {
	case r == "":
		return fmt.Errorf("%w: empty revision", errBadPath)
	case len(r) > maxRevLen:
		return fmt.Errorf("%w: revision longer than %d bytes", errBadPath, maxRevLen)
	case strings.Contains(r, ".."), strings.HasPrefix(r, "/"), strings.HasSuffix(r, "/"), strings.Contains(r, "//"):
		return fmt.Errorf("%w: revision %q is not a valid ref name", errBadPath, r)
	case strings.ContainsAny(r, " ~^:?*[\\{"):
		return fmt.Errorf("%w: revision %q holds a character git refuses", errBadPath, r)
	}
	return nil
}
