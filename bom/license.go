package bom

import "strings"

// spdxIDs maps the Hub's licence ids (lower case) to SPDX ids. Only ids in
// the SPDX list that CycloneDX 1.6 validates against are here; the rest
// (llama3.2, gemma, openrail, other, ...) go in a BOM by name.
var spdxIDs = func() map[string]string {
	m := map[string]string{
		"agpl-3.0": "AGPL-3.0-only", "gpl-2.0": "GPL-2.0-only", "gpl-3.0": "GPL-3.0-only",
		"lgpl-2.1": "LGPL-2.1-only", "lgpl-3.0": "LGPL-3.0-only", "c-uda": "C-UDA-1.0",
		"odc-by": "ODC-By-1.0", "odbl": "ODbL-1.0", "pddl": "PDDL-1.0",
	}
	for _, id := range []string{
		"Apache-2.0", "MIT", "AFL-3.0", "Artistic-2.0", "BSL-1.0", "BSD-2-Clause", "BSD-3-Clause",
		"BSD-3-Clause-Clear", "CC0-1.0", "CC-BY-2.0", "CC-BY-2.5", "CC-BY-3.0", "CC-BY-4.0",
		"CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC-BY-NC-2.0", "CC-BY-NC-3.0", "CC-BY-NC-4.0", "CC-BY-ND-4.0",
		"CC-BY-NC-ND-3.0", "CC-BY-NC-ND-4.0", "CC-BY-NC-SA-2.0", "CC-BY-NC-SA-3.0", "CC-BY-NC-SA-4.0",
		"CDLA-Sharing-1.0", "CDLA-Permissive-1.0", "CDLA-Permissive-2.0", "WTFPL", "ECL-2.0", "EPL-1.0",
		"EPL-2.0", "etalab-2.0", "EUPL-1.1", "EUPL-1.2", "ISC", "LPPL-1.3c", "MS-PL", "MPL-2.0",
		"OSL-3.0", "PostgreSQL", "OFL-1.1", "NCSA", "Unlicense", "Zlib",
		"AGPL-3.0-only", "GPL-2.0-only", "GPL-3.0-only", "LGPL-2.1-only", "LGPL-3.0-only",
		"C-UDA-1.0", "ODC-By-1.0", "ODbL-1.0", "PDDL-1.0",
	} {
		m[strings.ToLower(id)] = id
	}
	return m
}()

// SPDXID returns the SPDX id for a Hub licence id or SPDX id (any case), and
// false when the licence has none.
func SPDXID(hub string) (string, bool) {
	id, ok := spdxIDs[strings.ToLower(strings.TrimSpace(hub))]
	return id, ok
}
