//go:build !linux

package store

// lend reads the block at l into a new buffer: mapping is Linux only here.
func (p *packs) lend(l packLoc) ([]byte, func(), error) {
	b := make([]byte, l.n)
	if err := p.readInto(l, b); err != nil {
		return nil, nil, err
	}
	return b, func() {}, nil
}
