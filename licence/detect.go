package licence

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/cairnhub/cairn/bom"
)

// MaxText bounds the licence text Detect reads from one file; the phrases
// it looks for are in the first pages of every licence it knows.
const MaxText = 256 << 10

// Found is one licence detected in a revision and where it was seen.
type Found struct {
	ID     string // canonical id (Normalize), or the card's name lower-cased when unknown
	Known  bool   // ID is a known SPDX or Hub id
	Source string // "README.md license", "README.md license_name", "LICENSE text"
}

// IsCard reports whether path is the model card: README.md at the top.
func IsCard(p string) bool { return p == "README.md" }

// IsLicenceFile reports whether path is a licence file Detect reads: LICENSE
// or LICENCE, bare or .md/.txt, at the top of the revision, any case.
func IsLicenceFile(p string) bool {
	if strings.Contains(p, "/") {
		return false
	}
	ext := strings.ToLower(path.Ext(p))
	base := strings.ToUpper(p[:len(p)-len(ext)])
	return (base == "LICENSE" || base == "LICENCE") && (ext == "" || ext == ".md" || ext == ".txt")
}

// FromCard returns the licences a model card's YAML front matter names: each
// license entry, and license_name in place of "other". A card without
// front matter or a license field gives none.
func FromCard(readme []byte) ([]Found, error) {
	c, _, err := bom.ParseCard(readme)
	if err != nil {
		return nil, fmt.Errorf("licence: %w", err)
	}
	var out []Found
	for _, l := range c.License {
		src := "README.md license"
		if strings.EqualFold(strings.TrimSpace(l), "other") && c.LicenseName != "" {
			l, src = c.LicenseName, "README.md license_name"
		}
		id, ok := Normalize(l)
		if id == "" {
			continue
		}
		out = append(out, Found{ID: id, Known: ok, Source: src})
	}
	return out, nil
}

// phrase rules, most specific first: the LGPL names the GPL, the CC
// variants share words, Llama 3.1's agreement mentions Llama 3.
var phrases = []struct {
	id  string
	all []string
}{
	{"agpl-3.0", []string{"gnu affero general public license"}},
	{"lgpl-3.0", []string{"gnu lesser general public license", "version 3, 29 june 2007"}},
	{"lgpl-2.1", []string{"gnu lesser general public license", "version 2.1, february 1999"}},
	{"gpl-3.0", []string{"gnu general public license", "version 3, 29 june 2007"}},
	{"gpl-2.0", []string{"gnu general public license", "version 2, june 1991"}},
	{"apache-2.0", []string{"apache license", "version 2.0"}},
	{"mpl-2.0", []string{"mozilla public license", "version 2.0"}},
	{"mit", []string{"permission is hereby granted, free of charge, to any person obtaining a copy", "the above copyright notice and this permission notice shall be included"}},
	{"bsd-3-clause", []string{"redistribution and use in source and binary forms", "neither the name of"}},
	{"bsd-2-clause", []string{"redistribution and use in source and binary forms", "redistributions in binary form must reproduce"}},
	{"cc-by-nc-sa-4.0", []string{"attribution-noncommercial-sharealike 4.0 international"}},
	{"cc-by-nc-4.0", []string{"attribution-noncommercial 4.0 international"}},
	{"cc-by-sa-4.0", []string{"attribution-sharealike 4.0 international"}},
	{"cc-by-4.0", []string{"attribution 4.0 international"}},
	{"llama3.3", []string{"llama 3.3 community license agreement"}},
	{"llama3.2", []string{"llama 3.2 community license agreement"}},
	{"llama3.1", []string{"llama 3.1 community license agreement"}},
	{"llama3", []string{"meta llama 3 community license agreement"}},
	{"llama2", []string{"llama 2 community license agreement"}},
	{"gemma", []string{"gemma terms of use"}},
}

// FromText recognises a licence text by distinctive phrases (case and
// line breaks ignored); ok is false for a text it does not know.
func FromText(text []byte) (id string, ok bool) {
	s := strings.Join(strings.Fields(strings.ToLower(string(text[:min(len(text), MaxText)]))), " ")
	for _, p := range phrases {
		if !slices.ContainsFunc(p.all, func(w string) bool { return !strings.Contains(s, w) }) {
			return p.id, true
		}
	}
	return "", false
}

// Detect returns the licences of a revision from its model card (nil when
// it has none) and its licence files (path → text), without duplicates:
// the card's ids first, then those the files' texts show. A card whose
// front matter does not parse is an error naming it; the files' licences
// are still returned.
func Detect(card []byte, files map[string][]byte) ([]Found, error) {
	var out []Found
	var err error
	if card != nil {
		out, err = FromCard(card)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if id, ok := FromText(files[name]); ok && !slices.ContainsFunc(out, func(f Found) bool { return f.ID == id }) {
			out = append(out, Found{ID: id, Known: true, Source: name + " text"})
		}
	}
	return out, err
}
