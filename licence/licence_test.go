package licence

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"Apache-2.0": "apache-2.0", "MIT": "mit", "GPL-3.0-only": "gpl-3.0", "LGPL-2.1-or-later": "lgpl-2.1",
		"llama3.2": "llama3.2", "Llama-3.2": "llama3.2", "CC-BY-NC-4.0": "cc-by-nc-4.0", " gemma ": "gemma",
	} {
		if got, ok := Normalize(in); got != want || !ok {
			t.Errorf("Normalize(%q) = %q, %v; want %q, true", in, got, ok, want)
		}
	}
	if got, ok := Normalize("My-Own-Licence"); ok || got != "my-own-licence" {
		t.Errorf("Normalize(unknown) = %q, %v", got, ok)
	}
}

// Opening lines of the real licence texts, wrapped as they are published.
var texts = map[string]string{
	"apache-2.0":   "                                 Apache License\n                           Version 2.0, January 2004\n                        http://www.apache.org/licenses/",
	"mit":          "MIT License\n\nCopyright (c) 2024 Acme\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software ... The above copyright notice and this permission notice shall be included in all\ncopies",
	"bsd-3-clause": "Redistribution and use in source and binary forms, with or without\nmodification, are permitted ... 3. Neither the name of the copyright holder nor",
	"bsd-2-clause": "Redistribution and use in source and binary forms, with or without\nmodification ... 2. Redistributions in binary form must reproduce the above copyright notice",
	"gpl-3.0":      "                    GNU GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007",
	"gpl-2.0":      "                    GNU GENERAL PUBLIC LICENSE\n                       Version 2, June 1991",
	"lgpl-2.1":     "                  GNU LESSER GENERAL PUBLIC LICENSE\n                       Version 2.1, February 1999\n GNU General Public License",
	"lgpl-3.0":     "                   GNU LESSER GENERAL PUBLIC LICENSE\n                       Version 3, 29 June 2007\n GNU General Public License",
	"mpl-2.0":      "Mozilla Public License Version 2.0\n==================================",
	"cc-by-4.0":    "Attribution 4.0 International\n\n=======================================================================\n\nCreative Commons Corporation",
	"cc-by-nc-4.0": "Attribution-NonCommercial 4.0 International\n\n=======",
	"cc-by-sa-4.0": "Attribution-ShareAlike 4.0 International\n\n=======",
	"llama2":       "LLAMA 2 COMMUNITY LICENSE AGREEMENT\nLlama 2 Version Release Date: July 18, 2023",
	"llama3":       "META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date: April 18, 2024",
	"llama3.1":     "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024 (Meta Llama 3)",
	"llama3.2":     "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\nLlama 3.2 Version Release Date: September 25, 2024",
	"gemma":        "Gemma Terms of Use\n\nLast modified: February 21, 2024",
}

func TestFromText(t *testing.T) {
	for want, text := range texts {
		if got, ok := FromText([]byte(text)); got != want || !ok {
			t.Errorf("FromText(%s) = %q, %v", want, got, ok)
		}
	}
	if got, ok := FromText([]byte("All rights reserved. Do not copy.")); ok {
		t.Errorf("FromText(unknown) = %q", got)
	}
}

func TestDetect(t *testing.T) {
	card := []byte("---\nlicense: other\nlicense_name: llama3.2\nlicense_link: LICENSE\n---\n# model\n")
	got, err := Detect(card, map[string][]byte{"LICENSE": []byte(texts["llama3.2"]), "LICENSE.md": []byte(texts["mit"])})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range got {
		ids = append(ids, f.ID+"<"+f.Source)
	}
	if s := strings.Join(ids, ","); s != "llama3.2<README.md license_name,mit<LICENSE.md text" {
		t.Errorf("Detect = %s", s)
	}
	got, err = Detect([]byte("---\nlicense: [Apache-2.0, cc-by-nc-4.0]\n---\n"), nil)
	if err != nil || len(got) != 2 || got[0].ID != "apache-2.0" || got[1].ID != "cc-by-nc-4.0" {
		t.Errorf("Detect(list) = %+v, %v", got, err)
	}
	if _, err := Detect([]byte("---\nlicense: [\n"), nil); err == nil {
		t.Error("Detect(broken front matter) = nil error")
	}
}

func TestIsLicenceFile(t *testing.T) {
	for p, want := range map[string]bool{"LICENSE": true, "LICENSE.md": true, "license.txt": true, "LICENCE": true,
		"sub/LICENSE": false, "LICENSE.py": false, "README.md": false} {
		if IsLicenceFile(p) != want {
			t.Errorf("IsLicenceFile(%q) = %v", p, !want)
		}
	}
}

func FuzzFromCard(f *testing.F) {
	f.Add([]byte("---\nlicense: other\nlicense_name: llama3.2\n---\n"))
	f.Add([]byte("---\nlicense: [mit, apache-2.0]\n---\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := FromCard(b)
		if err != nil {
			return
		}
		for _, x := range fs {
			if x.ID == "" {
				t.Fatalf("empty id from %q", b)
			}
		}
	})
}

func FuzzFromText(f *testing.F) {
	for _, text := range texts {
		f.Add([]byte(text))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if id, ok := FromText(b); ok {
			if _, known := Normalize(id); !known {
				t.Fatalf("FromText gave %q, not a known id", id)
			}
		}
	})
}
