//go:build (!amd64 && !arm64) || purego

package tensor

func f32ToF16s(dst []uint16, src []float32)               { f32ToF16sGo(dst, src) }
func dotF16Rows(out, x []float32, h []uint16, stride int) { dotF16RowsGo(out, x, h, stride) }
func addScaledF16Rows(dst, w []float32, h []uint16, stride int) {
	addScaledF16RowsGo(dst, w, h, stride)
}
