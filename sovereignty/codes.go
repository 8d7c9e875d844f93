package sovereignty

import "strings"

// iso3166 lists the officially assigned ISO 3166-1 alpha-2 codes. Reserved
// and user-assigned codes (EU, UK, XK, ...) are deliberately absent, so that a
// policy group may be called EU without clashing with a code.
const iso3166 = `
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW
`

// codeIndex maps a two-letter code to 0..675; -1 when it is not two ASCII
// upper-case letters. The index addresses jurisdiction bit sets.
func codeIndex(s string) int {
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return -1
	}
	return int(s[0]-'A')*26 + int(s[1]-'A')
}

// jset is a set of jurisdictions as a bit set over codeIndex.
type jset [11]uint64

func (s *jset) add(i int)      { s[i>>6] |= 1 << (i & 63) }
func (s *jset) has(i int) bool { return s[i>>6]&(1<<(i&63)) != 0 }
func (s *jset) union(o *jset) {
	for k := range s {
		s[k] |= o[k]
	}
}
func (s *jset) subsetOf(o *jset) bool {
	for k := range s {
		if s[k]&^o[k] != 0 {
			return false
		}
	}
	return true
}

// codeName is the inverse of codeIndex.
func codeName(i int) string { return string([]byte{byte('A' + i/26), byte('A' + i%26)}) }

var validCodes = func() jset {
	var s jset
	for _, c := range strings.Fields(iso3166) {
		s.add(codeIndex(c))
	}
	return s
}()

// ValidJurisdiction reports whether s is an officially assigned ISO 3166-1
// alpha-2 code (upper case).
func ValidJurisdiction(s string) bool {
	i := codeIndex(s)
	return i >= 0 && validCodes.has(i)
}
