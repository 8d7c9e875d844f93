package scan_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cairnhub/cairn/internal/fixture"
	"github.com/cairnhub/cairn/scan"
)

func ExampleBytes() {
	// __reduce__ to os.system("id"), as pickle.dumps(..., protocol=2) writes it.
	p := []byte("\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
	rep, err := scan.Bytes(context.Background(), "model.pkl", p)
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Verdict)
	for _, f := range rep.Findings {
		fmt.Println(f)
	}
	// Output:
	// unsafe
	// unsafe import at 2: posix.system: module posix can run code, spawn processes or reach files or the network
}

func ExampleScanner_File() {
	// An importer scans a stored file through an io.ReaderAt; only the
	// pickle and headers are read, not the tensor data.
	name := filepath.Join(fixture.Dir(), "scan", "benign_torch.pt")
	f, err := os.Open(name)
	if err != nil {
		panic(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		panic(err)
	}
	s := &scan.Scanner{Limits: scan.Limits{MaxDepth: 2}}
	rep, err := s.File(context.Background(), name, f, fi.Size())
	if err != nil {
		panic(err)
	}
	fmt.Println(rep.Summary())
	for _, im := range rep.Imports {
		fmt.Println(im.Module, im.Name, im.Verdict)
	}
	// Output:
	// safe (pytorch-zip)
	// collections OrderedDict safe
	// torch FloatStorage safe
	// torch._utils _rebuild_tensor_v2 safe
}
