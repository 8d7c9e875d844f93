package ingest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cairnhub/cairn/manifest"
)

var (
	// ErrLeavesTree: a symlink in the imported folder points outside it.
	ErrLeavesTree = errors.New("symlink leads outside the imported folder")
	// ErrSpecialFile: a device file, socket, named pipe or other file that is
	// neither a regular file nor a directory.
	ErrSpecialFile = errors.New("not a regular file or directory")
)

// maxRefusalsNamed bounds the paths one error lists.
const maxRefusalsNamed = 20

// collect lists the regular files under root (or root itself), skipping
// VCS and cache folders and refusing symlink loops. Symlinks inside the
// tree are followed: a linked file is imported as its target's bytes, a
// linked directory is walked. Unless follow is set, a symlink whose target
// lies outside root is refused and a linked directory outside is not
// walked. Special files are always refused: opening a named pipe would
// block, a device would stream without end. Every refusal is named in one
// error. root itself may be a symlink: the user named it.
func collect(root string, follow bool) ([]source, error) {
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("add: %w", err)
	}
	if fi.Mode().IsRegular() {
		name := filepath.Base(root)
		if err := manifest.ValidatePath(name); err != nil {
			return nil, fmt.Errorf("add %s: %w", root, err)
		}
		return []source{{abs: root, rel: name, size: fi.Size(), fi: fi}}, nil
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("add %s: %w", root, ErrSpecialFile)
	}
	real, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, fmt.Errorf("add %s: %w", root, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, fmt.Errorf("add %s: %w", root, err)
	}
	w := &walker{root: real, follow: follow, visiting: map[string]bool{}}
	if err := w.dir(root, ""); err != nil {
		return nil, err
	}
	if err := w.refusals(root); err != nil {
		return nil, err
	}
	return w.out, nil
}

type walker struct {
	root     string // the imported folder, symlinks resolved, absolute
	follow   bool
	visiting map[string]bool
	out      []source
	refused  []error
}

func (w *walker) refuse(err error) { w.refused = append(w.refused, err) }

// refusals is the error naming every refused path, nil when none.
func (w *walker) refusals(root string) error {
	if len(w.refused) == 0 {
		return nil
	}
	named := w.refused[:min(len(w.refused), maxRefusalsNamed)]
	more := ""
	if n := len(w.refused) - len(named); n > 0 {
		more = fmt.Sprintf("\n(and %d more)", n)
	}
	hint := ""
	if slicesContainsIs(w.refused, ErrLeavesTree) {
		hint = "\nimport link targets outside the folder with --follow-symlinks (a Hugging Face cache snapshot links to ../../blobs), or copy them in"
	}
	return fmt.Errorf("add %s: %d paths refused:\n%w%s%s", root, len(w.refused), errors.Join(named...), more, hint)
}

func slicesContainsIs(errs []error, target error) bool {
	for _, e := range errs {
		if errors.Is(e, target) {
			return true
		}
	}
	return false
}

// dir walks one directory; rel is its path in the repo ("" for the root).
func (w *walker) dir(dir, rel string) error {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("add %s: %w", dir, err)
	}
	if w.visiting[real] {
		return fmt.Errorf("add %s: symlink loop (%s is already being walked)", dir, real)
	}
	w.visiting[real] = true
	defer delete(w.visiting, real)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("add: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if name == ".git" || name == ".cache" || name == ".huggingface" {
			continue
		}
		r := name
		if rel != "" {
			r = rel + "/" + name
		}
		if err := w.entry(filepath.Join(dir, name), r, e.Type()); err != nil {
			return err
		}
	}
	return nil
}

// entry handles one directory entry of type typ (from the entry itself,
// not what a symlink points at).
func (w *walker) entry(abs, rel string, typ fs.FileMode) error {
	switch {
	case typ&fs.ModeSymlink != 0:
		return w.link(abs, rel)
	case typ.IsDir():
		return w.dir(abs, rel)
	case typ.IsRegular():
		fi, err := os.Lstat(abs)
		if err != nil {
			return fmt.Errorf("add: %w", err)
		}
		return w.file(abs, rel, fi)
	default:
		w.refuse(fmt.Errorf("%s: %s: %w", abs, kindOf(typ), ErrSpecialFile))
		return nil
	}
}

// link follows a symlink that stays inside the tree, or any with follow.
func (w *walker) link(abs, rel string) error {
	target, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("add %s: dangling symlink", abs)
		}
		return fmt.Errorf("add %s: %w", abs, err)
	}
	if target, err = filepath.Abs(target); err != nil {
		return fmt.Errorf("add %s: %w", abs, err)
	}
	if !w.follow && !within(w.root, target) {
		w.refuse(fmt.Errorf("%s -> %s: %w", abs, target, ErrLeavesTree))
		return nil
	}
	fi, err := os.Stat(target)
	if err != nil {
		return fmt.Errorf("add %s: %w", abs, err)
	}
	switch {
	case fi.IsDir():
		return w.dir(abs, rel)
	case fi.Mode().IsRegular():
		return w.file(target, rel, fi)
	default:
		w.refuse(fmt.Errorf("%s -> %s: %s: %w", abs, target, kindOf(fi.Mode()), ErrSpecialFile))
		return nil
	}
}

func (w *walker) file(abs, rel string, fi fs.FileInfo) error {
	if err := manifest.ValidatePath(rel); err != nil {
		return fmt.Errorf("add %s: %w", abs, err)
	}
	w.out = append(w.out, source{abs: abs, rel: rel, size: fi.Size(), fi: fi})
	return nil
}

// within reports whether path (absolute, symlinks resolved) is root or
// lies under it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	default:
		return "irregular file"
	}
}

// openSource opens a collected file without blocking (a named pipe swapped
// in would block a plain open) and checks it is the file collect saw, so a
// path replaced by a link or another file in between is not read.
func openSource(s source) (*os.File, error) {
	f, err := os.OpenFile(s.abs, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.abs, err)
	}
	fi, err := f.Stat()
	if err == nil && (s.fi == nil || !os.SameFile(s.fi, fi) || !fi.Mode().IsRegular()) {
		err = errors.New("replaced while importing")
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open %s: %w", s.abs, err)
	}
	return f, nil
}
