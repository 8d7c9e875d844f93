package bom

import (
	"math"
	"strconv"

	"github.com/cairnhub/cairn/inference/gguf"
)

// fileTypes names llama.cpp's general.file_type values (enum llama_ftype).
var fileTypes = map[uint64]string{
	0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
	10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
	16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
	22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
	28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}

// GGUFFacts reads the BOM's facts from a parsed GGUF header (gguf.ReadHeader
// is enough). Without general.file_type the quantisation is the tensor type
// holding the most elements.
func GGUFFacts(path string, f *gguf.File) GGUF {
	g := GGUF{File: path}
	g.Architecture, _ = f.String("general.architecture")
	g.Name, _ = f.String("general.name")
	if n, ok := f.Uint("general.file_type"); ok {
		if name, known := fileTypes[n]; known {
			g.FileType = name
		} else {
			g.FileType = "file_type " + strconv.FormatUint(n, 10)
		}
	}
	if g.Architecture != "" {
		if n, ok := f.Uint(g.Architecture + ".context_length"); ok && n <= math.MaxInt64 {
			g.ContextLength = int64(n)
		}
	}
	byType := map[gguf.TensorType]uint64{}
	var total uint64
	for i := range f.Tensors {
		n := f.Tensors[i].Elements()
		total += n
		byType[f.Tensors[i].Type] += n
	}
	if total <= math.MaxInt64 {
		g.ParameterCount = int64(total)
	}
	if g.FileType == "" {
		var most uint64
		for t, n := range byType {
			if n > most || (n == most && t.String() < g.FileType) {
				most, g.FileType = n, t.String()
			}
		}
	}
	return g
}
