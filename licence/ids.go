package licence

import "strings"

// hubIDs are the Hugging Face Hub's licence ids (the values of a model
// card's license field), which are also this package's canonical ids.
var hubIDs = toSet(`apache-2.0 mit openrail bigscience-openrail-m creativeml-openrail-m
bigscience-bloom-rail-1.0 bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause
bsd-3-clause bsd-3-clause-clear c-uda cc cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0
cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0 cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0
cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0 cdla-sharing-1.0
cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research
intel-research lppl-1.3c ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openmdw-1.0
openrail++ osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib pddl lgpl-lr deepfloyd-if-license
fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2 llama3.3 llama4 gemma
unknown other`)

// aliases maps SPDX ids (lower case) and common spellings that differ from
// a Hub id to it.
var aliases = map[string]string{
	"gpl-2.0-only": "gpl-2.0", "gpl-2.0-or-later": "gpl-2.0", "gpl-2.0+": "gpl-2.0",
	"gpl-3.0-only": "gpl-3.0", "gpl-3.0-or-later": "gpl-3.0", "gpl-3.0+": "gpl-3.0",
	"lgpl-2.1-only": "lgpl-2.1", "lgpl-2.1-or-later": "lgpl-2.1", "lgpl-2.1+": "lgpl-2.1",
	"lgpl-3.0-only": "lgpl-3.0", "lgpl-3.0-or-later": "lgpl-3.0", "lgpl-3.0+": "lgpl-3.0",
	"agpl-3.0-only": "agpl-3.0", "agpl-3.0-or-later": "agpl-3.0",
	"c-uda-1.0": "c-uda", "odc-by-1.0": "odc-by", "odbl-1.0": "odbl", "pddl-1.0": "pddl",
	"apache2": "apache-2.0", "apache 2.0": "apache-2.0", "apache-2": "apache-2.0",
	"apache license 2.0": "apache-2.0", "mit license": "mit",
	"llama-2": "llama2", "llama 2": "llama2", "llama-3": "llama3", "llama 3": "llama3",
	"llama-3.1": "llama3.1", "llama 3.1": "llama3.1", "llama-3.2": "llama3.2", "llama 3.2": "llama3.2",
	"llama-3.3": "llama3.3", "llama 3.3": "llama3.3", "llama-4": "llama4", "llama 4": "llama4",
	"gemma-terms-of-use": "gemma", "gemma terms of use": "gemma",
}

func toSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

// Normalize maps an SPDX id or a Hub licence name, in any case, to the
// canonical id (the Hub's: "apache-2.0", "gpl-3.0", "llama3.2"); ok is false
// when the name is neither, and then id is the name lower-cased.
func Normalize(name string) (id string, ok bool) {
	s := strings.ToLower(strings.TrimSpace(name))
	if a, found := aliases[s]; found {
		return a, true
	}
	return s, hubIDs[s]
}
